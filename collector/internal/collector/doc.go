// Package collector runs the collector's scrape rounds and serves their
// results: each round discovers the cluster from the meta server (a
// Discoverer), scrapes every meta and replica server's /metrics page
// concurrently (a Scraper, each node within ScrapeTimeout), aggregates the
// pages (package aggregate), scores hot partitions (package hotspot) and
// publishes an immutable State plus a per-table history ring for the
// dashboard's charts.
//
// A node that cannot be scraped, or is slow, is recorded in the State
// (and exported as pegasus_node_up / pegasus_node_slow); it never stops a
// round. A failed discovery keeps the previous view and is counted.
//
// The Exporter re-exports the latest State as Prometheus metrics with the
// stable labels cluster, table, node (and op, percentile, partition,
// role); RegisterAPI mounts the JSON API the dashboard reads.
//
// Concurrency: Round calls are serialized (Run makes one every Interval);
// State, Series, ClusterPage, the Exporter and the API handlers may be
// used from any goroutine at any time and only read published, immutable
// values.
package collector
