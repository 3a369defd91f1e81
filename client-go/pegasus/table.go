package pegasus

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pegasus-go/pegasus/shared/keyschema"
	"github.com/pegasus-go/pegasus/shared/protocol"
	"github.com/pegasus-go/pegasus/shared/rpc"
)

// Operation names used in OpError.Op and metrics.
const (
	opOpenTable      = "open_table"
	opGet            = "get"
	opSet            = "set"
	opDel            = "del"
	opMultiGet       = "multi_get"
	opMultiSet       = "multi_set"
	opMultiDel       = "multi_del"
	opDelRange       = "del_range"
	opSortKeyCount   = "sortkey_count"
	opExist          = "exist"
	opTTL            = "ttl"
	opIncr           = "incr"
	opCheckAndSet    = "check_and_set"
	opCheckAndMutate = "check_and_mutate"
	opBatchGet       = "batch_get"
	opBatchSet       = "batch_set"
	opDuplicate      = "duplicate"
	opScanOpen       = "scan_open"
	opScanNext       = "scan_next"
)

// routing is one immutable snapshot of a table's configuration. A refresh
// always installs a new pointer, so comparing pointers tells whether a
// refresh happened since a snapshot was taken.
type routing struct {
	app   protocol.AppInfo
	parts []protocol.PartitionConfiguration
}

// newRouting validates a QueryConfig answer.
func newRouting(name string, resp *protocol.QueryConfigResponse) (*routing, error) {
	app := resp.App
	switch app.Status {
	case protocol.AppDropped, protocol.AppDropping:
		return nil, protocol.Errorf(protocol.CodeAppDropped, "table %q was dropped", name)
	case protocol.AppCreateFailed:
		return nil, protocol.Errorf(protocol.CodeAppNotExist, "table %q failed to be created", name)
	}
	if _, err := keyschema.PartitionIndex(0, app.PartitionCount); err != nil {
		return nil, protocol.Errorf(protocol.CodeInvalidArgument, "meta answered for table %q with an invalid partition count %d", name, app.PartitionCount)
	}
	if len(resp.Partitions) != int(app.PartitionCount) {
		return nil, protocol.Errorf(protocol.CodeInvalidArgument, "meta answered for table %q with %d partition configurations, want %d",
			name, len(resp.Partitions), app.PartitionCount)
	}
	for i, p := range resp.Partitions {
		if p.Gpid != (protocol.Gpid{AppID: app.AppID, PartitionIndex: int32(i)}) {
			return nil, protocol.Errorf(protocol.CodeInvalidArgument, "meta answered for table %q with partition %s at index %d",
				name, p.Gpid, i)
		}
	}
	return &routing{app: app, parts: resp.Partitions}, nil
}

// merge keeps, per partition, the configuration with the higher ballot
// when next describes the same table layout as r (a lagging meta server
// must not roll a partition back). A different app id, partition count or
// creation time (another incarnation of the table, e.g. on another
// cluster) replaces r entirely.
func (r *routing) merge(next *routing) *routing {
	if r == nil || r.app.AppID != next.app.AppID || r.app.PartitionCount != next.app.PartitionCount ||
		r.app.CreateTimeMs != next.app.CreateTimeMs {
		return next
	}
	out := &routing{app: next.app, parts: make([]protocol.PartitionConfiguration, len(next.parts))}
	for i := range next.parts {
		if r.parts[i].Ballot > next.parts[i].Ballot {
			out.parts[i] = r.parts[i]
		} else {
			out.parts[i] = next.parts[i]
		}
	}
	return out
}

// partitionOf returns the partition index of a hash.
func (r *routing) partitionOf(hash uint64) int32 {
	// The partition count was validated as a power of two.
	return int32(hash & uint64(r.app.PartitionCount-1))
}

