package core

import (
	"slices"

	"github.com/pegasus-go/pegasus/shared/protocol"
)

// Propose offers a client write to the primary. It fails at once with a
// *protocol.Error when the write cannot be accepted:
//
//   - CodeInvalidState: the replica is not the primary;
//   - CodeLeaseExpired: the replica's lease is not valid;
//   - CodeNotEnoughMember: fewer than min(2, MaxReplicaCount) members;
//   - CodeInvalidArgument: an unknown or reserved op code, unknown flags, or
//     Extra updates with a non-idempotent op;
//   - CodeMessageTooLarge: the bodies exceed MaxMutationBytes;
//   - CodeBusy: MaxQueued writes already wait for the in-flight window.
//
// Otherwise the write waits in the queue; the next Ready prepares it when
// the window has room, and its token comes back in Ready.Committed once it
// commits, or in Ready.Replies if it fails.
func (c *Core) Propose(p Proposal) error {
	if err := c.writable(); err != nil {
		return err
	}
	if p.Op == protocol.OpEmpty || p.Op > protocol.OpDuplicate {
		return protocol.Errorf(protocol.CodeInvalidArgument, "op code %d cannot be proposed", uint8(p.Op))
	}
	if p.Flags&^protocol.MutationDupTimetags != 0 {
		return protocol.Errorf(protocol.CodeInvalidArgument, "unknown mutation flags %#x", uint8(p.Flags))
	}
	if len(p.Extra) > 0 {
		if !p.Op.Idempotent() {
			return protocol.Errorf(protocol.CodeInvalidArgument, "%s write with extra updates", p.Op.String())
		}
		for _, u := range p.Extra {
			if u.Op == protocol.OpEmpty || u.Op > protocol.OpDuplicate || !u.Op.Idempotent() {
				return protocol.Errorf(protocol.CodeInvalidArgument, "op code %d cannot be an extra update", uint8(u.Op))
			}
		}
	}
	if n := p.size(); n > c.opts.MaxMutationBytes {
		return protocol.Errorf(protocol.CodeMessageTooLarge, "write of %d bytes exceeds the mutation limit of %d bytes",
			n, c.opts.MaxMutationBytes)
	}
	if len(c.queue) >= c.opts.MaxQueued {
		return protocol.Errorf(protocol.CodeBusy, "replica %s already has %d writes queued (limit %d) and %d mutations in flight",
			c.id, len(c.queue), c.opts.MaxQueued, c.prepared-c.committed)
	}
	c.queue = append(c.queue, p)
	return nil
}

// CanWrite reports whether Propose would take a write now (queue space
// aside): nil, or the *protocol.Error Propose would return.
func (c *Core) CanWrite() error { return c.writable() }

// writable returns why the replica cannot take writes now, or nil.
func (c *Core) writable() error {
	if c.role != RolePrimary {
		return c.notPrimary()
	}
	if !c.leaseValid() {
		return protocol.Errorf(protocol.CodeLeaseExpired, "replica %s has no valid lease", c.id)
	}
	if n, q := c.cfg.Members(), c.opts.writeQuorum(); n < q {
		return protocol.Errorf(protocol.CodeNotEnoughMember, "partition has %d members, writes need %d (read-only)", n, q)
	}
	return nil
}

// becomePrimary takes over as primary under the current ballot: every
// mutation above the commit point from an older ballot is re-prepared under
// this one, and new writes wait until they commit. keepTokens is set when the
// replica was primary under the previous ballot too, so its callers still
// wait.
func (c *Core) becomePrimary(keepTokens bool) {
	c.role = RolePrimary
	c.buffered = map[protocol.Decree]*protocol.Mutation{}
	c.primaryCommitted = 0
	c.logged = c.committed
	for d := c.committed + 1; d <= c.log.last(); d++ {
		e := c.log.get(d)
		if !keepTokens {
			e.tokens = nil
		}
		if e.m.Ballot == c.cfg.Ballot {
			continue
		}
		nm := *e.m
		nm.Ballot = c.cfg.Ballot
		nm.LastCommitted = c.committed
		c.appendEntry(entry{m: &nm, tokens: e.tokens})
	}
	c.prepared = c.log.last()
	if e := c.log.get(c.prepared); e != nil {
		// Timestamps keep growing across primaries.
		c.lastTimestampUs = max(c.lastTimestampUs, e.m.TimestampUs)
	}
	c.reconcileEnd = c.prepared
	c.lastDataDecree = c.prepared
	c.updateLogged()
	if c.prepared > c.committed {
		c.logger.Info("re-preparing uncommitted mutations", "ballot", c.cfg.Ballot,
			"from", c.committed+1, "to", c.prepared)
	}
	old := c.peers
	c.peers = map[string]*progress{}
	c.syncPeers()
	for n, pr := range c.peers {
		if o := old[n]; o != nil {
			pr.retain = max(pr.retain, o.retain)
		}
	}
	c.lastMutationTick = c.now
	c.broadcastGroupCheck()
	if n, q := c.cfg.Members(), c.opts.writeQuorum(); n < q {
		c.failQueued(protocol.CodeNotEnoughMember, "partition lost members and is read-only")
	}
	c.maybeCommit()
}

