package server

import (
	"bytes"
	"context"
	"errors"
	"time"

	"github.com/pegasus-go/pegasus/replicaserver/internal/storage"
	"github.com/pegasus-go/pegasus/shared/keyschema"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

// dataService is the rpcx receiver of service Replica, the client data API.
// Every method has the shape rpc.Server.Register expects; nothing else may
// be a method of it.
type dataService struct{ s *Server }

// serve runs one data request: it finds the replica (CodeObjectNotFound if
// this server does not hold the header's partition), applies the
// request's own timeout, runs fn and records the metrics.
func (s *Server) serve(ctx context.Context, o op, h *protocol.RequestHeader, fn func(context.Context, *entry) error) error {
	start := time.Now()
	e, err := s.lookup(h.Gpid)
	if err != nil {
		s.metrics.rejected(nil, h.Gpid.AppID, o, err)
		return err
	}
	if err := denied(e, o); err != nil {
		s.metrics.rejected(e.metrics, e.gpid.AppID, o, err)
		return err
	}
	if h.TimeoutMs > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(h.TimeoutMs)*time.Millisecond)
		defer cancel()
	}
	err = fn(ctx, e)
	e.metrics.done(o, start)
	if err != nil {
		s.metrics.rejected(e.metrics, e.gpid.AppID, o, err)
	}
	return err
}

// write hands a validated request to the replica and copies its response
// into resp.
func write[T any](ctx context.Context, e *entry, opc protocol.OpCode, req protocol.Message, resp *T) error {
	out, err := e.r.Write(ctx, opc, req)
	if err != nil {
		return err
	}
	r, ok := any(out).(*T)
	if !ok || r == nil {
		return protocol.Errorf(protocol.CodeInternal, "replica %s answered %T to a %T", e.gpid, out, req)
	}
	*resp = *r
	return nil
}

// Get reads one record; a missing record is CodeNotFound.
func (d *dataService) Get(ctx context.Context, req *protocol.GetRequest, resp *protocol.GetResponse) error {
	return d.s.serve(ctx, opGet, &req.Header, func(_ context.Context, e *entry) error {
		if err := checkKey(e, &req.Header, req.HashKey); err != nil {
			return err
		}
		eng, err := e.r.Engine()
		if err != nil {
			return err
		}
		v, err := eng.Get(req.HashKey, req.SortKey)
		if err != nil {
			return err
		}
		resp.Value = v
		return nil
	})
}

// Set writes one record.
func (d *dataService) Set(ctx context.Context, req *protocol.SetRequest, resp *protocol.SetResponse) error {
	return d.s.serve(ctx, opPut, &req.Header, func(ctx context.Context, e *entry) error {
		if err := d.s.checkWrite(e, &req.Header, req.HashKey, size(req.HashKey, req.SortKey, req.Value)); err != nil {
			return err
		}
		return write(ctx, e, protocol.OpPut, req, resp)
	})
}

// Del deletes one record.
func (d *dataService) Del(ctx context.Context, req *protocol.DelRequest, resp *protocol.DelResponse) error {
	return d.s.serve(ctx, opRemove, &req.Header, func(ctx context.Context, e *entry) error {
		if err := d.s.checkWrite(e, &req.Header, req.HashKey, size(req.HashKey, req.SortKey)); err != nil {
			return err
		}
		return write(ctx, e, protocol.OpRemove, req, resp)
	})
}

// MultiGet reads several records of one hashkey.
func (d *dataService) MultiGet(ctx context.Context, req *protocol.MultiGetRequest, resp *protocol.MultiGetResponse) error {
	return d.s.serve(ctx, opMultiGet, &req.Header, func(_ context.Context, e *entry) error {
		if err := checkKey(e, &req.Header, req.HashKey); err != nil {
			return err
		}
		eng, err := e.r.Engine()
		if err != nil {
			return err
		}
		res, err := eng.MultiGet(req.HashKey, storage.MultiGetOptions{
			SortKeys: req.SortKeys, StartSortKey: req.StartSortKey, StopSortKey: req.StopSortKey,
			StartInclusive: req.StartInclusive, StopInclusive: req.StopInclusive, SortKeyFilter: req.SortKeyFilter,
			MaxKVCount: req.MaxKVCount, MaxKVSize: req.MaxKVSize, Reverse: req.Reverse, NoValue: req.NoValue,
		})
		if err != nil {
			return err
		}
		resp.KVs, resp.Complete = res.KVs, res.Complete
		return nil
	})
}

