package meta

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/pegasus-go/pegasus/client-go/admin"
	"github.com/pegasus-go/pegasus/metaserver/internal/state"
	"github.com/pegasus-go/pegasus/shared/logging"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

// RemoteMeta is what the meta server asks of a remote cluster's meta
// servers (a full duplication's follower table). *admin.Client implements
// it: it follows the remote leader and retries as its doc says.
type RemoteMeta interface {
	QueryConfig(ctx context.Context, name string) (*protocol.QueryConfigResponse, error)
	CreateApp(ctx context.Context, name string, o admin.CreateAppOptions) (int32, error)
	Close() error
}

// maxDupProgress bounds one DuplicationSync request's progress list.
const maxDupProgress = 1 << 20

// dupAddCheckTimeout bounds AddDuplication's question to the remote
// cluster, well inside a client's usual 10s deadline so the caller gets
// the remote's error rather than its own timeout.
const dupAddCheckTimeout = 5 * time.Second

// dupKey names one duplication.
type dupKey struct{ app, dup int32 }

// dupMem is what a term knows of one duplication beyond the store.
type dupMem struct {
	parts []partProgress
	// flushedMs is when the term last stored the confirmed decrees.
	flushedMs int64
	// step and lastError are the executor's latest word.
	step      string
	lastError string
	// removedMs is when this term first saw the duplication removed.
	removedMs int64
}

// dupMemLocked returns the term's memory of d, made from the stored
// record on first use.
func (t *term) dupMemLocked(app *state.App, d *state.AppDup) *dupMem {
	k := dupKey{app.Info.AppID, d.Dup.ID}
	m := t.mu.dups[k]
	if m == nil {
		m = &dupMem{flushedMs: t.nowMs()}
		t.mu.dups[k] = m
	}
	if len(m.parts) != len(d.Partitions) {
		m.parts = make([]partProgress, len(d.Partitions))
		for i, p := range d.Partitions {
			m.parts[i] = partProgress{Confirmed: p.ConfirmedDecree, Checkpoint: p.CheckpointDecree}
		}
	}
	return m
}

// forgetDupsLocked drops the memory of duplications the view no longer
// holds.
func (t *term) forgetDupsLocked() {
	for k := range t.mu.dups {
		a := t.mu.view.Apps[k.app]
		if a == nil || a.Dups[k.dup] == nil {
			delete(t.mu.dups, k)
		}
	}
}

// ownMetas is this cluster's meta list as followers record it: its own
// entry of [pegasus.clusters], else meta_server.meta_servers, else this
// server's address. Every meta server of the cluster must agree, so a new
// leader recognises the follower tables the previous one created.
func (s *Server) ownMetas() []string {
	if l := s.opts.Clusters[s.opts.ClusterName]; len(l) > 0 {
		return slices.Clone(l)
	}
	if len(s.opts.MetaServers) > 0 {
		return slices.Clone(s.opts.MetaServers)
	}
	return []string{s.opts.Address}
}

