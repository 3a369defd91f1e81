package fakecluster

import (
	"bytes"
	"context"
	"math"
	"slices"
	"strconv"

	"github.com/pegasus-go/pegasus/shared/keyschema"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

// replicaService implements the Replica data methods for one node.
type replicaService struct{ n *node }

func notFound() error { return protocol.Errorf(protocol.CodeNotFound, "no record") }

func invalidArg(format string, args ...any) error {
	return protocol.Errorf(protocol.CodeInvalidArgument, format, args...)
}

// Get implements Replica.Get.
func (s *replicaService) Get(ctx context.Context, req *protocol.GetRequest, resp *protocol.GetResponse) error {
	return s.n.handle(ctx, protocol.MethodGet, req, true, func(p *partition) error {
		r, ok := p.get(req.HashKey, req.SortKey)
		if !ok {
			return notFound()
		}
		resp.Value = r.value
		return nil
	})
}

// Set implements Replica.Set.
func (s *replicaService) Set(ctx context.Context, req *protocol.SetRequest, resp *protocol.SetResponse) error {
	return s.n.handle(ctx, protocol.MethodSet, req, true, func(p *partition) error {
		return p.put(req.HashKey, req.SortKey, req.Value, req.TTLSeconds)
	})
}

// Del implements Replica.Del.
func (s *replicaService) Del(ctx context.Context, req *protocol.DelRequest, resp *protocol.DelResponse) error {
	return s.n.handle(ctx, protocol.MethodDel, req, true, func(p *partition) error {
		p.del(req.HashKey, req.SortKey)
		return nil
	})
}

// MultiGet implements Replica.MultiGet.
func (s *replicaService) MultiGet(ctx context.Context, req *protocol.MultiGetRequest, resp *protocol.MultiGetResponse) error {
	return s.n.handle(ctx, protocol.MethodMultiGet, req, true, func(p *partition) error {
		var recs []kv
		if len(req.SortKeys) > 0 {
			keys := slices.Clone(req.SortKeys)
			slices.SortFunc(keys, bytes.Compare)
			keys = slices.CompactFunc(keys, bytes.Equal)
			for _, sk := range keys {
				if r, ok := p.get(req.HashKey, sk); ok {
					recs = append(recs, kv{hk: req.HashKey, sk: sk, rec: r})
				}
			}
		} else {
			lower, upper, err := keyschema.SortKeyRange(req.HashKey, req.StartSortKey, req.StartInclusive, req.StopSortKey, req.StopInclusive)
			if err != nil {
				return invalidArg("%v", err)
			}
			if bytes.Compare(lower, upper) < 0 {
				recs = p.rangeOf(lower, upper)
			}
		}
		recs = slices.DeleteFunc(recs, func(r kv) bool { return !req.SortKeyFilter.Match(r.sk) })
		if req.Reverse {
			slices.Reverse(recs)
		}
		maxCount := int(req.MaxKVCount)
		if maxCount <= 0 {
			maxCount = p.c.opts.MultiGetMaxCount
		}
		size := 0
		resp.Complete = true
		for _, r := range recs {
			if len(resp.KVs) >= maxCount || (req.MaxKVSize > 0 && size >= int(req.MaxKVSize)) {
				resp.Complete = false
				break
			}
			v := r.rec.value
			if req.NoValue {
				v = nil
			}
			size += len(r.sk) + len(v)
			resp.KVs = append(resp.KVs, protocol.KeyValue{SortKey: r.sk, Value: v})
		}
		return nil
	})
}

// MultiSet implements Replica.MultiSet.
func (s *replicaService) MultiSet(ctx context.Context, req *protocol.MultiSetRequest, resp *protocol.MultiSetResponse) error {
	return s.n.handle(ctx, protocol.MethodMultiSet, req, true, func(p *partition) error {
		if len(req.KVs) == 0 {
			return invalidArg("no records")
		}
		for _, kv := range req.KVs {
			if err := p.put(req.HashKey, kv.SortKey, kv.Value, req.TTLSeconds); err != nil {
				return err
			}
		}
		return nil
	})
}

// MultiDel implements Replica.MultiDel.
func (s *replicaService) MultiDel(ctx context.Context, req *protocol.MultiDelRequest, resp *protocol.MultiDelResponse) error {
	return s.n.handle(ctx, protocol.MethodMultiDel, req, true, func(p *partition) error {
		for _, sk := range req.SortKeys {
			if p.del(req.HashKey, sk) {
				resp.Deleted++
			}
		}
		return nil
	})
}

// DelRange implements Replica.DelRange.
func (s *replicaService) DelRange(ctx context.Context, req *protocol.DelRangeRequest, resp *protocol.DelRangeResponse) error {
	return s.n.handle(ctx, protocol.MethodDelRange, req, true, func(p *partition) error {
		lower, upper, err := keyschema.SortKeyRange(req.HashKey, req.StartSortKey, req.StartInclusive, req.StopSortKey, req.StopInclusive)
		if err != nil {
			return invalidArg("%v", err)
		}
		if bytes.Compare(lower, upper) >= 0 {
			return nil
		}
		for _, r := range p.rangeOf(lower, upper) {
			if req.SortKeyFilter.Match(r.sk) {
				delete(p.data, r.key)
				resp.Deleted++
			}
		}
		return nil
	})
}

// SortKeyCount implements Replica.SortKeyCount.
func (s *replicaService) SortKeyCount(ctx context.Context, req *protocol.SortKeyCountRequest, resp *protocol.SortKeyCountResponse) error {
	return s.n.handle(ctx, protocol.MethodSortKeyCount, req, true, func(p *partition) error {
		lower, upper, err := keyschema.HashKeyRange(req.HashKey)
		if err != nil {
			return invalidArg("%v", err)
		}
		resp.Count = int64(len(p.rangeOf(lower, upper)))
		return nil
	})
}

// Exist implements Replica.Exist.
func (s *replicaService) Exist(ctx context.Context, req *protocol.ExistRequest, resp *protocol.ExistResponse) error {
	return s.n.handle(ctx, protocol.MethodExist, req, true, func(p *partition) error {
		_, resp.Exists = p.get(req.HashKey, req.SortKey)
		return nil
	})
}

// TTL implements Replica.TTL.
func (s *replicaService) TTL(ctx context.Context, req *protocol.TTLRequest, resp *protocol.TTLResponse) error {
	return s.n.handle(ctx, protocol.MethodTTL, req, true, func(p *partition) error {
		r, ok := p.get(req.HashKey, req.SortKey)
		switch {
		case !ok:
			resp.TTLSeconds = protocol.TTLMissing
		case r.expireTs == 0:
			resp.TTLSeconds = protocol.TTLNone
		default:
			resp.TTLSeconds = int32(keyschema.RemainingTTL(r.expireTs, p.now))
		}
		return nil
	})
}

// Incr implements Replica.Incr.
func (s *replicaService) Incr(ctx context.Context, req *protocol.IncrRequest, resp *protocol.IncrResponse) error {
	return s.n.handle(ctx, protocol.MethodIncr, req, true, func(p *partition) error {
		r, ok := p.get(req.HashKey, req.SortKey)
		var cur int64
		if ok && len(r.value) > 0 {
			v, err := strconv.ParseInt(string(r.value), 10, 64)
			if err != nil {
				return protocol.Errorf(protocol.CodeIncrOverflow, "value %q is not an integer", r.value)
			}
			cur = v
		}
		if (req.Increment > 0 && cur > math.MaxInt64-req.Increment) || (req.Increment < 0 && cur < math.MinInt64-req.Increment) {
			return protocol.Errorf(protocol.CodeIncrOverflow, "%d + %d overflows", cur, req.Increment)
		}
		next := cur + req.Increment
		k, err := keyschema.EncodeKey(req.HashKey, req.SortKey)
		if err != nil {
			return invalidArg("%v", err)
		}
		expire := r.expireTs
		switch {
		case req.ExpireSeconds > 0:
			expire = keyschema.ExpireTsFromTTL(int64(req.ExpireSeconds), p.now)
		case req.ExpireSeconds < 0:
			expire = 0
		}
		p.data[string(k)] = record{value: []byte(strconv.FormatInt(next, 10)), expireTs: expire}
		resp.NewValue = next
		return nil
	})
}

// check runs the check part of CheckAndSet / CheckAndMutate.
func (p *partition) check(hk, sk []byte, ct protocol.CheckType, operand []byte, returnValue bool,
	passed, returned, exist *bool, value *[]byte) error {
	r, ok := p.get(hk, sk)
	pass, err := ct.Evaluate(ok, r.value, operand)
	if err != nil {
		return err
	}
	*passed = pass
	if returnValue {
		*returned, *exist = true, ok
		if ok {
			*value = r.value
		}
	}
	return nil
}

// CheckAndSet implements Replica.CheckAndSet.
func (s *replicaService) CheckAndSet(ctx context.Context, req *protocol.CheckAndSetRequest, resp *protocol.CheckAndSetResponse) error {
	return s.n.handle(ctx, protocol.MethodCheckAndSet, req, true, func(p *partition) error {
		if err := p.check(req.HashKey, req.CheckSortKey, req.CheckType, req.CheckOperand, req.ReturnCheckValue,
			&resp.CheckPassed, &resp.CheckValueReturned, &resp.CheckValueExist, &resp.CheckValue); err != nil {
			return err
		}
		if !resp.CheckPassed {
			return nil
		}
		sk := req.CheckSortKey
		if req.SetDiffSortKey {
			sk = req.SetSortKey
		}
		return p.put(req.HashKey, sk, req.SetValue, req.SetTTLSeconds)
	})
}

// CheckAndMutate implements Replica.CheckAndMutate.
func (s *replicaService) CheckAndMutate(ctx context.Context, req *protocol.CheckAndMutateRequest, resp *protocol.CheckAndMutateResponse) error {
	return s.n.handle(ctx, protocol.MethodCheckAndMutate, req, true, func(p *partition) error {
		if len(req.Mutates) == 0 {
			return invalidArg("no mutations")
		}
		if err := p.check(req.HashKey, req.CheckSortKey, req.CheckType, req.CheckOperand, req.ReturnCheckValue,
			&resp.CheckPassed, &resp.CheckValueReturned, &resp.CheckValueExist, &resp.CheckValue); err != nil {
			return err
		}
		if !resp.CheckPassed {
			return nil
		}
		for _, m := range req.Mutates {
			if m.Operation == protocol.MutateDel {
				p.del(req.HashKey, m.SortKey)
				continue
			}
			if err := p.put(req.HashKey, m.SortKey, m.Value, m.TTLSeconds); err != nil {
				return err
			}
		}
		return nil
	})
}

// keyInPartition reports whether a key hashes to p's partition.
func (p *partition) keyInPartition(hk, sk []byte) bool {
	idx, err := keyschema.PartitionIndex(keyschema.Hash(hk, sk), p.t.app.PartitionCount)
	return err == nil && idx == p.pidx
}

// BatchGet implements Replica.BatchGet.
func (s *replicaService) BatchGet(ctx context.Context, req *protocol.BatchGetRequest, resp *protocol.BatchGetResponse) error {
	return s.n.handle(ctx, protocol.MethodBatchGet, req, true, func(p *partition) error {
		resp.Results = make([]protocol.BatchGetResult, len(req.Keys))
		for i, k := range req.Keys {
			switch r, ok := p.get(k.HashKey, k.SortKey); {
			case !p.keyInPartition(k.HashKey, k.SortKey):
				resp.Results[i].Code = protocol.CodeWrongPartition
			case !ok:
				resp.Results[i].Code = protocol.CodeNotFound
			default:
				resp.Results[i].Value = r.value
			}
		}
		return nil
	})
}

// BatchSet implements Replica.BatchSet.
func (s *replicaService) BatchSet(ctx context.Context, req *protocol.BatchSetRequest, resp *protocol.BatchSetResponse) error {
	return s.n.handle(ctx, protocol.MethodBatchSet, req, true, func(p *partition) error {
		resp.Codes = make([]protocol.ErrorCode, len(req.Items))
		for i, it := range req.Items {
			if !p.keyInPartition(it.HashKey, it.SortKey) {
				resp.Codes[i] = protocol.CodeWrongPartition
				continue
			}
			if err := p.put(it.HashKey, it.SortKey, it.Value, it.TTLSeconds); err != nil {
				resp.Codes[i] = protocol.CodeOf(err)
			}
		}
		return nil
	})
}

// scanContext is an open scan: the records still to return.
type scanContext struct {
	gpid  protocol.Gpid
	items []protocol.ScanItem
	batch int
}

// nextBatch pops up to one batch.
func (sc *scanContext) nextBatch() ([]protocol.ScanItem, bool) {
	n := min(sc.batch, len(sc.items))
	out := sc.items[:n]
	sc.items = sc.items[n:]
	return out, len(sc.items) == 0
}

// ScanOpen implements Replica.ScanOpen.
func (s *replicaService) ScanOpen(ctx context.Context, req *protocol.ScanOpenRequest, resp *protocol.ScanOpenResponse) error {
	return s.n.handle(ctx, protocol.MethodScanOpen, req, !req.FullPartition, func(p *partition) error {
		lower, upper := keyschema.DataLowerBound(), []byte(nil)
		if !req.FullPartition {
			if len(req.StartHashKey) > 0 || len(req.StartSortKey) > 0 {
				k, err := keyschema.LowerBound(req.StartHashKey, req.StartSortKey, req.StartInclusive)
				if err != nil {
					return invalidArg("%v", err)
				}
				lower = k
			}
			if len(req.StopHashKey) > 0 || len(req.StopSortKey) > 0 {
				k, err := keyschema.UpperBound(req.StopHashKey, req.StopSortKey, req.StopInclusive)
				if err != nil {
					return invalidArg("%v", err)
				}
				upper = k
			}
		}
		sc := &scanContext{gpid: req.Header.Gpid, batch: int(req.BatchSize)}
		if sc.batch <= 0 {
			sc.batch = p.c.opts.ScanBatchSize
		}
		for _, r := range p.rangeOf(lower, upper) {
			if !req.HashKeyFilter.Match(r.hk) || !req.SortKeyFilter.Match(r.sk) {
				continue
			}
			it := protocol.ScanItem{HashKey: r.hk, SortKey: r.sk, Value: r.rec.value, ExpireTs: r.rec.expireTs}
			if req.NoValue {
				it.Value = nil
			}
			sc.items = append(sc.items, it)
		}
		items, done := sc.nextBatch()
		resp.Items, resp.Done = items, done
		if !done {
			p.c.mu.nextScanID++
			resp.ContextID = p.c.mu.nextScanID
			p.c.mu.scans[resp.ContextID] = sc
		}
		return nil
	})
}

// ScanNext implements Replica.ScanNext.
func (s *replicaService) ScanNext(ctx context.Context, req *protocol.ScanNextRequest, resp *protocol.ScanNextResponse) error {
	return s.n.handle(ctx, protocol.MethodScanNext, req, false, func(p *partition) error {
		sc, ok := p.c.mu.scans[req.ContextID]
		if !ok || sc.gpid != req.Header.Gpid {
			return protocol.Errorf(protocol.CodeNotFound, "scan context not found or expired")
		}
		resp.Items, resp.Done = sc.nextBatch()
		if resp.Done {
			delete(p.c.mu.scans, req.ContextID)
		}
		return nil
	})
}

// ScanClose implements Replica.ScanClose.
func (s *replicaService) ScanClose(ctx context.Context, req *protocol.ScanCloseRequest, resp *protocol.ScanCloseResponse) error {
	return s.n.handle(ctx, protocol.MethodScanClose, req, false, func(p *partition) error {
		delete(p.c.mu.scans, req.ContextID)
		return nil
	})
}