// MultiSet writes several records of one hashkey atomically.
func (d *dataService) MultiSet(ctx context.Context, req *protocol.MultiSetRequest, resp *protocol.MultiSetResponse) error {
	return d.s.serve(ctx, opMultiPut, &req.Header, func(ctx context.Context, e *entry) error {
		if err := d.s.checkWrite(e, &req.Header, req.HashKey, size(req.HashKey)+kvSize(req.KVs)); err != nil {
			return err
		}
		return write(ctx, e, protocol.OpMultiPut, req, resp)
	})
}

// MultiDel deletes several records of one hashkey atomically.
func (d *dataService) MultiDel(ctx context.Context, req *protocol.MultiDelRequest, resp *protocol.MultiDelResponse) error {
	return d.s.serve(ctx, opMultiRemove, &req.Header, func(ctx context.Context, e *entry) error {
		if err := d.s.checkWrite(e, &req.Header, req.HashKey, size(req.HashKey)+keysSize(req.SortKeys)); err != nil {
			return err
		}
		return write(ctx, e, protocol.OpMultiRemove, req, resp)
	})
}

// DelRange deletes a sortkey range of one hashkey.
func (d *dataService) DelRange(ctx context.Context, req *protocol.DelRangeRequest, resp *protocol.DelRangeResponse) error {
	return d.s.serve(ctx, opDelRange, &req.Header, func(ctx context.Context, e *entry) error {
		n := size(req.HashKey, req.StartSortKey, req.StopSortKey, req.SortKeyFilter.Pattern)
		if err := d.s.checkWrite(e, &req.Header, req.HashKey, n); err != nil {
			return err
		}
		return write(ctx, e, protocol.OpDelRange, req, resp)
	})
}

// SortKeyCount counts the records of one hashkey.
func (d *dataService) SortKeyCount(ctx context.Context, req *protocol.SortKeyCountRequest, resp *protocol.SortKeyCountResponse) error {
	return d.s.serve(ctx, opSortKeyCount, &req.Header, func(_ context.Context, e *entry) error {
		if err := checkKey(e, &req.Header, req.HashKey); err != nil {
			return err
		}
		eng, err := e.r.Engine()
		if err != nil {
			return err
		}
		n, err := eng.SortKeyCount(req.HashKey)
		resp.Count = n
		return err
	})
}

// Exist reports whether a record exists.
func (d *dataService) Exist(ctx context.Context, req *protocol.ExistRequest, resp *protocol.ExistResponse) error {
	return d.s.serve(ctx, opExist, &req.Header, func(_ context.Context, e *entry) error {
		if err := checkKey(e, &req.Header, req.HashKey); err != nil {
			return err
		}
		eng, err := e.r.Engine()
		if err != nil {
			return err
		}
		ok, err := eng.Exist(req.HashKey, req.SortKey)
		resp.Exists = ok
		return err
	})
}

// TTL returns a record's remaining TTL (-1: none; a missing record is
// CodeNotFound).
func (d *dataService) TTL(ctx context.Context, req *protocol.TTLRequest, resp *protocol.TTLResponse) error {
	return d.s.serve(ctx, opTTL, &req.Header, func(_ context.Context, e *entry) error {
		if err := checkKey(e, &req.Header, req.HashKey); err != nil {
			return err
		}
		eng, err := e.r.Engine()
		if err != nil {
			return err
		}
		// A missing record answers TTLMissing (-2), not an error, as the
		// protocol documents; the client turns it into ErrNotFound.
		ttl, err := eng.TTL(req.HashKey, req.SortKey)
		if err != nil {
			return err
		}
		resp.TTLSeconds = ttl
		return nil
	})
}

// Incr adds to an integer record.
func (d *dataService) Incr(ctx context.Context, req *protocol.IncrRequest, resp *protocol.IncrResponse) error {
	return d.s.serve(ctx, opIncr, &req.Header, func(ctx context.Context, e *entry) error {
		if err := d.s.checkWrite(e, &req.Header, req.HashKey, size(req.HashKey, req.SortKey)); err != nil {
			return err
		}
		return write(ctx, e, protocol.OpIncr, req, resp)
	})
}

// CheckAndSet sets a record if a check on a record of the same hashkey
// passes.
func (d *dataService) CheckAndSet(ctx context.Context, req *protocol.CheckAndSetRequest, resp *protocol.CheckAndSetResponse) error {
	return d.s.serve(ctx, opCheckAndSet, &req.Header, func(ctx context.Context, e *entry) error {
		n := size(req.HashKey, req.CheckSortKey, req.CheckOperand, req.SetSortKey, req.SetValue)
		if err := d.s.checkWrite(e, &req.Header, req.HashKey, n); err != nil {
			return err
		}
		return write(ctx, e, protocol.OpCheckAndSet, req, resp)
	})
}

