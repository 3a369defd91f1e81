// Package cli is the command line of pegasus-bench:
//
//	pegasus-bench ycsb --db pegasus --system pegasus-fsync --workload a --threads 64 ...
//	pegasus-bench echo-server --rpcx-addr 127.0.0.1:0 --rpc-addr 127.0.0.1:0
//	pegasus-bench report --results results.jsonl [--docs docs/benchmarks.md --header header.md]
//
// ycsb runs one workload (package ycsb) and appends its result as a JSON
// line; echo-server serves the two echo servers of the RPC ceiling until
// SIGINT or SIGTERM; report prints the comparison tables (package report)
// and optionally writes them into the benchmarks document.
//
// Main is called once per process, from main.
package cli
