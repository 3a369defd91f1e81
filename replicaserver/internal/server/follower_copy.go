package server

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/vfs"
	"github.com/uber-go/tally/v4"

	"github.com/pegasus-go/pegasus/replicaserver/internal/learn"
	"github.com/pegasus-go/pegasus/replicaserver/internal/replica"
	"github.com/pegasus-go/pegasus/replicaserver/internal/replica/core"
	"github.com/pegasus-go/pegasus/replicaserver/internal/storage"
	"github.com/pegasus-go/pegasus/shared/logging"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

// Full duplication, follower side. A replica created for a table whose app
// envs carry protocol.EnvDupMasterApp and EnvDupMasterMetas (a full
// duplication's follower table) and that has no data on this node is not
// opened at once: a copy task first loads the master's data.
//
//	ensureReplica (no replica dir) --> task: resolve the master primary
//	    (QueryConfig on the master metas, redirects followed)
//	  --> Peer.DupCheckpoint on it (MinDecree: the duplication's checkpoint
//	    decree from the master meta's QueryDuplication, when it answers)
//	  --> fetch the files into <data_dir>/<app_id>.<pidx>.dupcopy/files
//	    (package learn: CRC-32C per chunk and per file, learn_rate_limit
//	    shared with learning, complete files kept across failures and
//	    restarts)
//	  --> install: the files become <staging>/install/data, its decree is
//	    reset to 0 (storage.ResetDecree; the records keep the master's
//	    timetags), the replica metadata is written, the directory is renamed
//	    to <data_dir>/<app_id>.<pidx> and the replica opens normally with the
//	    latest configuration the meta sent.
//
// Any failure counts in dup_load_file_failed_count, is shown on
// /replica/learning and is retried with backoff, re-resolving the primary.
// Until the replica opens, requests to it fail with CodeObjectNotFound
// (retryable: clients and the master's duplicator refresh and retry). The
// staging directory's name is not a replica directory name, so a restart
// does not open a half-copied replica; the meta's next configuration
// starts the task again, which keeps the complete files.
//
// Concurrency: tasks run on their own goroutines. Configurations arrive
// under the server's openMu; the install takes openMu for the rename and
// open, and checks there that the task was not cancelled (the replica was
// removed or dropped) and that no replica appeared meanwhile.

const (
	// followerStagingSuffix ends a follower copy's staging directory name
	// (<app_id>.<pidx><suffix>), which parseReplicaDir never accepts.
	followerStagingSuffix = ".dupcopy"
	followerFilesDir      = "files"
	followerInstallDir    = "install"
	// followerRetryMin and followerRetryMax pace the retries of a copy.
	followerRetryMin = 200 * time.Millisecond
	followerRetryMax = 10 * time.Second
)

// Terminal outcomes of a copy attempt other than success.
var (
	// errFollowerCancelled: the replica was closed or removed, or the
	// server is closing.
	errFollowerCancelled = &protocol.Error{Code: protocol.CodeInvalidState, Message: "follower copy cancelled"}
	// errFollowerSuperseded: the replica was created meanwhile by other
	// means (it became a learner of its group), so the copy is not needed.
	errFollowerSuperseded = &protocol.Error{Code: protocol.CodeInvalidState, Message: "follower replica created meanwhile; copy not needed"}
)

// FollowerCopyView is one follower copy task on /replica/learning.
type FollowerCopyView struct {
	Gpid          string `json:"gpid"`
	Table         string `json:"table"`
	MasterCluster string `json:"master_cluster,omitempty"`
	MasterApp     string `json:"master_app"`
	MasterMetas   string `json:"master_metas"`
	MasterPrimary string `json:"master_primary,omitempty"`
	MasterGpid    string `json:"master_gpid,omitempty"`
	// Phase: resolving, checkpoint, copying, installing, then done,
	// cancelled or superseded (the replica was created by learning
	// meanwhile).
	Phase string `json:"phase"`
	// MinDecree is the decree the master's checkpoint had to hold;
	// BaseDecree the one it holds (the master's decree numbering).
	MinDecree  protocol.Decree  `json:"min_decree"`
	BaseDecree protocol.Decree  `json:"base_decree"`
	Copy       learn.FetchStats `json:"copy"`
	Attempts   int              `json:"attempts"`
	Failures   int              `json:"failures"`
	LastError  string           `json:"last_error,omitempty"`
	StagingDir string           `json:"staging_dir"`
	StartedAt  time.Time        `json:"started_at"`
	FinishedAt time.Time        `json:"finished_at,omitzero"`
}

