package meta

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pegasus-go/pegasus/metaserver/internal/membership"
	"github.com/pegasus-go/pegasus/metaserver/internal/placement"
	"github.com/pegasus-go/pegasus/metaserver/internal/state"
	"github.com/pegasus-go/pegasus/shared/coord"
	"github.com/pegasus-go/pegasus/shared/logging"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

// term is one period of leadership. Its View and Writer are guarded by mu;
// the detector has its own lock.
type term struct {
	s     *Server
	log   *slog.Logger
	store coord.Store
	lead  coord.Leadership
	det   *membership.Detector

	ctx    context.Context // canceled when the term stops
	cancel context.CancelFunc
	wg     sync.WaitGroup // guardian and proposal goroutines
	kick   chan struct{}  // wakes the guardian early
	// dupKick wakes the duplication executor early.
	dupKick chan struct{}

	// spawn guards wg: once closed is set no goroutine is added, so wait
	// never races with a late Add.
	spawn struct {
		sync.Mutex
		closed bool
	}

	stopped   atomic.Bool
	aborted   chan struct{}
	abortOnce sync.Once
	abortWhy  atomic.Value // string

	mu struct {
		sync.Mutex
		view *state.View
		w    *state.Writer
		// reports holds, per node, the replicas of its latest ConfigSync,
		// forgotten when the node dies, restarts or comes back.
		reports map[string]map[protocol.Gpid]protocol.ReplicaInfo
		// learners are the learners this term asked primaries to add.
		learners map[protocol.Gpid]learner
		// tried are the nodes whose learning of a partition timed out.
		tried map[protocol.Gpid][]string
		// restarted are nodes that restarted or came back from dead; their
		// primaries get a new ballot in the next guardian round.
		restarted map[string]bool
		// dups holds the duplication progress reported to this leader.
		dups map[dupKey]*dupMem
	}
}

// learner is a learner in progress.
type learner struct {
	node     string
	deadline time.Time // meta clock
	pushedAt time.Time // when the primary was last asked (meta clock)
}

func newTerm(s *Server, st coord.Store, lead coord.Leadership, view *state.View) (*term, error) {
	known := slices.Collect(maps.Keys(view.Nodes))
	for _, a := range view.Apps {
		for _, p := range a.Partitions {
			if p.Config.Primary != "" {
				known = append(known, p.Config.Primary)
			}
			known = append(known, p.Config.Secondaries...)
			known = append(known, p.Config.LastDrops...)
		}
	}
	slices.Sort(known)
	det, err := membership.New(membership.Config{Lease: s.opts.Lease, Grace: s.opts.Grace}, s.opts.Clock, slices.Compact(known))
	if err != nil {
		return nil, err
	}
	t := &term{
		s: s, log: s.log, store: st, lead: lead, det: det,
		kick:    make(chan struct{}, 1),
		dupKick: make(chan struct{}, 1),
		aborted: make(chan struct{}),
	}
	t.ctx, t.cancel = context.WithCancel(s.ctx)
	t.mu.view = view
	t.mu.reports = map[string]map[protocol.Gpid]protocol.ReplicaInfo{}
	t.mu.learners = map[protocol.Gpid]learner{}
	t.mu.tried = map[protocol.Gpid][]string{}
	t.mu.restarted = map[string]bool{}
	t.mu.dups = map[dupKey]*dupMem{}
	t.mu.w = &state.Writer{Store: st, Layout: s.opts.Layout, Fence: lead.Path()}
	return t, nil
}

func (t *term) start() {
	t.goTracked(t.guardian)
	t.goTracked(t.dupLoop)
}

// active reports whether the term may still act.
func (t *term) active() bool { return !t.stopped.Load() && !closed(t.lead.Lost()) }

// stop makes the term refuse every call and cancels its work.
func (t *term) stop() {
	t.stopped.Store(true)
	t.cancel()
}

// wait returns when every goroutine of the term has ended; none is
// started afterwards.
func (t *term) wait() {
	t.spawn.Lock()
	t.spawn.closed = true
	t.spawn.Unlock()
	t.wg.Wait()
}

