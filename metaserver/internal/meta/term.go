package meta

import (
	"context"
	"errors"
	"fmt"
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
	}
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
		aborted: make(chan struct{}),
	}
	t.ctx, t.cancel = context.WithCancel(s.ctx)
	t.mu.view = view
	t.mu.w = &state.Writer{Store: st, Layout: s.opts.Layout, Fence: lead.Path()}
	return t, nil
}

func (t *term) start() { t.goTracked(t.guardian) }

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

// clusterLocked builds the decision view: node states and the partitions
// of every table that is not dropped.
func (t *term) clusterLocked() placement.Cluster {
	c := placement.Cluster{Nodes: map[string]membership.State{}}
	for _, n := range t.det.Nodes() {
		c.Nodes[n.Address] = n.State
	}
	for _, a := range t.mu.view.Apps {
		if a.Info.Status != protocol.AppAvailable {
			continue
		}
		for _, p := range a.Partitions {
			c.Partitions = append(c.Partitions, p.Config)
		}
	}
	return c
}

// proposal is a ConfigProposal to send once the lock is released.
type proposal struct {
	node string
	req  protocol.ConfigProposalRequest
}

func assignProposals(app protocol.AppInfo, cfgs []protocol.PartitionConfiguration) []proposal {
	var out []proposal
	for _, c := range cfgs {
		if c.Primary == "" {
			continue
		}
		out = append(out, proposal{node: c.Primary, req: protocol.ConfigProposalRequest{
			Type: protocol.ConfigAssignPrimary, Node: c.Primary, App: state.CloneApp(app), Config: state.CloneConfig(c),
		}})
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

// guardian cures partitions and purges expired dropped tables every
// GuardianInterval, and at once when a node comes (back) to life.
func (t *term) guardian() {
	tick := time.NewTicker(t.s.opts.GuardianInterval)
	defer tick.Stop()
	for {
		t.round()
		select {
		case <-t.ctx.Done():
			return
		case <-t.aborted:
			return
		case <-tick.C:
		case <-t.kick:
		}
	}
}

// round is one guardian pass.
func (t *term) round() {
	if !t.active() {
		return
	}
	ctx, cancel := context.WithTimeout(t.ctx, 30*time.Second)
	defer cancel()
	t.mu.Lock()
	sends, err := t.cureLocked(ctx)
	if err == nil {
		err = t.purgeLocked(ctx)
	}
	t.updateGaugesLocked()
	t.mu.Unlock()
	if err != nil && t.active() {
		t.log.Warn("guardian round failed", logging.Err(err))
	}
	t.send(sends)
}

// cureLocked applies placement.Cure: one transaction per table.
func (t *term) cureLocked(ctx context.Context) ([]proposal, error) {
	props := placement.Cure(t.clusterLocked())
	if len(props) == 0 {
		return nil, nil
	}
	byApp := map[int32][]placement.Proposal{}
	for _, p := range props {
		byApp[p.New.Gpid.AppID] = append(byApp[p.New.Gpid.AppID], p)
	}
	var sends []proposal
	for _, id := range slices.Sorted(maps.Keys(byApp)) {
		app := t.mu.view.Apps[id]
		ps := byApp[id]
		cfgs := make([]protocol.PartitionConfiguration, len(ps))
		for i, p := range ps {
			cfgs[i] = p.New
		}
		if err := t.mu.w.SetPartitions(ctx, app, cfgs...); err != nil {
			return sends, t.writeErr(ctx, fmt.Sprintf("cure app %d", id), err)
		}
		for _, p := range ps {
			t.log.Info("guardian: configuration changed", logging.Gpid(p.New.Gpid), "type", p.Type,
				logging.Node(p.Node), logging.Ballot(p.New.Ballot))
			if p.Type == protocol.ConfigAssignPrimary {
				sends = append(sends, assignProposals(app.Info, []protocol.PartitionConfiguration{p.New})...)
			}
		}
	}
	return sends, nil
}

// purgeLocked removes dropped tables whose hold period is over.
func (t *term) purgeLocked(ctx context.Context) error {
	now := t.nowMs()
	for _, app := range t.mu.view.SortedApps() {
		if app.Info.Status != protocol.AppDropped || app.Info.ExpireTimeMs > now {
			continue
		}
		if err := t.mu.w.DeleteApp(ctx, t.mu.view, app); err != nil {
			return t.writeErr(ctx, fmt.Sprintf("purge app %d", app.Info.AppID), err)
		}
		t.log.Info("purged dropped table; its replicas are garbage now", logging.AppID(app.Info.AppID), logging.Table(app.Info.Name))
	}
	return nil
}

func (t *term) updateGaugesLocked() {
	var avail, alive, dead int
	for _, a := range t.mu.view.Apps {
		if a.Info.Status == protocol.AppAvailable {
			avail++
		}
	}
	for _, n := range t.det.Nodes() {
		if n.Alive() {
			alive++
		} else {
			dead++
		}
	}
	t.s.met.tables.Update(float64(avail))
	t.s.met.aliveNodes.Update(float64(alive))
	t.s.met.deadNodes.Update(float64(dead))
}
