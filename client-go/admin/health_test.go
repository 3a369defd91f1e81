package admin

import (
	"testing"

	"github.com/pegasus-go/pegasus/shared/protocol"
)

func TestPartitionHealth(t *testing.T) {
	alive := func(a string) bool { return a == "a" || a == "b" || a == "c" }
	pc := func(primary string, secondaries ...string) protocol.PartitionConfiguration {
		return protocol.PartitionConfiguration{Primary: primary, Secondaries: secondaries}
	}
	for _, tc := range []struct {
		name     string
		rules    HealthRules
		pc       protocol.PartitionConfiguration
		replicas int32
		want     PartitionHealth
	}{
		{"default: 3 of 3", DefaultHealthRules, pc("a", "b", "c"), 3, PartitionHealth{Expected: 3, Members: 3, Healthy: true, WriteHealthy: true, ReadHealthy: true}},
		{"default: dead primary, alive secondaries", DefaultHealthRules, pc("x", "a", "b"), 3, PartitionHealth{Expected: 3}},
		{"default: primary alone is read-only", DefaultHealthRules, pc("a", "x", "y"), 3, PartitionHealth{Expected: 3, Members: 1, ReadHealthy: true}},
		{"capped: alive primary", HealthRules{MaxServedReplicas: 1}, pc("a"), 3, PartitionHealth{Expected: 1, Members: 1, Healthy: true, WriteHealthy: true, ReadHealthy: true}},
		{"capped: no primary", HealthRules{MaxServedReplicas: 1}, pc(""), 3, PartitionHealth{Expected: 1}},
		{"capped: dead primary", HealthRules{MaxServedReplicas: 1}, pc("x"), 3, PartitionHealth{Expected: 1}},
		{"capped: dead primary, alive secondary", HealthRules{MaxServedReplicas: 1}, pc("x", "a"), 3, PartitionHealth{Expected: 1}},
		{"full: 3 of 3", HealthRules{}, pc("a", "b", "c"), 3, PartitionHealth{Expected: 3, Members: 3, Healthy: true, WriteHealthy: true, ReadHealthy: true}},
		{"full: 2 of 3", HealthRules{}, pc("a", "b"), 3, PartitionHealth{Expected: 3, Members: 2, WriteHealthy: true, ReadHealthy: true}},
		{"full: 2 of 3, dead secondary", HealthRules{}, pc("a", "b", "x"), 3, PartitionHealth{Expected: 3, Members: 2, WriteHealthy: true, ReadHealthy: true}},
		{"full: primary alone", HealthRules{}, pc("a"), 3, PartitionHealth{Expected: 3, Members: 1, ReadHealthy: true}},
		{"full: duplicate secondaries count once", HealthRules{}, pc("a", "b", "b", "a"), 3, PartitionHealth{Expected: 3, Members: 2, WriteHealthy: true, ReadHealthy: true}},
		{"full: one replica table", HealthRules{}, pc("a"), 1, PartitionHealth{Expected: 1, Members: 1, Healthy: true, WriteHealthy: true, ReadHealthy: true}},
		{"full: no primary", HealthRules{}, pc("", "a", "b"), 3, PartitionHealth{Expected: 3}},
		{"zero replicas means one", HealthRules{}, pc("a"), 0, PartitionHealth{Expected: 1, Members: 1, Healthy: true, WriteHealthy: true, ReadHealthy: true}},
		{"config max replica count wins", HealthRules{}, protocol.PartitionConfiguration{Primary: "a", Secondaries: []string{"b"}, MaxReplicaCount: 2}, 3, PartitionHealth{Expected: 2, Members: 2, Healthy: true, WriteHealthy: true, ReadHealthy: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.rules.Partition(&tc.pc, tc.replicas, alive); got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestAppHealth(t *testing.T) {
	alive := AliveSet([]protocol.NodeInfo{{Address: "a", Status: protocol.NodeAlive}, {Address: "d", Status: protocol.NodeDead}})
	app := &protocol.AppInfo{AppID: 1, PartitionCount: 4, ReplicaCount: 3}
	parts := []protocol.PartitionConfiguration{
		{Gpid: protocol.Gpid{AppID: 1, PartitionIndex: 0}, Primary: "a"},
		{Gpid: protocol.Gpid{AppID: 1, PartitionIndex: 1}, Primary: "d"},
		{Gpid: protocol.Gpid{AppID: 1, PartitionIndex: 2}},
		{Gpid: protocol.Gpid{AppID: 1, PartitionIndex: 2}, Primary: "a"}, // duplicate index: ignored
		{Gpid: protocol.Gpid{AppID: 1, PartitionIndex: 9}, Primary: "a"}, // out of range: ignored
		// partition 3 missing
	}
	got := HealthRules{MaxServedReplicas: 1}.App(app, parts, alive)
	want := HealthCounts{Partitions: 4, Healthy: 1, Unhealthy: 3, WriteUnhealthy: 3, ReadUnhealthy: 3}
	if got != want {
		t.Fatalf("single-replica rules: got %+v, want %+v", got, want)
	}
	got = DefaultHealthRules.App(app, parts, alive)
	want = HealthCounts{Partitions: 4, Healthy: 0, Unhealthy: 4, WriteUnhealthy: 4, ReadUnhealthy: 3}
	if got != want {
		t.Fatalf("default rules: got %+v, want %+v", got, want)
	}
	// A table whose every partition has a full, alive replica set.
	full := []protocol.PartitionConfiguration{
		{Gpid: protocol.Gpid{AppID: 2, PartitionIndex: 0}, Primary: "a", Secondaries: []string{"b", "c"}},
		{Gpid: protocol.Gpid{AppID: 2, PartitionIndex: 1}, Primary: "b", Secondaries: []string{"c", "a"}},
		{Gpid: protocol.Gpid{AppID: 2, PartitionIndex: 2}, Primary: "c", Secondaries: []string{"a", "d"}}, // d dead: unhealthy only
		{Gpid: protocol.Gpid{AppID: 2, PartitionIndex: 3}, Primary: "c", Secondaries: []string{"d"}},      // primary alone: write-unhealthy
	}
	alive3 := AliveSet([]protocol.NodeInfo{{Address: "a", Status: protocol.NodeAlive}, {Address: "b", Status: protocol.NodeAlive},
		{Address: "c", Status: protocol.NodeAlive}, {Address: "d", Status: protocol.NodeDead}})
	got = DefaultHealthRules.App(&protocol.AppInfo{AppID: 2, PartitionCount: 4, ReplicaCount: 3}, full, alive3)
	want = HealthCounts{Partitions: 4, Healthy: 2, Unhealthy: 2, WriteUnhealthy: 1, ReadUnhealthy: 0}
	if got != want {
		t.Fatalf("replicated table: got %+v, want %+v", got, want)
	}
}