// goTracked runs fn on a goroutine of the term unless the term is over.
func (t *term) goTracked(fn func()) bool {
	t.spawn.Lock()
	defer t.spawn.Unlock()
	if t.spawn.closed || !t.active() {
		return false
	}
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		fn()
	}()
	return true
}

// abort ends the term from inside (a fenced or conflicting write).
func (t *term) abort(why string) {
	t.abortOnce.Do(func() {
		t.abortWhy.Store(why)
		t.stopped.Store(true)
		close(t.aborted)
	})
}

func (t *term) abortReason() string {
	s, _ := t.abortWhy.Load().(string)
	return s
}

// writeErr turns a store write failure into the caller's error, ending the
// term when the failure means this server can no longer lead safely.
func (t *term) writeErr(ctx context.Context, what string, err error) error {
	switch {
	case errors.Is(err, state.ErrFenced), errors.Is(err, state.ErrConflict):
		t.log.Warn("store write refused; leaving leadership", "op", what, logging.Err(err))
		t.abort(err.Error())
		return t.s.forward(ctx)
	case ctx.Err() != nil:
		return protocol.Errorf(protocol.CodeTimeout, "%s: %v", what, err)
	}
	t.log.Error("store write failed", "op", what, logging.Err(err))
	return protocol.Errorf(protocol.CodeInternal, "%s: %v", what, err)
}

func (t *term) poke() {
	select {
	case t.kick <- struct{}{}:
	default:
	}
}

// nowMs is the meta clock in Unix milliseconds.
func (t *term) nowMs() int64 { return t.s.opts.Clock().UnixMilli() }

// proposal is a ConfigProposal to send once the lock is released.
type proposal struct {
	node string
	req  protocol.ConfigProposalRequest
}

// pushes returns the ConfigProposal of a change (type typ about node) for
// each node in to, skipping duplicates and nodes declared dead.
func (t *term) pushes(app protocol.AppInfo, typ protocol.ConfigType, node string, cfg protocol.PartitionConfiguration, to ...string) []proposal {
	var out []proposal
	seen := map[string]bool{}
	for _, n := range to {
		if n == "" || seen[n] {
			continue
		}
		seen[n] = true
		if st, ok := t.det.State(n); ok && st == membership.StateDead {
			continue
		}
		out = append(out, proposal{node: n, req: protocol.ConfigProposalRequest{
			Type: typ, Node: node, App: state.CloneApp(app), Config: state.CloneConfig(cfg),
		}})
	}
	return out
}

// assignProposals tells every member of each configuration that it has
// (again) a primary under a new ballot.
func (t *term) assignProposals(app protocol.AppInfo, cfgs []protocol.PartitionConfiguration) []proposal {
	var out []proposal
	for _, c := range cfgs {
		if c.Primary != "" {
			out = append(out, t.pushes(app, protocol.ConfigAssignPrimary, c.Primary, c, placement.Members(c)...)...)
		}
	}
	return out
}

// send delivers proposals, each on its own goroutine.
func (t *term) send(ps []proposal) {
	for _, p := range ps {
		ok := t.goTracked(func() {
			ctx, cancel := context.WithTimeout(t.ctx, t.s.opts.ProposalTimeout)
			defer cancel()
			t.s.met.proposals.Inc(1)
			var resp protocol.ConfigProposalResponse
			err := t.s.client.Call(ctx, p.node, protocol.ServiceReplicaControl, protocol.MethodConfigProposal, &p.req, &resp)
			if err != nil {
				t.s.met.proposalFailures.Inc(1)
				t.log.Info("config proposal not delivered; the node's next config sync repairs it",
					logging.Node(p.node), logging.Gpid(p.req.Config.Gpid), "type", p.req.Type, logging.Err(err))
				return
			}
			t.log.Debug("config proposal delivered", logging.Node(p.node), logging.Gpid(p.req.Config.Gpid),
				"type", p.req.Type, logging.Ballot(p.req.Config.Ballot))
		})
		if !ok {
			return
		}
	}
}
