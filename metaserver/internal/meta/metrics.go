package meta

import (
	"sync"

	tally "github.com/uber-go/tally/v4"

	"github.com/pegasus-go/pegasus/shared/protocol"
)

// metricSet is the meta server's metrics (names as exposed, counters get
// "_total" from the registry).
type metricSet struct {
	scope            tally.Scope
	leader           tally.Gauge   // 1 while this server serves as leader
	tables           tally.Gauge   // tables in status AS_AVAILABLE
	aliveNodes       tally.Gauge   // replica servers alive (pending included)
	deadNodes        tally.Gauge   // replica servers declared dead
	underReplicated  tally.Gauge   // served partitions with fewer live members than their replica count
	withoutPrimary   tally.Gauge   // served partitions without a live primary
	learners         tally.Gauge   // learners in progress (asked by this leader)
	frozen           tally.Gauge   // 1 while reconfiguration is frozen (too few nodes alive)
	beacons          tally.Counter // beacons answered as leader
	configSyncs      tally.Counter // config syncs answered as leader
	proposals        tally.Counter // ConfigProposal calls sent
	proposalFailures tally.Counter // ConfigProposal calls that failed

	mu       sync.Mutex
	reconfig map[protocol.ConfigType]tally.Counter // reconfigurations{type}
}

func newMetricSet(scope tally.Scope) *metricSet {
	s := scope.SubScope("meta")
	return &metricSet{
		scope:            s,
		leader:           s.Gauge("is_leader"),
		tables:           s.Gauge("tables"),
		aliveNodes:       s.Gauge("alive_nodes"),
		deadNodes:        s.Gauge("dead_nodes"),
		underReplicated:  s.Gauge("under_replicated_partitions"),
		withoutPrimary:   s.Gauge("partitions_without_primary"),
		learners:         s.Gauge("learners_in_progress"),
		frozen:           s.Gauge("reconfiguration_frozen"),
		beacons:          s.Counter("beacons"),
		configSyncs:      s.Counter("config_syncs"),
		proposals:        s.Counter("config_proposals"),
		proposalFailures: s.Counter("config_proposal_failures"),
		reconfig:         map[protocol.ConfigType]tally.Counter{},
	}
}

// reconfiguration counts one configuration change of type typ (guardian
// decisions and accepted UpdateConfiguration requests):
// pegasus_meta_reconfigurations_total{type="CT_..."}.
func (m *metricSet) reconfiguration(typ protocol.ConfigType) {
	m.mu.Lock()
	c, ok := m.reconfig[typ]
	if !ok {
		c = m.scope.Tagged(map[string]string{"type": typ.String()}).Counter("reconfigurations")
		m.reconfig[typ] = c
	}
	m.mu.Unlock()
	c.Inc(1)
}
