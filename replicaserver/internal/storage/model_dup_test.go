package storage

import (
	"bytes"
	"errors"
	"time"

	"github.com/cockroachdb/pebble"
	"github.com/pegasus-go/pegasus/shared/keyschema"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

// The duplication side of the differential test: batches with
// DupTimetags, duplicated entries from other clusters, tombstones and
// their reaping.

const (
	modelClusterID          = 1
	modelTombstoneRetention = 5e9 // 5s, so the run reclaims tombstones
)

// delRange is DelRange in the model; it returns the visible records
// deleted and the records written.
func (m *model) delRange(hk string, o DelRangeOptions, c wctx) (visible int64, written int) {
	for _, k := range m.sortedKeys() {
		khk, ksk := splitKey(k)
		if khk != hk || !inSortRange(ksk, string(o.StartSortKey), o.StartInclusive, string(o.StopSortKey), o.StopInclusive) || !filterOK(o.SortKeyFilter, ksk) {
			continue
		}
		_, ok := m.visible(k, c.now)
		if m.del(k, c) {
			written++
			if ok {
				visible++
			}
		}
	}
	return visible, written
}

// duplicateOp applies a random duplicated entry: a write another cluster
// made a little before or after the batch's time.
func (h *harness) duplicateOp(wb *WriteBatch, m *model, dup bool) {
	skew := []int64{-3e6, -1e6, -1, 0, 1, 2e6}[h.c.intn(6)]
	e := protocol.DuplicateEntry{TimestampUs: h.clock.UnixMicro() + skew, ClusterID: uint8(1 + h.c.intn(3))}
	hk := h.pick(genHashKeys)
	var req protocol.Message
	switch h.c.intn(6) {
	case 0:
		e.Op = protocol.OpPut
		req = &protocol.SetRequest{HashKey: []byte(hk), SortKey: []byte(h.pick(genSortKeys)), Value: []byte(h.pick(genValues)), TTLSeconds: h.ttl()}
	case 1:
		e.Op = protocol.OpMultiPut
		r := &protocol.MultiSetRequest{HashKey: []byte(hk), TTLSeconds: h.ttl()}
		for range 1 + h.c.intn(3) {
			r.KVs = append(r.KVs, protocol.KeyValue{SortKey: []byte(h.pick(genSortKeys)), Value: []byte(h.pick(genValues))})
		}
		req = r
	case 2:
		e.Op = protocol.OpMultiPut
		r := &protocol.BatchSetRequest{}
		for range 1 + h.c.intn(3) {
			r.Items = append(r.Items, protocol.BatchSetItem{HashKey: []byte(h.pick(genHashKeys)), SortKey: []byte(h.pick(genSortKeys)),
				Value: []byte(h.pick(genValues)), TTLSeconds: h.ttl()})
		}
		req = r
	case 3:
		e.Op = protocol.OpRemove
		req = &protocol.DelRequest{HashKey: []byte(hk), SortKey: []byte(h.pick(genSortKeys))}
	case 4:
		e.Op = protocol.OpMultiRemove
		r := &protocol.MultiDelRequest{HashKey: []byte(hk)}
		for range 1 + h.c.intn(3) {
			r.SortKeys = append(r.SortKeys, []byte(h.pick(genSortKeys)))
		}
		req = r
	default:
		e.Op = protocol.OpDelRange
		req = &protocol.DelRangeRequest{HashKey: []byte(hk), StartSortKey: []byte(h.pick(genSortKeys)), StopSortKey: []byte(h.pick(genSortKeys)),
			StartInclusive: h.bool(), StopInclusive: h.bool(), SortKeyFilter: h.filter()}
	}
	h.note("duplicate ts=%d cluster=%d %s %+v", e.TimestampUs, e.ClusterID, e.Op, req)
	applied, err := wb.ApplyDuplicate(e, req)
	if !dup {
		h.codeCheck("duplicate without DupTimetags", err, protocol.CodeInvalidState)
		return
	}
	h.codeCheck("duplicate", err, protocol.CodeOK)
	tag, _ := keyschema.PackTimetag(uint64(e.TimestampUs), e.ClusterID, false)
	eNow := keyschema.EpochSeconds(time.UnixMicro(e.TimestampUs))
	c := wctx{now: eNow, tag: tag, dup: true}
	m.maxTs = max(m.maxTs, e.TimestampUs)
	want := false
	switch r := req.(type) {
	case *protocol.SetRequest:
		want = m.put(mkey(hk, string(r.SortKey)), r.Value, m.expFor(int64(r.TTLSeconds), eNow), c)
	case *protocol.MultiSetRequest:
		for _, kv := range r.KVs {
			want = m.put(mkey(hk, string(kv.SortKey)), kv.Value, m.expFor(int64(r.TTLSeconds), eNow), c) || want
		}
	case *protocol.BatchSetRequest:
		for _, it := range r.Items {
			want = m.put(mkey(string(it.HashKey), string(it.SortKey)), it.Value, m.expFor(int64(it.TTLSeconds), eNow), c) || want
		}
	case *protocol.DelRequest:
		want = m.del(mkey(hk, string(r.SortKey)), c)
	case *protocol.MultiDelRequest:
		for _, sk := range r.SortKeys {
			want = m.del(mkey(hk, string(sk)), c) || want
		}
	case *protocol.DelRangeRequest:
		_, n := m.delRange(hk, DelRangeOptions{StartSortKey: r.StartSortKey, StopSortKey: r.StopSortKey,
			StartInclusive: r.StartInclusive, StopInclusive: r.StopInclusive, SortKeyFilter: r.SortKeyFilter}, c)
		want = n > 0
	}
	if applied != want {
		h.fatalf("duplicate applied=%v, model %v", applied, want)
	}
}

// syncReaped checks the engine's raw records (tombstones and expired ones
// included) against the model after a reaper step: every engine record
// must be the model's, and every model record the engine lost must have
// been reclaimable (expired at now - DefaultReapGrace, or a tombstone
// older than the retention). Those leave the model.
func (h *harness) syncReaped() {
	expireCut := keyschema.EpochSeconds(h.clock.Add(-DefaultReapGrace))
	tombCut := uint64(h.clock.Add(-modelTombstoneRetention).UnixMicro())
	for _, k := range h.m.sortedKeys() {
		r := h.m.data[k]
		raw, closer, err := h.e.db.Get([]byte(k))
		if errors.Is(err, pebble.ErrNotFound) {
			ts, _, _ := keyschema.UnpackTimetag(r.tag)
			if r.tomb && ts >= tombCut || !r.tomb && !expiredAt(r.exp, expireCut) {
				h.fatalf("reaper removed %q (%+v), which is not reclaimable", k, r)
			}
			delete(h.m.data, k)
			continue
		}
		if err != nil {
			h.fatalf("raw get: %v", err)
		}
		hd, user, err := keyschema.DecodeValue(raw)
		if err != nil || hd.Timetag != r.tag || hd.ExpireTs != r.exp || !bytes.Equal(user, r.value) && !(len(user) == 0 && len(r.value) == 0) {
			h.fatalf("raw record %q = %+v %q %v, model %+v", k, hd, user, err, r)
		}
		_ = closer.Close()
	}
	n := 0
	err := iterateRange(h.e.db, keyschema.DataLowerBound(), keyschema.DataUpperBound(), false, func([]byte, []byte) (bool, error) {
		n++
		return true, nil
	})
	if err != nil || n != len(h.m.data) {
		h.fatalf("engine holds %d raw records, model %d (%v)", n, len(h.m.data), err)
	}
}
