package dup

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/pegasus-go/pegasus/client-go/pegasus"
	"github.com/pegasus-go/pegasus/shared/protocol"
	"github.com/pegasus-go/pegasus/shared/rpc"
)

// fakeCluster is one RPC server acting as a remote cluster's meta server
// (QueryConfig) and as the primary of every partition (Duplicate).
type fakeCluster struct {
	addr string
	app  protocol.AppInfo

	mu   sync.Mutex
	reqs []protocol.DuplicateRequest
}

type fakeClusterMeta struct{ c *fakeCluster }

func (m *fakeClusterMeta) QueryConfig(_ context.Context, req *protocol.QueryConfigRequest, resp *protocol.QueryConfigResponse) error {
	c := m.c
	if req.AppName != c.app.Name {
		return protocol.Errorf(protocol.CodeAppNotExist, "no table %q", req.AppName)
	}
	resp.App = c.app
	for i := range c.app.PartitionCount {
		resp.Partitions = append(resp.Partitions, protocol.PartitionConfiguration{
			Gpid: protocol.Gpid{AppID: c.app.AppID, PartitionIndex: i}, Ballot: 1, Primary: c.addr, MaxReplicaCount: 1})
	}
	return nil
}

type fakeClusterReplica struct{ c *fakeCluster }

func (r *fakeClusterReplica) Duplicate(_ context.Context, req *protocol.DuplicateRequest, resp *protocol.DuplicateResponse) error {
	r.c.mu.Lock()
	defer r.c.mu.Unlock()
	r.c.reqs = append(r.c.reqs, *req)
	resp.Applied = int32(len(req.Entries))
	return nil
}

func startFakeCluster(t *testing.T, app protocol.AppInfo) *fakeCluster {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &fakeCluster{addr: ln.Addr().String(), app: app}
	rs, err := rpc.NewServer(rpc.ServerConfig{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := rs.Register(protocol.ServiceMeta, &fakeClusterMeta{c}); err != nil {
		t.Fatal(err)
	}
	if err := rs.Register(protocol.ServiceReplica, &fakeClusterReplica{c}); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = rs.Serve(ln)
	}()
	t.Cleanup(func() {
		_ = rs.Close()
		<-done
	})
	return c
}

func TestClientsShipThroughClientGo(t *testing.T) {
	c := startFakeCluster(t, protocol.AppInfo{AppID: 5, Name: "t", Status: protocol.AppAvailable, PartitionCount: 4, ReplicaCount: 1})
	pool := NewClients(pegasus.Config{OperationTimeout: 10 * time.Second}, nil)
	defer pool.Close()
	r1, err := pool.Remote("remote", []string{c.addr}, "t")
	if err != nil {
		t.Fatal(err)
	}
	r2, err := pool.Remote("remote", []string{c.addr}, "other")
	if err != nil {
		t.Fatal(err)
	}
	if r1.(*TableRemote).c != r2.(*TableRemote).c {
		t.Fatal("two tables of one cluster use two clients")
	}
	ctx := context.Background()
	n, err := r1.PartitionCount(ctx)
	if err != nil || n != 4 {
		t.Fatalf("PartitionCount = %d, %v", n, err)
	}
	if _, err := r2.PartitionCount(ctx); protocol.CodeOf(err) != protocol.CodeAppNotExist {
		t.Fatalf("missing table: %v", err)
	}
	entries := []protocol.DuplicateEntry{{TimestampUs: 11, ClusterID: 3, Op: protocol.OpPut, Body: []byte("b")}}
	applied, err := r1.Duplicate(ctx, 2, entries)
	if err != nil || applied != 1 {
		t.Fatalf("Duplicate = %d, %v", applied, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.reqs) != 1 {
		t.Fatalf("%d requests", len(c.reqs))
	}
	got := c.reqs[0]
	if got.Header.Gpid != (protocol.Gpid{AppID: 5, PartitionIndex: 2}) || len(got.Entries) != 1 || got.Entries[0].TimestampUs != 11 {
		t.Fatalf("request %+v", got)
	}

	if _, err := pool.Remote("remote", nil, "t"); err == nil {
		t.Fatal("no meta servers: no error")
	}
	pool.Close()
	if _, err := pool.Remote("remote", []string{c.addr}, "t"); err == nil {
		t.Fatal("closed pool hands out remotes")
	}
}
