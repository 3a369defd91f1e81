package server

import (
	"strconv"
	"sync"
	"time"

	"github.com/uber-go/tally/v4"

	"github.com/pegasus-go/pegasus/shared/protocol"
)

// op is a data operation as the metrics name it. Names follow Pegasus
// (put for set, remove for del, ...): every op has a <name>_qps counter
// (exposed as <name>_qps_total) and a <name>_latency timer, tagged with
// app_id and table.
type op int

const (
	opGet op = iota
	opPut
	opRemove
	opMultiGet
	opMultiPut
	opMultiRemove
	opDelRange
	opSortKeyCount
	opExist
	opTTL
	opIncr
	opCheckAndSet
	opCheckAndMutate
	opScan
	opScanClose
	opBatchGet
	opBatchSet
	opDuplicate
	numOps
)

var opNames = [numOps]string{
	opGet:            "get",
	opPut:            "put",
	opRemove:         "remove",
	opMultiGet:       "multi_get",
	opMultiPut:       "multi_put",
	opMultiRemove:    "multi_remove",
	opDelRange:       "del_range",
	opSortKeyCount:   "sortkey_count",
	opExist:          "exist",
	opTTL:            "ttl",
	opIncr:           "incr",
	opCheckAndSet:    "check_and_set",
	opCheckAndMutate: "check_and_mutate",
	opScan:           "scan",
	opScanClose:      "scan_close",
	opBatchGet:       "batch_get",
	opBatchSet:       "batch_set",
	opDuplicate:      "duplicate",
}

func (o op) String() string { return opNames[o] }

// serverMetrics holds the server-wide metrics and a cache of per-table
// ones.
type serverMetrics struct {
	scope tally.Scope

	beacons         tally.Counter // beacon_count
	beaconFailures  tally.Counter // beacon_failed_count
	configSyncs     tally.Counter // config_sync_count
	configSyncFails tally.Counter // config_sync_failed_count
	replicaCount    tally.Gauge   // replica_count

	// Replication.
	prepareLatency    tally.Timer   // prepare_latency: prepare queued -> acknowledgement received
	preparesSent      tally.Counter // prepares_sent
	preparesFailed    tally.Counter // prepares_failed: dropped, or the call failed
	groupChecksSent   tally.Counter // group_checks_sent
	groupChecksFailed tally.Counter // group_checks_failed
	peerDropped       tally.Counter // peer_messages_dropped: destination queue full
	learnCopiedBytes  tally.Counter // learn_copied_bytes: checkpoint bytes this node fetched as a learner
	learnServedBytes  tally.Counter // learn_served_bytes: checkpoint bytes this node served as a primary
	learnSessions     tally.Counter // learn_sessions: learning sessions opened as a primary
	proposalsFailed   tally.Counter // config_proposals_failed

	mu        sync.Mutex
	tables    map[tableKey]*tableMetrics
	proposals map[protocol.ConfigType]tally.Counter
}

// proposal returns config_proposals_sent{type}.
func (m *serverMetrics) proposal(t protocol.ConfigType) tally.Counter {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.proposals[t]
	if c == nil {
		c = m.scope.Tagged(map[string]string{"type": t.String()}).Counter("config_proposals_sent")
		m.proposals[t] = c
	}
	return c
}

type tableKey struct {
	appID int32
	name  string
}

// tableMetrics are one table's request metrics.
type tableMetrics struct {
	scope   tally.Scope
	qps     [numOps]tally.Counter
	latency [numOps]tally.Timer
}

func newServerMetrics(scope tally.Scope) *serverMetrics {
	return &serverMetrics{
		scope:           scope,
		beacons:         scope.Counter("beacon_count"),
		beaconFailures:  scope.Counter("beacon_failed_count"),
		configSyncs:     scope.Counter("config_sync_count"),
		configSyncFails: scope.Counter("config_sync_failed_count"),
		replicaCount:    scope.Gauge("replica_count"),

		prepareLatency:    scope.Timer("prepare_latency"),
		preparesSent:      scope.Counter("prepares_sent"),
		preparesFailed:    scope.Counter("prepares_failed"),
		groupChecksSent:   scope.Counter("group_checks_sent"),
		groupChecksFailed: scope.Counter("group_checks_failed"),
		peerDropped:       scope.Counter("peer_messages_dropped"),
		learnCopiedBytes:  scope.Counter("learn_copied_bytes"),
		learnServedBytes:  scope.Counter("learn_served_bytes"),
		learnSessions:     scope.Counter("learn_sessions"),
		proposalsFailed:   scope.Counter("config_proposals_failed"),

		tables:    make(map[tableKey]*tableMetrics),
		proposals: make(map[protocol.ConfigType]tally.Counter),
	}
}

// forTable returns the request metrics of a table.
func (m *serverMetrics) forTable(appID int32, name string) *tableMetrics {
	k := tableKey{appID, name}
	m.mu.Lock()
	defer m.mu.Unlock()
	if t := m.tables[k]; t != nil {
		return t
	}
	t := &tableMetrics{scope: m.scope.Tagged(map[string]string{"app_id": strconv.Itoa(int(appID)), "table": name})}
	for i := range numOps {
		t.qps[i] = t.scope.Counter(opNames[i] + "_qps")
		t.latency[i] = t.scope.Timer(opNames[i] + "_latency")
	}
	m.tables[k] = t
	return t
}

// rejected counts a request answered with an error (other than a missing
// record) as rejected_requests{app_id, table, op, code}.
func (m *serverMetrics) rejected(t *tableMetrics, appID int32, o op, err error) {
	code := protocol.CodeOf(err)
	if code == protocol.CodeNotFound {
		return
	}
	scope := m.scope
	tags := map[string]string{"op": opNames[o], "code": code.String()}
	if t != nil {
		scope = t.scope
	} else {
		tags["app_id"] = strconv.Itoa(int(appID))
		tags["table"] = ""
	}
	scope.Tagged(tags).Counter("rejected_requests").Inc(1)
}

// done records one request of op on table t that took since start.
func (t *tableMetrics) done(o op, start time.Time) {
	t.qps[o].Inc(1)
	t.latency[o].Record(time.Since(start))
}
