// Command collector runs a Pegasus-Go metrics collector: it discovers a
// cluster's nodes and tables from the meta server, scrapes every daemon's
// /metrics, aggregates per table and per node, probes availability,
// detects hot partitions, re-exports everything for Prometheus and serves
// a dashboard.
//
//	collector -c collector.toml [--collector.meta_servers=127.0.0.1:34601 ...]
//	collector --print-default-config
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/pegasus-go/pegasus/collector/embed"
	"github.com/pegasus-go/pegasus/shared/config"
)

func main() {
	cfg := embed.DefaultConfig()
	if _, err := config.Load(os.Args[1:], &cfg, config.WithName("collector")); err != nil {
		if !errors.Is(err, config.ErrHelpOrPrinted) {
			fmt.Fprintln(os.Stderr, err)
		}
		os.Exit(config.ExitCode(err))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := embed.Run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
