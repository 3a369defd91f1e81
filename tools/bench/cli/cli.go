package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	_ "net/http/pprof" // the client's profile, served with --pprof-addr
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/pegasus-go/pegasus/tools/bench/bindings"
	"github.com/pegasus-go/pegasus/tools/bench/report"
	"github.com/pegasus-go/pegasus/tools/bench/ycsb"

	// go-ycsb's own bindings of the peers.
	_ "github.com/pingcap/go-ycsb/db/etcd"
	_ "github.com/pingcap/go-ycsb/db/redis"
)

const usage = `usage: pegasus-bench <command> [flags]

commands:
  ycsb         run one YCSB workload against one binding, append the result as JSON
  echo-server  serve the rpcx and shared/rpc echo servers until SIGINT/SIGTERM
  report       print the comparison tables of recorded runs; optionally update the docs
  wait         wait until TCP addresses accept connections and HTTP URLs answer 200
`

// Main runs the command line args and returns the exit status: 0 success,
// 1 failure, 2 bad usage.
func Main(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "ycsb":
		err = runYCSB(args[1:], stdout, stderr)
	case "echo-server":
		err = runEchoServer(args[1:], stdout, stderr)
	case "report":
		err = runReport(args[1:], stdout, stderr)
	case "wait":
		err = runWait(args[1:], stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "pegasus-bench: unknown command %q\n%s", args[0], usage)
		return 2
	}
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, pflag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "pegasus-bench %s: %v\n", args[0], err)
		return 2
	default:
		fmt.Fprintf(stderr, "pegasus-bench %s: %v\n", args[0], err)
		return 1
	}
}

type usageError struct{ error }

func newFlags(name string, stderr io.Writer) *pflag.FlagSet {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

func parse(fs *pflag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected arguments %q", fs.Args())}
	}
	return nil
}

func runYCSB(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("ycsb", stderr)
	var cfg ycsb.Config
	var system, out, cpuProfile, pprofAddr string
	var round int
	var props []string
	fs.StringVar(&cfg.Binding, "db", "", "binding: pegasus, etcd, redis, pebble, rpcx-echo, rpc-echo")
	fs.StringVar(&system, "system", "", "label of the measured system in the results (default: the binding)")
	fs.StringVar(&cfg.Workload, "workload", "", "load, or a core workload a..f")
	fs.IntVar(&cfg.Threads, "threads", 16, "client threads")
	fs.Int64Var(&cfg.Records, "records", 100000, "records in the table (load inserts them)")
	fs.Int64Var(&cfg.Ops, "ops", 100000, "operations of a workload run (load: ignored)")
	fs.DurationVar(&cfg.MaxDuration, "max-duration", 0, "end the run after this long (0: when the operations are done)")
	fs.StringArrayVarP(&props, "prop", "p", nil, "go-ycsb property name=value (repeatable), e.g. etcd.endpoints=...")
	fs.IntVar(&round, "round", 0, "round number recorded with the result")
	fs.StringVar(&out, "out", "-", "file to append the JSON result line to (-: stdout, after the summary line)")
	fs.StringVar(&cpuProfile, "cpuprofile", "", "write the client's CPU profile of the run to this file")
	fs.StringVar(&pprofAddr, "pprof-addr", "", "serve the client's /debug/pprof on this address during the run")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg.Properties = map[string]string{}
	for _, kv := range props {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return usageError{fmt.Errorf("property %q is not name=value", kv)}
		}
		cfg.Properties[k] = v
	}
	if err := cfg.Validate(); err != nil {
		return usageError{err}
	}
	if system == "" {
		system = cfg.Binding
	}
	if pprofAddr != "" {
		srv := &http.Server{Addr: pprofAddr, ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = srv.ListenAndServe() }()
		defer srv.Close()
	}
	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := ycsb.Run(ctx, cfg)
	if res == nil {
		return err
	}
	res.System, res.Round = system, round
	fmt.Fprintf(stdout, "%s %s threads=%d round=%d: %.0f ops/s p50=%.0fµs p99=%.0fµs p99.9=%.0fµs ops=%d errors=%d (%.1fs)\n",
		system, cfg.Workload, cfg.Threads, round, res.OpsPerSec, res.Latency.P50Us, res.Latency.P99Us, res.Latency.P999Us,
		res.Ops, res.Errors, res.Seconds)
	if res.FirstError != "" {
		fmt.Fprintf(stdout, "  first error: %s\n", res.FirstError)
	}
	line, jerr := json.Marshal(res)
	if jerr != nil {
		return jerr
	}
	if werr := appendLine(out, line, stdout); werr != nil {
		return werr
	}
	return err
}

