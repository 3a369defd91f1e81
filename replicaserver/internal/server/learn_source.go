package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/pegasus-go/pegasus/replicaserver/internal/learn"
	"github.com/pegasus-go/pegasus/replicaserver/internal/plog"
	"github.com/pegasus-go/pegasus/replicaserver/internal/replica"
	"github.com/pegasus-go/pegasus/shared/logging"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

// Learning, primary side. A learner (a node the meta asked this primary to
// add) sends Learn rounds; the primary keeps one session per learner:
//
//   - a learner holding nothing (LastCommitted 0), one the plog no longer
//     covers, or one more than LearnLogMaxDecrees behind gets a checkpoint:
//     the engine's checkpoint in <replica dir>/learn/<session>/data plus
//     the table info in app_info.json, listed with sizes and CRC-32C and
//     served by CopyFile;
//   - otherwise it gets the committed plog tail after its decree, up to
//     learnTailBytes per round;
//   - once it is within learnSwitchGap decrees of the commit point, the
//     round switches it to prepares (replica.StartLearner): the answer
//     carries the rest of the tail and PrepareStartDecree;
//   - LearnCompletionNotify then makes the primary propose
//     ConfigUpgradeToSecondary to the meta.
//
// While a session is open the replica's plog is kept from the learner's
// next decree on (SetGCFloor). Sessions close when the learner leaves the
// learners (upgraded or dropped), when this replica stops being primary,
// or after LearnSessionTimeout without a call; their learn directories are
// removed then (and when the replica opens).

const (
	// learnDirName is the directory of a replica's learning sessions.
	learnDirName = "learn"
	// appInfoFile holds the table info in a checkpoint session.
	appInfoFile = "app_info.json"
	// learnSwitchGap is how close to the commit point a learner must be
	// for the switch to prepares.
	learnSwitchGap = 128
	// learnTailBytes and learnTailCount bound one round of plog tail.
	learnTailBytes = 2 << 20
	learnTailCount = 4096
	// upgradeRetry is how often the upgrade of a completed learner is
	// proposed again while it stays a learner.
	upgradeRetry = 3 * time.Second
)

// noGCFloor lifts a replica's plog GC floor.
const noGCFloor = protocol.Decree(math.MaxInt64)

type sessionKey struct {
	gpid    protocol.Gpid
	learner string
}

// learnSession is one learner's session at this primary.
type learnSession struct {
	key       sessionKey
	ballot    protocol.Ballot
	signature uint64
	dirName   string
	dir       string // the session's learn directory ("" until a checkpoint)

	// Guarded by learnSource.mu.
	lastActive time.Time
	floor      protocol.Decree
	files      map[string]bool
	fetched    map[string]bool // files of the checkpoint served up to their end
	served     int64
	start      protocol.Decree
	completed  bool
	proposedAt time.Time

	// Guarded by mu, which serializes the learner's rounds.
	mu         sync.Mutex
	base       protocol.Decree
	list       []protocol.LearnFile
	reader     *plog.Reader
	readerNext protocol.Decree
}

// learnSource runs the primary side of learning for every replica.
type learnSource struct {
	s *Server

	mu       sync.Mutex
	sessions map[sessionKey]*learnSession
	seq      uint64
	served   int64 // checkpoint bytes served since start, every session
}

func newLearnSource(s *Server) *learnSource {
	return &learnSource{s: s, sessions: map[sessionKey]*learnSession{}, seq: rand.Uint64() >> 16}
}

// signature returns the signature of learner's session of g, 0 if none.
func (ls *learnSource) signature(g protocol.Gpid, learner string) uint64 {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if ss := ls.sessions[sessionKey{g, learner}]; ss != nil {
		return ss.signature
	}
	return 0
}

// session returns learner's session of g under ballot, creating one (and
// closing one of an older ballot).
func (ls *learnSource) session(e *entry, learner string, ballot protocol.Ballot) *learnSession {
	k := sessionKey{e.gpid, learner}
	ls.mu.Lock()
	ss := ls.sessions[k]
	if ss != nil && ss.ballot == ballot {
		ss.lastActive = time.Now()
		ls.mu.Unlock()
		return ss
	}
	var old *learnSession
	if ss != nil {
		old = ss
		delete(ls.sessions, k)
	}
	ls.seq++
	sig := ls.seq
	ss = &learnSession{key: k, ballot: ballot, signature: sig, dirName: strconv.FormatUint(sig, 16),
		lastActive: time.Now(), floor: noGCFloor}
	ls.sessions[k] = ss
	ls.mu.Unlock()
	if old != nil {
		ls.cleanup(old)
	}
	ls.s.metrics.learnSessions.Inc(1)
	ls.s.log.Info("learning session opened", logging.Gpid(e.gpid), "learner", learner, logging.Ballot(ballot), "signature", sig)
	return ss
}

