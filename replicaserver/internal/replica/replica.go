package replica

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"reflect"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/vfs"

	"github.com/pegasus-go/pegasus/replicaserver/internal/plog"
	"github.com/pegasus-go/pegasus/replicaserver/internal/replica/core"
	"github.com/pegasus-go/pegasus/replicaserver/internal/storage"
	"github.com/pegasus-go/pegasus/shared/logging"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

// EnvDefaultTTL is the table env holding the default TTL in seconds.
const EnvDefaultTTL = "default_ttl"

// noLimit is the GC floor meaning "no floor beyond the engine's durable
// decree" and the lease deadline of a self-granted lease.
const noLimit = math.MaxInt64

// Replica is one partition replica: the core, the plog, the storage engine
// and the goroutine that owns them. See the package documentation.
type Replica struct {
	opts      Options
	gpid      protocol.Gpid
	fs        vfs.FS
	logger    *slog.Logger
	engine    *storage.Engine
	plog      *plog.Log
	metrics   *metrics
	transport Transport
	hooks     *testHooks

	// Loop state: owned by the loop goroutine (by Open before it starts).
	core           *core.Core
	app            protocol.AppInfo
	cfg            core.Config // last persisted configuration
	role           core.Role   // last persisted role
	coreLease      bool        // what the core was last told about the lease
	selfLease      bool        // the replica granted itself the lease (single-replica mode)
	lastGCFloor    protocol.Decree
	bytesSinceSync int64
	pendingCalls   []call
	answers        []pendingAnswer
	// held are client writes waiting behind a non-idempotent write of a
	// duplicated table until it can be converted (dupmode.go).
	held []core.Proposal

	propc    chan core.Proposal
	stepc    chan core.Message
	ctlc     chan call
	wakec    chan struct{}
	stopc    chan struct{}
	loopDone chan struct{}
	stopOnce sync.Once

	syncNudge chan struct{}
	bgCancel  context.CancelFunc
	bg        sync.WaitGroup

	// Shared with every goroutine.
	leaseUntil atomic.Int64 // wall clock, Unix nanoseconds; reads need now < leaseUntil
	gcFloor    atomic.Int64 // the minimum of floors
	floors     gcFloors
	snap       atomic.Pointer[snapshot]
	failure    atomic.Pointer[errBox]
	// dupOn is SetDuplicating's switch; dupFollower is set while the
	// table's envs make it a duplication follower (dupmode.go).
	dupOn       atomic.Bool
	dupFollower atomic.Bool
	closed      atomic.Bool
	closeOnce   sync.Once
	closeErr    error
}

// call is a function run on the loop goroutine; its result is sent on done
// once the Ready it caused is handled.
type call struct {
	fn   func() error
	err  error
	done chan error
}

type errBox struct{ err error }

// snapshot is what the loop publishes after every round for readers.
type snapshot struct {
	status  core.Status
	readErr error
	app     protocol.AppInfo
	held    int // writes held behind a conversion (dupmode.go)
}

// pendingWrite is the token of a client write.
type pendingWrite struct {
	ch chan writeResult
	// req is the decoded request (the loop converts non-idempotent
	// writes of duplicated tables from it).
	req protocol.Message
	// converted, set when the write was converted into idempotent
	// updates, returns the caller's response for the decree that applied
	// them.
	converted func(protocol.Decree) protocol.Message
}

type writeResult struct {
	resp protocol.Message
	err  error
}