// syncPeers makes the progress map match the configuration's secondaries and
// learners, sending what newly started learners need.
func (c *Core) syncPeers() {
	want := map[string]bool{}
	for _, s := range c.cfg.Secondaries {
		want[s] = true
		if c.peers[s] == nil {
			c.peers[s] = &progress{node: s, next: c.committed + 1, progressTick: c.now}
		}
	}
	for _, l := range c.cfg.Learners {
		want[l.Node] = true
		pr := c.peers[l.Node]
		if pr == nil {
			pr = &progress{node: l.Node, learner: true, progressTick: c.now}
			c.peers[l.Node] = pr
		}
		if pr.start != l.StartDecree {
			// The learner copied everything below its start decree.
			pr.start = l.StartDecree
			pr.next = l.StartDecree
			pr.match = 0
			pr.retain = max(0, l.StartDecree-1)
			pr.progressTick = c.now
		}
	}
	for n := range c.peers {
		if !want[n] {
			delete(c.peers, n)
		}
	}
	for _, pr := range c.sortedPeers() {
		c.sendPrepares(pr)
	}
}

// sortedPeers returns the peers in configuration order, so the messages a
// Ready holds do not depend on map iteration.
func (c *Core) sortedPeers() []*progress {
	out := make([]*progress, 0, len(c.peers))
	for _, s := range c.cfg.Secondaries {
		if pr := c.peers[s]; pr != nil {
			out = append(out, pr)
		}
	}
	for _, l := range c.cfg.Learners {
		if pr := c.peers[l.Node]; pr != nil {
			out = append(out, pr)
		}
	}
	return out
}

// active reports whether pr receives prepares.
func (pr *progress) active() bool { return !pr.learner || pr.start > 0 }

// sendPrepares sends pr every prepared decree from pr.next on that the log
// still holds.
func (c *Core) sendPrepares(pr *progress) {
	if !pr.active() {
		return
	}
	if pr.learner {
		pr.next = max(pr.next, pr.start)
	}
	pr.next = max(pr.next, c.log.first)
	for ; pr.next <= c.prepared; pr.next++ {
		m := c.log.get(pr.next).m
		if m.Ballot != c.cfg.Ballot {
			// A committed mutation from an older ballot, for a member that
			// lags: it travels under the current ballot like any other.
			cp := *m
			cp.Ballot = c.cfg.Ballot
			m = &cp
		}
		c.send(Message{Type: MsgPrepare, To: pr.node, Ballot: c.cfg.Ballot, Mutation: m,
			Config: c.cfgMsg, LastCommitted: c.committed})
	}
}

func (c *Core) broadcastGroupCheck() {
	c.lastGroupCheck = c.now
	for _, pr := range c.sortedPeers() {
		c.send(Message{Type: MsgGroupCheck, To: pr.node, Ballot: c.cfg.Ballot, Config: c.cfgMsg,
			LastCommitted: c.committed, LastPrepared: c.prepared})
	}
}

// canPrepareQueued reports whether Ready would turn queued writes into
// mutations.
func (c *Core) canPrepareQueued() bool {
	return len(c.queue) > 0 && c.role == RolePrimary && c.committed >= c.reconcileEnd &&
		c.prepared-c.committed < protocol.Decree(c.opts.MaxInFlight) && c.writable() == nil
}

