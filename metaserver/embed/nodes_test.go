package embed_test

import (
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/pegasus-go/pegasus/shared/protocol"
)

// TestPlacementOnFakeNodes: partitions are spread evenly over the alive
// nodes, each node is told about its own, and ConfigSync returns them.
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
		if p.Ballot != 1 || p.Primary == "" || len(p.Secondaries) != 0 {
			t.Fatalf("partition %v: %+v", p.Gpid, p)
		}
		perNode[p.Primary]++
	}
	counts := slices.Sorted(maps.Values(perNode))
	if !slices.Equal(counts, []int{2, 3, 3}) {
		t.Fatalf("primaries per node %v, want 3/3/2", perNode)
	}
	for _, n := range nodes {
		want := map[protocol.Gpid]protocol.Ballot{}
		for _, p := range qc.Partitions {
			if p.Primary == n.addr {
				want[p.Gpid] = p.Ballot
			}
		}
		waitFor(t, n.addr+" proposals", func() bool { return maps.Equal(n.primaryOf(), want) })
		for _, p := range n.received() {
			if p.App.AppID != id || p.App.Name != "spread" || p.Node != n.addr {
				t.Fatalf("proposal to %s: %+v", n.addr, p)
			}
		}
		resp := n.configSync(t)
		if len(resp.Apps) != 1 || resp.Apps[0].AppID != id || len(resp.Partitions) != len(want) || len(resp.GarbageReplicas) != 0 {
			t.Fatalf("config sync of %s: %+v", n.addr, resp)
		}
		for _, p := range resp.Partitions {
			if p.Primary != n.addr {
				t.Fatalf("config sync of %s lists %+v", n.addr, p)
			}
		}
	}
	listed := m.listNodes(t)
	for _, n := range nodes {
		if got := listed[n.addr]; got.Status != protocol.NodeAlive || int(got.PrimaryCount) != perNode[n.addr] {
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

// TestNodeDeathAndReturn drives the failure detector with a fake clock: a
// silent node is dead only after the grace period; its partitions lose
// their primary, and it regains them (new ballot) when it comes back.
func TestNodeDeathAndReturn(t *testing.T) {
	clk := newFakeClock()
	cfg := localConfig(t.TempDir())
	cfg.Clock = clk.Now
	srv := start(t, cfg) // lease 1s, grace 2s
	metas := []string{srv.RPCAddr()}
	m := &metaCaller{c: newClient(t), metas: metas}
	a, b := startNode(t, metas), startNode(t, metas)
	a.waitBeacons(t, 1)
	b.waitBeacons(t, 1)
	m.createApp(t, "life", 4)
	owned := func(n *fakeNode) []protocol.PartitionConfiguration {
		var out []protocol.PartitionConfiguration
		for _, p := range m.queryConfig(t, "life").Partitions {
			if p.Primary == n.addr || slices.Contains(p.LastDrops, n.addr) {
				out = append(out, p)
			}
		}
		return out
	}
	if len(owned(a)) != 2 || len(owned(b)) != 2 {
		t.Fatalf("partitions not spread: %+v", m.queryConfig(t, "life").Partitions)
	}

	// advance moves the clock in steps shorter than the grace period,
	// letting the live node beacon after each step.
	advance := func(d time.Duration) {
		for d > 0 {
			step := min(d, 500*time.Millisecond)
			clk.Advance(step)
			b.waitBeacons(t, 2)
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
	for _, p := range owned(b) {
		if p.Primary != b.addr || p.Ballot != 1 {
			t.Fatalf("live node's partition changed: %+v", p)
		}
	}
	// While a is dead its replicas are not garbage: it holds their data.
	var reports []protocol.ReplicaInfo
	for _, p := range owned(a) {
		reports = append(reports, protocol.ReplicaInfo{Gpid: p.Gpid, Ballot: 1, Status: protocol.PartitionPrimary})
	}
	if resp := a.configSync(t, reports...); len(resp.GarbageReplicas) != 0 || len(resp.Partitions) != 0 {
		t.Fatalf("config sync of the dropped node: %+v", resp)
	}

	a.resume()
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
		if p.Primary != a.addr || p.Ballot != 3 || len(p.LastDrops) != 0 {
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