// Open opens the replica in opts.Dir, creating it if needed: it opens the
// storage engine and the plog, reads the persisted metadata, replays the
// plog above the engine's last applied decree into the core, applies what
// the core knows committed, and starts the loop goroutine.
func Open(opts Options) (*Replica, error) {
	if err := opts.ensureDefaults(); err != nil {
		return nil, err
	}
	fs := opts.FS
	logger := opts.Logger.With(logging.Component("replica"), logging.Gpid(opts.Gpid), logging.Node(opts.Node))
	if err := ensureDir(fs, opts.Dir); err != nil {
		return nil, err
	}
	meta, found, err := ReadMeta(fs, opts.Dir)
	if err != nil {
		return nil, err
	}
	if found && meta.Gpid != opts.Gpid {
		return nil, protocol.Errorf(protocol.CodeInvalidArgument, "replica: %s holds replica %s, not %s", opts.Dir, meta.Gpid, opts.Gpid)
	}
	app := opts.App
	if app.AppID == 0 && app.Name == "" {
		app = meta.App
	}

	eng, err := storage.Open(fs.PathJoin(opts.Dir, DataDirName), opts.Storage)
	if err != nil {
		return nil, err
	}
	pl, err := plog.Open(plog.Options{
		FS: fs, Dir: fs.PathJoin(opts.Dir, PlogDirName), SegmentSizeBytes: opts.PlogSegmentSizeBytes,
		Sync: opts.PlogSync, FlushInterval: opts.PlogFlushInterval, Logger: logger,
	})
	if err != nil {
		_ = eng.Close()
		return nil, protocol.Errorf(protocol.CodeIOError, "replica %s: open plog: %v", opts.Gpid, err)
	}
	r := &Replica{
		opts: opts, gpid: opts.Gpid, fs: fs, logger: logger, engine: eng, plog: pl,
		metrics: newMetrics(opts.Scope, opts.DupScope), transport: opts.Transport, hooks: opts.hooks,
		app: app, cfg: meta.Config,
		propc:     make(chan core.Proposal, 1024),
		stepc:     make(chan core.Message, 1024),
		ctlc:      make(chan call),
		wakec:     make(chan struct{}, 1),
		stopc:     make(chan struct{}),
		loopDone:  make(chan struct{}),
		syncNudge: make(chan struct{}, 1),
	}
	if r.transport == nil {
		r.transport = dropTransport{logger}
	}
	r.gcFloor.Store(noLimit)
	for owner, floor := range opts.GCFloors {
		r.gcFloor.Store(int64(r.floors.set(owner, floor)))
	}
	if err := r.restore(meta, found); err != nil {
		_ = pl.Close()
		_ = eng.Close()
		return nil, err
	}
	var tickC <-chan time.Time
	var ticker *time.Ticker
	if r.hooks != nil && r.hooks.tickC != nil {
		tickC = r.hooks.tickC
	} else {
		ticker = time.NewTicker(opts.TickInterval)
		tickC = ticker.C
	}
	go r.run(tickC, ticker)
	ctx, cancel := context.WithCancel(context.Background())
	r.bgCancel = cancel
	r.bg.Add(1)
	go r.runSyncer(ctx)
	if opts.ReapInterval > 0 {
		r.bg.Add(1)
		go r.runReaper(ctx)
	}
	return r, nil
}

// restore builds the core from the persisted state and the plog, installs
// a newer configuration from Options, and handles the first Ready (which
// applies the replayed mutations the core knows committed).
func (r *Replica) restore(meta Meta, found bool) error {
	applied := r.engine.LastAppliedDecree()
	var recs []*protocol.Mutation
	st := r.plog.Stats()
	if st.MaxDecree > applied {
		if st.MinDecree > applied+1 {
			return protocol.Errorf(protocol.CodeCorruption,
				"replica %s: plog starts at decree %d but the engine holds only up to %d", r.gpid, st.MinDecree, applied)
		}
		err := r.plog.Replay(applied+1, func(m *protocol.Mutation) error {
			recs = append(recs, m)
			return nil
		})
		if err != nil {
			return protocol.Errorf(protocol.CodeIOError, "replica %s: replay plog: %v", r.gpid, err)
		}
		if len(recs) > 0 && recs[0].Decree != applied+1 {
			return protocol.Errorf(protocol.CodeCorruption,
				"replica %s: plog misses decrees %d..%d above the engine's %d", r.gpid, applied+1, recs[0].Decree-1, applied)
		}
	}
	c, err := core.New(r.opts.coreOptions(r.app, r.logger), core.State{Config: meta.Config, Applied: applied, Log: recs})
	if err != nil {
		return err
	}
	r.core = c
	r.role = c.Role()
	if !found || !appEqual(meta.App, r.app) {
		if err := r.persist(); err != nil {
			return err
		}
	}
	if cfg := r.opts.Config; cfg.Ballot > meta.Config.Ballot {
		if err := c.SetConfig(toCoreConfig(cfg)); err != nil {
			return err
		}
	}
	r.applyEnvs()
	r.maybeSelfLease()
	r.checkLease()
	if err := r.handleReady(); err != nil {
		return err
	}
	r.publish()
	r.flushAnswers()
	s := r.snap.Load().status
	r.logger.Info("replica opened", logging.Ballot(s.Config.Ballot), logging.Decree(s.Applied),
		"role", s.Role.String(), "engine_decree", int64(applied), "replayed", len(recs),
		"plog_max_decree", int64(st.MaxDecree))
	return nil
}