// prepareQueued turns queued writes into mutations while the in-flight
// window has room: consecutive idempotent writes with equal flags share a
// mutation up to MaxMutationUpdates and MaxMutationBytes, a non-idempotent
// write gets one of its own.
func (c *Core) prepareQueued() {
	for c.canPrepareQueued() {
		n, updates, size := 0, 0, 0
		flags := c.queue[0].Flags
		for n < len(c.queue) {
			p := &c.queue[n]
			if !p.Op.Idempotent() {
				if n == 0 {
					n, updates = 1, 1
				}
				break
			}
			if n > 0 && (p.Flags != flags || updates+p.updates() > c.opts.MaxMutationUpdates ||
				size+p.size() > c.opts.MaxMutationBytes) {
				break
			}
			size += p.size()
			updates += p.updates()
			n++
		}
		batch := c.queue[:n]
		m := &protocol.Mutation{
			Ballot:        c.cfg.Ballot,
			Decree:        c.prepared + 1,
			LastCommitted: c.committed,
			Flags:         flags,
			Updates:       make([]protocol.Update, 0, updates),
		}
		tokens := make([]Token, 0, updates)
		ts := c.lastTimestampUs
		if flags&protocol.MutationDupTimetags != 0 {
			ts++
		}
		for _, p := range batch {
			m.Updates = append(m.Updates, protocol.Update{Op: p.Op, Body: p.Body})
			tokens = append(tokens, p.Token)
			for _, u := range p.Extra {
				m.Updates = append(m.Updates, u)
				tokens = append(tokens, nil)
			}
			ts = max(ts, p.TimestampUs)
		}
		m.TimestampUs = ts
		c.lastTimestampUs = ts
		clear(batch)
		c.queue = c.queue[n:]
		if len(c.queue) == 0 {
			c.queue = nil
		}
		c.appendEntry(entry{m: m, tokens: tokens})
		c.prepared = m.Decree
		c.lastMutationTick = c.now
		if m.Updates[0].Op != protocol.OpEmpty {
			c.lastDataDecree = m.Decree
		}
		for _, pr := range c.sortedPeers() {
			c.sendPrepares(pr)
		}
	}
	// A group of one commits as soon as its own log is durable; nothing to
	// do here, maybeCommit runs on LogDone.
}

// maybeCommit moves the commit point to the highest decree the primary,
// every secondary and every learner past its start decree have durably
// logged. (A learner holds everything below its start decree from its copy;
// counting it from there on is what lets the meta server upgrade it at any
// time without it missing a committed mutation.)
func (c *Core) maybeCommit() {
	newC := c.logged
	for _, pr := range c.peers {
		switch {
		case !pr.learner:
			newC = min(newC, pr.match)
		case pr.active():
			newC = min(newC, max(pr.match, pr.start-1))
		}
	}
	if newC > c.committed {
		c.committed = newC
	}
}

func (c *Core) tickPrimary() {
	if !c.leaseValid() {
		c.failQueued(protocol.CodeLeaseExpired, "lease expired")
	}
	for _, pr := range c.sortedPeers() {
		if !pr.active() || pr.match >= c.prepared {
			pr.progressTick = c.now
			continue
		}
		if c.now-pr.progressTick >= int64(c.opts.PrepareTimeoutTicks) {
			if pr.learner {
				c.dropLearner(pr, protocol.CodeTimeout)
				continue
			}
			c.proposeRemoval(pr, protocol.CodeTimeout)
		}
		if !pr.removalProposed && c.now-max(pr.progressTick, pr.resendTick) >= int64(c.opts.ResendTicks) {
			pr.resendTick = c.now
			pr.next = pr.match + 1
			c.sendPrepares(pr)
		}
	}
	if c.now-c.lastGroupCheck >= int64(c.opts.GroupCheckTicks) {
		c.broadcastGroupCheck()
	}
	c.maybeEmptyWrite()
}

// maybeEmptyWrite queues an empty write when the primary has been idle long
// enough and some member has not committed the last write carrying data, so
// the commit point reaches every member through the prepare. (The empty
// write itself is left for the next group check, else every empty write
// would call for another.)
func (c *Core) maybeEmptyWrite() {
	if len(c.queue) > 0 || c.prepared != c.committed || c.committed < c.reconcileEnd ||
		c.now-c.lastMutationTick < int64(c.opts.IdleEmptyWriteTicks) || c.writable() != nil {
		return
	}
	for _, pr := range c.peers {
		if pr.active() && pr.committed < c.lastDataDecree {
			c.queue = append(c.queue, Proposal{Op: protocol.OpEmpty, TimestampUs: c.lastTimestampUs})
			c.lastMutationTick = c.now
			return
		}
	}
}

