package storage

import (
	"bytes"
	"sync"
	"time"

	"github.com/cockroachdb/pebble"
	"github.com/pegasus-go/pegasus/shared/keyschema"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

// Scan errors.
var (
	// ErrScanNotFound is returned by Next for an unknown, finished, closed
	// or idle-expired scan context. errors.Is(err, protocol.CodeNotFound)
	// holds too.
	ErrScanNotFound = &protocol.Error{Code: protocol.CodeNotFound, Message: "scan context not found or expired"}
	// ErrTooManyScans is returned by Open when MaxScanContexts contexts are
	// open and none is idle-expired.
	ErrTooManyScans = &protocol.Error{Code: protocol.CodeBusy, Message: "too many open scan contexts"}
	// ErrScanBusy is returned by Next for a context another Next is using.
	ErrScanBusy = &protocol.Error{Code: protocol.CodeBusy, Message: "scan context is in use"}
)

// ScanID identifies an open scan context within its engine.
type ScanID int64

// ScanOptions describes a scan over storage keys.
type ScanOptions struct {
	// StartKey and StopKey are storage keys (keyschema.EncodeKey) bounding
	// the scan; the inclusive flags apply to them. An empty StartKey
	// starts at the beginning of the partition, an empty StopKey runs to
	// its end (StopInclusive is then ignored), so both empty scan the whole
	// partition. The bounds are clamped to the user keyspace.
	StartKey       []byte
	StopKey        []byte
	StartInclusive bool
	StopInclusive  bool
	// HashKeyFilter and SortKeyFilter keep only matching records.
	HashKeyFilter protocol.Filter
	SortKeyFilter protocol.Filter
	// BatchSize is the number of records per Next; <= 0 means the
	// engine's ScanBatchSize; it is capped at MaxScanBatchSize.
	BatchSize int
	// NoValue returns keys only (Value nil).
	NoValue bool
}

// ScanRecord is one record of a scan batch. The caller owns its slices.
type ScanRecord struct {
	HashKey  []byte
	SortKey  []byte
	Value    []byte
	ExpireTs uint32
}

// ScanBatch is the result of one Next.
type ScanBatch struct {
	// Records are in storage-key order. A batch that is not Done holds
	// exactly the batch size; the Done batch holds the rest (maybe none).
	Records []ScanRecord
	// Done means the scan reached its end; the context is closed.
	Done bool
}

// scanContext is one open scan: a pebble iterator over a point-in-time
// view of the database.
type scanContext struct {
	opts     ScanOptions
	batch    int
	iter     *pebble.Iterator // nil for an empty range
	started  bool
	lastUsed time.Time
	inUse    bool
	// closeAfterUse is set by Close while a Next is running.
	closeAfterUse bool
}

// ScanManager owns an engine's scan contexts. It is safe for concurrent
// use; one context serves one Next at a time.
type ScanManager struct {
	e  *Engine
	mu struct {
		sync.Mutex
		nextID ScanID
		ctxs   map[ScanID]*scanContext
	}
}

func newScanManager(e *Engine) *ScanManager {
	m := &ScanManager{e: e}
	m.mu.ctxs = make(map[ScanID]*scanContext)
	return m
}

// Open opens a scan context and returns its id; the first Next returns
// the first batch. The scan sees the database as of Open.
func (m *ScanManager) Open(o ScanOptions) (ScanID, error) {
	e := m.e
	if err := e.acquire(); err != nil {
		return 0, err
	}
	defer e.release()
	if err := validateFilter("hashkey", o.HashKeyFilter); err != nil {
		return 0, err
	}
	if err := validateFilter("sortkey", o.SortKeyFilter); err != nil {
		return 0, err
	}
	batch := o.BatchSize
	if batch <= 0 {
		batch = e.opts.ScanBatchSize
	}
	batch = min(batch, e.opts.MaxScanBatchSize)

	lower := keyschema.DataLowerBound()
	if len(o.StartKey) > 0 {
		lower = bytes.Clone(o.StartKey)
		if !o.StartInclusive {
			lower = keyschema.Successor(o.StartKey)
		}
		if bytes.Compare(lower, keyschema.DataLowerBound()) < 0 {
			lower = keyschema.DataLowerBound()
		}
	}
	upper := keyschema.DataUpperBound()
	if len(o.StopKey) > 0 {
		stop := bytes.Clone(o.StopKey)
		if o.StopInclusive {
			stop = keyschema.Successor(o.StopKey)
		}
		if bytes.Compare(stop, upper) < 0 {
			upper = stop
		}
	}
	c := &scanContext{
		opts:  ScanOptions{HashKeyFilter: cloneFilter(o.HashKeyFilter), SortKeyFilter: cloneFilter(o.SortKeyFilter), NoValue: o.NoValue},
		batch: batch,
	}

	now := e.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.mu.ctxs) >= e.opts.MaxScanContexts {
		m.expireIdleLocked(now)
		if len(m.mu.ctxs) >= e.opts.MaxScanContexts {
			return 0, ErrTooManyScans
		}
	}
	if bytes.Compare(lower, upper) < 0 {
		it, err := e.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
		if err != nil {
			return 0, ioError("new scan iterator", err)
		}
		c.iter = it
	}
	c.lastUsed = now
	m.mu.nextID++
	id := m.mu.nextID
	m.mu.ctxs[id] = c
	return id, nil
}