// followerTask copies one partition.
type followerTask struct {
	gpid    protocol.Gpid
	dataDir int
	staging string
	cancel  context.CancelFunc
	done    chan struct{} // closed when the task's goroutine returns
	failed  tally.Counter // dup_load_file_failed_count

	// Guarded by followerCopies.mu.
	app       protocol.AppInfo
	cfg       protocol.PartitionConfiguration
	running   bool
	cancelled bool
	purge     bool // remove the staging dir when the task ends

	// Guarded by mu.
	mu         sync.Mutex
	view       FollowerCopyView
	metaLeader string
}

func (t *followerTask) update(fn func(v *FollowerCopyView)) {
	t.mu.Lock()
	fn(&t.view)
	t.mu.Unlock()
}

// followerCopies runs the follower copy tasks of the node.
type followerCopies struct {
	s        *Server
	ctx      context.Context
	stop     context.CancelFunc
	retryMin time.Duration
	retryMax time.Duration

	mu    sync.Mutex
	tasks map[protocol.Gpid]*followerTask
	wg    sync.WaitGroup
}

func newFollowerCopies(s *Server) *followerCopies {
	ctx, cancel := context.WithCancel(context.Background())
	return &followerCopies{s: s, ctx: ctx, stop: cancel, retryMin: followerRetryMin, retryMax: followerRetryMax,
		tasks: map[protocol.Gpid]*followerTask{}}
}

// followerMaster returns the master table and meta list a follower table's
// envs name; ok is false for any other table.
func followerMaster(app protocol.AppInfo) (masterApp string, metas []string, ok bool, err error) {
	masterApp, hasApp := app.Envs[protocol.EnvDupMasterApp]
	list, hasMetas := app.Envs[protocol.EnvDupMasterMetas]
	if !hasApp && !hasMetas {
		return "", nil, false, nil
	}
	for _, m := range strings.Split(list, ",") {
		if m = strings.TrimSpace(m); m != "" {
			metas = append(metas, m)
		}
	}
	if masterApp == "" || len(metas) == 0 {
		return "", nil, true, protocol.Errorf(protocol.CodeInvalidArgument, "table %q is a duplication follower without %s and %s: %q, %q",
			app.Name, protocol.EnvDupMasterApp, protocol.EnvDupMasterMetas, masterApp, list)
	}
	return masterApp, metas, true, nil
}

// stagingName is the staging directory name of g's copy.
func stagingName(g protocol.Gpid) string { return replicaDirName(g) + followerStagingSuffix }

// findStaging looks for g's staging directory in every data dir.
func (fc *followerCopies) findStaging(g protocol.Gpid) (string, int, bool) {
	fs := fc.s.opts.FS
	for i, dd := range fc.s.opts.DataDirs {
		d := fs.PathJoin(dd, stagingName(g))
		if st, err := fs.Stat(d); err == nil && st.IsDir() {
			return d, i, true
		}
	}
	return "", 0, false
}

