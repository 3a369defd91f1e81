package embed

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pegasus-go/pegasus/replicaserver/internal/replica"
	"github.com/pegasus-go/pegasus/replicaserver/internal/server"
	"github.com/pegasus-go/pegasus/shared/config"
	"github.com/pegasus-go/pegasus/shared/protocol"
	"github.com/pegasus-go/pegasus/shared/rpc"
)

// fakeMeta is a meta leader for replication tests: it grants leases,
// answers config syncs from its partition table, and handles
// UpdateConfiguration as the replication contract says (accept only the
// stored ballot + 1 proposed by the stored primary, persist, push the new
// configuration to every member and to the removed node, answer with it).
type fakeMeta struct {
	t      testing.TB
	client *rpc.Client
	rs     *rpc.Server
	addr   string
	served chan struct{}
	pushes sync.WaitGroup

	mu      sync.Mutex
	app     protocol.AppInfo
	cfgs    map[protocol.Gpid]protocol.PartitionConfiguration
	updates []protocol.UpdateConfigurationRequest // accepted, in order
	refused int
}

func newFakeMeta(t testing.TB, app protocol.AppInfo) *fakeMeta {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := &fakeMeta{t: t, app: app, cfgs: map[protocol.Gpid]protocol.PartitionConfiguration{}, addr: ln.Addr().String(),
		served: make(chan struct{})}
	m.client = newClient(t)
	m.rs, err = rpc.NewServer(rpc.ServerConfig{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.rs.Register(protocol.ServiceMetaInternal, m); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(m.served)
		_ = m.rs.Serve(ln)
	}()
	t.Cleanup(m.close)
	return m
}

func (m *fakeMeta) close() {
	_ = m.rs.Close()
	<-m.served
	m.pushes.Wait()
}

func (m *fakeMeta) Beacon(_ context.Context, req *protocol.BeaconRequest, resp *protocol.BeaconResponse) error {
	*resp = protocol.BeaconResponse{SendTimeMs: req.SendTimeMs, LeaseMs: 20_000}
	return nil
}

func (m *fakeMeta) ConfigSync(_ context.Context, req *protocol.ConfigSyncRequest, resp *protocol.ConfigSyncResponse) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, pc := range m.cfgs {
		if pc.Primary == req.Node || slices.Contains(pc.Secondaries, req.Node) {
			resp.Partitions = append(resp.Partitions, clonePC(pc))
		}
	}
	if len(resp.Partitions) > 0 {
		resp.Apps = []protocol.AppInfo{m.app}
	}
	return nil
}

func (m *fakeMeta) UpdateConfiguration(_ context.Context, req *protocol.UpdateConfigurationRequest, resp *protocol.UpdateConfigurationResponse) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	g := req.Config.Gpid
	cur, ok := m.cfgs[g]
	refuse := func(code protocol.ErrorCode, why string) error {
		m.refused++
		return protocol.Errorf(code, "%s; stored configuration: ballot %d primary %s secondaries %v", why, cur.Ballot, cur.Primary, cur.Secondaries)
	}
	switch {
	case !ok:
		return protocol.Errorf(protocol.CodeObjectNotFound, "no partition %s", g)
	case req.Config.Ballot != cur.Ballot+1:
		return refuse(protocol.CodeStaleBallot, fmt.Sprintf("proposed ballot %d, stored %d", req.Config.Ballot, cur.Ballot))
	case req.Config.Primary != cur.Primary:
		return refuse(protocol.CodeInvalidState, "proposer is not the stored primary")
	}
	next := protocol.PartitionConfiguration{Gpid: g, Ballot: cur.Ballot + 1, Primary: cur.Primary,
		LastDrops: slices.Clone(cur.LastDrops), MaxReplicaCount: cur.MaxReplicaCount}
	var pushTo []string
	switch req.Type {
	case protocol.ConfigDowngradeToInactive:
		if !slices.Contains(cur.Secondaries, req.Node) {
			return refuse(protocol.CodeInvalidState, req.Node+" is not a secondary")
		}
		for _, s := range cur.Secondaries {
			if s != req.Node {
				next.Secondaries = append(next.Secondaries, s)
			}
		}
		next.LastDrops = append(next.LastDrops, req.Node)
		pushTo = append(pushTo, req.Node)
	case protocol.ConfigUpgradeToSecondary:
		if req.Node == cur.Primary || slices.Contains(cur.Secondaries, req.Node) {
			return refuse(protocol.CodeInvalidState, req.Node+" is already a member")
		}
		next.Secondaries = append(slices.Clone(cur.Secondaries), req.Node)
	default:
		return refuse(protocol.CodeInvalidArgument, "unexpected type "+req.Type.String())
	}
	if !slices.Equal(next.Secondaries, req.Config.Secondaries) {
		return refuse(protocol.CodeInvalidArgument, fmt.Sprintf("proposed secondaries %v, want %v", req.Config.Secondaries, next.Secondaries))
	}
	m.cfgs[g] = next
	m.updates = append(m.updates, *req)
	pushTo = append(pushTo, next.Primary)
	pushTo = append(pushTo, next.Secondaries...)
	m.pushLocked(req.Type, req.Node, next, pushTo)
	resp.Config = clonePC(next)
	return nil
}

