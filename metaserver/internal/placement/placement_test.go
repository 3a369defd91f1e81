package placement

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/pegasus-go/pegasus/metaserver/internal/membership"
	"github.com/pegasus-go/pegasus/metaserver/internal/state"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

const (
	alive   = membership.StateAlive
	dead    = membership.StateDead
	pending = membership.StatePending
)

func gp(pidx int32) protocol.Gpid { return protocol.Gpid{AppID: 1, PartitionIndex: pidx} }

// cfg parses "primary|sec1,sec2|drop1,drop2@ballot" into partition pidx of
// app 1 with 3 replicas.
func cfg(pidx int32, s string) protocol.PartitionConfiguration {
	body, ballot, _ := strings.Cut(s, "@")
	f := strings.Split(body, "|")
	for len(f) < 3 {
		f = append(f, "")
	}
	split := func(s string) []string {
		if s == "" {
			return nil
		}
		return strings.Split(s, ",")
	}
	var b int64
	fmt.Sscan(ballot, &b)
	return protocol.PartitionConfiguration{Gpid: gp(pidx), Ballot: protocol.Ballot(b), Primary: f[0],
		Secondaries: split(f[1]), LastDrops: split(f[2]), MaxReplicaCount: 3}
}

func fmtCfg(c protocol.PartitionConfiguration) string {
	return fmt.Sprintf("%s|%s|%s@%d", c.Primary, strings.Join(c.Secondaries, ","), strings.Join(c.LastDrops, ","), c.Ballot)
}

func fmtProp(p Proposal) string {
	s := fmt.Sprintf("%d %s %s %s", p.New.Gpid.PartitionIndex, p.Type, p.Node, fmtCfg(p.New))
	if len(p.Removed) > 0 {
		s += " removed=" + strings.Join(p.Removed, ",")
	}
	if len(p.LastMembers) > 0 {
		s += " last=" + strings.Join(p.LastMembers, ",")
	}
	return s
}

func nodes(spec string) map[string]membership.State {
	out := map[string]membership.State{}
	for _, f := range strings.Fields(spec) {
		name, st, _ := strings.Cut(f, "=")
		switch st {
		case "", "alive":
			out[name] = alive
		case "dead":
			out[name] = dead
		case "pending":
			out[name] = pending
		}
	}
	return out
}

func rep(ballot protocol.Ballot, committed, prepared protocol.Decree) protocol.ReplicaInfo {
	return protocol.ReplicaInfo{Ballot: ballot, Status: protocol.PartitionSecondary, LastCommitted: committed, LastPrepared: prepared}
}

func failedRep(ballot protocol.Ballot, committed, prepared protocol.Decree) protocol.ReplicaInfo {
	r := rep(ballot, committed, prepared)
	r.Status = protocol.PartitionError
	return r
}

func primRep(ballot protocol.Ballot, committed, prepared protocol.Decree) protocol.ReplicaInfo {
	r := rep(ballot, committed, prepared)
	r.Status = protocol.PartitionPrimary
	return r
}

func checkSpread(t *testing.T, n int, cfgs []protocol.PartitionConfiguration) {
	t.Helper()
	prim, total := map[string]int{}, map[string]int{}
	for i := range n {
		a := fmt.Sprintf("n%d:1", i)
		prim[a], total[a] = 0, 0
	}
	for _, c := range cfgs {
		members := Members(c)
		if len(members) != min(n, 3) || c.Ballot != 1 || len(slices.Compact(slices.Sorted(slices.Values(members)))) != len(members) {
			t.Fatalf("partition %v: %s, want %d distinct members at ballot 1", c.Gpid, fmtCfg(c), min(n, 3))
		}
		prim[c.Primary]++
		for _, m := range members {
			total[m]++
		}
	}
	spread := func(m map[string]int) int {
		v := slices.Collect(maps.Values(m))
		return slices.Max(v) - slices.Min(v)
	}
	if spread(prim) > 1 || spread(total) > 1 {
		t.Fatalf("uneven: primaries %v, replicas %v", prim, total)
	}
}