func appEqual(a, b protocol.AppInfo) bool {
	if !maps.Equal(a.Envs, b.Envs) {
		return false
	}
	a.Envs, b.Envs = nil, nil
	return reflect.DeepEqual(a, b)
}

func toCoreConfig(pc protocol.PartitionConfiguration) core.Config {
	return core.Config{Ballot: pc.Ballot, Primary: pc.Primary, Secondaries: slices.Clone(pc.Secondaries)}
}

// persist writes the replica metadata (loop goroutine).
func (r *Replica) persist() error {
	return writeMeta(r.fs, r.opts.Dir, Meta{Gpid: r.gpid, App: r.app, Config: r.cfg, Role: r.role.String()})
}

// applyEnvs applies the table envs the engine and duplication know about.
func (r *Replica) applyEnvs() {
	r.dupFollower.Store(r.app.Envs[protocol.EnvDupMasterApp] != "")
	ttl := int64(0)
	if v, ok := r.app.Envs[EnvDefaultTTL]; ok && v != "" {
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil || n < 0 {
			r.logger.Warn("ignoring invalid table env", "env", EnvDefaultTTL, "value", v)
			return
		}
		ttl = n
	}
	if err := r.engine.SetDefaultTTL(int32(ttl)); err != nil {
		r.logger.Warn("cannot set default TTL", logging.Err(err))
	}
}

// maybeSelfLease grants the replica a lease that never runs out when it is
// primary alone and the server does not manage leases.
// A self-granted lease is withdrawn when the replica stops being primary
// alone (it then needs a lease from the meta server).
func (r *Replica) maybeSelfLease() {
	if r.opts.ExternalLease {
		return
	}
	alone := r.role == core.RolePrimary && len(r.cfg.Secondaries) == 0
	switch {
	case alone && !r.selfLease:
		r.selfLease = true
		r.leaseUntil.Store(noLimit)
	case !alone && r.selfLease:
		r.selfLease = false
		r.leaseUntil.CompareAndSwap(noLimit, math.MinInt64)
	}
}

// checkLease tells the core whether the wall-clock lease holds.
func (r *Replica) checkLease() {
	valid := r.opts.Clock().UnixNano() < r.leaseUntil.Load()
	if valid == r.coreLease {
		return
	}
	r.coreLease = valid
	if valid {
		r.core.GrantLease(noLimit)
	} else {
		r.logger.Warn("lease expired")
		r.core.ExpireLease()
	}
}

// publish makes the loop's state visible to other goroutines.
func (r *Replica) publish() {
	r.snap.Store(&snapshot{status: r.core.Status(), readErr: r.core.CanRead(), app: r.app, held: len(r.held)})
}

// Write applies one client write: req is the decoded request of op (see
// EncodeUpdate for the pairs). It returns the matching response once the
// mutation carrying the write is applied, so a read started after Write
// returns sees it. A check_and_set or check_and_mutate whose check fails
// answers with CheckPassed false, not an error. Errors are *protocol.Error:
// CodeInvalidArgument (bad request), the core's refusals (CodeInvalidState
// when not primary, CodeLeaseExpired, CodeNotEnoughMember, CodeBusy,
// CodeMessageTooLarge), the engine's per-write errors (e.g. incr on a
// non-integer), CodeTimeout when ctx ends first (the write may still be
// applied later), CodeInvalidState when the replica is closed before the
// write is applied, and the replica's failure (e.g. CodeIOError) once it
// failed. Safe for concurrent use.
func (r *Replica) Write(ctx context.Context, op protocol.OpCode, req protocol.Message) (protocol.Message, error) {
	start := time.Now()
	resp, err := r.write(ctx, op, req)
	if err != nil {
		r.metrics.reject(err)
	} else {
		r.metrics.writeLatency.Record(time.Since(start))
	}
	return resp, err
}