// intercept is ensureReplica's hook for a replica it would create (no
// replica directory found; the caller holds openMu). For a follower table
// it starts (or updates) the copy task and reports handled: the replica
// opens when the copy is installed. For any other table it does nothing.
func (fc *followerCopies) intercept(app protocol.AppInfo, cfg protocol.PartitionConfiguration) (handled bool, err error) {
	s := fc.s
	_, _, ok, err := followerMaster(app)
	if !ok || err != nil {
		return ok, err
	}
	g := cfg.Gpid
	if cfg.Ballot <= protocol.InvalidBallot {
		return true, protocol.Errorf(protocol.CodeInvalidArgument, "configuration of follower replica %s has ballot %d", g, cfg.Ballot)
	}
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if fc.ctx.Err() != nil {
		return true, protocol.Errorf(protocol.CodeInvalidState, "replica server %s is closing", s.opts.Node)
	}
	if t := fc.tasks[g]; t != nil && t.running {
		if cfg.Ballot >= t.cfg.Ballot {
			t.app, t.cfg = app, cfg
		}
		return true, nil
	}
	staging, di, found := fc.findStaging(g)
	if !found {
		s.mu.Lock()
		di = s.pickDataDirLocked()
		s.mu.Unlock()
		staging = s.opts.FS.PathJoin(s.opts.DataDirs[di], stagingName(g))
	}
	ctx, cancel := context.WithCancel(fc.ctx)
	masterApp, metas, _, _ := followerMaster(app)
	t := &followerTask{gpid: g, dataDir: di, staging: staging, cancel: cancel, done: make(chan struct{}),
		failed: s.metrics.scope.Tagged(map[string]string{
			"app_id": strconv.Itoa(int(g.AppID)), "table": app.Name, "partition": strconv.Itoa(int(g.PartitionIndex)),
		}).Counter("dup_load_file_failed_count"),
		app: app, cfg: cfg, running: true}
	t.view = FollowerCopyView{Gpid: g.String(), Table: app.Name, MasterCluster: app.Envs[protocol.EnvDupMasterCluster],
		MasterApp: masterApp, MasterMetas: strings.Join(metas, ","), Phase: "resolving", StagingDir: staging,
		StartedAt: s.opts.Clock()}
	fc.tasks[g] = t
	fc.wg.Add(1)
	go func() {
		defer fc.wg.Done()
		defer close(t.done)
		fc.run(ctx, t)
	}()
	s.log.Info("follower replica copies the master checkpoint before it opens", logging.Gpid(g), logging.Ballot(cfg.Ballot),
		"master_app", masterApp, "master_metas", metas, "staging", staging, "resume", found)
	return true, nil
}

// removeStaleStaging removes g's staging directory once g's replica
// directory exists (a crash after the install's rename left it).
func (fc *followerCopies) removeStaleStaging(g protocol.Gpid) {
	fc.mu.Lock()
	t := fc.tasks[g]
	busy := t != nil && t.running
	fc.mu.Unlock()
	if busy {
		return
	}
	if dir, _, found := fc.findStaging(g); found {
		if err := fc.s.opts.FS.RemoveAll(dir); err != nil {
			fc.s.log.Warn("cannot remove a stale follower staging dir", logging.Gpid(g), "dir", dir, logging.Err(err))
		}
	}
}

// cancel stops g's copy task, if any; purge also removes its staging
// directory (the replica was removed, not just closed). The caller holds
// openMu, so a task cannot install after cancel returns.
func (fc *followerCopies) cancel(g protocol.Gpid, purge bool) {
	fc.mu.Lock()
	t := fc.tasks[g]
	if t == nil || !t.running {
		fc.mu.Unlock()
		if purge {
			if dir, _, found := fc.findStaging(g); found {
				_ = fc.s.opts.FS.RemoveAll(dir)
			}
		}
		return
	}
	t.cancelled = true
	t.purge = t.purge || purge
	fc.mu.Unlock()
	t.cancel()
}

// removeStaleStagings removes the staging directories of replicas that
// are open (a crash between the install's rename and the staging's
// removal). New calls it after reopening the replicas.
func (fc *followerCopies) removeStaleStagings() {
	s := fc.s
	fs := s.opts.FS
	for _, dd := range s.opts.DataDirs {
		names, err := fs.List(dd)
		if err != nil {
			continue
		}
		for _, n := range names {
			g, ok := parseReplicaDir(strings.TrimSuffix(n, followerStagingSuffix))
			if !ok || !strings.HasSuffix(n, followerStagingSuffix) {
				continue
			}
			if _, err := s.lookup(g); err == nil {
				if err := fs.RemoveAll(fs.PathJoin(dd, n)); err != nil {
					s.log.Warn("cannot remove a stale follower staging dir", logging.Gpid(g), logging.Err(err))
				}
			}
		}
	}
}

// close stops every task and waits for them (server shutdown). Staging
// directories stay for the next start.
func (fc *followerCopies) close() {
	fc.mu.Lock()
	fc.stop()
	fc.mu.Unlock()
	fc.wg.Wait()
}

// snapshot returns the table info and configuration the task installs.
func (fc *followerCopies) snapshot(t *followerTask) (protocol.AppInfo, protocol.PartitionConfiguration) {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	return t.app, t.cfg
}

