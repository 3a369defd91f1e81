package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pegasus-go/pegasus/replicaserver/internal/replica"
	"github.com/pegasus-go/pegasus/replicaserver/internal/replica/core"
	"github.com/pegasus-go/pegasus/shared/keyschema"
	"github.com/pegasus-go/pegasus/shared/logging"
	"github.com/pegasus-go/pegasus/shared/protocol"
	"github.com/pegasus-go/pegasus/shared/rpc"
)

// foreverLease is the lease replicas hold when no meta server is
// configured.
var foreverLease = time.Unix(0, math.MaxInt64)

// Server is a replica server: the registry of the replicas it holds, the
// data and control RPC handlers, and the meta client loop.
type Server struct {
	opts    Options
	log     *slog.Logger
	metrics *serverMetrics
	startMs int64

	// openMu serializes opening and removing replicas (control plane).
	openMu sync.Mutex

	mu struct {
		sync.RWMutex
		replicas   map[protocol.Gpid]*entry
		dirCounts  []int // replicas per data dir, parallel to opts.DataDirs
		nextDir    int   // round-robin cursor among equally loaded dirs
		leaseUntil time.Time
		// everLeased is set by the first lease from a meta server; once
		// set, a lease that ran out (or was withdrawn) before the next
		// beacon means this server was cut off or paused.
		everLeased bool
		// fenced holds, per primary, the ballot it had when this server's
		// lease lapsed. A fenced replica gets no lease until the meta
		// confirms it again (a configuration listing this node at that
		// ballot or a higher one), because while the lease was out the
		// meta may have replaced it.
		fenced   map[protocol.Gpid]protocol.Ballot
		failures []OpenFailure
		closed   bool
	}

	meta *metaClient // nil without meta servers

	// Replication: acknowledgement waiters, per-node senders, the
	// primary and learner sides of learning, and meta proposals.
	acks     *ackWaiters
	peers    *peerSenders
	source   *learnSource
	target   *learnTarget
	proposer *proposer
	// Full duplication: checkpoints served as a master, copies made as a
	// follower.
	dupSource *dupCheckpoints
	follower  *followerCopies
	dups      *dupManager // nil unless duplication is enabled with meta servers

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// entry is one registered replica.
type entry struct {
	gpid    protocol.Gpid
	dir     string
	dataDir int
	r       Replica
	app     atomic.Pointer[protocol.AppInfo]
	metrics *tableMetrics
}

func (e *entry) appInfo() protocol.AppInfo { return *e.app.Load() }

// OpenFailure records a replica directory found at start that could not be
// opened. The directory is left alone; the meta server reassigns the
// partition.
type OpenFailure struct {
	Dir   string `json:"dir"`
	Error string `json:"error"`
}

// New builds a server and reopens every replica found in the data dirs
// (directories named <app_id>.<pidx>). A replica that fails to open is
// logged and listed in OpenFailures; the others are served. The server
// handles RPCs once registered with Register and runs its meta client loop
// after Start.
func New(opts Options) (*Server, error) {
	if err := opts.ensureDefaults(); err != nil {
		return nil, err
	}
	s := &Server{
		opts:    opts,
		log:     logging.WithNode(logging.WithComponent(opts.Logger, "replica_server"), opts.Node),
		startMs: opts.Clock().UnixMilli(),
	}
	s.metrics = newServerMetrics(opts.Scope)
	s.acks = newAckWaiters()
	s.peers = newPeerSenders(s)
	s.source = newLearnSource(s)
	s.target = newLearnTarget(s)
	s.proposer = newProposer(s)
	s.dupSource = newDupCheckpoints(s)
	s.follower = newFollowerCopies(s)
	s.mu.replicas = make(map[protocol.Gpid]*entry)
	s.mu.fenced = make(map[protocol.Gpid]protocol.Ballot)
	s.mu.dirCounts = make([]int, len(opts.DataDirs))
	if len(opts.MetaServers) == 0 {
		s.mu.leaseUntil = foreverLease
	} else {
		s.meta = newMetaClient(s)
		if opts.Dup.Enabled {
			s.dups = newDupManager(s)
		}
	}
	if err := s.reopenAll(); err != nil {
		s.closeReplicas()
		return nil, err
	}
	s.follower.removeStaleStagings()
	return s, nil
}

// reopenAll opens every replica directory in the data dirs.
func (s *Server) reopenAll() error {
	fs := s.opts.FS
	type found struct {
		gpid    protocol.Gpid
		dir     string
		dataDir int
	}
	var all []found
	where := make(map[protocol.Gpid]string)
	for i, dd := range s.opts.DataDirs {
		if err := fs.MkdirAll(dd, 0o755); err != nil {
			return fmt.Errorf("server: create data dir %q: %w", dd, err)
		}
		names, err := fs.List(dd)
		if err != nil {
			return fmt.Errorf("server: list data dir %q: %w", dd, err)
		}
		slices.Sort(names)
		for _, name := range names {
			g, ok := parseReplicaDir(name)
			if !ok {
				continue
			}
			dir := fs.PathJoin(dd, name)
			st, err := fs.Stat(dir)
			if err != nil || !st.IsDir() {
				continue
			}
			if prev, dup := where[g]; dup {
				return fmt.Errorf("server: replica %s found twice, in %q and %q", g, prev, dir)
			}
			where[g] = dir
			all = append(all, found{g, dir, i})
		}
	}
	for _, f := range all {
		if _, err := s.openLocked(f.gpid, f.dir, f.dataDir, protocol.AppInfo{}, protocol.PartitionConfiguration{}); err != nil {
			s.log.Error("cannot reopen replica", logging.Gpid(f.gpid), "dir", f.dir, logging.Err(err))
			s.mu.Lock()
			s.mu.failures = append(s.mu.failures, OpenFailure{Dir: f.dir, Error: err.Error()})
			s.mu.Unlock()
			continue
		}
		s.log.Info("reopened replica", logging.Gpid(f.gpid), "dir", f.dir)
	}
	return nil
}

// parseReplicaDir parses a replica directory name "<app_id>.<pidx>".
func parseReplicaDir(name string) (protocol.Gpid, bool) {
	a, p, ok := strings.Cut(name, ".")
	if !ok {
		return protocol.Gpid{}, false
	}
	app, err1 := strconv.ParseInt(a, 10, 32)
	pidx, err2 := strconv.ParseInt(p, 10, 32)
	if err1 != nil || err2 != nil || app <= 0 || pidx < 0 ||
		strconv.FormatInt(app, 10) != a || strconv.FormatInt(pidx, 10) != p {
		return protocol.Gpid{}, false
	}
	return protocol.Gpid{AppID: int32(app), PartitionIndex: int32(pidx)}, true
}

// replicaDirName is the directory name of a replica inside a data dir.
func replicaDirName(g protocol.Gpid) string {
	return strconv.Itoa(int(g.AppID)) + "." + strconv.Itoa(int(g.PartitionIndex))
}

// Start runs the replication goroutines (peer senders, learning,
// configuration proposals, the learning janitor) and, when meta servers are
// configured, the meta client loop (beacons and config syncs). It returns
// at once.
func (s *Server) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.peers.start(ctx)
	s.target.start(ctx)
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		s.proposer.run(ctx)
	}()
	go func() {
		defer s.wg.Done()
		s.runJanitor(ctx)
	}()
	if s.meta == nil {
		return
	}
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		s.meta.runBeacons(ctx)
	}()
	go func() {
		defer s.wg.Done()
		s.meta.runSyncs(ctx)
	}()
	if s.dups != nil {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.dups.run(ctx)
		}()
	}
}

