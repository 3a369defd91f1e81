package server

import (
	"context"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/vfs"

	"github.com/pegasus-go/pegasus/shared/protocol"
	"github.com/pegasus-go/pegasus/shared/rpc"
)

// fakeMeta is a meta server on 127.0.0.1 answering MetaInternal calls as
// told: a follower redirects to its leader; the leader grants leaseMs and
// answers config syncs with sync.
type fakeMeta struct {
	addr string
	rs   *rpc.Server
	done chan struct{}

	mu       sync.Mutex
	leader   string // non-empty: this meta is a follower redirecting here
	leaseMs  int64
	sync     protocol.ConfigSyncResponse
	beacons  []protocol.BeaconRequest
	syncs    []protocol.ConfigSyncRequest
	syncSeen chan struct{} // receives (non-blocking) after every config sync
}

type fakeMetaService struct{ m *fakeMeta }

func (s *fakeMetaService) Beacon(_ context.Context, req *protocol.BeaconRequest, resp *protocol.BeaconResponse) error {
	m := s.m
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.leader != "" {
		return protocol.Errorf(protocol.CodeForwardToOthers, "%s", m.leader)
	}
	m.beacons = append(m.beacons, *req)
	*resp = protocol.BeaconResponse{SendTimeMs: req.SendTimeMs, LeaseMs: m.leaseMs, MetaLeader: m.addr}
	return nil
}

func (s *fakeMetaService) ConfigSync(_ context.Context, req *protocol.ConfigSyncRequest, resp *protocol.ConfigSyncResponse) error {
	m := s.m
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.leader != "" {
		return protocol.Errorf(protocol.CodeForwardToOthers, "%s", m.leader)
	}
	m.syncs = append(m.syncs, *req)
	*resp = m.sync
	select {
	case m.syncSeen <- struct{}{}:
	default:
	}
	return nil
}