func cloneFilter(f protocol.Filter) protocol.Filter {
	return protocol.Filter{Type: f.Type, Pattern: bytes.Clone(f.Pattern)}
}

// Next returns the next batch of scan id. The Done batch closes the
// context. A context idle for longer than ScanIdleTimeout is closed and
// reported as ErrScanNotFound.
func (m *ScanManager) Next(id ScanID) (ScanBatch, error) {
	e := m.e
	if err := e.acquire(); err != nil {
		return ScanBatch{}, err
	}
	defer e.release()
	now := e.now()
	m.mu.Lock()
	c, ok := m.mu.ctxs[id]
	switch {
	case !ok:
		m.mu.Unlock()
		return ScanBatch{}, ErrScanNotFound
	case c.inUse:
		m.mu.Unlock()
		return ScanBatch{}, ErrScanBusy
	case now.Sub(c.lastUsed) >= e.opts.ScanIdleTimeout:
		m.closeLocked(id, c)
		m.mu.Unlock()
		return ScanBatch{}, ErrScanNotFound
	}
	c.inUse = true
	m.mu.Unlock()

	b, err := c.fill(keyschema.EpochSeconds(now))

	m.mu.Lock()
	defer m.mu.Unlock()
	c.inUse = false
	c.lastUsed = now
	if err != nil || b.Done || c.closeAfterUse {
		m.closeLocked(id, c)
	}
	return b, err
}

// fill reads up to c.batch visible, matching records.
func (c *scanContext) fill(nowEpoch uint32) (ScanBatch, error) {
	var out ScanBatch
	if c.iter == nil {
		out.Done = true
		return out, nil
	}
	var ok bool
	if !c.started {
		ok = c.iter.First()
		c.started = true
	} else {
		ok = c.iter.Next()
	}
	for ; ok; ok = c.iter.Next() {
		key := c.iter.Key()
		hk, sk, err := keyschema.DecodeKey(key)
		if err != nil {
			return ScanBatch{}, protocol.Errorf(protocol.CodeCorruption, "storage: %v", err)
		}
		if !c.opts.HashKeyFilter.Match(hk) || !c.opts.SortKeyFilter.Match(sk) {
			continue
		}
		raw, err := c.iter.ValueAndErr()
		if err != nil {
			return ScanBatch{}, ioError("scan", err)
		}
		h, user, err := decodeStored(key, raw)
		if err != nil {
			return ScanBatch{}, err
		}
		if hidden(h, nowEpoch) {
			continue
		}
		r := ScanRecord{HashKey: bytes.Clone(hk), SortKey: bytes.Clone(sk), ExpireTs: h.ExpireTs}
		if !c.opts.NoValue {
			r.Value = append([]byte{}, user...)
		}
		out.Records = append(out.Records, r)
		if len(out.Records) == c.batch {
			return out, nil
		}
	}
	if err := c.iter.Error(); err != nil {
		return ScanBatch{}, ioError("scan", err)
	}
	out.Done = true
	return out, nil
}

// Close closes scan id; closing an unknown id is a no-op. A context in use
// by Next is closed when that Next returns.
func (m *ScanManager) Close(id ScanID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.mu.ctxs[id]
	if !ok {
		return
	}
	if c.inUse {
		// The running Next owns the iterator; it closes the context.
		c.closeAfterUse = true
		return
	}
	m.closeLocked(id, c)
}

// ExpireIdle closes every context idle for at least ScanIdleTimeout at the
// engine clock's now and returns how many it closed. Call it from a
// periodic tick; Open and Next also expire lazily.
func (m *ScanManager) ExpireIdle() int {
	now := m.e.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.expireIdleLocked(now)
}

func (m *ScanManager) expireIdleLocked(now time.Time) int {
	n := 0
	for id, c := range m.mu.ctxs {
		if !c.inUse && now.Sub(c.lastUsed) >= m.e.opts.ScanIdleTimeout {
			m.closeLocked(id, c)
			n++
		}
	}
	return n
}

// Len returns the number of open contexts.
func (m *ScanManager) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.mu.ctxs)
}

func (m *ScanManager) closeLocked(id ScanID, c *scanContext) {
	delete(m.mu.ctxs, id)
	if c.iter != nil {
		_ = c.iter.Close()
		c.iter = nil
	}
}

// closeAll closes every context; the engine calls it from Close, when no
// Next is running.
func (m *ScanManager) closeAll() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, c := range m.mu.ctxs {
		m.closeLocked(id, c)
	}
}