// Register registers the Replica (data), ReplicaControl and Peer services
// with rs. Call it before rs serves.
func (s *Server) Register(rs *rpc.Server) error {
	if err := rs.Register(protocol.ServiceReplica, &dataService{s: s}); err != nil {
		return err
	}
	if err := rs.Register(protocol.ServicePeer, &peerService{s: s}); err != nil {
		return err
	}
	return rs.Register(protocol.ServiceReplicaControl, &controlService{s: s})
}

// runJanitor closes finished and idle learning sessions every second.
func (s *Server) runJanitor(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			s.source.tick(now)
			s.dupSource.tick(s.opts.Clock())
		}
	}
}

// Close stops the meta client loop, the replication goroutines and the
// learning sessions, and closes every replica. Requests still arriving
// fail with CodeObjectNotFound. Close is idempotent.
func (s *Server) Close() error {
	if s.cancel != nil {
		s.cancel()
	}
	s.wg.Wait()
	if s.dups != nil {
		s.dups.stop()
	}
	s.peers.stop()
	s.target.stop()
	s.follower.close()
	s.source.closeAll()
	s.dupSource.closeAll()
	s.openMu.Lock()
	defer s.openMu.Unlock()
	s.mu.Lock()
	s.mu.closed = true
	s.mu.Unlock()
	return s.closeReplicas()
}

