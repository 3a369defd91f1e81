package meta

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/pegasus-go/pegasus/metaserver/internal/membership"
	"github.com/pegasus-go/pegasus/metaserver/internal/placement"
	"github.com/pegasus-go/pegasus/metaserver/internal/state"
	"github.com/pegasus-go/pegasus/shared/logging"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

// guardian cures partitions and purges expired dropped tables every
// GuardianInterval, and at once when poked (a node comes (back) to life,
// restarts, or reports something the guardian acts on).
func (t *term) guardian() {
	tick := time.NewTicker(t.s.opts.GuardianInterval)
	defer tick.Stop()
	for {
		t.round()
		select {
		case <-t.ctx.Done():
			return
		case <-t.aborted:
			return
		case <-tick.C:
		case <-t.kick:
		}
	}
}

// round is one guardian pass.
func (t *term) round() {
	if !t.active() {
		return
	}
	ctx, cancel := context.WithTimeout(t.ctx, 30*time.Second)
	defer cancel()
	t.mu.Lock()
	sends, err := t.cureLocked(ctx)
	if err == nil {
		sends = append(sends, t.repushLearnersLocked()...)
		err = t.purgeLocked(ctx)
	}
	t.updateGaugesLocked()
	t.mu.Unlock()
	if err != nil && t.active() {
		t.log.Warn("guardian round failed", logging.Err(err))
	}
	t.send(sends)
}

// servedLocked calls fn for every partition of every table being served.
func (t *term) servedLocked(fn func(app *state.App, p *state.Partition)) {
	for _, a := range t.mu.view.Apps {
		if a.Info.Status != protocol.AppAvailable {
			continue
		}
		for i := range a.Partitions {
			fn(a, &a.Partitions[i])
		}
	}
}

// clusterLocked builds the decision view. It first forgets what no longer
// holds: reports of dead nodes, learners whose partition is gone, full, or
// has them as a member.
func (t *term) clusterLocked() placement.Cluster {
	now := t.s.opts.Clock()
	c := placement.Cluster{
		Nodes:     map[string]membership.State{},
		Reports:   map[protocol.Gpid]map[string]protocol.ReplicaInfo{},
		Drops:     map[protocol.Gpid]state.Drops{},
		Learners:  map[protocol.Gpid]placement.Learner{},
		Tried:     map[protocol.Gpid][]string{},
		Restarted: maps.Clone(t.mu.restarted),
		Policy:    placement.Policy{MinAliveRatio: t.s.opts.MinAliveRatio, MaxLearners: t.s.opts.MaxLearners},
	}
	for _, n := range t.det.Nodes() {
		c.Nodes[n.Address] = n.State
		if n.State == membership.StateDead {
			delete(t.mu.reports, n.Address)
		}
	}
	for node, reps := range t.mu.reports {
		for g, ri := range reps {
			if c.Reports[g] == nil {
				c.Reports[g] = map[string]protocol.ReplicaInfo{}
			}
			c.Reports[g][node] = ri
		}
	}
	served := map[protocol.Gpid]protocol.PartitionConfiguration{}
	t.servedLocked(func(_ *state.App, p *state.Partition) {
		c.Partitions = append(c.Partitions, p.Config)
		served[p.Config.Gpid] = p.Config
		if !p.Drops.Empty() {
			c.Drops[p.Config.Gpid] = p.Drops
		}
	})
	for g, l := range t.mu.learners {
		cfg, ok := served[g]
		if !ok || slices.Contains(placement.Members(cfg), l.node) || len(placement.Members(cfg)) >= int(max(cfg.MaxReplicaCount, 1)) {
			delete(t.mu.learners, g)
			continue
		}
		c.Learners[g] = placement.Learner{Node: l.node, Expired: now.After(l.deadline)}
	}
	for g, nodes := range t.mu.tried {
		cfg, ok := served[g]
		if !ok || len(placement.Members(cfg)) >= int(max(cfg.MaxReplicaCount, 1)) {
			delete(t.mu.tried, g)
			continue
		}
		c.Tried[g] = slices.Clone(nodes)
	}
	return c
}