// TestPlaceAppSpread: 3 replicas over 3..8 nodes, tables of 1..64
// partitions, one table and then a second on top: every partition has
// distinct members and the per-node counts of primaries and of replicas
// differ by at most one.
func TestPlaceAppSpread(t *testing.T) {
	for n := 3; n <= 8; n++ {
		for parts := int32(1); parts <= 64; parts++ {
			var spec []string
			for i := range n {
				spec = append(spec, fmt.Sprintf("n%d:1", i))
			}
			c := Cluster{Nodes: nodes(strings.Join(spec, " "))}
			first := PlaceApp(c, 1, parts, 3)
			checkSpread(t, n, first)
			c.Partitions = first
			second := PlaceApp(c, 2, 2*parts, 3)
			checkSpread(t, n, append(slices.Clone(first), second...))
		}
	}
}

func TestPlaceApp(t *testing.T) {
	got := PlaceApp(Cluster{Nodes: nodes("c:1 a:1 b:1 d:1")}, 1, 4, 3)
	var s []string
	for _, c := range got {
		s = append(s, fmtCfg(c))
	}
	want := []string{"a:1|b:1,c:1|@1", "d:1|a:1,b:1|@1", "c:1|d:1,a:1|@1", "b:1|c:1,d:1|@1"}
	if !slices.Equal(s, want) {
		t.Fatalf("4 nodes: %q, want %q", s, want)
	}
	// Fewer alive nodes than replicas: as many as there are; pending and
	// dead nodes are never chosen.
	got = PlaceApp(Cluster{Nodes: nodes("a:1 b:1 c:1=pending d:1=dead")}, 1, 2, 3)
	if fmtCfg(got[0]) != "a:1|b:1|@1" || fmtCfg(got[1]) != "b:1|a:1|@1" {
		t.Fatalf("2 alive nodes: %s %s", fmtCfg(got[0]), fmtCfg(got[1]))
	}
	got = PlaceApp(Cluster{Nodes: nodes("a:1=pending")}, 1, 1, 3)
	if fmtCfg(got[0]) != "||@0" || got[0].MaxReplicaCount != 3 {
		t.Fatalf("no alive node: %+v", got[0])
	}
	got = PlaceApp(Cluster{Nodes: nodes("a:1 b:1")}, 1, 1, 1)
	if fmtCfg(got[0]) != "a:1||@1" {
		t.Fatalf("one replica: %s", fmtCfg(got[0]))
	}
}

func TestFrozen(t *testing.T) {
	for _, tc := range []struct {
		nodes string
		ratio float64
		want  bool
	}{
		{"", 0.5, true},
		{"a", 0.5, false},
		{"a=dead", 0.5, true},
		{"a b=dead", 0.5, true}, // 1 of 2 is not more than half
		{"a b c=dead", 0.5, false},
		{"a b=pending c=dead", 0.5, false}, // pending counts as alive
		{"a b=dead c=dead", 0.5, true},
		{"a b=dead c=dead", 0.3, false},
		{"a=dead b=dead", 0, true},
		{"a b c d=dead", 0.75, true}, // exactly the ratio: frozen
		{"a b c d e=dead", 0.75, false},
	} {
		if got := Frozen(nodes(tc.nodes), tc.ratio); got != tc.want {
			t.Errorf("Frozen(%q, %v) = %v, want %v", tc.nodes, tc.ratio, got, tc.want)
		}
	}
}

