package storage

import (
	"errors"
	"time"

	"github.com/cockroachdb/pebble"
	"github.com/pegasus-go/pegasus/shared/keyschema"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

// Last-writer-wins for duplicated tables.
//
// Every stored value carries a timetag (keyschema.PackTimetag): the write's
// timestamp, the cluster id of the cluster the write was made in, and a
// delete flag. In a write batch with WriteOptions.DupTimetags every write,
// local or duplicated, resolves against the record stored under its key,
// tombstones and expired records included:
//
//	write applies  <=>  (ts, cluster id) of the write >= (ts, cluster id) stored
//
// compared as one number, timestamp first, then cluster id; the delete
// flag takes no part. A local write's timetag is the mutation's timestamp
// with this cluster's id, exactly the timetag the duplicator ships for it,
// so the decision is the same in every cluster and two masters applying
// each other's writes in any order end with the same records. Equal
// timetags only come from one mutation of one cluster (a primary gives
// duplicated mutations strictly increasing timestamps), whose writes are
// applied in order everywhere, so the later one wins everywhere.
//
// A local write loses only against a duplicated write with a larger
// timestamp that was applied after the local write was proposed: the
// primary proposes writes with a timestamp above Engine.LastTimestampUs,
// which covers every duplicated entry applied before.

// timetagWins reports whether a write with timetag w applies over a stored
// record with timetag stored.
func timetagWins(w, stored uint64) bool { return w>>1 >= stored>>1 }

// wins reports whether the batch's current timetag wins against the record
// stored at key, seen through the batch (a write to an absent key wins).
func (b *WriteBatch) wins(key []byte) (bool, error) {
	raw, closer, err := b.b.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return true, nil
	}
	if err != nil {
		return false, ioError("get", err)
	}
	defer closer.Close()
	h, _, err := decodeStored(key, raw)
	if err != nil {
		return false, err
	}
	return timetagWins(b.timetag, h.Timetag), nil
}

// ApplyDuplicate applies one entry another cluster's duplicator shipped:
// req is the entry's decoded body (entry.Op OpPut: *protocol.SetRequest;
// OpMultiPut: *protocol.MultiSetRequest or *protocol.BatchSetRequest;
// OpRemove: *protocol.DelRequest; OpMultiRemove: *protocol.MultiDelRequest;
// OpDelRange: *protocol.DelRangeRequest). Each record it writes resolves
// last-writer-wins with the timetag (entry.TimestampUs, entry.ClusterID);
// TTLs count from entry.TimestampUs, so every cluster computes the same
// expiry. Deletes leave tombstones. applied reports whether the entry
// changed at least one record (false: newer data won everywhere).
//
// The batch must have been opened with WriteOptions.DupTimetags
// (CodeInvalidState otherwise). Another op, a request of the wrong type, a
// timestamp or cluster id out of the timetag's range, or a request that
// cannot be applied (negative TTL, empty multi_set, oversized hashkey...)
// is CodeInvalidArgument and changes nothing.
func (b *WriteBatch) ApplyDuplicate(entry protocol.DuplicateEntry, req protocol.Message) (applied bool, err error) {
	if err := b.begin(); err != nil {
		return false, err
	}
	defer b.e.release()
	if !b.dup {
		return false, protocol.Errorf(protocol.CodeInvalidState, "duplicated entry in a write batch without DupTimetags")
	}
	if entry.TimestampUs < 0 {
		return false, protocol.Errorf(protocol.CodeInvalidArgument, "duplicated entry with negative timestamp %d", entry.TimestampUs)
	}
	tag, err := keyschema.PackTimetag(uint64(entry.TimestampUs), entry.ClusterID, false)
	if err != nil {
		return false, protocol.Errorf(protocol.CodeInvalidArgument, "duplicated entry: %v", err)
	}
	if err := validateDuplicate(entry.Op, req); err != nil {
		return false, err
	}
	now, nowEpoch, own := b.now, b.nowEpoch, b.timetag
	defer func() { b.now, b.nowEpoch, b.timetag = now, nowEpoch, own }()
	b.now = time.UnixMicro(entry.TimestampUs)
	b.nowEpoch = keyschema.EpochSeconds(b.now)
	b.timetag = tag
	b.maxTs = max(b.maxTs, entry.TimestampUs)

	switch r := req.(type) {
	case *protocol.SetRequest:
		key, err := encodeKey(r.HashKey, r.SortKey)
		if err != nil {
			return false, err
		}
		return b.put(key, r.Value, b.expireTs(int64(r.TTLSeconds)))
	case *protocol.MultiSetRequest:
		exp := b.expireTs(int64(r.TTLSeconds))
		for _, kv := range r.KVs {
			key, err := encodeKey(r.HashKey, kv.SortKey)
			if err != nil {
				return false, err
			}
			w, err := b.put(key, kv.Value, exp)
			if err != nil {
				return false, err
			}
			applied = applied || w
		}
		return applied, nil
	case *protocol.BatchSetRequest:
		for _, it := range r.Items {
			key, err := encodeKey(it.HashKey, it.SortKey)
			if err != nil {
				return false, err
			}
			w, err := b.put(key, it.Value, b.expireTs(int64(it.TTLSeconds)))
			if err != nil {
				return false, err
			}
			applied = applied || w
		}
		return applied, nil
	case *protocol.DelRequest:
		key, err := encodeKey(r.HashKey, r.SortKey)
		if err != nil {
			return false, err
		}
		return b.del(key)
	case *protocol.MultiDelRequest:
		for _, sk := range r.SortKeys {
			key, err := encodeKey(r.HashKey, sk)
			if err != nil {
				return false, err
			}
			d, err := b.del(key)
			if err != nil {
				return false, err
			}
			applied = applied || d
		}
		return applied, nil
	case *protocol.DelRangeRequest:
		_, written, err := b.delRange(r.HashKey, DelRangeOptions{
			StartSortKey: r.StartSortKey, StopSortKey: r.StopSortKey,
			StartInclusive: r.StartInclusive, StopInclusive: r.StopInclusive,
			SortKeyFilter: r.SortKeyFilter,
		})
		return written > 0, err
	}
	return false, protocol.Errorf(protocol.CodeInternal, "no duplicate apply for %T", req)
}

