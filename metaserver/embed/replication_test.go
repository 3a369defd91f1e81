package embed_test

import (
	"errors"
	"io"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pegasus-go/pegasus/metaserver/embed"
	"github.com/pegasus-go/pegasus/shared/protocol"
	"github.com/pegasus-go/pegasus/shared/zktest"
)

// advanceLive moves the clock by d in steps shorter than the grace period,
// letting every live node beacon after each step.
func advanceLive(t *testing.T, clk *fakeClock, d time.Duration, live ...*fakeNode) {
	t.Helper()
	for d > 0 {
		step := min(d, 500*time.Millisecond)
		clk.Advance(step)
		for _, n := range live {
			n.waitBeacons(t, 2)
		}
		d -= step
	}
}

func members(c protocol.PartitionConfiguration) []string {
	if c.Primary == "" {
		return slices.Clone(c.Secondaries)
	}
	return append([]string{c.Primary}, c.Secondaries...)
}

// report makes the ConfigSync replica list of node n for the partitions it
// is a member of, with decrees chosen by decree(partition, node).
func report(n *fakeNode, parts []protocol.PartitionConfiguration, decree func(protocol.PartitionConfiguration, string) protocol.Decree) []protocol.ReplicaInfo {
	var out []protocol.ReplicaInfo
	for _, p := range parts {
		if !slices.Contains(members(p), n.addr) {
			continue
		}
		st := protocol.PartitionSecondary
		if p.Primary == n.addr {
			st = protocol.PartitionPrimary
		}
		d := decree(p, n.addr)
		out = append(out, protocol.ReplicaInfo{Gpid: p.Gpid, Ballot: p.Ballot, Status: st, LastCommitted: d, LastPrepared: d + 1, LastDurable: d})
	}
	return out
}

// checkHistory asserts that every configuration pushed to any node agrees
// with every other one of the same partition and ballot: no partition ever
// had two primaries (or two memberships) in one ballot. It returns the
// highest pushed configuration of each partition.
func checkHistory(t *testing.T, nodes ...*fakeNode) map[protocol.Gpid]protocol.PartitionConfiguration {
	t.Helper()
	seen := map[protocol.Gpid]map[protocol.Ballot]protocol.PartitionConfiguration{}
	latest := map[protocol.Gpid]protocol.PartitionConfiguration{}
	for _, n := range nodes {
		for _, p := range n.received() {
			c := p.Config
			if seen[c.Gpid] == nil {
				seen[c.Gpid] = map[protocol.Ballot]protocol.PartitionConfiguration{}
			}
			if prev, ok := seen[c.Gpid][c.Ballot]; ok {
				if prev.Primary != c.Primary || !slices.Equal(prev.Secondaries, c.Secondaries) {
					t.Fatalf("partition %v ballot %d pushed as %+v and as %+v", c.Gpid, c.Ballot, prev, c)
				}
				continue
			}
			seen[c.Gpid][c.Ballot] = c
			if c.Ballot >= latest[c.Gpid].Ballot {
				latest[c.Gpid] = c
			}
		}
	}
	return latest
}

func (n *fakeNode) receivedOf(typ protocol.ConfigType, g protocol.Gpid) []protocol.ConfigProposalRequest {
	var out []protocol.ConfigProposalRequest
	for _, p := range n.received() {
		if p.Type == typ && p.Config.Gpid == g {
			out = append(out, p)
		}
	}
	return out
}

func (n *fakeNode) gotConfig(typ protocol.ConfigType, want protocol.PartitionConfiguration) bool {
	for _, p := range n.receivedOf(typ, want.Gpid) {
		if reflect.DeepEqual(p.Config, want) {
			return true
		}
	}
	return false
}

func byAddr(nodes ...*fakeNode) map[string]*fakeNode {
	out := map[string]*fakeNode{}
	for _, n := range nodes {
		out[n.addr] = n
	}
	return out
}

