package replica

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/uber-go/tally/v4"

	"github.com/pegasus-go/pegasus/replicaserver/internal/storage"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

// Metric names, registered on Options.Scope (the duplication ones on
// Options.DupScope).
const (
	MetricPlogAppendedBytes  = "plog_appended_bytes"      // counter: bytes added to the plog
	MetricPlogAppendLatency  = "plog_append_latency"      // timer: one plog.Append (incl. its sync)
	MetricPlogGCSegments     = "plog_gc_segments"         // counter: plog segments removed
	MetricMutations          = "mutations_applied"        // counter: mutations applied to the engine
	MetricUpdates            = "updates_applied"          // counter: client writes applied (inside mutations)
	MetricUpdatesPerMutation = "updates_per_mutation"     // histogram: writes batched into one mutation
	MetricApplyLatency       = "apply_latency"            // timer: applying one mutation
	MetricWriteLatency       = "write_latency"            // timer: Write, from call to reply
	MetricRejectedWrites     = "rejected_writes"          // counter tagged code=<error code>: writes answered with an error
	MetricReaperScanned      = "reaper_scanned_records"   // counter: records the TTL reaper examined
	MetricReaperReclaimed    = "reaper_reclaimed_records" // counter: expired records the TTL reaper deleted
	MetricEngineSyncs        = "engine_syncs"             // counter: engine syncs that advanced the durable decree

	// Duplication (Pegasus names).
	MetricDupConvertedWrites = "dup_disabled_non_idempotent_write_count" // counter: incr / check_and_* of a duplicated table converted into idempotent writes
	MetricDupTimeLag         = "dup_time_lag_ms"                         // histogram: on the primary, apply time - the duplicated entry's source timestamp, in ms
)

type metrics struct {
	scope           tally.Scope
	plogBytes       tally.Counter
	plogLatency     tally.Timer
	plogGCSegments  tally.Counter
	mutations       tally.Counter
	updates         tally.Counter
	updatesPerMut   tally.Histogram
	applyLatency    tally.Timer
	writeLatency    tally.Timer
	reaperScanned   tally.Counter
	reaperReclaimed tally.Counter
	engineSyncs     tally.Counter
	dupConverted    tally.Counter
	dupScope        tally.Scope
	dupTimeLagOnce  sync.Once
	dupTimeLag      tally.Histogram // registered at the first duplicated entry applied
	rejectedMu      sync.Mutex
	rejected        map[protocol.ErrorCode]tally.Counter
	mutationsTotal  atomic.Uint64
	updatesTotal    atomic.Uint64
	lastReap        storage.ReapStats
	reapMu          sync.Mutex
	rejectedTotal   atomic.Uint64
}

func newMetrics(scope, dupScope tally.Scope) *metrics {
	return &metrics{
		scope:           scope,
		plogBytes:       scope.Counter(MetricPlogAppendedBytes),
		plogLatency:     scope.Timer(MetricPlogAppendLatency),
		plogGCSegments:  scope.Counter(MetricPlogGCSegments),
		mutations:       scope.Counter(MetricMutations),
		updates:         scope.Counter(MetricUpdates),
		updatesPerMut:   scope.Histogram(MetricUpdatesPerMutation, tally.MustMakeExponentialValueBuckets(1, 2, 8)),
		applyLatency:    scope.Timer(MetricApplyLatency),
		writeLatency:    scope.Timer(MetricWriteLatency),
		reaperScanned:   scope.Counter(MetricReaperScanned),
		reaperReclaimed: scope.Counter(MetricReaperReclaimed),
		engineSyncs:     scope.Counter(MetricEngineSyncs),
		dupConverted:    dupScope.Counter(MetricDupConvertedWrites),
		dupScope:        dupScope,
		rejected:        map[protocol.ErrorCode]tally.Counter{},
	}
}

// reject counts a write answered with err.
func (m *metrics) reject(err error) {
	code := protocol.CodeOf(err)
	m.rejectedTotal.Add(1)
	m.rejectedMu.Lock()
	c := m.rejected[code]
	if c == nil {
		c = m.scope.Tagged(map[string]string{"code": code.String()}).Counter(MetricRejectedWrites)
		m.rejected[code] = c
	}
	m.rejectedMu.Unlock()
	c.Inc(1)
}

// reaped records the reaper's cumulative stats as counter increments.
func (m *metrics) reaped(s storage.ReapStats) {
	m.reapMu.Lock()
	defer m.reapMu.Unlock()
	m.reaperScanned.Inc(int64(s.Scanned - m.lastReap.Scanned))
	m.reaperReclaimed.Inc(int64(s.Reclaimed - m.lastReap.Reclaimed))
	m.lastReap = s
}

// dupEntryApplied returns the hook that records dup_time_lag_ms for every
// duplicated entry applied at now. The histogram is registered with the
// first entry, so only replicas that receive duplicated writes export it
// (a monitoring system then shows the lag only where there is one).
func (m *metrics) dupEntryApplied(now time.Time) func(protocol.DuplicateEntry) {
	nowUs := now.UnixMicro()
	return func(e protocol.DuplicateEntry) {
		m.dupTimeLagOnce.Do(func() {
			m.dupTimeLag = m.dupScope.Histogram(MetricDupTimeLag, tally.MustMakeExponentialValueBuckets(1, 2, 20))
		})
		m.dupTimeLag.RecordValue(float64(max(nowUs-e.TimestampUs, 0)) / 1000)
	}
}
