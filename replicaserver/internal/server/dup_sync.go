package server

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/uber-go/tally/v4"

	"github.com/pegasus-go/pegasus/client-go/pegasus"
	"github.com/pegasus-go/pegasus/replicaserver/internal/dup"
	"github.com/pegasus-go/pegasus/replicaserver/internal/replica"
	"github.com/pegasus-go/pegasus/shared/logging"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

// Duplication, sending side (see package dup for the duplicator itself).
//
// Every DupOptions.SyncInterval the sync loop sends
// MetaInternal.DuplicationSync to the meta leader with the progress of
// every duplication of every primary here, and applies the answer (every
// live duplication, with the persisted per-partition confirmed and
// checkpoint decrees):
//
//   - every replica of a table with a live duplication is told
//     SetDuplicating(true) (false once none is left);
//   - on a primary, per duplication: DS_LOG runs a duplicator from the
//     confirmed decree (-1, not started: the current commit point, reported
//     at once; a full duplication starts above its checkpoint decree); in
//     DS_PREPARE the primary fixes the checkpoint decree at its commit
//     point and reports it; DS_INIT, DS_APP and DS_PAUSE run nothing; a
//     fail mode change is applied live; a duplication missing from the
//     answer (removed) is dropped;
//   - a replica that is not primary (any more) runs no duplicator;
//   - every replica's plog keeps min(confirmed + 1) over the table's live
//     duplications (replica.GCFloorDup), taking the smallest known of the
//     meta's persisted decree, the local duplicator's, the checkpoint
//     decree and, on secondaries, the primary's from its group checks
//     (GroupCheckRequest.ConfirmedDecrees); no live duplication: no floor.
//
// A failed sync changes nothing: duplicators keep shipping.

// dupKey names one duplication of one partition.
type dupKey struct {
	gpid  protocol.Gpid
	dupid int32
}

// dupState is one duplication of a partition this node is primary of.
type dupState struct {
	key   dupKey
	e     *entry // the replica it runs on (a reopened replica is a new entry)
	entry protocol.DuplicationEntry
	d     *dup.Duplicator // running in DS_LOG
	// confirmed is the confirmed decree while no duplicator runs (-1:
	// none yet); checkpoint the fixed checkpoint decree (0: none).
	confirmed  protocol.Decree
	checkpoint protocol.Decree
	// skippedBefore counts what earlier duplicators of this state skipped.
	skippedBefore int64
	// shippedBefore, failedBefore: the same for the page's counters.
	shippedBefore, failedBefore int64
	startErr                    string
}

// confirmedNow returns the state's confirmed decree.
func (st *dupState) confirmedNow() protocol.Decree {
	if st.d != nil {
		return st.d.Confirmed()
	}
	return st.confirmed
}

type modeRecord struct {
	e  *entry
	on bool
}

type floorRecord struct {
	e     *entry
	floor protocol.Decree
}

// dupManager runs duplication on this node.
type dupManager struct {
	s       *Server
	opts    DupOptions
	remotes RemoteFactory
	own     *dup.Clients // the default factory, closed by stop
	syncNow chan struct{}

	syncs     tally.Counter // dup_sync_count
	syncFails tally.Counter // dup_sync_failed_count

	mu struct {
		sync.Mutex
		states map[dupKey]*dupState
		// live holds, per app id, the live duplications of the last answer.
		live map[int32][]protocol.DuplicationEntry
		// fromPrimary holds, per partition, the confirmed decrees the
		// primary's last group check carried.
		fromPrimary map[protocol.Gpid][]protocol.DuplicationConfirm
		// duplicating and floors: what each replica was last told (a
		// reopened replica is a new entry and is told again).
		duplicating map[protocol.Gpid]modeRecord
		floors      map[protocol.Gpid]floorRecord
		lastSync    time.Time
		lastErr     string
		stopped     bool
	}
}

