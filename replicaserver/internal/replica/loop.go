package replica

import (
	"context"
	"errors"
	"time"

	"github.com/pegasus-go/pegasus/replicaserver/internal/replica/core"
	"github.com/pegasus-go/pegasus/replicaserver/internal/storage"
	"github.com/pegasus-go/pegasus/shared/logging"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

// run is the loop goroutine: it owns the core, the plog's appender side
// and the engine's write batches.
func (r *Replica) run(tickC <-chan time.Time, ticker *time.Ticker) {
	defer close(r.loopDone)
	if ticker != nil {
		defer ticker.Stop()
	}
	for {
		// Stop before taking more work, even when work is waiting.
		select {
		case <-r.stopc:
			return
		default:
		}
		select {
		case <-r.stopc:
			return
		case p := <-r.propc:
			r.checkLease()
			r.propose(p)
			r.drainProposals()
		case m := <-r.stepc:
			r.step(m)
		drainSteps:
			for range cap(r.stepc) {
				select {
				case m := <-r.stepc:
					r.step(m)
				default:
					break drainSteps
				}
			}
		case c := <-r.ctlc:
			r.checkLease()
			c.err = c.fn()
			r.pendingCalls = append(r.pendingCalls, c)
		case <-tickC:
			r.core.Tick()
			r.checkLease()
			r.maybeGC()
		case <-r.wakec:
			r.checkLease()
			r.maybeGC()
		}
		err := r.handleReady()
		for err == nil && r.releaseHeld() {
			err = r.handleReady()
		}
		if errors.Is(err, errKilled) {
			return
		}
		if err != nil {
			r.fail(err)
		}
		r.publish()
		r.flushAnswers()
		for _, c := range r.pendingCalls {
			if err != nil && c.err == nil {
				c.err = err
			}
			c.done <- c.err
		}
		r.pendingCalls = r.pendingCalls[:0]
		if err != nil {
			return
		}
	}
}

// drainProposals proposes every write already waiting, so concurrent
// writers reach the core together and share mutations.
func (r *Replica) drainProposals() {
	for range cap(r.propc) {
		select {
		case p := <-r.propc:
			r.propose(p)
		default:
			return
		}
	}
}

// propose offers a client write to the core. While the table is
// duplicated, writes get the duplication flag and timestamps, and
// non-idempotent writes (with everything behind them) are held until they
// can be converted; see dupmode.go.
func (r *Replica) propose(p core.Proposal) {
	if len(r.held) > 0 || (r.duplicating() && !p.Op.Idempotent()) {
		r.held = append(r.held, p)
		return
	}
	r.proposeNow(p)
}

func (r *Replica) proposeNow(p core.Proposal) {
	if p.Op == protocol.OpDuplicate || r.duplicating() {
		p.Flags |= protocol.MutationDupTimetags
		// Above every timestamp applied, duplicated ones included, so the
		// write wins against everything it could have seen.
		p.TimestampUs = max(p.TimestampUs, r.engine.LastTimestampUs()+1)
	}
	if err := r.core.Propose(p); err != nil {
		r.answer(p.Token, writeResult{err: err})
	}
}

func (r *Replica) step(m core.Message) {
	if err := r.core.Step(m); err != nil {
		r.logger.Warn("dropping malformed replica message", "message", m.String(), logging.Err(err))
	}
}

// answer queues the reply to a write's caller (tok may be nil: no caller
// here). Replies go out after the round's snapshot is published, so a
// caller that got its answer sees at least that state in Info and Status.
func (r *Replica) answer(tok core.Token, res writeResult) {
	pw, ok := tok.(*pendingWrite)
	if !ok || pw == nil {
		return
	}
	r.answers = append(r.answers, pendingAnswer{pw, res})
}

// flushAnswers sends the queued replies.
func (r *Replica) flushAnswers() {
	for i, a := range r.answers {
		a.pw.ch <- a.res
		r.answers[i] = pendingAnswer{}
	}
	r.answers = r.answers[:0]
}

type pendingAnswer struct {
	pw  *pendingWrite
	res writeResult
}

// handleReady runs the Ready/Advance cycle until the core has nothing
// left: persist the state, log the entries, send the messages, apply what
// committed and answer its callers, pass on configuration proposals,
// answer failed proposals, advance. An error means the replica cannot go
// on (IO failure) and is returned before Advance.
func (r *Replica) handleReady() error {
	for r.core.HasReady() {
		rd := r.core.Ready()
		if rd.State != nil {
			r.cfg, r.role = rd.State.Config, rd.State.Role
			if err := r.persist(); err != nil {
				return err
			}
			r.logger.Info("replica state changed", logging.Ballot(r.cfg.Ballot), "role", r.role.String(),
				"config", r.cfg.String())
			r.maybeSelfLease()
		}
		if r.crashAt(crashAfterState) {
			return errKilled
		}
		if len(rd.Entries) > 0 {
			if err := r.appendEntries(rd.Entries); err != nil {
				return err
			}
		}
		if r.crashAt(crashAfterAppend) {
			return errKilled
		}
		if len(rd.Messages) > 0 {
			r.transport.Send(rd.Messages)
		}
		for _, a := range rd.Committed {
			if err := r.apply(a); err != nil {
				return err
			}
		}
		for _, cp := range rd.ConfigProposals {
			if r.opts.OnConfigProposal != nil {
				r.opts.OnConfigProposal(cp)
			} else {
				r.logger.Warn("configuration proposal has no receiver", "type", cp.Type.String(), "member", cp.Node,
					"reason", cp.Reason.String(), "config", cp.Config.String())
			}
		}
		for _, rep := range rd.Replies {
			r.answer(rep.Token, writeResult{err: rep.Err})
		}
		if r.crashAt(crashBeforeAdvance) {
			return errKilled
		}
		r.core.Advance(rd)
		if rd.State != nil {
			// A new configuration may change what the lease means.
			r.checkLease()
		}
	}
	return nil
}

func (r *Replica) appendEntries(ents []*protocol.Mutation) error {
	before := r.plog.Stats().TotalBytes
	start := time.Now()
	if err := r.plog.Append(ents); err != nil {
		last := ents[len(ents)-1]
		return protocol.Errorf(protocol.CodeIOError, "replica %s: append decrees %d..%d (ballot %d) to the plog: %v",
			r.gpid, ents[0].Decree, last.Decree, last.Ballot, err)
	}
	r.metrics.plogLatency.Record(time.Since(start))
	if n := r.plog.Stats().TotalBytes - before; n > 0 {
		r.metrics.plogBytes.Inc(n)
		r.bytesSinceSync += n
		if r.bytesSinceSync >= r.opts.PlogSegmentSizeBytes {
			r.bytesSinceSync = 0
			select {
			case r.syncNudge <- struct{}{}:
			default:
			}
		}
	}
	return nil
}

// apply applies one committed mutation in one engine write batch and
// answers the callers of its updates. A failed update answers its own
// caller only; an engine failure fails the replica.
func (r *Replica) apply(a core.Apply) error {
	m := a.Mutation
	start := time.Now()
	dup := m.Flags&protocol.MutationDupTimetags != 0
	wb, err := r.engine.NewWriteBatch(m.Decree, storage.WriteOptions{TimestampUs: m.TimestampUs, ClusterID: r.opts.ClusterID, DupTimetags: dup})
	if err != nil {
		return r.applyFailed(m, err)
	}
	defer wb.Close()
	var onEntry func(protocol.DuplicateEntry)
	if r.role == core.RolePrimary {
		onEntry = r.metrics.dupEntryApplied(r.opts.Clock())
	}
	results := make([]writeResult, len(m.Updates))
	for i, u := range m.Updates {
		resp, err := applyUpdate(wb, m.Decree, u, dup, onEntry)
		if err != nil && isBatchFatal(err) {
			return r.applyFailed(m, err)
		}
		results[i] = writeResult{resp: resp, err: err}
		if err == nil && a.Tokens != nil {
			if pw, ok := a.Tokens[i].(*pendingWrite); ok && pw != nil && pw.converted != nil {
				// A converted incr / check_and_*: its caller gets the
				// result computed when it was converted.
				results[i].resp = pw.converted(m.Decree)
			}
		}
		if err != nil && (a.Tokens == nil || a.Tokens[i] == nil) {
			r.logger.Debug("update failed", logging.Decree(m.Decree), "op", u.Op.String(), logging.Err(err))
		}
	}
	if err := wb.Commit(); err != nil {
		return r.applyFailed(m, err)
	}
	r.metrics.applyLatency.Record(time.Since(start))
	r.metrics.mutations.Inc(1)
	r.metrics.mutationsTotal.Add(1)
	if n := countUpdates(m); n > 0 {
		r.metrics.updates.Inc(int64(n))
		r.metrics.updatesTotal.Add(uint64(n))
		r.metrics.updatesPerMut.RecordValue(float64(n))
	}
	if r.crashAt(crashAfterApply) {
		return errKilled
	}
	if a.Tokens != nil {
		for i, tok := range a.Tokens {
			r.answer(tok, results[i])
		}
	}
	return nil
}

func countUpdates(m *protocol.Mutation) int {
	n := 0
	for _, u := range m.Updates {
		if u.Op != protocol.OpEmpty {
			n++
		}
	}
	return n
}

func (r *Replica) applyFailed(m *protocol.Mutation, err error) error {
	return protocol.Errorf(protocol.CodeOf(err), "replica %s: apply decree %d (ballot %d): %v", r.gpid, m.Decree, m.Ballot, err)
}

// fail records the replica's failure; the loop stops after it.
func (r *Replica) fail(err error) {
	if protocol.CodeOf(err) == protocol.CodeUnknown {
		err = &protocol.Error{Code: protocol.CodeIOError, Message: err.Error()}
	}
	r.failure.CompareAndSwap(nil, &errBox{err: err})
	r.logger.Error("replica failed; it serves nothing until reopened", logging.Err(err))
}

// maybeGC removes plog segments below min(engine durable decree + 1, the
// GC floor).
func (r *Replica) maybeGC() {
	floor := min(r.engine.LastDurableDecree()+1, protocol.Decree(r.gcFloor.Load()))
	if floor <= r.lastGCFloor {
		return
	}
	n, err := r.plog.GC(floor)
	if err != nil {
		r.logger.Warn("plog garbage collection failed", logging.Decree(floor), logging.Err(err))
		return
	}
	r.lastGCFloor = floor
	if n > 0 {
		r.metrics.plogGCSegments.Inc(int64(n))
		r.logger.Debug("plog garbage collected", logging.Decree(floor), "segments", n)
	}
}

// runSyncer makes the engine durable every EngineSyncInterval and when the
// loop reports enough plog growth, then wakes the loop to collect the plog.
func (r *Replica) runSyncer(ctx context.Context) {
	defer r.bg.Done()
	var tick <-chan time.Time
	if r.opts.EngineSyncInterval > 0 {
		t := time.NewTicker(r.opts.EngineSyncInterval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
		case <-r.syncNudge:
		}
		r.syncEngine()
	}
}

// syncEngine makes every applied mutation durable in the engine and wakes
// the loop when the durable decree advanced. Safe from any goroutine.
func (r *Replica) syncEngine() {
	before := r.engine.LastDurableDecree()
	if r.engine.LastAppliedDecree() == before {
		return
	}
	d, err := r.engine.SyncWAL()
	if err != nil {
		if !errors.Is(err, storage.ErrClosed) {
			r.logger.Warn("engine sync failed", logging.Err(err))
		}
		return
	}
	if d > before {
		r.metrics.engineSyncs.Inc(1)
		r.wake()
	}
}

// runReaper runs the TTL reaper, one small step every ReapInterval.
func (r *Replica) runReaper(ctx context.Context) {
	defer r.bg.Done()
	ro := r.opts.Reaper
	user := ro.OnStep
	ro.OnStep = func(s storage.ReapStats) {
		r.metrics.reaped(s)
		if user != nil {
			user(s)
		}
	}
	reaper := r.engine.NewReaper(ro)
	var tick <-chan time.Time
	if r.hooks != nil && r.hooks.reapC != nil {
		tick = r.hooks.reapC
	} else {
		t := time.NewTicker(r.opts.ReapInterval)
		defer t.Stop()
		tick = t.C
	}
	for {
		err := reaper.Run(ctx, tick)
		if err == nil || ctx.Err() != nil || errors.Is(err, storage.ErrClosed) {
			return
		}
		r.logger.Warn("TTL reaper step failed", logging.Err(err))
	}
}
