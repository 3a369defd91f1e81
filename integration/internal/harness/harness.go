package harness

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pegasus-go/pegasus/shared/rpc"
	"github.com/pegasus-go/pegasus/tools/onebox"
)

// Commands the harness builds, by binary name.
var commands = map[string]string{
	onebox.MetaBinary:      "github.com/pegasus-go/pegasus/metaserver/cmd/metaserver",
	onebox.ReplicaBinary:   "github.com/pegasus-go/pegasus/replicaserver/cmd/replicaserver",
	"admincli":             "github.com/pegasus-go/pegasus/admincli/cmd/admincli",
	ProxyBinary:            "github.com/pegasus-go/pegasus/metaproxy/cmd/metaproxy",
	onebox.CollectorBinary: "github.com/pegasus-go/pegasus/collector/cmd/collector",
	"onebox":               "github.com/pegasus-go/pegasus/tools/cmd/onebox",
}

var build struct {
	once sync.Once
	dir  string
	err  error
}

// Main runs m and removes the binaries Binaries built. Use it as
// TestMain: func TestMain(m *testing.M) { os.Exit(harness.Main(m)) }.
func Main(m *testing.M) int {
	// rpcx logs every closed client connection; the tests' clients are
	// closed on purpose.
	rpc.SetFrameworkLogger(slog.New(slog.DiscardHandler))
	code := m.Run()
	if build.dir != "" {
		os.RemoveAll(build.dir)
	}
	return code
}

// SkipExternal skips the test in short mode and when
// PEGASUS_SKIP_EXTERNAL=1 (make unit).
func SkipExternal(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts real processes; skipped in short mode")
	}
	if os.Getenv("PEGASUS_SKIP_EXTERNAL") == "1" {
		t.Skip("PEGASUS_SKIP_EXTERNAL=1: skipping a test that starts real processes")
	}
}

// Binaries builds metaserver, replicaserver, metaproxy, collector, admincli and onebox into a
// temporary directory, once per test binary (with -race when the test
// binary has it), and returns the directory.
func Binaries(t testing.TB) string {
	t.Helper()
	build.once.Do(func() {
		goTool, err := exec.LookPath("go")
		if err != nil {
			build.err = fmt.Errorf("the go tool is needed to build the binaries: %w", err)
			return
		}
		if build.dir, err = os.MkdirTemp("", "pegasus-integration-bin-"); err != nil {
			build.err = err
			return
		}
		args := []string{"build", "-o", build.dir + string(filepath.Separator)}
		if raceEnabled {
			args = append(args, "-race")
		}
		for _, pkg := range commands {
			args = append(args, pkg)
		}
		cmd := exec.Command(goTool, args...)
		start := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			build.err = fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
			return
		}
		t.Logf("built %d binaries (race=%v) in %v", len(commands), raceEnabled, time.Since(start).Round(time.Millisecond))
	})
	if build.err != nil {
		t.Fatal(build.err)
	}
	return build.dir
}

// FreeBasePort returns a base port for which every port of the onebox o
// describes is free now (o.BasePort is ignored). Bases are drawn from
// 20000..31000, below Linux's default ephemeral range (32768..60999), so
// outgoing connections do not take a port between the check and the
// daemon's bind.
func FreeBasePort(t testing.TB, o onebox.Options) int {
	t.Helper()
	var last error
	for range 100 {
		o.BasePort = 20000 + 10*rand.IntN(1100)
		if last = onebox.CheckPorts(onebox.Ports(o)); last == nil {
			return o.BasePort
		}
	}
	t.Fatalf("no free base port found: %v", last)
	return 0
}

// Cluster is a running onebox started by Start.
type Cluster struct {
	t    testing.TB
	opts onebox.Options
	// State is the onebox state after start.
	State *onebox.State
}

// Start starts a onebox shaped by o (Metas, Replicas, Clusters,
// ZooKeeper, settings) in a temporary directory, on free ports, with the
// harness's binaries, and stops it in t.Cleanup, failing the test if any
// of its processes is left.
func Start(t testing.TB, o onebox.Options) *Cluster {
	t.Helper()
	o.BinDir = Binaries(t)
	o.Dir = filepath.Join(t.TempDir(), "onebox")
	o.DieWithParent = true
	o.Logger = slog.New(slog.NewTextHandler(testWriter{t}, nil))
	if o.StartTimeout == 0 {
		o.StartTimeout = 2 * time.Minute
	}
	o.BasePort = FreeBasePort(t, o)
	c := &Cluster{t: t, opts: o}
	t.Cleanup(c.cleanup)
	start := time.Now()
	st, err := onebox.Start(context.Background(), o)
	if err != nil {
		t.Fatalf("onebox start: %v", err)
	}
	c.State = st
	t.Logf("onebox up in %v: %d processes, base port %d", time.Since(start).Round(time.Millisecond), len(st.Instances), o.BasePort)
	return c
}

// cleanup stops the onebox, shows the logs of a failed test and checks
// that no process is left.
func (c *Cluster) cleanup() {
	if c.t.Failed() {
		c.dumpLogs()
	}
	StopAndCheck(c.t, c.opts.Dir)
}