// setFloor records the session's GC floor and applies the replica's
// minimum over its sessions.
func (ls *learnSource) setFloor(ss *learnSession, floor protocol.Decree) {
	ls.mu.Lock()
	ss.floor = floor
	ls.mu.Unlock()
	ls.applyFloor(ss.key.gpid)
}

func (ls *learnSource) applyFloor(g protocol.Gpid) {
	ls.mu.Lock()
	floor := noGCFloor
	for k, ss := range ls.sessions {
		if k.gpid == g && !ss.completed {
			floor = min(floor, ss.floor)
		}
	}
	ls.mu.Unlock()
	if _, r, err := ls.s.peerReplica(g); err == nil {
		r.SetGCFloor(replica.GCFloorLearn, floor)
	}
}

// learnerStart returns node's start decree in st and whether it is a
// learner there.
func learnerStart(st replica.Status, node string) (protocol.Decree, bool) {
	for _, l := range st.Learners {
		if l.Node == node {
			return l.StartDecree, true
		}
	}
	return 0, false
}

// learn answers one learning round.
func (ls *learnSource) learn(ctx context.Context, req *protocol.LearnRequest, resp *protocol.LearnResponse) error {
	s := ls.s
	g := req.Gpid
	if req.Learner == "" || req.LastCommitted < 0 {
		return protocol.Errorf(protocol.CodeInvalidArgument, "learn request for %s from %q with decree %d", g, req.Learner, req.LastCommitted)
	}
	e, r, err := s.peerReplica(g)
	if err != nil {
		return err
	}
	st := r.Status()
	switch {
	case st.Role != "primary":
		return protocol.Errorf(protocol.CodeInvalidState, "replica %s on %s is %s, not primary", g, s.opts.Node, st.Role)
	case req.Ballot < st.Ballot:
		return protocol.Errorf(protocol.CodeStaleBallot, "learn request for %s has ballot %d, primary has %d", g, req.Ballot, st.Ballot)
	case req.Ballot > st.Ballot:
		return protocol.Errorf(protocol.CodeInvalidState, "learn request for %s has ballot %d above the primary's %d", g, req.Ballot, st.Ballot)
	}
	start, ok := learnerStart(st, req.Learner)
	if !ok {
		return protocol.Errorf(protocol.CodeInvalidState, "%s is not a learner of %s on %s", req.Learner, g, s.opts.Node)
	}
	ss := ls.session(e, req.Learner, st.Ballot)
	ss.mu.Lock()
	defer ss.mu.Unlock()
	x := req.LastCommitted
	rc := e.appInfo().ReplicaCount
	*resp = protocol.LearnResponse{Gpid: g, Config: protocol.PartitionConfiguration{Gpid: g, Ballot: st.Ballot, Primary: st.Primary,
		Secondaries: slices.Clone(st.Secondaries), MaxReplicaCount: rc, LastCommittedDecree: st.LastCommitted},
		Type: protocol.LearnLog, LastCommitted: st.LastCommitted}
	if start > 0 {
		if x >= start-1 {
			resp.PrepareStartDecree = start
			return nil
		}
		// The learner lost what it learned (it restarted as a fresh
		// replica): it learns again.
		if err := r.ResetLearner(req.Learner); err != nil {
			return err
		}
		ls.mu.Lock()
		ss.start, ss.completed = 0, false
		ls.mu.Unlock()
	}
	// Keep the plog from the learner's next decree on before looking.
	ls.setFloor(ss, x+1)
	ps := r.PlogStats()
	// A learner at decree 0 holds nothing, not even the table info, so it
	// gets a checkpoint; but an empty partition's checkpoint has base
	// decree 0, and a learner that fetched all of it is still at 0: it
	// learns the rest from the log.
	fresh := x == 0 && !ls.fetchedEmptyCheckpoint(ss)
	needCheckpoint := fresh || int64(st.LastCommitted-x) > s.opts.LearnLogMaxDecrees ||
		(x < st.LastCommitted && ps.Segments > 0 && ps.MinDecree > x+1)
	if needCheckpoint {
		return ls.checkpointRound(e, r, ss, resp)
	}
	if st.LastCommitted-x <= learnSwitchGap {
		start, tail, err := r.StartLearner(req.Learner, x+1, 2*learnSwitchGap)
		switch {
		case err == nil:
			ls.switched(ss, start, tail, resp)
			return nil
		case protocol.CodeOf(err) == protocol.CodeBusy:
			// The commit point moved on: another round of tail.
		default:
			return err
		}
	}
	if err := ls.tailRound(ctx, r, ss, x, resp); err != nil {
		return err
	}
	if len(resp.Mutations) == 0 && x < st.LastCommitted {
		// The plog's own evidence of what is committed lags the commit
		// point: switch with the whole rest of the tail, read on the loop.
		start, tail, err := r.StartLearner(req.Learner, x+1, learnTailCount)
		switch {
		case err == nil:
			ls.switched(ss, start, tail, resp)
		case protocol.CodeOf(err) != protocol.CodeBusy:
			return err
		}
	}
	return nil
}