func (r *Replica) write(ctx context.Context, op protocol.OpCode, req protocol.Message) (protocol.Message, error) {
	if err := r.stoppedErr(); err != nil {
		return nil, err
	}
	u, err := EncodeUpdate(op, req)
	if err != nil {
		return nil, err
	}
	pw := &pendingWrite{ch: make(chan writeResult, 1), req: req}
	p := core.Proposal{Op: op, Body: u.Body, Token: pw, TimestampUs: r.opts.Clock().UnixMicro()}
	select {
	case r.propc <- p:
	case <-ctx.Done():
		return nil, protocol.Errorf(protocol.CodeTimeout, "replica %s: %v before the write was queued", r.gpid, ctx.Err())
	case <-r.loopDone:
		return nil, r.stoppedErr()
	}
	select {
	case res := <-pw.ch:
		return res.resp, res.err
	case <-ctx.Done():
		return nil, protocol.Errorf(protocol.CodeTimeout, "replica %s: %v; the write may still be applied", r.gpid, ctx.Err())
	case <-r.loopDone:
		select {
		case res := <-pw.ch:
			return res.resp, res.err
		default:
			return nil, r.stoppedErr()
		}
	}
}

// stoppedErr returns why the replica takes no more work, or nil.
func (r *Replica) stoppedErr() error {
	if f := r.failure.Load(); f != nil {
		return f.err
	}
	select {
	case <-r.loopDone:
		return protocol.Errorf(protocol.CodeInvalidState, "replica %s is closed", r.gpid)
	default:
	}
	if r.closed.Load() {
		return protocol.Errorf(protocol.CodeInvalidState, "replica %s is closed", r.gpid)
	}
	return nil
}

// Engine returns the storage engine for a read, but only while the replica
// may serve reads: it is the primary, holds a valid lease (checked against
// the wall clock at the call) and has applied everything its predecessors
// prepared. Otherwise it returns a *protocol.Error (CodeInvalidState,
// CodeLeaseExpired, or the replica's failure). Every write acknowledged
// before the call is visible through the engine. The check costs two
// atomic loads and a clock read; it never waits for the loop.
func (r *Replica) Engine() (*storage.Engine, error) {
	if err := r.stoppedErr(); err != nil {
		return nil, err
	}
	if err := r.snap.Load().readErr; err != nil {
		return nil, err
	}
	if r.opts.Clock().UnixNano() >= r.leaseUntil.Load() {
		return nil, protocol.Errorf(protocol.CodeLeaseExpired, "replica %s has no valid lease", r.gpid)
	}
	return r.engine, nil
}

// UpdateConfig installs the meta server's view of the table and the
// partition: app replaces the table info (its envs, e.g. default_ttl, take
// effect at once; a zero app keeps the current one) and a configuration
// with a higher ballot goes to the core. The same ballot is a no-op (the
// core's learners are kept); a lower ballot is CodeStaleBallot, and the
// same ballot with other members CodeInvalidArgument. It returns once the
// new state is persisted. Safe for concurrent use.
func (r *Replica) UpdateConfig(app protocol.AppInfo, cfg protocol.PartitionConfiguration) error {
	if cfg.Gpid != r.gpid {
		return protocol.Errorf(protocol.CodeInvalidArgument, "replica %s: configuration of %s", r.gpid, cfg.Gpid)
	}
	if app.AppID != 0 && app.AppID != r.gpid.AppID {
		return protocol.Errorf(protocol.CodeInvalidArgument, "replica %s: table info of app %d", r.gpid, app.AppID)
	}
	return r.call(func() error {
		if app.AppID != 0 || app.Name != "" {
			if !appEqual(app, r.app) {
				r.app = app
				r.applyEnvs()
				if err := r.persist(); err != nil {
					return err
				}
			}
		}
		cur := r.core.Status().Config
		switch {
		case cfg.Ballot > cur.Ballot:
			return r.core.SetConfig(r.keepLearners(toCoreConfig(cfg), cur))
		case cfg.Ballot < cur.Ballot:
			return protocol.Errorf(protocol.CodeStaleBallot, "replica %s: configuration ballot %d is below the replica's %d",
				r.gpid, cfg.Ballot, cur.Ballot)
		case cfg.Primary != cur.Primary || !slices.Equal(cfg.Secondaries, cur.Secondaries):
			return protocol.Errorf(protocol.CodeInvalidArgument, "replica %s: configuration %s changes members under ballot %d",
				r.gpid, describeConfig(cfg), cfg.Ballot)
		}
		return nil
	})
}

