// Command onebox runs a whole Pegasus-Go cluster (or two) on this machine
// as separate processes: meta servers, replica servers and, with --zk, a
// ZooKeeper. See docs/onebox.md.
//
//	onebox start [-m metas] [-r replicas] [--clusters N] [--zk] [--dir .onebox] [--base-port 34601]
//	onebox status [--json]
//	onebox stop | clean
//	onebox stop-instance <name> [--signal KILL|TERM|STOP|CONT]
//	onebox start-instance <name>
package main

import (
	"log/slog"
	"os"

	"github.com/pegasus-go/pegasus/shared/rpc"
	"github.com/pegasus-go/pegasus/tools/onebox/cli"
)

func main() {
	// rpcx logs closed connections of the admin client to stdout.
	rpc.SetFrameworkLogger(slog.New(slog.DiscardHandler))
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr))
}