func (s *Server) closeReplicas() error {
	s.mu.Lock()
	entries := make([]*entry, 0, len(s.mu.replicas))
	for _, e := range s.mu.replicas {
		entries = append(entries, e)
	}
	clear(s.mu.replicas)
	s.mu.Unlock()
	var errs []error
	for _, e := range entries {
		if err := e.r.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close replica %s: %w", e.gpid, err))
		}
	}
	return errors.Join(errs...)
}

// Node returns the advertised address.
func (s *Server) Node() string { return s.opts.Node }

// lookup returns the replica serving g, or CodeObjectNotFound.
func (s *Server) lookup(g protocol.Gpid) (*entry, error) {
	s.mu.RLock()
	e := s.mu.replicas[g]
	s.mu.RUnlock()
	if e == nil {
		return nil, protocol.Errorf(protocol.CodeObjectNotFound, "replica %s is not served by %s", g, s.opts.Node)
	}
	return e, nil
}

// entries returns the registered replicas ordered by gpid.
func (s *Server) entries() []*entry {
	s.mu.RLock()
	out := make([]*entry, 0, len(s.mu.replicas))
	for _, e := range s.mu.replicas {
		out = append(out, e)
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b *entry) int {
		if a.gpid.AppID != b.gpid.AppID {
			return int(a.gpid.AppID) - int(b.gpid.AppID)
		}
		return int(a.gpid.PartitionIndex) - int(b.gpid.PartitionIndex)
	})
	return out
}

// checkApp validates the table info for opening partition g.
func checkApp(app protocol.AppInfo, g protocol.Gpid) error {
	if app.AppID != g.AppID {
		return protocol.Errorf(protocol.CodeInvalidArgument, "table info of app %d for replica %s", app.AppID, g)
	}
	if _, err := keyschema.PartitionIndex(0, app.PartitionCount); err != nil {
		return protocol.Errorf(protocol.CodeInvalidArgument, "table %q: %v", app.Name, err)
	}
	if g.PartitionIndex < 0 || g.PartitionIndex >= app.PartitionCount {
		return protocol.Errorf(protocol.CodeInvalidArgument, "partition %s outside table %q of %d partitions",
			g, app.Name, app.PartitionCount)
	}
	return nil
}

