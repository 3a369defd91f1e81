package placement

import (
	"cmp"
	"slices"

	"github.com/pegasus-go/pegasus/metaserver/internal/membership"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

// MaxLastDrops bounds LastDrops: older entries are forgotten.
const MaxLastDrops = 5

// Cluster is the view decisions are made on.
type Cluster struct {
	// Nodes maps a replica server's address to its liveness. A node not
	// listed is treated like a pending one: never chosen, never dropped.
	Nodes map[string]membership.State
	// Partitions are the configurations of every partition of every table
	// that is served (not dropped), in any order.
	Partitions []protocol.PartitionConfiguration
}

// Proposal is one configuration change decided by Cure.
type Proposal struct {
	// Type is ConfigAssignPrimary (Node becomes primary) or
	// ConfigDowngradeToInactive (dead Node is removed).
	Type protocol.ConfigType
	Node string
	Old  protocol.PartitionConfiguration
	New  protocol.PartitionConfiguration
}

// loads counts primaries per eligible node.
type loads map[string]int

func newLoads(c Cluster) loads {
	l := loads{}
	for addr, st := range c.Nodes {
		if st == membership.StateAlive {
			l[addr] = 0
		}
	}
	for i := range c.Partitions {
		if _, ok := l[c.Partitions[i].Primary]; ok {
			l[c.Partitions[i].Primary]++
		}
	}
	return l
}

// least returns the eligible node with the fewest primaries (ties: the
// smallest address), or "" when there is none.
func (l loads) least() string {
	best, bestN := "", 0
	for addr, n := range l {
		if best == "" || n < bestN || (n == bestN && addr < best) {
			best, bestN = addr, n
		}
	}
	return best
}

// PlaceApp returns the initial configurations of a new table's partitions.
func PlaceApp(c Cluster, appID, partitionCount, replicaCount int32) []protocol.PartitionConfiguration {
	l := newLoads(c)
	out := make([]protocol.PartitionConfiguration, partitionCount)
	for i := range out {
		cfg := protocol.PartitionConfiguration{
			Gpid:            protocol.Gpid{AppID: appID, PartitionIndex: int32(i)},
			MaxReplicaCount: replicaCount,
		}
		if n := l.least(); n != "" {
			cfg.Primary, cfg.Ballot = n, 1
			l[n]++
		}
		out[i] = cfg
	}
	return out
}

// Cure returns the changes that restore a primary to every partition that
// can have one, in gpid order.
func Cure(c Cluster) []Proposal {
	parts := slices.Clone(c.Partitions)
	slices.SortFunc(parts, func(a, b protocol.PartitionConfiguration) int {
		return cmp.Or(cmp.Compare(a.Gpid.AppID, b.Gpid.AppID), cmp.Compare(a.Gpid.PartitionIndex, b.Gpid.PartitionIndex))
	})
	l := newLoads(c)
	var out []Proposal
	for _, p := range parts {
		if p.Primary != "" {
			if c.Nodes[p.Primary] == membership.StateDead {
				next := clone(p)
				next.Primary = ""
				next.LastDrops = appendDrop(next.LastDrops, p.Primary)
				next.Ballot++
				out = append(out, Proposal{Type: protocol.ConfigDowngradeToInactive, Node: p.Primary, Old: p, New: next})
			}
			continue
		}
		var node string
		if len(p.LastDrops) > 0 {
			last := p.LastDrops[len(p.LastDrops)-1]
			if c.Nodes[last] != membership.StateAlive {
				continue // wait for the node that has the data
			}
			node = last
		} else if node = l.least(); node == "" {
			continue
		}
		next := clone(p)
		next.Primary = node
		next.LastDrops = slices.DeleteFunc(next.LastDrops, func(s string) bool { return s == node })
		if len(next.LastDrops) == 0 {
			next.LastDrops = nil
		}
		next.Ballot++
		l[node]++
		out = append(out, Proposal{Type: protocol.ConfigAssignPrimary, Node: node, Old: p, New: next})
	}
	return out
}

func clone(c protocol.PartitionConfiguration) protocol.PartitionConfiguration {
	c.Secondaries = slices.Clone(c.Secondaries)
	c.LastDrops = slices.Clone(c.LastDrops)
	return c
}

// appendDrop appends node to drops, moving it to the end if present and
// forgetting the oldest entries beyond MaxLastDrops.
func appendDrop(drops []string, node string) []string {
	drops = slices.DeleteFunc(drops, func(s string) bool { return s == node })
	drops = append(drops, node)
	if len(drops) > MaxLastDrops {
		drops = slices.Clone(drops[len(drops)-MaxLastDrops:])
	}
	return drops
}
