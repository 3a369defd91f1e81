package server

import (
	"context"
	"encoding/json"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/pegasus-go/pegasus/replicaserver/internal/learn"
	"github.com/pegasus-go/pegasus/replicaserver/internal/replica"
	"github.com/pegasus-go/pegasus/replicaserver/internal/replica/core"
	"github.com/pegasus-go/pegasus/shared/logging"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

// Learning, learner side. A replica that a group check names as learner
// gets a learning task: Learn rounds with the primary until it holds
// everything below the start decree the primary switched it to, then
// LearnCompletionNotify. A checkpoint answer is fetched into
// <replica dir>/learn_staging (package learn: checksummed, rate limited by
// the node-wide limiter, resumable) and installed: the replica is closed,
// its data replaced by the checkpoint (replica.InstallCheckpoint) and
// reopened as a learner. Tail answers are stepped into the replica as
// prepares (replica.StepLearned).

const (
	// stagingDirName is the learner's staging directory in its replica
	// directory; it survives restarts so a copy resumes.
	stagingDirName = "learn_staging"
	// learnCallTimeout bounds one Learn call (the primary may take a
	// checkpoint and checksum it first).
	learnCallTimeout = 2 * time.Minute
	// copyCallTimeout bounds one CopyFile call.
	copyCallTimeout = 30 * time.Second
	// learnRetryMin and learnRetryMax pace the retries of a failed round.
	learnRetryMin = 100 * time.Millisecond
	learnRetryMax = 2 * time.Second
)

// LearnerView is one learner-side task on /replica/learning.
type LearnerView struct {
	Gpid        string           `json:"gpid"`
	Primary     string           `json:"primary"`
	Phase       string           `json:"phase"`
	Signature   uint64           `json:"signature"`
	Rounds      int              `json:"rounds"`
	BaseDecree  protocol.Decree  `json:"base_decree"`
	StartDecree protocol.Decree  `json:"start_decree"`
	Copy        learn.FetchStats `json:"copy"`
	// Installs counts checkpoints installed.
	Installs  int    `json:"installs"`
	LastError string `json:"last_error,omitempty"`
}

type learnTask struct {
	gpid protocol.Gpid
	mu   sync.Mutex
	view LearnerView
}

func (t *learnTask) update(fn func(v *LearnerView)) {
	t.mu.Lock()
	fn(&t.view)
	t.mu.Unlock()
}

// learnTarget runs the learner side of learning for every replica.
type learnTarget struct {
	s   *Server
	lim *learn.Limiter

	mu      sync.Mutex
	ctx     context.Context
	tasks   map[protocol.Gpid]*learnTask
	running map[protocol.Gpid]bool
	wg      sync.WaitGroup
}

func newLearnTarget(s *Server) *learnTarget {
	return &learnTarget{s: s, lim: learn.NewLimiter(s.opts.LearnRateLimitBytes),
		tasks: map[protocol.Gpid]*learnTask{}, running: map[protocol.Gpid]bool{}}
}

// start lets tasks run until ctx ends.
func (lt *learnTarget) start(ctx context.Context) {
	lt.mu.Lock()
	lt.ctx = ctx
	lt.mu.Unlock()
}

// stop waits for the tasks after the start context ended.
func (lt *learnTarget) stop() {
	lt.mu.Lock()
	lt.ctx = nil
	lt.mu.Unlock()
	lt.wg.Wait()
}

// signature returns the signature g's learning task works under.
func (lt *learnTarget) signature(g protocol.Gpid) uint64 {
	lt.mu.Lock()
	t := lt.tasks[g]
	lt.mu.Unlock()
	if t == nil {
		return 0
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.view.Signature
}

// maybeStart starts g's learning task unless one runs.
func (lt *learnTarget) maybeStart(g protocol.Gpid, primary string, sig uint64) {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	if lt.ctx == nil || lt.running[g] {
		return
	}
	t := lt.tasks[g]
	if t == nil {
		t = &learnTask{gpid: g}
		lt.tasks[g] = t
	}
	// A task that finished the primary's current session (its signature)
	// is not restarted. Signature 0 means the primary has no session for
	// this node: whatever finished before belongs to an earlier learning,
	// and the node learns again.
	if t.view.Phase == "done" && sig != 0 && t.view.Signature == sig {
		return
	}
	t.view = LearnerView{Gpid: g.String(), Primary: primary, Signature: sig, Phase: "starting"}
	lt.running[g] = true
	lt.wg.Add(1)
	go func(ctx context.Context) {
		defer lt.wg.Done()
		err := lt.run(ctx, t)
		lt.mu.Lock()
		delete(lt.running, g)
		lt.mu.Unlock()
		if err != nil {
			t.update(func(v *LearnerView) { v.Phase, v.LastError = "failed", err.Error() })
		}
	}(lt.ctx)
}

// run drives one learning task to completion: rounds until the primary
// switched the replica to prepares and it holds everything below the start
// decree. It gives up when the replica is no longer a learner.
func (lt *learnTarget) run(ctx context.Context, t *learnTask) error {
	s := lt.s
	g := t.gpid
	log := logging.WithReplica(s.log, g)
	backoff := learnRetryMin
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		_, r, err := s.peerReplica(g)
		if err != nil {
			return err
		}
		st := r.Status()
		if st.Role != "learner" {
			// Upgraded, or dropped by the primary: a later group check
			// starts a new task if it learns again.
			t.update(func(v *LearnerView) { v.Phase = "done" })
			lt.removeStaging(r)
			return nil
		}
		done, progressed, err := lt.round(ctx, t, r, st)
		if done {
			t.update(func(v *LearnerView) { v.Phase, v.LastError = "done", "" })
			log.Info("learning complete", "primary", st.Primary)
			return nil
		}
		if err == nil && !progressed {
			err = protocol.Errorf(protocol.CodeBusy, "the primary sent nothing to learn")
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			t.update(func(v *LearnerView) { v.LastError = err.Error() })
			log.Warn("learning round failed", "primary", st.Primary, logging.Err(err))
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, learnRetryMax)
			continue
		}
		backoff = learnRetryMin
	}
}

