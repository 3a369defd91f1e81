package dup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/uber-go/tally/v4"

	"github.com/pegasus-go/pegasus/replicaserver/internal/plog"
	"github.com/pegasus-go/pegasus/shared/keyschema"
	"github.com/pegasus-go/pegasus/shared/logging"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

// Defaults applied to zero Options fields.
const (
	DefaultSkipAttempts          = 3
	DefaultMinBackoff            = 10 * time.Millisecond
	DefaultMaxBackoff            = 2 * time.Second
	DefaultCallTimeout           = 5 * time.Second
	DefaultPollInterval          = 10 * time.Millisecond
	DefaultLaggingWriteThreshold = 10 * time.Second
	// maxBatchMutations bounds the mutations of one batch (long runs of
	// empty writes).
	maxBatchMutations = 4096
	// maxParallelCalls bounds the Duplicate calls of one batch in flight.
	maxParallelCalls = 16
)

// Options configures a Duplicator.
type Options struct {
	// Gpid is the source partition; DupID the duplication.
	Gpid  protocol.Gpid
	DupID int32
	// Table names the source table in metrics; RemoteCluster the target
	// in logs.
	Table         string
	RemoteCluster string
	// ClusterID is this cluster's id in [duplication-group] (1..127),
	// stamped on every entry. Required.
	ClusterID uint8
	// Log is the primary's plog; Remote the remote table. Required.
	Log    Log
	Remote Remote
	// Confirmed: every mutation up to it is applied remotely; shipping
	// starts at Confirmed+1. Must be >= 0.
	Confirmed protocol.Decree
	// FailMode is the initial fail mode (SetFailMode changes it live).
	FailMode protocol.DupFailMode
	// BatchBytes bounds the entry bytes of one batch (duplicate_log_batch_bytes);
	// a batch holds at least one mutation. 0: one mutation per batch.
	BatchBytes int
	// SkipAttempts is how many failed attempts of a batch FAIL_SKIP
	// makes before it skips the batch. Default DefaultSkipAttempts.
	SkipAttempts int
	// MinBackoff and MaxBackoff pace retries (doubling). Defaults
	// DefaultMinBackoff, DefaultMaxBackoff.
	MinBackoff time.Duration
	MaxBackoff time.Duration
	// CallTimeout bounds one Duplicate call (client-go retries within
	// it). Default DefaultCallTimeout.
	CallTimeout time.Duration
	// PollInterval is how often a caught-up duplicator looks for newly
	// committed mutations (Kick wakes it earlier). Default
	// DefaultPollInterval.
	PollInterval time.Duration
	// LaggingWriteThreshold: an entry shipped longer than this after its
	// mutation's timestamp counts in dup_lagging_writes. Default
	// DefaultLaggingWriteThreshold.
	LaggingWriteThreshold time.Duration

	// Scope receives the metrics (tagged here with table, partition and
	// dupid). Default tally.NoopScope.
	Scope tally.Scope
	// Logger receives log lines. Default: discard.
	Logger *slog.Logger
	// Clock is the wall clock lag is measured with; After makes timers
	// (backoff and polling). Defaults time.Now and time.After.
	Clock func() time.Time
	After func(time.Duration) <-chan time.Time
}

