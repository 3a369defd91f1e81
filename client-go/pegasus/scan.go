package pegasus

import (
	"bytes"
	"context"
	"errors"
	"iter"

	"github.com/pegasus-go/pegasus/shared/keyschema"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

// Scanner reads records batch by batch from server-side scan contexts. An
// ordered scanner (GetScanner) covers a sortkey range of one hashkey in
// sortkey order; an unordered scanner (GetUnorderedScanners) covers whole
// partitions one after the other, each in storage order.
//
// The scanner remembers the last key it returned. When its server-side
// context is lost (idle expiry, primary moved, connection dropped) it
// reopens the scan just after that key, with retries, so a scan neither
// repeats nor skips records; only when that fails before the deadline does
// Next return an error (ErrScanExpired, ErrUnavailable, ...). When the
// context passed to Next ends, Next returns ErrTimeout (or the context's
// error) and the scanner stays usable: the next call resumes after the
// last key returned.
//
// A Scanner is not safe for concurrent use; distinct scanners are
// independent. Close releases the server-side context.
type Scanner struct {
	t    *Table
	opts ScanOptions

	// Ordered scanners: the hashkey and the sortkey bounds.
	ordered    bool
	hashKey    []byte
	start      []byte
	stop       []byte
	stopHashKy []byte // exclusive storage-order bound for an empty stop

	// Unordered scanners: the partitions to cover, in order, and the
	// index of the current one.
	parts []int32
	cur   int

	// Current partition.
	open       bool   // a server-side context is open
	contextID  int64  // its id
	addr       string // the server holding it
	pidx       int32  // its partition
	hash       uint64 // the partition hash sent with its requests
	serverDone bool   // the server reported the end of this partition
	buf        []protocol.ScanItem
	last       *Key // last key returned from this partition

	done   bool  // every partition is finished
	err    error // a permanent failure, returned by every later Next
	closed bool
}

// GetScanner returns a scanner over the sortkeys of hashKey from
// startSortKey to stopSortKey (an empty stopSortKey scans to the end of
// the hashkey), by default start inclusive and stop exclusive. It sends
// nothing until the first Next. opts may be nil.
func (t *Table) GetScanner(hashKey, startSortKey, stopSortKey []byte, opts *ScanOptions) (*Scanner, error) {
	var o ScanOptions
	if opts != nil {
		o = *opts
	}
	if err := t.checkScanOptions(&o); err != nil {
		return nil, err
	}
	if err := checkHashKey(hashKey); err != nil {
		return nil, t.argError(opScanOpen, err)
	}
	s := &Scanner{t: t, opts: o, ordered: true, hashKey: hashKey, start: startSortKey, stop: stopSortKey}
	s.hash = keyschema.Hash(hashKey, nil)
	if len(stopSortKey) == 0 {
		s.stopHashKy = successorHashKey(hashKey)
	}
	return s, nil
}

// GetUnorderedScanners splits the table's partitions into at most n
// scanners (fewer when the table has fewer partitions), each covering a
// contiguous run of whole partitions, so together they cover every
// partition exactly once and can run in parallel. Records come in storage
// order within a partition. opts' range flags are ignored; its filters,
// batch size and NoValue apply. opts may be nil.
func (t *Table) GetUnorderedScanners(n int, opts *ScanOptions) ([]*Scanner, error) {
	if n <= 0 {
		return nil, t.argError(opScanOpen, invalidArgf("scanner count %d is not positive", n))
	}
	var o ScanOptions
	if opts != nil {
		o = *opts
	}
	if err := t.checkScanOptions(&o); err != nil {
		return nil, err
	}
	count := t.PartitionCount()
	n = min(n, count)
	out := make([]*Scanner, n)
	for i := range n {
		// Scanner i covers partitions [i*count/n, (i+1)*count/n).
		lo, hi := i*count/n, (i+1)*count/n
		parts := make([]int32, 0, hi-lo)
		for p := lo; p < hi; p++ {
			parts = append(parts, int32(p))
		}
		out[i] = &Scanner{t: t, opts: o, parts: parts}
	}
	return out, nil
}

func (t *Table) checkScanOptions(o *ScanOptions) error {
	if err := checkFilter("hashkey", o.HashKeyFilter); err != nil {
		return t.argError(opScanOpen, err)
	}
	if err := checkFilter("sortkey", o.SortKeyFilter); err != nil {
		return t.argError(opScanOpen, err)
	}
	return nil
}

// Partitions returns the partitions an unordered scanner covers (nil for
// an ordered one).
func (s *Scanner) Partitions() []int32 { return append([]int32(nil), s.parts...) }

// Next returns the next record. ok is false (with a nil error) once the
// scan is complete. See Scanner for errors and resumption.
func (s *Scanner) Next(ctx context.Context) (kv KeyValue, ok bool, err error) {
	switch {
	case s.closed:
		return KeyValue{}, false, &OpError{Op: opScanNext, Table: s.t.name, Partition: -1, Err: errors.New("scanner closed")}
	case s.err != nil:
		return KeyValue{}, false, s.err
	case s.done:
		return KeyValue{}, false, nil
	case s.t.c.isClosed():
		return KeyValue{}, false, &OpError{Op: opScanNext, Table: s.t.name, Partition: -1, Err: ErrClosed}
	}
	ctx, cancel := s.t.c.opContext(ctx)
	defer cancel()
	bo := s.t.c.newBackoff()
	for {
		if len(s.buf) > 0 {
			it := s.buf[0]
			s.buf = s.buf[1:]
			if s.ordered && !bytes.Equal(it.HashKey, s.hashKey) {
				// Past the hashkey: the scan is complete.
				s.finishPartition()
				s.done = true
				return KeyValue{}, false, nil
			}
			s.last = &Key{HashKey: it.HashKey, SortKey: it.SortKey}
			kv := KeyValue{HashKey: it.HashKey, SortKey: it.SortKey, Value: it.Value}
			if it.ExpireTs != 0 {
				kv.Expire = keyschema.EpochTime(it.ExpireTs)
			}
			return kv, true, nil
		}
		if s.serverDone {
			s.nextPartition()
			if s.done {
				return KeyValue{}, false, nil
			}
			continue
		}
		if err := s.fetch(ctx, &bo); err != nil {
			return KeyValue{}, false, err
		}
	}
}

// fetch fills buf from the server: ScanNext on the open context, or
// ScanOpen (with retries) from the last key returned.
func (s *Scanner) fetch(ctx context.Context, bo *backoff) error {
	if !s.open {
		return s.openScan(ctx)
	}
	req := &protocol.ScanNextRequest{
		Header:    protocol.RequestHeader{Gpid: protocol.Gpid{AppID: s.t.AppID(), PartitionIndex: s.pidx}, PartitionHash: s.hash, TimeoutMs: timeoutMs(ctx)},
		ContextID: s.contextID,
	}
	var resp protocol.ScanNextResponse
	err := s.t.c.rpc.Call(ctx, s.addr, protocol.ServiceReplica, protocol.MethodScanNext, req, &resp)
	if err == nil {
		s.buf = resp.Items
		s.serverDone = resp.Done
		if resp.Done {
			s.open = false
		}
		return nil
	}
	// The context's state is unknown (the batch may have been consumed):
	// forget it and reopen after the last key.
	s.open = false
	opErr := &OpError{Op: opScanNext, Table: s.t.name, Partition: s.pidx, Addr: s.addr, Err: err}
	if ctx.Err() != nil || s.t.c.isClosed() {
		return opErr
	}
	code := protocol.CodeOf(err)
	expired := code == protocol.CodeNotFound || code == protocol.CodeObjectNotFound
	if !expired && classify(err) == classFinal {
		s.err = opErr
		return opErr
	}
	s.t.c.logger.Debug("scan context lost, resuming", "table", s.t.name, "partition", s.pidx, "err", err)
	if classify(err) == classRefresh {
		_ = s.t.refresh(ctx, s.t.cfg.Load(), false)
	}
	if !bo.wait(ctx, s.t.c.closing) {
		return opErr
	}
	return nil
}

// openScan opens the current partition's scan after the last key
// returned (or at the start).
func (s *Scanner) openScan(ctx context.Context) error {
	req := &protocol.ScanOpenRequest{
		HashKeyFilter: s.opts.HashKeyFilter,
		SortKeyFilter: s.opts.SortKeyFilter,
		BatchSize:     clampInt32(s.opts.BatchSize),
		NoValue:       s.opts.NoValue,
	}
	cl := call{op: opScanOpen, method: protocol.MethodScanOpen, idempotent: true, req: req}
	if s.ordered {
		req.StartHashKey = s.hashKey
		req.StartSortKey, req.StartInclusive = s.start, !s.opts.StartExclusive
		if s.last != nil {
			req.StartSortKey, req.StartInclusive = s.last.SortKey, false
		}
		if len(s.stop) > 0 {
			req.StopHashKey, req.StopSortKey, req.StopInclusive = s.hashKey, s.stop, s.opts.StopInclusive
		} else {
			// Everything of hashKey lies below (successor, "").
			req.StopHashKey = s.stopHashKy
		}
		cl.hash = s.hash
	} else {
		p := s.parts[s.cur]
		cl.fixed, cl.partition = true, p
		if s.last == nil {
			req.FullPartition = true
		} else {
			// Resume after the last key: a bounded scan from there to the
			// end of the partition.
			req.StartHashKey, req.StartSortKey, req.StartInclusive = s.last.HashKey, s.last.SortKey, false
		}
	}
	var resp protocol.ScanOpenResponse
	cl.resp = &resp
	pidx, addr, err := s.t.do(ctx, cl)
	if err != nil {
		if classify(err) == classFinal && ctx.Err() == nil {
			s.err = err
		}
		return err
	}
	s.pidx, s.addr = pidx, addr
	if !s.ordered {
		s.hash = uint64(pidx) // maps to pidx under any partition count above it
	}
	s.buf = resp.Items
	s.serverDone = resp.Done
	s.open = !resp.Done
	s.contextID = resp.ContextID
	return nil
}

// nextPartition moves an unordered scanner to its next partition, or
// marks the scan done.
func (s *Scanner) nextPartition() {
	s.open, s.serverDone, s.buf, s.last = false, false, nil, nil
	if s.ordered {
		s.done = true
		return
	}
	s.cur++
	if s.cur >= len(s.parts) {
		s.done = true
	}
}

// finishPartition releases the server-side context of the current
// partition.
func (s *Scanner) finishPartition() {
	if s.open {
		s.closeServerContext()
	}
	s.open, s.serverDone, s.buf = false, true, nil
}

func (s *Scanner) closeServerContext() {
	ctx, cancel := context.WithTimeout(s.t.c.baseCtx, s.t.c.cfg.OperationTimeout)
	defer cancel()
	req := &protocol.ScanCloseRequest{
		Header:    protocol.RequestHeader{Gpid: protocol.Gpid{AppID: s.t.AppID(), PartitionIndex: s.pidx}, PartitionHash: s.hash, TimeoutMs: timeoutMs(ctx)},
		ContextID: s.contextID,
	}
	if err := s.t.c.rpc.Call(ctx, s.addr, protocol.ServiceReplica, protocol.MethodScanClose, req, &protocol.ScanCloseResponse{}); err != nil {
		s.t.c.logger.Debug("scan close failed", "table", s.t.name, "partition", s.pidx, "err", err)
	}
	s.open = false
}

// Close releases the scanner's server-side context, if any. Later Next
// calls fail. Close is idempotent and never fails: a context that cannot
// be closed expires on the server.
func (s *Scanner) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	if s.open && !s.t.c.isClosed() {
		s.closeServerContext()
	}
	s.buf = nil
	return nil
}

