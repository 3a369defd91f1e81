// Package web is the collector's dashboard: a static page, its script and
// style, and the uPlot chart library (vendored from the npm package
// uplot, MIT license, see assets/uplot/LICENSE), all embedded in the
// binary so the dashboard needs no network access beyond the collector.
//
// The page reads the collector's JSON API (/api/cluster,
// /api/tables/{name}, /api/tables/{name}/history) and draws the table
// list with health and QPS, hot partitions, the nodes with their scrape
// state, the availability probe, and per-table charts over time (QPS,
// latency p99, duplication lag p99, pending duplication mutations).
//
// For tests the script publishes what each chart drew in
// window.pegasusCharts: chart id -> {series: [{label, points}], canvas}.
//
// Concurrency: the handlers serve immutable embedded files and are safe
// for concurrent use.
package web
