package collector

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pegasus-go/pegasus/collector/internal/aggregate"
)

// metricDesc is one exported metric: its name, help and variable labels
// (cluster always first).
type metricDesc struct {
	name, help string
	labels     []string
	counter    bool
}

// Label sets of the exported metrics.
var (
	lTable     = []string{"cluster", "table"}
	lTableOp   = []string{"cluster", "table", "op"}
	lTablePct  = []string{"cluster", "table", "percentile"}
	lTableOpP  = []string{"cluster", "table", "op", "percentile"}
	lPartition = []string{"cluster", "table", "partition"}
	lNode      = []string{"cluster", "node", "role"}
	lCluster   = []string{"cluster"}
)

// Exported metrics. docs/observability.md lists them; keep both in step.
var (
	mTableQPS       = metricDesc{"pegasus_table_qps", "Requests per second served for the table over the last scrape interval, by operation.", lTableOp, false}
	mTableReadQPS   = metricDesc{"pegasus_table_read_qps", "Read requests per second served for the table over the last scrape interval.", lTable, false}
	mTableWriteQPS  = metricDesc{"pegasus_table_write_qps", "Write requests per second served for the table over the last scrape interval.", lTable, false}
	mTableRequests  = metricDesc{"pegasus_table_requests_total", "Requests served for the table, by operation (sum of the replica servers' counters).", lTableOp, true}
	mTableLatency   = metricDesc{"pegasus_table_latency_seconds", "Request latency percentile over the last scrape interval, by operation.", lTableOpP, false}
	mTableReadLat   = metricDesc{"pegasus_table_read_latency_seconds", "Read latency percentile over the last scrape interval, all read operations.", lTablePct, false}
	mTableWriteLat  = metricDesc{"pegasus_table_write_latency_seconds", "Write latency percentile over the last scrape interval, all write operations.", lTablePct, false}
	mTableParts     = metricDesc{"pegasus_table_partitions", "Partitions of the table.", lTable, false}
	mTableHealthy   = metricDesc{"pegasus_table_healthy_partitions", "Partitions with a live primary and every expected secondary.", lTable, false}
	mTableWriteUnh  = metricDesc{"pegasus_table_write_unhealthy_partitions", "Partitions that cannot take writes (no live primary, or too few live members).", lTable, false}
	mTableReadUnh   = metricDesc{"pegasus_table_read_unhealthy_partitions", "Partitions that cannot serve reads (no live primary).", lTable, false}
	mTableStorage   = metricDesc{"pegasus_table_storage_bytes", "SST bytes of the table's primary replicas (when the replica servers report rdb_total_sst_size_mb).", lTable, false}
	mDupShipped     = metricDesc{"pegasus_table_dup_shipped_ops_total", "Mutations shipped to remote clusters by duplication (dup_shipped_ops).", lTable, true}
	mDupFailed      = metricDesc{"pegasus_table_dup_failed_shipping_ops_total", "Duplication shipping attempts that failed (dup_failed_shipping_ops).", lTable, true}
	mDuplicateTotal = metricDesc{"pegasus_table_duplicate_requests_total", "Duplicate requests (batches of duplicated writes) received from remote clusters (duplicate_qps counter).", lTable, true}
	mDuplicateQPS   = metricDesc{"pegasus_table_duplicate_qps", "Duplicate requests per second received from remote clusters.", lTable, false}
	mDupShippedRate = metricDesc{"pegasus_table_dup_shipped_ops_rate", "Mutations shipped per second by duplication over the last scrape interval.", lTable, false}
	mDupLag         = metricDesc{"pegasus_table_dup_time_lag_p99_seconds", "p99 of the duplication time lag measured by the receiving replica servers (dup_time_lag_ms) over the last scrape interval.", lTable, false}
	mDupPending     = metricDesc{"pegasus_table_dup_pending_mutations", "Mutations waiting to be shipped by duplication (dup_pending_mutations_count).", lTable, false}
	mTableHot       = metricDesc{"pegasus_table_hot_partitions", "Partitions of the table currently flagged hot.", lTable, false}
	mPartQPS        = metricDesc{"pegasus_partition_qps", "Requests per second of one partition (writes applied plus per-partition reads) over the last scrape interval.", lPartition, false}
	mPartZ          = metricDesc{"pegasus_partition_hotspot_zscore", "z-score of the partition's windowed QPS against the table's other partitions.", lPartition, false}
	mPartHot        = metricDesc{"pegasus_partition_hotspot", "1 when the partition is flagged hot, else 0.", lPartition, false}
	mNodeUp         = metricDesc{"pegasus_node_up", "1 when the node's /metrics was scraped in the latest round, else 0.", lNode, false}
	mNodeAlive      = metricDesc{"pegasus_node_alive", "1 when the meta server reports the node alive (meta servers: listed by the cluster).", lNode, false}
	mNodeSlow       = metricDesc{"pegasus_node_slow", "1 when the node's scrape took at least slow_scrape_threshold.", lNode, false}
	mNodeScrape     = metricDesc{"pegasus_node_scrape_duration_seconds", "Duration of the node's latest scrape.", lNode, false}
	mNodeFailures   = metricDesc{"pegasus_node_scrape_failures_total", "Failed scrapes of the node since the collector started.", lNode, true}
	mNodeReadQPS    = metricDesc{"pegasus_node_read_qps", "Read requests per second served by the node over the last scrape interval.", lNode, false}
	mNodeWriteQPS   = metricDesc{"pegasus_node_write_qps", "Write requests per second served by the node over the last scrape interval.", lNode, false}
	mNodeReplicas   = metricDesc{"pegasus_node_replicas", "Replicas the node serves (its replica_count).", lNode, false}
	mNodePrimaries  = metricDesc{"pegasus_node_primaries", "Partitions the node is primary of, per the meta server.", lNode, false}
	mNodeSecondary  = metricDesc{"pegasus_node_secondaries", "Partitions the node is secondary of, per the meta server.", lNode, false}
	mRounds         = metricDesc{"pegasus_collector_rounds_total", "Scrape rounds completed.", lCluster, true}
	mRoundDuration  = metricDesc{"pegasus_collector_round_duration_seconds", "Duration of the latest scrape round.", lCluster, false}
	mLastRound      = metricDesc{"pegasus_collector_last_round_timestamp_seconds", "Unix time the latest scrape round started.", lCluster, false}
	mDiscoveryErrs  = metricDesc{"pegasus_collector_discovery_errors_total", "Rounds whose discovery from the meta server failed.", lCluster, true}
	mTables         = metricDesc{"pegasus_cluster_tables", "Available tables in the cluster.", lCluster, false}
)

