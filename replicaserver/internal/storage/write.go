package storage

import (
	"bytes"
	"math"
	"strconv"
	"time"

	"github.com/cockroachdb/pebble"
	"github.com/pegasus-go/pegasus/shared/keyschema"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

// WriteOptions carries the per-mutation inputs of a write batch.
type WriteOptions struct {
	// TimestampUs is the mutation's timestamp (microseconds since the Unix
	// epoch, assigned by the primary). It is the "now" of the batch: TTLs
	// are computed from it and records expired at it are invisible to the
	// batch's reads, so every replica applies the mutation identically.
	// It also goes into the timetag. 0 = use the engine clock.
	TimestampUs int64
	// ClusterID is the duplication cluster id (0..127) of this cluster,
	// put into the timetag of the batch's local writes.
	ClusterID uint8
	// DupTimetags is set for a mutation carrying
	// protocol.MutationDupTimetags (the table is duplicated): every write
	// then resolves last-writer-wins against the stored record (see
	// ApplyDuplicate), deletes leave tombstones instead of removing
	// records, and ApplyDuplicate may be used. Without it writes never
	// read before writing.
	DupTimetags bool
}

// WriteBatch is the set of writes of one decree, applied atomically by
// Commit together with the replica metadata. Operations read through the
// batch, so they see the batch's earlier writes. An operation that returns
// an error changes nothing; the other operations of the batch still
// commit. A WriteBatch is used by one goroutine; call Close (a no-op after
// Commit) when done with it.
type WriteBatch struct {
	e      *Engine
	b      *pebble.Batch
	decree protocol.Decree
	replay bool
	// The write context: the time of the writes (TTL base and expiry
	// judgement) and their timetag. ApplyDuplicate switches it to the
	// entry's for the entry's writes.
	now      time.Time
	nowEpoch uint32
	timetag  uint64
	// dup: writes resolve last-writer-wins and deletes leave tombstones.
	dup bool
	// maxTs is the largest timestamp (µs) the batch wrote with.
	maxTs      int64
	defaultTTL int32
	done       bool
}

// NewWriteBatch starts the write batch of decree. decree must be
// LastAppliedDecree()+1, or equal to LastAppliedDecree(): an idempotent
// retry of a mutation the engine already holds (e.g. a plog replay that
// overlaps the recovered state). Such a batch runs its operations against
// the current state but Commit discards it, writing nothing. Any other
// decree is CodeInvalidState. Only one write batch may be open at a time
// (ErrBatchInProgress).
func (e *Engine) NewWriteBatch(decree protocol.Decree, wo WriteOptions) (*WriteBatch, error) {
	if err := e.acquire(); err != nil {
		return nil, err
	}
	defer e.release()
	if wo.TimestampUs < 0 {
		return nil, protocol.Errorf(protocol.CodeInvalidArgument, "negative write timestamp %d", wo.TimestampUs)
	}
	now := e.now()
	if wo.TimestampUs > 0 {
		now = time.UnixMicro(wo.TimestampUs)
	}
	tag, err := keyschema.PackTimetag(uint64(max(now.UnixMicro(), 0)), wo.ClusterID, false)
	if err != nil {
		return nil, protocol.Errorf(protocol.CodeInvalidArgument, "%v", err)
	}
	if !e.batchOpen.CompareAndSwap(false, true) {
		return nil, ErrBatchInProgress
	}
	last := e.LastAppliedDecree()
	if decree <= 0 || (decree != last+1 && decree != last) {
		e.batchOpen.Store(false)
		return nil, protocol.Errorf(protocol.CodeInvalidState, "write batch decree %d, last applied %d: want %d (or %d to retry)", decree, last, last+1, last)
	}
	return &WriteBatch{
		e:          e,
		b:          e.db.NewIndexedBatch(),
		decree:     decree,
		replay:     decree == last,
		now:        now,
		nowEpoch:   keyschema.EpochSeconds(now),
		timetag:    tag,
		dup:        wo.DupTimetags,
		maxTs:      now.UnixMicro(),
		defaultTTL: e.defaultTTL.Load(),
	}, nil
}

// Decree returns the batch's decree.
func (b *WriteBatch) Decree() protocol.Decree { return b.decree }

// AlreadyApplied reports whether the batch is a retry of the last applied
// decree, which Commit discards.
func (b *WriteBatch) AlreadyApplied() bool { return b.replay }

// begin guards every batch operation.
func (b *WriteBatch) begin() error {
	if b.done {
		return ErrBatchDone
	}
	return b.e.acquire()
}

// Commit writes the batch and the metadata (last applied decree = the
// batch's decree, data version) in one pebble batch. After Commit the batch
// is done whatever the outcome; on error nothing was applied and the
// decree did not advance.
func (b *WriteBatch) Commit() error {
	if err := b.begin(); err != nil {
		return err
	}
	defer b.e.release()
	defer b.finish()
	if b.replay {
		return nil
	}
	e := b.e
	maxTs := max(b.maxTs, e.lastTimestamp.Load())
	meta := replicaMeta{lastApplied: b.decree, dataVersion: e.dataVersion, lastTimestampUs: maxTs}
	if err := b.b.Set(metaKey, meta.encode(), nil); err != nil {
		return ioError("write metadata", err)
	}
	e.commitMu.Lock()
	defer e.commitMu.Unlock()
	if err := b.b.Commit(e.writeOpts); err != nil {
		return ioError("commit", err)
	}
	e.lastApplied.Store(int64(b.decree))
	e.lastTimestamp.Store(maxTs)
	if e.opts.SyncWrites {
		e.noteDurable(b.decree)
	}
	return nil
}

// Close discards the batch if it was not committed. It is idempotent.
func (b *WriteBatch) Close() {
	if !b.done {
		b.finish()
	}
}

func (b *WriteBatch) finish() {
	b.done = true
	_ = b.b.Close()
	b.e.batchOpen.Store(false)
}

// expireTs turns a TTL in seconds into an expire_ts at the batch time,
// giving records without a TTL the default TTL.
func (b *WriteBatch) expireTs(ttlSeconds int64) uint32 {
	if ttlSeconds <= 0 {
		ttlSeconds = int64(b.defaultTTL)
	}
	return keyschema.ExpireTsFromTTL(ttlSeconds, b.now)
}

// put stores value under key with expireTs (0 gets the default TTL). In
// a duplicated batch the write happens only when the batch's timetag wins
// against the stored record (see wins); written reports whether it did.
func (b *WriteBatch) put(key, value []byte, expireTs uint32) (written bool, err error) {
	if b.dup {
		if ok, err := b.wins(key); err != nil || !ok {
			return false, err
		}
	}
	if expireTs == 0 {
		expireTs = b.expireTs(0)
	}
	raw := keyschema.EncodeValue(keyschema.ValueHeader{ExpireTs: expireTs, Timetag: b.timetag}, value)
	if err := b.b.Set(key, raw, nil); err != nil {
		return false, ioError("batch set", err)
	}
	return true, nil
}

// del removes key. In a duplicated batch it writes a tombstone carrying
// the batch's timetag instead, when that timetag wins against the stored
// record; deleted reports whether anything was written.
func (b *WriteBatch) del(key []byte) (deleted bool, err error) {
	if b.dup {
		if ok, err := b.wins(key); err != nil || !ok {
			return false, err
		}
		raw := keyschema.EncodeValue(keyschema.ValueHeader{Timetag: b.timetag | tombstoneBit}, nil)
		if err := b.b.Set(key, raw, nil); err != nil {
			return false, ioError("batch tombstone", err)
		}
		return true, nil
	}
	if err := b.b.Delete(key, nil); err != nil {
		return false, ioError("batch delete", err)
	}
	return true, nil
}

func (b *WriteBatch) get(key []byte) (record, bool, error) {
	return getRecord(b.b, key, b.nowEpoch)
}

func validateTTL(ttlSeconds int32) error {
	if ttlSeconds < 0 {
		return protocol.Errorf(protocol.CodeInvalidArgument, "negative TTL %d", ttlSeconds)
	}
	return nil
}

// Set writes (hashKey, sortKey) = value. ttlSeconds 0 means no TTL (the
// default TTL applies); negative is CodeInvalidArgument.
func (b *WriteBatch) Set(hashKey, sortKey, value []byte, ttlSeconds int32) error {
	if err := b.begin(); err != nil {
		return err
	}
	defer b.e.release()
	if err := validateTTL(ttlSeconds); err != nil {
		return err
	}
	key, err := encodeKey(hashKey, sortKey)
	if err != nil {
		return err
	}
	_, err = b.put(key, value, b.expireTs(int64(ttlSeconds)))
	return err
}

// Del deletes (hashKey, sortKey); deleting a missing record is not an
// error.
func (b *WriteBatch) Del(hashKey, sortKey []byte) error {
	if err := b.begin(); err != nil {
		return err
	}
	defer b.e.release()
	key, err := encodeKey(hashKey, sortKey)
	if err != nil {
		return err
	}
	_, err = b.del(key)
	return err
}

// MultiSet writes every kv under hashKey with one TTL. An empty kvs is
// CodeInvalidArgument.
func (b *WriteBatch) MultiSet(hashKey []byte, kvs []protocol.KeyValue, ttlSeconds int32) error {
	if err := b.begin(); err != nil {
		return err
	}
	defer b.e.release()
	if len(kvs) == 0 {
		return protocol.Errorf(protocol.CodeInvalidArgument, "multi_set without records")
	}
	if err := validateTTL(ttlSeconds); err != nil {
		return err
	}
	if _, err := encodeKey(hashKey, nil); err != nil {
		return err
	}
	exp := b.expireTs(int64(ttlSeconds))
	for _, kv := range kvs {
		key, err := encodeKey(hashKey, kv.SortKey)
		if err != nil {
			return err
		}
		if _, err := b.put(key, kv.Value, exp); err != nil {
			return err
		}
	}
	return nil
}

// MultiDel deletes sortKeys of hashKey and returns how many distinct
// records existed (unexpired) and were deleted. An empty sortKeys is
// CodeInvalidArgument.
func (b *WriteBatch) MultiDel(hashKey []byte, sortKeys [][]byte) (int64, error) {
	if err := b.begin(); err != nil {
		return 0, err
	}
	defer b.e.release()
	if len(sortKeys) == 0 {
		return 0, protocol.Errorf(protocol.CodeInvalidArgument, "multi_del without sortkeys")
	}
	if _, err := encodeKey(hashKey, nil); err != nil {
		return 0, err
	}
	var n int64
	for _, sk := range sortKeys {
		key, err := encodeKey(hashKey, sk)
		if err != nil {
			return 0, err
		}
		_, found, err := b.get(key)
		if err != nil {
			return 0, err
		}
		deleted, err := b.del(key)
		if err != nil {
			return 0, err
		}
		if found && deleted {
			n++
		}
	}
	return n, nil
}

// DelRangeOptions selects the records DelRange deletes: sortkeys between
// start and stop (same conventions as MultiGetOptions) that match the
// filter.
type DelRangeOptions struct {
	StartSortKey   []byte
	StopSortKey    []byte
	StartInclusive bool
	StopInclusive  bool
	SortKeyFilter  protocol.Filter
}

// DelRange deletes the selected records of hashKey and returns how many
// unexpired records it deleted (expired ones in the range are reclaimed
// too but not counted). In a duplicated batch every selected record,
// tombstones included, whose timetag the batch's beats gets a tombstone;
// keys absent from the range get none.
func (b *WriteBatch) DelRange(hashKey []byte, o DelRangeOptions) (int64, error) {
	if err := b.begin(); err != nil {
		return 0, err
	}
	defer b.e.release()
	n, _, err := b.delRange(hashKey, o)
	return n, err
}

// delRange is DelRange; it also returns how many records it wrote (deleted
// or tombstoned).
func (b *WriteBatch) delRange(hashKey []byte, o DelRangeOptions) (visible int64, written int, _ error) {
	if err := validateFilter("sortkey", o.SortKeyFilter); err != nil {
		return 0, 0, err
	}
	lower, upper, err := keyschema.SortKeyRange(hashKey, o.StartSortKey, o.StartInclusive, o.StopSortKey, o.StopInclusive)
	if err != nil {
		return 0, 0, protocol.Errorf(protocol.CodeInvalidArgument, "%v", err)
	}
	if bytes.Compare(lower, upper) >= 0 {
		return 0, 0, nil
	}
	type victim struct {
		key     []byte
		visible bool
	}
	var victims []victim
	err = iterateRange(b.b, lower, upper, false, func(key, raw []byte) (bool, error) {
		_, sk, err := keyschema.DecodeKey(key)
		if err != nil {
			return false, protocol.Errorf(protocol.CodeCorruption, "storage: %v", err)
		}
		if !o.SortKeyFilter.Match(sk) {
			return true, nil
		}
		h, _, err := decodeStored(key, raw)
		if err != nil {
			return false, err
		}
		victims = append(victims, victim{bytes.Clone(key), !hidden(h, b.nowEpoch)})
		return true, nil
	})
	if err != nil {
		return 0, 0, err
	}
	for _, v := range victims {
		deleted, err := b.del(v.key)
		if err != nil {
			return 0, 0, err
		}
		if deleted {
			written++
			if v.visible {
				visible++
			}
		}
	}
	return visible, written, nil
}

// parseInt parses a stored or operand integer: decimal int64 with an
// optional sign, nothing else.
func parseInt(v []byte) (int64, bool) {
	n, err := strconv.ParseInt(string(v), 10, 64)
	return n, err == nil
}

// Incr adds delta to the integer stored at (hashKey, sortKey) and returns
// the new value. A missing or expired record, or an empty value, counts as
// 0. expireSeconds: 0 keeps the record's current TTL (none for a new
// record), > 0 sets a new TTL, < 0 clears it; a record left without a TTL
// gets the default TTL. A stored value that is not a decimal int64 is
// CodeInvalidArgument; a sum that overflows int64 is CodeIncrOverflow.
// Neither changes anything.
func (b *WriteBatch) Incr(hashKey, sortKey []byte, delta int64, expireSeconds int32) (int64, error) {
	if err := b.begin(); err != nil {
		return 0, err
	}
	defer b.e.release()
	key, err := encodeKey(hashKey, sortKey)
	if err != nil {
		return 0, err
	}
	rec, found, err := b.get(key)
	if err != nil {
		return 0, err
	}
	nv, err := incrValue(rec, found, delta)
	if err != nil {
		return 0, err
	}
	var exp uint32
	switch {
	case expireSeconds > 0:
		exp = b.expireTs(int64(expireSeconds))
	case expireSeconds == 0 && found:
		exp = rec.expireTs
	}
	if _, err := b.put(key, strconv.AppendInt(nil, nv, 10), exp); err != nil {
		return 0, err
	}
	return nv, nil
}

// incrValue returns the value incr by delta leaves in a record (found:
// the record exists and is visible).
func incrValue(rec record, found bool, delta int64) (int64, error) {
	var old int64
	if found && len(rec.value) > 0 {
		v, ok := parseInt(rec.value)
		if !ok {
			return 0, protocol.Errorf(protocol.CodeInvalidArgument, "incr: stored value %q is not an integer", truncate(rec.value))
		}
		old = v
	}
	if (delta > 0 && old > math.MaxInt64-delta) || (delta < 0 && old < math.MinInt64-delta) {
		return 0, protocol.Errorf(protocol.CodeIncrOverflow, "incr: %d + %d overflows int64", old, delta)
	}
	return old + delta, nil
}

// truncate shortens a value quoted in an error message.
func truncate(v []byte) []byte {
	if len(v) > 32 {
		return v[:32]
	}
	return v
}

// CheckAndSetRequest is one check_and_set.
type CheckAndSetRequest struct {
	HashKey      []byte
	CheckSortKey []byte
	CheckType    protocol.CheckType
	CheckOperand []byte
	// SetDiffSortKey selects SetSortKey as the sortkey to set; otherwise
	// CheckSortKey is set.
	SetDiffSortKey bool
	SetSortKey     []byte
	SetValue       []byte
	SetTTLSeconds  int32
	// ReturnCheckValue asks for the checked record in the result.
	ReturnCheckValue bool
}

// CheckAndMutateRequest is one check_and_mutate.
type CheckAndMutateRequest struct {
	HashKey          []byte
	CheckSortKey     []byte
	CheckType        protocol.CheckType
	CheckOperand     []byte
	Mutates          []protocol.Mutate
	ReturnCheckValue bool
}

// CheckResult reports the checked record when ReturnCheckValue was set.
type CheckResult struct {
	CheckValueReturned bool
	CheckValueExist    bool
	CheckValue         []byte
}

// CheckAndSet evaluates the check on CheckSortKey and, when it passes,
// sets the target record. A check that does not pass is a CodeCheckFailed
// error; an int comparison whose stored value or operand is not a decimal
// int64 is CodeInvalidArgument (Pegasus semantics). The CheckResult is
// filled (when asked) whether or not the check passed.
func (b *WriteBatch) CheckAndSet(req CheckAndSetRequest) (CheckResult, error) {
	if err := b.begin(); err != nil {
		return CheckResult{}, err
	}
	defer b.e.release()
	if err := validateTTL(req.SetTTLSeconds); err != nil {
		return CheckResult{}, err
	}
	setSK := req.CheckSortKey
	if req.SetDiffSortKey {
		setSK = req.SetSortKey
	}
	setKey, err := encodeKey(req.HashKey, setSK)
	if err != nil {
		return CheckResult{}, err
	}
	res, err := b.check(req.HashKey, req.CheckSortKey, req.CheckType, req.CheckOperand, req.ReturnCheckValue)
	if err != nil {
		return res, err
	}
	_, err = b.put(setKey, req.SetValue, b.expireTs(int64(req.SetTTLSeconds)))
	return res, err
}

// CheckAndMutate evaluates the check like CheckAndSet and, when it passes,
// applies every mutate in order. An empty Mutates, an unknown operation or
// a negative TTL is CodeInvalidArgument.
func (b *WriteBatch) CheckAndMutate(req CheckAndMutateRequest) (CheckResult, error) {
	if err := b.begin(); err != nil {
		return CheckResult{}, err
	}
	defer b.e.release()
	if len(req.Mutates) == 0 {
		return CheckResult{}, protocol.Errorf(protocol.CodeInvalidArgument, "check_and_mutate without mutates")
	}
	keys := make([][]byte, len(req.Mutates))
	for i, m := range req.Mutates {
		if m.Operation != protocol.MutatePut && m.Operation != protocol.MutateDel {
			return CheckResult{}, protocol.Errorf(protocol.CodeInvalidArgument, "unknown mutate operation %d", m.Operation)
		}
		if err := validateTTL(m.TTLSeconds); err != nil {
			return CheckResult{}, err
		}
		k, err := encodeKey(req.HashKey, m.SortKey)
		if err != nil {
			return CheckResult{}, err
		}
		keys[i] = k
	}
	res, err := b.check(req.HashKey, req.CheckSortKey, req.CheckType, req.CheckOperand, req.ReturnCheckValue)
	if err != nil {
		return res, err
	}
	for i, m := range req.Mutates {
		if m.Operation == protocol.MutatePut {
			_, err = b.put(keys[i], m.Value, b.expireTs(int64(m.TTLSeconds)))
		} else {
			_, err = b.del(keys[i])
		}
		if err != nil {
			return res, err
		}
	}
	return res, nil
}

// check reads the check record and evaluates the condition.
func (b *WriteBatch) check(hashKey, sortKey []byte, ct protocol.CheckType, operand []byte, returnValue bool) (CheckResult, error) {
	if !ct.Valid() {
		return CheckResult{}, protocol.Errorf(protocol.CodeInvalidArgument, "unknown check type %d", ct)
	}
	key, err := encodeKey(hashKey, sortKey)
	if err != nil {
		return CheckResult{}, err
	}
	rec, exist, err := b.get(key)
	if err != nil {
		return CheckResult{}, err
	}
	return evalCheck(rec, exist, sortKey, ct, operand, returnValue)
}

// evalCheck evaluates a check against the checked record (exist: it is
// visible); a check that does not pass is CodeCheckFailed.
func evalCheck(rec record, exist bool, sortKey []byte, ct protocol.CheckType, operand []byte, returnValue bool) (CheckResult, error) {
	var res CheckResult
	if returnValue {
		res.CheckValueReturned = true
		if exist {
			res.CheckValueExist = true
			res.CheckValue = rec.value
			if res.CheckValue == nil {
				res.CheckValue = []byte{}
			}
		}
	}
	passed, err := ct.Evaluate(exist, rec.value, operand)
	if err != nil {
		return res, err
	}
	if !passed {
		return res, protocol.Errorf(protocol.CodeCheckFailed, "check %d on sortkey %q did not pass", ct, truncate(sortKey))
	}
	return res, nil
}
