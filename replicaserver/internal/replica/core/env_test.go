package core

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/pegasus-go/pegasus/shared/protocol"
)

// env is a group of replicas wired to an in-memory network and in-memory
// storage, driven step by step by tests. It plays the IO loop: it persists
// Ready.Entries, queues Ready.Messages, applies Ready.Committed and advances.
type env struct {
	nodes map[string]*envNode
	order []string
	net   []Message
	out   strings.Builder
	quiet bool // print nothing (benchmarks, randomized runs)
	// truth maps each decree ever applied anywhere to its updates, so any
	// two replicas applying different writes at one decree are caught.
	truth map[protocol.Decree]string
	fail  func(format string, args ...any)
	// onApply and onReply observe what the loop sees (randomized test).
	onApply func(n *envNode, a Apply)
	onReply func(n *envNode, r Reply)
	onProp  func(n *envNode, p ConfigProposal)
}

type envNode struct {
	id   string
	opts Options
	core *Core // nil while crashed

	cfg     Config               // persisted Ready.State
	durable []*protocol.Mutation // plog records that survive a crash
	pending []*protocol.Mutation // handed out, not yet durable (async log)
	applied []*protocol.Mutation // the state machine, in decree order
	// maxBallot is the highest ballot the node ever reported, for the
	// monotonicity check.
	maxBallot protocol.Ballot
}

func newEnv(fail func(format string, args ...any)) *env {
	return &env{nodes: map[string]*envNode{}, truth: map[protocol.Decree]string{}, fail: fail}
}

func (e *env) printf(format string, args ...any) {
	if !e.quiet {
		fmt.Fprintf(&e.out, format, args...)
	}
}

func (e *env) addNode(id string, opts Options, st State) error {
	if _, ok := e.nodes[id]; ok {
		return fmt.Errorf("node %s exists", id)
	}
	opts.ID = id
	c, err := New(opts, st)
	if err != nil {
		return err
	}
	c.GrantLease(math.MaxInt64)
	e.nodes[id] = &envNode{id: id, opts: opts, core: c, cfg: st.Config.Clone()}
	e.order = append(e.order, id)
	return nil
}

func (e *env) node(id string) (*envNode, error) {
	n := e.nodes[id]
	if n == nil {
		return nil, fmt.Errorf("no node %q", id)
	}
	return n, nil
}

func (e *env) live(id string) (*envNode, error) {
	n, err := e.node(id)
	if err != nil {
		return nil, err
	}
	if n.core == nil {
		return nil, fmt.Errorf("node %s is down", id)
	}
	return n, nil
}

func (n *envNode) lastApplied() protocol.Decree {
	if len(n.applied) == 0 {
		return 0
	}
	return n.applied[len(n.applied)-1].Decree
}

func updatesString(m *protocol.Mutation) string {
	var b strings.Builder
	for i, u := range m.Updates {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s:%s", u.Op.String(), u.Body)
	}
	return b.String()
}

// processReady handles one Ready of node n the way the replica loop does,
// printing it. It reports whether the batch held anything.
func (e *env) processReady(n *envNode) bool {
	rd := n.core.Ready()
	if rd.IsEmpty() {
		return false
	}
	e.printf("%s ready:\n", n.id)
	if rd.State != nil {
		e.printf("  state: %s role=%s\n", rd.State.Config, rd.State.Role)
		if rd.State.Config.Ballot < n.cfg.Ballot {
			e.fail("%s persists ballot %d after %d", n.id, rd.State.Config.Ballot, n.cfg.Ballot)
		}
		n.cfg = rd.State.Config.Clone()
	}
	for _, m := range rd.Entries {
		e.printf("  log: %s lc=%d\n", MutationString(m), m.LastCommitted)
		if n.opts.AsyncLogAck {
			n.pending = append(n.pending, m)
		} else {
			n.durable = append(n.durable, m)
		}
	}
	for _, m := range rd.Messages {
		e.printf("  send: %s\n", m)
		e.net = append(e.net, m)
	}
	for _, a := range rd.Committed {
		m := a.Mutation
		var toks string
		if a.Tokens != nil {
			toks = fmt.Sprintf(" tokens=%v", a.Tokens)
		}
		e.printf("  apply: %s%s\n", MutationString(m), toks)
		if want := n.lastApplied() + 1; m.Decree != want {
			e.fail("%s applies decree %d, expected %d", n.id, m.Decree, want)
		}
		s := updatesString(m)
		if t, ok := e.truth[m.Decree]; ok && t != s {
			e.fail("%s applies decree %d as [%s], another replica applied [%s]", n.id, m.Decree, s, t)
		}
		e.truth[m.Decree] = s
		n.applied = append(n.applied, m)
		if e.onApply != nil {
			e.onApply(n, a)
		}
	}
	for _, p := range rd.ConfigProposals {
		e.printf("  propose-config: %s %s -> %s reason=%s\n", p.Type, p.Node, p.Config, p.Reason)
		if e.onProp != nil {
			e.onProp(n, p)
		}
	}
	for _, r := range rd.Replies {
		e.printf("  reply: %v %v\n", r.Token, r.Err)
		if e.onReply != nil {
			e.onReply(n, r)
		}
	}
	n.core.Advance(rd)
	e.checkBallot(n)
	return true
}

