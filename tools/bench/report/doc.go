// Package report turns the recorded YCSB runs (one ycsb.Result per JSON
// line) into the comparison tables of docs/benchmarks.md: the median over
// rounds of each system, workload and thread count; the ratio of each
// Pegasus-Go mode to each peer; the RPC ceiling (echo bindings); and the
// targets of the comparison. It also replaces the generated section of
// the benchmarks document between its markers, leaving the rest alone.
//
// Systems whose name starts with "pegasus" are the Pegasus-Go modes;
// systems measured through an "-echo" binding are the RPC ceiling; every
// other system is a peer. Medians are taken per figure (throughput and
// each percentile separately) over the rounds of one configuration.
//
// Everything here is pure: no IO beyond the readers and writers passed in.
package report
