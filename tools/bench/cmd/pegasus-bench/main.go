// Command pegasus-bench is the YCSB driver of the peer benchmarks
// (tools/bench/run.sh): it runs one go-ycsb workload against one binding,
// serves the echo servers of the RPC ceiling, and turns the recorded runs
// into the comparison table. See docs/benchmarks.md.
package main

import (
	"log/slog"
	"os"

	"github.com/pegasus-go/pegasus/shared/rpc"
	"github.com/pegasus-go/pegasus/tools/bench/cli"
)

func main() {
	// rpcx logs every connection closed at the end of a run.
	rpc.SetFrameworkLogger(slog.New(slog.DiscardHandler))
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr))
}
