// Command metaproxy runs a Pegasus-Go meta proxy: it answers clients'
// partition-configuration queries for each table by forwarding them to the
// meta leader of the cluster the table's ZooKeeper route names, so tables
// can move between clusters without restarting applications.
//
//	metaproxy -c metaproxy.toml [--zookeeper.hosts=127.0.0.1:2181 ...]
//	metaproxy --print-default-config
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/pegasus-go/pegasus/metaproxy/embed"
	"github.com/pegasus-go/pegasus/shared/config"
)

func main() {
	cfg := embed.DefaultConfig()
	if _, err := config.Load(os.Args[1:], &cfg, config.WithName("metaproxy")); err != nil {
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