func appendLine(path string, line []byte, stdout io.Writer) error {
	line = append(line, '\n')
	if path == "-" {
		_, err := stdout.Write(line)
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(line); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

func runEchoServer(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("echo-server", stderr)
	rpcxAddr := fs.String("rpcx-addr", "127.0.0.1:0", "address of the rpcx echo server")
	rpcAddr := fs.String("rpc-addr", "127.0.0.1:0", "address of the shared/rpc echo server")
	if err := parse(fs, args); err != nil {
		return err
	}
	s, err := bindings.StartEchoServers(*rpcxAddr, *rpcAddr, nil)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "echo servers: rpcx %s, rpc %s\n", s.RpcxAddr(), s.RPCAddr())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	return s.Close()
}

func runReport(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("report", stderr)
	var files []string
	var docs, header string
	fs.StringArrayVar(&files, "results", nil, "results file (JSON lines; repeatable)")
	fs.StringVar(&docs, "docs", "", "benchmarks document whose generated section is replaced")
	fs.StringVar(&header, "header", "", "Markdown file placed before the tables in the document section")
	if err := parse(fs, args); err != nil {
		return err
	}
	if len(files) == 0 {
		return usageError{errors.New("--results is required")}
	}
	var all []ycsb.Result
	for _, f := range files {
		rs, err := loadFile(f)
		if err != nil {
			return err
		}
		all = append(all, rs...)
	}
	if len(all) == 0 {
		return errors.New("no results recorded")
	}
	var tables strings.Builder
	if err := report.Tables(&tables, report.Medians(all)); err != nil {
		return err
	}
	if _, err := io.WriteString(stdout, tables.String()); err != nil {
		return err
	}
	if docs == "" {
		return nil
	}
	var content strings.Builder
	if header != "" {
		h, err := os.ReadFile(header)
		if err != nil {
			return err
		}
		content.Write(h)
		content.WriteString("\n")
	}
	content.WriteString(tables.String())
	doc, err := os.ReadFile(docs)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	updated, err := report.ReplaceSection(string(doc), content.String())
	if err != nil {
		return err
	}
	tmp := docs + ".tmp"
	if err := os.WriteFile(tmp, []byte(updated), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, docs); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "updated %s\n", docs)
	return nil
}

func loadFile(path string) ([]ycsb.Result, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rs, err := report.Load(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return rs, nil
}

func runWait(args []string, stderr io.Writer) error {
	fs := newFlags("wait", stderr)
	var tcp, urls []string
	fs.StringArrayVar(&tcp, "tcp", nil, "address that must accept a TCP connection (repeatable)")
	fs.StringArrayVar(&urls, "http", nil, "URL that must answer 200 (repeatable)")
	timeout := fs.Duration("timeout", time.Minute, "how long to wait for all of them")
	if err := parse(fs, args); err != nil {
		return err
	}
	deadline := time.Now().Add(*timeout)
	hc := &http.Client{Timeout: time.Second}
	ready := func() error {
		for _, a := range tcp {
			c, err := net.DialTimeout("tcp", a, time.Second)
			if err != nil {
				return err
			}
			_ = c.Close()
		}
		for _, u := range urls {
			resp, err := hc.Get(u)
			if err != nil {
				return err
			}
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("%s answered %s", u, resp.Status)
			}
		}
		return nil
	}
	for {
		err := ready()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %v: %w", *timeout, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
