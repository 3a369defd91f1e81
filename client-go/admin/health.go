package admin

import "github.com/pegasus-go/pegasus/shared/protocol"

// HealthRules classifies partitions by the replicas they have. The rules,
// for one partition configuration pc of a table with replica count R:
//
//	expected      = R (pc.MaxReplicaCount when set, else the table's), capped at
//	                MaxServedReplicas when that is positive; at least 1
//	primary alive = pc.Primary is set and names an alive node
//	members       = (1 if primary alive) + distinct alive secondaries other than the primary
//	read healthy  = primary alive
//	write healthy = primary alive and members >= min(2, expected)
//	                (PacificA: a primary alone is read-only when more replicas are expected)
//	healthy       = primary alive and members >= expected
//
// A table's counts (AppHealth) are over its PartitionCount partitions: a
// partition missing from the configuration list counts as unhealthy,
// write-unhealthy and read-unhealthy; unhealthy = partitions - healthy.
type HealthRules struct {
	// MaxServedReplicas caps the replicas a partition is expected to have;
	// 0 means no cap (expect the table's replica count).
	MaxServedReplicas int32
}

// DefaultHealthRules are the rules of a replicated cluster: a partition
// is expected to have its table's replica count of alive members, so
//
//	healthy          primary + replica_count-1 secondaries alive
//	write_unhealthy  an alive primary but fewer than min(2, replica_count) alive members
//	read_unhealthy   no alive primary
//	unhealthy        anything short of healthy (every case above included)
var DefaultHealthRules = HealthRules{}

// PartitionHealth is the classification of one partition.
type PartitionHealth struct {
	Expected     int32 // replicas the partition should have
	Members      int32 // alive replicas in its configuration (primary included)
	Healthy      bool
	WriteHealthy bool
	ReadHealthy  bool
}

// HealthCounts are a table's partition counts by health.
type HealthCounts struct {
	Partitions     int32 `json:"partitions"`
	Healthy        int32 `json:"healthy"`
	Unhealthy      int32 `json:"unhealthy"`
	WriteUnhealthy int32 `json:"write_unhealthy"`
	ReadUnhealthy  int32 `json:"read_unhealthy"`
}

// Partition classifies pc for a table with replicaCount replicas per
// partition; alive reports whether a node address is alive.
func (r HealthRules) Partition(pc *protocol.PartitionConfiguration, replicaCount int32, alive func(addr string) bool) PartitionHealth {
	expected := replicaCount
	if pc.MaxReplicaCount > 0 {
		expected = pc.MaxReplicaCount
	}
	if r.MaxServedReplicas > 0 {
		expected = min(expected, r.MaxServedReplicas)
	}
	expected = max(expected, 1)
	h := PartitionHealth{Expected: expected}
	primaryAlive := pc.Primary != "" && alive(pc.Primary)
	if !primaryAlive {
		return h
	}
	h.Members = 1
	seen := map[string]bool{pc.Primary: true}
	for _, s := range pc.Secondaries {
		if s == "" || seen[s] {
			continue
		}
		seen[s] = true
		if alive(s) {
			h.Members++
		}
	}
	h.ReadHealthy = true
	h.WriteHealthy = h.Members >= min(2, expected)
	h.Healthy = h.Members >= expected
	return h
}

// App counts the health of a table's partitions.
func (r HealthRules) App(app *protocol.AppInfo, partitions []protocol.PartitionConfiguration, alive func(addr string) bool) HealthCounts {
	c := HealthCounts{Partitions: max(app.PartitionCount, 0)}
	seen := make(map[int32]bool, len(partitions))
	for i := range partitions {
		pc := &partitions[i]
		idx := pc.Gpid.PartitionIndex
		if idx < 0 || idx >= c.Partitions || seen[idx] {
			continue // not one of the table's partitions, or a duplicate
		}
		seen[idx] = true
		h := r.Partition(pc, app.ReplicaCount, alive)
		if h.Healthy {
			c.Healthy++
		}
		if !h.WriteHealthy {
			c.WriteUnhealthy++
		}
		if !h.ReadHealthy {
			c.ReadUnhealthy++
		}
	}
	missing := c.Partitions - int32(len(seen))
	c.WriteUnhealthy += missing
	c.ReadUnhealthy += missing
	c.Unhealthy = c.Partitions - c.Healthy
	return c
}

// AliveSet returns an alive predicate over the nodes whose status is
// NodeAlive; unknown addresses are not alive.
func AliveSet(nodes []protocol.NodeInfo) func(addr string) bool {
	set := make(map[string]bool, len(nodes))
	for _, n := range nodes {
		if n.Status == protocol.NodeAlive {
			set[n.Address] = true
		}
	}
	return func(addr string) bool { return set[addr] }
}
