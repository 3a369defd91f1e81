package placement

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/pegasus-go/pegasus/metaserver/internal/membership"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

const (
	alive   = membership.StateAlive
	dead    = membership.StateDead
	pending = membership.StatePending
)

func pc(app, pidx int32, ballot protocol.Ballot, primary string, drops ...string) protocol.PartitionConfiguration {
	return protocol.PartitionConfiguration{
		Gpid: protocol.Gpid{AppID: app, PartitionIndex: pidx}, Ballot: ballot, Primary: primary,
		LastDrops: drops, MaxReplicaCount: 3,
	}
}

func primaries(cfgs []protocol.PartitionConfiguration) string {
	var b strings.Builder
	for i, c := range cfgs {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s@%d", cmpOr(c.Primary, "-"), c.Ballot)
	}
	return b.String()
}

func cmpOr(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func TestPlaceApp(t *testing.T) {
	tests := []struct {
		name       string
		nodes      map[string]membership.State
		existing   []protocol.PartitionConfiguration
		partitions int32
		want       string
	}{
		{
			name:       "even spread, address tie-break",
			nodes:      map[string]membership.State{"c:1": alive, "a:1": alive, "b:1": alive},
			partitions: 8,
			want:       "a:1@1 b:1@1 c:1@1 a:1@1 b:1@1 c:1@1 a:1@1 b:1@1",
		},
		{
			name:       "least loaded first across tables",
			nodes:      map[string]membership.State{"a:1": alive, "b:1": alive, "c:1": alive},
			existing:   []protocol.PartitionConfiguration{pc(1, 0, 1, "a:1"), pc(1, 1, 1, "a:1"), pc(1, 2, 1, "b:1")},
			partitions: 4,
			want:       "c:1@1 b:1@1 c:1@1 a:1@1",
		},
		{
			name:       "dead and pending nodes get nothing",
			nodes:      map[string]membership.State{"a:1": dead, "b:1": alive, "c:1": pending},
			partitions: 2,
			want:       "b:1@1 b:1@1",
		},
		{
			name:       "no alive node leaves partitions for the guardian",
			nodes:      map[string]membership.State{"a:1": dead},
			partitions: 2,
			want:       "-@0 -@0",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := PlaceApp(Cluster{Nodes: tt.nodes, Partitions: tt.existing}, 2, tt.partitions, 3)
			if s := primaries(got); s != tt.want {
				t.Fatalf("primaries %s, want %s", s, tt.want)
			}
			for i, c := range got {
				if c.Gpid != (protocol.Gpid{AppID: 2, PartitionIndex: int32(i)}) || c.MaxReplicaCount != 3 || len(c.Secondaries) != 0 {
					t.Fatalf("partition %d: %+v", i, c)
				}
			}
		})
	}
}

func TestPlaceAppBalance(t *testing.T) {
	nodes := map[string]membership.State{}
	for i := range 5 {
		nodes[fmt.Sprintf("n%d:1", i)] = alive
	}
	var all []protocol.PartitionConfiguration
	for app := int32(1); app <= 7; app++ {
		all = append(all, PlaceApp(Cluster{Nodes: nodes, Partitions: all}, app, 1<<(app%4), 3)...)
	}
	count := map[string]int{}
	for _, c := range all {
		count[c.Primary]++
	}
	lo, hi := len(all), 0
	for n := range nodes {
		lo, hi = min(lo, count[n]), max(hi, count[n])
	}
	if hi-lo > 1 {
		t.Fatalf("primaries per node %v: spread %d..%d", count, lo, hi)
	}
}

func describe(ps []Proposal) []string {
	var out []string
	for _, p := range ps {
		out = append(out, fmt.Sprintf("%v %v %s: %s@%d -> %s@%d drops=%v", p.New.Gpid, p.Type, p.Node,
			cmpOr(p.Old.Primary, "-"), p.Old.Ballot, cmpOr(p.New.Primary, "-"), p.New.Ballot, p.New.LastDrops))
	}
	return out
}

