package server

import (
	"testing"
	"time"

	"github.com/pegasus-go/pegasus/replicaserver/internal/replica/core"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

func TestAckWaiters(t *testing.T) {
	a := newAckWaiters()
	g := protocol.Gpid{AppID: 1}
	p3 := a.add(g, "p", core.MsgPrepare, 3)
	p5 := a.add(g, "p", core.MsgPrepare, 5)
	gc1 := a.add(g, "p", core.MsgGroupCheck, 0)
	gc2 := a.add(g, "p", core.MsgGroupCheck, 0)
	other := a.add(g, "q", core.MsgPrepare, 1)
	got := func(w *ackWaiter) (core.Message, bool) {
		select {
		case m := <-w.ch:
			return m, true
		default:
			return core.Message{}, false
		}
	}
	// A prepare ack answers the prepares it covers, not group checks, and
	// only those of its primary.
	a.deliver(g, core.Message{Type: core.MsgPrepareAck, To: "p", Ballot: 1, LastPrepared: 4})
	if m, ok := got(p3); !ok || m.LastPrepared != 4 {
		t.Fatalf("prepare 3: %v %v", m, ok)
	}
	for _, w := range []*ackWaiter{p5, gc1, gc2, other} {
		if _, ok := got(w); ok {
			t.Fatal("answered too early")
		}
	}
	// A group-check ack answers one group check, and covered prepares.
	a.deliver(g, core.Message{Type: core.MsgGroupCheckAck, To: "p", Ballot: 1, LastPrepared: 5})
	if _, ok := got(p5); !ok {
		t.Fatal("prepare 5 not answered by a group-check ack covering it")
	}
	if _, ok := got(gc1); !ok {
		t.Fatal("first group check not answered")
	}
	if _, ok := got(gc2); ok {
		t.Fatal("one group-check ack answered two group checks")
	}
	// An error ack answers everything pending from its primary.
	p9 := a.add(g, "p", core.MsgPrepare, 9)
	a.deliver(g, core.Message{Type: core.MsgPrepareAck, To: "p", Ballot: 2, Err: protocol.CodeStaleBallot})
	for _, w := range []*ackWaiter{gc2, p9} {
		if m, ok := got(w); !ok || m.Err != protocol.CodeStaleBallot {
			t.Fatalf("error ack: %v %v", m, ok)
		}
	}
	a.remove(g, "q", other)
	if len(a.m) != 0 {
		t.Fatalf("waiters left: %v", a.m)
	}
	// wait times out without an ack.
	w := a.add(g, "p", core.MsgPrepare, 1)
	if _, ok := w.wait(time.Millisecond, nil); ok {
		t.Fatal("wait returned without an ack")
	}
	a.deliver(g, core.Message{Type: core.MsgPrepareAck, To: "p", Ballot: 1, LastPrepared: 1})
	if _, ok := w.wait(time.Second, nil); !ok {
		t.Fatal("wait missed the ack")
	}
}

func TestCoreConfigFromWire(t *testing.T) {
	pc := protocol.PartitionConfiguration{Gpid: protocol.Gpid{AppID: 1}, Ballot: 3, Primary: "a", Secondaries: []string{"b"}}
	c, err := checkFromPrimary(pc.Gpid, &pc, protocol.PartitionLearner, "c")
	if err != nil || c.RoleOf("c") != core.RoleLearner || c.RoleOf("b") != core.RoleSecondary {
		t.Fatalf("learner view %v %v", c, err)
	}
	for _, bad := range []struct {
		self   string
		status protocol.PartitionStatus
		gpid   protocol.Gpid
	}{
		{"a", protocol.PartitionSecondary, pc.Gpid},         // from itself
		{"b", protocol.PartitionLearner, pc.Gpid},           // secondary and learner
		{"c", protocol.PartitionSecondary, protocol.Gpid{}}, // another partition
	} {
		if _, err := checkFromPrimary(bad.gpid, &pc, bad.status, bad.self); protocol.CodeOf(err) != protocol.CodeInvalidArgument {
			t.Errorf("checkFromPrimary(%+v) = %v", bad, err)
		}
	}
	pc.Secondaries = []string{"b", "b"}
	if _, err := checkFromPrimary(pc.Gpid, &pc, protocol.PartitionSecondary, "b"); protocol.CodeOf(err) != protocol.CodeInvalidArgument {
		t.Errorf("duplicate member: %v", err)
	}
}
