package embed_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/pegasus-go/pegasus/metaserver/embed"
	"github.com/pegasus-go/pegasus/shared/coord"
	"github.com/pegasus-go/pegasus/shared/coord/localstore"
	"github.com/pegasus-go/pegasus/shared/protocol"
	"github.com/pegasus-go/pegasus/shared/zktest"
)

func leaders(servers []*embed.Server) []*embed.Server {
	var out []*embed.Server
	for _, s := range servers {
		if s.IsLeader() {
			out = append(out, s)
		}
	}
	return out
}

// TestElectionAndFailover: three meta servers on one local store; exactly
// one leads, the others redirect to it, and closing the leader hands over
// to another without losing a table or flapping a node.
func TestElectionAndFailover(t *testing.T) {
	dir := t.TempDir()
	servers := []*embed.Server{start(t, localConfig(dir)), start(t, localConfig(dir)), start(t, localConfig(dir))}
	var metas []string
	for _, s := range servers {
		metas = append(metas, s.RPCAddr())
	}
	waitFor(t, "a leader", func() bool { return len(leaders(servers)) == 1 })
	leader := leaders(servers)[0]
	client := newClient(t)
	for _, s := range servers {
		if s == leader {
			continue
		}
		waitFor(t, "follower knows the leader", func() bool { return s.Leader(ctxT(t)) == leader.RPCAddr() })
		err := client.Call(ctxT(t), s.RPCAddr(), protocol.ServiceMeta, protocol.MethodListApps, &protocol.ListAppsRequest{}, &protocol.ListAppsResponse{})
		var pe *protocol.Error
		if !errors.As(err, &pe) || pe.Code != protocol.CodeForwardToOthers || pe.Message != leader.RPCAddr() {
			t.Fatalf("follower answered %v, want CodeForwardToOthers naming %s", err, leader.RPCAddr())
		}
		err = client.Call(ctxT(t), s.RPCAddr(), protocol.ServiceMetaInternal, protocol.MethodBeacon,
			&protocol.BeaconRequest{Node: "127.0.0.1:1"}, &protocol.BeaconResponse{})
		if !errors.As(err, &pe) || pe.Code != protocol.CodeForwardToOthers || pe.Message != leader.RPCAddr() {
			t.Fatalf("follower answered a beacon with %v", err)
		}
		page := getJSON[map[string]any](t, "http://"+s.HTTPAddr()+"/meta/cluster", http.StatusOK)
		if page["is_leader"] != false || page["leader"] != leader.RPCAddr() {
			t.Fatalf("follower /meta/cluster: %v", page)
		}
		getJSON[map[string]any](t, "http://"+s.HTTPAddr()+"/meta/apps", http.StatusServiceUnavailable)
	}

	m := &metaCaller{c: client, metas: metas}
	node := startNode(t, metas)
	node.waitBeacons(t, 1)
	for i := range 5 {
		m.createApp(t, fmt.Sprintf("t%d", i), 4)
	}
	before := m.listApps(t)
	configs := m.queryConfig(t, "t3").Partitions

	leader.Close()
	waitFor(t, "a new leader", func() bool { return len(leaders(servers)) == 1 && leaders(servers)[0] != leader })
	if got := leaders(servers); len(got) != 1 {
		t.Fatalf("%d leaders", len(got))
	}
	if after := m.listApps(t); !reflect.DeepEqual(before, after) {
		t.Fatalf("tables after failover:\n%+v\nwant\n%+v", after, before)
	}
	if got := m.queryConfig(t, "t3").Partitions; !reflect.DeepEqual(got, configs) {
		t.Fatalf("configs after failover:\n%+v\nwant\n%+v", got, configs)
	}
	// The node is alive (pending, then confirmed) under the new leader.
	if st := m.listNodes(t)[node.addr]; st.Status != protocol.NodeAlive || st.PrimaryCount != 20 {
		t.Fatalf("node after failover: %+v", st)
	}
	// The new leader keeps allocating fresh ids.
	if id := m.createApp(t, "after", 1); id != before[len(before)-1].AppID+1 {
		t.Fatalf("app id after failover %d", id)
	}
}

// TestLeaderKilled: the leader is a separate process killed with SIGKILL;
// the survivor takes over once the store notices the dead session.
func TestLeaderKilled(t *testing.T) {
	t.Run("LocalStore", func(t *testing.T) {
		dir := t.TempDir()
		testLeaderKilled(t, startChild(t, dir, ""), func() embed.Config { return localConfig(dir) })
	})
	t.Run("ZooKeeper", func(t *testing.T) {
		zk := zktest.Start(t)
		testLeaderKilled(t, startChild(t, "", zk.Addr()), func() embed.Config { return zkConfig(zk.Addr(), "/pegasus") })
	})
}

