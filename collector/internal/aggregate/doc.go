// Package aggregate turns one round of scraped /metrics pages into per-table
// and per-node statistics: read and write QPS by operation, latency
// percentiles, partition health, storage size, duplication counters and
// per-partition QPS (the input of hotspot detection).
//
// It is the pure core of the collector: an Aggregator takes a View of the
// cluster (from the meta server) and the pages scraped in one round, and
// returns a Snapshot. It does no IO and reads no clock; times come with the
// scrapes, so tests feed it hand-made pages.
//
// What it reads from a replica server's page (names as the replica server
// exports them, optionally prefixed with "pegasus_"):
//
//	<op>_qps_total{app_id,table}         requests served, per op (get, put, ...)
//	<op>_latency{app_id,table}           histogram of request latency (seconds)
//	replica_updates_applied_total{app_id,partition}
//	                                     writes applied by one replica (per-partition write QPS)
//	replica_count                        replicas the node serves
//	dup_shipped_ops_total, dup_failed_shipping_ops_total, duplicate_qps_total,
//	dup_time_lag (histogram, seconds) or dup_time_lag_ms (histogram or
//	gauge, milliseconds),
//	dup_pending_mutations_count (gauge), rdb_total_sst_size_mb (gauge)
//	                                     read by name when present, labelled
//	                                     by table (or app_id) and partition
//
// Rates and counter totals:
//   - A rate is the increase of a node's counter between its two latest
//     successful scrapes divided by the time between them; a counter that
//     went down (the node restarted) counts from zero. A node seen for the
//     first time, or whose scrape failed this round, adds no rate this round.
//   - A total (e.g. Table.Ops[i].Total) is the sum of those increases over
//     every scrape since the Aggregator started, a node's first scrape
//     counting in full. As long as no node restarts, it equals the sum of
//     the nodes' own counters at their latest scrape; it never decreases.
//
// Percentiles are computed like Prometheus' histogram_quantile over the
// bucket increases of the last interval, merged over nodes (and ops for the
// read and write figures); with no observation in the interval a
// Percentiles value has Count 0 and no meaning.
//
// Concurrency: an Aggregator is used by one goroutine at a time. Snapshots
// it returns are not modified afterwards and may be shared read-only.
package aggregate
