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
		{"single: alive primary", DefaultHealthRules, pc("a"), 3, PartitionHealth{Expected: 1, Members: 1, Healthy: true, WriteHealthy: true, ReadHealthy: true}},
		{"single: no primary", DefaultHealthRules, pc(""), 3, PartitionHealth{Expected: 1}},
		{"single: dead primary", DefaultHealthRules, pc("x"), 3, PartitionHealth{Expected: 1}},
		{"single: dead primary, alive secondary", DefaultHealthRules, pc("x", "a"), 3, PartitionHealth{Expected: 1}},
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
	got := DefaultHealthRules.App(app, parts, alive)
	want := HealthCounts{Partitions: 4, Healthy: 1, Unhealthy: 3, WriteUnhealthy: 3, ReadUnhealthy: 3}
	if got != want {
		t.Fatalf("single-replica rules: got %+v, want %+v", got, want)
	}
	got = HealthRules{}.App(app, parts, alive)
	want = HealthCounts{Partitions: 4, Healthy: 0, Unhealthy: 4, WriteUnhealthy: 4, ReadUnhealthy: 3}
	if got != want {
		t.Fatalf("full rules: got %+v, want %+v", got, want)
	}
}