// Table is a handle for one table: it caches the table's partition
// configuration and sends each request to the primary of the key's
// partition. All methods are safe for concurrent use and take the
// context first; a context without a deadline gets
// Config.OperationTimeout.
//
// Idempotent operations (Get, Set, Del, MultiGet, MultiGetRange, MultiSet,
// MultiDel, DelRange, SortKeyCount, Exist, TTL, BatchGet, BatchSet and
// opening a scan) are retried with backoff until the deadline when the
// partition is unavailable (not primary, moved, stale ballot, unreachable)
// or busy, refreshing the configuration as needed. Incr, CheckAndSet and
// CheckAndMutate are retried only when the request was certainly not sent
// (no primary known, connection refused); once it may have reached a
// server, its error is returned as is.
type Table struct {
	c    *Client
	name string
	cfg  atomic.Pointer[routing]

	mu struct {
		sync.Mutex
		refreshing  chan struct{} // non-nil while a refresh runs; closed when it ends
		lastRefresh time.Time     // when the last refresh finished
		lastErr     error         // its error
	}
}

func newTable(c *Client, name string, r *routing) *Table {
	t := &Table{c: c, name: name}
	t.cfg.Store(r)
	t.mu.lastRefresh = time.Now()
	return t
}

// Name returns the table's name.
func (t *Table) Name() string { return t.name }

// PartitionCount returns the table's partition count as last resolved.
func (t *Table) PartitionCount() int { return int(t.cfg.Load().app.PartitionCount) }

// AppID returns the table's id as last resolved.
func (t *Table) AppID() int32 { return t.cfg.Load().app.AppID }

// refresh makes sure a configuration newer than seen is installed, or
// that one refresh was attempted since: it starts a single-flight refresh
// unless one runs already, and with wait waits for it (under ctx). It
// returns the refresh's error (ErrTableNotFound when the table is gone).
func (t *Table) refresh(ctx context.Context, seen *routing, wait bool) error {
	t.mu.Lock()
	if t.cfg.Load() != seen {
		t.mu.Unlock()
		return nil
	}
	ch := t.mu.refreshing
	if ch == nil {
		ch = make(chan struct{})
		delay := t.c.cfg.MinConfigRefreshInterval - time.Since(t.mu.lastRefresh)
		if !t.c.goBackground(func() { t.doRefresh(ch, delay) }) {
			t.mu.Unlock()
			return ErrClosed
		}
		t.mu.refreshing = ch
	}
	t.mu.Unlock()
	if !wait {
		return nil
	}
	select {
	case <-ch:
		t.mu.Lock()
		defer t.mu.Unlock()
		return t.mu.lastErr
	case <-ctx.Done():
		return ctx.Err()
	case <-t.c.closing:
		return ErrClosed
	}
}

// doRefresh runs on a background goroutine: after delay (the rate limit)
// it queries the meta server and installs the answer.
func (t *Table) doRefresh(done chan struct{}, delay time.Duration) {
	var err error
	defer func() {
		t.mu.Lock()
		t.mu.refreshing = nil
		t.mu.lastRefresh = time.Now()
		t.mu.lastErr = err
		t.mu.Unlock()
		close(done)
	}()
	if delay > 0 {
		timer := time.NewTimer(delay)
		select {
		case <-timer.C:
		case <-t.c.closing:
			timer.Stop()
			err = ErrClosed
			return
		}
	}
	ctx, cancel := context.WithTimeout(t.c.baseCtx, t.c.cfg.OperationTimeout)
	defer cancel()
	t.c.metrics.refresh(t.name)
	var next *routing
	next, err = t.c.queryConfig(ctx, t.name)
	if err != nil {
		t.c.logger.Warn("table configuration refresh failed", "table", t.name, "err", err)
		return
	}
	for {
		cur := t.cfg.Load()
		merged := next
		if !t.c.proxied {
			// Through a meta proxy the answer may come from another cluster
			// whose ballots are unrelated: it always replaces the old one.
			merged = cur.merge(next)
		}
		if t.cfg.CompareAndSwap(cur, merged) {
			t.logChanges(cur, merged)
			return
		}
	}
}