func testLeaderKilled(t *testing.T, c *child, cfg func() embed.Config) {
	client := newClient(t)
	m := &metaCaller{c: client, metas: []string{c.addr}}
	waitFor(t, "child leads", func() bool {
		var ci protocol.ClusterInfoResponse
		err := client.Call(ctxT(t), c.addr, protocol.ServiceMeta, protocol.MethodClusterInfo, &protocol.ClusterInfoRequest{}, &ci)
		return err == nil && ci.MetaLeader == c.addr
	})
	survivor := start(t, cfg())
	m.metas = append(m.metas, survivor.RPCAddr())
	m.createApp(t, "a", 8)
	m.createApp(t, "b", 2)
	if err := m.meta(ctxT(t), protocol.MethodDropApp, &protocol.DropAppRequest{Name: "b"}, &protocol.DropAppResponse{}); err != nil {
		t.Fatal(err)
	}
	before := m.listApps(t)
	if survivor.IsLeader() {
		t.Fatal("survivor leads while the child is alive")
	}
	c.kill(t)
	waitFor(t, "survivor takes over", survivor.IsLeader)
	m.metas = []string{survivor.RPCAddr()}
	if after := m.listApps(t); !reflect.DeepEqual(before, after) {
		t.Fatalf("tables after the kill:\n%+v\nwant\n%+v", after, before)
	}
}

func getJSON[T any](t *testing.T, url string, wantStatus int) T {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != wantStatus {
		t.Fatalf("GET %s: %d %s, want %d", url, resp.StatusCode, body, wantStatus)
	}
	var v T
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("GET %s: %v in %s", url, err, body)
	}
	return v
}

func TestPages(t *testing.T) {
	srv := start(t, localConfig(t.TempDir()))
	metas := []string{srv.RPCAddr()}
	m := &metaCaller{c: newClient(t), metas: metas}
	n := startNode(t, metas)
	n.waitBeacons(t, 1)
	m.createApp(t, "web", 2)
	base := "http://" + srv.HTTPAddr()

	cl := getJSON[map[string]any](t, base+"/meta/cluster", http.StatusOK)
	if cl["is_leader"] != true || cl["leader"] != srv.RPCAddr() || cl["app_count"] != 1.0 || cl["alive_nodes"] != 1.0 {
		t.Fatalf("/meta/cluster: %v", cl)
	}
	apps := getJSON[[]map[string]any](t, base+"/meta/apps", http.StatusOK)
	if len(apps) != 1 || apps[0]["name"] != "web" || apps[0]["status"] != "AS_AVAILABLE" {
		t.Fatalf("/meta/apps: %v", apps)
	}
	app := getJSON[map[string]any](t, base+"/meta/app?name=web", http.StatusOK)
	parts, _ := app["partitions"].([]any)
	if len(parts) != 2 || parts[0].(map[string]any)["primary"] != n.addr {
		t.Fatalf("/meta/app: %v", app)
	}
	getJSON[map[string]any](t, base+"/meta/app?name=nope", http.StatusNotFound)
	getJSON[map[string]any](t, base+"/meta/app", http.StatusBadRequest)
	nodes := getJSON[[]map[string]any](t, base+"/meta/nodes", http.StatusOK)
	if len(nodes) != 1 || nodes[0]["address"] != n.addr || nodes[0]["status"] != "NS_ALIVE" || nodes[0]["primary_count"] != 2.0 {
		t.Fatalf("/meta/nodes: %v", nodes)
	}
	// Gauges reach the exposition on the registry's report tick.
	waitFor(t, "leader metrics", func() bool {
		resp, err := http.Get(base + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, want := range []string{"\npegasus_meta_is_leader 1\n", "\npegasus_meta_tables 1\n", "\npegasus_meta_alive_nodes 1\n", "\npegasus_meta_config_proposals_total 2\n"} {
			if !strings.Contains(string(body), want) {
				return false
			}
		}
		return true
	})
}

// TestLeaderNodeDeleted: when the leader's election node disappears (as
// when its session expires), it stops serving at once and campaigns again
// with a new session; the cluster ends with one leader and every table.
func TestLeaderNodeDeleted(t *testing.T) {
	dir := t.TempDir()
	servers := []*embed.Server{start(t, localConfig(dir)), start(t, localConfig(dir))}
	waitFor(t, "a leader", func() bool { return len(leaders(servers)) == 1 })
	m := &metaCaller{c: newClient(t), metas: []string{servers[0].RPCAddr(), servers[1].RPCAddr()}}
	m.createApp(t, "x", 4)
	before := m.listApps(t)

	ctx := ctxT(t)
	s, err := localstore.Open(ctx, localstore.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	election := "/test/meta/leader"
	cands, _, err := s.Children(ctx, election)
	if err != nil || len(cands) == 0 {
		t.Fatalf("election candidates %v: %v", cands, err)
	}
	old := coord.SortCandidates(cands)[0]
	if err := s.Delete(ctx, coord.Join(election, old), coord.AnyVersion); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a new term", func() bool {
		cands, _, err := s.Children(ctx, election)
		if err != nil || len(cands) == 0 || coord.SortCandidates(cands)[0] == old {
			return false
		}
		return len(leaders(servers)) == 1
	})
	value, ok, err := coord.Leader(ctx, s, election)
	if err != nil || !ok || string(value) != leaders(servers)[0].RPCAddr() {
		t.Fatalf("store names leader %q (%v, %v), serving leader %s", value, ok, err, leaders(servers)[0].RPCAddr())
	}
	if after := m.listApps(t); !reflect.DeepEqual(before, after) {
		t.Fatalf("tables after the new term:\n%+v\nwant\n%+v", after, before)
	}
}
