package embed

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pegasus-go/pegasus/shared/protocol"
	"github.com/pegasus-go/pegasus/shared/rpc"
)

// The child process: TestMain runs runChild instead of the tests when
// childEnv is set. It starts a replica server on the data dir, opens the
// test table's partitions through the test hook, writes its RPC address to
// the address file and serves until SIGTERM (or SIGKILL).
const (
	childEnv        = "PEGASUS_REPLICASERVER_TEST_CHILD"
	childDataDir    = "PEGASUS_REPLICASERVER_TEST_DATA_DIR"
	childPlogSync   = "PEGASUS_REPLICASERVER_TEST_PLOG_SYNC"
	childAddrFile   = "PEGASUS_REPLICASERVER_TEST_ADDR_FILE"
	childPartitions = 4
)

func runChild() int {
	cfg := testConfig(os.Getenv(childDataDir))
	cfg.ReplicaServer.HTTPAddress = ""
	cfg.Replication.PlogSync = os.Getenv(childPlogSync)
	s, err := Start(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child: start:", err)
		return 1
	}
	tb := newTable(childPartitions)
	if err := s.srv.OpenTestReplica(tb.app, tb.partitions()...); err != nil {
		fmt.Fprintln(os.Stderr, "child: open partitions:", err)
		return 1
	}
	addrFile := os.Getenv(childAddrFile)
	if err := os.WriteFile(addrFile+".tmp", []byte(s.RPCAddr()), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	if err := os.Rename(addrFile+".tmp", addrFile); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM)
	<-sig
	if err := s.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "child: close:", err)
		return 1
	}
	return 0
}

// child is a replica server process started by the test.
type child struct {
	cmd    *exec.Cmd
	addr   string
	stderr *bytes.Buffer
	done   chan struct{}
}

func startChild(t *testing.T, dataDir, plogSync string) *child {
	t.Helper()
	addrFile := filepath.Join(t.TempDir(), "addr")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=1", childDataDir+"="+dataDir, childPlogSync+"="+plogSync, childAddrFile+"="+addrFile)
	c := &child{cmd: cmd, stderr: &bytes.Buffer{}, done: make(chan struct{})}
	cmd.Stderr = c.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-c.done
	})
	// Poll for the address file: the child is an external process.
	deadline := time.Now().Add(60 * time.Second)
	for {
		if b, err := os.ReadFile(addrFile); err == nil {
			c.addr = string(b)
			return c
		}
		select {
		case <-c.done:
			t.Fatalf("child exited before serving (%v): %s", cmd.ProcessState, c.stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("child did not serve within 60s: %s", c.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (c *child) kill(t *testing.T) {
	t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-c.done
}

func (c *child) stop(t *testing.T) {
	t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-c.done
	if !c.cmd.ProcessState.Success() {
		t.Fatalf("child exited with %v: %s", c.cmd.ProcessState, c.stderr)
	}
}

// TestKillMidLoadKeepsAcknowledgedWrites writes keys concurrently to a
// replica server process, SIGKILLs it in the middle of the load, restarts
// it on the same data dir and reads back every key whose write was
// acknowledged, under both plog sync policies.
func TestKillMidLoadKeepsAcknowledgedWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	for _, policy := range []string{"fsync", "pagecache"} {
		t.Run(policy, func(t *testing.T) { killMidLoad(t, policy) })
	}
}

func killMidLoad(t *testing.T, policy string) {
	const (
		writers   = 8
		killAfter = 400 // acknowledged writes before the kill
	)
	dataDir := t.TempDir()
	tb := newTable(childPartitions)
	c1 := startChild(t, dataDir, policy)
	client, err := rpc.NewClient(rpc.ClientConfig{DialTimeout: time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()

	var (
		mu       sync.Mutex
		acked    = make(map[string]string)
		count    atomic.Int64
		killNow  = make(chan struct{})
		killOnce sync.Once
		wg       sync.WaitGroup
	)
	// One client (one connection) per writer: when the server dies, shared
	// rpc closes a failed connection while calls of other goroutines are
	// still in flight on it, which the race detector reports inside rpcx.
	for w := range writers {
		wc, err := rpc.NewClient(rpc.ClientConfig{DialTimeout: time.Second}, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer wc.Close()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				hk := []byte(fmt.Sprintf("w%d-%d", w, i))
				val := "value-" + string(hk)
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				err := wc.Call(ctx, c1.addr, protocol.ServiceReplica, protocol.MethodSet,
					&protocol.SetRequest{Header: tb.header(hk), HashKey: hk, SortKey: []byte("s"), Value: []byte(val)}, &protocol.SetResponse{})
				cancel()
				if err != nil {
					return // the server is gone
				}
				mu.Lock()
				acked[string(hk)] = val
				mu.Unlock()
				if count.Add(1) >= killAfter {
					killOnce.Do(func() { close(killNow) })
				}
			}
		}()
	}
	select {
	case <-killNow:
	case <-c1.done:
		t.Fatalf("child died under load: %s", c1.stderr)
	}
	c1.kill(t)
	wg.Wait()
	t.Logf("%s: %d writes acknowledged before SIGKILL", policy, len(acked))

	c2 := startChild(t, dataDir, policy)
	missing := 0
	for hk, val := range acked {
		var g protocol.GetResponse
		err := call(t, client, c2.addr, protocol.MethodGet, &protocol.GetRequest{Header: tb.header([]byte(hk)), HashKey: []byte(hk), SortKey: []byte("s")}, &g)
		if err != nil || string(g.Value) != val {
			missing++
			if missing <= 5 {
				t.Errorf("acknowledged key %s: got %q, %v", hk, g.Value, err)
			}
		}
	}
	if missing > 0 {
		t.Fatalf("%d of %d acknowledged writes lost", missing, len(acked))
	}
	c2.stop(t)
}
