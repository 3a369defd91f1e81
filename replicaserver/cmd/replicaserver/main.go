// Command replicaserver runs a Pegasus-Go replica server. Configuration
// comes from the compiled defaults, the TOML file given with -c, and
// --<section>.<key> flags (see --help and --print-default-config). With
// PEGASUS_FAILPOINTS in the environment, fault injection is enabled
// (docs/robustness.md).
package main

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/pegasus-go/pegasus/replicaserver/embed"
	"github.com/pegasus-go/pegasus/shared/config"
	"github.com/pegasus-go/pegasus/shared/failpoint"
)

func main() { os.Exit(run(os.Args[1:])) }

func run(args []string) int {
	cfg := embed.DefaultConfig()
	if _, err := config.Load(args, &cfg, config.WithName("replicaserver")); err != nil {
		if !errors.Is(err, config.ErrHelpOrPrinted) {
			fmt.Fprintln(os.Stderr, err)
		}
		return config.ExitCode(err)
	}
	if spec, ok := os.LookupEnv(failpoint.EnvVar); ok {
		reg, err := failpoint.Parse(spec)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", failpoint.EnvVar, err)
			return 2
		}
		cfg.Failpoints = reg
	}
	srv, err := embed.Start(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	if err := srv.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}