func metricsText(t *testing.T, srv *embed.Server) string {
	t.Helper()
	resp, err := http.Get("http://" + srv.HTTPAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return string(body)
}

// TestFailureAndCure: a 3-replica table on 3 fake nodes. One node stops
// beaconing: where it was primary, the secondary that reported the highest
// decrees is promoted (ballot+1) and told so, the other member gets the new
// configuration; where it was secondary it is removed. A fourth node joins:
// every primary is asked to add it as a learner, and the primary's
// UpgradeToSecondary makes it a member.
func TestFailureAndCure(t *testing.T) {
	clk := newFakeClock()
	cfg := localConfig(t.TempDir())
	cfg.Clock = clk.Now
	srv := start(t, cfg) // lease 1s, grace 2s
	metas := []string{srv.RPCAddr()}
	m := &metaCaller{c: newClient(t), metas: metas}
	nodes := []*fakeNode{startNode(t, metas), startNode(t, metas), startNode(t, metas)}
	for _, n := range nodes {
		n.waitBeacons(t, 1)
	}
	all := byAddr(nodes...)
	m.createApp(t, "cure", 4)
	before := m.queryConfig(t, "cure").Partitions
	// The secondary with the larger address has the higher decrees, so the
	// choice is by decree and not by address.
	decree := func(p protocol.PartitionConfiguration, node string) protocol.Decree {
		if node == p.Primary || node == slices.Max(p.Secondaries) {
			return 20
		}
		return 10
	}
	for _, n := range nodes {
		n.configSync(t, report(n, before, decree)...)
	}
	victim := all[before[0].Primary]
	var live []*fakeNode
	for _, n := range nodes {
		if n != victim {
			live = append(live, n)
		}
	}
	victim.pause()
	advanceLive(t, clk, 2*time.Second+time.Millisecond, live...)
	waitFor(t, "the dead node leaves every partition", func() bool {
		for _, p := range m.queryConfig(t, "cure").Partitions {
			if slices.Contains(members(p), victim.addr) {
				return false
			}
		}
		return true
	})
	after := m.queryConfig(t, "cure").Partitions
	for i, p := range after {
		old := before[i]
		if p.Ballot != 2 || !slices.Equal(p.LastDrops, []string{victim.addr}) || len(members(p)) != 2 || p.LastCommittedDecree != 20 {
			t.Fatalf("partition %v after the failure: %+v (was %+v)", p.Gpid, p, old)
		}
		if old.Primary == victim.addr {
			best := slices.Max(old.Secondaries)
			if p.Primary != best {
				t.Fatalf("partition %v: promoted %s, want %s (highest decrees)", p.Gpid, p.Primary, best)
			}
			waitFor(t, "promotion pushed", func() bool {
				return all[best].gotConfig(protocol.ConfigUpgradeToPrimary, p) && all[p.Secondaries[0]].gotConfig(protocol.ConfigUpgradeToPrimary, p)
			})
		} else {
			if p.Primary != old.Primary {
				t.Fatalf("partition %v: primary changed from %s to %s on a secondary's death", p.Gpid, old.Primary, p.Primary)
			}
			waitFor(t, "removal pushed", func() bool { return all[p.Primary].gotConfig(protocol.ConfigDowngradeToInactive, p) })
		}
	}
	checkHistory(t, nodes...)

	// A fourth node joins: each primary is asked to add it.
	d := startNode(t, metas)
	all[d.addr] = d
	waitFor(t, "learners asked for", func() bool {
		for _, p := range after {
			got := all[p.Primary].receivedOf(protocol.ConfigAddSecondary, p.Gpid)
			if len(got) == 0 || got[0].Node != d.addr || !reflect.DeepEqual(got[0].Config, p) {
				return false
			}
		}
		return true
	})
	// A primary that dropped its learner (a failed prepare) does not tell
	// the meta: the meta asks the primaries again while the learners are
	// in progress.
	advanceLive(t, clk, 10*time.Second+time.Millisecond, append(slices.Clone(live), d)...)
	waitFor(t, "learners asked for again", func() bool {
		for _, p := range after {
			got := all[p.Primary].receivedOf(protocol.ConfigAddSecondary, p.Gpid)
			if len(got) < 2 || got[1].Node != d.addr || !reflect.DeepEqual(got[1].Config, p) {
				return false
			}
		}
		return true
	})
	page := getJSON[map[string]any](t, "http://"+srv.HTTPAddr()+"/meta/app?name=cure", http.StatusOK)
	for _, raw := range page["partitions"].([]any) {
		if pp := raw.(map[string]any); pp["learner"] != d.addr {
			t.Fatalf("page shows learner %v, want %s", pp["learner"], d.addr)
		}
	}
	// Clients and admincli (app -d) see the learners in the configuration query.
	var qc protocol.QueryConfigResponse
	if err := m.call(ctxT(t), protocol.ServiceMeta, protocol.MethodQueryConfig, &protocol.QueryConfigRequest{AppName: "cure"}, &qc); err != nil {
		t.Fatal(err)
	}
	if len(qc.Learners) != len(qc.Partitions) {
		t.Fatalf("query config lists %d learners for %d partitions", len(qc.Learners), len(qc.Partitions))
	}
	for i, l := range qc.Learners {
		if l != d.addr {
			t.Fatalf("query config: partition %d learner %q, want %s", i, l, d.addr)
		}
	}
	// The primary of partition 0 reports the learner caught up.
	p0 := after[0]
	next := p0
	next.Ballot++
	next.Secondaries = append(slices.Clone(p0.Secondaries), d.addr)
	var resp protocol.UpdateConfigurationResponse
	err := m.call(ctxT(t), protocol.ServiceMetaInternal, protocol.MethodUpdateConfiguration,
		&protocol.UpdateConfigurationRequest{Type: protocol.ConfigUpgradeToSecondary, Node: d.addr, Config: next}, &resp)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Config.Ballot != 3 || !slices.Equal(resp.Config.Secondaries, next.Secondaries) || resp.Config.Primary != p0.Primary {
		t.Fatalf("upgrade to secondary answered %+v", resp.Config)
	}
	waitFor(t, "upgrade pushed to the new secondary", func() bool { return d.gotConfig(protocol.ConfigUpgradeToSecondary, resp.Config) })
	checkHistory(t, append(live, d)...)
	waitFor(t, "metrics", func() bool {
		body := metricsText(t, srv)
		for _, want := range []string{
			`pegasus_meta_reconfigurations_total{type="CT_UPGRADE_TO_SECONDARY"} 1`,
			`pegasus_meta_reconfigurations_total{type="CT_ADD_SECONDARY"} 4`,
			"\npegasus_meta_dead_nodes 1\n",
			"\npegasus_meta_under_replicated_partitions 3\n",
			"\npegasus_meta_learners_in_progress 3\n",
		} {
			if !strings.Contains(body, want) {
				return false
			}
		}
		return true
	})
}

// TestUpdateConfiguration: the meta accepts a primary's change only with
// the next ballot, from the stored primary, matching its type; the answer
// is the persisted configuration, pushed to every member and the removed
// node; a retry gets the same answer.
func TestUpdateConfiguration(t *testing.T) {
	srv := start(t, localConfig(t.TempDir()))
	metas := []string{srv.RPCAddr()}
	m := &metaCaller{c: newClient(t), metas: metas}
	nodes := []*fakeNode{startNode(t, metas), startNode(t, metas), startNode(t, metas)}
	for _, n := range nodes {
		n.waitBeacons(t, 1)
	}
	all := byAddr(nodes...)
	m.createApp(t, "uc", 1)
	cur := m.queryConfig(t, "uc").Partitions[0]
	primary, s1, s2 := cur.Primary, cur.Secondaries[0], cur.Secondaries[1]
	update := func(typ protocol.ConfigType, node string, c protocol.PartitionConfiguration) (protocol.PartitionConfiguration, error) {
		var resp protocol.UpdateConfigurationResponse
		err := m.call(ctxT(t), protocol.ServiceMetaInternal, protocol.MethodUpdateConfiguration,
			&protocol.UpdateConfigurationRequest{Type: typ, Node: node, Config: c}, &resp)
		return resp.Config, err
	}
	without := func(c protocol.PartitionConfiguration, ballot protocol.Ballot, node string) protocol.PartitionConfiguration {
		c.Ballot = ballot
		c.Secondaries = slices.DeleteFunc(slices.Clone(c.Secondaries), func(s string) bool { return s == node })
		return c
	}
	wantErr := func(what string, err error, code protocol.ErrorCode) {
		t.Helper()
		var pe *protocol.Error
		if !errors.As(err, &pe) || pe.Code != code {
			t.Fatalf("%s: %v, want %v", what, err, code)
		}
		if code != protocol.CodeInvalidArgument && code != protocol.CodeAppNotExist && !strings.Contains(pe.Message, "stored configuration: gpid "+cur.Gpid.String()) {
			t.Fatalf("%s: message %q does not describe the stored configuration", what, pe.Message)
		}
	}
	_, err := update(protocol.ConfigDowngradeToInactive, s2, without(cur, cur.Ballot+2, s2))
	wantErr("ballot too high", err, protocol.CodeStaleBallot)
	_, err = update(protocol.ConfigDowngradeToInactive, s2, without(cur, cur.Ballot, s2))
	wantErr("same ballot, other change", err, protocol.CodeStaleBallot)
	notPrimary := without(cur, cur.Ballot+1, s2)
	notPrimary.Primary = s1
	_, err = update(protocol.ConfigDowngradeToInactive, s2, notPrimary)
	wantErr("proposed by a secondary", err, protocol.CodeInvalidState)
	_, err = update(protocol.ConfigDowngradeToInactive, primary, without(cur, cur.Ballot+1, primary))
	wantErr("remove the primary", err, protocol.CodeInvalidState)
	mismatch := without(cur, cur.Ballot+1, s2)
	mismatch.Secondaries = nil
	_, err = update(protocol.ConfigDowngradeToInactive, s2, mismatch)
	wantErr("secondaries do not match", err, protocol.CodeInvalidState)
	_, err = update(protocol.ConfigUpgradeToSecondary, s1, without(cur, cur.Ballot+1, ""))
	wantErr("upgrade a member", err, protocol.CodeInvalidState)
	_, err = update(protocol.ConfigAssignPrimary, primary, without(cur, cur.Ballot+1, ""))
	wantErr("type not accepted", err, protocol.CodeInvalidArgument)
	gone := without(cur, cur.Ballot+1, s2)
	gone.Gpid.AppID = 99
	_, err = update(protocol.ConfigDowngradeToInactive, s2, gone)
	wantErr("unknown table", err, protocol.CodeAppNotExist)
	if got := m.queryConfig(t, "uc").Partitions[0]; !reflect.DeepEqual(got, cur) {
		t.Fatalf("a refused change altered the configuration: %+v", got)
	}

	// Accepted: s2 leaves; everyone concerned is told.
	got, err := update(protocol.ConfigDowngradeToInactive, s2, without(cur, cur.Ballot+1, s2))
	if err != nil {
		t.Fatal(err)
	}
	want := without(cur, cur.Ballot+1, s2)
	want.LastDrops = []string{s2}
	if !reflect.DeepEqual(got, want) || !reflect.DeepEqual(m.queryConfig(t, "uc").Partitions[0], want) {
		t.Fatalf("downgrade answered %+v, stored %+v, want %+v", got, m.queryConfig(t, "uc").Partitions[0], want)
	}
	for _, n := range []string{primary, s1, s2} {
		waitFor(t, "downgrade pushed to "+n, func() bool { return all[n].gotConfig(protocol.ConfigDowngradeToInactive, want) })
	}
	// A retry is answered with the persisted configuration.
	if again, err := update(protocol.ConfigDowngradeToInactive, s2, without(cur, cur.Ballot+1, s2)); err != nil || !reflect.DeepEqual(again, want) {
		t.Fatalf("retry: %+v, %v", again, err)
	}
	// Under-replicated now: the only node without a replica learns again.
	waitFor(t, "learner asked for", func() bool {
		got := all[primary].receivedOf(protocol.ConfigAddSecondary, want.Gpid)
		return len(got) > 0 && got[0].Node == s2
	})
	up := want
	up.Ballot++
	up.Secondaries = []string{s1, s2}
	got, err = update(protocol.ConfigUpgradeToSecondary, s2, up)
	if err != nil {
		t.Fatal(err)
	}
	up.LastDrops = nil
	if !reflect.DeepEqual(got, up) {
		t.Fatalf("upgrade answered %+v, want %+v", got, up)
	}
	checkHistory(t, nodes...)
}

// TestRestartedPrimary: a primary that restarted (new start time in its
// beacon), or reports its replica inactive at the stored ballot, gets its
// configuration again under a new ballot, members unchanged.
func TestRestartedPrimary(t *testing.T) {
	srv := start(t, localConfig(t.TempDir()))
	metas := []string{srv.RPCAddr()}
	m := &metaCaller{c: newClient(t), metas: metas}
	nodes := []*fakeNode{startNode(t, metas), startNode(t, metas), startNode(t, metas)}
	for _, n := range nodes {
		n.waitBeacons(t, 1)
	}
	all := byAddr(nodes...)
	m.createApp(t, "rs", 4)
	before := m.queryConfig(t, "rs").Partitions
	restarted := all[before[0].Primary]
	restarted.startMs.Add(1000)
	waitFor(t, "restarted primary re-sent", func() bool {
		for _, p := range m.queryConfig(t, "rs").Partitions {
			if p.Primary == restarted.addr && p.Ballot != 2 {
				return false
			}
		}
		return true
	})
	for i, p := range m.queryConfig(t, "rs").Partitions {
		old := before[i]
		if p.Primary != old.Primary || !slices.Equal(p.Secondaries, old.Secondaries) {
			t.Fatalf("partition %v members changed: %+v, was %+v", p.Gpid, p, old)
		}
		if p.Primary != restarted.addr {
			if p.Ballot != 1 {
				t.Fatalf("partition %v of another primary changed: %+v", p.Gpid, p)
			}
			continue
		}
		for _, n := range members(p) {
			waitFor(t, "new ballot pushed", func() bool { return all[n].gotConfig(protocol.ConfigAssignPrimary, p) })
		}
	}
	// Another primary reports its replica inactive at the stored ballot.
	var other *fakeNode
	for _, n := range nodes {
		if n != restarted && slices.ContainsFunc(before, func(p protocol.PartitionConfiguration) bool { return p.Primary == n.addr }) {
			other = n
			break
		}
	}
	reps := report(other, before, func(protocol.PartitionConfiguration, string) protocol.Decree { return 5 })
	for i := range reps {
		reps[i].Status = protocol.PartitionInactive
	}
	other.configSync(t, reps...)
	waitFor(t, "inactive primary re-sent", func() bool {
		for _, p := range m.queryConfig(t, "rs").Partitions {
			if p.Primary == other.addr && p.Ballot != 2 {
				return false
			}
		}
		return true
	})
	checkHistory(t, nodes...)
}

// TestFrozenWithFewNodes: with two nodes, one dead is not more than half:
// reconfiguration is frozen and the dead primary keeps its partitions.
func TestFrozenWithFewNodes(t *testing.T) {
	clk := newFakeClock()
	cfg := localConfig(t.TempDir())
	cfg.Clock = clk.Now
	srv := start(t, cfg)
	metas := []string{srv.RPCAddr()}
	m := &metaCaller{c: newClient(t), metas: metas}
	a, b := startNode(t, metas), startNode(t, metas)
	a.waitBeacons(t, 1)
	b.waitBeacons(t, 1)
	m.createApp(t, "frozen", 2)
	before := m.queryConfig(t, "frozen").Partitions
	a.pause()
	advanceLive(t, clk, 3*time.Second, b)
	waitFor(t, "frozen gauge", func() bool {
		return strings.Contains(metricsText(t, srv), "\npegasus_meta_reconfiguration_frozen 1\n")
	})
	b.waitBeacons(t, 2) // a few more guardian rounds
	if got := m.queryConfig(t, "frozen").Partitions; !reflect.DeepEqual(got, before) {
		t.Fatalf("frozen cluster changed configurations:\n%+v\nwas\n%+v", got, before)
	}
}

// TestLeaderFailoverDuringCure: a node dies, the leader is replaced while
// the guardian handles it, and the new leader finishes the job. Over the
// whole history of pushed configurations no partition has two
// memberships in one ballot, and the store ends at the highest pushed one.
func TestLeaderFailoverDuringCure(t *testing.T) {
	t.Run("LocalStore", func(t *testing.T) {
		dir := t.TempDir()
		testLeaderFailoverDuringCure(t, func() embed.Config { return localConfig(dir) })
	})
	t.Run("ZooKeeper", func(t *testing.T) {
		zk := zktest.Start(t)
		testLeaderFailoverDuringCure(t, func() embed.Config { return zkConfig(zk.Addr(), "/pegasus") })
	})
}

func testLeaderFailoverDuringCure(t *testing.T, mk func() embed.Config) {
	clk := newFakeClock()
	var servers []*embed.Server
	for range 2 {
		cfg := mk()
		cfg.Clock = clk.Now
		servers = append(servers, start(t, cfg))
	}
	waitFor(t, "a leader", func() bool { return len(leaders(servers)) == 1 })
	leader := leaders(servers)[0]
	metas := []string{servers[0].RPCAddr(), servers[1].RPCAddr()}
	m := &metaCaller{c: newClient(t), metas: metas}
	nodes := []*fakeNode{startNode(t, metas), startNode(t, metas), startNode(t, metas), startNode(t, metas)}
	for _, n := range nodes {
		n.waitBeacons(t, 1)
	}
	m.createApp(t, "fo", 8)
	before := m.queryConfig(t, "fo").Partitions
	victim, live := nodes[0], nodes[1:]
	for _, n := range nodes {
		n.configSync(t, report(n, before, func(protocol.PartitionConfiguration, string) protocol.Decree { return 3 })...)
	}
	victim.pause()
	advanceLive(t, clk, 2*time.Second+time.Millisecond, live...)
	// Replace the leader as soon as the guardian has started on it.
	waitFor(t, "the guardian acts", func() bool {
		for _, n := range live {
			for _, p := range n.received() {
				if p.Config.Ballot > 1 {
					return true
				}
			}
		}
		return false
	})
	leader.Close()
	waitFor(t, "a new leader", func() bool { return len(leaders(servers)) == 1 && leaders(servers)[0] != leader })
	// The new leader holds every node pending for a grace period.
	advanceLive(t, clk, 2*time.Second+time.Millisecond, live...)
	waitFor(t, "the dead node leaves every partition", func() bool {
		for _, p := range m.queryConfig(t, "fo").Partitions {
			if slices.Contains(members(p), victim.addr) || p.Primary == "" {
				return false
			}
		}
		return true
	})
	// The fake primaries never finish learning, so partitions that lost
	// the node keep 2 members (and a learner in progress).
	latest := checkHistory(t, nodes...)
	for i, p := range m.queryConfig(t, "fo").Partitions {
		had := slices.Contains(members(before[i]), victim.addr)
		if (had && (p.Ballot < 2 || len(members(p)) != 2)) || (!had && !reflect.DeepEqual(p, before[i])) {
			t.Fatalf("partition %v after the failover: %+v (was %+v)", p.Gpid, p, before[i])
		}
		waitFor(t, "the stored configuration pushed", func() bool {
			latest = checkHistory(t, nodes...)
			return latest[p.Gpid].Ballot == p.Ballot
		})
		if l := latest[p.Gpid]; l.Primary != p.Primary || !slices.Equal(l.Secondaries, p.Secondaries) {
			t.Fatalf("partition %v: highest pushed %+v, stored %+v", p.Gpid, l, p)
		}
	}
}
