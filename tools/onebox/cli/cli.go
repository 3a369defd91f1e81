package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"

	"github.com/spf13/pflag"

	"github.com/pegasus-go/pegasus/tools/onebox"
)

// Exit statuses.
const (
	ExitOK    = 0
	ExitFail  = 1
	ExitUsage = 2
)

const usage = `usage: onebox <command> [flags]

commands:
  start            start a onebox (meta servers, replica servers, a collector per cluster, ZooKeeper with --zk)
  status [--json]  every process with its role, cluster, addresses, pid and state
  stop             SIGTERM every process, SIGKILL what is left after --timeout
  clean            stop, then remove the onebox directory
  stop-instance <name> [--signal KILL|TERM|STOP|CONT]
                   signal one process (names as in status: onebox/meta1, onebox/replica2, zookeeper)
  start-instance <name>
                   start one stopped process again with its configuration

Every command takes --dir (default .onebox). The metaserver and replicaserver
binaries are taken from the directory of the onebox binary, else ./bin
(--bin-dir overrides). See docs/onebox.md.
`

// Main runs the onebox command line (without the program name) and returns
// the exit status.
func Main(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, usage)
		if len(args) == 0 {
			return ExitUsage
		}
		return ExitOK
	}
	cmd, args := args[0], args[1:]
	fs := pflag.NewFlagSet("onebox "+cmd, pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var o onebox.Options
	fs.StringVar(&o.Dir, "dir", onebox.DefaultDir, "onebox directory (state, configs, logs, data)")
	verbose := fs.BoolP("verbose", "v", false, "log progress to stderr")
	var (
		jsonOut bool
		sigName string
	)
	switch cmd {
	case "start":
		fs.IntVarP(&o.Metas, "metas", "m", 0, fmt.Sprintf("meta servers per cluster (default %d, or as in the stopped onebox)", onebox.DefaultMetas))
		fs.IntVarP(&o.Replicas, "replicas", "r", 0, fmt.Sprintf("replica servers per cluster (default %d, or as in the stopped onebox)", onebox.DefaultReplicas))
		fs.IntVar(&o.Clusters, "clusters", 0, "independent clusters onebox, onebox2, ..., configured to know each other for duplication (default 1, or as in the stopped onebox)")
		fs.BoolVar(&o.ZooKeeper, "zk", false, "use ZooKeeper (Debian's zookeeper package) instead of the local-directory store (a stopped onebox keeps its store)")
		fs.IntVar(&o.BasePort, "base-port", 0, fmt.Sprintf("first meta server RPC port; every other port derives from it (default %d, or as in the stopped onebox)", onebox.DefaultBasePort))
		fs.StringVar(&o.BinDir, "bin-dir", "", "directory holding metaserver and replicaserver (default: next to onebox, else ./bin)")
		fs.StringArrayVar(&o.MetaSettings, "meta-set", nil, "section.key=value applied to every meta server's configuration (repeatable)")
		fs.StringArrayVar(&o.ReplicaSettings, "replica-set", nil, "section.key=value applied to every replica server's configuration (repeatable)")
		fs.BoolVar(&o.Collector, "collector", true, "start a collector (dashboard and Prometheus metrics) per cluster")
		fs.StringArrayVar(&o.CollectorSettings, "collector-set", nil, "section.key=value applied to every collector's configuration (repeatable)")
		fs.DurationVar(&o.StartTimeout, "start-timeout", onebox.DefaultStartTimeout, "how long start waits for the cluster to be up")
	case "status":
		fs.BoolVar(&jsonOut, "json", false, "print JSON")
	case "stop-instance":
		fs.StringVarP(&sigName, "signal", "s", "TERM", "KILL, TERM, STOP or CONT")
		fs.DurationVar(&o.StopTimeout, "timeout", onebox.DefaultStopTimeout, "after TERM: how long to wait for the process to end")
	case "start-instance":
		fs.DurationVar(&o.StartTimeout, "start-timeout", onebox.DefaultStartTimeout, "how long to wait for the instance to answer")
	case "stop", "clean":
		fs.DurationVar(&o.StopTimeout, "timeout", onebox.DefaultStopTimeout, "how long to wait after SIGTERM before SIGKILL")
	default:
		fmt.Fprintf(stderr, "error: unknown command %q\n\n%s", cmd, usage)
		return ExitUsage
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			fmt.Fprintf(stdout, "usage of onebox %s:\n%s", cmd, fs.FlagUsages())
			return ExitOK
		}
		fmt.Fprintf(stderr, "error: %s: %v\nflags:\n%s", cmd, err, fs.FlagUsages())
		return ExitUsage
	}
	wantArgs := 0
	if cmd == "stop-instance" || cmd == "start-instance" {
		wantArgs = 1
	}
	if fs.NArg() != wantArgs {
		if wantArgs == 1 {
			fmt.Fprintf(stderr, "error: %s needs one instance name (see onebox status)\n", cmd)
		} else {
			fmt.Fprintf(stderr, "error: %s takes no arguments, got %q\n", cmd, fs.Args())
		}
		return ExitUsage
	}
	if *verbose {
		o.Logger = slog.New(slog.NewTextHandler(stderr, nil))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var err error
	switch cmd {
	case "start":
		var st *onebox.State
		if st, err = onebox.Start(ctx, o); err == nil {
			printStarted(stdout, st)
		}
	case "status":
		err = status(stdout, o, jsonOut)
	case "stop":
		if err = onebox.Stop(ctx, o); err == nil {
			fmt.Fprintf(stdout, "onebox in %s stopped; no process left\n", o.Dir)
		}
	case "clean":
		if err = onebox.Clean(ctx, o); err == nil {
			fmt.Fprintf(stdout, "onebox in %s stopped and removed\n", o.Dir)
		}
	case "stop-instance":
		var sig syscall.Signal
		if sig, err = onebox.ParseSignal(sigName); err != nil {
			fmt.Fprintf(stderr, "error: %v\n", err)
			return ExitUsage
		}
		if err = onebox.StopInstance(ctx, o, fs.Arg(0), sig); err == nil {
			fmt.Fprintf(stdout, "sent SIG%s to %s\n", strings.TrimPrefix(strings.ToUpper(sigName), "SIG"), fs.Arg(0))
		}
	case "start-instance":
		if err = onebox.StartInstance(ctx, o, fs.Arg(0)); err == nil {
			fmt.Fprintf(stdout, "%s started\n", fs.Arg(0))
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "error: %s: %v\n", cmd, strings.TrimPrefix(err.Error(), "onebox: "))
		return ExitFail
	}
	return ExitOK
}