// fetchedEmptyCheckpoint reports whether the session's learner fetched
// every file of a checkpoint at decree 0 (ss.mu held).
func (ls *learnSource) fetchedEmptyCheckpoint(ss *learnSession) bool {
	if ss.list == nil || ss.base != 0 {
		return false
	}
	ls.mu.Lock()
	defer ls.mu.Unlock()
	for _, f := range ss.list {
		if !ss.fetched[f.Name] {
			return false
		}
	}
	return true
}

// switched fills resp with the switch to prepares at start.
func (ls *learnSource) switched(ss *learnSession, start protocol.Decree, tail []*protocol.Mutation, resp *protocol.LearnResponse) {
	resp.PrepareStartDecree = start
	resp.Mutations = make([]protocol.Mutation, len(tail))
	for i, m := range tail {
		resp.Mutations[i] = *m
	}
	ls.mu.Lock()
	ss.start = start
	ls.mu.Unlock()
	ls.setFloor(ss, start)
}

// checkpointRound answers with the session's checkpoint, taking it first
// if needed.
func (ls *learnSource) checkpointRound(e *entry, r *replica.Replica, ss *learnSession, resp *protocol.LearnResponse) error {
	s := ls.s
	fs := s.opts.FS
	if ss.list == nil {
		dir := fs.PathJoin(e.dir, learnDirName, ss.dirName)
		if err := fs.RemoveAll(dir); err != nil {
			return protocol.Errorf(protocol.CodeIOError, "remove learn dir %s: %v", dir, err)
		}
		if err := fs.MkdirAll(dir, 0o755); err != nil {
			return protocol.Errorf(protocol.CodeIOError, "create learn dir %s: %v", dir, err)
		}
		// Hold the plog from what the engine holds now: the checkpoint
		// covers at least that much.
		ls.setFloor(ss, r.Status().LastApplied+1)
		base, err := r.Checkpoint(fs.PathJoin(dir, replica.DataDirName))
		if err != nil {
			return err
		}
		ls.setFloor(ss, base+1)
		app, err := json.Marshal(e.appInfo())
		if err != nil {
			return fmt.Errorf("encode table info: %w", err)
		}
		if err := writeFile(s, fs.PathJoin(dir, appInfoFile), app); err != nil {
			return err
		}
		list, err := learn.ListFiles(fs, dir)
		if err != nil {
			return err
		}
		ss.base, ss.list = base, list
		ls.mu.Lock()
		ss.dir = dir
		ss.files = make(map[string]bool, len(list))
		ss.fetched = make(map[string]bool, len(list))
		for _, f := range list {
			ss.files[f.Name] = true
		}
		ls.mu.Unlock()
		var total int64
		for _, f := range list {
			total += f.Size
		}
		s.log.Info("learning checkpoint ready", logging.Gpid(e.gpid), "learner", ss.key.learner, logging.Decree(base),
			"files", len(list), "bytes", total)
	}
	resp.Type = protocol.LearnCheckpoint
	resp.BaseDecree = ss.base
	resp.LearnDir = ss.dirName
	resp.Files = slices.Clone(ss.list)
	return nil
}

