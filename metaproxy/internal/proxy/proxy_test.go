package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/uber-go/tally/v4"
	"go.uber.org/goleak"

	"github.com/pegasus-go/pegasus/client-go/admin"
	"github.com/pegasus-go/pegasus/client-go/admin/admintest"
	"github.com/pegasus-go/pegasus/metaproxy/route"
	"github.com/pegasus-go/pegasus/shared/coord"
	"github.com/pegasus-go/pegasus/shared/coord/localstore"
	"github.com/pegasus-go/pegasus/shared/protocol"
	"github.com/pegasus-go/pegasus/shared/rpc"
)

func TestMain(m *testing.M) {
	rpc.SetFrameworkLogger(slog.New(slog.DiscardHandler))
	goleak.VerifyTestMain(m)
}

const root = "/proxy"

// fakeCluster is an in-memory cluster with one table "t" of the given
// partition count and its meta servers.
type fakeCluster struct {
	name  string
	c     *admintest.Cluster
	metas []*admintest.Meta
	appID int32
}

func newFakeCluster(t *testing.T, name string, metas, partitions int) *fakeCluster {
	t.Helper()
	fc := &fakeCluster{name: name, c: admintest.NewCluster(admintest.Options{Name: name, Nodes: []string{"127.0.0.1:1"}})}
	for range metas {
		m, err := fc.c.StartMeta()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		fc.metas = append(fc.metas, m)
	}
	ac, err := admin.New(admin.Config{MetaServers: fc.addrs()})
	if err != nil {
		t.Fatal(err)
	}
	defer ac.Close()
	fc.appID, err = ac.CreateApp(context.Background(), "t", admin.CreateAppOptions{PartitionCount: int32(partitions)})
	if err != nil {
		t.Fatal(err)
	}
	return fc
}

func (fc *fakeCluster) addrs() []string {
	var out []string
	for _, m := range fc.metas {
		out = append(out, m.Addr())
	}
	return out
}

func (fc *fakeCluster) route() route.Route { return route.New(fc.name, fc.addrs()) }

type env struct {
	t     *testing.T
	p     *Proxy
	reg   *route.Registry // a separate session, as an operator's
	scope tally.TestScope
	opens atomic.Int32
	mu    sync.Mutex
	store coord.Store // the proxy's current session
}

func newEnv(t *testing.T, cacheSize int) *env {
	t.Helper()
	dir := t.TempDir()
	open := func(ctx context.Context) (coord.Store, error) {
		return localstore.Open(ctx, localstore.Options{Dir: dir, PollInterval: 2 * time.Millisecond})
	}
	admin, err := open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	reg, err := route.NewRegistry(admin, root)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := rpc.NewClient(rpc.ClientConfig{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rc.Close() })
	e := &env{t: t, reg: reg, scope: tally.NewTestScope("", nil)}
	e.p, err = New(Options{
		Open: func(ctx context.Context) (coord.Store, error) {
			s, err := open(ctx)
			if err == nil {
				e.opens.Add(1)
				e.mu.Lock()
				e.store = s
				e.mu.Unlock()
			}
			return s, err
		},
		StoreDesc: "local:" + dir, Root: root, CacheSize: cacheSize, RPC: rc, Address: "proxy-under-test",
		ReopenInterval: time.Millisecond, Scope: e.scope,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.p.Close() })
	e.waitReady()
	return e
}