func newDupManager(s *Server) *dupManager {
	o := s.opts.Dup
	m := &dupManager{s: s, opts: o, remotes: o.Remotes, syncNow: make(chan struct{}, 1),
		syncs: s.opts.Scope.Counter("dup_sync_count"), syncFails: s.opts.Scope.Counter("dup_sync_failed_count")}
	if m.remotes == nil {
		m.own = dup.NewClients(pegasus.Config{}, logging.WithComponent(s.opts.Logger, "dup_client"))
		m.remotes = m.own
	}
	m.mu.states = map[dupKey]*dupState{}
	m.mu.live = map[int32][]protocol.DuplicationEntry{}
	m.mu.fromPrimary = map[protocol.Gpid][]protocol.DuplicationConfirm{}
	m.mu.duplicating = map[protocol.Gpid]modeRecord{}
	m.mu.floors = map[protocol.Gpid]floorRecord{}
	return m
}

// syncSoon asks the loop for a sync at once.
func (m *dupManager) syncSoon() {
	select {
	case m.syncNow <- struct{}{}:
	default:
	}
}

// run syncs every SyncInterval and on syncSoon until ctx ends.
func (m *dupManager) run(ctx context.Context) {
	t := time.NewTicker(m.opts.SyncInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-m.syncNow:
		}
		if err := m.syncOnce(ctx); err != nil && ctx.Err() == nil {
			m.s.log.Warn("duplication sync failed", "meta", m.s.meta.leader(), logging.Err(err))
		}
	}
}

// syncOnce reports progress to the meta leader and applies its answer.
func (m *dupManager) syncOnce(ctx context.Context) error {
	req := &protocol.DuplicationSyncRequest{Node: m.s.opts.Node, Progress: m.progress()}
	var resp protocol.DuplicationSyncResponse
	_, err := m.s.meta.call(ctx, protocol.MethodDuplicationSync, req, &resp)
	m.mu.Lock()
	m.mu.lastSync = m.s.opts.Clock()
	if err != nil {
		m.mu.lastErr = err.Error()
	} else {
		m.mu.lastErr = ""
	}
	m.mu.Unlock()
	if err != nil {
		m.syncFails.Inc(1)
		return err
	}
	m.syncs.Inc(1)
	m.apply(&resp)
	return nil
}

// progress reports every duplication of the primaries here.
func (m *dupManager) progress() []protocol.DupProgress {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]protocol.DupProgress, 0, len(m.mu.states))
	for _, st := range m.mu.states {
		p := protocol.DupProgress{Gpid: st.key.gpid, DupID: st.key.dupid, CheckpointDecree: st.checkpoint, LastError: st.startErr}
		if st.d != nil {
			pr := st.d.Progress()
			p.ConfirmedDecree, p.LastCommitted, p.PendingMutations = pr.Confirmed, pr.LastCommitted, pr.Pending
			p.SkippedMutations = st.skippedBefore + pr.Skipped
			if pr.LastError != "" {
				p.LastError = pr.LastError
			}
		} else {
			p.ConfirmedDecree = st.confirmed
			p.LastCommitted = st.e.r.Info().LastCommitted
			p.SkippedMutations = st.skippedBefore
			if st.confirmed >= 0 {
				p.PendingMutations = max(int64(p.LastCommitted-st.confirmed), 0)
			}
		}
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b protocol.DupProgress) int {
		if c := compareGpid(a.Gpid, b.Gpid); c != 0 {
			return c
		}
		return int(a.DupID - b.DupID)
	})
	return out
}

func compareGpid(a, b protocol.Gpid) int {
	if a.AppID != b.AppID {
		return int(a.AppID - b.AppID)
	}
	return int(a.PartitionIndex - b.PartitionIndex)
}

// partitionOf returns the meta's record of partition pidx of d.
func partitionOf(d *protocol.DuplicationEntry, pidx int32) protocol.DupPartition {
	for _, p := range d.Partitions {
		if p.PartitionIndex == pidx {
			return p
		}
	}
	return protocol.DupPartition{PartitionIndex: pidx, ConfirmedDecree: -1}
}