// StopAndCheck stops the onebox in dir and fails t if any process the
// state file recorded before the stop (pid and start time) still exists
// afterwards, or if a daemon reported a race or a panic.
func StopAndCheck(t testing.TB, dir string) {
	t.Helper()
	before, err := onebox.LoadState(dir)
	if errors.Is(err, onebox.ErrNoOnebox) {
		return
	}
	if err != nil {
		t.Errorf("read onebox state: %v", err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := onebox.Stop(ctx, onebox.Options{Dir: dir}); err != nil {
		t.Errorf("onebox stop: %v", err)
	}
	for _, in := range before.Instances {
		if in.Alive() {
			t.Errorf("%s (pid %d) is still alive after onebox stop", in.Name, in.PID)
		}
	}
	AssertNoProcess(t, dir)
	CheckOutputs(t, dir)
}

// dumpLogs logs the last lines of every instance's output and log.
func (c *Cluster) dumpLogs() {
	st, err := onebox.LoadState(c.opts.Dir)
	if err != nil {
		c.t.Logf("no state to show logs from: %v", err)
		return
	}
	for _, in := range st.Instances {
		for _, p := range []string{in.Output, in.Log} {
			if p != "" {
				c.t.Logf("--- %s: %s\n%s", in.Name, p, Tail(p, 25))
			}
		}
	}
}

// AssertNoProcess fails t if a process recorded in the state file of the
// onebox in dir is still alive.
func AssertNoProcess(t testing.TB, dir string) {
	t.Helper()
	st, err := onebox.LoadState(dir)
	if errors.Is(err, onebox.ErrNoOnebox) {
		return
	}
	if err != nil {
		t.Errorf("read onebox state: %v", err)
		return
	}
	for _, in := range st.Instances {
		if in.Alive() {
			t.Errorf("%s (pid %d) is still alive", in.Name, in.PID)
		}
	}
}

// CheckOutputs fails t if a daemon of the onebox in dir reported a data
// race or a panic on its standard error (the race detector of a -race
// daemon writes there and does not stop it).
func CheckOutputs(t testing.TB, dir string) {
	t.Helper()
	st, err := onebox.LoadState(dir)
	if err != nil {
		return
	}
	for _, in := range st.Instances {
		if in.Output == "" {
			continue
		}
		b, err := os.ReadFile(in.Output)
		if err != nil {
			continue
		}
		for _, bad := range []string{"WARNING: DATA RACE", "panic: ", "fatal error: "} {
			if i := strings.Index(string(b), bad); i >= 0 {
				end := min(len(b), i+4000)
				t.Errorf("%s reported %q in %s:\n%s", in.Name, strings.TrimSpace(bad), in.Output, b[i:end])
				break
			}
		}
	}
}

// Options returns the onebox options of the cluster (directory, binaries,
// timeouts), for calling the onebox library directly.
func (c *Cluster) Options() onebox.Options { return c.opts }

// Dir is the onebox directory.
func (c *Cluster) Dir() string { return c.opts.Dir }

// MetaServers returns the meta servers of the named cluster.
func (c *Cluster) MetaServers(cluster string) []string {
	cl := c.State.Cluster(cluster)
	if cl == nil {
		c.t.Fatalf("no cluster %q", cluster)
	}
	return cl.MetaServers
}

// Instances returns the names of the instances of a role in a cluster.
func (c *Cluster) Instances(cluster, role string) []string {
	var out []string
	for _, in := range c.State.Instances {
		if in.Cluster == cluster && in.Role == role {
			out = append(out, in.Name)
		}
	}
	return out
}

// InstanceByRPC returns the name of the instance serving RPC on addr.
func (c *Cluster) InstanceByRPC(addr string) string {
	for _, in := range c.State.Instances {
		if in.RPCAddress == addr {
			return in.Name
		}
	}
	c.t.Fatalf("no instance serves %s", addr)
	return ""
}

// Signal sends sig to an instance through onebox stop-instance (which
// waits for the process to be gone after SIGKILL or SIGTERM).
func (c *Cluster) Signal(name string, sig syscall.Signal) {
	c.t.Helper()
	if err := onebox.StopInstance(context.Background(), c.opts, name, sig); err != nil {
		c.t.Fatalf("stop-instance %s %v: %v", name, sig, err)
	}
}

// Kill SIGKILLs an instance and waits until it is gone.
func (c *Cluster) Kill(name string) { c.t.Helper(); c.Signal(name, syscall.SIGKILL) }

// Restart starts a stopped instance again and waits until it answers.
func (c *Cluster) Restart(name string) {
	c.t.Helper()
	if err := onebox.StartInstance(context.Background(), c.opts, name); err != nil {
		c.t.Fatalf("start-instance %s: %v", name, err)
	}
}

// Tail returns the last n lines of a file.
func Tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	if len(b) > 32<<10 {
		b = b[len(b)-32<<10:]
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// testWriter sends onebox progress lines to the test log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