// validateDuplicate checks the op / request pairing of a duplicated entry
// and everything that would make it fail half-way.
func validateDuplicate(op protocol.OpCode, req protocol.Message) error {
	bad := func() error {
		return protocol.Errorf(protocol.CodeInvalidArgument, "duplicated %s entry with a %T request", op.String(), req)
	}
	hk := func(h []byte) error {
		if len(h) > keyschema.MaxHashKeyLen {
			return protocol.Errorf(protocol.CodeInvalidArgument, "hashkey of %d bytes exceeds %d", len(h), keyschema.MaxHashKeyLen)
		}
		return nil
	}
	switch op {
	case protocol.OpPut:
		r, ok := req.(*protocol.SetRequest)
		if !ok {
			return bad()
		}
		if err := validateTTL(r.TTLSeconds); err != nil {
			return err
		}
		return hk(r.HashKey)
	case protocol.OpMultiPut:
		switch r := req.(type) {
		case *protocol.MultiSetRequest:
			if len(r.KVs) == 0 {
				return protocol.Errorf(protocol.CodeInvalidArgument, "multi_set without records")
			}
			if err := validateTTL(r.TTLSeconds); err != nil {
				return err
			}
			return hk(r.HashKey)
		case *protocol.BatchSetRequest:
			if len(r.Items) == 0 {
				return protocol.Errorf(protocol.CodeInvalidArgument, "batch_set without records")
			}
			for _, it := range r.Items {
				if err := validateTTL(it.TTLSeconds); err != nil {
					return err
				}
				if err := hk(it.HashKey); err != nil {
					return err
				}
			}
			return nil
		}
		return bad()
	case protocol.OpRemove:
		r, ok := req.(*protocol.DelRequest)
		if !ok {
			return bad()
		}
		return hk(r.HashKey)
	case protocol.OpMultiRemove:
		r, ok := req.(*protocol.MultiDelRequest)
		if !ok {
			return bad()
		}
		if len(r.SortKeys) == 0 {
			return protocol.Errorf(protocol.CodeInvalidArgument, "multi_del without sortkeys")
		}
		return hk(r.HashKey)
	case protocol.OpDelRange:
		r, ok := req.(*protocol.DelRangeRequest)
		if !ok {
			return bad()
		}
		if err := validateFilter("sortkey", r.SortKeyFilter); err != nil {
			return err
		}
		return hk(r.HashKey)
	}
	return protocol.Errorf(protocol.CodeInvalidArgument, "op %s cannot be duplicated", op.String())
}
