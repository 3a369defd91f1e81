package core

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/pegasus-go/pegasus/shared/protocol"
)

// TestRandomized drives three replicas and a simulated meta server through
// random proposals, message drops, reorders and duplicates, crashes,
// failovers, member removals and re-additions, with a seeded RNG, and checks
// after every step that:
//
//   - replicas apply contiguous decrees and agree on every decree (the env's
//     truth map), so applied sequences are prefixes of one another;
//   - no write is applied twice, and no write whose proposal definitely
//     failed is ever applied;
//   - a replica that may serve reads has applied every acknowledged write;
//   - ballots never go back;
//
// and at the end, after healing, that every acknowledged write is in every
// member's state machine.
func TestRandomized(t *testing.T) {
	seeds, steps := 48, 5000
	if testing.Short() {
		seeds, steps = 8, 2000
	}
	for seed := range seeds {
		if traceSeed >= 0 && seed != traceSeed {
			continue
		}
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			s := newSim(t, uint64(seed))
			s.trace = traceSeed >= 0
			s.e.quiet = !s.trace
			s.run(steps)
		})
	}
}

// traceSeed, when not negative, runs only that seed and prints the last
// traceLines events before a failure.
const (
	traceSeed  = -1
	traceLines = 400
)

type sim struct {
	t    *testing.T
	rng  *rand.Rand
	e    *env
	ids  []string
	meta Config
	// props are removal proposals waiting for the meta server.
	props []ConfigProposal
	// acked maps each write answered as applied to its decree.
	acked map[string]protocol.Decree
	// failed holds writes whose proposal definitely failed.
	failed map[string]bool
	// appliedAt maps each write applied anywhere to its decree.
	appliedAt map[string]protocol.Decree
	next      int
	refused   map[protocol.ErrorCode]int
	dropPct   int // share of deliveries that lose the message instead
	learner   string
	trace     bool // keep the event log (debugging)
	stats     struct{ proposed, acked, failed, unknown, dropped, dups, crashes, failovers, removals, readds, learners int }
}

func newSim(t *testing.T, seed uint64) *sim {
	s := &sim{
		t:         t,
		rng:       rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		ids:       []string{"n1", "n2", "n3"},
		acked:     map[string]protocol.Decree{},
		failed:    map[string]bool{},
		appliedAt: map[string]protocol.Decree{},
		refused:   map[protocol.ErrorCode]int{},
		dropPct:   []int{1, 4, 10}[seed%3],
	}
	s.e = newEnv(func(format string, args ...any) {
		t.Helper()
		if s.trace {
			lines := strings.Split(s.e.out.String(), "\n")
			t.Log(strings.Join(lines[max(0, len(lines)-traceLines):], "\n"))
		}
		t.Fatalf("seed %d: "+format, append([]any{seed}, args...)...)
	})
	s.e.onApply = s.onApply
	s.e.onReply = s.onReply
	s.e.onProp = func(_ *envNode, p ConfigProposal) { s.props = append(s.props, p) }
	for _, id := range s.ids {
		opts := Options{
			MaxInFlight: 4, MaxQueued: 16, MaxMutationUpdates: 3, MaxBufferedPrepares: 8,
			GroupCheckTicks: 5, ResendTicks: 2, PrepareTimeoutTicks: 8, IdleEmptyWriteTicks: 6,
			AsyncLogAck: s.rng.IntN(2) == 0,
		}
		if err := s.e.addNode(id, opts, State{}); err != nil {
			t.Fatal(err)
		}
	}
	s.meta = Config{Ballot: 1, Primary: "n1", Secondaries: []string{"n2", "n3"}}
	s.push()
	return s
}

func (s *sim) fatalf(format string, args ...any) {
	s.t.Helper()
	s.e.fail(format, args...)
}

func (s *sim) onApply(n *envNode, a Apply) {
	m := a.Mutation
	for i, u := range m.Updates {
		if u.Op == protocol.OpEmpty {
			continue
		}
		body := string(u.Body)
		if d, ok := s.appliedAt[body]; ok && d != m.Decree {
			s.fatalf("%s applies %s at decree %d, already applied at %d", n.id, body, m.Decree, d)
		}
		s.appliedAt[body] = m.Decree
		if s.failed[body] {
			s.fatalf("%s applies %s whose proposal failed", n.id, body)
		}
		if a.Tokens != nil && a.Tokens[i] != nil {
			if a.Tokens[i] != body {
				s.fatalf("%s: token %v on update %s", n.id, a.Tokens[i], body)
			}
			s.acked[body] = m.Decree
			s.stats.acked++
		}
	}
}

