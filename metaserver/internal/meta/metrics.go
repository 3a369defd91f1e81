package meta

import tally "github.com/uber-go/tally/v4"

// metricSet is the meta server's metrics (names as exposed, counters get
// "_total" from the registry).
type metricSet struct {
	leader           tally.Gauge   // 1 while this server serves as leader
	tables           tally.Gauge   // tables in status AS_AVAILABLE
	aliveNodes       tally.Gauge   // replica servers alive (pending included)
	deadNodes        tally.Gauge   // replica servers declared dead
	beacons          tally.Counter // beacons answered as leader
	configSyncs      tally.Counter // config syncs answered as leader
	proposals        tally.Counter // ConfigProposal calls sent
	proposalFailures tally.Counter // ConfigProposal calls that failed
}

func newMetricSet(scope tally.Scope) *metricSet {
	s := scope.SubScope("meta")
	return &metricSet{
		leader:           s.Gauge("is_leader"),
		tables:           s.Gauge("tables"),
		aliveNodes:       s.Gauge("alive_nodes"),
		deadNodes:        s.Gauge("dead_nodes"),
		beacons:          s.Counter("beacons"),
		configSyncs:      s.Counter("config_syncs"),
		proposals:        s.Counter("config_proposals"),
		proposalFailures: s.Counter("config_proposal_failures"),
	}
}
