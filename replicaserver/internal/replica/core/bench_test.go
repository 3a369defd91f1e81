package core

import (
	"math"
	"testing"

	"github.com/pegasus-go/pegasus/shared/protocol"
)

// BenchmarkSingleMember measures the core's own cost per write for a
// partition with one replica: Propose, Ready, Advance, with batching.
func BenchmarkSingleMember(b *testing.B) {
	c, err := New(Options{ID: "n1", MaxReplicaCount: 1}, State{Config: Config{Ballot: 1, Primary: "n1"}})
	if err != nil {
		b.Fatal(err)
	}
	c.GrantLease(math.MaxInt64)
	body := make([]byte, 100)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if err := c.Propose(Proposal{Op: protocol.OpPut, Body: body, Token: i}); err != nil {
			b.Fatal(err)
		}
		if i%16 == 15 {
			for c.HasReady() {
				c.Advance(c.Ready())
			}
		}
	}
}

// BenchmarkThreeMembers measures one write's full round through a primary
// and two secondaries connected in memory (no batching: one write per
// round).
func BenchmarkThreeMembers(b *testing.B) {
	e := newEnv(b.Fatalf)
	e.quiet = true
	cfg := Config{Ballot: 1, Primary: "n1", Secondaries: []string{"n2", "n3"}}
	for _, id := range []string{"n1", "n2", "n3"} {
		if err := e.addNode(id, Options{GroupCheckTicks: 1 << 30, IdleEmptyWriteTicks: 1 << 30}, State{}); err != nil {
			b.Fatal(err)
		}
		if err := e.nodes[id].core.SetConfig(cfg); err != nil {
			b.Fatal(err)
		}
	}
	// Applied mutations pile up in the env; drop them as we go.
	e.onApply = func(n *envNode, _ Apply) { n.applied = n.applied[len(n.applied)-1:] }
	e.truth = map[protocol.Decree]string{}
	p := e.nodes["n1"]
	body := make([]byte, 100)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if err := p.core.Propose(Proposal{Op: protocol.OpPut, Body: body, Token: i}); err != nil {
			b.Fatal(err)
		}
		e.stabilize()
		e.out.Reset()
		clear(e.truth)
		for _, n := range e.nodes {
			n.durable = n.durable[:0]
		}
	}
}