// CheckAndMutate applies mutations to a hashkey if a check passes.
func (d *dataService) CheckAndMutate(ctx context.Context, req *protocol.CheckAndMutateRequest, resp *protocol.CheckAndMutateResponse) error {
	return d.s.serve(ctx, opCheckAndMutate, &req.Header, func(ctx context.Context, e *entry) error {
		n := size(req.HashKey, req.CheckSortKey, req.CheckOperand)
		for i := range req.Mutates {
			n += size(req.Mutates[i].SortKey, req.Mutates[i].Value)
		}
		if err := d.s.checkWrite(e, &req.Header, req.HashKey, n); err != nil {
			return err
		}
		return write(ctx, e, protocol.OpCheckAndMutate, req, resp)
	})
}

// ScanOpen opens a scan context and returns its first batch. A scan that
// is not FullPartition must address the partition of its start hashkey
// (when given); the stop bound is (StopHashKey, StopSortKey), where an
// empty StopSortKey runs to the end of StopHashKey and both empty run to
// the end of the partition.
func (d *dataService) ScanOpen(ctx context.Context, req *protocol.ScanOpenRequest, resp *protocol.ScanOpenResponse) error {
	return d.s.serve(ctx, opScan, &req.Header, func(_ context.Context, e *entry) error {
		opts, err := scanOptions(e, req)
		if err != nil {
			return err
		}
		eng, err := e.r.Engine()
		if err != nil {
			return err
		}
		scans := eng.Scans()
		id, err := scans.Open(opts)
		if err != nil {
			return err
		}
		b, err := scans.Next(id)
		if err != nil {
			scans.Close(id)
			return scanErr(err)
		}
		resp.ContextID, resp.Items, resp.Done = int64(id), scanItems(b.Records), b.Done
		return nil
	})
}

// scanOptions validates a ScanOpenRequest and turns its bounds into
// storage keys.
func scanOptions(e *entry, req *protocol.ScanOpenRequest) (storage.ScanOptions, error) {
	o := storage.ScanOptions{
		HashKeyFilter: req.HashKeyFilter, SortKeyFilter: req.SortKeyFilter,
		BatchSize: int(req.BatchSize), NoValue: req.NoValue,
	}
	if req.FullPartition {
		return o, nil
	}
	for _, hk := range [][]byte{req.StartHashKey, req.StopHashKey} {
		if len(hk) > keyschema.MaxHashKeyLen {
			return o, protocol.Errorf(protocol.CodeInvalidArgument, "hashkey of %d bytes exceeds the limit of %d bytes",
				len(hk), keyschema.MaxHashKeyLen)
		}
	}
	if err := checkHeader(e, &req.Header); err != nil {
		return o, err
	}
	if len(req.StartHashKey) > 0 {
		if err := checkKeyPartition(e, req.StartHashKey, nil); err != nil {
			return o, err
		}
	}
	var err error
	if len(req.StartHashKey) > 0 || len(req.StartSortKey) > 0 {
		if o.StartKey, err = keyschema.EncodeKey(req.StartHashKey, req.StartSortKey); err != nil {
			return o, protocol.Errorf(protocol.CodeInvalidArgument, "%v", err)
		}
		o.StartInclusive = req.StartInclusive
	}
	switch {
	case len(req.StopSortKey) > 0:
		if o.StopKey, err = keyschema.EncodeKey(req.StopHashKey, req.StopSortKey); err != nil {
			return o, protocol.Errorf(protocol.CodeInvalidArgument, "%v", err)
		}
		o.StopInclusive = req.StopInclusive
	case len(req.StopHashKey) > 0:
		_, upper, err := keyschema.HashKeyRange(req.StopHashKey)
		if err != nil {
			return o, protocol.Errorf(protocol.CodeInvalidArgument, "%v", err)
		}
		o.StopKey = upper
	}
	return o, nil
}

func scanItems(recs []storage.ScanRecord) []protocol.ScanItem {
	if len(recs) == 0 {
		return nil
	}
	out := make([]protocol.ScanItem, len(recs))
	for i, r := range recs {
		out[i] = protocol.ScanItem{HashKey: r.HashKey, SortKey: r.SortKey, Value: r.Value, ExpireTs: r.ExpireTs}
	}
	return out
}

// scanErr reports an unknown or expired scan context as
// CodeObjectNotFound, as the protocol documents.
func scanErr(err error) error {
	if errors.Is(err, storage.ErrScanNotFound) {
		return protocol.Errorf(protocol.CodeObjectNotFound, "scan context not found or expired")
	}
	return err
}