// ExportedMetrics lists every metric the collector exports from its
// rounds (the probe's and the Go runtime's come on top).
var ExportedMetrics = []metricDesc{
	mTableQPS, mTableReadQPS, mTableWriteQPS, mTableRequests, mTableLatency, mTableReadLat, mTableWriteLat,
	mTableParts, mTableHealthy, mTableWriteUnh, mTableReadUnh, mTableStorage,
	mDupShipped, mDupFailed, mDuplicateTotal, mDuplicateQPS, mDupShippedRate, mDupLag, mDupPending,
	mTableHot, mPartQPS, mPartZ, mPartHot,
	mNodeUp, mNodeAlive, mNodeSlow, mNodeScrape, mNodeFailures, mNodeReadQPS, mNodeWriteQPS,
	mNodeReplicas, mNodePrimaries, mNodeSecondary,
	mRounds, mRoundDuration, mLastRound, mDiscoveryErrs, mTables,
}

// ExportedNames returns the names of ExportedMetrics.
func ExportedNames() []string {
	out := make([]string, len(ExportedMetrics))
	for i, m := range ExportedMetrics {
		out[i] = m.name
	}
	return out
}

// Exporter is a prometheus.Collector that exposes the collector's latest
// State on every scrape of /metrics.
type Exporter struct {
	c     *Collector
	descs map[string]*prometheus.Desc
}

// NewExporter returns the exporter of c; register it on the daemon's
// registry.
func NewExporter(c *Collector) *Exporter {
	e := &Exporter{c: c, descs: map[string]*prometheus.Desc{}}
	for _, m := range ExportedMetrics {
		e.descs[m.name] = prometheus.NewDesc(m.name, m.help, m.labels, nil)
	}
	return e
}

// Describe implements prometheus.Collector.
func (e *Exporter) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range e.descs {
		ch <- d
	}
}

var percentiles = []struct {
	label string
	get   func(aggregate.Percentiles) float64
}{
	{"p50", func(p aggregate.Percentiles) float64 { return p.P50 }},
	{"p95", func(p aggregate.Percentiles) float64 { return p.P95 }},
	{"p99", func(p aggregate.Percentiles) float64 { return p.P99 }},
}