func writeFile(s *Server, path string, data []byte) error {
	f, err := s.opts.FS.Create(path)
	if err != nil {
		return protocol.Errorf(protocol.CodeIOError, "create %s: %v", path, err)
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return protocol.Errorf(protocol.CodeIOError, "write %s: %v", path, err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return protocol.Errorf(protocol.CodeIOError, "sync %s: %v", path, err)
	}
	return f.Close()
}

// tailRound answers with committed plog records after x.
func (ls *learnSource) tailRound(ctx context.Context, r *replica.Replica, ss *learnSession, x protocol.Decree, resp *protocol.LearnResponse) error {
	if ss.reader == nil || ss.readerNext != x+1 {
		if ss.reader != nil {
			_ = ss.reader.Close()
			ss.reader = nil
		}
		rd, err := r.NewLogReader(x + 1)
		if err != nil {
			if errors.Is(err, plog.ErrGarbageCollected) {
				return protocol.Errorf(protocol.CodeObjectNotFound, "plog of %s no longer holds decree %d", ss.key.gpid, x+1)
			}
			return protocol.Errorf(protocol.CodeIOError, "read plog of %s: %v", ss.key.gpid, err)
		}
		ss.reader, ss.readerNext = rd, x+1
	}
	size := 0
	for len(resp.Mutations) < learnTailCount && size < learnTailBytes && ctx.Err() == nil {
		m, err := ss.reader.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			_ = ss.reader.Close()
			ss.reader = nil
			return protocol.Errorf(protocol.CodeIOError, "read plog of %s: %v", ss.key.gpid, err)
		}
		if m.Decree != ss.readerNext {
			_ = ss.reader.Close()
			ss.reader = nil
			return protocol.Errorf(protocol.CodeInternal, "plog of %s yields decree %d, want %d", ss.key.gpid, m.Decree, ss.readerNext)
		}
		resp.Mutations = append(resp.Mutations, *m)
		size += m.EncodedSize()
		ss.readerNext++
	}
	return nil
}

// copyFile serves one chunk of a session's file.
func (ls *learnSource) copyFile(req *protocol.CopyFileRequest, resp *protocol.CopyFileResponse) error {
	if err := learn.CheckName(req.Path); err != nil {
		return err
	}
	ls.mu.Lock()
	var ss *learnSession
	for k, x := range ls.sessions {
		if k.gpid == req.Gpid && x.dirName == req.Dir && x.dir != "" {
			ss = x
			break
		}
	}
	if ss == nil || !ss.files[req.Path] {
		ls.mu.Unlock()
		return protocol.Errorf(protocol.CodeObjectNotFound, "no learning file %q in session %q of %s", req.Path, req.Dir, req.Gpid)
	}
	ss.lastActive = time.Now()
	dir := ss.dir
	ls.mu.Unlock()
	out, err := learn.ReadChunk(ls.s.opts.FS, dir, req.Path, req.Offset, int(req.MaxBytes))
	if err != nil {
		return err
	}
	ls.mu.Lock()
	ss.served += int64(len(out.Data))
	ls.served += int64(len(out.Data))
	if out.EOF && ss.fetched != nil {
		ss.fetched[req.Path] = true
	}
	ls.mu.Unlock()
	ls.s.metrics.learnServedBytes.Inc(int64(len(out.Data)))
	*resp = out
	return nil
}

// complete handles LearnCompletionNotify.
func (ls *learnSource) complete(req *protocol.LearnCompletionNotifyRequest) error {
	s := ls.s
	_, r, err := s.peerReplica(req.Gpid)
	if err != nil {
		return err
	}
	st := r.Status()
	if st.Role != "primary" || st.Ballot != req.Ballot {
		return protocol.Errorf(protocol.CodeStaleBallot, "completion of %s at ballot %d: primary %s is %s at ballot %d",
			req.Gpid, req.Ballot, s.opts.Node, st.Role, st.Ballot)
	}
	start, ok := learnerStart(st, req.Learner)
	if !ok || start == 0 || req.LastCommitted < start-1 {
		return protocol.Errorf(protocol.CodeInvalidState, "%s has not caught up with %s (start decree %d, holds %d)",
			req.Learner, req.Gpid, start, req.LastCommitted)
	}
	ls.mu.Lock()
	ss := ls.sessions[sessionKey{req.Gpid, req.Learner}]
	if ss != nil {
		ss.completed, ss.start, ss.lastActive = true, start, time.Now()
	}
	ls.mu.Unlock()
	ls.applyFloor(req.Gpid)
	s.log.Info("learner caught up", logging.Gpid(req.Gpid), "learner", req.Learner, "start_decree", int64(start))
	ls.proposeUpgrade(req.Gpid, req.Learner, ss)
	return nil
}

// proposeUpgrade proposes ConfigUpgradeToSecondary for learner.
func (ls *learnSource) proposeUpgrade(g protocol.Gpid, learner string, ss *learnSession) {
	e, r, err := ls.s.peerReplica(g)
	if err != nil {
		return
	}
	st := r.Status()
	if st.Role != "primary" {
		return
	}
	if ss != nil {
		ls.mu.Lock()
		ss.proposedAt = time.Now()
		ls.mu.Unlock()
	}
	cfg := protocol.PartitionConfiguration{Gpid: g, Ballot: st.Ballot + 1, Primary: st.Primary,
		Secondaries: append(slices.Clone(st.Secondaries), learner), MaxReplicaCount: e.appInfo().ReplicaCount,
		LastCommittedDecree: st.LastCommitted}
	ls.s.proposer.enqueue(proposal{typ: protocol.ConfigUpgradeToSecondary, node: learner, cfg: cfg})
}