// apply installs the meta's answer; see the comment at the top.
func (m *dupManager) apply(resp *protocol.DuplicationSyncResponse) {
	live := map[int32][]protocol.DuplicationEntry{}
	for _, d := range resp.Dups {
		if d.Status != protocol.DupStatusRemoved && d.Status.Valid() {
			live[d.AppID] = append(live[d.AppID], d)
		}
	}
	entries := m.s.entries()
	var stop []*dup.Duplicator
	var modes []func() // SetDuplicating calls, made outside the lock
	report := false

	m.mu.Lock()
	if m.mu.stopped {
		m.mu.Unlock()
		return
	}
	m.mu.live = live
	wanted := map[dupKey]bool{}
	for _, e := range entries {
		g := e.gpid
		dups := live[g.AppID]
		fn := m.setDuplicatingLocked(e, len(dups) > 0)
		if fn != nil {
			modes = append(modes, fn)
		}
		// A table that just started duplicating picks no start decree
		// before its replicas duplicate (converted writes, timetags): the
		// next sync, at once, does.
		modeSettling := fn != nil
		info := e.r.Info()
		if info.Status != protocol.PartitionPrimary {
			continue
		}
		for i := range dups {
			k := dupKey{g, dups[i].DupID}
			wanted[k] = true
			st := m.mu.states[k]
			if st != nil && st.e != e {
				// The replica was reopened: start over on the new one.
				stop = append(stop, m.retireLocked(st)...)
				st = nil
			}
			if st == nil {
				st = &dupState{key: k, e: e, confirmed: -1}
				m.mu.states[k] = st
			}
			if m.updateLocked(st, &dups[i], info, modeSettling, &stop) {
				report = true
			}
		}
	}
	for k, st := range m.mu.states {
		if !wanted[k] {
			stop = append(stop, m.retireLocked(st)...)
			delete(m.mu.states, k)
			m.s.log.Info("duplication stopped on this replica", logging.Gpid(k.gpid), "dupid", k.dupid)
		}
	}
	for _, e := range entries {
		m.applyFloorLocked(e)
	}
	present := make(map[protocol.Gpid]bool, len(entries))
	for _, e := range entries {
		present[e.gpid] = true
	}
	maps.DeleteFunc(m.mu.duplicating, func(g protocol.Gpid, _ modeRecord) bool { return !present[g] })
	maps.DeleteFunc(m.mu.floors, func(g protocol.Gpid, _ floorRecord) bool { return !present[g] })
	maps.DeleteFunc(m.mu.fromPrimary, func(g protocol.Gpid, _ []protocol.DuplicationConfirm) bool { return !present[g] })
	m.mu.Unlock()

	for _, fn := range modes {
		fn()
	}
	for _, d := range stop {
		d.Stop()
	}
	// Duplication checkpoints served to follower replicas are kept while
	// the table has a live full duplication (its followers may still be
	// copying even after the meta moved it to DS_LOG); the idle timeout
	// ends the rest.
	m.s.dupSource.retain(func(g protocol.Gpid) bool {
		for i := range live[g.AppID] {
			if live[g.AppID][i].Full {
				return true
			}
		}
		return false
	}, "no live full duplication of the table")
	if report {
		m.syncSoon()
	}
}

// retireLocked stops st's duplicator (returned for the caller to wait on
// outside the lock) and keeps its progress.
func (m *dupManager) retireLocked(st *dupState) []*dup.Duplicator {
	if st.d == nil {
		return nil
	}
	d := st.d
	st.d = nil
	pr := d.Progress()
	st.confirmed = max(st.confirmed, pr.Confirmed)
	st.skippedBefore += pr.Skipped
	st.shippedBefore += pr.ShippedOps
	st.failedBefore += pr.FailedOps
	// A batch the duplicator confirms between here and its Stop is shipped
	// again by the next one (at least once).
	return []*dup.Duplicator{d}
}

