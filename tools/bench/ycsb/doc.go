// Package ycsb runs one YCSB workload (go-ycsb's core workload, used as a
// library) against one registered go-ycsb binding and measures it.
//
// Every system is driven by the same code: go-ycsb's core workload picks
// the keys (hashed insert order, zipfian request distribution by default),
// builds the values (Workloads fixes one field of 100 bytes) and chooses
// the operations; this package wraps the binding in a Recorder that times
// every call into per-thread HDR histograms (no lock on the hot path) and
// merges them when the run ends. The result (throughput, percentiles,
// errors) is a Result, written as one JSON line per run.
//
// Invariants: a run measures exactly the operations it issued before its
// deadline; calls that fail because the run's own deadline cancelled them
// are neither counted nor timed, every other failure is counted as an
// error of its operation. Throughput is operations completed divided by the
// wall time of the whole run (all threads started to all threads done).
//
// Concurrency: Run is called from one goroutine; it starts the go-ycsb
// client's worker goroutines and returns after they have all stopped.
// go-ycsb's key and operation generators are shared by the workers and
// record their last value without synchronisation (only the "latest"
// distribution, unused here, reads it back); the race detector reports
// this inside go-ycsb when a run has several threads.
// go-ycsb keeps process-global state (its registry of bindings and its
// measurement globals), so one process runs one Run at a time.
package ycsb