func TestCure(t *testing.T) {
	type reports map[protocol.Gpid]map[string]protocol.ReplicaInfo
	tests := []struct {
		name      string
		nodes     string
		parts     []protocol.PartitionConfiguration
		reports   reports
		drops     map[protocol.Gpid]state.Drops
		learners  map[protocol.Gpid]Learner
		tried     map[protocol.Gpid][]string
		restarted string
		policy    Policy
		want      []string
	}{
		{
			name:  "healthy: nothing to do",
			nodes: "a b c d",
			parts: []protocol.PartitionConfiguration{cfg(0, "a|b,c|@4")},
		},
		{
			name:    "dead primary: the secondary with the highest committed decree",
			nodes:   "a=dead b c d",
			parts:   []protocol.PartitionConfiguration{cfg(0, "a|b,c|@4")},
			reports: reports{gp(0): {"b": rep(4, 10, 12), "c": rep(4, 11, 11)}},
			want:    []string{"0 CT_UPGRADE_TO_PRIMARY c c|b|a@5 removed=a"},
		},
		{
			name:    "dead primary: equal committed, the highest prepared",
			nodes:   "a=dead b c",
			parts:   []protocol.PartitionConfiguration{cfg(0, "a|b,c|@4")},
			reports: reports{gp(0): {"b": rep(4, 10, 13), "c": rep(4, 10, 12)}},
			want:    []string{"0 CT_UPGRADE_TO_PRIMARY b b|c|a@5 removed=a"},
		},
		{
			name:  "dead primary: no reports, the smallest address",
			nodes: "a=dead b c",
			parts: []protocol.PartitionConfiguration{cfg(0, "a|c,b|@4")},
			want:  []string{"0 CT_UPGRADE_TO_PRIMARY b b|c|a@5 removed=a"},
		},
		{
			name:    "dead primary and a dead secondary: both removed in one ballot, primary last in drops",
			nodes:   "a=dead b c=dead d e",
			parts:   []protocol.PartitionConfiguration{cfg(0, "a|b,c|x@4")},
			reports: reports{gp(0): {"c": rep(4, 99, 99)}},
			want:    []string{"0 CT_UPGRADE_TO_PRIMARY b b||x,c,a@5 removed=c,a"},
		},
		{
			// Regression: a primary whose plog write failed stays alive
			// (its node beacons) but serves nothing; the partition was
			// stuck with it forever.
			name:    "failed primary (PS_ERROR) on a live node: replaced like a dead one",
			nodes:   "a b c d",
			parts:   []protocol.PartitionConfiguration{cfg(0, "a|b,c|@4")},
			reports: reports{gp(0): {"a": failedRep(3, 10, 12), "b": rep(4, 10, 12), "c": rep(4, 11, 11)}},
			want:    []string{"0 CT_UPGRADE_TO_PRIMARY c c|b|a@5 removed=a"},
		},
		{
			name:    "failed secondary (PS_ERROR): removed, never promoted",
			nodes:   "a=dead b c d",
			parts:   []protocol.PartitionConfiguration{cfg(0, "a|b,c|@4")},
			reports: reports{gp(0): {"b": rep(4, 10, 12), "c": failedRep(4, 11, 11)}},
			want:    []string{"0 CT_UPGRADE_TO_PRIMARY b b||c,a@5 removed=c,a"},
		},
		{
			name:    "failed secondary (PS_ERROR) under a live primary: removed",
			nodes:   "a b c d",
			parts:   []protocol.PartitionConfiguration{cfg(0, "a|b,c|@4")},
			reports: reports{gp(0): {"a": primRep(4, 10, 12), "c": failedRep(4, 11, 11)}},
			want:    []string{"0 CT_DOWNGRADE_TO_INACTIVE c a|b|c@5 removed=c"},
		},
		{
			name:  "dead primary, only a pending secondary: wait",
			nodes: "a=dead b=pending c=dead d e f g",
			parts: []protocol.PartitionConfiguration{cfg(0, "a|b,c|@4")},
		},
		{
			name:  "dead primary, promoted node taken out of last drops",
			nodes: "a=dead b c",
			parts: []protocol.PartitionConfiguration{cfg(0, "a|b|b@4")},
			want:  []string{"0 CT_UPGRADE_TO_PRIMARY b b||a@5 removed=a"},
		},
		{
			name:  "every member dead: all dropped, evidence kept",
			nodes: "a=dead b=dead c=dead d e f g",
			parts: []protocol.PartitionConfiguration{cfg(0, "a|b,c|@4")},
			want:  []string{"0 CT_DOWNGRADE_TO_INACTIVE a ||b,c,a@5 removed=b,c,a last=a,b,c"},
		},
		{
			name:  "dead secondary removed",
			nodes: "a b c=dead d",
			parts: []protocol.PartitionConfiguration{cfg(0, "a|b,c|@4")},
			want:  []string{"0 CT_DOWNGRADE_TO_INACTIVE c a|b|c@5 removed=c"},
		},
		{
			name:  "pending secondary kept",
			nodes: "a b c=pending",
			parts: []protocol.PartitionConfiguration{cfg(0, "a|b,c|@4")},
		},
		{
			name:  "frozen: nothing moves",
			nodes: "a=dead b c=dead d=dead",
			parts: []protocol.PartitionConfiguration{cfg(0, "a|b|@4"), cfg(1, "b|c|@2"), cfg(2, "b||@2"), cfg(3, "||a@3")},
		},
		{
			name:      "frozen: a restarted primary is still re-sent",
			nodes:     "a b=dead c=dead d=dead",
			parts:     []protocol.PartitionConfiguration{cfg(0, "a|b|@4")},
			restarted: "a",
			want:      []string{"0 CT_ASSIGN_PRIMARY a a|b|@5"},
		},
		{
			name:   "frozen at ratio 0.3 is not frozen at 0.2",
			nodes:  "a b=dead c=dead",
			parts:  []protocol.PartitionConfiguration{cfg(0, "a|b|@4")},
			policy: Policy{MinAliveRatio: 0.2},
			want:   []string{"0 CT_DOWNGRADE_TO_INACTIVE b a||b@5 removed=b"},
		},
		{
			name:      "restarted primary: new ballot, same members",
			nodes:     "a b c",
			parts:     []protocol.PartitionConfiguration{cfg(0, "a|b,c|@4"), cfg(1, "b|a,c|@2")},
			restarted: "a",
			want:      []string{"0 CT_ASSIGN_PRIMARY a a|b,c|@5"},
		},
		{
			name:    "primary reports its replica inactive at the stored ballot",
			nodes:   "a b c",
			parts:   []protocol.PartitionConfiguration{cfg(0, "a|b,c|@4"), cfg(1, "a|b,c|@4")},
			reports: reports{gp(0): {"a": {Ballot: 4, Status: protocol.PartitionInactive}}, gp(1): {"a": {Ballot: 3, Status: protocol.PartitionInactive}}},
			want:    []string{"0 CT_ASSIGN_PRIMARY a a|b,c|@5"},
		},
		{
			name:  "pending primary: wait",
			nodes: "a=pending b c d",
			parts: []protocol.PartitionConfiguration{cfg(0, "a|b|@4")},
		},
		{
			name:  "over-replicated: the secondary on the most loaded node leaves",
			nodes: "a b c d",
			parts: []protocol.PartitionConfiguration{cfg(0, "a|b,c,d|@4"), cfg(1, "c|a,b|@1"), cfg(2, "c|a,b|@1")},
			want:  []string{"0 CT_DOWNGRADE_TO_INACTIVE c a|b,d|c@5 removed=c"},
		},
		{
			name:  "under-replicated: least loaded node without a replica learns",
			nodes: "a b c d e",
			parts: []protocol.PartitionConfiguration{cfg(0, "a|b|@4"), cfg(1, "c|d|@1")},
			want:  []string{"0 CT_ADD_SECONDARY e a|b|@4", "1 CT_ADD_SECONDARY b c|d|@1"},
		},
		{
			name:     "under-replicated: one learner per partition at a time",
			nodes:    "a b c d",
			parts:    []protocol.PartitionConfiguration{cfg(0, "a|b|@4")},
			learners: map[protocol.Gpid]Learner{gp(0): {Node: "c"}},
		},
		{
			name:     "under-replicated: a learner that timed out is retried elsewhere",
			nodes:    "a b c d",
			parts:    []protocol.PartitionConfiguration{cfg(0, "a|b|@4")},
			learners: map[protocol.Gpid]Learner{gp(0): {Node: "c", Expired: true}},
			tried:    map[protocol.Gpid][]string{gp(0): {"c"}},
			want:     []string{"0 CT_ADD_SECONDARY d a|b|@4"},
		},
		{
			name:     "under-replicated: a learner whose node died is replaced",
			nodes:    "a b c=dead d e",
			parts:    []protocol.PartitionConfiguration{cfg(0, "a|b|@4")},
			learners: map[protocol.Gpid]Learner{gp(0): {Node: "c"}},
			want:     []string{"0 CT_ADD_SECONDARY d a|b|@4"},
		},
		{
			name:  "under-replicated: every candidate tried, start over",
			nodes: "a b c",
			parts: []protocol.PartitionConfiguration{cfg(0, "a|b|@4")},
			tried: map[protocol.Gpid][]string{gp(0): {"c"}},
			want:  []string{"0 CT_ADD_SECONDARY c a|b|@4"},
		},
		{
			name:  "under-replicated: no node without a replica",
			nodes: "a b",
			parts: []protocol.PartitionConfiguration{cfg(0, "a|b|@4")},
		},
		{
			name:     "learners bounded cluster-wide",
			nodes:    "a b c d e",
			parts:    []protocol.PartitionConfiguration{cfg(0, "a|b|@4"), cfg(1, "a|b|@4"), cfg(2, "a|b|@4")},
			learners: map[protocol.Gpid]Learner{gp(0): {Node: "c"}},
			policy:   Policy{MinAliveRatio: 0.5, MaxLearners: 2},
			want:     []string{"1 CT_ADD_SECONDARY d a|b|@4"},
		},
		{
			name:  "never served: placed on alive nodes",
			nodes: "a b=pending c",
			parts: []protocol.PartitionConfiguration{cfg(0, "||@0")},
			want:  []string{"0 CT_ASSIGN_PRIMARY a a|c|@1"},
		},
		{
			name:    "DDD: every last member reported, highest ballot wins",
			nodes:   "a b c d",
			parts:   []protocol.PartitionConfiguration{cfg(0, "||b,c,a@5")},
			drops:   map[protocol.Gpid]state.Drops{gp(0): {LastMembers: []string{"a", "b", "c"}}},
			reports: reports{gp(0): {"a": rep(4, 10, 10), "b": rep(3, 20, 20), "c": rep(4, 10, 11)}},
			want:    []string{"0 CT_ASSIGN_PRIMARY c c||b,a@6"},
		},
		{
			name:    "DDD: equal ballots and committed, highest prepared, then smallest address",
			nodes:   "a b c",
			parts:   []protocol.PartitionConfiguration{cfg(0, "||a,b,c@5")},
			drops:   map[protocol.Gpid]state.Drops{gp(0): {LastMembers: []string{"c", "b", "a"}}},
			reports: reports{gp(0): {"a": rep(4, 10, 12), "b": rep(4, 10, 12), "c": rep(4, 10, 11)}},
			want:    []string{"0 CT_ASSIGN_PRIMARY a a||b,c@6"},
		},
		{
			name:    "DDD: a last member has not reported: unsafe, wait",
			nodes:   "a b c d",
			parts:   []protocol.PartitionConfiguration{cfg(0, "||b,c,a@5")},
			drops:   map[protocol.Gpid]state.Drops{gp(0): {LastMembers: []string{"a", "b", "c"}}},
			reports: reports{gp(0): {"a": rep(4, 10, 10), "b": rep(4, 10, 10)}},
		},
		{
			name:    "DDD: a last member is dead: unsafe, wait",
			nodes:   "a b c=dead d e f",
			parts:   []protocol.PartitionConfiguration{cfg(0, "||b,c,a@5")},
			drops:   map[protocol.Gpid]state.Drops{gp(0): {LastMembers: []string{"a", "b", "c"}}},
			reports: reports{gp(0): {"a": rep(4, 10, 10), "b": rep(4, 10, 10), "c": rep(4, 10, 10)}},
		},
		{
			name:    "DDD: a last member is pending: wait",
			nodes:   "a b c=pending",
			parts:   []protocol.PartitionConfiguration{cfg(0, "||b,c,a@5")},
			drops:   map[protocol.Gpid]state.Drops{gp(0): {LastMembers: []string{"a", "b", "c"}}},
			reports: reports{gp(0): {"a": rep(4, 10, 10), "b": rep(4, 10, 10), "c": rep(4, 10, 10)}},
		},
		{
			name:    "DDD without a record: the last dropped node is the last member",
			nodes:   "a b",
			parts:   []protocol.PartitionConfiguration{cfg(0, "||b,a@2"), cfg(1, "||a,b@2")},
			reports: reports{gp(0): {"a": rep(1, 0, 0)}, gp(1): {"a": rep(1, 0, 0)}},
			want:    []string{"0 CT_ASSIGN_PRIMARY a a||b@3"},
		},
		{
			name:  "no primary but secondaries: promote",
			nodes: "a b c",
			parts: []protocol.PartitionConfiguration{cfg(0, "|b,c|a@3")},
			want:  []string{"0 CT_UPGRADE_TO_PRIMARY b b|c|a@4"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pol := tt.policy
			if pol == (Policy{}) {
				pol = Policy{MinAliveRatio: DefaultMinAliveRatio}
			}
			c := Cluster{Nodes: nodes(tt.nodes), Partitions: tt.parts, Reports: tt.reports, Drops: tt.drops,
				Learners: tt.learners, Tried: tt.tried, Policy: pol}
			if tt.restarted != "" {
				c.Restarted = map[string]bool{}
				for _, n := range strings.Fields(tt.restarted) {
					c.Restarted[n] = true
				}
			}
			var got []string
			for _, p := range Cure(c) {
				got = append(got, fmtProp(p))
				if p.Type != protocol.ConfigAddSecondary && p.New.Ballot != p.Old.Ballot+1 {
					t.Errorf("%s: ballot %d -> %d", fmtProp(p), p.Old.Ballot, p.New.Ballot)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(tt.want, "\n  "))
			}
		})
	}
}

