package embed_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pegasus-go/pegasus/metaserver/embed"
	"github.com/pegasus-go/pegasus/shared/config"
	"github.com/pegasus-go/pegasus/shared/logging"
	"github.com/pegasus-go/pegasus/shared/protocol"
	"github.com/pegasus-go/pegasus/shared/rpc"
)

// waitLimit bounds every wait for something that must happen; it is a
// failure deadline, not a timing assertion.
const waitLimit = 30 * time.Second

// Environment of the re-executed child meta server.
const (
	envChild    = "METASERVER_TEST_CHILD"
	envChildDir = "METASERVER_TEST_STORE_DIR"
	envChildZK  = "METASERVER_TEST_ZOOKEEPER"
)

// childMain runs a meta server on the local store named by the environment
// when the test binary is re-executed as a child; it prints "READY <addr>"
// and serves until it is killed.
func childMain() {
	if os.Getenv(envChild) == "" {
		return
	}
	cfg := localConfig(os.Getenv(envChildDir))
	if zk := os.Getenv(envChildZK); zk != "" {
		cfg = zkConfig(zk, "/pegasus")
	}
	srv, err := embed.Start(cfg)
	if err != nil {
		fmt.Printf("ERROR %v\n", err)
		os.Exit(2)
	}
	fmt.Printf("READY %s\n", srv.RPCAddr())
	io.Copy(io.Discard, os.Stdin)
	srv.Close()
	os.Exit(0)
}

// fakeClock is an injectable clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Unix(1_800_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func baseConfig() embed.Config {
	cfg := embed.DefaultConfig()
	cfg.MetaServer.RPCAddress = "127.0.0.1:0"
	cfg.MetaServer.HTTPAddress = "127.0.0.1:0"
	cfg.MetaServer.ClusterRoot = "/test"
	cfg.MetaServer.Lease = config.Duration(time.Second)
	cfg.MetaServer.Grace = config.Duration(2 * time.Second)
	cfg.MetaServer.GuardianInterval = config.Duration(20 * time.Millisecond)
	cfg.MetaServer.ProposalTimeout = config.Duration(2 * time.Second)
	cfg.LocalStore.PollInterval = config.Duration(20 * time.Millisecond)
	cfg.Logging.Output = logging.OutputDiscard
	cfg.Logger = logging.Discard()
	return cfg
}

func localConfig(dir string) embed.Config {
	cfg := baseConfig()
	cfg.MetaServer.Store = embed.StoreLocal
	cfg.LocalStore.Dir = dir
	return cfg
}

func zkConfig(hosts, root string) embed.Config {
	cfg := baseConfig()
	cfg.MetaServer.Store = embed.StoreZooKeeper
	cfg.Zookeeper.Hosts = []string{hosts}
	cfg.Zookeeper.Root = root
	cfg.Zookeeper.SessionTimeout = config.Duration(2 * time.Second)
	return cfg
}

