package core

import (
	"errors"
	"math"
	"testing"

	"github.com/pegasus-go/pegasus/shared/protocol"
)

func mut(b protocol.Ballot, d, lc protocol.Decree, body string) *protocol.Mutation {
	return &protocol.Mutation{Ballot: b, Decree: d, LastCommitted: lc,
		Updates: []protocol.Update{{Op: protocol.OpPut, Body: []byte(body)}}}
}

func TestNewRefusesBadInput(t *testing.T) {
	cfg := Config{Ballot: 2, Primary: "n1", Secondaries: []string{"n2"}}
	for _, tc := range []struct {
		name string
		opts Options
		st   State
	}{
		{"empty id", Options{}, State{}},
		{"negative window", Options{ID: "n1", MaxInFlight: -1}, State{}},
		{"resend after timeout", Options{ID: "n1", ResendTicks: 20, PrepareTimeoutTicks: 10}, State{}},
		{"negative applied", Options{ID: "n1"}, State{Applied: -1}},
		{"members without ballot", Options{ID: "n1"}, State{Config: Config{Primary: "n1"}}},
		{"duplicate member", Options{ID: "n1"}, State{Config: Config{Ballot: 1, Primary: "n1", Secondaries: []string{"n1"}}}},
		{"empty secondary", Options{ID: "n1"}, State{Config: Config{Ballot: 1, Primary: "n1", Secondaries: []string{""}}}},
		{"nil record", Options{ID: "n1"}, State{Config: cfg, Log: []*protocol.Mutation{nil}}},
		{"record without decree", Options{ID: "n1"}, State{Config: cfg, Log: []*protocol.Mutation{mut(1, 0, 0, "a")}}},
		{"record above config ballot", Options{ID: "n1"}, State{Config: cfg, Log: []*protocol.Mutation{mut(3, 1, 0, "a")}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.opts, tc.st)
			if !errors.Is(err, protocol.CodeInvalidArgument) {
				t.Fatalf("New = %v, want ERR_INVALID_PARAMETERS", err)
			}
		})
	}
}