func (s *sim) onReply(n *envNode, r Reply) {
	body := r.Token.(string)
	if protocol.CodeOf(r.Err) == protocol.CodeTimeout {
		s.stats.unknown++ // the outcome is unknown: it may or may not apply
		return
	}
	s.fail(body)
}

func (s *sim) fail(body string) {
	if _, ok := s.appliedAt[body]; ok {
		s.fatalf("write %s failed but was applied", body)
	}
	s.failed[body] = true
	s.stats.failed++
}

func (s *sim) liveNode(id string) *envNode {
	if n := s.e.nodes[id]; n != nil && n.core != nil {
		return n
	}
	return nil
}

func (s *sim) liveNodes() []*envNode {
	var out []*envNode
	for _, id := range s.ids {
		if n := s.liveNode(id); n != nil {
			out = append(out, n)
		}
	}
	return out
}

func (s *sim) pick(ns []*envNode) *envNode {
	if len(ns) == 0 {
		return nil
	}
	return ns[s.rng.IntN(len(ns))]
}

// push sends the meta server's configuration to every live member.
func (s *sim) push() {
	members := append([]string{s.meta.Primary}, s.meta.Secondaries...)
	for _, id := range members {
		if n := s.liveNode(id); n != nil {
			if err := n.core.SetConfig(s.meta); err != nil {
				s.fatalf("push config %s to %s: %v", s.meta, id, err)
			}
			s.e.checkBallot(n)
		}
	}
}

func (s *sim) run(steps int) {
	for range steps {
		s.step()
		if !s.trace {
			s.e.out.Reset()
		}
		s.checkReads()
	}
	s.heal()
	s.t.Logf("stats %+v, refused %v, final ballot %d, decree %d", s.stats, s.refused, s.meta.Ballot, s.liveNode(s.meta.Primary).core.Status().Committed)
}

func (s *sim) step() {
	switch r := s.rng.IntN(1000); {
	case r < 150:
		s.propose()
	case r < 450:
		if n := s.pick(s.liveNodes()); n != nil {
			s.e.processReady(n)
		}
	case r < 550:
		var async []*envNode
		for _, n := range s.liveNodes() {
			if len(n.pending) > 0 {
				async = append(async, n)
			}
		}
		if n := s.pick(async); n != nil {
			if err := s.e.logDone(n, 1+s.rng.IntN(len(n.pending))); err != nil {
				s.fatalf("log-done %s: %v", n.id, err)
			}
		}
	case r < 890:
		s.deliverOne()
	case r < 940:
		for _, n := range s.liveNodes() {
			n.core.Tick()
		}
	case r < 943:
		if n := s.pick(s.liveNodes()); n != nil {
			s.e.crash(n)
			s.e.printf("crash %s\n", n.id)
			s.stats.crashes++
		}
	case r < 963:
		s.restartOne()
	case r < 978:
		s.metaRemovals()
	case r < 981:
		s.failover()
	case r < 993:
		s.readd()
	case r < 998:
		s.upgrade()
	default:
		if s.liveNode(s.meta.Primary) == nil {
			s.failover()
		}
	}
}

func (s *sim) propose() {
	n := s.liveNode(s.meta.Primary)
	if n == nil {
		return
	}
	s.next++
	body := fmt.Sprintf("w%d", s.next)
	op := protocol.OpPut
	if s.rng.IntN(5) == 0 {
		op = protocol.OpIncr
	}
	s.stats.proposed++
	if err := n.core.Propose(Proposal{Op: op, Body: []byte(body), Token: body}); err != nil {
		s.refused[protocol.CodeOf(err)]++
		s.fail(body)
	}
}