// keepLearners carries the primary's learners over to a new configuration
// from the meta server that keeps this replica primary: learners are the
// primary's own business, the meta's configurations do not list them. A
// learner the new configuration makes a member is not carried.
func (r *Replica) keepLearners(next, cur core.Config) core.Config {
	if next.Primary != r.opts.Node || cur.Primary != r.opts.Node {
		return next
	}
	for _, l := range cur.Learners {
		if next.RoleOf(l.Node) == core.RoleInactive {
			next.Learners = append(next.Learners, l)
		}
	}
	return next
}

// GrantLease records that the replica holds a lease from the meta server
// until the given wall-clock time (exclusive). Reads and writes need a
// valid lease. It returns once the loop has taken it into account.
func (r *Replica) GrantLease(until time.Time) {
	r.leaseUntil.Store(until.UnixNano())
	_ = r.call(func() error { return nil })
}

// ExpireLease withdraws the lease at once: reads stop immediately, and
// queued writes fail with CodeLeaseExpired. It returns once the loop has
// taken it into account.
func (r *Replica) ExpireLease() {
	r.leaseUntil.Store(math.MinInt64)
	_ = r.call(func() error { return nil })
}

// Step hands a message from another replica to the core. It returns once
// the message is queued; malformed messages are logged and dropped by the
// loop. It fails only when the replica is closed or failed.
func (r *Replica) Step(m core.Message) error {
	if err := r.stoppedErr(); err != nil {
		return err
	}
	select {
	case r.stepc <- m:
		return nil
	case <-r.loopDone:
		return r.stoppedErr()
	}
}

// call runs fn on the loop goroutine and waits until the Ready it caused
// is handled.
func (r *Replica) call(fn func() error) error {
	c := call{fn: fn, done: make(chan error, 1)}
	select {
	case r.ctlc <- c:
	case <-r.loopDone:
		return r.stoppedErr()
	}
	select {
	case err := <-c.done:
		return err
	case <-r.loopDone:
		select {
		case err := <-c.done:
			return err
		default:
			return r.stoppedErr()
		}
	}
}

func (r *Replica) wake() {
	select {
	case r.wakec <- struct{}{}:
	default:
	}
}

// Info reports the replica to the meta server.
func (r *Replica) Info() protocol.ReplicaInfo {
	s := r.snap.Load().status
	info := protocol.ReplicaInfo{
		Gpid: r.gpid, Ballot: s.Config.Ballot, Status: partitionStatus(s.Role),
		LastCommitted: s.Committed, LastPrepared: s.Prepared, LastDurable: r.engine.LastDurableDecree(),
	}
	if r.failure.Load() != nil {
		info.Status = protocol.PartitionError
	}
	return info
}

func partitionStatus(role core.Role) protocol.PartitionStatus {
	switch role {
	case core.RolePrimary:
		return protocol.PartitionPrimary
	case core.RoleSecondary:
		return protocol.PartitionSecondary
	case core.RoleLearner:
		return protocol.PartitionLearner
	}
	return protocol.PartitionInactive
}