// removeStaging removes a finished learner's staging directory.
func (lt *learnTarget) removeStaging(r *replica.Replica) {
	fs := lt.s.opts.FS
	if err := fs.RemoveAll(fs.PathJoin(r.Dir(), stagingDirName)); err != nil {
		lt.s.log.Warn("cannot remove the learning staging dir", logging.Gpid(r.Info().Gpid), logging.Err(err))
	}
}

// round runs one Learn round and acts on the answer; done is set when the
// primary accepted the completion notice, progressed when the round
// brought something (files, mutations or the switch to prepares).
func (lt *learnTarget) round(ctx context.Context, t *learnTask, r *replica.Replica, st replica.Status) (done, progressed bool, err error) {
	s := lt.s
	g := t.gpid
	sig := lt.signature(g)
	t.update(func(v *LearnerView) { v.Rounds++; v.Primary = st.Primary })
	req := &protocol.LearnRequest{Gpid: g, Ballot: st.Ballot, Learner: s.opts.Node, LearnerSignature: sig,
		LastCommitted: st.LastLogged, LastDurable: st.LastDurable}
	var resp protocol.LearnResponse
	cctx, cancel := context.WithTimeout(ctx, learnCallTimeout)
	err = s.opts.Peers.Call(cctx, st.Primary, protocol.ServicePeer, protocol.MethodLearn, req, &resp)
	cancel()
	if err != nil {
		return false, false, err
	}
	if resp.Gpid != g {
		return false, false, protocol.Errorf(protocol.CodeInvalidArgument, "learn answer for %s names %s", g, resp.Gpid)
	}
	switch resp.Type {
	case protocol.LearnCheckpoint, protocol.LearnCheckpointAndLog:
		if len(resp.Files) > 0 {
			t.update(func(v *LearnerView) { v.Phase, v.BaseDecree = "copying", resp.BaseDecree })
			if err := lt.fetchAndInstall(ctx, t, r, st, &resp); err != nil {
				return false, false, err
			}
			if resp.Type == protocol.LearnCheckpoint {
				return false, true, nil
			}
			_, r, err = s.peerReplica(g)
			if err != nil {
				return false, true, err
			}
		}
	}
	if len(resp.Mutations) > 0 {
		t.update(func(v *LearnerView) { v.Phase = "tail" })
		muts := make([]*protocol.Mutation, len(resp.Mutations))
		for i := range resp.Mutations {
			muts[i] = &resp.Mutations[i]
		}
		if err := r.StepLearned(ctx, muts, resp.LastCommitted); err != nil {
			return false, true, err
		}
	}
	start := resp.PrepareStartDecree
	if start <= 0 {
		return false, len(resp.Mutations) > 0, nil
	}
	t.update(func(v *LearnerView) { v.StartDecree = start })
	now := r.Status()
	if now.LastLogged < start-1 {
		return false, true, protocol.Errorf(protocol.CodeInvalidState, "learner holds up to %d, the primary prepares from %d", now.LastLogged, start)
	}
	nreq := &protocol.LearnCompletionNotifyRequest{Gpid: g, Ballot: now.Ballot, Learner: s.opts.Node, LearnerSignature: sig,
		LastCommitted: now.LastLogged}
	cctx, cancel = context.WithTimeout(ctx, s.opts.PeerCallTimeout)
	err = s.opts.Peers.Call(cctx, now.Primary, protocol.ServicePeer, protocol.MethodLearnCompletionNotify, nreq,
		&protocol.LearnCompletionNotifyResponse{})
	cancel()
	if err != nil {
		return false, true, err
	}
	return true, true, nil
}

