package embed_test

import (
	"fmt"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/pegasus-go/pegasus/shared/protocol"
)

// TestPlacementOnFakeNodes: a 3-replica table over 3 nodes puts a replica
// of every partition on every node, spreads the primaries evenly, tells
// each node about every partition it serves, and ConfigSync returns them.
func TestPlacementOnFakeNodes(t *testing.T) {
	srv := start(t, localConfig(t.TempDir()))
	metas := []string{srv.RPCAddr()}
	m := &metaCaller{c: newClient(t), metas: metas}
	nodes := []*fakeNode{startNode(t, metas), startNode(t, metas), startNode(t, metas)}
	for _, n := range nodes {
		n.waitBeacons(t, 1)
	}
	id := m.createApp(t, "spread", 8)
	qc := m.queryConfig(t, "spread")
	perNode := map[string]int{}
	for _, p := range qc.Partitions {
		members := append([]string{p.Primary}, p.Secondaries...)
		slices.Sort(members)
		if p.Ballot != 1 || p.Primary == "" || len(slices.Compact(members)) != 3 {
			t.Fatalf("partition %v: %+v", p.Gpid, p)
		}
		perNode[p.Primary]++
	}
	counts := slices.Sorted(maps.Values(perNode))
	if !slices.Equal(counts, []int{2, 3, 3}) {
		t.Fatalf("primaries per node %v, want 3/3/2", perNode)
	}
	for _, n := range nodes {
		want := map[protocol.Gpid]protocol.PartitionConfiguration{}
		for _, p := range qc.Partitions {
			want[p.Gpid] = p
		}
		waitFor(t, n.addr+" proposals", func() bool { return len(n.received()) == len(want) })
		for _, p := range n.received() {
			if p.Type != protocol.ConfigAssignPrimary || p.App.AppID != id || p.App.Name != "spread" ||
				!reflect.DeepEqual(p.Config, want[p.Config.Gpid]) {
				t.Fatalf("proposal to %s: %+v", n.addr, p)
			}
		}
		resp := n.configSync(t)
		if len(resp.Apps) != 1 || resp.Apps[0].AppID != id || len(resp.Partitions) != len(want) || len(resp.GarbageReplicas) != 0 {
			t.Fatalf("config sync of %s: %+v", n.addr, resp)
		}
	}
	listed := m.listNodes(t)
	for _, n := range nodes {
		if got := listed[n.addr]; got.Status != protocol.NodeAlive || int(got.PrimaryCount) != perNode[n.addr] || int(got.SecondaryCount) != 8-perNode[n.addr] {
			t.Fatalf("list nodes: %s: %+v, want alive with %d primaries", n.addr, got, perNode[n.addr])
		}
	}
}

// TestGuardianAssignsLater: a table created with no node alive gets its
// primaries once a node beacons.
func TestGuardianAssignsLater(t *testing.T) {
	srv := start(t, localConfig(t.TempDir()))
	metas := []string{srv.RPCAddr()}
	m := &metaCaller{c: newClient(t), metas: metas}
	m.createApp(t, "early", 4)
	for _, p := range m.queryConfig(t, "early").Partitions {
		if p.Primary != "" || p.Ballot != 0 {
			t.Fatalf("partition %v assigned with no node alive: %+v", p.Gpid, p)
		}
	}
	n := startNode(t, metas)
	waitFor(t, "guardian assignment", func() bool { return len(n.primaryOf()) == 4 })
	for _, p := range m.queryConfig(t, "early").Partitions {
		if p.Primary != n.addr || p.Ballot != 1 {
			t.Fatalf("partition %v: %+v", p.Gpid, p)
		}
	}
}