func TestRestore(t *testing.T) {
	cfg := Config{Ballot: 3, Primary: "n2", Secondaries: []string{"n1"}}
	c, err := New(Options{ID: "n1"}, State{
		Config:  cfg,
		Applied: 1,
		Log: []*protocol.Mutation{
			mut(1, 1, 0, "old"), // at or below applied: ignored
			mut(1, 2, 1, "a"),
			mut(2, 2, 1, "a"), // the higher ballot wins
			mut(2, 3, 2, "b"),
			mut(1, 3, 1, "x"),
			mut(2, 5, 3, "after-gap"), // ignored: decree 4 is missing
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	st := c.Status()
	if st.Role != RoleSecondary || st.Committed != 2 || st.Applied != 1 {
		t.Fatalf("status %+v, want secondary committed=2 applied=1", st)
	}
	// Records of an older ballot vouch for nothing under ballot 3.
	if st.Prepared != 2 || st.Logged != 2 {
		t.Fatalf("prepared=%d logged=%d, want 2 and 2", st.Prepared, st.Logged)
	}
	rd := c.Ready()
	if len(rd.Committed) != 1 || string(rd.Committed[0].Mutation.Updates[0].Body) != "a" || rd.Committed[0].Mutation.Ballot != 2 {
		t.Fatalf("committed %+v, want decree 2 [a] under ballot 2", rd.Committed)
	}
	if c.log.get(3).m.Ballot != 2 || c.log.get(5) != nil {
		t.Fatal("restored log does not keep the highest ballot per decree up to the first gap")
	}

	// The first record of the current ballot tells that everything below it
	// was committed.
	c, err = New(Options{ID: "n1"}, State{Config: cfg, Log: []*protocol.Mutation{
		mut(2, 1, 0, "a"), mut(2, 2, 0, "b"), mut(3, 3, 0, "c"), mut(3, 4, 0, "d"),
	}})
	if err != nil {
		t.Fatal(err)
	}
	if st := c.Status(); st.Committed != 2 || st.Prepared != 4 || st.Logged != 4 {
		t.Fatalf("status %+v, want committed=2 prepared=logged=4", st)
	}
}

func TestRestartedPrimary(t *testing.T) {
	// A primary with secondaries waits for a new ballot ...
	c, err := New(Options{ID: "n1"}, State{Config: Config{Ballot: 1, Primary: "n1", Secondaries: []string{"n2"}}})
	if err != nil {
		t.Fatal(err)
	}
	if c.Role() != RoleInactive {
		t.Fatalf("role %s, want inactive", c.Role())
	}
	if err := c.SetConfig(Config{Ballot: 1, Primary: "n1", Secondaries: []string{"n2"}}); err != nil || c.Role() != RoleInactive {
		t.Fatalf("same ballot: err=%v role=%s, want still inactive", err, c.Role())
	}
	if err := c.SetConfig(Config{Ballot: 1, Primary: "n1", Secondaries: []string{"n2"}, Learners: []Learner{{"n3", 0}}}); err != nil || c.Role() != RoleInactive {
		t.Fatalf("same ballot, new learner: err=%v role=%s, want still inactive", err, c.Role())
	}
	if err := c.SetConfig(Config{Ballot: 2, Primary: "n1", Secondaries: []string{"n2"}}); err != nil || c.Role() != RolePrimary {
		t.Fatalf("new ballot: err=%v role=%s, want primary", err, c.Role())
	}
	// ... a primary alone resumes.
	c, err = New(Options{ID: "n1", MaxReplicaCount: 1}, State{Config: Config{Ballot: 1, Primary: "n1"}})
	if err != nil {
		t.Fatal(err)
	}
	if c.Role() != RolePrimary {
		t.Fatalf("role %s, want primary", c.Role())
	}
	if err := c.Propose(Proposal{Op: protocol.OpPut, Body: []byte("a")}); !errors.Is(err, protocol.CodeLeaseExpired) {
		t.Fatalf("propose without lease = %v, want ERR_LEASE_EXPIRED", err)
	}
	if err := c.CanRead(); !errors.Is(err, protocol.CodeLeaseExpired) {
		t.Fatalf("CanRead without lease = %v, want ERR_LEASE_EXPIRED", err)
	}
}

func newFollower(t *testing.T) *Core {
	t.Helper()
	c, err := New(Options{ID: "n2"}, State{})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SetConfig(Config{Ballot: 2, Primary: "n1", Secondaries: []string{"n2"}}); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestStepRefusesMalformedMessages(t *testing.T) {
	cfg3 := &Config{Ballot: 3, Primary: "n3", Secondaries: []string{"n2"}}
	for _, tc := range []struct {
		name string
		m    Message
	}{
		{"wrong recipient", Message{Type: MsgPrepare, From: "n1", To: "n9", Ballot: 2, Mutation: mut(2, 1, 0, "a")}},
		{"no sender", Message{Type: MsgPrepare, To: "n2", Ballot: 2, Mutation: mut(2, 1, 0, "a")}},
		{"from self", Message{Type: MsgPrepare, From: "n2", To: "n2", Ballot: 2, Mutation: mut(2, 1, 0, "a")}},
		{"no ballot", Message{Type: MsgPrepare, From: "n1", To: "n2", Mutation: mut(2, 1, 0, "a")}},
		{"unknown type", Message{Type: 99, From: "n1", To: "n2", Ballot: 2}},
		{"prepare without mutation", Message{Type: MsgPrepare, From: "n1", To: "n2", Ballot: 2}},
		{"mutation ballot differs", Message{Type: MsgPrepare, From: "n1", To: "n2", Ballot: 2, Mutation: mut(1, 1, 0, "a")}},
		{"decree zero", Message{Type: MsgPrepare, From: "n1", To: "n2", Ballot: 2, Mutation: mut(2, 0, 0, "a")}},
		{"negative commit point", Message{Type: MsgGroupCheck, From: "n1", To: "n2", Ballot: 2, LastCommitted: -1}},
		{"newer ballot without config", Message{Type: MsgGroupCheck, From: "n3", To: "n2", Ballot: 3}},
		{"config ballot differs", Message{Type: MsgGroupCheck, From: "n3", To: "n2", Ballot: 4, Config: cfg3}},
		{"config names another primary", Message{Type: MsgGroupCheck, From: "n1", To: "n2", Ballot: 3, Config: cfg3}},
		{"invalid config", Message{Type: MsgGroupCheck, From: "n3", To: "n2", Ballot: 3,
			Config: &Config{Ballot: 3, Primary: "n3", Secondaries: []string{"n3"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newFollower(t)
			before := c.Status()
			c.Ready()
			if err := c.Step(tc.m); !errors.Is(err, protocol.CodeInvalidArgument) {
				t.Fatalf("Step = %v, want ERR_INVALID_PARAMETERS", err)
			}
			if after := c.Status(); after.Config.Ballot != before.Config.Ballot || after.Prepared != before.Prepared {
				t.Fatalf("malformed message changed the replica: %+v -> %+v", before, after)
			}
			if c.HasReady() {
				t.Fatalf("malformed message produced work: %+v", c.Ready())
			}
		})
	}
}

func TestLogDone(t *testing.T) {
	c := newFollower(t)
	if err := c.LogDone(2, 1); !errors.Is(err, protocol.CodeInvalidArgument) {
		t.Fatalf("LogDone before any record = %v, want ERR_INVALID_PARAMETERS", err)
	}
	if err := c.Step(Message{Type: MsgPrepare, From: "n1", To: "n2", Ballot: 2, Mutation: mut(2, 1, 0, "a")}); err != nil {
		t.Fatal(err)
	}
	c.opts.AsyncLogAck = true
	rd := c.Ready()
	c.Advance(rd)
	if len(rd.Entries) != 1 || c.Status().Logged != 0 {
		t.Fatalf("entries %d logged %d: with AsyncLogAck, Advance must not mark records durable", len(rd.Entries), c.Status().Logged)
	}
	if err := c.LogDone(2, 2); err == nil {
		t.Fatal("LogDone beyond the records handed out succeeded")
	}
	if err := c.LogDone(2, 1); err != nil {
		t.Fatal(err)
	}
	rd = c.Ready()
	if len(rd.Messages) != 1 || rd.Messages[0].Type != MsgPrepareAck || rd.Messages[0].LastPrepared != 1 {
		t.Fatalf("messages %v, want one ack for decree 1", rd.Messages)
	}
	// Repeating an old position changes nothing.
	if err := c.LogDone(1, 5); err != nil || c.HasReady() {
		t.Fatalf("stale LogDone: err=%v, ready=%v", err, c.HasReady())
	}
}

func TestSetConfig(t *testing.T) {
	c := newFollower(t)
	for _, tc := range []struct {
		cfg  Config
		code protocol.ErrorCode
	}{
		{Config{Ballot: 1, Primary: "n1", Secondaries: []string{"n2"}}, protocol.CodeStaleBallot},
		{Config{Ballot: 2, Primary: "n2", Secondaries: []string{"n1"}}, protocol.CodeInvalidArgument},
		{Config{Ballot: 0}, protocol.CodeInvalidArgument},
		{Config{Ballot: 3, Primary: "n1", Learners: []Learner{{Node: "n2", StartDecree: -1}}}, protocol.CodeInvalidArgument},
	} {
		if err := c.SetConfig(tc.cfg); !errors.Is(err, tc.code) {
			t.Errorf("SetConfig(%s) = %v, want %s", tc.cfg, err, tc.code)
		}
	}
	// The configuration is copied: changing the caller's slices later does
	// not reach the core.
	cfg := Config{Ballot: 3, Primary: "n1", Secondaries: []string{"n2"}}
	if err := c.SetConfig(cfg); err != nil {
		t.Fatal(err)
	}
	cfg.Secondaries[0] = "zz"
	if c.Status().Config.Secondaries[0] != "n2" {
		t.Fatal("SetConfig kept the caller's slice")
	}
}

func TestProposeRefusals(t *testing.T) {
	c, err := New(Options{ID: "n1", MaxReplicaCount: 1, MaxQueued: 1, MaxMutationBytes: 4}, State{Config: Config{Ballot: 1, Primary: "n1"}})
	if err != nil {
		t.Fatal(err)
	}
	c.GrantLease(math.MaxInt64)
	for _, tc := range []struct {
		p    Proposal
		code protocol.ErrorCode
	}{
		{Proposal{Op: protocol.OpEmpty}, protocol.CodeInvalidArgument},
		{Proposal{Op: 200}, protocol.CodeInvalidArgument},
		{Proposal{Op: protocol.OpPut, Body: []byte("12345")}, protocol.CodeMessageTooLarge},
		{Proposal{Op: protocol.OpPut, Body: []byte("a")}, protocol.CodeOK},
		{Proposal{Op: protocol.OpPut, Body: []byte("b")}, protocol.CodeBusy},
	} {
		if err := c.Propose(tc.p); protocol.CodeOf(err) != tc.code {
			t.Errorf("Propose(%v) = %v, want %s", tc.p, err, tc.code)
		}
	}
}

func TestTimestamps(t *testing.T) {
	c, err := New(Options{ID: "n1", MaxReplicaCount: 1, MaxMutationUpdates: 2}, State{Config: Config{Ballot: 1, Primary: "n1"}})
	if err != nil {
		t.Fatal(err)
	}
	c.GrantLease(math.MaxInt64)
	for i, ts := range []int64{100, 300, 200} {
		if err := c.Propose(Proposal{Op: protocol.OpPut, Body: []byte{byte(i)}, TimestampUs: ts}); err != nil {
			t.Fatal(err)
		}
	}
	rd := c.Ready()
	if len(rd.Entries) != 2 || rd.Entries[0].TimestampUs != 300 || rd.Entries[1].TimestampUs != 300 {
		t.Fatalf("timestamps %v, want the batch maximum and never going back", rd.Entries)
	}
}

func TestMutationString(t *testing.T) {
	m := &protocol.Mutation{Ballot: 1, Decree: 2, Updates: []protocol.Update{{Op: protocol.OpPut, Body: []byte{0, 1}}, {Op: 42}}}
	if got, want := MutationString(m), `(b=1 d=2)[put:"\x00\x01" op(42)]`; got != want {
		t.Fatalf("MutationString = %s, want %s", got, want)
	}
	if MutationString(nil) != "<nil>" {
		t.Fatal("MutationString(nil)")
	}
}

// FuzzStep feeds arbitrary messages to a primary and to a secondary: they
// must never panic, and their decrees must stay ordered.
func FuzzStep(f *testing.F) {
	f.Add(uint8(1), uint8(2), int64(1), int64(1), int64(0), int64(0), uint8(0), false)
	f.Add(uint8(2), uint8(1), int64(5), int64(3), int64(2), int64(7), uint8(12), true)
	f.Fuzz(func(t *testing.T, typ, from uint8, ballot, decree, lc, lp int64, errCode uint8, withCfg bool) {
		nodes := []string{"n1", "n2", "n3", "n4"}
		for _, self := range []string{"n1", "n2"} {
			c, err := New(Options{ID: self}, State{})
			if err != nil {
				t.Fatal(err)
			}
			c.GrantLease(math.MaxInt64)
			if err := c.SetConfig(Config{Ballot: 2, Primary: "n1", Secondaries: []string{"n2", "n3"}}); err != nil {
				t.Fatal(err)
			}
			_ = c.Propose(Proposal{Op: protocol.OpPut, Body: []byte("a")})
			c.Advance(c.Ready())
			m := Message{
				Type: MessageType(typ % 6), From: nodes[int(from)%len(nodes)], To: self,
				Ballot: protocol.Ballot(ballot % 8), LastCommitted: protocol.Decree(lc % 16),
				LastPrepared: protocol.Decree(lp % 16), Err: protocol.ErrorCode(errCode % 30),
			}
			m.Mutation = mut(m.Ballot, protocol.Decree(decree%16), protocol.Decree(lc%16), "x")
			if withCfg {
				m.Config = &Config{Ballot: m.Ballot, Primary: m.From, Secondaries: []string{self}}
			}
			for range 2 { // twice: duplicates too
				_ = c.Step(m)
				c.Tick()
				c.Advance(c.Ready())
			}
			st := c.Status()
			if st.Applied > st.Committed || st.Committed < 0 {
				t.Fatalf("%s: applied %d committed %d", self, st.Applied, st.Committed)
			}
		}
	})
}
