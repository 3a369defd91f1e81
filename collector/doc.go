// Package collector is the Pegasus-Go metrics collector module: it discovers
// nodes and tables from the meta server, scrapes every daemon's metrics,
// aggregates them per table and per node, probes availability, detects hot
// partitions, re-exports everything for Prometheus and serves a dashboard.
package collector
