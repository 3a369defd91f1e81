package embed

import (
	"context"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/pegasus-go/pegasus/shared/config"
	"github.com/pegasus-go/pegasus/shared/protocol"
	"github.com/pegasus-go/pegasus/shared/rpc"
)

// stubMeta is a meta leader that grants leaseMs on every beacon, answers
// config syncs with nothing, and reports each beacon on a channel.
type stubMeta struct {
	mu      sync.Mutex
	leaseMs int64
	beacons chan int64 // the lease granted by each beacon
}

func (m *stubMeta) Beacon(_ context.Context, req *protocol.BeaconRequest, resp *protocol.BeaconResponse) error {
	m.mu.Lock()
	lease := m.leaseMs
	m.mu.Unlock()
	*resp = protocol.BeaconResponse{SendTimeMs: req.SendTimeMs, LeaseMs: lease}
	select {
	case m.beacons <- lease:
	default:
	}
	return nil
}

func (m *stubMeta) ConfigSync(context.Context, *protocol.ConfigSyncRequest, *protocol.ConfigSyncResponse) error {
	return nil
}

// waitBeacons waits until n beacons were answered with leaseMs.
func (m *stubMeta) waitBeacons(t *testing.T, n int, leaseMs int64) {
	t.Helper()
	for seen := 0; seen < n; {
		select {
		case l := <-m.beacons:
			if l == leaseMs {
				seen++
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("%d beacons with lease %dms not seen within 30s", n, leaseMs)
		}
	}
}

// TestMetaAssignedPartition runs the production lease path on a real
// replica: the partition is assigned by a ConfigProposal, served while the
// meta grants a lease, and refused as soon as the meta withdraws it.
func TestMetaAssignedPartition(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	meta := &stubMeta{leaseMs: 60_000, beacons: make(chan int64, 1024)}
	rs, err := rpc.NewServer(rpc.ServerConfig{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := rs.Register(protocol.ServiceMetaInternal, meta); err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = rs.Serve(ln)
	}()
	defer func() {
		_ = rs.Close()
		<-served
	}()

	cfg := testConfig(t.TempDir())
	cfg.ReplicaServer.MetaServers = []string{ln.Addr().String()}
	cfg.ReplicaServer.BeaconInterval = config.Duration(20 * time.Millisecond)
	s, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// The second beacon is sent only after the first answer was applied.
	meta.waitBeacons(t, 2, 60_000)
	wantStatus(t, "http://"+s.HTTPAddr()+"/readyz", http.StatusOK)

	// A 1-replica table: a lone primary of a 3-replica table is read-only.
	tb := newTable(1)
	tb.app.ReplicaCount = 1
	c := newClient(t)
	hk := []byte("k")
	h := tb.header(hk)
	// Not assigned yet.
	if err := call(t, c, s.RPCAddr(), protocol.MethodGet, &protocol.GetRequest{Header: h, HashKey: hk}, &protocol.GetResponse{}); protocol.CodeOf(err) != protocol.CodeObjectNotFound {
		t.Fatalf("get before assignment: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	prop := &protocol.ConfigProposalRequest{Type: protocol.ConfigAssignPrimary, Node: s.Node(), App: tb.app,
		Config: protocol.PartitionConfiguration{Gpid: h.Gpid, Ballot: 1, Primary: s.Node(), MaxReplicaCount: 1}}
	if err := c.Call(ctx, s.RPCAddr(), protocol.ServiceReplicaControl, protocol.MethodConfigProposal, prop, &protocol.ConfigProposalResponse{}); err != nil {
		t.Fatal(err)
	}
	mustCall(t, c, s.RPCAddr(), protocol.MethodSet, &protocol.SetRequest{Header: h, HashKey: hk, Value: []byte("v")}, &protocol.SetResponse{})
	var g protocol.GetResponse
	mustCall(t, c, s.RPCAddr(), protocol.MethodGet, &protocol.GetRequest{Header: h, HashKey: hk}, &g)
	if string(g.Value) != "v" {
		t.Fatalf("get %q", g.Value)
	}

	// The meta withdraws the lease: once a second beacon without a lease was
	// answered (the loop sends a beacon only after applying the previous
	// answer), reads and writes are refused.
	meta.mu.Lock()
	meta.leaseMs = 0
	meta.mu.Unlock()
	meta.waitBeacons(t, 2, 0)
	wantStatus(t, "http://"+s.HTTPAddr()+"/readyz", http.StatusServiceUnavailable)
	err = call(t, c, s.RPCAddr(), protocol.MethodGet, &protocol.GetRequest{Header: h, HashKey: hk}, &g)
	if protocol.CodeOf(err) != protocol.CodeLeaseExpired {
		t.Fatalf("get without a lease: %v", err)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	err = c.Call(ctx2, s.RPCAddr(), protocol.ServiceReplica, protocol.MethodSet, &protocol.SetRequest{Header: h, HashKey: hk, Value: []byte("w")}, &protocol.SetResponse{})
	if protocol.CodeOf(err) != protocol.CodeLeaseExpired {
		t.Fatalf("set without a lease: %v", err)
	}
}

func wantStatus(t *testing.T, url string, status int) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != status {
		t.Fatalf("GET %s: %s, want %d", url, resp.Status, status)
	}
}