func TestCureDoesNotModifyInput(t *testing.T) {
	parts := []protocol.PartitionConfiguration{cfg(0, "a|b,c|x@4")}
	before := fmtCfg(parts[0])
	Cure(Cluster{Nodes: nodes("a=dead b c d"), Partitions: parts, Policy: Policy{MinAliveRatio: 0.5}})
	if fmtCfg(parts[0]) != before {
		t.Fatalf("input changed: %s, was %s", fmtCfg(parts[0]), before)
	}
}

func TestSafeRecovery(t *testing.T) {
	reports := map[string]protocol.ReplicaInfo{"a": rep(3, 5, 6), "b": rep(3, 5, 7), "c": rep(2, 9, 9)}
	lookup := func(n string) (protocol.ReplicaInfo, bool) { r, ok := reports[n]; return r, ok }
	for _, tc := range []struct {
		members []string
		want    string
		ok      bool
	}{
		{[]string{"a", "b", "c"}, "b", true},
		{[]string{"c"}, "c", true},
		{[]string{"a", "c"}, "a", true},
		{[]string{"a", "x"}, "", false},
		{nil, "", false},
	} {
		if got, ok := SafeRecovery(tc.members, lookup); got != tc.want || ok != tc.ok {
			t.Errorf("SafeRecovery(%v) = %q, %v; want %q, %v", tc.members, got, ok, tc.want, tc.ok)
		}
	}
}