// Status is a snapshot of a replica for JSON status pages.
type Status struct {
	Gpid        string          `json:"gpid"`
	Node        string          `json:"node"`
	App         string          `json:"app"`
	Role        string          `json:"role"`
	Ballot      protocol.Ballot `json:"ballot"`
	Primary     string          `json:"primary"`
	Secondaries []string        `json:"secondaries"`
	Learners    []core.Learner  `json:"learners,omitempty"`
	// Decrees: Committed is the commit point, Prepared the last decree
	// accepted, Logged the last durably logged under the current ballot,
	// Applied the last applied to the engine, Durable the last the engine
	// made durable (the plog is kept above it).
	LastCommitted protocol.Decree `json:"last_committed"`
	LastPrepared  protocol.Decree `json:"last_prepared"`
	LastLogged    protocol.Decree `json:"last_logged"`
	LastApplied   protocol.Decree `json:"last_applied"`
	LastDurable   protocol.Decree `json:"last_durable"`
	Plog          PlogStatus      `json:"plog"`
	// QueuedWrites counts writes waiting for the loop, for the core's
	// in-flight window or (duplicated tables) behind a write being
	// converted.
	QueuedWrites int `json:"queued_writes"`
	// LeaseUntil is when the lease runs out; zero when there is none, and
	// far in the future for a self-granted lease.
	LeaseUntil time.Time `json:"lease_until"`
	// ReadError says why reads are refused; empty when they are served.
	ReadError string `json:"read_error,omitempty"`
	// Error is the failure that stopped the replica.
	Error string `json:"error,omitempty"`
	// Mutations and Updates count what was applied since Open: Updates /
	// Mutations is the batching factor.
	Mutations uint64 `json:"mutations"`
	Updates   uint64 `json:"updates"`
	// RejectedWrites counts writes answered with an error since Open.
	RejectedWrites uint64 `json:"rejected_writes"`
}

// PlogStatus summarizes the plog.
type PlogStatus struct {
	MinDecree     protocol.Decree `json:"min_decree"`
	MaxDecree     protocol.Decree `json:"max_decree"`
	LastCommitted protocol.Decree `json:"last_committed"`
	Segments      int             `json:"segments"`
	TotalBytes    int64           `json:"total_bytes"`
}

// Status returns a snapshot for status pages. It never waits for the loop.
func (r *Replica) Status() Status {
	sn := r.snap.Load()
	s := sn.status
	ps := r.plog.Stats()
	st := Status{
		Gpid: r.gpid.String(), Node: r.opts.Node, App: sn.app.Name, Role: s.Role.String(),
		Ballot: s.Config.Ballot, Primary: s.Config.Primary, Secondaries: s.Config.Secondaries, Learners: s.Config.Learners,
		LastCommitted: s.Committed, LastPrepared: s.Prepared, LastLogged: s.Logged, LastApplied: s.Applied,
		LastDurable: r.engine.LastDurableDecree(),
		Plog: PlogStatus{MinDecree: ps.MinDecree, MaxDecree: ps.MaxDecree, LastCommitted: ps.LastCommitted,
			Segments: ps.Segments, TotalBytes: ps.TotalBytes},
		QueuedWrites:   len(r.propc) + s.Queued + sn.held,
		Mutations:      r.metrics.mutationsTotal.Load(),
		Updates:        r.metrics.updatesTotal.Load(),
		RejectedWrites: r.metrics.rejectedTotal.Load(),
	}
	if u := r.leaseUntil.Load(); u > 0 {
		st.LeaseUntil = time.Unix(0, u)
	}
	if sn.readErr != nil {
		st.ReadError = sn.readErr.Error()
	}
	if f := r.failure.Load(); f != nil {
		st.Error = f.err.Error()
	}
	return st
}

// Close stops the loop and the background goroutines and closes the plog
// and the engine. Writes not yet applied fail with CodeInvalidState (a
// write already prepared to other replicas may still be committed by them).
// Close is idempotent and safe for concurrent use.
func (r *Replica) Close() error {
	r.closeOnce.Do(func() {
		r.closed.Store(true)
		r.stop()
		r.closeErr = r.closeFiles()
		r.logger.Info("replica closed")
	})
	return r.closeErr
}

// stop ends the loop and the background goroutines, leaving files open.
func (r *Replica) stop() {
	r.stopOnce.Do(func() { close(r.stopc) })
	<-r.loopDone
	r.bgCancel()
	r.bg.Wait()
}

func (r *Replica) closeFiles() error {
	var errs []error
	if err := r.plog.Close(); err != nil {
		errs = append(errs, fmt.Errorf("replica %s: close plog: %w", r.gpid, err))
	}
	if err := r.engine.Close(); err != nil {
		errs = append(errs, fmt.Errorf("replica %s: close engine: %w", r.gpid, err))
	}
	return errors.Join(errs...)
}