// run retries the copy with backoff until it is installed or the task is
// cancelled.
func (fc *followerCopies) run(ctx context.Context, t *followerTask) {
	s := fc.s
	log := logging.WithReplica(s.log, t.gpid)
	backoff := fc.retryMin
	defer func() {
		fc.mu.Lock()
		t.running = false
		purge := t.purge
		fc.mu.Unlock()
		if purge {
			if err := s.opts.FS.RemoveAll(t.staging); err != nil {
				log.Warn("cannot remove the follower staging dir", "dir", t.staging, logging.Err(err))
			}
		}
	}()
	for {
		t.update(func(v *FollowerCopyView) { v.Attempts++ })
		err := fc.attempt(ctx, t)
		switch {
		case err == nil:
			return
		case errors.Is(err, errFollowerSuperseded):
			fc.mu.Lock()
			t.purge = true
			fc.mu.Unlock()
			t.update(func(v *FollowerCopyView) { v.Phase, v.LastError = "superseded", "" })
			log.Info("follower replica was created meanwhile; its checkpoint copy is dropped")
			return
		case errors.Is(err, errFollowerCancelled) || ctx.Err() != nil:
			t.update(func(v *FollowerCopyView) { v.Phase = "cancelled" })
			return
		}
		t.failed.Inc(1)
		t.update(func(v *FollowerCopyView) { v.Failures++; v.LastError = err.Error() })
		log.Warn("follower checkpoint copy failed; retrying", "retry_in", backoff, logging.Err(err))
		select {
		case <-ctx.Done():
			t.update(func(v *FollowerCopyView) { v.Phase = "cancelled" })
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, fc.retryMax)
	}
}

// attempt runs the copy once: resolve, ask for the checkpoint, fetch,
// install.
func (fc *followerCopies) attempt(ctx context.Context, t *followerTask) error {
	s := fc.s
	if s.opts.Peers == nil {
		return protocol.Errorf(protocol.CodeInvalidState, "replica server %s has no client towards other servers", s.opts.Node)
	}
	app, _ := fc.snapshot(t)
	masterApp, metas, _, err := followerMaster(app)
	if err != nil {
		return err
	}
	g := t.gpid
	t.update(func(v *FollowerCopyView) { v.Phase = "resolving" })
	var qc protocol.QueryConfigResponse
	if err := fc.callMasterMeta(ctx, t, metas, protocol.MethodQueryConfig, &protocol.QueryConfigRequest{AppName: masterApp}, &qc); err != nil {
		return err
	}
	if qc.App.PartitionCount != app.PartitionCount {
		return protocol.Errorf(protocol.CodeInvalidState, "master table %q has %d partitions, follower table %q %d",
			masterApp, qc.App.PartitionCount, app.Name, app.PartitionCount)
	}
	if int(g.PartitionIndex) >= len(qc.Partitions) {
		return protocol.Errorf(protocol.CodeInvalidState, "master table %q lists %d partitions, want %d", masterApp, len(qc.Partitions), qc.App.PartitionCount)
	}
	primary := qc.Partitions[g.PartitionIndex].Primary
	mg := protocol.Gpid{AppID: qc.App.AppID, PartitionIndex: g.PartitionIndex}
	if primary == "" {
		return protocol.Errorf(protocol.CodeInvalidState, "master partition %s of %q has no primary", mg, masterApp)
	}
	minDecree := fc.checkpointDecree(ctx, t, metas, masterApp, app.Name)
	t.update(func(v *FollowerCopyView) {
		v.Phase, v.MasterPrimary, v.MasterGpid, v.MinDecree = "checkpoint", primary, mg.String(), minDecree
	})
	var cp protocol.DupCheckpointResponse
	cctx, cancel := context.WithTimeout(ctx, learnCallTimeout)
	err = s.opts.Peers.Call(cctx, primary, protocol.ServicePeer, protocol.MethodDupCheckpoint,
		&protocol.DupCheckpointRequest{Gpid: mg, MinDecree: minDecree, Follower: s.opts.Node}, &cp)
	cancel()
	if err != nil {
		return err
	}
	if err := checkDupCheckpoint(&cp, mg, app.PartitionCount, minDecree); err != nil {
		return err
	}
	t.update(func(v *FollowerCopyView) { v.Phase, v.BaseDecree = "copying", cp.BaseDecree })
	if err := fc.fetch(ctx, t, primary, &cp); err != nil {
		return err
	}
	return fc.install(ctx, t, &cp)
}