func TestDropsAfter(t *testing.T) {
	reports := map[string]protocol.ReplicaInfo{"a": rep(4, 10, 12), "c": rep(4, 9, 9)}
	// Every member dropped: records for each and the last members.
	p := Proposal{New: cfg(0, "||b,c,a@5"), Removed: []string{"c", "a"}, LastMembers: []string{"a", "c"}}
	old := state.Drops{Replicas: []state.DroppedReplica{{Node: "b", Ballot: 2}, {Node: "z", Ballot: 1}}}
	got, changed := DropsAfter(old, p, reports, 77)
	want := state.Drops{LastMembers: []string{"a", "c"}, Replicas: []state.DroppedReplica{
		{Node: "b", Ballot: 2},
		{Node: "c", Ballot: 4, LastCommitted: 9, LastPrepared: 9, DropTimeMs: 77},
		{Node: "a", Ballot: 4, LastCommitted: 10, LastPrepared: 12, DropTimeMs: 77},
	}}
	if !changed || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("all dropped:\n got %+v\nwant %+v", got, want)
	}
	if len(old.Replicas) != 2 {
		t.Fatal("DropsAfter changed its input")
	}
	// Recovery: last members cleared, the new primary's record forgotten.
	rec := Proposal{New: cfg(0, "a||b,c@6")}
	got2, changed := DropsAfter(got, rec, nil, 80)
	if !changed || got2.LastMembers != nil || len(got2.Replicas) != 2 || got2.Replicas[0].Node != "b" || got2.Replicas[1].Node != "c" {
		t.Fatalf("after recovery: %+v", got2)
	}
	// A learner proposal changes nothing.
	if _, changed := DropsAfter(got2, Proposal{Type: protocol.ConfigAddSecondary, New: cfg(0, "a||b,c@6")}, nil, 81); changed {
		t.Fatal("an unchanged record reported as changed")
	}
}