func (o *Options) ensureDefaults() error {
	switch {
	case o.Log == nil || o.Remote == nil:
		return errors.New("dup: Options.Log and Options.Remote are required")
	case o.ClusterID == 0 || o.ClusterID > 127:
		return fmt.Errorf("dup: cluster id %d is not in 1..127 (is this cluster in [duplication-group]?)", o.ClusterID)
	case o.Confirmed < 0:
		return fmt.Errorf("dup: negative confirmed decree %d", o.Confirmed)
	case o.BatchBytes < 0:
		return fmt.Errorf("dup: negative batch bytes %d", o.BatchBytes)
	case !o.FailMode.Valid():
		return fmt.Errorf("dup: unknown fail mode %d", o.FailMode)
	}
	if o.SkipAttempts <= 0 {
		o.SkipAttempts = DefaultSkipAttempts
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = DefaultMinBackoff
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = max(DefaultMaxBackoff, o.MinBackoff)
	}
	if o.CallTimeout <= 0 {
		o.CallTimeout = DefaultCallTimeout
	}
	if o.PollInterval <= 0 {
		o.PollInterval = DefaultPollInterval
	}
	if o.LaggingWriteThreshold <= 0 {
		o.LaggingWriteThreshold = DefaultLaggingWriteThreshold
	}
	if o.Scope == nil {
		o.Scope = tally.NoopScope
	}
	o.Logger = logging.OrDiscard(o.Logger)
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.After == nil {
		o.After = time.After
	}
	return nil
}

// Duplicator ships one partition's committed mutations to the remote
// table of one duplication. See the package documentation.
type Duplicator struct {
	opts     Options
	log      *slog.Logger
	m        *metrics
	failMode atomic.Int32
	kick     chan struct{}

	// Loop state, owned by the goroutine running Run.
	reader LogReader
	ballot protocol.Ballot // the replica's ballot when reader was opened
	next   protocol.Decree // the next decree to read
	held   *readMutation   // read, but not committed yet or did not fit the previous batch

	mu struct {
		sync.Mutex
		confirmed  protocol.Decree
		skipped    int64
		shippedOps int64
		failedOps  int64
		lastErr    string
		// oldestUs is the timestamp of the oldest mutation read and not
		// yet confirmed (0: none).
		oldestUs int64
	}

	runMu  sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
}

// readMutation is a mutation read from the log and its entries.
type readMutation struct {
	m       *protocol.Mutation
	entries []entry
	bytes   int
}

// New returns a duplicator that ships from opts.Confirmed+1 on once
// started (Start or Run).
func New(opts Options) (*Duplicator, error) {
	if err := opts.ensureDefaults(); err != nil {
		return nil, err
	}
	scope := opts.Scope.Tagged(map[string]string{
		"table": opts.Table, "partition": fmt.Sprint(opts.Gpid.PartitionIndex), "dupid": fmt.Sprint(opts.DupID),
	})
	d := &Duplicator{
		opts: opts,
		log: opts.Logger.With(logging.Component("duplicator"), logging.Gpid(opts.Gpid), "dupid", opts.DupID,
			"remote", opts.RemoteCluster),
		m:    newMetrics(scope),
		kick: make(chan struct{}, 1),
		next: opts.Confirmed + 1,
	}
	d.failMode.Store(int32(opts.FailMode))
	d.mu.confirmed = opts.Confirmed
	return d, nil
}

// SetFailMode switches the fail mode; it applies from the next failed
// attempt on. Safe for concurrent use.
func (d *Duplicator) SetFailMode(m protocol.DupFailMode) {
	if m.Valid() {
		d.failMode.Store(int32(m))
	}
}

// FailMode returns the current fail mode.
func (d *Duplicator) FailMode() protocol.DupFailMode { return protocol.DupFailMode(d.failMode.Load()) }

// Kick wakes a caught-up duplicator to look for new mutations at once.
// It never blocks.
func (d *Duplicator) Kick() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// Progress is a duplicator's state for reports and status pages.
type Progress struct {
	// Confirmed: every mutation up to it was applied remotely (or skipped).
	Confirmed     protocol.Decree `json:"confirmed_decree"`
	LastCommitted protocol.Decree `json:"last_committed"`
	// Pending is LastCommitted - Confirmed (never negative).
	Pending int64 `json:"pending_mutations"`
	// LagMs is how old the oldest mutation read and not yet confirmed is
	// (0 when none is in flight).
	LagMs      int64                `json:"lag_ms"`
	Skipped    int64                `json:"skipped_mutations"`
	ShippedOps int64                `json:"shipped_ops"`
	FailedOps  int64                `json:"failed_shipping_ops"`
	LastError  string               `json:"last_error,omitempty"`
	FailMode   protocol.DupFailMode `json:"fail_mode"`
}

