package coordtest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pegasus-go/pegasus/shared/coord"
)

// OpenFunc opens a new, independent session on the backend identified by
// locator (a ZooKeeper address list, a store directory, ...), rooted at
// root. It must work in a child process that knows only locator and root.
type OpenFunc func(ctx context.Context, locator, root string) (coord.Store, error)

// Backend tells the suite how to reach the implementation under test.
type Backend struct {
	// Locator identifies the backing service shared by every session and
	// process of the run.
	Locator string
	// Open opens sessions; see OpenFunc.
	Open OpenFunc
	// LoseSession makes s's session end as lost (not closed): ZooKeeper
	// stops the server until s notices, then restarts it; the local store
	// expires the session from outside. The suite then expects s.Done to
	// close with ErrSessionLost.
	LoseSession func(t *testing.T, s coord.Store)
	// DeathTimeout bounds how long the ephemeral nodes and leadership of a
	// SIGKILLed process may survive it (session timeout, liveness check).
	DeathTimeout time.Duration
}

// Environment of the child process the suite re-executes.
const (
	envChild   = "COORDTEST_CHILD" // "ephemeral" or "leader"
	envLocator = "COORDTEST_LOCATOR"
	envRoot    = "COORDTEST_ROOT"
	envPath    = "COORDTEST_PATH"
	envValue   = "COORDTEST_VALUE"
)

// ChildMain must be called first in the TestMain of every package that runs
// the suite. In the child processes the suite starts, it opens a store with
// open, creates an ephemeral node or wins an election, prints a ready line
// and blocks until it is killed (or its stdin closes); it never returns
// there. In the test process itself it returns at once.
func ChildMain(open OpenFunc) {
	mode := os.Getenv(envChild)
	if mode == "" {
		return
	}
	ctx := context.Background()
	fail := func(err error) {
		fmt.Printf("ERROR %v\n", err)
		os.Exit(2)
	}
	s, err := open(ctx, os.Getenv(envLocator), os.Getenv(envRoot))
	if err != nil {
		fail(err)
	}
	path, value := os.Getenv(envPath), []byte(os.Getenv(envValue))
	switch mode {
	case "ephemeral":
		_, err = coord.CreateAll(ctx, s, path, value, coord.Ephemeral)
	case "leader":
		_, err = s.Campaign(ctx, path, value)
	default:
		err = fmt.Errorf("unknown child mode %q", mode)
	}
	if err != nil {
		fail(err)
	}
	fmt.Printf("READY %d\n", s.SessionID())
	io.Copy(io.Discard, os.Stdin)
	os.Exit(0)
}

// waitLimit bounds every wait for an event that must happen. It is a
// failure deadline for a broken implementation, not a timing assertion.
const waitLimit = 30 * time.Second

var rootSeq atomic.Int64

// suite is the state of one Run.
type suite struct {
	b Backend
}

// env is one test's namespace: every session it opens shares root.
type env struct {
	t    *testing.T
	s    *suite
	root string
	ctx  context.Context
}

func (s *suite) env(t *testing.T) *env {
	name := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())
	root := fmt.Sprintf("/coordtest/%s-%d-%d", name, os.Getpid(), rootSeq.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 2*waitLimit)
	t.Cleanup(cancel)
	return &env{t: t, s: s, root: root, ctx: ctx}
}

// open opens a session that the test's cleanup closes.
func (e *env) open() coord.Store {
	e.t.Helper()
	return e.openAt(e.root)
}

// openAt opens a session rooted at root.
func (e *env) openAt(root string) coord.Store {
	e.t.Helper()
	st, err := e.s.b.Open(e.ctx, e.s.b.Locator, root)
	if err != nil {
		e.t.Fatalf("open: %v", err)
	}
	e.t.Cleanup(func() { st.Close() })
	return st
}

// child is a re-executed test binary holding a session.
type child struct {
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	session int64
}

// startChild runs the test binary as a child in mode ("ephemeral" or
// "leader") on path with value and waits for its ready line.
func (e *env) startChild(mode, path, value string) *child {
	e.t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(),
		envChild+"="+mode, envLocator+"="+e.s.b.Locator, envRoot+"="+e.root,
		envPath+"="+path, envValue+"="+value)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		e.t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		e.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	c := &child{cmd: cmd, stdin: stdin}
	e.t.Cleanup(func() {
		cmd.Process.Kill()
		stdin.Close()
		cmd.Wait()
	})
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if l := sc.Text(); strings.HasPrefix(l, "READY ") || strings.HasPrefix(l, "ERROR ") {
				lines <- l
				break
			}
		}
		close(lines)
		io.Copy(io.Discard, stdout)
	}()
	select {
	case l, ok := <-lines:
		if !ok || !strings.HasPrefix(l, "READY ") {
			e.t.Fatalf("child %s: %q", mode, l)
		}
		if _, err := fmt.Sscanf(l, "READY %d", &c.session); err != nil {
			e.t.Fatalf("child ready line %q: %v", l, err)
		}
	case <-time.After(waitLimit):
		e.t.Fatalf("child %s did not get ready within %v", mode, waitLimit)
	}
	return c
}

// kill SIGKILLs the child and reaps it.
func (c *child) kill(t *testing.T) {
	t.Helper()
	if err := c.cmd.Process.Signal(os.Kill); err != nil {
		t.Fatal(err)
	}
	c.cmd.Wait()
}

// Run runs the contract suite against b. Each subtest works under its own
// root, so sessions from different subtests never see each other's nodes.
func Run(t *testing.T, b Backend) {
	s := &suite{b: b}
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, *env)
	}{
		{"CreateGetSetDelete", testCRUD},
		{"Errors", testErrors},
		{"Sequential", testSequential},
		{"Children", testChildren},
		{"ConcurrentCAS", testConcurrentCAS},
		{"Multi", testMulti},
		{"CreateAll", testCreateAll},
		{"Roots", testRoots},
		{"WatchData", testWatchData},
		{"WatchExists", testWatchExists},
		{"WatchChildren", testWatchChildren},
		{"WatchAcrossSessions", testWatchAcrossSessions},
		{"WatchClosed", testWatchClosed},
		{"SessionEvents", testSessionEvents},
		{"EphemeralClose", testEphemeralClose},
		{"EphemeralProcessKilled", testEphemeralKilled},
		{"LeaderExactlyOne", testLeaderExactlyOne},
		{"LeaderFailoverOnClose", testLeaderFailoverClose},
		{"LeaderFailoverOnKill", testLeaderFailoverKill},
		{"LeaderNodeDeleted", testLeaderNodeDeleted},
		{"CampaignCanceled", testCampaignCanceled},
		{"LeaderLostOnSessionLoss", testLeaderSessionLoss},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, s.env(t)) })
	}
}
