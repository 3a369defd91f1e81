package meta

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/pegasus-go/pegasus/metaserver/internal/membership"
	"github.com/pegasus-go/pegasus/metaserver/internal/placement"
	"github.com/pegasus-go/pegasus/metaserver/internal/state"
	"github.com/pegasus-go/pegasus/shared/logging"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

// describeConfig is the stored configuration as error messages carry it.
func describeConfig(c protocol.PartitionConfiguration) string {
	return fmt.Sprintf("stored configuration: gpid %s ballot %d primary %q secondaries [%s]",
		c.Gpid, c.Ballot, c.Primary, strings.Join(c.Secondaries, ","))
}

// sameSet reports whether a and b hold the same addresses (ignoring order
// and repeats).
func sameSet(a, b []string) bool {
	x, y := slices.Clone(a), slices.Clone(b)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(slices.Compact(x), slices.Compact(y))
}

// UpdateConfiguration persists a configuration change proposed by a
// partition's primary:
//
//	ConfigDowngradeToInactive      Node, a secondary, leaves the group
//	ConfigUpgradeToSecondary       Node, a learner that caught up, becomes a secondary
//	ConfigPrimaryForceUpdateBallot the same members under a new ballot
//
// Config is the proposed configuration: the stored one with the change
// applied and the ballot increased by one, proposed by its primary
// (Config.Primary must be the stored primary). The meta persists it (a
// removed node goes to LastDrops), pushes it to every member and to the
// removed node, and answers with the persisted configuration. A retry of a
// change already persisted is answered the same way. A proposal with
// another ballot is refused with CodeStaleBallot, one from another node or
// not matching the type with CodeInvalidState; both messages describe the
// stored configuration.
func (m *InternalService) UpdateConfiguration(ctx context.Context, req *protocol.UpdateConfigurationRequest, resp *protocol.UpdateConfigurationResponse) error {
	t, err := m.s.serving(ctx)
	if err != nil {
		return err
	}
	switch req.Type {
	case protocol.ConfigPrimaryForceUpdateBallot:
	case protocol.ConfigUpgradeToSecondary, protocol.ConfigDowngradeToInactive:
		if err := validateNode(req.Node); err != nil {
			return err
		}
	default:
		return protocol.Errorf(protocol.CodeInvalidArgument, "configuration change %v is not accepted from a replica server", req.Type)
	}
	cfg, sends, err := t.updateConfiguration(ctx, req)
	if err != nil {
		return err
	}
	t.send(sends)
	resp.Config = cfg
	return nil
}

func (t *term) updateConfiguration(ctx context.Context, req *protocol.UpdateConfigurationRequest) (protocol.PartitionConfiguration, []proposal, error) {
	var none protocol.PartitionConfiguration
	g := req.Config.Gpid
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.active() {
		return none, nil, t.s.forward(ctx)
	}
	app := t.mu.view.Apps[g.AppID]
	if app == nil || app.Info.Status != protocol.AppAvailable {
		return none, nil, protocol.Errorf(protocol.CodeAppNotExist, "no served table with app id %d", g.AppID)
	}
	if g.PartitionIndex < 0 || int(g.PartitionIndex) >= len(app.Partitions) {
		return none, nil, protocol.Errorf(protocol.CodeObjectNotFound, "partition %v does not exist", g)
	}
	part := &app.Partitions[g.PartitionIndex]
	cur := part.Config
	prop := req.Config
	if prop.Ballot == cur.Ballot && prop.Primary == cur.Primary && sameSet(prop.Secondaries, cur.Secondaries) && t.retryMatches(req, cur) {
		return state.CloneConfig(cur), nil, nil // a retry of a change already persisted
	}
	if prop.Ballot != cur.Ballot+1 {
		return none, nil, protocol.Errorf(protocol.CodeStaleBallot, "partition %v: proposed ballot %d, want %d; %s",
			g, prop.Ballot, cur.Ballot+1, describeConfig(cur))
	}
	if cur.Primary == "" || prop.Primary != cur.Primary {
		return none, nil, protocol.Errorf(protocol.CodeInvalidState, "partition %v: proposed by %q, which is not its primary; %s",
			g, prop.Primary, describeConfig(cur))
	}
	invalid := func(format string, args ...any) error {
		return protocol.Errorf(protocol.CodeInvalidState, "partition %v: %s; %s", g, fmt.Sprintf(format, args...), describeConfig(cur))
	}
	next := state.CloneConfig(cur)
	next.Ballot = cur.Ballot + 1
	next.LastCommittedDecree = max(cur.LastCommittedDecree, prop.LastCommittedDecree)
	var removed []string
	switch req.Type {
	case protocol.ConfigDowngradeToInactive:
		if !slices.Contains(cur.Secondaries, req.Node) {
			return none, nil, invalid("%s is not a secondary", req.Node)
		}
		next.Secondaries = slices.DeleteFunc(next.Secondaries, func(s string) bool { return s == req.Node })
		removed = []string{req.Node}
	case protocol.ConfigUpgradeToSecondary:
		if isMember(cur, req.Node) {
			return none, nil, invalid("%s is already a member", req.Node)
		}
		if st, ok := t.det.State(req.Node); ok && st == membership.StateDead {
			return none, nil, invalid("%s is dead", req.Node)
		}
		next.Secondaries = append(next.Secondaries, req.Node)
	}
	if !sameSet(prop.Secondaries, next.Secondaries) {
		return none, nil, invalid("proposed secondaries [%s] do not match %s of %s", strings.Join(prop.Secondaries, ","), req.Type, req.Node)
	}
	p := placement.Proposal{Type: req.Type, Node: req.Node, Old: cur, Removed: removed}
	p.New = placement.ApplyRemoved(next, removed)
	up := state.PartitionUpdate{Config: p.New}
	if d, changed := placement.DropsAfter(part.Drops, p, t.reportsOfLocked(g), t.nowMs()); changed {
		up.Drops = &d
	}
	if err := t.mu.w.UpdatePartitions(ctx, app, up); err != nil {
		return none, nil, t.writeErr(ctx, "update configuration of "+g.String(), err)
	}
	t.s.met.reconfiguration(req.Type)
	if req.Type == protocol.ConfigUpgradeToSecondary {
		if l, ok := t.mu.learners[g]; ok && l.node == req.Node {
			delete(t.mu.learners, g)
		}
	}
	t.log.Info("configuration updated by the primary", logging.Gpid(g), "type", req.Type, logging.Node(req.Node),
		logging.Ballot(p.New.Ballot), "primary", p.New.Primary, "secondaries", p.New.Secondaries)
	sends := t.pushes(app.Info, req.Type, req.Node, p.New, append(placement.Members(p.New), removed...)...)
	t.updateGaugesLocked()
	return state.CloneConfig(p.New), sends, nil
}

// retryMatches reports whether the stored configuration cur is what req
// would have produced (so req is a retry of a change already made).
func (t *term) retryMatches(req *protocol.UpdateConfigurationRequest, cur protocol.PartitionConfiguration) bool {
	switch req.Type {
	case protocol.ConfigDowngradeToInactive:
		return !isMember(cur, req.Node)
	case protocol.ConfigUpgradeToSecondary:
		return slices.Contains(cur.Secondaries, req.Node)
	}
	return true
}
