package placement

import (
	"cmp"
	"maps"
	"slices"

	"github.com/pegasus-go/pegasus/metaserver/internal/membership"
	"github.com/pegasus-go/pegasus/metaserver/internal/state"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

// MaxLastDrops bounds LastDrops: older entries are forgotten.
const MaxLastDrops = 5

// DefaultMinAliveRatio is Policy.MinAliveRatio's usual value: reconfigure
// only while more than half of the known nodes are alive.
const DefaultMinAliveRatio = 0.5

// Policy tunes Cure.
type Policy struct {
	// MinAliveRatio freezes reconfiguration (see Frozen) unless more than
	// MinAliveRatio of the known nodes are alive. 0 freezes only when no
	// node is alive.
	MinAliveRatio float64
	// MaxLearners bounds the learners in progress over the whole cluster;
	// 0 or less means no bound.
	MaxLearners int
}

// Learner is a learner the meta asked a primary to add, still in progress.
type Learner struct {
	Node string
	// Expired: it did not finish within the learn timeout; Cure chooses
	// another node.
	Expired bool
}

// Cluster is the view decisions are made on. Maps may be nil.
type Cluster struct {
	// Nodes maps a replica server's address to its liveness. A node not
	// listed is treated like a pending one: never chosen, never dropped.
	Nodes map[string]membership.State
	// Partitions are the configurations of every partition of every table
	// that is served (not dropped), in any order.
	Partitions []protocol.PartitionConfiguration
	// Reports holds, per partition and node, the replica that node last
	// reported in ConfigSync since it last became alive (older reports
	// must be left out: a replica's decrees only count once its node is
	// back).
	Reports map[protocol.Gpid]map[string]protocol.ReplicaInfo
	// Drops is each partition's DDD evidence (state.Drops).
	Drops map[protocol.Gpid]state.Drops
	// Learners are the learners in progress, by partition.
	Learners map[protocol.Gpid]Learner
	// Tried are nodes whose learning of a partition timed out; Cure tries
	// other nodes first.
	Tried map[protocol.Gpid][]string
	// Restarted are alive nodes that restarted or came back from dead since
	// the last round: each partition they are primary of gets its
	// configuration again under a new ballot.
	Restarted map[string]bool
	Policy    Policy
}

// Proposal is one configuration change decided by Cure.
type Proposal struct {
	// Type and Node, by rule:
	//   ConfigUpgradeToPrimary     Node (an alive secondary) replaces a dead primary
	//   ConfigDowngradeToInactive  Node (with the rest of Removed) leaves the group
	//   ConfigAddSecondary         Node should learn the partition from its primary (New == Old)
	//   ConfigAssignPrimary        Node is (again) primary under a new ballot: a first
	//                              assignment, a safe DDD recovery or a restarted primary
	Type protocol.ConfigType
	Node string
	Old  protocol.PartitionConfiguration
	New  protocol.PartitionConfiguration
	// Removed are the members of Old that are not in New (they go to
	// LastDrops), in the order appended.
	Removed []string
	// LastMembers is set when New has no member left: the members of Old,
	// for the DDD record.
	LastMembers []string
}

// Frozen reports whether reconfiguration is frozen: no node is known, or
// at most ratio of the known nodes are alive (pending counts as alive).
// A frozen cluster's view of liveness is not trusted enough to move
// replicas: Cure then only re-sends configurations to restarted primaries
// and assigns partitions that never had a replica.
func Frozen(nodes map[string]membership.State, ratio float64) bool {
	alive := 0
	for _, st := range nodes {
		if st != membership.StateDead {
			alive++
		}
	}
	return len(nodes) == 0 || float64(alive) <= ratio*float64(len(nodes))
}

// loads counts primaries and replicas (learners included) per node that may
// receive new replicas (StateAlive).
type loads struct {
	primaries map[string]int
	replicas  map[string]int
}

func newLoads(c *Cluster) loads {
	l := loads{primaries: map[string]int{}, replicas: map[string]int{}}
	for addr, st := range c.Nodes {
		if st == membership.StateAlive {
			l.primaries[addr], l.replicas[addr] = 0, 0
		}
	}
	count := func(m map[string]int, addr string) {
		if _, ok := m[addr]; ok {
			m[addr]++
		}
	}
	for i := range c.Partitions {
		p := &c.Partitions[i]
		if p.Primary != "" {
			count(l.primaries, p.Primary)
			count(l.replicas, p.Primary)
		}
		for _, s := range p.Secondaries {
			count(l.replicas, s)
		}
	}
	for _, lr := range c.Learners {
		if !lr.Expired {
			count(l.replicas, lr.Node)
		}
	}
	return l
}

// pickReplica returns the eligible node not in exclude with the fewest
// replicas (ties: fewest primaries, then the smallest address), or "".
func (l loads) pickReplica(exclude []string) string {
	best := ""
	for addr := range l.replicas {
		if slices.Contains(exclude, addr) {
			continue
		}
		if best == "" || cmp.Or(cmp.Compare(l.replicas[addr], l.replicas[best]),
			cmp.Compare(l.primaries[addr], l.primaries[best]), cmp.Compare(addr, best)) < 0 {
			best = addr
		}
	}
	return best
}

// pickSecondary returns the eligible node not in exclude with the fewest
// replicas (ties: the most primaries, keeping nodes with few primaries free
// for primaries of later partitions; then the smallest address), or "".
func (l loads) pickSecondary(exclude []string) string {
	best := ""
	for addr := range l.replicas {
		if slices.Contains(exclude, addr) {
			continue
		}
		if best == "" || cmp.Or(cmp.Compare(l.replicas[addr], l.replicas[best]),
			cmp.Compare(l.primaries[best], l.primaries[addr]), cmp.Compare(addr, best)) < 0 {
			best = addr
		}
	}
	return best
}

func (l loads) add(addr string, primary bool) {
	if _, ok := l.replicas[addr]; ok {
		l.replicas[addr]++
		if primary {
			l.primaries[addr]++
		}
	}
}

func (l loads) remove(addr string, primary bool) {
	if _, ok := l.replicas[addr]; ok {
		l.replicas[addr]--
		if primary {
			l.primaries[addr]--
		}
	}
}

// place fills an empty configuration with up to replicaCount members on
// distinct alive nodes, updating l. The members are always replicaCount
// nodes with the fewest replicas (so replica counts stay within one of
// each other); the primary is, among the nodes that can be part of such a
// set, the one with the fewest primaries (ties: fewest replicas, then the
// smallest address); the secondaries are the least loaded of the rest
// (see pickSecondary).
func (l loads) place(cfg *protocol.PartitionConfiguration, replicaCount int32) bool {
	if len(l.replicas) == 0 {
		return false
	}
	// The replica count of the replicaCount-th least loaded node: any node
	// at or below it can be in the set.
	counts := slices.Sorted(maps.Values(l.replicas))
	bound := counts[min(int(replicaCount), len(counts))-1]
	p := ""
	for addr, n := range l.replicas {
		if n > bound {
			continue
		}
		if p == "" || cmp.Or(cmp.Compare(l.primaries[addr], l.primaries[p]),
			cmp.Compare(n, l.replicas[p]), cmp.Compare(addr, p)) < 0 {
			p = addr
		}
	}
	cfg.Primary = p
	l.add(p, true)
	members := []string{p}
	for int32(len(members)) < replicaCount {
		s := l.pickSecondary(members)
		if s == "" {
			break
		}
		cfg.Secondaries = append(cfg.Secondaries, s)
		members = append(members, s)
		l.add(s, false)
	}
	return true
}

// PlaceApp returns the initial configurations of a new table's partitions:
// each gets the alive node with the fewest primaries as primary and the
// replicaCount-1 alive nodes with the fewest replicas as secondaries
// (ties as in pickPrimary / pickReplica), ballot 1. With fewer alive nodes
// it places as many replicas as there are nodes; with none, the partition
// is left empty at ballot 0 for the guardian.
func PlaceApp(c Cluster, appID, partitionCount, replicaCount int32) []protocol.PartitionConfiguration {
	l := newLoads(&c)
	out := make([]protocol.PartitionConfiguration, partitionCount)
	for i := range out {
		cfg := protocol.PartitionConfiguration{
			Gpid:            protocol.Gpid{AppID: appID, PartitionIndex: int32(i)},
			MaxReplicaCount: replicaCount,
		}
		if l.place(&cfg, max(replicaCount, 1)) {
			cfg.Ballot = 1
		}
		out[i] = cfg
	}
	return out
}

// Members returns the primary (if any) followed by the secondaries.
func Members(c protocol.PartitionConfiguration) []string {
	out := make([]string, 0, 1+len(c.Secondaries))
	if c.Primary != "" {
		out = append(out, c.Primary)
	}
	return append(out, c.Secondaries...)
}

// target is the number of replicas a partition should have.
func target(c protocol.PartitionConfiguration) int {
	return max(int(c.MaxReplicaCount), 1)
}

// round is the state of one Cure pass.
type round struct {
	c        *Cluster
	l        loads
	frozen   bool
	learners int // learners in progress, proposals of this round included
}

// Cure returns the changes that restore every partition it can, at most one
// per partition, in gpid order. For each partition the first rule that
// applies wins:
//
//  1. Dead primary (or one reporting its replica failed, PS_ERROR; a
//     failed replica counts as dead in rules 1 and 2): promote the alive
//     secondary with the highest reported
//     (LastCommitted, LastPrepared) (ties: smallest address), dropping the
//     old primary and every dead secondary; with no alive secondary but a
//     pending one, wait; with every member dead, drop them all (the
//     partition keeps its evidence for DDD recovery).
//  2. Dead secondaries: remove them.
//  3. Over-replicated (more members than the replica count): remove the
//     secondary on the most loaded node.
//  4. Restarted primary (Restarted, or it reports its replica inactive at
//     the stored ballot): same configuration, new ballot.
//  5. Under-replicated, alive primary, no learner in progress (or it
//     expired): ask the primary to add the least loaded alive node that
//     holds no replica (nodes in Tried last), within Policy.MaxLearners.
//  6. No member, never served: place like PlaceApp.
//  7. No member, served before (DDD): recover only when every member of
//     the last configuration is alive and has reported its replica; the
//     one with the highest (ballot, last committed, last prepared) becomes
//     primary alone. Otherwise wait.
//
// While Frozen, rules 1, 2, 3, 5 and 7 do nothing; a restarted primary of a
// partition that rule 2 would have changed is still re-sent (rule 4).
// Pending nodes are neither dropped nor chosen.
func Cure(c Cluster) []Proposal {
	parts := slices.Clone(c.Partitions)
	slices.SortFunc(parts, func(a, b protocol.PartitionConfiguration) int {
		return cmp.Or(cmp.Compare(a.Gpid.AppID, b.Gpid.AppID), cmp.Compare(a.Gpid.PartitionIndex, b.Gpid.PartitionIndex))
	})
	r := &round{c: &c, l: newLoads(&c), frozen: Frozen(c.Nodes, c.Policy.MinAliveRatio)}
	for _, lr := range c.Learners {
		if r.learnerActive(lr) {
			r.learners++
		}
	}
	var out []Proposal
	for _, p := range parts {
		if prop, ok := r.cure(p); ok {
			out = append(out, prop)
		}
	}
	return out
}

func (r *round) state(addr string) membership.State {
	st, ok := r.c.Nodes[addr]
	if !ok {
		return membership.StatePending
	}
	return st
}

func (r *round) learnerActive(lr Learner) bool {
	return !lr.Expired && r.state(lr.Node) == membership.StateAlive
}

func (r *round) report(g protocol.Gpid, node string) (protocol.ReplicaInfo, bool) {
	ri, ok := r.c.Reports[g][node]
	return ri, ok
}

// gone reports whether node's replica of g is lost to the partition: the
// node is dead, or it reports the replica failed (PS_ERROR: an IO error
// stopped it, and it serves nothing until reopened). Rules 1 and 2 treat
// both alike.
func (r *round) gone(g protocol.Gpid, node string) bool {
	if r.state(node) == membership.StateDead {
		return true
	}
	ri, ok := r.report(g, node)
	return ok && ri.Status == protocol.PartitionError
}

func (r *round) cure(p protocol.PartitionConfiguration) (Proposal, bool) {
	if p.Primary == "" {
		if len(p.Secondaries) > 0 {
			return r.replacePrimary(p)
		}
		if p.Ballot == 0 && len(p.LastDrops) == 0 && r.c.Drops[p.Gpid].Empty() {
			return r.assign(p)
		}
		return r.recover(p)
	}
	if r.gone(p.Gpid, p.Primary) {
		return r.replacePrimary(p)
	}
	var dead []string
	for _, s := range p.Secondaries {
		if r.gone(p.Gpid, s) {
			dead = append(dead, s)
		}
	}
	if len(dead) > 0 && !r.frozen {
		next := clone(p)
		next.Secondaries = slices.DeleteFunc(next.Secondaries, func(s string) bool { return slices.Contains(dead, s) })
		return r.change(protocol.ConfigDowngradeToInactive, dead[0], p, next, dead, nil), true
	}
	if r.state(p.Primary) != membership.StateAlive {
		return Proposal{}, false // pending primary: wait for it
	}
	members := len(p.Secondaries) + 1
	if members > target(p) && !r.frozen {
		victim := ""
		for _, s := range p.Secondaries {
			if victim == "" || cmp.Or(cmp.Compare(r.l.replicas[s], r.l.replicas[victim]), cmp.Compare(s, victim)) > 0 {
				victim = s
			}
		}
		next := clone(p)
		next.Secondaries = slices.DeleteFunc(next.Secondaries, func(s string) bool { return s == victim })
		return r.change(protocol.ConfigDowngradeToInactive, victim, p, next, []string{victim}, nil), true
	}
	if r.needsBump(p) {
		return r.change(protocol.ConfigAssignPrimary, p.Primary, p, clone(p), nil, nil), true
	}
	if members < target(p) && !r.frozen {
		return r.addLearner(p)
	}
	return Proposal{}, false
}

// needsBump reports whether p's alive primary must get its configuration
// again under a new ballot.
func (r *round) needsBump(p protocol.PartitionConfiguration) bool {
	if r.c.Restarted[p.Primary] {
		return true
	}
	ri, ok := r.report(p.Gpid, p.Primary)
	return ok && ri.Ballot == p.Ballot && ri.Status != protocol.PartitionPrimary
}

// change builds a proposal: next gets ballot+1, removed nodes appended to
// LastDrops, the new primary (if it was dropped before) taken out of them.
func (r *round) change(typ protocol.ConfigType, node string, old, next protocol.PartitionConfiguration, removed, lastMembers []string) Proposal {
	for _, n := range removed {
		r.l.remove(n, n == old.Primary)
	}
	next = ApplyRemoved(next, removed)
	next.Ballot = old.Ballot + 1
	return Proposal{Type: typ, Node: node, Old: old, New: next, Removed: removed, LastMembers: lastMembers}
}

// ApplyRemoved returns next with the removed nodes appended to LastDrops
// (at most MaxLastDrops kept) and its members taken out of them.
func ApplyRemoved(next protocol.PartitionConfiguration, removed []string) protocol.PartitionConfiguration {
	next = clone(next)
	for _, n := range removed {
		next.LastDrops = appendDrop(next.LastDrops, n)
	}
	for _, n := range Members(next) {
		next.LastDrops = slices.DeleteFunc(next.LastDrops, func(s string) bool { return s == n })
	}
	if len(next.LastDrops) == 0 {
		next.LastDrops = nil
	}
	if len(next.Secondaries) == 0 {
		next.Secondaries = nil
	}
	return next
}

// better orders replicas for promotion: higher (last committed, last
// prepared) first, then the smaller address.
func better(a, b protocol.ReplicaInfo, aAddr, bAddr string) bool {
	if c := cmp.Or(cmp.Compare(a.LastCommitted, b.LastCommitted), cmp.Compare(a.LastPrepared, b.LastPrepared)); c != 0 {
		return c > 0
	}
	return aAddr < bAddr
}

// replacePrimary handles a partition whose primary is dead or missing while
// secondaries remain (rule 1).
func (r *round) replacePrimary(p protocol.PartitionConfiguration) (Proposal, bool) {
	if r.frozen {
		return Proposal{}, false
	}
	best, pending := "", false
	var bestInfo protocol.ReplicaInfo
	for _, s := range p.Secondaries {
		if r.gone(p.Gpid, s) {
			continue
		}
		switch r.state(s) {
		case membership.StateAlive:
			ri, _ := r.report(p.Gpid, s)
			if best == "" || better(ri, bestInfo, s, best) {
				best, bestInfo = s, ri
			}
		case membership.StatePending:
			pending = true
		}
	}
	var removed []string
	if p.Primary != "" {
		removed = append(removed, p.Primary)
	}
	var dead []string
	for _, s := range p.Secondaries {
		if r.gone(p.Gpid, s) {
			dead = append(dead, s)
		}
	}
	switch {
	case best != "":
		next := clone(p)
		next.Primary = best
		next.Secondaries = slices.DeleteFunc(next.Secondaries, func(s string) bool { return s == best || slices.Contains(dead, s) })
		// Dead secondaries first: the old primary is the most recent holder.
		removed = append(dead, removed...)
		r.l.remove(best, false)
		r.l.add(best, true)
		return r.change(protocol.ConfigUpgradeToPrimary, best, p, next, removed, nil), true
	case pending:
		return Proposal{}, false
	}
	// Every member is dead: drop them all, primary last.
	next := clone(p)
	next.Primary, next.Secondaries = "", nil
	removed = append(dead, removed...)
	node := removed[len(removed)-1]
	return r.change(protocol.ConfigDowngradeToInactive, node, p, next, removed, Members(p)), true
}

// assign places a partition that never had a replica (rule 6).
func (r *round) assign(p protocol.PartitionConfiguration) (Proposal, bool) {
	next := clone(p)
	if !r.l.place(&next, int32(target(p))) {
		return Proposal{}, false
	}
	next.Ballot = p.Ballot + 1
	return Proposal{Type: protocol.ConfigAssignPrimary, Node: next.Primary, Old: p, New: next}, true
}

// lastMembers returns the members of p's last configuration that had any:
// from its drops record, else (a partition dropped before records were
// kept) its most recently dropped node.
func (r *round) lastMembers(p protocol.PartitionConfiguration) []string {
	if lm := r.c.Drops[p.Gpid].LastMembers; len(lm) > 0 {
		return lm
	}
	if len(p.LastDrops) > 0 {
		return p.LastDrops[len(p.LastDrops)-1:]
	}
	return nil
}

// recover handles a partition without members that was served before
// (rule 7): see SafeRecovery.
func (r *round) recover(p protocol.PartitionConfiguration) (Proposal, bool) {
	if r.frozen {
		return Proposal{}, false
	}
	node, ok := SafeRecovery(r.lastMembers(p), func(n string) (protocol.ReplicaInfo, bool) {
		if r.state(n) != membership.StateAlive {
			return protocol.ReplicaInfo{}, false
		}
		return r.report(p.Gpid, n)
	})
	if !ok {
		return Proposal{}, false
	}
	next := clone(p)
	next.Primary = node
	r.l.add(node, true)
	return r.change(protocol.ConfigAssignPrimary, node, p, next, nil, nil), true
}

// SafeRecovery decides the DDD recovery of a partition whose every member
// died: it is safe only when every node of lastMembers has reported its
// replica (report returns false for a node that is not alive or has not
// reported); the replica with the highest (ballot, last committed, last
// prepared) wins (ties: smallest address). With no last members it is
// never safe.
func SafeRecovery(lastMembers []string, report func(node string) (protocol.ReplicaInfo, bool)) (string, bool) {
	best := ""
	var bestInfo protocol.ReplicaInfo
	for _, n := range lastMembers {
		ri, ok := report(n)
		if !ok {
			return "", false
		}
		c := cmp.Or(cmp.Compare(ri.Ballot, bestInfo.Ballot), cmp.Compare(ri.LastCommitted, bestInfo.LastCommitted),
			cmp.Compare(ri.LastPrepared, bestInfo.LastPrepared))
		if best == "" || c > 0 || (c == 0 && n < best) {
			best, bestInfo = n, ri
		}
	}
	return best, best != ""
}

// addLearner asks p's primary to add a learner (rule 5).
func (r *round) addLearner(p protocol.PartitionConfiguration) (Proposal, bool) {
	lr, inProgress := r.c.Learners[p.Gpid]
	if inProgress && r.learnerActive(lr) {
		return Proposal{}, false
	}
	if r.c.Policy.MaxLearners > 0 && r.learners >= r.c.Policy.MaxLearners {
		return Proposal{}, false
	}
	exclude := Members(p)
	if inProgress {
		exclude = append(exclude, lr.Node)
	}
	node := r.l.pickReplica(append(slices.Clone(exclude), r.c.Tried[p.Gpid]...))
	if node == "" {
		node = r.l.pickReplica(exclude)
	}
	if node == "" {
		return Proposal{}, false
	}
	r.learners++
	r.l.add(node, false)
	return Proposal{Type: protocol.ConfigAddSecondary, Node: node, Old: p, New: clone(p)}, true
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

// DropsAfter returns a partition's drops record once p is applied: every
// removed replica is recorded with its node's latest report (zero decrees
// when it never reported) at nowMs, LastMembers is set when the partition
// lost its last member and cleared when it has one again, and records of
// nodes that are no longer in LastDrops are forgotten. changed is false
// when the record stays as it was.
func DropsAfter(d state.Drops, p Proposal, reports map[string]protocol.ReplicaInfo, nowMs int64) (_ state.Drops, changed bool) {
	next := d.Clone()
	for _, n := range p.Removed {
		ri := reports[n]
		next.Put(state.DroppedReplica{Node: n, Ballot: ri.Ballot, LastCommitted: ri.LastCommitted,
			LastPrepared: ri.LastPrepared, DropTimeMs: nowMs})
	}
	switch {
	case len(p.LastMembers) > 0:
		next.LastMembers = slices.Clone(p.LastMembers)
	case len(Members(p.New)) > 0:
		next.LastMembers = nil
	}
	for _, r := range d.Replicas {
		if !slices.Contains(p.New.LastDrops, r.Node) {
			next.Forget(r.Node)
		}
	}
	same := slices.Equal(next.LastMembers, d.LastMembers) && slices.Equal(next.Replicas, d.Replicas)
	return next, !same
}