// checkDupCheckpoint validates the master's answer before anything is
// fetched: it must describe the asked partition, the follower's partition
// count, at least minDecree, and engine files only.
func checkDupCheckpoint(cp *protocol.DupCheckpointResponse, mg protocol.Gpid, partitions int32, minDecree protocol.Decree) error {
	switch {
	case cp.Gpid != mg:
		return protocol.Errorf(protocol.CodeInvalidArgument, "duplication checkpoint for %s names %s", mg, cp.Gpid)
	case cp.PartitionCount != partitions:
		return protocol.Errorf(protocol.CodeInvalidState, "master partition %s belongs to %d partitions, the follower table has %d",
			mg, cp.PartitionCount, partitions)
	case cp.BaseDecree < minDecree:
		return protocol.Errorf(protocol.CodeInvalidState, "duplication checkpoint of %s holds decree %d, below %d", mg, cp.BaseDecree, minDecree)
	case !isDupCheckpointDir(cp.Dir) || len(cp.Files) == 0:
		return protocol.Errorf(protocol.CodeInvalidArgument, "duplication checkpoint of %s: dir %q with %d files", mg, cp.Dir, len(cp.Files))
	}
	for _, f := range cp.Files {
		if !strings.HasPrefix(f.Name, replica.DataDirName+"/") {
			return protocol.Errorf(protocol.CodeInvalidArgument, "duplication checkpoint of %s lists %q outside %s/", mg, f.Name, replica.DataDirName)
		}
	}
	return nil
}

// fetch copies the checkpoint's files into the staging directory, logging
// every file as it completes.
func (fc *followerCopies) fetch(ctx context.Context, t *followerTask, primary string, cp *protocol.DupCheckpointResponse) error {
	s := fc.s
	fs := s.opts.FS
	g := t.gpid
	fetch := func(ctx context.Context, name string, off int64, max int32) (*protocol.CopyFileResponse, error) {
		cctx, cancel := context.WithTimeout(ctx, copyCallTimeout)
		defer cancel()
		var out protocol.CopyFileResponse
		err := s.opts.Peers.Call(cctx, primary, protocol.ServicePeer, protocol.MethodCopyFile,
			&protocol.CopyFileRequest{Gpid: cp.Gpid, Dir: cp.Dir, Path: name, Offset: off, MaxBytes: max}, &out)
		if err != nil {
			return nil, err
		}
		s.metrics.learnCopiedBytes.Inc(int64(len(out.Data)))
		return &out, nil
	}
	logged := 0
	prevResumed := 0
	progress := func(st learn.FetchStats) {
		for logged < len(st.Done) {
			name := st.Done[logged]
			resumed := st.ResumedFiles > prevResumed
			prevResumed = st.ResumedFiles
			logged++
			s.log.Info("follower checkpoint file ready", logging.Gpid(g), "file", name, "kept_from_earlier_attempt", resumed,
				"done_files", st.DoneFiles, "files", st.Files, "fetched_bytes", st.FetchedBytes, "total_bytes", st.TotalBytes)
		}
		st.Done = slices.Clone(st.Done)
		t.update(func(v *FollowerCopyView) { v.Copy = st })
	}
	if err := fs.MkdirAll(t.staging, 0o755); err != nil {
		return protocol.Errorf(protocol.CodeIOError, "create %s: %v", t.staging, err)
	}
	// A half-done install of an earlier attempt goes; its files come again.
	if err := fs.RemoveAll(fs.PathJoin(t.staging, followerInstallDir)); err != nil {
		return protocol.Errorf(protocol.CodeIOError, "remove an old install dir: %v", err)
	}
	st, err := learn.Fetch(ctx, fs, fs.PathJoin(t.staging, followerFilesDir), cp.Files, fetch, s.target.lim, progress)
	st.Done = slices.Clone(st.Done)
	t.update(func(v *FollowerCopyView) { v.Copy = st })
	return err
}

