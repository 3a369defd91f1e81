// Package duplag measures duplication lag: how long a write made on one
// cluster takes to become readable on another. It is the engine of the
// duplag command (tools/cmd/duplag, `make bench-dup`), whose figures go to
// docs/benchmarks.md.
//
// Run starts a onebox with two clusters (onebox, the source, and onebox2,
// the target), creates the same table on both, adds an incremental
// duplication from the source to the target with client-go/admin, and then
// runs one phase per configured rate. A phase drives an open-loop,
// rate-limited write load on the source (golang.org/x/time/rate: writes are
// issued on schedule whether or not earlier ones were answered, up to a
// bound of writes in flight) for the phase's duration, and measures lag two
// ways:
//
//   - End-to-end visibility: every SampleEvery-th write, once the source
//     acknowledged it, is read on the target every PollInterval until it
//     is there with the written value. Its lag is the time from the
//     acknowledgement to the end of the first successful read, so it
//     overstates the true lag by at most one poll interval plus one read.
//   - The receiver's own histogram: the increase over the phase of the
//     target replica servers' dup_time_lag_ms histogram (apply time
//     on the target primary minus the source mutation's timestamp, every
//     duplicated entry), whose percentiles are interpolated within its
//     power-of-two millisecond buckets.
//
// After the load a phase waits until every sampled write is visible and
// every partition's pending mutations reach zero (the drain), so phases do
// not overlap.
//
// Invariants: the onebox is always stopped when Run returns, and its
// directory removed unless Options.Keep; a sampled write that never becomes
// visible within Options.VisibilityTimeout is counted as lost, never
// dropped from the figures silently.
//
// Concurrency: Run is safe to call from one goroutine at a time per
// directory and port range; it starts its own goroutines (writers, probes,
// a progress monitor) and waits for all of them before it returns. The
// statistics helpers (Summarize, HistQuantile, ...) are pure functions.
package duplag