// pushLocked sends the configuration to nodes in the background.
func (m *fakeMeta) pushLocked(typ protocol.ConfigType, node string, cfg protocol.PartitionConfiguration, nodes []string) {
	for _, n := range nodes {
		req := &protocol.ConfigProposalRequest{Type: typ, Node: node, App: m.app, Config: clonePC(cfg)}
		m.pushes.Add(1)
		go func() {
			defer m.pushes.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			_ = m.client.Call(ctx, n, protocol.ServiceReplicaControl, protocol.MethodConfigProposal, req, &protocol.ConfigProposalResponse{})
		}()
	}
}

// assign stores cfg and pushes ConfigAssignPrimary to every member, as the
// meta does on table creation; it returns once every member applied it.
func (m *fakeMeta) assign(cfg protocol.PartitionConfiguration) {
	m.t.Helper()
	m.mu.Lock()
	m.cfgs[cfg.Gpid] = clonePC(cfg)
	m.mu.Unlock()
	for _, n := range append([]string{cfg.Primary}, cfg.Secondaries...) {
		m.propose(n, &protocol.ConfigProposalRequest{Type: protocol.ConfigAssignPrimary, Node: cfg.Primary, App: m.app, Config: clonePC(cfg)})
	}
}

// propose sends one proposal and fails the test if it is refused.
func (m *fakeMeta) propose(to string, req *protocol.ConfigProposalRequest) {
	m.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := m.client.Call(ctx, to, protocol.ServiceReplicaControl, protocol.MethodConfigProposal, req, &protocol.ConfigProposalResponse{}); err != nil {
		m.t.Fatalf("proposal %s to %s: %v", req.Type, to, err)
	}
}

// config returns the stored configuration of g.
func (m *fakeMeta) config(g protocol.Gpid) protocol.PartitionConfiguration {
	m.mu.Lock()
	defer m.mu.Unlock()
	return clonePC(m.cfgs[g])
}

func clonePC(pc protocol.PartitionConfiguration) protocol.PartitionConfiguration {
	pc.Secondaries = slices.Clone(pc.Secondaries)
	pc.LastDrops = slices.Clone(pc.LastDrops)
	return pc
}

// cluster is a fake meta and n replica servers on 127.0.0.1 with fast
// replication timeouts.
type cluster struct {
	t       testing.TB
	meta    *fakeMeta
	tb      table
	dirs    []string
	servers []*Server // nil when stopped
	addrs   []string
	c       *rpc.Client
}

func newCluster(t testing.TB, n int) *cluster {
	t.Helper()
	tb := newTable(1)
	cl := &cluster{t: t, tb: tb, meta: newFakeMeta(t, tb.app), c: newClient(t)}
	for i := range n {
		cl.dirs = append(cl.dirs, t.TempDir())
		cl.servers = append(cl.servers, nil)
		cl.addrs = append(cl.addrs, "127.0.0.1:0")
		cl.start(i)
	}
	t.Cleanup(func() {
		for i := range cl.servers {
			cl.stop(i)
		}
	})
	return cl
}

func (cl *cluster) config(i int) Config {
	cfg := testConfig(cl.dirs[i])
	cfg.ReplicaServer.RPCAddress = cl.addrs[i]
	cfg.ReplicaServer.HTTPAddress = ""
	cfg.ReplicaServer.MetaServers = []string{cl.meta.addr}
	cfg.ReplicaServer.BeaconInterval = config.Duration(50 * time.Millisecond)
	cfg.Replication.TickInterval = config.Duration(10 * time.Millisecond)
	cfg.Replication.GroupCheckInterval = config.Duration(100 * time.Millisecond)
	cfg.Replication.PrepareTimeout = config.Duration(time.Second)
	cfg.Replication.ConfigSyncInterval = config.Duration(500 * time.Millisecond)
	cfg.RPC.ShutdownTimeout = config.Duration(time.Second)
	return cfg
}

// start starts server i (again, on the same address and data dir).
func (cl *cluster) start(i int) {
	cl.t.Helper()
	var s *Server
	var err error
	// A restarted server takes its old port back; the kernel may hold it a
	// moment after the close.
	for deadline := time.Now().Add(10 * time.Second); ; {
		s, err = Start(cl.config(i))
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		cl.t.Fatalf("start server %d: %v", i, err)
	}
	cl.servers[i] = s
	cl.addrs[i] = s.RPCAddr()
}

func (cl *cluster) stop(i int) {
	if s := cl.servers[i]; s != nil {
		_ = s.Close()
		cl.servers[i] = nil
	}
}

func (cl *cluster) node(i int) string { return cl.addrs[i] }