// ensureReplica opens (creating if needed) the replica of cfg.Gpid, or
// installs app and cfg on the open one. It is idempotent: the same
// configuration again is a no-op.
func (s *Server) ensureReplica(app protocol.AppInfo, cfg protocol.PartitionConfiguration) error {
	g := cfg.Gpid
	s.openMu.Lock()
	defer s.openMu.Unlock()
	if e, err := s.lookup(g); err == nil {
		if err := e.r.UpdateConfig(app, cfg); err != nil {
			return err
		}
		if app.AppID != 0 {
			a := app
			e.app.Store(&a)
		}
		s.confirm(e, cfg)
		return nil
	}
	if err := checkApp(app, g); err != nil {
		return err
	}
	s.mu.Lock()
	if s.mu.closed {
		s.mu.Unlock()
		return protocol.Errorf(protocol.CodeInvalidState, "replica server %s is closing", s.opts.Node)
	}
	// A replica closed earlier (its table was dropped, then recalled) is
	// reopened where its data is; a new one goes to the least-loaded dir.
	dir, di, found := s.findReplicaDir(g)
	s.mu.Unlock()
	if found {
		s.follower.removeStaleStaging(g)
	} else if handled, err := s.follower.intercept(app, cfg); handled {
		// A full duplication's follower copies its data first.
		return err
	}
	if !found {
		s.mu.Lock()
		di = s.pickDataDirLocked()
		s.mu.Unlock()
		dir = s.opts.FS.PathJoin(s.opts.DataDirs[di], replicaDirName(g))
	}
	e, err := s.openLocked(g, dir, di, app, cfg)
	if err != nil {
		return err
	}
	s.confirm(e, cfg)
	s.log.Info("opened replica", logging.Gpid(g), logging.Ballot(cfg.Ballot), "dir", dir)
	return nil
}

// pickDataDirLocked chooses the data dir with the fewest replicas; ties go
// round-robin.
func (s *Server) pickDataDirLocked() int {
	n := len(s.mu.dirCounts)
	best := -1
	for k := range n {
		i := (s.mu.nextDir + k) % n
		if best < 0 || s.mu.dirCounts[i] < s.mu.dirCounts[best] {
			best = i
		}
	}
	s.mu.nextDir = (best + 1) % n
	return best
}

// openLocked opens one replica and registers it. The caller holds openMu
// (or is New).
func (s *Server) openLocked(g protocol.Gpid, dir string, dataDir int, app protocol.AppInfo, cfg protocol.PartitionConfiguration) (*entry, error) {
	o := s.opts
	// Learning sessions do not survive a restart of the primary.
	if err := o.FS.RemoveAll(o.FS.PathJoin(dir, learnDirName)); err != nil {
		s.log.Warn("cannot remove old learn dirs", logging.Gpid(g), logging.Err(err))
	}
	tags := map[string]string{"app_id": strconv.Itoa(int(g.AppID)), "partition": strconv.Itoa(int(g.PartitionIndex))}
	var floors map[string]protocol.Decree
	if s.dups != nil {
		// Until the next duplication sync tells which duplications the
		// table has and how far they got, nothing of the plog may go: a
		// reopened replica may hold the only copy of an unshipped backlog.
		floors = map[string]protocol.Decree{replica.GCFloorDup: 0}
	}
	r, err := o.OpenReplica(ReplicaOptions{
		Gpid: g, Dir: dir, FS: o.FS, Node: o.Node, App: app, Config: cfg,
		PlogSync: o.PlogSync, PlogSegmentSizeBytes: o.PlogSegmentSizeBytes, PlogFlushInterval: o.PlogFlushInterval,
		Storage: o.Storage, TickInterval: o.TickInterval, ReapInterval: o.ReapInterval,
		EngineSyncInterval: o.EngineSyncInterval, MaxReplicaCount: o.MaxReplicaCount, ExternalLease: true,
		GroupCheckInterval: o.GroupCheckInterval, PrepareTimeout: o.PrepareTimeout,
		ClusterID:        o.DuplicationGroup[o.ClusterName],
		Transport:        &replicaTransport{s: s, gpid: g},
		OnConfigProposal: func(cp core.ConfigProposal) { s.proposer.fromCore(g, cp) },
		GCFloors:         floors,
		Scope:            o.Scope.SubScope("replica").Tagged(tags),
		DupScope:         o.Scope.Tagged(tags),
		Logger:           o.Logger, Clock: o.Clock,
	})
	if err != nil {
		return nil, err
	}
	e := &entry{gpid: g, dir: dir, dataDir: dataDir, r: r}
	a := r.App()
	if a.AppID == 0 {
		a.AppID = g.AppID
	}
	e.app.Store(&a)
	e.metrics = s.metrics.forTable(a.AppID, a.Name)
	s.mu.Lock()
	lease := s.mu.leaseUntil
	if _, fenced := s.mu.fenced[g]; fenced {
		lease = time.Time{}
	}
	s.mu.replicas[g] = e
	s.mu.dirCounts[dataDir]++
	s.metrics.replicaCount.Update(float64(len(s.mu.replicas)))
	s.mu.Unlock()
	if lease.After(o.Clock()) {
		r.GrantLease(lease)
	}
	return e, nil
}