// updateLocked applies one live duplication to the state of a primary
// partition. It reports whether the meta should hear about it at once.
func (m *dupManager) updateLocked(st *dupState, d *protocol.DuplicationEntry, info protocol.ReplicaInfo, modeSettling bool,
	stop *[]*dup.Duplicator) bool {
	part := partitionOf(d, st.key.gpid.PartitionIndex)
	st.entry = *d
	if st.d == nil {
		st.confirmed = max(st.confirmed, part.ConfirmedDecree)
	}
	if st.checkpoint <= 0 && part.CheckpointDecree > 0 {
		st.checkpoint = part.CheckpointDecree
	}
	report := false
	switch d.Status {
	case protocol.DupStatusPrepare:
		*stop = append(*stop, m.retireLocked(st)...)
		if modeSettling {
			return true
		}
		if st.checkpoint <= 0 && info.LastCommitted > 0 {
			st.checkpoint = info.LastCommitted
			m.s.log.Info("duplication checkpoint decree fixed", logging.Gpid(st.key.gpid), "dupid", st.key.dupid,
				logging.Decree(st.checkpoint))
			report = true
		}
	case protocol.DupStatusLog:
		if st.d != nil {
			st.d.SetFailMode(d.FailMode)
			return false
		}
		if st.confirmed < 0 {
			if modeSettling {
				return true
			}
			if d.Full && st.checkpoint > 0 {
				st.confirmed = st.checkpoint
			} else {
				st.confirmed = info.LastCommitted
			}
			report = true
		}
		if err := m.startLocked(st); err != nil {
			if st.startErr != err.Error() {
				m.s.log.Warn("cannot start duplication", logging.Gpid(st.key.gpid), "dupid", st.key.dupid, logging.Err(err))
			}
			st.startErr = err.Error()
			return true
		}
		st.startErr = ""
	default: // INIT, APP, PAUSE
		*stop = append(*stop, m.retireLocked(st)...)
	}
	return report
}

// startLocked starts st's duplicator from st.confirmed.
func (m *dupManager) startLocked(st *dupState) error {
	if m.opts.ClusterID == 0 {
		return errors.New("this cluster has no id in [duplication-group]")
	}
	u, ok := st.e.r.(underlying)
	if !ok {
		return fmt.Errorf("replica %s does not replicate", st.key.gpid)
	}
	remoteApp := st.entry.RemoteAppName
	app := st.e.appInfo()
	if remoteApp == "" {
		remoteApp = app.Name
	}
	remote, err := m.remotes.Remote(st.entry.RemoteCluster, st.entry.RemoteMetas, remoteApp)
	if err != nil {
		return err
	}
	d, err := dup.New(dup.Options{
		Gpid: st.key.gpid, DupID: st.key.dupid, Table: app.Name, RemoteCluster: st.entry.RemoteCluster,
		ClusterID: m.opts.ClusterID, Log: replicaLog{u.Underlying()}, Remote: remote,
		Confirmed: st.confirmed, FailMode: st.entry.FailMode, BatchBytes: m.opts.LogBatchBytes,
		PollInterval: m.opts.PollInterval, LaggingWriteThreshold: m.opts.LaggingWriteThreshold,
		Scope: m.s.opts.Scope, Logger: m.s.opts.Logger, Clock: m.s.opts.Clock,
	})
	if err != nil {
		return err
	}
	st.d = d
	d.Start()
	m.s.log.Info("duplication started", logging.Gpid(st.key.gpid), "dupid", st.key.dupid, "remote", st.entry.RemoteCluster,
		"remote_app", remoteApp, "confirmed", int64(st.confirmed))
	return nil
}

// setDuplicatingLocked returns the call that tells e's replica whether
// its table duplicates, when that changed (nil otherwise). The caller
// makes it after unlocking: SetDuplicating may wait for the replica's
// loop, which may be waiting for confirmedDecrees.
func (m *dupManager) setDuplicatingLocked(e *entry, on bool) func() {
	if prev := m.mu.duplicating[e.gpid]; prev.e == e && prev.on == on {
		return nil
	}
	u, ok := e.r.(underlying)
	if !ok {
		return nil
	}
	m.mu.duplicating[e.gpid] = modeRecord{e, on}
	r := u.Underlying()
	return func() { r.SetDuplicating(on) }
}