func (s *sim) deliverOne() {
	if len(s.e.net) == 0 {
		return
	}
	i := s.rng.IntN(len(s.e.net))
	m := s.e.net[i]
	switch r := s.rng.IntN(100); {
	case r < s.dropPct:
		s.e.net = slices.Delete(s.e.net, i, i+1)
		s.e.printf("drop: %s\n", m)
		s.stats.dropped++
	case r < s.dropPct+5:
		s.e.deliver(m) // duplicate: leave it in the network
		s.stats.dups++
	default:
		s.e.net = slices.Delete(s.e.net, i, i+1)
		s.e.deliver(m)
	}
}

func (s *sim) restartOne() {
	var down []*envNode
	for _, id := range s.ids {
		if n := s.e.nodes[id]; n.core == nil {
			down = append(down, n)
		}
	}
	n := s.pick(down)
	if n == nil {
		return
	}
	if err := s.e.restart(n); err != nil {
		s.fatalf("restart %s: %v", n.id, err)
	}
	st := n.core.Status()
	s.e.printf("restart %s: %s b=%d c=%d p=%d a=%d\n", n.id, st.Role, st.Config.Ballot, st.Committed, st.Prepared, st.Applied)
	s.e.checkBallot(n)
	s.rejoin(n)
}

// rejoin tells a restarted member the current configuration. A restarted
// primary of a group with other members (or learners) waits for a new
// ballot, which the meta server issues when it notices the restart.
func (s *sim) rejoin(n *envNode) {
	switch s.meta.RoleOf(n.id) {
	case RoleInactive:
		return
	case RolePrimary:
		if n.core.Role() != RolePrimary {
			s.meta.Ballot++
			s.e.printf("meta: primary %s restarted -> %s\n", n.id, s.meta)
			s.props = nil
			n.core.GrantLease(math.MaxInt64)
		}
	}
	s.push()
}

// metaRemovals accepts removal proposals built on the current configuration.
func (s *sim) metaRemovals() {
	props := s.props
	s.props = nil
	for _, p := range props {
		if p.Config.Ballot != s.meta.Ballot+1 || p.Config.Primary != s.meta.Primary {
			continue
		}
		s.meta = Config{Ballot: p.Config.Ballot, Primary: p.Config.Primary, Secondaries: slices.Clone(p.Config.Secondaries)}
		s.e.printf("meta: remove %s -> %s\n", p.Node, s.meta)
		s.stats.removals++
		s.push()
	}
}

// failover replaces the primary by a live secondary, after ending the old
// primary's lease, as the meta server does once a primary's lease is over.
func (s *sim) failover() {
	var cands []string
	for _, id := range s.meta.Secondaries {
		if s.liveNode(id) != nil {
			cands = append(cands, id)
		}
	}
	if len(cands) == 0 {
		return
	}
	if old := s.liveNode(s.meta.Primary); old != nil {
		old.core.ExpireLease()
	}
	np := cands[s.rng.IntN(len(cands))]
	var secs []string
	for _, id := range s.meta.Secondaries {
		if id != np && s.liveNode(id) != nil {
			secs = append(secs, id)
		}
	}
	s.meta = Config{Ballot: s.meta.Ballot + 1, Primary: np, Secondaries: secs}
	s.e.printf("meta: failover -> %s\n", s.meta)
	s.liveNode(np).core.GrantLease(math.MaxInt64)
	s.stats.failovers++
	s.props = nil
	s.push()
}

// readd brings a live non-member back: it copies the primary's state (a
// finished learning) and the meta server makes it a secondary.
func (s *sim) readd() {
	p := s.liveNode(s.meta.Primary)
	if p == nil || p.core.Role() != RolePrimary || s.meta.Members() >= 3 || s.learner != "" {
		return
	}
	var cands []*envNode
	for _, n := range s.liveNodes() {
		if s.meta.RoleOf(n.id) == RoleInactive {
			cands = append(cands, n)
		}
	}
	n := s.pick(cands)
	if n == nil {
		return
	}
	if err := s.e.learn(n, p); err != nil {
		s.fatalf("learn %s from %s: %v", n.id, p.id, err)
	}
	if s.rng.IntN(2) == 0 {
		// Through the learner stage: the primary prepares to n from the
		// decree after its copy, and the meta server upgrades it later.
		cfg := p.core.Status().Config
		cfg.Learners = []Learner{{Node: n.id, StartDecree: n.core.log.last() + 1}}
		if err := p.core.SetConfig(cfg); err != nil {
			s.fatalf("add learner %s: %v", n.id, err)
		}
		s.e.printf("primary %s: learner %s from %d\n", p.id, n.id, cfg.Learners[0].StartDecree)
		s.learner = n.id
		s.stats.learners++
		return
	}
	s.meta = Config{Ballot: s.meta.Ballot + 1, Primary: s.meta.Primary, Secondaries: append(slices.Clone(s.meta.Secondaries), n.id)}
	s.e.printf("meta: %s learned from %s -> %s\n", n.id, p.id, s.meta)
	s.stats.readds++
	s.props = nil
	s.push()
}

