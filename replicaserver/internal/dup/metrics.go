package dup

import (
	"github.com/uber-go/tally/v4"
)

// Metric names, with Pegasus's names. Counters are exported with the
// _total suffix. Every metric is tagged with table, partition and dupid.
const (
	MetricShippedOps        = "dup_shipped_ops"             // counter: entries the remote cluster acknowledged
	MetricFailedShippingOps = "dup_failed_shipping_ops"     // counter: entries of failed Duplicate calls
	MetricPendingMutations  = "dup_pending_mutations_count" // gauge: committed mutations not yet confirmed
	MetricLaggingWrites     = "dup_lagging_writes"          // counter: entries older than the lagging threshold when shipped
	MetricLogReadBytes      = "dup_log_read_bytes"          // counter: update bytes read from the plog
	MetricLogReadMutations  = "dup_log_read_mutations"      // counter: mutations read from the plog
	MetricShippedBytes      = "dup_shipped_bytes"           // counter: entry bytes the remote cluster acknowledged
	MetricSkippedMutations  = "dup_skipped_mutations"       // counter: mutations dropped under FAIL_SKIP
	MetricUnshippable       = "dup_unshippable_updates"     // counter: incr/check_and_set/check_and_mutate found unconverted in the log (not shipped)
)

type metrics struct {
	shipped      tally.Counter
	failed       tally.Counter
	pending      tally.Gauge
	lagging      tally.Counter
	readBytes    tally.Counter
	readMuts     tally.Counter
	shippedBytes tally.Counter
	skipped      tally.Counter
	unshippable  tally.Counter
}

func newMetrics(scope tally.Scope) *metrics {
	return &metrics{
		shipped:      scope.Counter(MetricShippedOps),
		failed:       scope.Counter(MetricFailedShippingOps),
		pending:      scope.Gauge(MetricPendingMutations),
		lagging:      scope.Counter(MetricLaggingWrites),
		readBytes:    scope.Counter(MetricLogReadBytes),
		readMuts:     scope.Counter(MetricLogReadMutations),
		shippedBytes: scope.Counter(MetricShippedBytes),
		skipped:      scope.Counter(MetricSkippedMutations),
		unshippable:  scope.Counter(MetricUnshippable),
	}
}