func (cl *cluster) gpid() protocol.Gpid { return protocol.Gpid{AppID: cl.tb.app.AppID} }

// create assigns partition 0 to members (the first is primary) at ballot 1
// and waits until the primary takes writes.
func (cl *cluster) create(members ...int) {
	cl.t.Helper()
	pc := protocol.PartitionConfiguration{Gpid: cl.gpid(), Ballot: 1, Primary: cl.node(members[0]), MaxReplicaCount: cl.tb.app.ReplicaCount}
	for _, m := range members[1:] {
		pc.Secondaries = append(pc.Secondaries, cl.node(m))
	}
	cl.meta.assign(pc)
}

// key returns the hashkey of write i.
func key(i int) []byte { return fmt.Appendf(nil, "k%06d", i) }

// value returns write i's value: size bytes that do not compress, so
// checkpoints hold several files.
func value(i, size int) []byte {
	v := fmt.Appendf(nil, "v%06d-", i)
	r := rand.New(rand.NewPCG(uint64(i), 7))
	for len(v) < size {
		v = append(v, byte(r.Uint32()))
	}
	return v[:max(size, len(v))]
}

// set writes key(i) to the primary at addr.
func (cl *cluster) set(ctx context.Context, addr string, i, size int) error {
	hk := key(i)
	return cl.c.Call(ctx, addr, protocol.ServiceReplica, protocol.MethodSet,
		&protocol.SetRequest{Header: cl.tb.header(hk), HashKey: hk, Value: value(i, size)}, &protocol.SetResponse{})
}

// writer writes keys from next on to the primary at addr until stopped,
// recording which were acknowledged.
type writer struct {
	cl   *cluster
	addr string
	size int
	stop chan struct{}
	done chan struct{}

	mu     sync.Mutex
	next   int
	acked  []int
	errors map[protocol.ErrorCode]int
}

func (cl *cluster) startWriter(addr string, from, size int) *writer {
	w := &writer{cl: cl, addr: addr, size: size, next: from, stop: make(chan struct{}), done: make(chan struct{}),
		errors: map[protocol.ErrorCode]int{}}
	go w.run()
	return w
}

func (w *writer) run() {
	defer close(w.done)
	for {
		select {
		case <-w.stop:
			return
		default:
		}
		w.mu.Lock()
		i := w.next
		w.next++
		w.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		err := w.cl.set(ctx, w.addr, i, w.size)
		cancel()
		w.mu.Lock()
		if err == nil {
			w.acked = append(w.acked, i)
		} else {
			w.errors[protocol.CodeOf(err)]++
		}
		w.mu.Unlock()
		if err != nil {
			select {
			case <-w.stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
}

// halt stops the writer and returns the acknowledged writes.
func (w *writer) halt() []int {
	close(w.stop)
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.acked)
}

func (w *writer) ackedCount() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.acked)
}

// waitFor polls cond every 10ms until it holds or timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not reached within %v; last state: %s", what, timeout, state)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// digest returns server i's digest of partition 0.
func (cl *cluster) digest(i int) (replica.Digest, error) {
	return cl.servers[i].srv.Digest(cl.gpid())
}

// waitSameData waits until the replicas on servers idx hold the same data
// at the same decree and returns the digest.
func (cl *cluster) waitSameData(idx ...int) replica.Digest {
	cl.t.Helper()
	var d0 replica.Digest
	waitFor(cl.t, 30*time.Second, "identical replicas", func() (bool, string) {
		var ds []replica.Digest
		for _, i := range idx {
			d, err := cl.digest(i)
			if err != nil {
				return false, fmt.Sprintf("server %d: %v", i, err)
			}
			ds = append(ds, d)
		}
		for _, d := range ds[1:] {
			if d != ds[0] {
				return false, fmt.Sprintf("%+v", ds)
			}
		}
		d0 = ds[0]
		return true, ""
	})
	return d0
}

// info returns server i's report of partition 0.
func (cl *cluster) info(i int) (server.ReplicaView, bool) {
	for _, v := range cl.servers[i].srv.Replicas().Replicas {
		if v.Gpid == cl.gpid().String() {
			return v, true
		}
	}
	return server.ReplicaView{}, false
}

// readAll checks that every acknowledged key reads back from the primary
// with its value.
func (cl *cluster) readAll(addr string, acked []int, size int) {
	cl.t.Helper()
	for _, i := range acked {
		hk := key(i)
		var g protocol.GetResponse
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := cl.c.Call(ctx, addr, protocol.ServiceReplica, protocol.MethodGet, &protocol.GetRequest{Header: cl.tb.header(hk), HashKey: hk}, &g)
		cancel()
		if err != nil {
			cl.t.Fatalf("read acknowledged key %s: %v", hk, err)
		}
		if string(g.Value) != string(value(i, size)) {
			cl.t.Fatalf("key %s reads %q", hk, g.Value)
		}
	}
}
