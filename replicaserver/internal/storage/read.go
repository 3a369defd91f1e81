package storage

import (
	"bytes"
	"math"
	"slices"

	"github.com/cockroachdb/pebble"
	"github.com/pegasus-go/pegasus/shared/keyschema"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

// encodeKey encodes a record key, reporting an oversized hashkey as
// CodeInvalidArgument.
func encodeKey(hashKey, sortKey []byte) ([]byte, error) {
	k, err := keyschema.EncodeKey(hashKey, sortKey)
	if err != nil {
		return nil, protocol.Errorf(protocol.CodeInvalidArgument, "%v", err)
	}
	return k, nil
}

func validateFilter(what string, f protocol.Filter) error {
	if !f.Type.Valid() {
		return protocol.Errorf(protocol.CodeInvalidArgument, "unknown %s filter type %d", what, f.Type)
	}
	return nil
}

// Get returns the value of (hashKey, sortKey). A missing or expired record
// (or a tombstone) is a CodeNotFound error. The caller owns the returned slice.
func (e *Engine) Get(hashKey, sortKey []byte) ([]byte, error) {
	if err := e.acquire(); err != nil {
		return nil, err
	}
	defer e.release()
	key, err := encodeKey(hashKey, sortKey)
	if err != nil {
		return nil, err
	}
	rec, found, err := getRecord(e.db, key, e.nowEpoch())
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, protocol.CodeNotFound
	}
	return rec.value, nil
}

// Exist reports whether (hashKey, sortKey) holds an unexpired record.
func (e *Engine) Exist(hashKey, sortKey []byte) (bool, error) {
	if err := e.acquire(); err != nil {
		return false, err
	}
	defer e.release()
	key, err := encodeKey(hashKey, sortKey)
	if err != nil {
		return false, err
	}
	_, found, err := getRecord(e.db, key, e.nowEpoch())
	return found, err
}

// TTL returns the remaining TTL of (hashKey, sortKey) in seconds: -1 when
// the record has no TTL, -2 (with a nil error) when it is missing or
// expired.
func (e *Engine) TTL(hashKey, sortKey []byte) (int32, error) {
	if err := e.acquire(); err != nil {
		return 0, err
	}
	defer e.release()
	key, err := encodeKey(hashKey, sortKey)
	if err != nil {
		return 0, err
	}
	now := e.nowEpoch()
	rec, found, err := getRecord(e.db, key, now)
	if err != nil {
		return 0, err
	}
	switch {
	case !found:
		return -2, nil
	case rec.expireTs == 0:
		return -1, nil
	}
	return int32(min(int64(rec.expireTs)-int64(now), math.MaxInt32)), nil
}

// FullKey names one record.
type FullKey struct {
	HashKey []byte
	SortKey []byte
}

// FullKeyValue is one record returned by BatchGet.
type FullKeyValue struct {
	HashKey []byte
	SortKey []byte
	Value   []byte
}

// BatchGet reads every key at one consistent snapshot and returns the
// records that exist, in request order (a key asked twice is returned
// twice). Returned slices are new; HashKey and SortKey are copies.
func (e *Engine) BatchGet(keys []FullKey) ([]FullKeyValue, error) {
	if err := e.acquire(); err != nil {
		return nil, err
	}
	defer e.release()
	encoded := make([][]byte, len(keys))
	for i, k := range keys {
		ek, err := encodeKey(k.HashKey, k.SortKey)
		if err != nil {
			return nil, err
		}
		encoded[i] = ek
	}
	snap := e.db.NewSnapshot()
	defer snap.Close()
	now := e.nowEpoch()
	var out []FullKeyValue
	for i, k := range keys {
		rec, found, err := getRecord(snap, encoded[i], now)
		if err != nil {
			return nil, err
		}
		if found {
			out = append(out, FullKeyValue{HashKey: bytes.Clone(k.HashKey), SortKey: bytes.Clone(k.SortKey), Value: rec.value})
		}
	}
	return out, nil
}

// MultiGetOptions selects the records of one hashkey MultiGet returns.
type MultiGetOptions struct {
	// SortKeys, when not empty, asks for exactly these sortkeys, in this
	// order (a sortkey asked twice is returned twice); the range, the
	// filter and Reverse are then ignored.
	SortKeys [][]byte
	// StartSortKey and StopSortKey bound a range read. An empty start
	// begins at the first sortkey; an empty stop runs to the end of the
	// hashkey (StopInclusive is then ignored).
	StartSortKey   []byte
	StopSortKey    []byte
	StartInclusive bool
	StopInclusive  bool
	// SortKeyFilter keeps only matching sortkeys (range reads only).
	SortKeyFilter protocol.Filter
	// MaxKVCount and MaxKVSize limit the records and the bytes (sortkey +
	// returned value) returned; <= 0 means the engine's
	// MaxIterationCount / MaxIterationSizeBytes, which also cap larger
	// requests. The record that reaches the size limit is included.
	MaxKVCount int32
	MaxKVSize  int32
	// Reverse reads the range from its end, so the limits keep the last
	// records; the result is still in ascending sortkey order.
	Reverse bool
	// NoValue returns sortkeys only (Value nil).
	NoValue bool
}

