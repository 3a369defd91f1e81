package pegasus_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/pegasus-go/pegasus/client-go/internal/fakecluster"
	"github.com/pegasus-go/pegasus/client-go/pegasus"
	"github.com/pegasus-go/pegasus/shared/protocol"
	"github.com/pegasus-go/pegasus/shared/rpc"
)

// fakeProxy answers Meta.QueryConfig by forwarding to the leader meta of
// the cluster it currently routes to, as a meta proxy does. While gap > 0
// it answers CodeAppNotExist instead (a route pointing at a cluster that
// does not have the table yet).
type fakeProxy struct {
	srv *rpc.Server
	rc  *rpc.Client

	mu      sync.Mutex
	target  string
	gap     int
	queries int
}

func startFakeProxy(t *testing.T, target string) *fakeProxy {
	t.Helper()
	p := &fakeProxy{target: target}
	var err error
	if p.rc, err = rpc.NewClient(rpc.ClientConfig{}, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.rc.Close() })
	if p.srv, err = rpc.NewServer(rpc.ServerConfig{}, nil); err != nil {
		t.Fatal(err)
	}
	if err := p.srv.Register(protocol.ServiceMeta, &fakeProxyService{p}); err != nil {
		t.Fatal(err)
	}
	if err := p.srv.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.srv.Close() })
	return p
}

func (p *fakeProxy) addr() string { return p.srv.Addr().String() }

func (p *fakeProxy) route(target string, gap int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.target, p.gap = target, gap
}

type fakeProxyService struct{ p *fakeProxy }

func (s *fakeProxyService) QueryConfig(ctx context.Context, req *protocol.QueryConfigRequest, resp *protocol.QueryConfigResponse) error {
	s.p.mu.Lock()
	s.p.queries++
	target := s.p.target
	if s.p.gap > 0 {
		s.p.gap--
		s.p.mu.Unlock()
		return protocol.Errorf(protocol.CodeAppNotExist, "table %q does not exist (yet)", req.AppName)
	}
	s.p.mu.Unlock()
	return s.p.rc.Call(ctx, target, protocol.ServiceMeta, protocol.MethodQueryConfig, req, resp)
}

func TestConfigMetaProxyValidation(t *testing.T) {
	for _, cfg := range []pegasus.Config{
		{},
		{MetaServers: []string{"127.0.0.1:1"}, MetaProxy: []string{"127.0.0.1:2"}},
		{MetaProxy: []string{""}},
	} {
		if _, err := pegasus.NewClient(cfg); !errors.Is(err, pegasus.ErrInvalidArgument) {
			t.Errorf("NewClient(%+v) = %v, want ErrInvalidArgument", cfg, err)
		}
	}
}

// TestProxyRouteSwitch moves a table between two clusters whose tables
// look alike (same app id, partition count and creation time, and the
// source's ballots higher): the client must follow the proxy's answer,
// not keep the source's higher-ballot configuration.
func TestProxyRouteSwitch(t *testing.T) {
	var clusters [2]*fakecluster.Cluster
	for i := range clusters {
		fc, err := fakecluster.Start(fakecluster.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(fc.Close)
		if _, err := fc.CreateTable(tableName, 4); err != nil {
			t.Fatal(err)
		}
		clusters[i] = fc
	}
	src, dst := clusters[0], clusters[1]
	p := startFakeProxy(t, src.MetaAddrs()[0])
	c, err := pegasus.NewClient(pegasus.Config{
		MetaProxy:                []string{p.addr()},
		InitialRetryBackoff:      time.Millisecond,
		MaxRetryBackoff:          10 * time.Millisecond,
		MinConfigRefreshInterval: time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := ctxTimeout(t, 10*time.Second)
	tb, err := c.OpenTable(ctx, tableName)
	if err != nil {
		t.Fatal(err)
	}
	// The source's primaries move once before the switch, so the client
	// holds source configurations with ballots above the target's.
	for i := range 4 {
		src.MovePrimary(tableName, i, (i+1)%3)
	}
	for i := range 4 {
		hk := hashKeyIn(t, "before", i, 4)
		if err := tb.Set(ctx, hk, []byte("s"), []byte("1"), nil); err != nil {
			t.Fatal(err)
		}
	}
	if src.Records(tableName) != 4 {
		t.Fatalf("the first writes did not reach the source")
	}

	// Switch: the route now names the target; the source stops serving
	// (no primary, higher ballots), as reconfig*all would make it answer.
	p.route(dst.MetaAddrs()[0], 0)
	for i := range 4 {
		src.MovePrimary(tableName, i, -1)
	}
	for i := range 20 {
		hk := []byte{'k', byte('a' + i)}
		if err := tb.Set(ctx, hk, []byte("s"), []byte("v"), nil); err != nil {
			t.Fatalf("write %d after the switch: %v", i, err)
		}
	}
	if got := dst.Records(tableName); got != 20 {
		t.Fatalf("target holds %d records, want the 20 written after the switch", got)
	}
	if got := src.Records(tableName); got != 4 {
		t.Fatalf("source holds %d records after the switch", got)
	}
}

// TestProxyTableMissingDuringSwitch: right after a switch the proxy may
// answer CodeAppNotExist for a moment; idempotent operations keep
// re-resolving until the table is back, within their deadline.
func TestProxyTableMissingDuringSwitch(t *testing.T) {
	var clusters [2]*fakecluster.Cluster
	for i := range clusters {
		fc, err := fakecluster.Start(fakecluster.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(fc.Close)
		if _, err := fc.CreateTable(tableName, 2); err != nil {
			t.Fatal(err)
		}
		clusters[i] = fc
	}
	p := startFakeProxy(t, clusters[0].MetaAddrs()[0])
	c, err := pegasus.NewClient(pegasus.Config{
		MetaProxy:                []string{p.addr()},
		InitialRetryBackoff:      time.Millisecond,
		MaxRetryBackoff:          5 * time.Millisecond,
		MinConfigRefreshInterval: time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := ctxTimeout(t, 10*time.Second)
	tb, err := c.OpenTable(ctx, tableName)
	if err != nil {
		t.Fatal(err)
	}
	p.route(clusters[1].MetaAddrs()[0], 3)
	clusters[0].DropTable(tableName)
	if err := tb.Set(ctx, []byte("h"), []byte("s"), []byte("v"), nil); err != nil {
		t.Fatalf("write across the gap: %v", err)
	}
	if clusters[1].Records(tableName) != 1 {
		t.Fatal("the write did not reach the target")
	}
	p.mu.Lock()
	q := p.queries
	p.mu.Unlock()
	if q < 5 { // open, then at least the three missing answers and the good one
		t.Fatalf("only %d queries reached the proxy", q)
	}

	// A table that stays missing fails at the deadline with the reason
	// last seen: ErrTableNotFound from the proxy, ErrTimeout when the
	// deadline ends during an attempt, or the old replica's
	// CodeObjectNotFound.
	p.route(clusters[1].MetaAddrs()[0], 1<<30)
	clusters[1].DropTable(tableName)
	short, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := tb.Set(short, []byte("h"), []byte("s"), []byte("v"), nil); !errors.Is(err, pegasus.ErrTableNotFound) && !errors.Is(err, pegasus.ErrTimeout) && !errors.Is(err, protocol.CodeObjectNotFound) {
		t.Fatalf("write to a table gone for good = %v, want ErrTableNotFound, ErrTimeout or CodeObjectNotFound", err)
	}
}