// ScanNext returns the next batch of a scan context.
func (d *dataService) ScanNext(ctx context.Context, req *protocol.ScanNextRequest, resp *protocol.ScanNextResponse) error {
	return d.s.serve(ctx, opScan, &req.Header, func(_ context.Context, e *entry) error {
		eng, err := e.r.Engine()
		if err != nil {
			return err
		}
		b, err := eng.Scans().Next(storage.ScanID(req.ContextID))
		if err != nil {
			return scanErr(err)
		}
		resp.Items, resp.Done = scanItems(b.Records), b.Done
		return nil
	})
}

// ScanClose releases a scan context; an unknown one is not an error.
func (d *dataService) ScanClose(ctx context.Context, req *protocol.ScanCloseRequest, _ *protocol.ScanCloseResponse) error {
	return d.s.serve(ctx, opScanClose, &req.Header, func(_ context.Context, e *entry) error {
		eng, err := e.r.Engine()
		if err != nil {
			return err
		}
		eng.Scans().Close(storage.ScanID(req.ContextID))
		return nil
	})
}

// BatchGet reads records of several hashkeys of one partition at one
// snapshot. Keys that fail validation get their own code (CodeInvalidArgument
// for a bad hashkey, CodeWrongPartition for a key of another partition).
func (d *dataService) BatchGet(ctx context.Context, req *protocol.BatchGetRequest, resp *protocol.BatchGetResponse) error {
	return d.s.serve(ctx, opBatchGet, &req.Header, func(_ context.Context, e *entry) error {
		if err := checkHeader(e, &req.Header); err != nil {
			return err
		}
		results := make([]protocol.BatchGetResult, len(req.Keys))
		var keys []storage.FullKey
		var idx []int
		for i, k := range req.Keys {
			if c := itemCode(e, k.HashKey, k.SortKey); c != protocol.CodeOK {
				results[i].Code = c
				continue
			}
			keys = append(keys, storage.FullKey{HashKey: k.HashKey, SortKey: k.SortKey})
			idx = append(idx, i)
		}
		if len(keys) > 0 {
			eng, err := e.r.Engine()
			if err != nil {
				return err
			}
			found, err := eng.BatchGet(keys)
			if err != nil {
				return err
			}
			// found is the subsequence of keys that exist, in order.
			j := 0
			for n, k := range keys {
				i := idx[n]
				if j < len(found) && bytes.Equal(found[j].HashKey, k.HashKey) && bytes.Equal(found[j].SortKey, k.SortKey) {
					results[i] = protocol.BatchGetResult{Code: protocol.CodeOK, Value: found[j].Value}
					j++
				} else {
					results[i].Code = protocol.CodeNotFound
				}
			}
		}
		resp.Results = results
		return nil
	})
}

// BatchSet writes records of several hashkeys of one partition in one
// mutation. Items that fail validation get their own code and are not
// written; the others are written atomically.
func (d *dataService) BatchSet(ctx context.Context, req *protocol.BatchSetRequest, resp *protocol.BatchSetResponse) error {
	return d.s.serve(ctx, opBatchSet, &req.Header, func(ctx context.Context, e *entry) error {
		var n int64
		for i := range req.Items {
			n += size(req.Items[i].HashKey, req.Items[i].SortKey, req.Items[i].Value)
		}
		if err := d.s.checkWriteSize(n); err != nil {
			return err
		}
		if err := checkHeader(e, &req.Header); err != nil {
			return err
		}
		codes := make([]protocol.ErrorCode, len(req.Items))
		valid := &protocol.BatchSetRequest{Header: req.Header}
		var idx []int
		for i, it := range req.Items {
			if c := itemCode(e, it.HashKey, it.SortKey); c != protocol.CodeOK {
				codes[i] = c
				continue
			}
			valid.Items = append(valid.Items, it)
			idx = append(idx, i)
		}
		resp.Codes = codes
		if len(valid.Items) == 0 {
			return nil
		}
		var out protocol.BatchSetResponse
		if err := write(ctx, e, protocol.OpMultiPut, valid, &out); err != nil {
			return err
		}
		if len(out.Codes) != len(valid.Items) {
			return protocol.Errorf(protocol.CodeInternal, "replica %s answered %d codes for %d items",
				e.gpid, len(out.Codes), len(valid.Items))
		}
		for n, i := range idx {
			codes[i] = out.Codes[n]
		}
		resp.Decree = out.Decree
		return nil
	})
}