// waitFor polls cond until it holds (the store's watches are delivered
// asynchronously).
func (e *env) waitFor(what string, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func (e *env) waitReady() {
	e.t.Helper()
	e.waitFor("a store session", func() bool { return e.p.Ready() == nil })
}

func (e *env) set(table string, r route.Route) {
	e.t.Helper()
	if _, err := e.reg.Set(context.Background(), table, r, coord.AnyVersion); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) query(table string) (*protocol.QueryConfigResponse, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return e.p.QueryConfig(ctx, &protocol.QueryConfigRequest{AppName: table})
}

func (e *env) counter(name string, tags map[string]string) int64 {
	for _, c := range e.scope.Snapshot().Counters() {
		if c.Name() != "metaproxy."+name {
			continue
		}
		match := true
		for k, v := range tags {
			if c.Tags()[k] != v {
				match = false
			}
		}
		if match {
			return c.Value()
		}
	}
	return 0
}

// cached returns the cached route of table as "cluster@version", "none"
// for a cached missing route, "" when not cached.
func (e *env) cached(table string) string {
	for _, r := range e.p.Status().Routes {
		if r.Table == table {
			if !r.Found {
				return "none"
			}
			return fmt.Sprintf("%s@%d", r.ClusterName, r.Version)
		}
	}
	return ""
}

func TestRoutesAndFollowsSwitch(t *testing.T) {
	e := newEnv(t, 0)
	a := newFakeCluster(t, "ca", 2, 4)
	b := newFakeCluster(t, "cb", 1, 8)
	// The first meta of a is a follower: the proxy must follow its redirect.
	a.metas[0].SetFollower(a.metas[1].Addr())
	e.set("t", a.route())

	resp, err := e.query("t")
	if err != nil {
		t.Fatal(err)
	}
	if resp.App.PartitionCount != 4 || len(resp.Partitions) != 4 {
		t.Fatalf("answer = %+v, want cluster ca's 4 partitions", resp.App)
	}
	if got := e.counter("client_query_config_count", map[string]string{"table": "t"}); got != 1 {
		t.Fatalf("client_query_config_count{table=t} = %d", got)
	}
	zk := e.counter("zk_request_count", nil)
	if zk == 0 {
		t.Fatal("zk_request_count stayed 0")
	}
	// Served from the cache: no further store request.
	if _, err := e.query("t"); err != nil {
		t.Fatal(err)
	}
	if got := e.counter("zk_request_count", nil); got != zk {
		t.Fatalf("zk_request_count %d -> %d for a cached route", zk, got)
	}

	_, st, _ := e.reg.Get(context.Background(), "t")
	e.set("t", b.route())
	want := fmt.Sprintf("cb@%d", st.Version+1)
	e.waitFor("the watch to install the new route", func() bool { return e.cached("t") == want })
	resp, err = e.query("t")
	if err != nil {
		t.Fatal(err)
	}
	if resp.App.PartitionCount != 8 || resp.App.AppID != b.appID {
		t.Fatalf("after the switch: %+v, want cluster cb's table", resp.App)
	}
}

func TestUnknownTableAndLateRoute(t *testing.T) {
	e := newEnv(t, 0)
	_, err := e.query("nope")
	if !errors.Is(err, protocol.CodeAppNotExist) {
		t.Fatalf("query of an unrouted table = %v", err)
	}
	for _, want := range []string{`"nope"`, "/proxy/nope", "proxy set"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if got := e.counter("client_query_config_count", map[string]string{"table": unroutedTable}); got != 1 {
		t.Fatalf("unrouted queries counted %d", got)
	}
	if e.cached("nope") != "none" {
		t.Fatalf("the missing route is not cached: %+v", e.p.Status())
	}
	// The creation watch picks the new route up.
	a := newFakeCluster(t, "ca", 1, 2)
	e.set("nope", a.route())
	e.waitFor("the creation watch", func() bool { return strings.HasPrefix(e.cached("nope"), "ca@") })
	// The route exists but the cluster has no such table: the meta's
	// error comes back with its code, naming the cluster.
	if _, err := e.query("nope"); !errors.Is(err, protocol.CodeAppNotExist) || !strings.Contains(err.Error(), "ca (") {
		t.Fatalf("query of a table missing on its cluster = %v", err)
	}
	e.set("t", a.route())
	if _, err := e.query("t"); err != nil {
		t.Fatal(err)
	}
}

func TestBadRequestsAndRoutes(t *testing.T) {
	e := newEnv(t, 0)
	ctx := context.Background()
	if _, err := e.p.QueryConfig(ctx, &protocol.QueryConfigRequest{AppID: 3}); !errors.Is(err, protocol.CodeInvalidArgument) || !strings.Contains(err.Error(), "by table name") {
		t.Fatalf("query by app id = %v", err)
	}
	if _, err := e.query("a/b"); !errors.Is(err, protocol.CodeInvalidArgument) {
		t.Fatalf("query of a bad name = %v", err)
	}
	if _, err := coord.CreateAll(ctx, e.reg.Store(), "/proxy/junk", []byte(`{"cluster_name":"x"}`), coord.Persistent); err != nil {
		t.Fatal(err)
	}
	if _, err := e.query("junk"); !errors.Is(err, protocol.CodeInvalidConfig) || !strings.Contains(err.Error(), "/proxy/junk") {
		t.Fatalf("query of a junk route = %v", err)
	}
}

func TestOtherMethodsOverRPC(t *testing.T) {
	e := newEnv(t, 0)
	srv, err := rpc.NewServer(rpc.ServerConfig{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Register(protocol.ServiceMeta, e.p.Service()); err != nil {
		t.Fatal(err)
	}
	if err := srv.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	rc, err := rpc.NewClient(rpc.ClientConfig{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	a := newFakeCluster(t, "ca", 1, 2)
	e.set("t", a.route())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n := 0
	for _, m := range protocol.Methods() {
		if m.Service != protocol.ServiceMeta {
			continue
		}
		n++
		req := m.NewRequest()
		if q, ok := req.(*protocol.QueryConfigRequest); ok {
			q.AppName = "t"
		}
		err := rc.Call(ctx, srv.Addr().String(), m.Service, m.Method, req, m.NewResponse())
		if m.Method == protocol.MethodQueryConfig {
			if err != nil {
				t.Errorf("QueryConfig through the proxy: %v", err)
			}
			continue
		}
		if !errors.Is(err, ErrOnlyRoutes) || !strings.Contains(err.Error(), "only routes QueryConfig") || !strings.Contains(err.Error(), m.Method) {
			t.Errorf("%s through the proxy = %v, want ErrOnlyRoutes naming the method", m.Method, err)
		}
	}
	if n < 2 {
		t.Fatalf("only %d Meta methods", n)
	}
}

func TestCacheBoundAndSingleRead(t *testing.T) {
	e := newEnv(t, 2)
	a := newFakeCluster(t, "ca", 1, 2)
	for _, tb := range []string{"t1", "t2", "t3"} {
		e.set(tb, a.route())
	}
	before := e.counter("zk_request_count", nil)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := e.query("t1"); err != nil && !errors.Is(err, protocol.CodeAppNotExist) {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// One read (GetW) for sixteen concurrent first queries.
	if got := e.counter("zk_request_count", nil) - before; got != 1 {
		t.Fatalf("%d store requests for one table's concurrent first queries", got)
	}
	e.query("t2")
	e.query("t3")
	st := e.p.Status()
	if len(st.Routes) != 2 || st.Routes[0].Table != "t3" || st.Routes[1].Table != "t2" {
		t.Fatalf("cache of size 2 holds %+v", st.Routes)
	}
}

func TestSessionLossDropsAndReopens(t *testing.T) {
	e := newEnv(t, 0)
	a := newFakeCluster(t, "ca", 1, 2)
	b := newFakeCluster(t, "cb", 1, 4)
	e.set("t", a.route())
	if _, err := e.query("t"); err != nil {
		t.Fatal(err)
	}
	e.mu.Lock()
	s := e.store
	e.mu.Unlock()
	s.Close() // the session ends under the proxy
	e.waitFor("a new session", func() bool { return e.opens.Load() >= 2 && e.p.Ready() == nil })
	if e.cached("t") != "" {
		t.Fatalf("routes of the lost session are still cached: %+v", e.p.Status())
	}
	// Changed while the proxy had no session: read afresh.
	e.set("t", b.route())
	resp, err := e.query("t")
	if err != nil || resp.App.PartitionCount != 4 {
		t.Fatalf("after reopening: %+v, %v", resp, err)
	}
}
