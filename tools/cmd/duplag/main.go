// Command duplag measures duplication lag between two onebox clusters at
// sustained write rates and prints (or writes into docs/benchmarks.md) a
// table of p50/p99/max lag per rate. `make bench-dup` runs it. See
// tools/duplag for what it measures.
//
//	duplag [--rates 1000,5000] [--duration 60s] [--doc docs/benchmarks.md] [--commit <sha>]
//	       [--replica-setting section.key=value ...] [--meta-setting ...] [--keep] [--dir D]
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"

	"github.com/spf13/pflag"

	"github.com/pegasus-go/pegasus/shared/rpc"
	"github.com/pegasus-go/pegasus/tools/duplag"
)

func main() {
	// rpcx logs every closed client connection.
	rpc.SetFrameworkLogger(slog.New(slog.DiscardHandler))
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := pflag.NewFlagSet("duplag", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	var o duplag.Options
	var doc, commit, shown, cpuProfile string
	var verbose bool
	fs.IntSliceVar(&o.Rates, "rates", duplag.DefaultRates, "write rates (writes/s), one phase each, in order")
	fs.DurationVar(&o.Duration, "duration", duplag.DefaultDuration, "load time of each phase")
	fs.IntVar(&o.Partitions, "partitions", duplag.DefaultPartitions, "partitions of the table on both clusters")
	fs.IntVar(&o.ValueSize, "value-size", duplag.DefaultValueSize, "bytes per value")
	fs.IntVar(&o.SamplesPerSecond, "samples", duplag.DefaultSamplesPerSecond, "writes per second followed on the target")
	fs.DurationVar(&o.PollInterval, "poll", duplag.DefaultPollInterval, "how often a followed write is read on the target")
	fs.IntVar(&o.MaxInflight, "max-inflight", duplag.DefaultMaxInflight, "most writes in flight")
	fs.StringVar(&o.Dir, "dir", "", "onebox directory (default: a temporary directory)")
	fs.BoolVar(&o.Keep, "keep", false, "keep the onebox directory (logs, data) after the run")
	fs.IntVar(&o.BasePort, "base-port", 0, "first port of the onebox (default: onebox's)")
	fs.StringVar(&o.BinDir, "bin-dir", "", "directory of the metaserver and replicaserver binaries (default: next to duplag, else ./bin)")
	fs.BoolVar(&o.ZooKeeper, "zk", false, "run the clusters on ZooKeeper instead of the local store")
	fs.StringArrayVar(&o.MetaSettings, "meta-setting", nil, "section.key=value for every meta server (repeatable)")
	fs.StringArrayVar(&o.ReplicaSettings, "replica-setting", nil, "section.key=value for every replica server (repeatable)")
	fs.StringVar(&doc, "doc", "", "rewrite the generated block of this markdown file (docs/benchmarks.md) with the results")
	fs.StringVar(&commit, "commit", "", "commit shown in the results (default: git rev-parse --short HEAD)")
	fs.StringVar(&shown, "command-shown", "", "command line shown in the results (default: this duplag command line)")
	fs.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of duplag itself (the load generator) to this file")
	fs.BoolVarP(&verbose, "verbose", "v", false, "log the onebox's progress")
	if err := fs.Parse(args); err != nil {
		if err == pflag.ErrHelp {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "duplag: unexpected arguments %v\n", fs.Args())
		return 2
	}
	o.Progress = stdout
	if verbose {
		o.Logger = slog.New(slog.NewTextHandler(stderr, nil))
	}
	if commit == "" {
		commit = gitCommit()
	}
	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			fmt.Fprintln(stderr, "duplag:", err)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(stderr, "duplag:", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := duplag.Run(ctx, o)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if shown == "" {
		shown = strings.Join(append([]string{"bin/duplag"}, args...), " ")
	}
	md := rep.Markdown(commit, shown)
	fmt.Fprintf(stdout, "\n%s", md)
	if doc != "" {
		if err := duplag.UpdateDoc(doc, md); err != nil {
			fmt.Fprintln(stderr, "duplag:", err)
			return 1
		}
		fmt.Fprintf(stdout, "\n%s updated\n", doc)
	}
	return 0
}

// gitCommit returns the short commit of the working directory, with
// "-dirty" when it has changes, or "unknown".
func gitCommit() string {
	out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	c := strings.TrimSpace(string(out))
	if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(strings.TrimSpace(string(st))) > 0 {
		c += "-dirty"
	}
	return c
}