// checkDupConfig refuses a duplication to remote that the configuration
// does not allow.
func (s *Server) checkDupConfig(remote string) error {
	o := &s.opts
	if o.DisableDuplication {
		return protocol.Errorf(protocol.CodeInvalidConfig, "duplication is disabled on this meta server ([meta_server] duplication_enabled = false)")
	}
	if remote == o.ClusterName {
		return protocol.Errorf(protocol.CodeInvalidArgument, "cannot duplicate to itself: remote cluster %q is this cluster ([meta_server] cluster_name)", remote)
	}
	metas, ok := o.Clusters[remote]
	if !ok {
		known := slices.Sorted(maps.Keys(o.Clusters))
		return protocol.Errorf(protocol.CodeInvalidArgument, "unknown remote cluster %q: add it to [pegasus.clusters] of the meta servers (known: %s)",
			remote, orNone(strings.Join(known, ", ")))
	}
	own := slices.Concat(o.Clusters[o.ClusterName], o.MetaServers, []string{o.Address})
	for _, m := range metas {
		if slices.Contains(own, m) {
			return protocol.Errorf(protocol.CodeInvalidArgument, "cannot duplicate to itself: remote cluster %q lists this cluster's meta server %s", remote, m)
		}
	}
	if _, ok := o.DupGroup[o.ClusterName]; !ok {
		return protocol.Errorf(protocol.CodeInvalidConfig, "[duplication-group] gives no cluster id to this cluster %q: add it on every cluster of the group", o.ClusterName)
	}
	if _, ok := o.DupGroup[remote]; !ok {
		return protocol.Errorf(protocol.CodeInvalidConfig, "[duplication-group] gives no cluster id to remote cluster %q: add it on every cluster of the group", remote)
	}
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// remote returns the client of a remote cluster's meta servers, made on
// first use and kept until the Server closes.
func (s *Server) remote(cluster string) (RemoteMeta, error) {
	s.remotes.Lock()
	defer s.remotes.Unlock()
	if r := s.remotes.m[cluster]; r != nil {
		return r, nil
	}
	metas, ok := s.opts.Clusters[cluster]
	if !ok {
		return nil, protocol.Errorf(protocol.CodeInvalidConfig, "remote cluster %q is not in [pegasus.clusters]", cluster)
	}
	if s.remotes.closed {
		return nil, protocol.Errorf(protocol.CodeNetworkFailure, "meta server closing")
	}
	var (
		r   RemoteMeta
		err error
	)
	if s.opts.DialRemote != nil {
		r, err = s.opts.DialRemote(cluster, slices.Clone(metas))
	} else {
		r, err = admin.New(admin.Config{MetaServers: metas}, admin.WithRPCClient(s.client), admin.WithLogger(s.log))
	}
	if err != nil {
		return nil, protocol.Errorf(protocol.CodeInvalidConfig, "remote cluster %q: %v", cluster, err)
	}
	if s.remotes.m == nil {
		s.remotes.m = map[string]RemoteMeta{}
	}
	s.remotes.m[cluster] = r
	return r, nil
}

// closeRemotes closes every remote client; later lookups fail.
func (s *Server) closeRemotes() {
	s.remotes.Lock()
	defer s.remotes.Unlock()
	s.remotes.closed = true
	for _, r := range s.remotes.m {
		r.Close()
	}
	s.remotes.m = nil
}

// queryRemote asks cluster about table name, for at most timeout.
func (s *Server) queryRemote(ctx context.Context, cluster, name string, timeout time.Duration) *remoteTable {
	r, err := s.remote(cluster)
	if err != nil {
		return &remoteTable{Err: err}
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	qc, err := r.QueryConfig(ctx, name)
	if errors.Is(err, protocol.CodeAppNotExist) {
		return &remoteTable{Missing: true}
	}
	if err != nil {
		return &remoteTable{Err: err}
	}
	rt := &remoteTable{Info: qc.App}
	for i := range qc.Partitions {
		if qc.Partitions[i].Primary != "" {
			rt.Primaries++
		}
	}
	return rt
}

// AddDuplication validates and stores a new duplication in DS_INIT; the
// executor takes it from there.
func (m *MetaService) AddDuplication(ctx context.Context, req *protocol.AddDuplicationRequest, resp *protocol.AddDuplicationResponse) error {
	s := m.s
	t, err := s.serving(ctx)
	if err != nil {
		return err
	}
	if err := validateAppName(req.AppName); err != nil {
		return err
	}
	remoteApp := req.RemoteAppName
	if remoteApp == "" {
		remoteApp = req.AppName
	}
	if err := validateAppName(remoteApp); err != nil {
		return err
	}
	if err := s.checkDupConfig(req.RemoteCluster); err != nil {
		return err
	}
	// Cheap checks first, then the remote cluster (without the lock), then
	// everything again under the lock with the write.
	t.mu.Lock()
	_, err = t.checkNewDupLocked(req.AppName, req.RemoteCluster, remoteApp)
	t.mu.Unlock()
	if err != nil {
		return err
	}
	rt := s.queryRemote(ctx, req.RemoteCluster, remoteApp, dupAddCheckTimeout)
	where := "table " + remoteApp + " on remote cluster " + req.RemoteCluster
	switch {
	case rt.Err != nil:
		return protocol.Errorf(protocol.CodeOf(rt.Err), "cannot query %s: %v", where, rt.Err)
	case !req.Full && rt.Missing:
		return protocol.Errorf(protocol.CodeAppNotExist, "%s does not exist: create it first (partition counts may differ), or add a full duplication (dup add -p) that creates it", where)
	case req.Full && !rt.Missing && !carriesEnvs(rt.Info.Envs, masterEnvs(s.opts.ClusterName, s.ownMetas(), req.AppName)):
		return protocol.Errorf(protocol.CodeAppExist, "%s already exists: a full duplication creates it; drop it, or add an incremental duplication (without -p)", where)
	}

	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.active() {
		return s.forward(ctx)
	}
	app, err := t.checkNewDupLocked(req.AppName, req.RemoteCluster, remoteApp)
	if err != nil {
		return err
	}
	now := s.opts.Clock()
	d := state.Dup{
		ID: t.newDupIDLocked(now.Unix()), Remote: req.RemoteCluster, Status: protocol.DupStatusInit,
		CreateTimestampMs: now.UnixMilli(), FailMode: protocol.DupFailSlow, RemoteAppName: remoteApp, Full: req.Full,
	}
	parts := make([]state.DupProgress, len(app.Partitions))
	for i := range parts {
		parts[i] = state.DupProgress{ConfirmedDecree: -1}
	}
	if err := t.mu.w.AddDup(ctx, app, d, parts); err != nil {
		return t.writeErr(ctx, "add duplication of "+req.AppName, err)
	}
	t.log.Info("duplication added", logging.AppID(app.Info.AppID), logging.Table(req.AppName), "dupid", d.ID,
		"remote", d.Remote, "remote_app", remoteApp, "full", d.Full)
	t.pokeDup()
	*resp = protocol.AddDuplicationResponse{AppID: app.Info.AppID, DupID: d.ID, RemoteAppName: remoteApp}
	return nil
}

// checkNewDupLocked returns the served table name, or why a duplication
// of it to remote.remoteApp cannot be added.
func (t *term) checkNewDupLocked(name, remote, remoteApp string) (*state.App, error) {
	app := t.mu.view.AppByName(name)
	if app == nil || app.Info.Status != protocol.AppAvailable {
		return nil, appNotExist(name)
	}
	for _, d := range app.SortedDups() {
		if d.Dup.Remote == remote && d.Dup.RemoteAppName == remoteApp && d.Dup.Status != protocol.DupStatusRemoved {
			return nil, protocol.Errorf(protocol.CodeAppExist, "table %s already duplicates to table %s on cluster %s [dupid: %d, status %v]",
				name, remoteApp, remote, d.Dup.ID, d.Dup.Status)
		}
	}
	return app, nil
}

// newDupIDLocked allocates a dupid as Pegasus does: the creation time in
// seconds, made unique over the cluster.
func (t *term) newDupIDLocked(nowSec int64) int32 {
	id := int32(max(1, min(nowSec, 1<<31-1)))
	used := map[int32]bool{}
	for _, a := range t.mu.view.Apps {
		for k := range a.Dups {
			used[k] = true
		}
	}
	for used[id] {
		if id++; id <= 0 { // wrapped
			id = 1
		}
	}
	return id
}

// QueryDuplication lists a table's duplications (removed ones excluded)
// with the progress the meta knows.
func (m *MetaService) QueryDuplication(ctx context.Context, req *protocol.QueryDuplicationRequest, resp *protocol.QueryDuplicationResponse) error {
	t, err := m.s.serving(ctx)
	if err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	app := t.mu.view.AppByName(req.AppName)
	if app == nil {
		return appNotExist(req.AppName)
	}
	resp.AppID = app.Info.AppID
	for _, d := range app.SortedDups() {
		if d.Dup.Status != protocol.DupStatusRemoved {
			resp.Dups = append(resp.Dups, t.dupEntryLocked(app, d, false))
		}
	}
	return nil
}

// dupEntryLocked describes d. stored (for replica servers) gives the
// stored decrees; otherwise the latest known ones, with the executor's
// error in each partition's LastError.
func (t *term) dupEntryLocked(app *state.App, d *state.AppDup, stored bool) protocol.DuplicationEntry {
	e := protocol.DuplicationEntry{
		DupID: d.Dup.ID, AppID: app.Info.AppID, Status: d.Dup.Status, FailMode: d.Dup.FailMode,
		RemoteCluster: d.Dup.Remote, RemoteAppName: d.Dup.RemoteAppName,
		RemoteMetas: slices.Clone(t.s.opts.Clusters[d.Dup.Remote]), CreateTimestampMs: d.Dup.CreateTimestampMs, Full: d.Dup.Full,
	}
	if d.Dup.Status == protocol.DupStatusRemoved {
		return e
	}
	mem := t.dupMemLocked(app, d)
	e.Partitions = make([]protocol.DupPartition, len(d.Partitions))
	for i, p := range d.Partitions {
		mp := mem.parts[i]
		dp := protocol.DupPartition{
			PartitionIndex: int32(i), ConfirmedDecree: p.ConfirmedDecree, CheckpointDecree: p.CheckpointDecree,
			LastCommitted: mp.LastCommitted, PendingMutations: mp.PendingMutations, SkippedMutations: mp.SkippedMutations,
			LastError: mp.LastError, ReportTimeMs: mp.ReportTimeMs,
		}
		if !stored {
			dp.ConfirmedDecree = max(dp.ConfirmedDecree, mp.Confirmed)
			if dp.CheckpointDecree == 0 {
				dp.CheckpointDecree = mp.Checkpoint
			}
			if mem.lastError != "" {
				dp.LastError = joinErr("meta: "+mem.lastError, dp.LastError)
			}
		}
		e.Partitions[i] = dp
	}
	return e
}

func joinErr(a, b string) string {
	if b == "" {
		return a
	}
	return a + "; " + b
}

// ModifyDuplication pauses, starts or removes a duplication, or sets its
// fail mode. Asking for what already holds succeeds without a change.
func (m *MetaService) ModifyDuplication(ctx context.Context, req *protocol.ModifyDuplicationRequest, resp *protocol.ModifyDuplicationResponse) error {
	t, err := m.s.serving(ctx)
	if err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.active() {
		return m.s.forward(ctx)
	}
	app := t.mu.view.AppByName(req.AppName)
	if app == nil {
		return appNotExist(req.AppName)
	}
	d := app.Dups[req.DupID]
	if d == nil {
		return protocol.Errorf(protocol.CodeObjectNotFound, "table %s has no duplication %d (see dup list)", req.AppName, req.DupID)
	}
	next, changed, err := modifyDup(d.Dup, req.AppName, req)
	if err != nil {
		return err
	}
	if changed {
		if err := t.mu.w.UpdateDup(ctx, app, next, nil); err != nil {
			return t.writeErr(ctx, "modify duplication of "+req.AppName, err)
		}
		t.log.Info("duplication modified", logging.AppID(app.Info.AppID), logging.Table(req.AppName), "dupid", next.ID,
			"status", next.Status, "fail_mode", next.FailMode)
		if next.Status == protocol.DupStatusRemoved {
			delete(t.mu.dups, dupKey{app.Info.AppID, next.ID})
		}
		t.pokeDup()
	}
	resp.Dup = t.dupEntryLocked(app, d, false)
	return nil
}

// DuplicationSync records the progress a replica server reports for the
// primaries it holds and answers with every live duplication and its
// stored progress.
func (m *InternalService) DuplicationSync(ctx context.Context, req *protocol.DuplicationSyncRequest, resp *protocol.DuplicationSyncResponse) error {
	t, err := m.s.serving(ctx)
	if err != nil {
		return err
	}
	if err := validateNode(req.Node); err != nil {
		return err
	}
	if len(req.Progress) > maxDupProgress {
		return protocol.Errorf(protocol.CodeInvalidArgument, "%d progress entries reported: at most %d", len(req.Progress), maxDupProgress)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.active() {
		return m.s.forward(ctx)
	}
	now := t.nowMs()
	poke := false
	for i := range req.Progress {
		r := &req.Progress[i]
		app := t.mu.view.Apps[r.Gpid.AppID]
		if app == nil || app.Info.Status != protocol.AppAvailable {
			continue
		}
		d := app.Dups[r.DupID]
		if d == nil || d.Dup.Status == protocol.DupStatusRemoved || r.Gpid.PartitionIndex < 0 || int(r.Gpid.PartitionIndex) >= len(d.Partitions) {
			continue
		}
		mem := t.dupMemLocked(app, d)
		p := &mem.parts[r.Gpid.PartitionIndex]
		before := p.Checkpoint
		primary := app.Partitions[r.Gpid.PartitionIndex].Config.Primary
		*p = mergeProgress(*p, d.Dup.Status, primary, req.Node, r, now)
		poke = poke || p.Checkpoint != before
	}
	for _, a := range t.mu.view.SortedApps() {
		if a.Info.Status != protocol.AppAvailable {
			continue
		}
		for _, d := range a.SortedDups() {
			if d.Dup.Status != protocol.DupStatusRemoved {
				resp.Dups = append(resp.Dups, t.dupEntryLocked(a, d, true))
			}
		}
	}
	if poke {
		t.pokeDup()
	}
	return nil
}