// proposeRemoval asks the meta server to remove pr, again every
// PrepareTimeoutTicks while the member stays in the configuration (the
// proposal may have been lost on its way).
func (c *Core) proposeRemoval(pr *progress, reason protocol.ErrorCode) {
	if pr.removalProposed && c.now-pr.removalTick < int64(c.opts.PrepareTimeoutTicks) {
		return
	}
	pr.removalProposed = true
	pr.removalTick = c.now
	p := ConfigProposal{Type: ConfigRemove, Node: pr.node, Config: c.cfg.without(pr.node), Reason: reason}
	c.logger.Warn("proposing member removal", "ballot", c.cfg.Ballot, "member", pr.node, "reason", reason.String())
	c.cfgProps = append(c.cfgProps, p)
}

// dropLearner gives up on a learner that failed a prepare or fell behind:
// learners are the primary's own business, so it removes it from its
// configuration (reported in Ready.State) without asking the meta server.
// The learner has to learn again.
func (c *Core) dropLearner(pr *progress, reason protocol.ErrorCode) {
	c.logger.Warn("dropping learner", "ballot", c.cfg.Ballot, "learner", pr.node, "reason", reason.String())
	cfg := c.cfg.Clone()
	cfg.Learners = slices.DeleteFunc(cfg.Learners, func(l Learner) bool { return l.Node == pr.node })
	c.setCfg(cfg)
	delete(c.peers, pr.node)
	c.stateChanged = true
	c.maybeCommit()
}

// stepAck handles a prepare or group-check ack at the primary.
func (c *Core) stepAck(m Message) {
	if m.Ballot > max(c.cfg.Ballot, c.staleBallot) {
		c.becomeStale(m.Ballot, m.From)
		return
	}
	if c.role != RolePrimary || m.Ballot < c.cfg.Ballot {
		return
	}
	pr := c.peers[m.From]
	if pr == nil {
		return
	}
	if m.Err != protocol.CodeOK {
		switch {
		case m.Err == protocol.CodeStaleBallot:
		case pr.learner:
			c.dropLearner(pr, m.Err)
		default:
			c.proposeRemoval(pr, m.Err)
		}
		return
	}
	pr.retain = max(pr.retain, min(m.LastPrepared, c.prepared))
	if lp := min(m.LastPrepared, c.prepared); lp > pr.match {
		pr.match = lp
		pr.progressTick = c.now
	}
	pr.committed = max(pr.committed, m.LastCommitted)
	c.maybeCommit()
}

// retainFloor returns the highest decree the primary may drop from memory
// without starving a member that still needs it. A member more than four
// windows behind is proposed for removal instead (it must learn again).
func (c *Core) retainFloor() protocol.Decree {
	floor := c.applied
	if c.role != RolePrimary {
		return floor
	}
	limit := 4 * protocol.Decree(c.opts.MaxInFlight)
	for _, pr := range c.sortedPeers() {
		if !pr.active() || pr.removalProposed {
			continue
		}
		if c.applied-pr.retain > limit {
			if pr.learner {
				c.dropLearner(pr, protocol.CodeTimeout)
			} else {
				c.proposeRemoval(pr, protocol.CodeTimeout)
			}
			continue
		}
		floor = min(floor, pr.retain)
	}
	return floor
}

// becomeStale makes the replica inactive after a peer revealed a ballot
// above its own: the meta server has moved on, so the loop should fetch the
// current configuration.
func (c *Core) becomeStale(b protocol.Ballot, from string) {
	c.logger.Warn("peer has a newer ballot; going inactive", "ballot", c.cfg.Ballot, "peer", from, "peer_ballot", b)
	c.staleBallot = b
	if c.role == RolePrimary {
		c.stepDown()
	}
	c.role = RoleInactive
	c.stateChanged = true
	c.resetFollower()
}

// stepDown ends the primary role: queued writes fail as not applied,
// prepared ones as of unknown outcome.
func (c *Core) stepDown() {
	c.failQueued(protocol.CodeInvalidState, "replica is no longer primary; the write was not applied")
	for d := c.committed + 1; d <= c.prepared; d++ {
		e := c.log.get(d)
		if e == nil {
			continue
		}
		for _, t := range e.tokens {
			c.reply(t, protocol.Errorf(protocol.CodeTimeout,
				"replica %s stepped down before decree %d committed; the write may or may not be applied", c.id, d))
		}
		e.tokens = nil
	}
	c.peers = nil
	c.reconcileEnd = 0
}

func (c *Core) failQueued(code protocol.ErrorCode, why string) {
	for _, p := range c.queue {
		c.reply(p.Token, protocol.Errorf(code, "replica %s: %s", c.id, why))
	}
	c.queue = nil
}