func (t *Table) logChanges(old, cur *routing) {
	if old.app.AppID != cur.app.AppID || old.app.PartitionCount != cur.app.PartitionCount {
		t.c.logger.Info("table layout changed", "table", t.name, "app_id", cur.app.AppID, "partitions", cur.app.PartitionCount)
		return
	}
	for i := range cur.parts {
		if old.parts[i].Ballot != cur.parts[i].Ballot || old.parts[i].Primary != cur.parts[i].Primary {
			t.c.logger.Debug("partition configuration changed", "table", t.name, "gpid", cur.parts[i].Gpid.String(),
				"ballot", int64(cur.parts[i].Ballot), "primary", cur.parts[i].Primary)
		}
	}
}

// errNoPrimary reports a partition without a primary in the cached
// configuration.
func errNoPrimary(g protocol.Gpid) error {
	return fmt.Errorf("%w: partition %s has no primary", ErrUnavailable, g)
}

// wasNotSent reports whether a failed call certainly never reached a
// server: no primary was known, or the connection could not be
// established.
func wasNotSent(err error) bool {
	return errors.Is(err, ErrUnavailable) || isDialError(err)
}

// mayHaveApplied reports whether a failed attempt may have been applied by
// the server: it was sent and ended without an answer (a timeout or a
// broken connection). Retrying such a write is not safe even though the
// write is idempotent on its own: the first attempt may still be applied
// after the retry's answer, or the retry after another client's newer
// write to the same record, which reorders the writes (the robustness
// harness caught a retried Set re-applying a value after a later,
// acknowledged Del).
func mayHaveApplied(err error) bool {
	if wasNotSent(err) {
		return false
	}
	switch protocol.CodeOf(err) {
	case protocol.CodeTimeout, protocol.CodeNetworkFailure:
		return true
	}
	return errors.Is(err, context.DeadlineExceeded)
}

// call is one routed request.
type call struct {
	op         string
	method     string
	idempotent bool
	// write marks an idempotent write (Set, Del, ...): it is not retried
	// once an attempt may have applied it (see mayHaveApplied).
	write bool
	hash  uint64 // partition hash of the key
	// fixed routes to partition instead of the hash's partition (full
	// partition scans); hash is then set to the partition index.
	fixed     bool
	partition int32
	req       protocol.DataRequest
	resp      protocol.Message
}

// do sends a routed request to its partition's primary, refreshing the
// configuration and retrying as the package doc describes, and returns
// the partition and address that answered. ctx must already carry the
// operation's deadline. Errors are *OpError.
func (t *Table) do(ctx context.Context, cl call) (int32, string, error) {
	bo := t.c.newBackoff()
	var prevErr error
	for attempt := 0; ; attempt++ {
		r := t.cfg.Load()
		pidx, hash := r.partitionOf(cl.hash), cl.hash
		if cl.fixed {
			if cl.partition >= r.app.PartitionCount {
				return -1, "", &OpError{Op: cl.op, Table: t.name, Partition: cl.partition,
					Err: protocol.Errorf(protocol.CodeWrongPartition, "table now has %d partitions", r.app.PartitionCount)}
			}
			pidx, hash = cl.partition, uint64(cl.partition)
		}
		pc := &r.parts[pidx]
		h := cl.req.DataHeader()
		h.Gpid = pc.Gpid
		h.PartitionHash = hash
		h.TimeoutMs = timeoutMs(ctx)
		var err error
		if pc.Primary == "" {
			err = errNoPrimary(pc.Gpid)
		} else {
			actx, cancel := context.WithTimeout(ctx, t.c.cfg.AttemptTimeout)
			h.TimeoutMs = timeoutMs(actx)
			err = t.c.rpc.Call(actx, pc.Primary, protocol.ServiceReplica, cl.method, cl.req, cl.resp)
			cancel()
		}
		if err == nil {
			return pidx, pc.Primary, nil
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			switch {
			case !errors.Is(err, ctxErr):
				// The server gave up at the same deadline.
				err = &deadlineError{deadline: ctxErr, last: err}
			case prevErr != nil:
				// Time ran out while retrying: keep the reason for the retries.
				err = &deadlineError{deadline: err, last: prevErr}
			}
		}
		prevErr = err
		opErr := &OpError{Op: cl.op, Table: t.name, Partition: pidx, Addr: pc.Primary, Err: err}
		if pc.Primary == "" {
			opErr.Addr = ""
		}
		retry, rerr := t.afterFailure(ctx, r, err, cl.idempotent && !(cl.write && mayHaveApplied(err)), &bo)
		if rerr != nil {
			opErr.Err = rerr
			return pidx, opErr.Addr, opErr
		}
		if !retry {
			return pidx, opErr.Addr, opErr
		}
		t.c.metrics.retry(t.name, cl.op)
		t.c.logger.Debug("retrying", "table", t.name, "op", cl.op, "gpid", pc.Gpid.String(), "attempt", attempt+1, "err", err)
	}
}

