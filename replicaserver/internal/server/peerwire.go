package server

import (
	"slices"
	"sync"
	"time"

	"github.com/pegasus-go/pegasus/replicaserver/internal/replica/core"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

// Conversions between the core's messages and the Peer wire types. The
// wire configuration has no learner list: a message to a learner says so
// in its Status, and the receiver rebuilds a configuration naming itself
// as the (only) learner with start decree 0; learners' start decrees are
// the primary's business.

func statusOf(r core.Role) protocol.PartitionStatus {
	switch r {
	case core.RolePrimary:
		return protocol.PartitionPrimary
	case core.RoleSecondary:
		return protocol.PartitionSecondary
	case core.RoleLearner:
		return protocol.PartitionLearner
	}
	return protocol.PartitionInactive
}

// wireConfig converts a core configuration (copying its slices).
func wireConfig(g protocol.Gpid, c *core.Config, replicaCount int32, committed protocol.Decree) protocol.PartitionConfiguration {
	return protocol.PartitionConfiguration{
		Gpid: g, Ballot: c.Ballot, Primary: c.Primary, Secondaries: slices.Clone(c.Secondaries),
		LastCommittedDecree: committed, MaxReplicaCount: replicaCount,
	}
}

// coreConfig rebuilds the sender's configuration at receiver self.
func coreConfig(pc *protocol.PartitionConfiguration, status protocol.PartitionStatus, self string) *core.Config {
	c := &core.Config{Ballot: pc.Ballot, Primary: pc.Primary, Secondaries: slices.Clone(pc.Secondaries)}
	if status == protocol.PartitionLearner {
		c.Learners = []core.Learner{{Node: self}}
	}
	return c
}

// checkFromPrimary validates the common part of a prepare or group check
// before it reaches a replica, so a malformed request is refused rather
// than dropped by the replica loop.
func checkFromPrimary(g protocol.Gpid, pc *protocol.PartitionConfiguration, status protocol.PartitionStatus, self string) (*core.Config, error) {
	if pc.Gpid != g {
		return nil, protocol.Errorf(protocol.CodeInvalidArgument, "request for %s carries the configuration of %s", g, pc.Gpid)
	}
	if pc.Primary == "" || pc.Primary == self {
		return nil, protocol.Errorf(protocol.CodeInvalidArgument, "request for %s has bad primary %q", g, pc.Primary)
	}
	cfg := coreConfig(pc, status, self)
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if status == protocol.PartitionLearner && slices.Contains(pc.Secondaries, self) {
		return nil, protocol.Errorf(protocol.CodeInvalidArgument, "request for %s names %s both secondary and learner", g, self)
	}
	return cfg, nil
}

// ackWaiters matches the acknowledgements a replica emits (through its
// transport) with the Prepare and GroupCheck handlers waiting to answer.
// The core acknowledges cumulatively: an ack with LastPrepared L answers
// every prepare of decree <= L; a group check is answered by the next
// group-check ack; an ack carrying an error answers everything pending from
// that sender. An ack nobody waits for is dropped (a later one supersedes
// it).
type ackWaiters struct {
	mu sync.Mutex
	m  map[ackKey][]*ackWaiter
}

type ackKey struct {
	gpid protocol.Gpid
	from string // the primary the acks go to
}

type ackWaiter struct {
	typ    core.MessageType // MsgPrepare or MsgGroupCheck
	decree protocol.Decree
	ch     chan core.Message // capacity 1
}

func newAckWaiters() *ackWaiters { return &ackWaiters{m: map[ackKey][]*ackWaiter{}} }

// add registers a waiter; register before stepping the message.
func (a *ackWaiters) add(g protocol.Gpid, from string, typ core.MessageType, d protocol.Decree) *ackWaiter {
	w := &ackWaiter{typ: typ, decree: d, ch: make(chan core.Message, 1)}
	k := ackKey{g, from}
	a.mu.Lock()
	a.m[k] = append(a.m[k], w)
	a.mu.Unlock()
	return w
}

// remove forgets w (after it timed out or was answered).
func (a *ackWaiters) remove(g protocol.Gpid, from string, w *ackWaiter) {
	k := ackKey{g, from}
	a.mu.Lock()
	defer a.mu.Unlock()
	l := slices.DeleteFunc(a.m[k], func(x *ackWaiter) bool { return x == w })
	if len(l) == 0 {
		delete(a.m, k)
	} else {
		a.m[k] = l
	}
}

// deliver answers the waiters ack satisfies.
func (a *ackWaiters) deliver(g protocol.Gpid, ack core.Message) {
	k := ackKey{g, ack.To}
	a.mu.Lock()
	defer a.mu.Unlock()
	l := a.m[k]
	if len(l) == 0 {
		return
	}
	keep := l[:0]
	groupAnswered := false
	for _, w := range l {
		var match bool
		switch {
		case ack.Err != protocol.CodeOK:
			match = true
		case w.typ == core.MsgPrepare:
			match = ack.LastPrepared >= w.decree
		case w.typ == core.MsgGroupCheck:
			match = ack.Type == core.MsgGroupCheckAck && !groupAnswered
			groupAnswered = groupAnswered || match
		}
		if match {
			w.ch <- ack
		} else {
			keep = append(keep, w)
		}
	}
	clear(l[len(keep):])
	if len(keep) == 0 {
		delete(a.m, k)
	} else {
		a.m[k] = keep
	}
}

// wait waits for w's ack up to d.
func (w *ackWaiter) wait(d time.Duration, done <-chan struct{}) (core.Message, bool) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case m := <-w.ch:
		return m, true
	case <-t.C:
	case <-done:
	}
	select {
	case m := <-w.ch:
		return m, true
	default:
		return core.Message{}, false
	}
}
