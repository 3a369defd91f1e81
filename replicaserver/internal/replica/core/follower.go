package core

import (
	"github.com/pegasus-go/pegasus/shared/protocol"
)

// resetFollower recomputes the follower state after a role or ballot
// change: nothing logged under an older ballot vouches for the new one, so
// prepared and logged restart from the commit point.
func (c *Core) resetFollower() {
	clear(c.buffered)
	c.peers = nil
	c.queue = nil
	c.reconcileEnd = 0
	c.primaryCommitted = c.committed
	c.prepared = c.committed
	c.logged = c.committed
	c.scanPrepared()
	c.updateLogged()
}

// scanPrepared raises prepared over records of the current ballot.
func (c *Core) scanPrepared() {
	c.prepared = max(c.prepared, c.committed)
	for {
		e := c.log.get(c.prepared + 1)
		if e == nil || e.m.Ballot != c.cfg.Ballot {
			return
		}
		c.prepared++
	}
}

// stepFromPrimary handles a prepare or group check.
func (c *Core) stepFromPrimary(m Message) error {
	ackType := MsgPrepareAck
	if m.Type == MsgGroupCheck {
		ackType = MsgGroupCheckAck
	}
	if m.Ballot < max(c.cfg.Ballot, c.staleBallot) {
		c.sendAck(ackType, m.From, protocol.CodeStaleBallot)
		return nil
	}
	if m.Ballot > c.cfg.Ballot {
		if m.Config == nil {
			return protocol.Errorf(protocol.CodeInvalidArgument, "%s from %s has newer ballot %d but no configuration",
				m.Type, m.From, m.Ballot)
		}
		if m.Config.Primary != m.From {
			return protocol.Errorf(protocol.CodeInvalidArgument, "%s from %s carries a configuration whose primary is %q",
				m.Type, m.From, m.Config.Primary)
		}
		c.applyConfig(*m.Config)
	} else if m.Config != nil && m.Config.sameMembers(c.cfg) {
		c.applyConfig(*m.Config) // the primary may have changed its learners
	}
	if (c.role != RoleSecondary && c.role != RoleLearner) || m.From != c.cfg.Primary {
		c.sendAck(ackType, m.From, protocol.CodeInvalidState)
		return nil
	}
	c.primaryCommitted = max(c.primaryCommitted, m.LastCommitted)
	ackNow := m.Type == MsgGroupCheck
	if m.Type == MsgPrepare && c.accept(m.Mutation) {
		ackNow = true
	}
	c.advanceFollowerCommit()
	if ackNow {
		c.sendAck(ackType, m.From, protocol.CodeOK)
	}
	return nil
}

// accept takes a prepare of the current ballot. Prepares are logged in
// decree order: one that arrives ahead of a gap waits in memory. A prepare
// more than MaxBufferedPrepares above the commit point is dropped; the
// primary's resend brings it again. It reports whether the
// prepare was already durably logged, so it can be acknowledged at once.
func (c *Core) accept(m *protocol.Mutation) bool {
	d := m.Decree
	switch {
	case d <= c.prepared:
		// Same ballot and decree means the same mutation: a duplicate.
		return d <= c.logged
	case d-c.committed > protocol.Decree(c.opts.MaxBufferedPrepares):
		// Too far ahead of the commit point: drop it rather than grow
		// without bound; the primary's resend brings it again.
	case d == c.prepared+1:
		c.appendEntry(entry{m: m})
		c.prepared = d
		c.drainBuffered()
	default:
		c.buffered[d] = m
	}
	return false
}

// drainBuffered accepts buffered prepares that now follow prepared.
func (c *Core) drainBuffered() {
	for d := range c.buffered {
		if d <= c.prepared {
			delete(c.buffered, d)
		}
	}
	for {
		m := c.buffered[c.prepared+1]
		if m == nil {
			return
		}
		delete(c.buffered, m.Decree)
		c.appendEntry(entry{m: m})
		c.prepared = m.Decree
	}
}

// advanceFollowerCommit commits up to the primary's commit point as far as
// the local log is durable. For a secondary, records at or below the
// primary's commit point are the committed ones whatever ballot they were
// logged under: a replica only stays a member across ballots if it logged
// every committed mutation. A learner was not a member while the primary
// committed past it, so a record it kept from an older ballot (an
// uncommitted tail it logged before it left the group) may differ from the
// committed one at that decree: it commits only records of the current
// ballot, which came from this primary.
func (c *Core) advanceFollowerCommit() {
	for c.committed < c.primaryCommitted {
		e := c.log.get(c.committed + 1)
		if e == nil || !c.isDurable(e.m) {
			break
		}
		if c.role == RoleLearner && e.m.Ballot != c.cfg.Ballot {
			break
		}
		c.committed++
	}
	if c.committed > c.prepared {
		c.scanPrepared()
		c.drainBuffered()
	}
	c.updateLogged()
}

func (c *Core) sendAck(t MessageType, to string, code protocol.ErrorCode) {
	if to == "" {
		return
	}
	c.send(Message{Type: t, To: to, Ballot: max(c.cfg.Ballot, c.staleBallot),
		LastPrepared: c.logged, LastCommitted: c.committed, Err: code})
}