// tick closes finished and idle sessions and re-proposes upgrades.
func (ls *learnSource) tick(now time.Time) {
	ls.mu.Lock()
	all := make([]*learnSession, 0, len(ls.sessions))
	for _, ss := range ls.sessions {
		all = append(all, ss)
	}
	ls.mu.Unlock()
	for _, ss := range all {
		g := ss.key.gpid
		_, r, err := ls.s.peerReplica(g)
		var st replica.Status
		if err == nil {
			st = r.Status()
		}
		start, isLearner := learnerStart(st, ss.key.learner)
		ls.mu.Lock()
		idle := now.Sub(ss.lastActive)
		completed, proposedAt := ss.completed, ss.proposedAt
		ls.mu.Unlock()
		switch {
		case err != nil || st.Role != "primary" || st.Ballot != ss.ballot && !isLearner:
			ls.close(ss, "primary changed")
		case !isLearner:
			ls.close(ss, "learner left the learners")
		case completed && start > 0:
			if now.Sub(proposedAt) >= upgradeRetry {
				ls.proposeUpgrade(g, ss.key.learner, ss)
			}
		case idle >= ls.s.opts.LearnSessionTimeout:
			ls.close(ss, "idle")
			if start == 0 {
				_ = r.DropLearner(ss.key.learner)
			}
		}
	}
}

// close ends a session.
func (ls *learnSource) close(ss *learnSession, why string) {
	ls.mu.Lock()
	if ls.sessions[ss.key] == ss {
		delete(ls.sessions, ss.key)
	}
	ls.mu.Unlock()
	ls.cleanup(ss)
	ls.applyFloor(ss.key.gpid)
	ls.s.log.Info("learning session closed", logging.Gpid(ss.key.gpid), "learner", ss.key.learner, "reason", why)
}

// cleanup closes the session's reader and removes its directory.
func (ls *learnSource) cleanup(ss *learnSession) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.reader != nil {
		_ = ss.reader.Close()
		ss.reader = nil
	}
	ls.mu.Lock()
	dir := ss.dir
	ss.dir, ss.files, ss.fetched = "", nil, nil
	ls.mu.Unlock()
	if dir != "" {
		if err := ls.s.opts.FS.RemoveAll(dir); err != nil {
			ls.s.log.Warn("cannot remove learn dir", "dir", dir, logging.Err(err))
		}
	}
	ss.list = nil
}

// closeAll ends every session (server shutdown).
func (ls *learnSource) closeAll() {
	ls.mu.Lock()
	all := make([]*learnSession, 0, len(ls.sessions))
	for _, ss := range ls.sessions {
		all = append(all, ss)
	}
	ls.mu.Unlock()
	for _, ss := range all {
		ls.close(ss, "server closing")
	}
}

// SessionView is one primary-side learning session on /replica/learning.
type SessionView struct {
	Gpid        string          `json:"gpid"`
	Learner     string          `json:"learner"`
	Ballot      protocol.Ballot `json:"ballot"`
	Signature   uint64          `json:"signature"`
	GCFloor     protocol.Decree `json:"gc_floor"`
	ServedBytes int64           `json:"served_bytes"`
	StartDecree protocol.Decree `json:"start_decree"`
	Completed   bool            `json:"completed"`
}

// servedBytes returns the checkpoint bytes served since start.
func (ls *learnSource) servedBytes() int64 {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	return ls.served
}

func (ls *learnSource) views() []SessionView {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	out := []SessionView{}
	for _, ss := range ls.sessions {
		out = append(out, SessionView{Gpid: ss.key.gpid.String(), Learner: ss.key.learner, Ballot: ss.ballot,
			Signature: ss.signature, GCFloor: ss.floor, ServedBytes: ss.served, StartDecree: ss.start, Completed: ss.completed})
	}
	slices.SortFunc(out, func(a, b SessionView) int {
		if a.Gpid != b.Gpid {
			if a.Gpid < b.Gpid {
				return -1
			}
			return 1
		}
		if a.Learner < b.Learner {
			return -1
		}
		if a.Learner > b.Learner {
			return 1
		}
		return 0
	})
	return out
}
