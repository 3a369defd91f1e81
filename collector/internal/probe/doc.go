// Package probe is the collector's availability detector: every Interval
// it writes and then reads back one record in every partition of a probe
// table, through the regular client, and records success ratio and
// latency per operation.
//
// The probe table is created (with PartitionCount partitions) when it is
// missing. Hash keys are chosen once so that key i lands in partition i,
// so every partition's primary is exercised each round. A read that does
// not return the value just written counts as a failed read.
//
// Metrics (all labelled cluster and op = set | get):
//
//	pegasus_probe_requests_total      probe requests sent
//	pegasus_probe_failures_total      probe requests that failed (or read a wrong value)
//	pegasus_probe_success_ratio       successful / sent in the latest round
//	pegasus_probe_latency_seconds     histogram of probe request latency
//
// plus pegasus_probe_rounds_total{cluster}. A round whose setup fails (the
// table cannot be created or opened) counts one failed request per op.
//
// Concurrency: a Prober runs its rounds on one goroutine (Run, or the
// caller of Round); Status may be called from any goroutine.
package probe
