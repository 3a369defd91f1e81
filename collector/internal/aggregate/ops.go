package aggregate

// Op is a data operation as the replica server's metrics name it.
type Op struct {
	Name string
	// Write reports whether the operation changes data.
	Write bool
}

// Ops lists the operations the replica server counts (<name>_qps and
// <name>_latency, tagged with app_id and table), in a fixed order.
var Ops = []Op{
	{"get", false},
	{"multi_get", false},
	{"batch_get", false},
	{"sortkey_count", false},
	{"exist", false},
	{"ttl", false},
	{"scan", false},
	{"scan_close", false},
	{"put", true},
	{"multi_put", true},
	{"batch_set", true},
	{"remove", true},
	{"multi_remove", true},
	{"del_range", true},
	{"incr", true},
	{"check_and_set", true},
	{"check_and_mutate", true},
}

// Source metric names (without the optional "pegasus_" prefix).
const (
	metricUpdatesApplied = "replica_updates_applied_total"
	metricReplicaCount   = "replica_count"
	metricDupShipped     = "dup_shipped_ops"
	metricDupFailed      = "dup_failed_shipping_ops"
	metricDuplicateQPS   = "duplicate_qps"
	metricDupLag         = "dup_time_lag"
	metricDupLagMs       = "dup_time_lag_ms"
	metricDupPending     = "dup_pending_mutations_count"
	metricSSTSizeMB      = "rdb_total_sst_size_mb"
)

// SourceMetrics lists the replica-server metric names the aggregation
// reads, as exposed (counters with "_total"), histograms by base name.
// Tests and docs use it to tell which collector metrics have a source on a
// given daemon page.
func SourceMetrics() []string {
	out := []string{metricUpdatesApplied, metricReplicaCount}
	for _, op := range Ops {
		out = append(out, op.Name+"_qps_total", op.Name+"_latency")
	}
	return append(out,
		metricDupShipped+"_total", metricDupFailed+"_total", metricDuplicateQPS+"_total",
		metricDupLag, metricDupLagMs, metricDupPending, metricSSTSizeMB)
}