// Progress returns the current progress. Safe for concurrent use.
func (d *Duplicator) Progress() Progress {
	_, committed, _ := d.opts.Log.CommitPoint()
	d.mu.Lock()
	p := Progress{Confirmed: d.mu.confirmed, LastCommitted: committed, Skipped: d.mu.skipped,
		ShippedOps: d.mu.shippedOps, FailedOps: d.mu.failedOps, LastError: d.mu.lastErr, FailMode: d.FailMode()}
	oldest := d.mu.oldestUs
	d.mu.Unlock()
	p.Pending = max(int64(committed-p.Confirmed), 0)
	if oldest > 0 {
		p.LagMs = max(d.opts.Clock().UnixMicro()-oldest, 0) / 1000
	}
	return p
}

// Confirmed returns the confirmed decree.
func (d *Duplicator) Confirmed() protocol.Decree {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.mu.confirmed
}

// Start runs the duplicator on its own goroutine until Stop. Starting a
// started duplicator is a no-op.
func (d *Duplicator) Start() {
	d.runMu.Lock()
	defer d.runMu.Unlock()
	if d.done != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	d.cancel, d.done = cancel, make(chan struct{})
	go func() {
		defer close(d.done)
		d.Run(ctx)
	}()
}

// Stop ends the goroutine Start started and waits for it; a Duplicate
// call in flight is cancelled. Idempotent.
func (d *Duplicator) Stop() {
	d.runMu.Lock()
	defer d.runMu.Unlock()
	if d.done == nil {
		return
	}
	d.cancel()
	<-d.done
}

// Run ships until ctx ends: it reads committed mutations from the
// confirmed decree on, ships them batch by batch, advances the confirmed
// decree after each batch, and polls for more when caught up. Log errors
// (a garbage collected or corrupt plog, a closed replica) are recorded as
// the last error and retried with backoff. When it returns, the pending
// gauge drops to zero: a stopped duplicator (its primary moved, the
// duplication was removed) reports no backlog, so sums over nodes count
// each partition's backlog once, on its current primary. (A successor
// started on the same node before this one stopped rewrites the gauge at
// its next step.)
func (d *Duplicator) Run(ctx context.Context) {
	defer d.m.pending.Update(0)
	defer d.closeReader()
	errStreak := 0
	for {
		progressed, err := d.step(ctx)
		if ctx.Err() != nil {
			return
		}
		d.m.pending.Update(float64(d.Progress().Pending))
		var wait <-chan time.Time
		switch {
		case err != nil:
			errStreak++
			d.setError(err)
			d.log.Warn("duplication cannot read the log", logging.Decree(d.next), logging.Err(err))
			wait = d.opts.After(d.backoff(errStreak))
		case !progressed:
			errStreak = 0
			wait = d.opts.After(d.opts.PollInterval)
		default:
			errStreak = 0
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-wait:
		case <-d.kick:
		}
	}
}

func (d *Duplicator) backoff(attempt int) time.Duration {
	b := d.opts.MinBackoff
	for i := 1; i < attempt && b < d.opts.MaxBackoff; i++ {
		b *= 2
	}
	return min(b, d.opts.MaxBackoff)
}

func (d *Duplicator) setError(err error) {
	d.mu.Lock()
	d.mu.lastErr = err.Error()
	d.mu.Unlock()
}

// closeReader drops the reader and what it read past the confirmed
// decree: the next read starts again at confirmed+1.
func (d *Duplicator) closeReader() {
	if d.reader != nil {
		_ = d.reader.Close()
		d.reader = nil
	}
	d.held = nil
	d.next = d.Confirmed() + 1
}

