package pegasus

import (
	"bytes"
	"context"
	"time"

	"github.com/pegasus-go/pegasus/shared/keyschema"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

// run wraps one operation: it applies the default timeout, refuses work
// after Close and records metrics.
func (t *Table) run(ctx context.Context, op string, fn func(ctx context.Context) error) error {
	start := time.Now()
	if t.c.isClosed() {
		return &OpError{Op: op, Table: t.name, Partition: -1, Err: ErrClosed}
	}
	ctx, cancel := t.c.opContext(ctx)
	defer cancel()
	err := fn(ctx)
	t.c.metrics.observe(t.name, op, start, err)
	return err
}

// argError wraps a validation failure.
func (t *Table) argError(op string, err error) error {
	return &OpError{Op: op, Table: t.name, Partition: -1, Err: err}
}

// Get returns the value of (hashKey, sortKey). A missing or expired record
// is ErrNotFound.
func (t *Table) Get(ctx context.Context, hashKey, sortKey []byte) ([]byte, error) {
	var resp protocol.GetResponse
	err := t.run(ctx, opGet, func(ctx context.Context) error {
		if err := checkHashKey(hashKey); err != nil {
			return t.argError(opGet, err)
		}
		_, _, err := t.do(ctx, call{op: opGet, method: protocol.MethodGet, idempotent: true,
			hash: keyschema.Hash(hashKey, sortKey),
			req:  &protocol.GetRequest{HashKey: hashKey, SortKey: sortKey}, resp: &resp})
		return err
	})
	if err != nil {
		return nil, err
	}
	if resp.Value == nil {
		return []byte{}, nil
	}
	return resp.Value, nil
}

// Set writes (hashKey, sortKey) = value. opts may be nil.
func (t *Table) Set(ctx context.Context, hashKey, sortKey, value []byte, opts *SetOptions) error {
	return t.run(ctx, opSet, func(ctx context.Context) error {
		if err := checkHashKey(hashKey); err != nil {
			return t.argError(opSet, err)
		}
		var ttl time.Duration
		if opts != nil {
			ttl = opts.TTL
		}
		secs, err := ttlSeconds(ttl)
		if err != nil {
			return t.argError(opSet, err)
		}
		_, _, err = t.do(ctx, call{op: opSet, method: protocol.MethodSet, idempotent: true, write: true,
			hash: keyschema.Hash(hashKey, sortKey),
			req:  &protocol.SetRequest{HashKey: hashKey, SortKey: sortKey, Value: value, TTLSeconds: secs},
			resp: &protocol.SetResponse{}})
		return err
	})
}

// Del deletes (hashKey, sortKey). Deleting a missing record succeeds.
func (t *Table) Del(ctx context.Context, hashKey, sortKey []byte) error {
	return t.run(ctx, opDel, func(ctx context.Context) error {
		if err := checkHashKey(hashKey); err != nil {
			return t.argError(opDel, err)
		}
		_, _, err := t.do(ctx, call{op: opDel, method: protocol.MethodDel, idempotent: true, write: true,
			hash: keyschema.Hash(hashKey, sortKey),
			req:  &protocol.DelRequest{HashKey: hashKey, SortKey: sortKey}, resp: &protocol.DelResponse{}})
		return err
	})
}

// MultiGet reads the given sortkeys of hashKey; with sortKeys empty it
// reads every sortkey of hashKey. Missing sortkeys are left out. The
// records come back in sortkey order (reverse with opts.Reverse);
// complete is false when a limit (opts.MaxCount, opts.MaxSize or the
// server's) cut the result short. opts may be nil; its range fields are
// ignored.
func (t *Table) MultiGet(ctx context.Context, hashKey []byte, sortKeys [][]byte, opts *MultiGetOptions) (kvs []KeyValue, complete bool, err error) {
	return t.multiGet(ctx, hashKey, sortKeys, nil, nil, opts)
}

// MultiGetRange reads the sortkeys of hashKey from startSortKey to
// stopSortKey (an empty stopSortKey reads to the end of the hashkey); by
// default start is inclusive and stop exclusive (see MultiGetOptions).
// opts may be nil.
func (t *Table) MultiGetRange(ctx context.Context, hashKey, startSortKey, stopSortKey []byte, opts *MultiGetOptions) (kvs []KeyValue, complete bool, err error) {
	if startSortKey == nil {
		startSortKey = []byte{}
	}
	return t.multiGet(ctx, hashKey, nil, startSortKey, stopSortKey, opts)
}

func (t *Table) multiGet(ctx context.Context, hashKey []byte, sortKeys [][]byte, start, stop []byte, opts *MultiGetOptions) ([]KeyValue, bool, error) {
	var o MultiGetOptions
	if opts != nil {
		o = *opts
	}
	var resp protocol.MultiGetResponse
	err := t.run(ctx, opMultiGet, func(ctx context.Context) error {
		if err := checkHashKey(hashKey); err != nil {
			return t.argError(opMultiGet, err)
		}
		if err := checkFilter("sortkey", o.Filter); err != nil {
			return t.argError(opMultiGet, err)
		}
		req := &protocol.MultiGetRequest{
			HashKey:       hashKey,
			SortKeys:      sortKeys,
			SortKeyFilter: o.Filter,
			MaxKVCount:    clampInt32(o.MaxCount),
			MaxKVSize:     clampInt32(o.MaxSize),
			NoValue:       o.NoValue,
			Reverse:       o.Reverse,
		}
		if len(sortKeys) == 0 {
			req.StartSortKey = start
			req.StopSortKey = stop
			req.StartInclusive = !o.StartExclusive
			req.StopInclusive = o.StopInclusive
		}
		_, _, err := t.do(ctx, call{op: opMultiGet, method: protocol.MethodMultiGet, idempotent: true,
			hash: keyschema.Hash(hashKey, nil), req: req, resp: &resp})
		return err
	})
	if err != nil {
		return nil, false, err
	}
	out := make([]KeyValue, len(resp.KVs))
	for i, kv := range resp.KVs {
		out[i] = KeyValue{HashKey: hashKey, SortKey: kv.SortKey, Value: kv.Value}
	}
	return out, resp.Complete, nil
}

// MultiSet writes several sortkeys of hashKey atomically; sortKeys and
// values pair up by index. opts may be nil.
func (t *Table) MultiSet(ctx context.Context, hashKey []byte, sortKeys, values [][]byte, opts *SetOptions) error {
	return t.run(ctx, opMultiSet, func(ctx context.Context) error {
		if err := checkHashKey(hashKey); err != nil {
			return t.argError(opMultiSet, err)
		}
		if len(sortKeys) == 0 {
			return t.argError(opMultiSet, invalidArgf("no sortkeys"))
		}
		if len(sortKeys) != len(values) {
			return t.argError(opMultiSet, invalidArgf("%d sortkeys but %d values", len(sortKeys), len(values)))
		}
		var ttl time.Duration
		if opts != nil {
			ttl = opts.TTL
		}
		secs, err := ttlSeconds(ttl)
		if err != nil {
			return t.argError(opMultiSet, err)
		}
		kvs := make([]protocol.KeyValue, len(sortKeys))
		for i := range sortKeys {
			kvs[i] = protocol.KeyValue{SortKey: sortKeys[i], Value: values[i]}
		}
		_, _, err = t.do(ctx, call{op: opMultiSet, method: protocol.MethodMultiSet, idempotent: true, write: true,
			hash: keyschema.Hash(hashKey, nil),
			req:  &protocol.MultiSetRequest{HashKey: hashKey, KVs: kvs, TTLSeconds: secs},
			resp: &protocol.MultiSetResponse{}})
		return err
	})
}

// MultiDel deletes several sortkeys of hashKey atomically and returns how
// many records existed.
func (t *Table) MultiDel(ctx context.Context, hashKey []byte, sortKeys [][]byte) (int64, error) {
	var resp protocol.MultiDelResponse
	err := t.run(ctx, opMultiDel, func(ctx context.Context) error {
		if err := checkHashKey(hashKey); err != nil {
			return t.argError(opMultiDel, err)
		}
		if len(sortKeys) == 0 {
			return t.argError(opMultiDel, invalidArgf("no sortkeys"))
		}
		_, _, err := t.do(ctx, call{op: opMultiDel, method: protocol.MethodMultiDel, idempotent: true, write: true,
			hash: keyschema.Hash(hashKey, nil),
			req:  &protocol.MultiDelRequest{HashKey: hashKey, SortKeys: sortKeys}, resp: &resp})
		return err
	})
	return resp.Deleted, err
}

// DelRange deletes the sortkeys of hashKey from startSortKey to
// stopSortKey (an empty stopSortKey: to the end of the hashkey), by
// default start inclusive and stop exclusive, and returns how many records
// it deleted. opts may be nil.
func (t *Table) DelRange(ctx context.Context, hashKey, startSortKey, stopSortKey []byte, opts *DelRangeOptions) (int64, error) {
	var o DelRangeOptions
	if opts != nil {
		o = *opts
	}
	var resp protocol.DelRangeResponse
	err := t.run(ctx, opDelRange, func(ctx context.Context) error {
		if err := checkHashKey(hashKey); err != nil {
			return t.argError(opDelRange, err)
		}
		if err := checkFilter("sortkey", o.Filter); err != nil {
			return t.argError(opDelRange, err)
		}
		_, _, err := t.do(ctx, call{op: opDelRange, method: protocol.MethodDelRange, idempotent: true, write: true,
			hash: keyschema.Hash(hashKey, nil),
			req: &protocol.DelRangeRequest{HashKey: hashKey, StartSortKey: startSortKey, StopSortKey: stopSortKey,
				StartInclusive: !o.StartExclusive, StopInclusive: o.StopInclusive, SortKeyFilter: o.Filter},
			resp: &resp})
		return err
	})
	return resp.Deleted, err
}

// SortKeyCount returns the number of live sortkeys of hashKey.
func (t *Table) SortKeyCount(ctx context.Context, hashKey []byte) (int64, error) {
	var resp protocol.SortKeyCountResponse
	err := t.run(ctx, opSortKeyCount, func(ctx context.Context) error {
		if err := checkHashKey(hashKey); err != nil {
			return t.argError(opSortKeyCount, err)
		}
		_, _, err := t.do(ctx, call{op: opSortKeyCount, method: protocol.MethodSortKeyCount, idempotent: true,
			hash: keyschema.Hash(hashKey, nil),
			req:  &protocol.SortKeyCountRequest{HashKey: hashKey}, resp: &resp})
		return err
	})
	return resp.Count, err
}

// Exist reports whether (hashKey, sortKey) exists (and has not expired).
func (t *Table) Exist(ctx context.Context, hashKey, sortKey []byte) (bool, error) {
	var resp protocol.ExistResponse
	err := t.run(ctx, opExist, func(ctx context.Context) error {
		if err := checkHashKey(hashKey); err != nil {
			return t.argError(opExist, err)
		}
		_, _, err := t.do(ctx, call{op: opExist, method: protocol.MethodExist, idempotent: true,
			hash: keyschema.Hash(hashKey, sortKey),
			req:  &protocol.ExistRequest{HashKey: hashKey, SortKey: sortKey}, resp: &resp})
		return err
	})
	return resp.Exists, err
}

// TTL returns the remaining time to live of (hashKey, sortKey) and
// whether it has one (false: it never expires). A missing record is
// ErrNotFound.
func (t *Table) TTL(ctx context.Context, hashKey, sortKey []byte) (time.Duration, bool, error) {
	var resp protocol.TTLResponse
	err := t.run(ctx, opTTL, func(ctx context.Context) error {
		if err := checkHashKey(hashKey); err != nil {
			return t.argError(opTTL, err)
		}
		pidx, addr, err := t.do(ctx, call{op: opTTL, method: protocol.MethodTTL, idempotent: true,
			hash: keyschema.Hash(hashKey, sortKey),
			req:  &protocol.TTLRequest{HashKey: hashKey, SortKey: sortKey}, resp: &resp})
		if err == nil && resp.TTLSeconds == protocol.TTLMissing {
			err = &OpError{Op: opTTL, Table: t.name, Partition: pidx, Addr: addr,
				Err: protocol.Errorf(protocol.CodeNotFound, "no record")}
		}
		return err
	})
	switch {
	case err != nil:
		return 0, false, err
	case resp.TTLSeconds < 0:
		return 0, false, nil
	}
	return time.Duration(resp.TTLSeconds) * time.Second, true, nil
}

// Incr adds delta to the record's value, a decimal int64 (a missing record
// counts as 0), and returns the new value. A value that is not an integer,
// or an overflow, is ErrInvalidIncr. Incr is not idempotent: it is never
// retried once the request may have reached a server, so an
// ErrUnavailable or ErrTimeout leaves the outcome unknown. opts may be
// nil.
func (t *Table) Incr(ctx context.Context, hashKey, sortKey []byte, delta int64, opts *IncrOptions) (int64, error) {
	var o IncrOptions
	if opts != nil {
		o = *opts
	}
	var resp protocol.IncrResponse
	err := t.run(ctx, opIncr, func(ctx context.Context) error {
		if err := checkHashKey(hashKey); err != nil {
			return t.argError(opIncr, err)
		}
		var expire int32
		switch {
		case o.ClearTTL && o.TTL != 0:
			return t.argError(opIncr, invalidArgf("ClearTTL and TTL are both set"))
		case o.ClearTTL:
			expire = -1
		default:
			secs, err := ttlSeconds(o.TTL)
			if err != nil {
				return t.argError(opIncr, err)
			}
			expire = secs
		}
		_, _, err := t.do(ctx, call{op: opIncr, method: protocol.MethodIncr, idempotent: false,
			hash: keyschema.Hash(hashKey, sortKey),
			req: &protocol.IncrRequest{HashKey: hashKey, SortKey: sortKey, Increment: delta,
				ExpireSeconds: expire}, resp: &resp})
		return err
	})
	return resp.NewValue, err
}

// CheckAndSet checks the record (hashKey, checkSortKey) with checkType
// and checkOperand and, when the check passes, writes
// (hashKey, setSortKey) = setValue, atomically. When the check fails
// nothing is written and the error is ErrCheckFailed, returned together
// with the result (which carries the check value if asked for). Not
// idempotent; see Incr for the retry rule. opts may be nil.
func (t *Table) CheckAndSet(ctx context.Context, hashKey, checkSortKey []byte, checkType CheckType, checkOperand,
	setSortKey, setValue []byte, opts *CheckAndSetOptions) (*CheckResult, error) {
	var o CheckAndSetOptions
	if opts != nil {
		o = *opts
	}
	var resp protocol.CheckAndSetResponse
	var pidx int32
	var addr string
	err := t.run(ctx, opCheckAndSet, func(ctx context.Context) error {
		if err := t.checkArgs(opCheckAndSet, hashKey, checkType); err != nil {
			return err
		}
		secs, err := ttlSeconds(o.TTL)
		if err != nil {
			return t.argError(opCheckAndSet, err)
		}
		req := &protocol.CheckAndSetRequest{
			HashKey: hashKey, CheckSortKey: checkSortKey, CheckType: checkType, CheckOperand: checkOperand,
			SetDiffSortKey: !bytes.Equal(checkSortKey, setSortKey), SetValue: setValue, SetTTLSeconds: secs,
			ReturnCheckValue: o.ReturnCheckValue,
		}
		if req.SetDiffSortKey {
			req.SetSortKey = setSortKey
		}
		pidx, addr, err = t.do(ctx, call{op: opCheckAndSet, method: protocol.MethodCheckAndSet,
			hash: keyschema.Hash(hashKey, nil), req: req, resp: &resp})
		return err
	})
	if err != nil {
		return nil, err
	}
	return t.checkResult(opCheckAndSet, pidx, addr, &CheckResult{Passed: resp.CheckPassed,
		CheckValueReturned: resp.CheckValueReturned, CheckValueExist: resp.CheckValueExist, CheckValue: resp.CheckValue})
}

// CheckAndMutate checks the record (hashKey, checkSortKey) like
// CheckAndSet and, when the check passes, applies every mutation to
// hashKey atomically. A failed check is ErrCheckFailed with the result.
// Not idempotent; see Incr for the retry rule. opts may be nil.
func (t *Table) CheckAndMutate(ctx context.Context, hashKey, checkSortKey []byte, checkType CheckType, checkOperand []byte,
	mutations *Mutations, opts *CheckAndMutateOptions) (*CheckResult, error) {
	var o CheckAndMutateOptions
	if opts != nil {
		o = *opts
	}
	var resp protocol.CheckAndMutateResponse
	var pidx int32
	var addr string
	err := t.run(ctx, opCheckAndMutate, func(ctx context.Context) error {
		if err := t.checkArgs(opCheckAndMutate, hashKey, checkType); err != nil {
			return err
		}
		if mutations == nil || mutations.Len() == 0 {
			return t.argError(opCheckAndMutate, invalidArgf("no mutations"))
		}
		if mutations.err != nil {
			return t.argError(opCheckAndMutate, mutations.err)
		}
		var err error
		pidx, addr, err = t.do(ctx, call{op: opCheckAndMutate, method: protocol.MethodCheckAndMutate,
			hash: keyschema.Hash(hashKey, nil),
			req: &protocol.CheckAndMutateRequest{HashKey: hashKey, CheckSortKey: checkSortKey, CheckType: checkType,
				CheckOperand: checkOperand, Mutates: mutations.list, ReturnCheckValue: o.ReturnCheckValue},
			resp: &resp})
		return err
	})
	if err != nil {
		return nil, err
	}
	return t.checkResult(opCheckAndMutate, pidx, addr, &CheckResult{Passed: resp.CheckPassed,
		CheckValueReturned: resp.CheckValueReturned, CheckValueExist: resp.CheckValueExist, CheckValue: resp.CheckValue})
}

// checkArgs validates the arguments CheckAndSet and CheckAndMutate share.
func (t *Table) checkArgs(op string, hashKey []byte, checkType CheckType) error {
	if err := checkHashKey(hashKey); err != nil {
		return t.argError(op, err)
	}
	if !checkType.Valid() {
		return t.argError(op, invalidArgf("check type %d is unknown", checkType))
	}
	return nil
}

// checkResult returns res, with ErrCheckFailed (as an *OpError naming the
// partition and server that answered) when the check did not pass.
func (t *Table) checkResult(op string, pidx int32, addr string, res *CheckResult) (*CheckResult, error) {
	if !res.Passed {
		return res, &OpError{Op: op, Table: t.name, Partition: pidx, Addr: addr, Err: ErrCheckFailed}
	}
	return res, nil
}