// reinstall closes g's replica, runs fn on its directory (learning
// replaces its data) and reopens it. Requests arriving meanwhile find no
// replica (CodeObjectNotFound).
func (s *Server) reinstall(g protocol.Gpid, fn func(dir string) error) error {
	s.openMu.Lock()
	defer s.openMu.Unlock()
	s.mu.Lock()
	e := s.mu.replicas[g]
	if e == nil || s.mu.closed {
		s.mu.Unlock()
		return protocol.Errorf(protocol.CodeObjectNotFound, "replica %s is not served by %s", g, s.opts.Node)
	}
	delete(s.mu.replicas, g)
	s.mu.dirCounts[e.dataDir]--
	s.mu.Unlock()
	var errs []error
	if err := e.r.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close replica %s: %w", g, err))
	}
	if len(errs) == 0 {
		if err := fn(e.dir); err != nil {
			errs = append(errs, err)
		}
	}
	if _, err := s.openLocked(g, e.dir, e.dataDir, protocol.AppInfo{}, protocol.PartitionConfiguration{}); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// removeReplica closes the replica of g and deletes its directory. A gpid
// not served here is not an error.
func (s *Server) removeReplica(g protocol.Gpid) error {
	s.openMu.Lock()
	defer s.openMu.Unlock()
	err := s.closeReplicaLocked(g)
	s.follower.cancel(g, true)
	dir, _, found := s.findReplicaDir(g)
	if !found {
		return err
	}
	if rerr := s.opts.FS.RemoveAll(dir); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
		return errors.Join(err, fmt.Errorf("remove replica dir %q: %w", dir, rerr))
	}
	s.log.Info("removed replica", logging.Gpid(g), "dir", dir)
	return err
}

// closeReplica stops serving a replica but keeps its data, so a dropped
// table can be recalled: a later configuration for it reopens the same
// directory. Closing a replica that is not open is a no-op.
func (s *Server) closeReplica(g protocol.Gpid) error {
	s.openMu.Lock()
	defer s.openMu.Unlock()
	return s.closeReplicaLocked(g)
}

// closeReplicaLocked is closeReplica with openMu held.
func (s *Server) closeReplicaLocked(g protocol.Gpid) error {
	s.follower.cancel(g, false)
	s.mu.Lock()
	delete(s.mu.fenced, g)
	e := s.mu.replicas[g]
	if e != nil {
		delete(s.mu.replicas, g)
		s.mu.dirCounts[e.dataDir]--
		s.metrics.replicaCount.Update(float64(len(s.mu.replicas)))
	}
	s.mu.Unlock()
	if e == nil {
		return nil
	}
	if err := e.r.Close(); err != nil {
		return fmt.Errorf("close replica %s: %w", g, err)
	}
	s.log.Info("closed replica", logging.Gpid(g), "dir", e.dir)
	return nil
}

// findReplicaDir looks for g's directory in every data dir, open or not.
func (s *Server) findReplicaDir(g protocol.Gpid) (dir string, dataDir int, ok bool) {
	for i, dd := range s.opts.DataDirs {
		d := s.opts.FS.PathJoin(dd, replicaDirName(g))
		if st, err := s.opts.FS.Stat(d); err == nil && st.IsDir() {
			return d, i, true
		}
	}
	return "", 0, false
}