// install turns the fetched files into g's replica and opens it.
func (fc *followerCopies) install(ctx context.Context, t *followerTask, cp *protocol.DupCheckpointResponse) error {
	s := fc.s
	fs := s.opts.FS
	g := t.gpid
	t.update(func(v *FollowerCopyView) { v.Phase = "installing" })
	app, cfg := fc.snapshot(t)
	install := fs.PathJoin(t.staging, followerInstallDir)
	if err := fs.MkdirAll(install, 0o755); err != nil {
		return protocol.Errorf(protocol.CodeIOError, "create %s: %v", install, err)
	}
	ccfg := core.Config{Ballot: cfg.Ballot, Primary: cfg.Primary, Secondaries: slices.Clone(cfg.Secondaries)}
	src := fs.PathJoin(t.staging, followerFilesDir, replica.DataDirName)
	if err := replica.InstallCheckpoint(fs, install, src, g, app, ccfg, s.opts.Node); err != nil {
		return err
	}
	so := s.opts.Storage
	so.FS, so.Clock, so.Logger = fs, s.opts.Clock, s.log
	held, err := storage.ResetDecree(fs.PathJoin(install, replica.DataDirName), so)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}

	s.openMu.Lock()
	defer s.openMu.Unlock()
	fc.mu.Lock()
	cancelled := t.cancelled
	app, cfg = t.app, t.cfg
	fc.mu.Unlock()
	s.mu.Lock()
	closed := s.mu.closed
	_, registered := s.mu.replicas[g]
	s.mu.Unlock()
	_, _, exists := s.findReplicaDir(g)
	switch {
	case cancelled || closed:
		return errFollowerCancelled
	case registered || exists:
		return errFollowerSuperseded
	}
	dd := s.opts.DataDirs[t.dataDir]
	dir := fs.PathJoin(dd, replicaDirName(g))
	if err := fs.Rename(install, dir); err != nil {
		return protocol.Errorf(protocol.CodeIOError, "install follower replica %s: %v", g, err)
	}
	if err := syncDirOf(fs, dd); err != nil {
		return err
	}
	if err := fs.RemoveAll(t.staging); err != nil {
		s.log.Warn("cannot remove the follower staging dir", logging.Gpid(g), "dir", t.staging, logging.Err(err))
	}
	e, err := s.openLocked(g, dir, t.dataDir, app, cfg)
	if err != nil {
		// The data is in place: the next configuration opens it as an
		// ordinary replica.
		return errors.Join(protocol.Errorf(protocol.CodeIOError, "open follower replica %s", g), err)
	}
	s.confirm(e, cfg)
	now := s.opts.Clock()
	t.update(func(v *FollowerCopyView) { v.Phase, v.LastError, v.FinishedAt = "done", "", now })
	st := t.viewCopy()
	s.log.Info("follower replica loaded the master checkpoint and opened", logging.Gpid(g), logging.Ballot(cfg.Ballot),
		"master_gpid", st.MasterGpid, "master_primary", st.MasterPrimary, "master_decree", int64(held), "dir", dir,
		"fetched_bytes", st.Copy.FetchedBytes, "resumed_bytes", st.Copy.ResumedBytes, "attempts", st.Attempts)
	if s.meta != nil {
		s.meta.syncSoon()
	}
	return nil
}

func (t *followerTask) viewCopy() FollowerCopyView {
	t.mu.Lock()
	defer t.mu.Unlock()
	v := t.view
	v.Copy.Done = slices.Clone(v.Copy.Done)
	return v
}

// syncDirOf makes the entries of dir durable.
func syncDirOf(fs vfs.FS, dir string) error {
	d, err := fs.OpenDir(dir)
	if err != nil {
		return protocol.Errorf(protocol.CodeIOError, "open %s: %v", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return protocol.Errorf(protocol.CodeIOError, "sync %s: %v", dir, err)
	}
	return nil
}

func (fc *followerCopies) views() []FollowerCopyView {
	fc.mu.Lock()
	tasks := make([]*followerTask, 0, len(fc.tasks))
	for _, t := range fc.tasks {
		tasks = append(tasks, t)
	}
	fc.mu.Unlock()
	out := make([]FollowerCopyView, 0, len(tasks))
	for _, t := range tasks {
		out = append(out, t.viewCopy())
	}
	slices.SortFunc(out, func(a, b FollowerCopyView) int { return strings.Compare(a.Gpid, b.Gpid) })
	return out
}