// upgrade makes the learner a secondary, if the primary still has it.
func (s *sim) upgrade() {
	if s.learner == "" {
		return
	}
	id := s.learner
	s.learner = ""
	p := s.liveNode(s.meta.Primary)
	if p == nil || s.liveNode(id) == nil || p.core.Status().Config.RoleOf(id) != RoleLearner {
		return
	}
	s.meta = Config{Ballot: s.meta.Ballot + 1, Primary: s.meta.Primary, Secondaries: append(slices.Clone(s.meta.Secondaries), id)}
	s.e.printf("meta: upgrade learner %s -> %s\n", id, s.meta)
	s.props = nil
	s.push()
}

// checkReads verifies that a replica allowed to serve reads has applied
// every acknowledged write.
func (s *sim) checkReads() {
	for _, n := range s.liveNodes() {
		if n.core.CanRead() != nil {
			continue
		}
		last := n.lastApplied()
		for body, d := range s.acked {
			if d > last {
				s.fatalf("%s serves reads at applied %d but %s was acknowledged at decree %d", n.id, last, body, d)
			}
		}
	}
}

// heal restarts every replica, stops losing messages, restores three
// members and runs until the group is quiet, then checks that every member
// holds every acknowledged write.
func (s *sim) heal() {
	for _, id := range s.ids {
		if s.liveNode(id) == nil {
			n := s.e.nodes[id]
			if err := s.e.restart(n); err != nil {
				s.fatalf("restart %s: %v", id, err)
			}
			s.rejoin(n)
		}
	}
	for round := 0; ; round++ {
		if round > 500 {
			s.fatalf("group did not settle: %s", s.describe())
		}
		s.e.stabilize()
		s.metaRemovals()
		if round%8 == 7 {
			s.upgrade()
		}
		if s.meta.Members() < 3 {
			s.readd()
		}
		s.e.stabilize()
		s.e.out.Reset()
		s.checkReads()
		p := s.liveNode(s.meta.Primary)
		st := p.core.Status()
		settled := st.Role == RolePrimary && s.meta.Members() == 3 && st.Queued == 0 &&
			st.Prepared == st.Committed && st.Applied == st.Committed
		for _, id := range s.meta.Secondaries {
			if s.liveNode(id).lastApplied() != st.Committed {
				settled = false
			}
		}
		if settled {
			break
		}
		for _, n := range s.liveNodes() {
			n.core.Tick()
		}
	}
	p := s.liveNode(s.meta.Primary)
	for _, id := range s.meta.Secondaries {
		n := s.liveNode(id)
		if len(n.applied) != len(p.applied) {
			s.fatalf("%s applied %d mutations, primary %s %d", id, len(n.applied), p.id, len(p.applied))
		}
	}
	have := map[string]bool{}
	for _, m := range p.applied {
		for _, u := range m.Updates {
			have[string(u.Body)] = true
		}
	}
	for body := range s.acked {
		if !have[body] {
			s.fatalf("acknowledged write %s is lost", body)
		}
	}
}

func (s *sim) describe() string {
	out := fmt.Sprintf("meta %s;", s.meta)
	for _, n := range s.liveNodes() {
		st := n.core.Status()
		out += fmt.Sprintf(" %s:%s b=%d c=%d p=%d l=%d a=%d q=%d;", n.id, st.Role, st.Config.Ballot, st.Committed, st.Prepared, st.Logged, st.Applied, st.Queued)
	}
	return out
}