// relPath shows p relative to the working directory when it is below it.
func relPath(p string) string {
	wd, err := os.Getwd()
	if err != nil {
		return p
	}
	if r, err := filepath.Rel(wd, p); err == nil && !strings.HasPrefix(r, "..") {
		if !strings.Contains(r, string(filepath.Separator)) {
			return "." + string(filepath.Separator) + r
		}
		return r
	}
	return p
}

// AdmincliCommand is the command line that connects admincli to cluster c.
func AdmincliCommand(st *onebox.State, c *onebox.Cluster) string {
	bin := "admincli"
	if p := filepath.Join(st.BinDir, "admincli"); fileExists(p) {
		bin = relPath(p)
	}
	return bin + " -m " + strings.Join(c.MetaServers, ",")
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func printStarted(w io.Writer, st *onebox.State) {
	store := "local directory store"
	if st.Store == "zookeeper" {
		zk, _ := st.Instance("zookeeper")
		store = "ZooKeeper at " + zk.RPCAddress
	}
	fmt.Fprintf(w, "onebox started in %s (%s)\n", relPath(st.Dir), store)
	for i := range st.Clusters {
		c := &st.Clusters[i]
		fmt.Fprintf(w, "\ncluster %s (duplication id %d)\n", c.Name, c.ID)
		fmt.Fprintf(w, "  meta servers:    %s\n", strings.Join(c.MetaServers, ","))
		fmt.Fprintf(w, "  replica servers: %s\n", strings.Join(c.Replicas, ","))
		for _, in := range st.Instances {
			if in.Cluster == c.Name && in.Role == onebox.RoleMeta {
				fmt.Fprintf(w, "  status page:     http://%s/meta/cluster\n", in.HTTPAddress)
				break
			}
		}
		if c.Collector != "" {
			fmt.Fprintf(w, "  collector:       %s\n", c.Collector)
		}
		fmt.Fprintf(w, "  connect:         %s\n", AdmincliCommand(st, c))
	}
	self := "onebox"
	if exe, err := os.Executable(); err == nil {
		self = relPath(exe)
	}
	dirFlag := ""
	if st.Dir != mustAbs(onebox.DefaultDir) {
		dirFlag = " --dir " + relPath(st.Dir)
	}
	fmt.Fprintf(w, "\nstatus: %s status%s\n", self, dirFlag)
	fmt.Fprintf(w, "logs:   %s/<cluster>/<instance>/\n", relPath(st.Dir))
	fmt.Fprintf(w, "stop:   %s stop%s   (remove everything: %s clean%s)\n", self, dirFlag, self, dirFlag)
}

func mustAbs(p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	return a
}

func status(w io.Writer, o onebox.Options, jsonOut bool) error {
	st, list, err := onebox.Status(o)
	if err != nil {
		return err
	}
	if jsonOut {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			Dir       string                  `json:"dir"`
			Store     string                  `json:"store"`
			Clusters  []onebox.Cluster        `json:"clusters"`
			Instances []onebox.InstanceStatus `json:"instances"`
		}{st.Dir, st.Store, st.Clusters, list})
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tROLE\tCLUSTER\tRPC\tHTTP\tPID\tSTATE")
	for _, s := range list {
		pid := "-"
		if s.PID > 0 {
			pid = fmt.Sprint(s.PID)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Name, s.Role, dash(s.Cluster), s.RPCAddress, dash(s.HTTPAddress), pid, s.State)
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