// step reads one batch and ships it. It reports whether the confirmed
// decree moved; an error is a log error (shipping errors are retried
// inside, or skipped under FAIL_SKIP).
func (d *Duplicator) step(ctx context.Context) (bool, error) {
	batch, err := d.readBatch()
	if err != nil {
		d.closeReader()
		return false, err
	}
	if len(batch) == 0 {
		return false, nil
	}
	last := batch[len(batch)-1].m.Decree
	d.mu.Lock()
	if d.mu.oldestUs == 0 {
		d.mu.oldestUs = batch[0].m.TimestampUs
	}
	d.mu.Unlock()
	var entries []entry
	for _, rm := range batch {
		entries = append(entries, rm.entries...)
	}
	skipped := false
	if len(entries) > 0 {
		if skipped, err = d.ship(ctx, entries); err != nil {
			// ctx ended: the batch is read again by the next Run.
			d.closeReader()
			return false, nil
		}
	}
	d.mu.Lock()
	d.mu.confirmed = last
	d.mu.oldestUs = 0
	if skipped {
		d.mu.skipped += int64(len(batch))
	} else {
		d.mu.lastErr = ""
	}
	d.mu.Unlock()
	if skipped {
		d.m.skipped.Inc(int64(len(batch)))
	}
	return true, nil
}

// errNotPrimary: the replica is not primary (any more); the server stops
// the duplicator at its next sync.
var errNotPrimary = errors.New("the replica is not primary")

// readBatch reads the next batch: committed mutations from d.next on, as
// many as fit in BatchBytes (at least one that has entries; with
// BatchBytes 0 exactly one that has entries). Mutations without entries
// always join the batch. It returns nil when nothing new is committed.
//
// The reader yields mutations whether committed or not; only those up to
// the commit point read at the start join the batch (the first one above
// it is held). A mutation at or below the commit point is final. When the
// ballot changed since the reader was opened, reading starts over at the
// confirmed decree, so nothing read before a change of primary is used.
func (d *Duplicator) readBatch() ([]*readMutation, error) {
	ballot, committed, primary := d.opts.Log.CommitPoint()
	if !primary {
		return nil, errNotPrimary
	}
	if d.reader != nil && ballot != d.ballot {
		d.closeReader()
	}
	if d.reader == nil {
		r, err := d.opts.Log.NewLogReader(d.next)
		if err != nil {
			return nil, fmt.Errorf("open the log at decree %d: %w", d.next, err)
		}
		d.reader, d.ballot = r, ballot
	}
	var batch []*readMutation
	bytes, hasEntries := 0, false
	for len(batch) < maxBatchMutations {
		rm := d.held
		d.held = nil
		if rm == nil {
			m, err := d.reader.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("read the log at decree %d: %w", d.next, err)
			}
			if m.Decree < d.next {
				continue
			}
			if m.Decree != d.next {
				return nil, fmt.Errorf("%w: the log yields decree %d, decree %d is missing", plog.ErrGarbageCollected, m.Decree, d.next)
			}
			if rm, err = d.split(m); err != nil {
				return nil, err
			}
			d.next = m.Decree + 1
		}
		if rm.m.Decree > committed {
			d.held = rm
			break
		}
		if len(rm.entries) > 0 && hasEntries && (d.opts.BatchBytes == 0 || bytes+rm.bytes > d.opts.BatchBytes) {
			d.held = rm
			break
		}
		batch = append(batch, rm)
		bytes += rm.bytes
		hasEntries = hasEntries || len(rm.entries) > 0
	}
	return batch, nil
}

// split turns a mutation read from the log into entries.
func (d *Duplicator) split(m *protocol.Mutation) (*readMutation, error) {
	read := 0
	for _, u := range m.Updates {
		read += len(u.Body)
	}
	d.m.readMuts.Inc(1)
	d.m.readBytes.Inc(int64(read))
	s := splitter{clusterID: d.opts.ClusterID}
	if err := s.split(m); err != nil {
		return nil, err
	}
	if s.unshippable > 0 {
		d.m.unshippable.Inc(int64(s.unshippable))
		d.log.Warn("updates that are not idempotent were logged unconverted; they are not duplicated",
			logging.Decree(m.Decree), "count", s.unshippable)
	}
	rm := &readMutation{m: m, entries: s.out}
	for i := range s.out {
		rm.bytes += s.out[i].size()
	}
	return rm, nil
}