// MultiGetResult is MultiGet's answer.
type MultiGetResult struct {
	// KVs are the records in ascending sortkey order (request order for
	// explicit sortkeys). The caller owns them.
	KVs []protocol.KeyValue
	// Complete is false when a limit stopped the read while at least one
	// more matching record remained.
	Complete bool
}

// limits returns the effective count and size limits of o.
func (e *Engine) limits(maxCount, maxSize int32) (int, int) {
	c, s := e.opts.MaxIterationCount, e.opts.MaxIterationSizeBytes
	if maxCount > 0 && int(maxCount) < c {
		c = int(maxCount)
	}
	if maxSize > 0 && int(maxSize) < s {
		s = int(maxSize)
	}
	return c, s
}

// MultiGet reads several records of hashKey at one consistent snapshot.
func (e *Engine) MultiGet(hashKey []byte, o MultiGetOptions) (MultiGetResult, error) {
	if err := e.acquire(); err != nil {
		return MultiGetResult{}, err
	}
	defer e.release()
	if err := validateFilter("sortkey", o.SortKeyFilter); err != nil {
		return MultiGetResult{}, err
	}
	if _, err := encodeKey(hashKey, nil); err != nil {
		return MultiGetResult{}, err
	}
	maxCount, maxSize := e.limits(o.MaxKVCount, o.MaxKVSize)
	now := e.nowEpoch()
	res := MultiGetResult{Complete: true}
	size := 0
	// add appends one record unless a limit is already reached.
	add := func(sortKey, value []byte) bool {
		if len(res.KVs) >= maxCount || size >= maxSize {
			res.Complete = false
			return false
		}
		kv := protocol.KeyValue{SortKey: bytes.Clone(sortKey)}
		if !o.NoValue {
			kv.Value = bytes.Clone(value)
			if kv.Value == nil {
				kv.Value = []byte{}
			}
		}
		res.KVs = append(res.KVs, kv)
		size += len(kv.SortKey) + len(kv.Value)
		return true
	}

	if len(o.SortKeys) > 0 {
		snap := e.db.NewSnapshot()
		defer snap.Close()
		for _, sk := range o.SortKeys {
			key, err := encodeKey(hashKey, sk)
			if err != nil {
				return MultiGetResult{}, err
			}
			rec, found, err := getRecord(snap, key, now)
			if err != nil {
				return MultiGetResult{}, err
			}
			if found && !add(sk, rec.value) {
				break
			}
		}
		return res, nil
	}

	lower, upper, err := keyschema.SortKeyRange(hashKey, o.StartSortKey, o.StartInclusive, o.StopSortKey, o.StopInclusive)
	if err != nil {
		return MultiGetResult{}, protocol.Errorf(protocol.CodeInvalidArgument, "%v", err)
	}
	if bytes.Compare(lower, upper) >= 0 {
		return res, nil
	}
	err = iterateRange(e.db, lower, upper, o.Reverse, func(key, raw []byte) (bool, error) {
		_, sk, err := keyschema.DecodeKey(key)
		if err != nil {
			return false, protocol.Errorf(protocol.CodeCorruption, "storage: %v", err)
		}
		if !o.SortKeyFilter.Match(sk) {
			return true, nil
		}
		h, user, err := decodeStored(key, raw)
		if err != nil {
			return false, err
		}
		if hidden(h, now) {
			return true, nil
		}
		return add(sk, user), nil
	})
	if err != nil {
		return MultiGetResult{}, err
	}
	if o.Reverse {
		slices.Reverse(res.KVs)
	}
	return res, nil
}

// SortKeyCount returns the number of unexpired records of hashKey.
func (e *Engine) SortKeyCount(hashKey []byte) (int64, error) {
	if err := e.acquire(); err != nil {
		return 0, err
	}
	defer e.release()
	lower, upper, err := keyschema.HashKeyRange(hashKey)
	if err != nil {
		return 0, protocol.Errorf(protocol.CodeInvalidArgument, "%v", err)
	}
	now := e.nowEpoch()
	var n int64
	err = iterateRange(e.db, lower, upper, false, func(key, raw []byte) (bool, error) {
		h, _, err := decodeStored(key, raw)
		if err != nil {
			return false, err
		}
		if !hidden(h, now) {
			n++
		}
		return true, nil
	})
	return n, err
}

// iterateRange calls fn for every key in [lower, upper) in ascending (or,
// with reverse, descending) order until fn returns false or an error. key
// and raw are only valid during the call.
func iterateRange(r iterMaker, lower, upper []byte, reverse bool, fn func(key, raw []byte) (bool, error)) error {
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return ioError("new iterator", err)
	}
	valid := it.First
	step := it.Next
	if reverse {
		valid, step = it.Last, it.Prev
	}
	for ok := valid(); ok; ok = step() {
		raw, err := it.ValueAndErr()
		if err != nil {
			_ = it.Close()
			return ioError("iterate", err)
		}
		more, err := fn(it.Key(), raw)
		if err != nil {
			_ = it.Close()
			return err
		}
		if !more {
			break
		}
	}
	if err := it.Close(); err != nil {
		return ioError("iterate", err)
	}
	return nil
}