func startFakeMeta(t *testing.T) *fakeMeta {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := &fakeMeta{addr: ln.Addr().String(), done: make(chan struct{}), leaseMs: 9000, syncSeen: make(chan struct{}, 1)}
	m.rs, err = rpc.NewServer(rpc.ServerConfig{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.rs.Register(protocol.ServiceMetaInternal, &fakeMetaService{m}); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(m.done)
		_ = m.rs.Serve(ln)
	}()
	t.Cleanup(func() {
		_ = m.rs.Close()
		<-m.done
	})
	return m
}

func (m *fakeMeta) set(fn func(m *fakeMeta)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	fn(m)
}

// unusedAddr returns a loopback address nothing listens on.
func unusedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func newMetaHarness(t *testing.T, metas ...string) *harness {
	return newMetaHarnessWith(t, nil, metas...)
}

func newMetaHarnessWith(t *testing.T, mutate func(*Options), metas ...string) *harness {
	t.Helper()
	client, err := rpc.NewClient(rpc.ClientConfig{DialTimeout: time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	return newHarness(t, vfs.NewMem(), newFakeFactory(), func(o *Options) {
		o.MetaServers = metas
		o.Meta = client
		o.MetaCallTimeout = 5 * time.Second
		if mutate != nil {
			mutate(o)
		}
	})
}

func TestBeaconFollowsRedirectsAndGrantsLease(t *testing.T) {
	leader := startFakeMeta(t)
	follower := startFakeMeta(t)
	follower.set(func(m *fakeMeta) { m.leader = leader.addr })
	dead := unusedAddr(t)
	h := newMetaHarness(t, dead, follower.addr)
	ctx := context.Background()

	// dead -> follower (rotation) -> leader (redirect).
	sendAt := h.clock.Now()
	if err := h.srv.meta.beacon(ctx); err != nil {
		t.Fatal(err)
	}
	if got := h.srv.meta.leader(); got != leader.addr {
		t.Fatalf("leader %q, want %q", got, leader.addr)
	}
	wantUntil := time.UnixMilli(sendAt.UnixMilli() + 9000)
	if !h.srv.LeaseUntil().Equal(wantUntil) {
		t.Fatalf("lease until %v, want %v", h.srv.LeaseUntil(), wantUntil)
	}
	leader.mu.Lock()
	b := leader.beacons[0]
	leader.mu.Unlock()
	if b.Node != h.addr || b.SendTimeMs != sendAt.UnixMilli() || b.StartTimeMs != sendAt.UnixMilli() {
		t.Fatalf("beacon %+v", b)
	}

	// The first successful beacon asks for a config sync.
	select {
	case <-h.srv.meta.syncNow:
	default:
		t.Fatal("no config sync requested after the first beacon")
	}

	// A replica opened now gets the node's lease; a later beacon extends it.
	g := protocol.Gpid{AppID: 1, PartitionIndex: 0}
	cfg := protocol.PartitionConfiguration{Gpid: g, Ballot: 1, Primary: h.addr}
	if err := h.srv.ensureReplica(testApp(1), cfg); err != nil {
		t.Fatal(err)
	}
	f := h.fakes.replica(g)
	if !f.lease().Equal(wantUntil) {
		t.Fatalf("new replica lease %v, want %v", f.lease(), wantUntil)
	}
	h.clock.Advance(2 * time.Second)
	if err := h.srv.meta.beacon(ctx); err != nil {
		t.Fatal(err)
	}
	want2 := wantUntil.Add(2 * time.Second)
	if !f.lease().Equal(want2) {
		t.Fatalf("lease %v, want %v", f.lease(), want2)
	}

	// A leader that grants no lease withdraws it at once.
	leader.set(func(m *fakeMeta) { m.leaseMs = 0 })
	if err := h.srv.meta.beacon(ctx); err != nil {
		t.Fatal(err)
	}
	if !f.lease().IsZero() || !h.srv.LeaseUntil().IsZero() {
		t.Fatalf("lease not withdrawn: %v %v", f.lease(), h.srv.LeaseUntil())
	}

	// When every meta is unreachable the beacon fails and the lease is left
	// to run out.
	leader.set(func(m *fakeMeta) { m.leaseMs = 9000 })
	if err := h.srv.meta.beacon(ctx); err != nil {
		t.Fatal(err)
	}
	before := f.lease()
	leader.set(func(m *fakeMeta) { m.leader = dead })
	follower.set(func(m *fakeMeta) { m.leader = dead })
	wantCode(t, h.srv.meta.beacon(ctx), protocol.CodeNetworkFailure)
	if !f.lease().Equal(before) {
		t.Fatalf("failed beacon changed the lease: %v -> %v", before, f.lease())
	}
}

func TestConfigSyncApplies(t *testing.T) {
	meta := startFakeMeta(t)
	h := newMetaHarness(t, meta.addr)
	app := testApp(4)
	g := func(p int32) protocol.Gpid { return protocol.Gpid{AppID: 1, PartitionIndex: p} }
	// Held before the sync: 1.0 (kept, newer ballot comes), 1.1 (garbage).
	for _, p := range []int32{0, 1} {
		if err := h.srv.ensureReplica(app, protocol.PartitionConfiguration{Gpid: g(p), Ballot: 2, Primary: h.addr}); err != nil {
			t.Fatal(err)
		}
	}
	garbage := h.fakes.replica(g(1))
	other := protocol.AppInfo{AppID: 2, Name: "u", PartitionCount: 2}
	meta.set(func(m *fakeMeta) {
		m.sync = protocol.ConfigSyncResponse{
			Apps: []protocol.AppInfo{app, other},
			Partitions: []protocol.PartitionConfiguration{
				{Gpid: g(0), Ballot: 5, Primary: h.addr},
				{Gpid: g(3), Ballot: 1, Primary: h.addr},
				{Gpid: protocol.Gpid{AppID: 2, PartitionIndex: 1}, Ballot: 7, Primary: "x:1", Secondaries: []string{h.addr}},
				{Gpid: protocol.Gpid{AppID: 9, PartitionIndex: 0}, Ballot: 1, Primary: h.addr}, // no table info
			},
			GarbageReplicas: []protocol.Gpid{g(1)},
		}
	})
	err := h.srv.meta.configSync(context.Background())
	wantCode(t, err, protocol.CodeInvalidArgument) // the partition without table info

	meta.mu.Lock()
	req := meta.syncs[0]
	meta.mu.Unlock()
	if req.Node != h.addr || len(req.Replicas) != 2 || req.Replicas[0].Gpid != g(0) || req.Replicas[1].Gpid != g(1) ||
		req.Replicas[0].Ballot != 2 || req.Replicas[0].Status != protocol.PartitionPrimary {
		t.Fatalf("config sync request %+v", req)
	}
	var got []string
	for _, e := range h.srv.entries() {
		got = append(got, e.gpid.String())
	}
	if !slices.Equal(got, []string{"1.0", "1.3", "2.1"}) {
		t.Fatalf("replicas %v", got)
	}
	if c := h.fakes.replica(g(0)).cfg; c.Ballot != 5 {
		t.Fatalf("1.0 ballot %d, want 5", c.Ballot)
	}
	if f := h.fakes.replica(protocol.Gpid{AppID: 2, PartitionIndex: 1}); f.opts.Config.Ballot != 7 || f.opts.App.Name != "u" {
		t.Fatalf("2.1 opened with %+v", f.opts)
	}
	if !garbage.closed {
		t.Fatal("garbage replica still open")
	}
	// Applying the same answer again changes nothing.
	n := h.fakes.openCount()
	_ = h.srv.meta.configSync(context.Background())
	if h.fakes.openCount() != n {
		t.Fatal("a repeated config sync opened replicas again")
	}
}

// TestMetaLoop runs the real loops: after the first beacon a config sync
// follows and opens what the meta assigns.
func TestMetaLoop(t *testing.T) {
	meta := startFakeMeta(t)
	h := newMetaHarnessWith(t, func(o *Options) { o.ConfigSyncInterval = 5 * time.Millisecond }, meta.addr)
	app := testApp(2)
	g := protocol.Gpid{AppID: 1, PartitionIndex: 1}
	meta.set(func(m *fakeMeta) {
		m.sync = protocol.ConfigSyncResponse{Apps: []protocol.AppInfo{app},
			Partitions: []protocol.PartitionConfiguration{{Gpid: g, Ballot: 1, Primary: h.addr}}}
	})
	h.srv.Start()
	// Syncs run one after the other, so the second one starts after the
	// first answer was applied, and reports the replica it opened.
	for i := range 2 {
		select {
		case <-meta.syncSeen:
		case <-time.After(30 * time.Second):
			t.Fatalf("config sync %d not seen within 30s", i+1)
		}
	}
	if h.fakes.replica(g) == nil {
		t.Fatal("assigned replica not opened")
	}
	meta.mu.Lock()
	last := meta.syncs[len(meta.syncs)-1]
	nb := len(meta.beacons)
	meta.mu.Unlock()
	if len(last.Replicas) != 1 || last.Replicas[0].Gpid != g {
		t.Fatalf("later sync reports %+v", last.Replicas)
	}
	if nb == 0 || h.srv.LeaseUntil().IsZero() {
		t.Fatalf("beacons %d, lease %v", nb, h.srv.LeaseUntil())
	}
}

// TestProposalFailureTriggersSync checks that a proposal the server cannot
// apply makes it sync at once.
func TestProposalFailureTriggersSync(t *testing.T) {
	meta := startFakeMeta(t)
	h := newMetaHarness(t, meta.addr)
	err := h.propose(&protocol.ConfigProposalRequest{Type: protocol.ConfigAssignPrimary, Node: h.addr, App: testApp(2),
		Config: protocol.PartitionConfiguration{Gpid: protocol.Gpid{AppID: 1, PartitionIndex: 5}, Ballot: 1, Primary: h.addr}})
	wantCode(t, err, protocol.CodeInvalidArgument)
	select {
	case <-h.srv.meta.syncNow:
	default:
		t.Fatal("no config sync requested")
	}
}