func start(t *testing.T, cfg embed.Config) *embed.Server {
	t.Helper()
	srv, err := embed.Start(cfg)
	if err != nil {
		t.Fatalf("start meta server: %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

func newClient(t *testing.T) *rpc.Client {
	t.Helper()
	c, err := rpc.NewClient(rpc.ClientConfig{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	t.Cleanup(cancel)
	return ctx
}

// waitFor polls cond until it holds or the wait limit passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// metaCaller calls a meta cluster the way clients do: start anywhere,
// follow CodeForwardToOthers to the leader.
type metaCaller struct {
	c     *rpc.Client
	metas []string
}

func (m *metaCaller) call(ctx context.Context, service, method string, req, resp protocol.Message) error {
	addr, next := m.metas[0], 1
	for {
		callCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := m.c.Call(callCtx, addr, service, method, req, resp)
		cancel()
		var pe *protocol.Error
		switch {
		case err == nil:
			return nil
		case errors.As(err, &pe) && pe.Code == protocol.CodeForwardToOthers && pe.Message != "" && pe.Message != addr:
			addr = pe.Message
			continue
		case errors.As(err, &pe) && (pe.Code == protocol.CodeForwardToOthers || pe.Code == protocol.CodeNetworkFailure):
			// No leader known yet, or a dead address: try the next meta.
		default:
			return err
		}
		if ctx.Err() != nil {
			return err
		}
		addr = m.metas[next%len(m.metas)]
		next++
		time.Sleep(10 * time.Millisecond)
	}
}

func (m *metaCaller) meta(ctx context.Context, method string, req, resp protocol.Message) error {
	return m.call(ctx, protocol.ServiceMeta, method, req, resp)
}

func (m *metaCaller) createApp(t *testing.T, name string, partitions int32) int32 {
	t.Helper()
	return m.createAppR(t, name, partitions, 0)
}

// createAppR creates a table with the given replica count (0: default).
func (m *metaCaller) createAppR(t *testing.T, name string, partitions, replicas int32) int32 {
	t.Helper()
	var resp protocol.CreateAppResponse
	if err := m.meta(ctxT(t), protocol.MethodCreateApp, &protocol.CreateAppRequest{Name: name, PartitionCount: partitions, ReplicaCount: replicas}, &resp); err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	return resp.AppID
}

func (m *metaCaller) queryConfig(t *testing.T, name string) protocol.QueryConfigResponse {
	t.Helper()
	var resp protocol.QueryConfigResponse
	if err := m.meta(ctxT(t), protocol.MethodQueryConfig, &protocol.QueryConfigRequest{AppName: name}, &resp); err != nil {
		t.Fatalf("query config of %s: %v", name, err)
	}
	return resp
}

func (m *metaCaller) listApps(t *testing.T) []protocol.AppInfo {
	t.Helper()
	var resp protocol.ListAppsResponse
	if err := m.meta(ctxT(t), protocol.MethodListApps, &protocol.ListAppsRequest{}, &resp); err != nil {
		t.Fatalf("list apps: %v", err)
	}
	return resp.Apps
}

func (m *metaCaller) listNodes(t *testing.T) map[string]protocol.NodeInfo {
	t.Helper()
	var resp protocol.ListNodesResponse
	if err := m.meta(ctxT(t), protocol.MethodListNodes, &protocol.ListNodesRequest{}, &resp); err != nil {
		t.Fatalf("list nodes: %v", err)
	}
	out := map[string]protocol.NodeInfo{}
	for _, n := range resp.Nodes {
		out[n.Address] = n
	}
	return out
}

// fakeNode is a replica server stand-in: it serves ReplicaControl,
// records the proposals it receives, and beacons to the meta leader.
type fakeNode struct {
	t       *testing.T
	addr    string
	meta    *metaCaller
	startMs atomic.Int64
	beacons atomic.Int64

	mu        sync.Mutex
	proposals []protocol.ConfigProposalRequest

	stop chan struct{}
	done chan struct{}
}

type replicaControl struct{ n *fakeNode }

func (r *replicaControl) ConfigProposal(_ context.Context, req *protocol.ConfigProposalRequest, _ *protocol.ConfigProposalResponse) error {
	r.n.mu.Lock()
	defer r.n.mu.Unlock()
	r.n.proposals = append(r.n.proposals, *req)
	return nil
}

func startNode(t *testing.T, metas []string) *fakeNode {
	t.Helper()
	srv, err := rpc.NewServer(rpc.ServerConfig{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	n := &fakeNode{t: t, meta: &metaCaller{c: newClient(t), metas: metas}}
	n.startMs.Store(time.Now().UnixMilli())
	if err := srv.Register(protocol.ServiceReplicaControl, &replicaControl{n}); err != nil {
		t.Fatal(err)
	}
	if err := srv.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	n.addr = srv.Addr().String()
	n.resume()
	t.Cleanup(n.pause)
	return n
}

// resume starts the beacon loop.
func (n *fakeNode) resume() {
	n.stop, n.done = make(chan struct{}), make(chan struct{})
	go func(stop, done chan struct{}) {
		defer close(done)
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			var resp protocol.BeaconResponse
			err := n.meta.call(ctx, protocol.ServiceMetaInternal, protocol.MethodBeacon,
				&protocol.BeaconRequest{Node: n.addr, StartTimeMs: n.startMs.Load(), SendTimeMs: time.Now().UnixMilli()}, &resp)
			cancel()
			if err == nil && resp.LeaseMs > 0 {
				n.beacons.Add(1)
			}
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}(n.stop, n.done)
}

// pause stops the beacon loop and waits for it.
func (n *fakeNode) pause() {
	select {
	case <-n.stop:
	default:
		close(n.stop)
	}
	<-n.done
}

// waitBeacons waits until the node completed k more beacons.
func (n *fakeNode) waitBeacons(t *testing.T, k int64) {
	t.Helper()
	target := n.beacons.Load() + k
	waitFor(t, n.addr+" beacons", func() bool { return n.beacons.Load() >= target })
}

func (n *fakeNode) received() []protocol.ConfigProposalRequest {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]protocol.ConfigProposalRequest(nil), n.proposals...)
}

// primaryOf returns the gpids the node received primary assignments for,
// with the highest ballot seen.
func (n *fakeNode) primaryOf() map[protocol.Gpid]protocol.Ballot {
	out := map[protocol.Gpid]protocol.Ballot{}
	for _, p := range n.received() {
		if p.Type == protocol.ConfigAssignPrimary && p.Config.Primary == n.addr {
			out[p.Config.Gpid] = max(out[p.Config.Gpid], p.Config.Ballot)
		}
	}
	return out
}

func (n *fakeNode) configSync(t *testing.T, replicas ...protocol.ReplicaInfo) protocol.ConfigSyncResponse {
	t.Helper()
	var resp protocol.ConfigSyncResponse
	err := n.meta.call(ctxT(t), protocol.ServiceMetaInternal, protocol.MethodConfigSync,
		&protocol.ConfigSyncRequest{Node: n.addr, Replicas: replicas}, &resp)
	if err != nil {
		t.Fatalf("config sync of %s: %v", n.addr, err)
	}
	return resp
}

// child is a meta server in a re-executed test binary.
type child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	addr  string
}

// startChild starts a meta server in a child process on the local store in
// dir, or on the ZooKeeper at zk when it is not empty.
func startChild(t *testing.T, dir, zk string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envChild+"=1", envChildDir+"="+dir, envChildZK+"="+zk)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, stdin: stdin}
	t.Cleanup(func() {
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
	case l := <-lines:
		if !strings.HasPrefix(l, "READY ") {
			t.Fatalf("child meta server: %q", l)
		}
		c.addr = strings.TrimPrefix(l, "READY ")
	case <-time.After(waitLimit):
		t.Fatal("child meta server did not start")
	}
	return c
}

func (c *child) kill(t *testing.T) {
	t.Helper()
	if err := c.cmd.Process.Signal(os.Kill); err != nil {
		t.Fatal(err)
	}
	c.cmd.Wait()
}