// reportsOfLocked returns every live report of partition g, by node.
func (t *term) reportsOfLocked(g protocol.Gpid) map[string]protocol.ReplicaInfo {
	out := map[string]protocol.ReplicaInfo{}
	for node, reps := range t.mu.reports {
		if ri, ok := reps[g]; ok {
			out[node] = ri
		}
	}
	return out
}

// committedLocked is the highest last committed decree known for a
// partition: stored, or reported by one of its members.
func (t *term) committedLocked(c protocol.PartitionConfiguration) protocol.Decree {
	d := c.LastCommittedDecree
	for _, m := range placement.Members(c) {
		if ri, ok := t.mu.reports[m][c.Gpid]; ok {
			d = max(d, ri.LastCommitted)
		}
	}
	return d
}

// cureLocked applies placement.Cure: one transaction per table, then the
// pushes of every change.
func (t *term) cureLocked(ctx context.Context) ([]proposal, error) {
	c := t.clusterLocked()
	props := placement.Cure(c)
	byApp := map[int32][]placement.Proposal{}
	for _, p := range props {
		byApp[p.New.Gpid.AppID] = append(byApp[p.New.Gpid.AppID], p)
	}
	now := t.s.opts.Clock()
	var sends []proposal
	for _, id := range slices.Sorted(maps.Keys(byApp)) {
		app := t.mu.view.Apps[id]
		var ups []state.PartitionUpdate
		for i, p := range byApp[id] {
			if p.Type == protocol.ConfigAddSecondary {
				continue
			}
			p.New.LastCommittedDecree = max(p.New.LastCommittedDecree, t.committedLocked(p.Old))
			byApp[id][i] = p
			part := &app.Partitions[p.New.Gpid.PartitionIndex]
			up := state.PartitionUpdate{Config: p.New}
			if d, changed := placement.DropsAfter(part.Drops, p, t.reportsOfLocked(p.New.Gpid), now.UnixMilli()); changed {
				up.Drops = &d
			}
			ups = append(ups, up)
		}
		if len(ups) > 0 {
			if err := t.mu.w.UpdatePartitions(ctx, app, ups...); err != nil {
				return sends, t.writeErr(ctx, fmt.Sprintf("cure app %d", id), err)
			}
		}
		for _, p := range byApp[id] {
			sends = append(sends, t.appliedLocked(app.Info, p, now)...)
		}
	}
	// Every alive primary of a restarted node got a new ballot above.
	for n := range t.mu.restarted {
		if c.Nodes[n] == membership.StateAlive {
			delete(t.mu.restarted, n)
		}
	}
	return sends, nil
}

// appliedLocked records a change the store accepted (or a learner asked
// for) and returns its pushes.
func (t *term) appliedLocked(app protocol.AppInfo, p placement.Proposal, now time.Time) []proposal {
	g := p.New.Gpid
	t.s.met.reconfiguration(p.Type)
	if p.Type == protocol.ConfigAddSecondary {
		if old, ok := t.mu.learners[g]; ok && old.node != p.Node && !slices.Contains(t.mu.tried[g], old.node) {
			t.mu.tried[g] = append(t.mu.tried[g], old.node)
		}
		t.mu.learners[g] = learner{node: p.Node, deadline: now.Add(t.s.opts.LearnTimeout), pushedAt: now}
		t.log.Info("guardian: asking the primary to add a learner", logging.Gpid(g), logging.Node(p.Node),
			"primary", p.New.Primary, logging.Ballot(p.New.Ballot))
		return t.pushes(app, p.Type, p.Node, p.New, p.New.Primary)
	}
	t.log.Info("guardian: configuration changed", logging.Gpid(g), "type", p.Type, logging.Node(p.Node),
		logging.Ballot(p.New.Ballot), "primary", p.New.Primary, "secondaries", p.New.Secondaries, "removed", p.Removed)
	if len(placement.Members(p.New)) == 0 {
		t.log.Warn("guardian: every replica of the partition is dead; it waits for them to report back",
			logging.Gpid(g), "last_members", p.LastMembers)
	}
	return t.pushes(app, p.Type, p.Node, p.New, append(placement.Members(p.New), p.Removed...)...)
}

