// Command metaserver runs a Pegasus-Go meta server: tables, partition
// configurations, replica server membership and the guardian, kept in
// ZooKeeper or, for onebox, in a local-directory store.
//
//	metaserver -c meta.toml [--meta_server.rpc_address=127.0.0.1:34601 ...]
//	metaserver --print-default-config
//
// With PEGASUS_FAILPOINTS in the environment, fault injection is enabled
// (docs/robustness.md).
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/pegasus-go/pegasus/metaserver/embed"
	"github.com/pegasus-go/pegasus/shared/config"
	"github.com/pegasus-go/pegasus/shared/failpoint"
)

func main() {
	cfg := embed.DefaultConfig()
	if _, err := config.Load(os.Args[1:], &cfg, config.WithName("metaserver")); err != nil {
		if !errors.Is(err, config.ErrHelpOrPrinted) {
			fmt.Fprintln(os.Stderr, err)
		}
		os.Exit(config.ExitCode(err))
	}
	if spec, ok := os.LookupEnv(failpoint.EnvVar); ok {
		reg, err := failpoint.Parse(spec)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", failpoint.EnvVar, err)
			os.Exit(2)
		}
		cfg.Failpoints = reg
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := embed.Run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