// Collect implements prometheus.Collector.
func (e *Exporter) Collect(ch chan<- prometheus.Metric) {
	st := e.c.State()
	if st == nil {
		return
	}
	cl := e.c.Cluster()
	emit := func(m metricDesc, v float64, labels ...string) {
		typ := prometheus.GaugeValue
		if m.counter {
			typ = prometheus.CounterValue
		}
		d := e.descs[m.name]
		pm, err := prometheus.NewConstMetric(d, typ, v, append([]string{cl}, labels...)...)
		if err != nil { // e.g. a table name that is not valid UTF-8
			pm = prometheus.NewInvalidMetric(d, err)
		}
		ch <- pm
	}
	emit(mRounds, float64(st.Round))
	emit(mRoundDuration, st.RoundSeconds)
	emit(mLastRound, float64(st.RoundStarted.UnixMilli())/1000)
	emit(mDiscoveryErrs, float64(st.DiscoveryErrors))
	snap := st.Snapshot
	emit(mTables, float64(len(snap.Tables)))
	for i := range snap.Tables {
		t := &snap.Tables[i]
		emit(mTableReadQPS, t.ReadQPS, t.Name)
		emit(mTableWriteQPS, t.WriteQPS, t.Name)
		for _, o := range t.Ops {
			emit(mTableQPS, o.QPS, t.Name, o.Op)
			emit(mTableRequests, o.Total, t.Name, o.Op)
			if o.Latency.Valid() {
				for _, p := range percentiles {
					emit(mTableLatency, p.get(o.Latency), t.Name, o.Op, p.label)
				}
			}
		}
		for _, p := range percentiles {
			if t.ReadLatency.Valid() {
				emit(mTableReadLat, p.get(t.ReadLatency), t.Name, p.label)
			}
			if t.WriteLatency.Valid() {
				emit(mTableWriteLat, p.get(t.WriteLatency), t.Name, p.label)
			}
		}
		emit(mTableParts, float64(t.PartitionCount), t.Name)
		emit(mTableHealthy, float64(t.Health.Healthy), t.Name)
		emit(mTableWriteUnh, float64(t.Health.WriteUnhealthy), t.Name)
		emit(mTableReadUnh, float64(t.Health.ReadUnhealthy), t.Name)
		if t.HasStorage {
			emit(mTableStorage, t.StorageBytes, t.Name)
		}
		emit(mDupShipped, t.Dup.ShippedTotal, t.Name)
		emit(mDupFailed, t.Dup.FailedTotal, t.Name)
		emit(mDuplicateTotal, t.Dup.DuplicateTotal, t.Name)
		emit(mDuplicateQPS, t.Dup.DuplicateQPS, t.Name)
		emit(mDupShippedRate, t.Dup.ShippedRate, t.Name)
		if t.Dup.HasLag {
			emit(mDupLag, t.Dup.LagP99, t.Name)
		}
		if t.Dup.HasPending {
			emit(mDupPending, t.Dup.Pending, t.Name)
		}
		emit(mTableHot, float64(st.HotCount(t.Name)), t.Name)
		scores := st.Hot[t.Name]
		for p, q := range t.PartitionQPS {
			part := strconv.Itoa(p)
			emit(mPartQPS, q, t.Name, part)
			if p < len(scores) {
				emit(mPartZ, scores[p].Z, t.Name, part)
				emit(mPartHot, b2f(scores[p].Hot), t.Name, part)
			}
		}
	}
	for i := range snap.Nodes {
		n := &snap.Nodes[i]
		emit(mNodeUp, b2f(n.Up), n.Address, n.Role)
		emit(mNodeAlive, b2f(n.Alive), n.Address, n.Role)
		emit(mNodeSlow, b2f(n.Slow), n.Address, n.Role)
		emit(mNodeScrape, n.ScrapeSeconds, n.Address, n.Role)
		emit(mNodeFailures, float64(n.ScrapeFailures), n.Address, n.Role)
		if n.Role == aggregate.RoleReplica {
			emit(mNodeReadQPS, n.ReadQPS, n.Address, n.Role)
			emit(mNodeWriteQPS, n.WriteQPS, n.Address, n.Role)
			emit(mNodePrimaries, float64(n.Primaries), n.Address, n.Role)
			emit(mNodeSecondary, float64(n.Secondaries), n.Address, n.Role)
			if n.HasReplicas {
				emit(mNodeReplicas, n.Replicas, n.Address, n.Role)
			}
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