// All returns an iterator over the scanner's remaining records. A failure
// is yielded once, as the error of the last pair. The scanner is closed
// when the loop ends, whether it ran to the end or stopped early.
//
//	for kv, err := range scanner.All(ctx) {
//		if err != nil { ... }
//	}
func (s *Scanner) All(ctx context.Context) iter.Seq2[KeyValue, error] {
	return func(yield func(KeyValue, error) bool) {
		defer s.Close()
		for {
			kv, ok, err := s.Next(ctx)
			if err != nil {
				yield(KeyValue{}, err)
				return
			}
			if !ok || !yield(kv, nil) {
				return
			}
		}
	}
}

// Scan returns an iterator over the sortkeys of hashKey from startSortKey
// to stopSortKey (see GetScanner), in sortkey order:
//
//	for kv, err := range table.Scan(ctx, hk, nil, nil, nil) { ... }
func (t *Table) Scan(ctx context.Context, hashKey, startSortKey, stopSortKey []byte, opts *ScanOptions) iter.Seq2[KeyValue, error] {
	s, err := t.GetScanner(hashKey, startSortKey, stopSortKey, opts)
	if err != nil {
		return func(yield func(KeyValue, error) bool) { yield(KeyValue{}, err) }
	}
	return s.All(ctx)
}

// ScanAll returns an iterator over every record of the table, partition
// by partition (no global order). opts may be nil; see
// GetUnorderedScanners.
func (t *Table) ScanAll(ctx context.Context, opts *ScanOptions) iter.Seq2[KeyValue, error] {
	scanners, err := t.GetUnorderedScanners(1, opts)
	if err != nil {
		return func(yield func(KeyValue, error) bool) { yield(KeyValue{}, err) }
	}
	return scanners[0].All(ctx)
}

// successorHashKey returns the smallest hashkey that sorts after every
// record of hk in storage order (hashkeys of one length are ordered
// bytewise, shorter lengths first), or nil when there is none.
func successorHashKey(hk []byte) []byte {
	for i := len(hk) - 1; i >= 0; i-- {
		if hk[i] != 0xFF {
			out := make([]byte, len(hk))
			copy(out, hk[:i])
			out[i] = hk[i] + 1
			return out
		}
	}
	if len(hk)+1 > keyschema.MaxHashKeyLen {
		return nil
	}
	return make([]byte, len(hk)+1)
}