// deadlineError is a deadline that expired during an attempt or a retry:
// it matches both the deadline and the last error seen.
type deadlineError struct {
	deadline error
	last     error
}

func (e *deadlineError) Error() string {
	return e.deadline.Error() + " (last error: " + e.last.Error() + ")"
}

func (e *deadlineError) Unwrap() []error { return []error{e.deadline, e.last} }

// afterFailure decides whether to retry after err: it refreshes the
// configuration for configuration errors (waiting for it when a retry
// follows) and backs off. It returns a replacement cause when the refresh
// showed the table is gone.
func (t *Table) afterFailure(ctx context.Context, r *routing, err error, idempotent bool, bo *backoff) (bool, error) {
	class := classify(err)
	if class == classFinal || t.c.isClosed() {
		return false, nil
	}
	if ctx.Err() != nil {
		// No time left to retry, but the next operation should not go to
		// the same unresponsive or moved primary: refresh in the background.
		if class == classRefresh {
			_ = t.refresh(ctx, r, false)
		}
		return false, nil
	}
	retry := idempotent || wasNotSent(err)
	if class == classRefresh {
		// Wait for the refresh even when not retrying, so the caller's next
		// operation is routed by the new configuration.
		if rerr := t.refresh(ctx, r, true); retry && isTableGone(rerr) {
			// Through a meta proxy a table may be missing for a moment
			// while its route switches: keep re-resolving until the
			// deadline.
			if !t.c.proxied || !bo.wait(ctx, t.c.closing) {
				return false, rerr
			}
			return true, nil
		}
	}
	if !retry {
		return false, nil
	}
	return bo.wait(ctx, t.c.closing), nil
}

// isTableGone reports whether a refresh found the table missing or
// dropped.
func isTableGone(err error) bool {
	switch protocol.CodeOf(err) {
	case protocol.CodeAppNotExist, protocol.CodeAppDropped:
		return true
	}
	return false
}

// timeoutMs returns the time left before ctx's deadline, in milliseconds,
// for the request header (0 when there is none).
func timeoutMs(ctx context.Context) uint32 {
	deadline, ok := ctx.Deadline()
	if !ok {
		return 0
	}
	ms := time.Until(deadline).Milliseconds()
	switch {
	case ms < 1:
		return 1
	case ms > int64(^uint32(0)):
		return ^uint32(0)
	}
	return uint32(ms)
}

// isDialError reports whether err is a failure to connect.
func isDialError(err error) bool {
	if protocol.CodeOf(err) != protocol.CodeNetworkFailure || errors.Is(err, rpc.ErrClientClosed) {
		return false
	}
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "dial"
}
