package core

import (
	"testing"

	"github.com/pegasus-go/pegasus/shared/protocol"
)

// primaryAlone returns a single-member primary with a lease.
func primaryAlone(t *testing.T, st State) *Core {
	t.Helper()
	if st.Config.Ballot == 0 {
		st.Config = Config{Ballot: 1, Primary: "n1"}
	}
	c, err := New(Options{ID: "n1", MaxReplicaCount: 1}, st)
	if err != nil {
		t.Fatal(err)
	}
	c.GrantLease(1 << 40)
	return c
}

// prepared proposes ps and returns the mutations the next Ready logs.
func prepared(t *testing.T, c *Core, ps ...Proposal) []*protocol.Mutation {
	t.Helper()
	for _, p := range ps {
		if err := c.Propose(p); err != nil {
			t.Fatal(err)
		}
	}
	rd := c.Ready()
	c.Advance(rd)
	return rd.Entries
}

func TestDuplicatedMutationTimestampsIncrease(t *testing.T) {
	c := primaryAlone(t, State{})
	put := func(ts int64, flags protocol.MutationFlags) Proposal {
		return Proposal{Op: protocol.OpPut, Body: []byte("x"), TimestampUs: ts, Flags: flags}
	}
	ms := prepared(t, c, put(100, 0), put(50, protocol.MutationDupTimetags), put(50, protocol.MutationDupTimetags),
		put(10, 0), put(10, protocol.MutationDupTimetags))
	if len(ms) != 4 {
		t.Fatalf("%d mutations, want 4 (flags split batches)", len(ms))
	}
	// Unflagged mutations never go back; flagged ones always move forward.
	want := []struct {
		ts    int64
		flags protocol.MutationFlags
	}{{100, 0}, {101, protocol.MutationDupTimetags}, {101, 0}, {102, protocol.MutationDupTimetags}}
	for i, w := range want {
		if ms[i].TimestampUs != w.ts || ms[i].Flags != w.flags {
			t.Fatalf("mutation %d: ts=%d flags=%d, want %d %d", i, ms[i].TimestampUs, ms[i].Flags, w.ts, w.flags)
		}
	}
	ms = prepared(t, c, put(10, protocol.MutationDupTimetags))
	if ms[0].TimestampUs != 103 || c.LastTimestampUs() != 103 {
		t.Fatalf("ts %d (last %d), want 103", ms[0].TimestampUs, c.LastTimestampUs())
	}
}

func TestNewPrimaryContinuesTimestamps(t *testing.T) {
	m := mut(1, 1, 0, "a")
	m.TimestampUs = 5000
	c := primaryAlone(t, State{Log: []*protocol.Mutation{m}})
	if c.LastTimestampUs() != 5000 {
		t.Fatalf("LastTimestampUs %d, want the log's 5000", c.LastTimestampUs())
	}
	ms := prepared(t, c, Proposal{Op: protocol.OpPut, Body: []byte("b"), TimestampUs: 10, Flags: protocol.MutationDupTimetags})
	if len(ms) != 1 || ms[0].TimestampUs != 5001 {
		t.Fatalf("mutations %v, want one at 5001", ms)
	}
}

func TestProposalExtraUpdatesTooLarge(t *testing.T) {
	c := primaryAlone(t, State{})
	c.opts.MaxMutationBytes = 8
	err := c.Propose(Proposal{Op: protocol.OpPut, Body: []byte("12345"), Extra: []protocol.Update{{Op: protocol.OpRemove, Body: []byte("6789")}}})
	if protocol.CodeOf(err) != protocol.CodeMessageTooLarge {
		t.Fatalf("propose = %v, want ERR_MESSAGE_TOO_LARGE", err)
	}
}