// learnerRepushInterval is how often the primary of a partition with a
// learner in progress is asked again to add it. A primary drops a learner
// that fails a prepare without telling the meta server (learners are its
// own business), so without asking again the partition would stay a
// member short until the learner's deadline (LearnTimeout). Asking a
// primary that still has the learner only makes it send a group check.
const learnerRepushInterval = 10 * time.Second

// repushLearnersLocked asks again, every learnerRepushInterval, the
// primaries of the partitions whose learner is still in progress.
func (t *term) repushLearnersLocked() []proposal {
	now := t.s.opts.Clock()
	var sends []proposal
	for _, g := range slices.SortedFunc(maps.Keys(t.mu.learners), func(a, b protocol.Gpid) int {
		return cmp.Or(cmp.Compare(a.AppID, b.AppID), cmp.Compare(a.PartitionIndex, b.PartitionIndex))
	}) {
		l := t.mu.learners[g]
		if now.Sub(l.pushedAt) < learnerRepushInterval || now.After(l.deadline) {
			continue
		}
		app := t.mu.view.Apps[g.AppID]
		if app == nil || app.Info.Status != protocol.AppAvailable || int(g.PartitionIndex) >= len(app.Partitions) {
			continue
		}
		cfg := app.Partitions[g.PartitionIndex].Config
		if cfg.Primary == "" || slices.Contains(placement.Members(cfg), l.node) {
			continue
		}
		l.pushedAt = now
		t.mu.learners[g] = l
		sends = append(sends, t.pushes(app.Info, protocol.ConfigAddSecondary, l.node, cfg, cfg.Primary)...)
	}
	return sends
}

// purgeLocked removes dropped tables whose hold period is over.
func (t *term) purgeLocked(ctx context.Context) error {
	now := t.nowMs()
	for _, app := range t.mu.view.SortedApps() {
		if app.Info.Status != protocol.AppDropped || app.Info.ExpireTimeMs > now {
			continue
		}
		if err := t.mu.w.DeleteApp(ctx, t.mu.view, app); err != nil {
			return t.writeErr(ctx, fmt.Sprintf("purge app %d", app.Info.AppID), err)
		}
		t.log.Info("purged dropped table; its replicas are garbage now", logging.AppID(app.Info.AppID), logging.Table(app.Info.Name))
	}
	return nil
}

func (t *term) updateGaugesLocked() {
	var avail, alive, dead, under, noPrimary int
	for _, a := range t.mu.view.Apps {
		if a.Info.Status == protocol.AppAvailable {
			avail++
		}
	}
	states := map[string]membership.State{}
	for _, n := range t.det.Nodes() {
		states[n.Address] = n.State
		if n.Alive() {
			alive++
		} else {
			dead++
		}
	}
	t.servedLocked(func(_ *state.App, p *state.Partition) {
		n := 0
		for _, m := range placement.Members(p.Config) {
			if states[m] != membership.StateDead {
				n++
			}
		}
		if n < int(max(p.Config.MaxReplicaCount, 1)) {
			under++
		}
		if p.Config.Primary == "" || states[p.Config.Primary] == membership.StateDead {
			noPrimary++
		}
	})
	frozen := 0.0
	if placement.Frozen(states, t.s.opts.MinAliveRatio) {
		frozen = 1
	}
	m := t.s.met
	m.tables.Update(float64(avail))
	m.aliveNodes.Update(float64(alive))
	m.deadNodes.Update(float64(dead))
	m.underReplicated.Update(float64(under))
	m.withoutPrimary.Update(float64(noPrimary))
	m.learners.Update(float64(len(t.mu.learners)))
	m.frozen.Update(frozen)
}