func TestCure(t *testing.T) {
	tests := []struct {
		name  string
		nodes map[string]membership.State
		parts []protocol.PartitionConfiguration
		want  []string
	}{
		{
			name:  "healthy cluster: nothing to do",
			nodes: map[string]membership.State{"a:1": alive, "b:1": alive},
			parts: []protocol.PartitionConfiguration{pc(1, 0, 1, "a:1"), pc(1, 1, 1, "b:1")},
		},
		{
			name:  "never served: least loaded alive node",
			nodes: map[string]membership.State{"a:1": alive, "b:1": alive},
			parts: []protocol.PartitionConfiguration{pc(1, 1, 0, ""), pc(1, 0, 1, "a:1"), pc(2, 0, 0, "")},
			want: []string{
				"1.1 CT_ASSIGN_PRIMARY b:1: -@0 -> b:1@1 drops=[]",
				"2.0 CT_ASSIGN_PRIMARY a:1: -@0 -> a:1@1 drops=[]",
			},
		},
		{
			name:  "dead primary is dropped, not moved",
			nodes: map[string]membership.State{"a:1": dead, "b:1": alive},
			parts: []protocol.PartitionConfiguration{pc(1, 0, 3, "a:1"), pc(1, 1, 1, "b:1")},
			want:  []string{"1.0 CT_DOWNGRADE_TO_INACTIVE a:1: a:1@3 -> -@4 drops=[a:1]"},
		},
		{
			name:  "dropped partition waits for its node",
			nodes: map[string]membership.State{"a:1": dead, "b:1": alive},
			parts: []protocol.PartitionConfiguration{pc(1, 0, 4, "", "a:1")},
		},
		{
			name:  "returning node regains its partitions",
			nodes: map[string]membership.State{"a:1": alive, "b:1": alive},
			parts: []protocol.PartitionConfiguration{pc(1, 0, 4, "", "b:1", "a:1"), pc(1, 1, 2, "", "a:1")},
			want: []string{
				"1.0 CT_ASSIGN_PRIMARY a:1: -@4 -> a:1@5 drops=[b:1]",
				"1.1 CT_ASSIGN_PRIMARY a:1: -@2 -> a:1@3 drops=[]",
			},
		},
		{
			name:  "pending nodes are neither dropped nor chosen",
			nodes: map[string]membership.State{"a:1": pending},
			parts: []protocol.PartitionConfiguration{pc(1, 0, 1, "a:1"), pc(1, 1, 0, ""), pc(1, 2, 2, "", "a:1")},
		},
		{
			name:  "unknown primary is left alone",
			nodes: map[string]membership.State{"b:1": alive},
			parts: []protocol.PartitionConfiguration{pc(1, 0, 1, "x:1")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := describe(Cure(Cluster{Nodes: tt.nodes, Partitions: tt.parts}))
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Cure:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestCureDoesNotAliasInput(t *testing.T) {
	parts := []protocol.PartitionConfiguration{pc(1, 0, 2, "", "b:1", "a:1")}
	ps := Cure(Cluster{Nodes: map[string]membership.State{"a:1": alive}, Partitions: parts})
	if len(ps) != 1 {
		t.Fatalf("%d proposals", len(ps))
	}
	if !reflect.DeepEqual(parts[0].LastDrops, []string{"b:1", "a:1"}) {
		t.Fatalf("input changed: %v", parts[0].LastDrops)
	}
}

func TestAppendDropBounded(t *testing.T) {
	var d []string
	for i := range 8 {
		d = appendDrop(d, fmt.Sprintf("n%d", i))
	}
	d = appendDrop(d, "n4")
	if want := []string{"n3", "n5", "n6", "n7", "n4"}; !reflect.DeepEqual(d, want) {
		t.Fatalf("drops %v, want %v", d, want)
	}
}
