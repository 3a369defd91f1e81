// Package metrics gives each daemon a tally (github.com/uber-go/tally/v4)
// root scope whose metrics are exposed for Prometheus through tally's
// prometheus reporter and a private prometheus.Registry.
//
// Conventions (DESIGN section 11):
//   - Code names metrics as Pegasus does (dup_shipped_ops,
//     dup_time_lag_ms) through Scope(); names and label keys are sanitized
//     to Prometheus identifiers ('.' and '-' become '_').
//   - Counters are exposed with the suffix "_total", appended by the
//     registry (CounterName gives the exposed name); code never adds it.
//   - Timers are Prometheus histograms in seconds with LatencyBuckets
//     (10µs..10s) unless Options.TimerBuckets says otherwise.
//   - Tags are labels. One metric name has one set of label keys in a
//     registry; a conflicting registration is logged and counted
//     (RegistrationErrors), never a panic.
//   - tally's internal cardinality metrics are not emitted.
//
// Invariants: nothing is registered in Prometheus' default registry, so any
// number of Registries coexist in one process; asking a scope twice for the
// same metric returns the same metric. Counters, gauges and value
// histograms reach the Prometheus registry on each report tick
// (Options.ReportInterval) and on Close; timers are recorded immediately.
//
// Concurrency: a Registry, its scopes and metrics and its Handler are safe
// for concurrent use. Close may be called once everything is done
// recording; later calls return the first result.
package metrics