// grantLease extends the lease of every replica that is not fenced to
// until (never shortens it). If the previous lease had run out, every
// primary is fenced first: it serves again only once the meta confirms it
// (confirm), so a primary that was paused or cut off past its lease never
// serves after the meta may have replaced it.
func (s *Server) grantLease(until time.Time) (fencedAny bool) {
	now := s.opts.Clock()
	s.mu.Lock()
	if s.mu.everLeased && !now.Before(s.mu.leaseUntil) {
		for g, e := range s.mu.replicas {
			if info := e.r.Info(); info.Status == protocol.PartitionPrimary {
				s.mu.fenced[g] = info.Ballot
				s.log.Warn("lease had lapsed; primary waits for the meta to confirm it", logging.Gpid(g), logging.Ballot(info.Ballot))
			}
		}
	}
	s.mu.everLeased = true
	fencedAny = len(s.mu.fenced) > 0
	if !until.After(s.mu.leaseUntil) {
		s.mu.Unlock()
		return fencedAny
	}
	s.mu.leaseUntil = until
	grant := make([]*entry, 0, len(s.mu.replicas))
	for g, e := range s.mu.replicas {
		if _, fenced := s.mu.fenced[g]; !fenced {
			grant = append(grant, e)
		}
	}
	s.mu.Unlock()
	for _, e := range grant {
		e.r.GrantLease(until)
	}
	return fencedAny
}

// confirm lifts e's fence when cfg, a configuration the meta sent, lists
// this node as primary or secondary at the fenced ballot or a higher one,
// and gives the replica the server's current lease.
func (s *Server) confirm(e *entry, cfg protocol.PartitionConfiguration) {
	if !s.isMember(cfg) {
		return
	}
	s.mu.Lock()
	b, fenced := s.mu.fenced[e.gpid]
	if !fenced || cfg.Ballot < b {
		s.mu.Unlock()
		return
	}
	delete(s.mu.fenced, e.gpid)
	lease := s.mu.leaseUntil
	s.mu.Unlock()
	s.log.Info("meta confirmed the replica; lease restored", logging.Gpid(e.gpid), logging.Ballot(cfg.Ballot))
	if lease.After(s.opts.Clock()) {
		e.r.GrantLease(lease)
	}
}

// expireLeases withdraws every replica's lease at once.
func (s *Server) expireLeases() {
	s.mu.Lock()
	s.mu.leaseUntil = time.Time{}
	s.mu.Unlock()
	for _, e := range s.entries() {
		e.r.ExpireLease()
	}
}

// LeaseUntil returns the lease the replicas hold (zero: none).
func (s *Server) LeaseUntil() time.Time {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.mu.leaseUntil
}

// OpenTestReplica opens (creating if needed) partitions pidxs of app with
// this server as the only member (primary, ballot 1, single-replica mode).
// It is the test hook for servers without a meta server, whose replicas
// hold a lease that never ends; with meta servers configured it refuses,
// since only the meta assigns partitions. Idempotent.
func (s *Server) OpenTestReplica(app protocol.AppInfo, pidxs ...int32) error {
	if s.meta != nil {
		return protocol.Errorf(protocol.CodeInvalidState, "replica server %s has meta servers; partitions are assigned by the meta", s.opts.Node)
	}
	for _, p := range pidxs {
		g := protocol.Gpid{AppID: app.AppID, PartitionIndex: p}
		cfg := protocol.PartitionConfiguration{Gpid: g, Ballot: 1, Primary: s.opts.Node, MaxReplicaCount: 1}
		if e, err := s.lookup(g); err == nil {
			info := e.r.Info()
			if info.Status == protocol.PartitionPrimary {
				continue
			}
			// Reopened under another address (tests use port 0): take the
			// partition over with a higher ballot, as a meta would.
			cfg.Ballot = info.Ballot + 1
		}
		if err := s.ensureReplica(app, cfg); err != nil {
			return err
		}
	}
	return nil
}

// OpenFailures lists the replica directories that could not be reopened
// at start.
func (s *Server) OpenFailures() []OpenFailure {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Clone(s.mu.failures)
}