func (e *env) checkBallot(n *envNode) {
	if n.core == nil {
		return
	}
	b := n.core.Status().Config.Ballot
	if b < n.maxBallot {
		e.fail("%s ballot went back from %d to %d", n.id, n.maxBallot, b)
	}
	n.maxBallot = b
}

// logDone makes the first k pending records of an async node durable
// (all with k < 0) and tells the core.
func (e *env) logDone(n *envNode, k int) error {
	if k < 0 || k > len(n.pending) {
		k = len(n.pending)
	}
	if k == 0 {
		return nil
	}
	last := n.pending[k-1]
	n.durable = append(n.durable, n.pending[:k]...)
	n.pending = slices.Clone(n.pending[k:])
	e.printf("%s log-done b=%d d=%d\n", n.id, last.Ballot, last.Decree)
	return n.core.LogDone(last.Ballot, last.Decree)
}

// deliver steps m into its recipient.
func (e *env) deliver(m Message) {
	n := e.nodes[m.To]
	if n == nil || n.core == nil {
		e.printf("dropped (%s down): %s\n", m.To, m)
		return
	}
	e.printf("deliver: %s\n", m)
	if err := n.core.Step(m); err != nil {
		e.printf("  step error: %v\n", err)
	}
	e.checkBallot(n)
}

// crash loses everything the node had not persisted, including a
// configuration it had not yet handed out in Ready.State (it never acted on
// it, so forgetting it is like never having received it).
func (e *env) crash(n *envNode) {
	n.core = nil
	n.pending = nil
	n.maxBallot = n.cfg.Ballot
}

func (e *env) restart(n *envNode) error {
	applied := n.lastApplied()
	var recs []*protocol.Mutation
	for _, m := range n.durable {
		if m.Decree > applied {
			recs = append(recs, m)
		}
	}
	c, err := New(n.opts, State{Config: n.cfg.Clone(), Applied: applied, Log: recs})
	if err != nil {
		return err
	}
	c.GrantLease(math.MaxInt64)
	n.core = c
	return nil
}

// learn replaces n's state with a copy of src's, as a finished learning
// round does: src's state machine (a checkpoint) plus the mutations src
// holds above it (its prepare list), and src's configuration. n restarts
// from the copy.
func (e *env) learn(n, src *envNode) error {
	n.applied = slices.Clone(src.applied)
	n.durable = nil
	for d := src.core.log.first; d <= src.core.log.last(); d++ {
		n.durable = append(n.durable, src.core.log.get(d).m)
	}
	n.pending = nil
	n.cfg = src.core.Status().Config
	n.core = nil
	n.maxBallot = n.cfg.Ballot
	return e.restart(n)
}

// stabilize runs ready, log-done and delivery rounds for the live nodes
// until nothing moves.
func (e *env) stabilize() {
	for moved := true; moved; {
		moved = false
		for _, id := range e.order {
			n := e.nodes[id]
			if n.core == nil {
				continue
			}
			if e.processReady(n) {
				moved = true
			}
			if len(n.pending) > 0 {
				if err := e.logDone(n, -1); err != nil {
					e.fail("log-done %s: %v", id, err)
				}
				moved = true
			}
		}
		if len(e.net) > 0 {
			msgs := e.net
			e.net = nil
			for _, m := range msgs {
				e.deliver(m)
			}
			moved = true
		}
	}
}

func errString(err error) string {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		return pe.Code.String()
	}
	return err.Error()
}