// TestNodeDeathAndReturn drives the failure detector with a fake clock on
// a one-replica table: a silent node is dead only after the grace period;
// its partitions lose their only member (the partition keeps the evidence),
// and it regains them (new ballot) once it is back and has reported its
// replicas, the only safe choice.
func TestNodeDeathAndReturn(t *testing.T) {
	clk := newFakeClock()
	cfg := localConfig(t.TempDir())
	cfg.Clock = clk.Now
	srv := start(t, cfg) // lease 1s, grace 2s
	metas := []string{srv.RPCAddr()}
	m := &metaCaller{c: newClient(t), metas: metas}
	a, b, c := startNode(t, metas), startNode(t, metas), startNode(t, metas)
	for _, n := range []*fakeNode{a, b, c} {
		n.waitBeacons(t, 1)
	}
	m.createAppR(t, "life", 8, 1)
	owned := func(n *fakeNode) []protocol.PartitionConfiguration {
		var out []protocol.PartitionConfiguration
		for _, p := range m.queryConfig(t, "life").Partitions {
			if p.Primary == n.addr || slices.Contains(p.LastDrops, n.addr) {
				out = append(out, p)
			}
		}
		return out
	}
	if len(owned(a)) < 2 || len(owned(b)) < 2 || len(owned(c)) < 2 {
		t.Fatalf("partitions not spread: %+v", m.queryConfig(t, "life").Partitions)
	}

	// advance moves the clock in steps shorter than the grace period,
	// letting the live nodes beacon after each step.
	advance := func(d time.Duration) {
		for d > 0 {
			step := min(d, 500*time.Millisecond)
			clk.Advance(step)
			b.waitBeacons(t, 2)
			c.waitBeacons(t, 2)
			d -= step
		}
	}
	a.pause()
	advance(2 * time.Second) // exactly the grace period: still alive
	if st := m.listNodes(t)[a.addr].Status; st != protocol.NodeAlive {
		t.Fatalf("node %s is %v after exactly the grace period", a.addr, st)
	}
	for _, p := range owned(a) {
		if p.Primary != a.addr || p.Ballot != 1 {
			t.Fatalf("partition %v changed before the node was dead: %+v", p.Gpid, p)
		}
	}
	advance(time.Millisecond)
	if st := m.listNodes(t)[a.addr].Status; st != protocol.NodeDead {
		t.Fatalf("node %s is %v after the grace period", a.addr, st)
	}
	waitFor(t, "dead primary dropped", func() bool {
		for _, p := range owned(a) {
			if p.Primary != "" {
				return false
			}
		}
		return true
	})
	for _, p := range owned(a) {
		if p.Ballot != 2 || !slices.Equal(p.LastDrops, []string{a.addr}) {
			t.Fatalf("dropped partition %+v", p)
		}
	}
	for _, n := range []*fakeNode{b, c} {
		for _, p := range owned(n) {
			if p.Primary != n.addr || p.Ballot != 1 {
				t.Fatalf("live node's partition changed: %+v", p)
			}
		}
	}
	// While a is dead its replicas are not garbage: it holds their data.
	var reports []protocol.ReplicaInfo
	for _, p := range owned(a) {
		reports = append(reports, protocol.ReplicaInfo{Gpid: p.Gpid, Ballot: 1, Status: protocol.PartitionPrimary, LastCommitted: 7, LastPrepared: 7})
	}
	if resp := a.configSync(t, reports...); len(resp.GarbageReplicas) != 0 || len(resp.Partitions) != 0 {
		t.Fatalf("config sync of the dropped node: %+v", resp)
	}
	// Back, but it has not reported yet: nobody is sure it still holds the
	// data, so the partitions wait.
	a.resume()
	a.waitBeacons(t, 2)
	for _, p := range owned(a) {
		if p.Primary != "" {
			t.Fatalf("partition %v recovered before its replica reported: %+v", p.Gpid, p)
		}
	}
	page := getJSON[map[string]any](t, "http://"+srv.HTTPAddr()+"/meta/app?name=life", http.StatusOK)
	for _, raw := range page["partitions"].([]any) {
		pp := raw.(map[string]any)
		if pp["primary"] != "" {
			continue
		}
		ddd, _ := pp["ddd"].(map[string]any)
		if ddd == nil || ddd["safe"] != false || fmt.Sprint(ddd["waiting"]) != fmt.Sprint([]any{a.addr}) {
			t.Fatalf("DDD evidence of %v: %v", pp["gpid"], ddd)
		}
	}
	a.configSync(t, reports...)
	waitFor(t, "returning node regains its partitions", func() bool {
		got := a.primaryOf()
		for _, p := range owned(a) {
			if got[p.Gpid] != 3 {
				return false
			}
		}
		return true
	})
	for _, p := range owned(a) {
		if p.Primary != a.addr || p.Ballot != 3 || len(p.LastDrops) != 0 || p.LastCommittedDecree != 7 {
			t.Fatalf("regained partition %+v", p)
		}
	}
}

// TestPurgeMakesGarbage: a dropped table is kept during its hold period and
// purged after it; the node's replicas are then garbage.
func TestPurgeMakesGarbage(t *testing.T) {
	clk := newFakeClock()
	cfg := localConfig(t.TempDir())
	cfg.Clock = clk.Now
	srv := start(t, cfg)
	metas := []string{srv.RPCAddr()}
	m := &metaCaller{c: newClient(t), metas: metas}
	n := startNode(t, metas)
	n.waitBeacons(t, 1)
	id := m.createApp(t, "old", 2)
	keep := m.createApp(t, "keep", 1)
	reports := []protocol.ReplicaInfo{
		{Gpid: protocol.Gpid{AppID: id, PartitionIndex: 0}, Ballot: 1, Status: protocol.PartitionPrimary},
		{Gpid: protocol.Gpid{AppID: id, PartitionIndex: 1}, Ballot: 1, Status: protocol.PartitionPrimary},
		{Gpid: protocol.Gpid{AppID: keep, PartitionIndex: 0}, Ballot: 1, Status: protocol.PartitionPrimary},
	}
	if err := m.meta(ctxT(t), protocol.MethodDropApp, &protocol.DropAppRequest{Name: "old", ReserveSeconds: 60}, &protocol.DropAppResponse{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "drop proposals", func() bool {
		k := 0
		for _, p := range n.received() {
			if p.Type == protocol.ConfigDropPartition && p.Config.Gpid.AppID == id {
				k++
			}
		}
		return k == 2
	})
	resp := n.configSync(t, reports...)
	if len(resp.GarbageReplicas) != 0 || len(resp.Apps) != 1 || resp.Apps[0].AppID != keep {
		t.Fatalf("config sync during the hold period: %+v", resp)
	}
	advanceWithBeacons := func(d time.Duration) {
		for d > 0 {
			step := min(d, 500*time.Millisecond)
			clk.Advance(step)
			n.waitBeacons(t, 2)
			d -= step
		}
	}
	advanceWithBeacons(59 * time.Second)
	if apps := m.listApps(t); len(apps) != 2 {
		t.Fatalf("table purged before its hold period ended: %+v", apps)
	}
	advanceWithBeacons(time.Second)
	waitFor(t, "purge", func() bool { return len(m.listApps(t)) == 1 })
	resp = n.configSync(t, reports...)
	want := []protocol.Gpid{{AppID: id, PartitionIndex: 0}, {AppID: id, PartitionIndex: 1}}
	if !slices.Equal(resp.GarbageReplicas, want) {
		t.Fatalf("garbage %v, want %v", resp.GarbageReplicas, want)
	}
	err := m.meta(ctxT(t), protocol.MethodRecallApp, &protocol.RecallAppRequest{AppID: id}, &protocol.RecallAppResponse{})
	wantCode(t, "recall a purged table", err, protocol.CodeAppNotExist)
}