// applyFloorLocked sets e's duplication GC floor; see the comment at the
// top.
func (m *dupManager) applyFloorLocked(e *entry) {
	g := e.gpid
	floor := replica.NoGCFloor
	note := func(d protocol.Decree) {
		if d >= 0 {
			floor = min(floor, d+1)
		}
	}
	for _, d := range m.mu.live[g.AppID] {
		part := partitionOf(&d, g.PartitionIndex)
		note(part.ConfirmedDecree)
		if part.CheckpointDecree > 0 {
			note(part.CheckpointDecree)
		}
		if st := m.mu.states[dupKey{g, d.DupID}]; st != nil {
			note(st.confirmedNow())
			if st.checkpoint > 0 {
				note(st.checkpoint)
			}
		}
	}
	for _, c := range m.mu.fromPrimary[g] {
		note(c.ConfirmedDecree)
	}
	if prev := m.mu.floors[g]; prev.e == e && prev.floor == floor {
		return
	}
	u, ok := e.r.(underlying)
	if !ok {
		return
	}
	u.Underlying().SetGCFloor(replica.GCFloorDup, floor)
	m.mu.floors[g] = floorRecord{e, floor}
}

// confirmedDecrees returns what a primary's group check carries: the
// confirmed decree of every duplication of g running here. It runs on the
// replica's loop and never blocks for long.
func (m *dupManager) confirmedDecrees(g protocol.Gpid) []protocol.DuplicationConfirm {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []protocol.DuplicationConfirm
	for k, st := range m.mu.states {
		if k.gpid != g {
			continue
		}
		c := st.confirmedNow()
		if st.checkpoint > 0 && (c < 0 || st.checkpoint < c) {
			c = st.checkpoint
		}
		if c >= 0 {
			out = append(out, protocol.DuplicationConfirm{DupID: k.dupid, ConfirmedDecree: c})
		}
	}
	slices.SortFunc(out, func(a, b protocol.DuplicationConfirm) int { return int(a.DupID - b.DupID) })
	return out
}

// fromGroupCheck records the confirmed decrees a primary's group check
// carried to this (secondary) replica and updates its GC floor.
func (m *dupManager) fromGroupCheck(g protocol.Gpid, cs []protocol.DuplicationConfirm) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.mu.stopped {
		return
	}
	if len(cs) == 0 && len(m.mu.fromPrimary[g]) == 0 {
		return
	}
	if len(cs) == 0 {
		delete(m.mu.fromPrimary, g)
	} else {
		m.mu.fromPrimary[g] = slices.Clone(cs)
	}
	if e, err := m.s.lookup(g); err == nil {
		m.applyFloorLocked(e)
	}
}

// stop stops every duplicator and closes the default remote clients.
func (m *dupManager) stop() {
	m.mu.Lock()
	m.mu.stopped = true
	var stop []*dup.Duplicator
	for _, st := range m.mu.states {
		stop = append(stop, m.retireLocked(st)...)
	}
	m.mu.Unlock()
	for _, d := range stop {
		d.Stop()
	}
	if m.own != nil {
		if err := m.own.Close(); err != nil {
			m.s.log.Warn("closing duplication clients", logging.Err(err))
		}
	}
}

// replicaLog is a replica's plog as a duplicator reads it: the whole
// logged tail, bounded by the core's commit point.
type replicaLog struct{ r *replica.Replica }

// NewLogReader implements dup.Log.
func (l replicaLog) NewLogReader(from protocol.Decree) (dup.LogReader, error) {
	rd, err := l.r.NewTailLogReader(from)
	if err != nil {
		return nil, err
	}
	return rd, nil
}

// CommitPoint implements dup.Log.
func (l replicaLog) CommitPoint() (protocol.Ballot, protocol.Decree, bool) {
	info := l.r.Info()
	return info.Ballot, info.LastCommitted, info.Status == protocol.PartitionPrimary
}