// fetchAndInstall copies the checkpoint into the staging directory and
// installs it as the replica's data.
func (lt *learnTarget) fetchAndInstall(ctx context.Context, t *learnTask, r *replica.Replica, st replica.Status, resp *protocol.LearnResponse) error {
	s := lt.s
	fs := s.opts.FS
	g := t.gpid
	staging := fs.PathJoin(r.Dir(), stagingDirName)
	fetch := func(ctx context.Context, name string, off int64, max int32) (*protocol.CopyFileResponse, error) {
		if e, err := s.lookup(g); err != nil || e.dir != r.Dir() {
			// The replica was removed meanwhile: do not write into its
			// directory again.
			return nil, protocol.Errorf(protocol.CodeObjectNotFound, "replica %s is no longer served here", g)
		}
		cctx, cancel := context.WithTimeout(ctx, copyCallTimeout)
		defer cancel()
		var out protocol.CopyFileResponse
		err := s.opts.Peers.Call(cctx, st.Primary, protocol.ServicePeer, protocol.MethodCopyFile,
			&protocol.CopyFileRequest{Gpid: g, Dir: resp.LearnDir, Path: name, Offset: off, MaxBytes: max}, &out)
		if err != nil {
			return nil, err
		}
		s.metrics.learnCopiedBytes.Inc(int64(len(out.Data)))
		return &out, nil
	}
	stats, err := learn.Fetch(ctx, fs, staging, resp.Files, fetch, lt.lim, func(fs learn.FetchStats) {
		fs.Done = slices.Clone(fs.Done)
		t.update(func(v *LearnerView) { v.Copy = fs })
	})
	stats.Done = slices.Clone(stats.Done)
	t.update(func(v *LearnerView) { v.Copy = stats })
	if err != nil {
		return err
	}
	app, err := readAppInfo(s, fs.PathJoin(staging, appInfoFile), g)
	if err != nil {
		return err
	}
	t.update(func(v *LearnerView) { v.Phase = "installing" })
	cfg := core.Config{Ballot: resp.Config.Ballot, Primary: resp.Config.Primary, Secondaries: slices.Clone(resp.Config.Secondaries),
		Learners: []core.Learner{{Node: s.opts.Node}}}
	err = s.reinstall(g, func(dir string) error {
		if err := replica.InstallCheckpoint(fs, dir, fs.PathJoin(staging, replica.DataDirName), g, app, cfg, s.opts.Node); err != nil {
			return err
		}
		return fs.RemoveAll(staging)
	})
	if err != nil {
		return err
	}
	t.update(func(v *LearnerView) { v.Installs++ })
	s.log.Info("learned checkpoint installed", logging.Gpid(g), logging.Decree(resp.BaseDecree), "primary", st.Primary,
		"fetched_bytes", stats.FetchedBytes, "resumed_bytes", stats.ResumedBytes)
	return nil
}

// readAppInfo reads the table info shipped with a checkpoint.
func readAppInfo(s *Server, path string, g protocol.Gpid) (protocol.AppInfo, error) {
	f, err := s.opts.FS.Open(path)
	if err != nil {
		return protocol.AppInfo{}, protocol.Errorf(protocol.CodeIOError, "open %s: %v", path, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, 1<<20))
	if err != nil {
		return protocol.AppInfo{}, protocol.Errorf(protocol.CodeIOError, "read %s: %v", path, err)
	}
	var app protocol.AppInfo
	if err := json.Unmarshal(data, &app); err != nil {
		return protocol.AppInfo{}, protocol.Errorf(protocol.CodeCorruption, "decode %s: %v", path, err)
	}
	if app.AppID != g.AppID {
		return protocol.AppInfo{}, protocol.Errorf(protocol.CodeCorruption, "%s describes app %d, not %d", path, app.AppID, g.AppID)
	}
	return app, nil
}

// SetLimit changes the node's learning rate limit.
func (lt *learnTarget) setLimit(bytesPerSec int64) { lt.lim.SetLimit(bytesPerSec) }

func (lt *learnTarget) views() []LearnerView {
	lt.mu.Lock()
	tasks := make([]*learnTask, 0, len(lt.tasks))
	for _, t := range lt.tasks {
		tasks = append(tasks, t)
	}
	lt.mu.Unlock()
	out := []LearnerView{}
	for _, t := range tasks {
		t.mu.Lock()
		v := t.view
		v.Copy.Done = slices.Clone(v.Copy.Done)
		t.mu.Unlock()
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b LearnerView) int {
		switch {
		case a.Gpid < b.Gpid:
			return -1
		case a.Gpid > b.Gpid:
			return 1
		}
		return 0
	})
	return out
}
