package embed_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/pegasus-go/pegasus/client-go/admin"
	"github.com/pegasus-go/pegasus/client-go/admin/admintest"
	"github.com/pegasus-go/pegasus/client-go/pegasus"
	"github.com/pegasus-go/pegasus/metaproxy/embed"
	"github.com/pegasus-go/pegasus/metaproxy/route"
	"github.com/pegasus-go/pegasus/shared/config"
	"github.com/pegasus-go/pegasus/shared/coord"
	"github.com/pegasus-go/pegasus/shared/protocol"
	"github.com/pegasus-go/pegasus/shared/rpc"
	"github.com/pegasus-go/pegasus/shared/zktest"
)

func TestMain(m *testing.M) {
	rpc.SetFrameworkLogger(slog.New(slog.DiscardHandler))
	goleak.VerifyTestMain(m)
}

func TestValidate(t *testing.T) {
	for _, c := range []struct {
		mutate func(*embed.Config)
		want   string
	}{
		{func(c *embed.Config) { c.MetaProxy.RouteCacheSize = 0 }, "route_cache_size"},
		{func(c *embed.Config) { c.Zookeeper.Hosts = nil }, "zookeeper.hosts is empty"},
		{func(c *embed.Config) { c.Zookeeper.Root = "/" }, "zookeeper.root"},
		{func(c *embed.Config) { c.Zookeeper.Root = "rel" }, "zookeeper.root"},
		{func(c *embed.Config) { c.MetaProxy.ForwardTimeout = 0 }, "forward_timeout"},
		{func(c *embed.Config) { c.MetaProxy.RPCAddress = "nope" }, "rpc_address"},
	} {
		cfg := embed.DefaultConfig()
		c.mutate(&cfg)
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Validate = %v, want an error about %s", err, c.want)
		}
	}
	cfg := embed.DefaultConfig()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestWithZooKeeper runs the proxy on a real ZooKeeper in front of two
// fake clusters: a client-go application opens a table through it, the
// route switches, and the client follows.
func TestWithZooKeeper(t *testing.T) {
	zk := zktest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	var clusters [2]*admintest.Cluster
	var metas [2]string
	for i := range clusters {
		clusters[i] = admintest.NewCluster(admintest.Options{Name: []string{"ca", "cb"}[i],
			Now: func() time.Time { return time.Unix(int64(1000+i), 0) }})
		n, err := clusters[i].StartNode()
		if err != nil {
			t.Fatal(err)
		}
		defer n.Close()
		m, err := clusters[i].StartMeta()
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		metas[i] = m.Addr()
		ac, err := admin.New(admin.Config{MetaServers: []string{m.Addr()}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ac.CreateApp(ctx, "t", admin.CreateAppOptions{PartitionCount: int32(2 << i)}); err != nil {
			t.Fatal(err)
		}
		ac.Close()
	}

	reg, err := route.Open(ctx, route.OpenOptions{Servers: []string{zk.Addr()}, Root: "/routes"})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	if _, err := reg.Set(ctx, "t", route.New("ca", []string{metas[0]}), coord.AnyVersion); err != nil {
		t.Fatal(err)
	}

	cfg := embed.DefaultConfig()
	cfg.MetaProxy.RPCAddress = "127.0.0.1:0"
	cfg.MetaProxy.HTTPAddress = "127.0.0.1:0"
	cfg.Zookeeper.Hosts = []string{zk.Addr()}
	cfg.Zookeeper.Root = "/routes"
	cfg.Zookeeper.SessionTimeout = config.Duration(4 * time.Second)
	cfg.Logger = slog.New(slog.DiscardHandler)
	srv, err := embed.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	for srv.Ready() != nil {
		if ctx.Err() != nil {
			t.Fatalf("proxy never got a ZooKeeper session: %v", srv.Ready())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if code, body := httpGet(t, "http://"+srv.HTTPAddr()+"/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz = %d %s", code, body)
	}

	client, err := pegasus.NewClient(pegasus.Config{MetaProxy: []string{srv.RPCAddr()}})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	tb, err := client.OpenTable(ctx, "t")
	if err != nil {
		t.Fatal(err)
	}
	if tb.PartitionCount() != 2 {
		t.Fatalf("opened through the proxy with %d partitions, want cluster ca's 2", tb.PartitionCount())
	}
	if err := tb.Set(ctx, []byte("h"), []byte("s"), []byte("on-a"), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := client.OpenTable(ctx, "missing"); !errors.Is(err, pegasus.ErrTableNotFound) || !strings.Contains(err.Error(), "/routes/missing") {
		t.Fatalf("OpenTable of an unrouted table = %v", err)
	}

	// Switch the route; the source answers "not primary" from now on, so
	// the client re-resolves through the proxy and lands on cluster cb.
	if _, err := reg.Set(ctx, "t", route.New("cb", []string{metas[1]}), coord.AnyVersion); err != nil {
		t.Fatal(err)
	}
	ca, _ := clusters[0].App(1)
	for i := range ca.PartitionCount {
		if err := clusters[0].SetPartition(protocol.PartitionConfiguration{Gpid: protocol.Gpid{AppID: 1, PartitionIndex: i}, Ballot: 99}); err != nil {
			t.Fatal(err)
		}
	}
	if err := tb.Set(ctx, []byte("h"), []byte("s"), []byte("on-b"), nil); err != nil {
		t.Fatal(err)
	}
	if tb.PartitionCount() != 4 {
		t.Fatalf("after the switch the table has %d partitions, want cluster cb's 4", tb.PartitionCount())
	}
	v, err := tb.Get(ctx, []byte("h"), []byte("s"))
	if err != nil || string(v) != "on-b" {
		t.Fatalf("Get after the switch = %q, %v", v, err)
	}

	code, body := httpGet(t, "http://"+srv.HTTPAddr()+"/metaproxy/routes")
	var page struct {
		Root   string `json:"root"`
		Routes []struct {
			Table       string `json:"table"`
			ClusterName string `json:"cluster_name"`
		} `json:"routes"`
	}
	if code != http.StatusOK || json.Unmarshal([]byte(body), &page) != nil || page.Root != "/routes" {
		t.Fatalf("/metaproxy/routes = %d %s", code, body)
	}
	found := false
	for _, r := range page.Routes {
		found = found || (r.Table == "t" && r.ClusterName == "cb")
	}
	if !found {
		t.Fatalf("/metaproxy/routes does not list t -> cb: %s", body)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, metrics := httpGet(t, "http://"+srv.HTTPAddr()+"/metrics")
		ok := strings.Contains(metrics, `pegasus_metaproxy_client_query_config_count_total{table="t"}`) &&
			strings.Contains(metrics, "pegasus_metaproxy_zk_request_count_total") &&
			strings.Contains(metrics, "pegasus_metaproxy_client_connection_count 1")
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics missing:\n%s", metrics)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