// ship sends entries until every one was applied remotely, retrying the
// failed ones with backoff. Under FAIL_SKIP it gives up after
// SkipAttempts failed attempts and reports skipped. It fails only when
// ctx ends.
func (d *Duplicator) ship(ctx context.Context, entries []entry) (skipped bool, err error) {
	pending := entries
	for attempt := 1; ; attempt++ {
		var err error
		pending, err = d.shipOnce(ctx, pending)
		if err == nil {
			return false, nil
		}
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		d.setError(err)
		if d.FailMode() == protocol.DupFailSkip && attempt >= d.opts.SkipAttempts {
			d.log.Warn("duplication skips a batch (FAIL_SKIP)", "attempts", attempt, "entries", len(pending), logging.Err(err))
			return true, nil
		}
		d.log.Debug("duplication batch failed; retrying", "attempt", attempt, logging.Err(err))
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-d.opts.After(d.backoff(attempt)):
		}
	}
}

// shipOnce routes entries by the remote table's partition count and sends
// each partition's entries (in order) in one Duplicate call, calls in
// parallel. It returns the entries of the calls that failed and the first
// error.
func (d *Duplicator) shipOnce(ctx context.Context, entries []entry) ([]entry, error) {
	n, err := d.opts.Remote.PartitionCount(ctx)
	if err != nil {
		return entries, fmt.Errorf("remote table of %s: %w", d.opts.RemoteCluster, err)
	}
	groups := map[int32][]entry{}
	for i := range entries {
		p, err := keyschema.PartitionIndex(entries[i].hash, n)
		if err != nil {
			return entries, fmt.Errorf("remote table of %s: %w", d.opts.RemoteCluster, err)
		}
		groups[p] = append(groups[p], entries[i])
	}
	parts := make([]int32, 0, len(groups))
	for p := range groups {
		parts = append(parts, p)
	}
	slices.Sort(parts)
	errs := make([]error, len(parts))
	sem := make(chan struct{}, maxParallelCalls)
	var wg sync.WaitGroup
	for i, p := range parts {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			errs[i] = d.call(ctx, p, groups[p])
		}()
	}
	wg.Wait()
	var failed []entry
	var first error
	for i, p := range parts {
		if errs[i] != nil {
			failed = append(failed, groups[p]...)
			if first == nil {
				first = fmt.Errorf("remote partition %d of %s: %w", p, d.opts.RemoteCluster, errs[i])
			}
		}
	}
	return failed, first
}

// call sends one partition's entries and counts the outcome.
func (d *Duplicator) call(ctx context.Context, p int32, group []entry) error {
	des := make([]protocol.DuplicateEntry, len(group))
	bytes := 0
	for i := range group {
		des[i] = group[i].DuplicateEntry
		bytes += len(group[i].Body)
	}
	cctx, cancel := context.WithTimeout(ctx, d.opts.CallTimeout)
	_, err := d.opts.Remote.Duplicate(cctx, p, des)
	cancel()
	d.mu.Lock()
	if err != nil {
		d.mu.failedOps += int64(len(group))
	} else {
		d.mu.shippedOps += int64(len(group))
	}
	d.mu.Unlock()
	if err != nil {
		d.m.failed.Inc(int64(len(group)))
		return err
	}
	d.m.shipped.Inc(int64(len(group)))
	d.m.shippedBytes.Inc(int64(bytes))
	nowUs := d.opts.Clock().UnixMicro()
	lagging := int64(0)
	for i := range group {
		if time.Duration(nowUs-group[i].TimestampUs)*time.Microsecond > d.opts.LaggingWriteThreshold {
			lagging++
		}
	}
	if lagging > 0 {
		d.m.lagging.Inc(lagging)
	}
	return nil
}
