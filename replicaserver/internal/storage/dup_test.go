package storage

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/vfs"
	"github.com/pegasus-go/pegasus/shared/keyschema"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

// applyDup runs fn in a duplicated write batch (DupTimetags) at the next
// decree with timestamp tsUs and cluster id 1, and commits it.
func applyDup(t *testing.T, e *Engine, tsUs int64, fn func(wb *WriteBatch)) {
	t.Helper()
	wb, err := e.NewWriteBatch(e.LastAppliedDecree()+1, WriteOptions{TimestampUs: tsUs, ClusterID: 1, DupTimetags: true})
	must(t, err)
	defer wb.Close()
	fn(wb)
	must(t, wb.Commit())
}

// rawRecord reads the stored record of (hk, sk) whatever it is.
func rawRecord(t *testing.T, e *Engine, hk, sk string) (keyschema.ValueHeader, []byte, bool) {
	t.Helper()
	key, err := keyschema.EncodeKey([]byte(hk), []byte(sk))
	must(t, err)
	raw, closer, err := e.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return keyschema.ValueHeader{}, nil, false
	}
	must(t, err)
	defer closer.Close()
	h, user, err := keyschema.DecodeValue(raw)
	must(t, err)
	return h, bytes.Clone(user), true
}

func dupEntry(tsUs int64, cluster uint8, op protocol.OpCode) protocol.DuplicateEntry {
	return protocol.DuplicateEntry{TimestampUs: tsUs, ClusterID: cluster, Op: op}
}

func TestTombstonesAreInvisible(t *testing.T) {
	clock := newFakeClock()
	e := openTest(t, vfs.NewMem(), clock, nil)
	ts := clock.Now().UnixMicro()
	applyDup(t, e, ts, func(wb *WriteBatch) {
		must(t, wb.MultiSet([]byte("h"), []protocol.KeyValue{{SortKey: []byte("a"), Value: []byte("1")},
			{SortKey: []byte("b"), Value: []byte("2")}, {SortKey: []byte("c"), Value: []byte("3")}}, 0))
	})
	applyDup(t, e, ts+1, func(wb *WriteBatch) {
		must(t, wb.Del([]byte("h"), []byte("a")))
		n, err := wb.MultiDel([]byte("h"), [][]byte{[]byte("b"), []byte("b"), []byte("zz")})
		if err != nil || n != 1 {
			t.Fatalf("multi_del deleted %d, %v; want 1", n, err)
		}
	})
	for _, sk := range []string{"a", "b", "zz"} {
		h, v, ok := rawRecord(t, e, "h", sk)
		if _, _, del := keyschema.UnpackTimetag(h.Timetag); !ok || !del || len(v) != 0 || h.ExpireTs != 0 {
			t.Fatalf("%s: stored %+v %q %v, want a tombstone", sk, h, v, ok)
		}
	}
	_, err := e.Get([]byte("h"), []byte("a"))
	wantCode(t, err, protocol.CodeNotFound)
	if ok, err := e.Exist([]byte("h"), []byte("a")); ok || err != nil {
		t.Fatalf("exist %v %v", ok, err)
	}
	if ttl, err := e.TTL([]byte("h"), []byte("b")); ttl != -2 || err != nil {
		t.Fatalf("ttl %d %v", ttl, err)
	}
	if n, err := e.SortKeyCount([]byte("h")); n != 1 || err != nil {
		t.Fatalf("sortkey_count %d %v", n, err)
	}
	for _, o := range []MultiGetOptions{{}, {Reverse: true}, {SortKeys: [][]byte{[]byte("a"), []byte("c"), []byte("b")}}} {
		res, err := e.MultiGet([]byte("h"), o)
		if err != nil || len(res.KVs) != 1 || string(res.KVs[0].SortKey) != "c" || !res.Complete {
			t.Fatalf("multi_get %+v: %+v %v", o, res, err)
		}
	}
	got, err := e.BatchGet([]FullKey{{[]byte("h"), []byte("a")}, {[]byte("h"), []byte("c")}})
	if err != nil || len(got) != 1 || string(got[0].SortKey) != "c" {
		t.Fatalf("batch_get %+v %v", got, err)
	}
	id, err := e.Scans().Open(ScanOptions{})
	must(t, err)
	b, err := e.Scans().Next(id)
	if err != nil || len(b.Records) != 1 || string(b.Records[0].SortKey) != "c" {
		t.Fatalf("scan %+v %v", b, err)
	}

	// Writes read through tombstones as through absent records.
	applyDup(t, e, ts+2, func(wb *WriteBatch) {
		res, err := wb.CheckAndSet(CheckAndSetRequest{HashKey: []byte("h"), CheckSortKey: []byte("a"),
			CheckType: protocol.CheckValueNotExist, SetValue: []byte("new"), ReturnCheckValue: true})
		if err != nil || res.CheckValueExist {
			t.Fatalf("check_and_set on a tombstone: %+v %v", res, err)
		}
		if v, err := wb.Incr([]byte("h"), []byte("b"), 5, 0); v != 5 || err != nil {
			t.Fatalf("incr on a tombstone = %d %v", v, err)
		}
		n, err := wb.DelRange([]byte("h"), DelRangeOptions{StartSortKey: []byte("zz"), StartInclusive: true})
		if n != 0 || err != nil {
			t.Fatalf("del_range over a tombstone counted %d %v", n, err)
		}
	})
	if v, err := e.Get([]byte("h"), []byte("a")); string(v) != "new" || err != nil {
		t.Fatalf("after check_and_set: %q %v", v, err)
	}

	// Without DupTimetags a delete removes the record, tombstone or not.
	apply(t, e, func(wb *WriteBatch) {
		must(t, wb.Del([]byte("h"), []byte("zz")))
		must(t, wb.Del([]byte("h"), []byte("a")))
	})
	for _, sk := range []string{"a", "zz"} {
		if h, _, ok := rawRecord(t, e, "h", sk); ok {
			t.Fatalf("%s still stored: %+v", sk, h)
		}
	}
}

func TestApplyDuplicateLastWriterWins(t *testing.T) {
	clock := newFakeClock()
	e := openTest(t, vfs.NewMem(), clock, nil)
	base := clock.Now().UnixMicro()
	set := func(v string) *protocol.SetRequest {
		return &protocol.SetRequest{HashKey: []byte("h"), SortKey: []byte("k"), Value: []byte(v)}
	}
	del := &protocol.DelRequest{HashKey: []byte("h"), SortKey: []byte("k")}
	steps := []struct {
		ts      int64
		cluster uint8
		op      protocol.OpCode
		req     protocol.Message
		applied bool
		want    string // "" = absent
	}{
		{100, 2, protocol.OpPut, set("a"), true, "a"},
		{50, 3, protocol.OpPut, set("old"), false, "a"},      // older
		{100, 1, protocol.OpPut, set("tie-low"), false, "a"}, // same time, smaller cluster id
		{100, 3, protocol.OpPut, set("tie-high"), true, "tie-high"},
		{200, 2, protocol.OpRemove, del, true, ""},
		{150, 3, protocol.OpPut, set("late"), false, ""}, // the tombstone keeps it out
		{200, 2, protocol.OpRemove, del, true, ""},       // redelivery of the same entry
		{250, 2, protocol.OpPut, set("b"), true, "b"},
	}
	for i, s := range steps {
		applyDup(t, e, base, func(wb *WriteBatch) {
			applied, err := wb.ApplyDuplicate(dupEntry(base+s.ts, s.cluster, s.op), s.req)
			if err != nil || applied != s.applied {
				t.Fatalf("step %d: applied %v %v, want %v", i, applied, err, s.applied)
			}
		})
		v, err := e.Get([]byte("h"), []byte("k"))
		if s.want == "" {
			wantCode(t, err, protocol.CodeNotFound)
		} else if string(v) != s.want || err != nil {
			t.Fatalf("step %d: value %q %v, want %q", i, v, err, s.want)
		}
	}
	h, _, _ := rawRecord(t, e, "h", "k")
	if us, cid, d := keyschema.UnpackTimetag(h.Timetag); int64(us) != base+250 || cid != 2 || d {
		t.Fatalf("stored timetag %d/%d/%v", us, cid, d)
	}
	if got := e.LastTimestampUs(); got != base+250 {
		t.Fatalf("LastTimestampUs %d, want %d", got, base+250)
	}
}

func TestDuplicatedTTLCountsFromEntryTime(t *testing.T) {
	clock := newFakeClock()
	e := openTest(t, vfs.NewMem(), clock, nil)
	entryTs := clock.Now().Add(-time.Minute).UnixMicro()
	applyDup(t, e, clock.Now().UnixMicro(), func(wb *WriteBatch) {
		_, err := wb.ApplyDuplicate(dupEntry(entryTs, 2, protocol.OpPut),
			&protocol.SetRequest{HashKey: []byte("h"), SortKey: []byte("k"), Value: []byte("v"), TTLSeconds: 600})
		must(t, err)
	})
	h, _, _ := rawRecord(t, e, "h", "k")
	if want := keyschema.ExpireTsFromTTL(600, time.UnixMicro(entryTs)); h.ExpireTs != want {
		t.Fatalf("expire_ts %d, want %d (from the entry's time)", h.ExpireTs, want)
	}
}

func TestLocalWritesResolveAgainstDuplicatedOnes(t *testing.T) {
	fs := vfs.NewMem()
	clock := newFakeClock()
	e := openTest(t, fs, clock, nil)
	now := clock.Now().UnixMicro()
	applyDup(t, e, now, func(wb *WriteBatch) {
		_, err := wb.ApplyDuplicate(dupEntry(now+2000, 2, protocol.OpPut),
			&protocol.SetRequest{HashKey: []byte("h"), SortKey: []byte("k"), Value: []byte("remote")})
		must(t, err)
	})
	// A local write made with an older timestamp loses: the other cluster
	// decides the same way when it receives it.
	applyDup(t, e, now+1000, func(wb *WriteBatch) {
		must(t, wb.Set([]byte("h"), []byte("k"), []byte("local"), 0))
		must(t, wb.Del([]byte("h"), []byte("k")))
	})
	if v, _ := e.Get([]byte("h"), []byte("k")); string(v) != "remote" {
		t.Fatalf("value %q, want the newer duplicated one", v)
	}
	// The largest timestamp survives reopening; a write above it wins.
	last := e.LastTimestampUs()
	if last != now+2000 {
		t.Fatalf("LastTimestampUs %d, want %d", last, now+2000)
	}
	must(t, e.Close())
	e = openTest(t, fs, clock, nil)
	if e.LastTimestampUs() != last {
		t.Fatalf("LastTimestampUs after reopen %d, want %d", e.LastTimestampUs(), last)
	}
	applyDup(t, e, last+1, func(wb *WriteBatch) { must(t, wb.Set([]byte("h"), []byte("k"), []byte("local"), 0)) })
	if v, _ := e.Get([]byte("h"), []byte("k")); string(v) != "local" {
		t.Fatalf("value %q, want local", v)
	}
	// Without DupTimetags writes do not look at what is stored.
	wb, err := e.NewWriteBatch(e.LastAppliedDecree()+1, WriteOptions{TimestampUs: now})
	must(t, err)
	must(t, wb.Set([]byte("h"), []byte("k"), []byte("plain"), 0))
	must(t, wb.Commit())
	if v, _ := e.Get([]byte("h"), []byte("k")); string(v) != "plain" {
		t.Fatalf("value %q, want plain", v)
	}
}

func TestApplyDuplicateRefusals(t *testing.T) {
	clock := newFakeClock()
	e := openTest(t, vfs.NewMem(), clock, nil)
	now := clock.Now().UnixMicro()
	set := &protocol.SetRequest{HashKey: []byte("h"), SortKey: []byte("k"), Value: []byte("v")}

	wb, err := e.NewWriteBatch(1, WriteOptions{TimestampUs: now})
	must(t, err)
	_, err = wb.ApplyDuplicate(dupEntry(now, 2, protocol.OpPut), set)
	wantCode(t, err, protocol.CodeInvalidState)
	wb.Close()

	applyDup(t, e, now, func(wb *WriteBatch) {
		for _, c := range []struct {
			name  string
			entry protocol.DuplicateEntry
			req   protocol.Message
		}{
			{"incr", dupEntry(now, 2, protocol.OpIncr), &protocol.IncrRequest{HashKey: []byte("h")}},
			{"check_and_set", dupEntry(now, 2, protocol.OpCheckAndSet), &protocol.CheckAndSetRequest{HashKey: []byte("h")}},
			{"nested duplicate", dupEntry(now, 2, protocol.OpDuplicate), &protocol.DuplicateRequest{}},
			{"empty", dupEntry(now, 2, protocol.OpEmpty), set},
			{"type mismatch", dupEntry(now, 2, protocol.OpRemove), set},
			{"negative timestamp", dupEntry(-1, 2, protocol.OpPut), set},
			{"cluster id out of range", dupEntry(now, 200, protocol.OpPut), set},
			{"negative ttl", dupEntry(now, 2, protocol.OpPut), &protocol.SetRequest{HashKey: []byte("h"), TTLSeconds: -1}},
			{"empty multi_set", dupEntry(now, 2, protocol.OpMultiPut), &protocol.MultiSetRequest{HashKey: []byte("h")}},
			{"empty multi_del", dupEntry(now, 2, protocol.OpMultiRemove), &protocol.MultiDelRequest{HashKey: []byte("h")}},
			{"long hashkey", dupEntry(now, 2, protocol.OpRemove), &protocol.DelRequest{HashKey: make([]byte, keyschema.MaxHashKeyLen+1)}},
			{"bad filter", dupEntry(now, 2, protocol.OpDelRange), &protocol.DelRangeRequest{HashKey: []byte("h"), SortKeyFilter: protocol.Filter{Type: 99}}},
		} {
			applied, err := wb.ApplyDuplicate(c.entry, c.req)
			if applied {
				t.Fatalf("%s: applied", c.name)
			}
			wantCode(t, err, protocol.CodeInvalidArgument)
		}
	})
	if n, _ := e.SortKeyCount([]byte("h")); n != 0 {
		t.Fatalf("refused entries wrote %d records", n)
	}
}

func TestReaperReclaimsOldTombstones(t *testing.T) {
	clock := newFakeClock()
	e := openTest(t, vfs.NewMem(), clock, func(o *Options) { o.TombstoneRetention = time.Hour })
	now := clock.Now().UnixMicro()
	applyDup(t, e, now, func(wb *WriteBatch) {
		must(t, wb.Del([]byte("h"), []byte("old")))
		must(t, wb.Set([]byte("h"), []byte("live"), []byte("v"), 0))
	})
	applyDup(t, e, now+int64(30*time.Minute/time.Microsecond), func(wb *WriteBatch) {
		must(t, wb.Del([]byte("h"), []byte("young")))
	})
	r := e.NewReaper(ReaperOptions{})
	clock.Advance(59 * time.Minute)
	st, err := r.Step()
	if err != nil || st.ReclaimedTombstones != 0 {
		t.Fatalf("reclaimed %+v %v before the retention ran out", st, err)
	}
	clock.Advance(2 * time.Minute)
	st, err = r.Step()
	if err != nil || st.ReclaimedTombstones != 1 || st.Reclaimed != 0 {
		t.Fatalf("stats %+v %v, want one tombstone reclaimed", st, err)
	}
	if _, _, ok := rawRecord(t, e, "h", "old"); ok {
		t.Fatal("old tombstone still stored")
	}
	if _, _, ok := rawRecord(t, e, "h", "young"); !ok {
		t.Fatal("young tombstone reclaimed")
	}
	if v, err := e.Get([]byte("h"), []byte("live")); string(v) != "v" || err != nil {
		t.Fatalf("live record %q %v", v, err)
	}
}

// Two clusters write overlapping keys and apply each other's writes,
// shipped as whole source mutations in random order, some several times.
// Whatever the order, both end with identical stored records (values,
// expiry, timetags, tombstones), hence identical digests.
func TestTwoClustersConverge(t *testing.T) {
	seeds := 30
	if testing.Short() {
		seeds = 6
	}
	for seed := range seeds {
		for _, bump := range []bool{false, true} {
			t.Run(fmt.Sprintf("seed=%d/bump=%v", seed, bump), func(t *testing.T) { runConvergence(t, uint64(seed), bump) })
		}
	}
}

// dupCluster is one side of runConvergence.
type dupCluster struct {
	id     uint8
	e      *Engine
	skewUs int64 // the cluster's clock offset
	lastTs int64 // last local mutation timestamp (kept strictly increasing, as the core does)
}

type shippedEntry struct {
	entry protocol.DuplicateEntry
	req   protocol.Message
}

func runConvergence(t *testing.T, seed uint64, bump bool) {
	rng := rand.New(rand.NewPCG(seed, 0xd0b))
	clock := newFakeClock()
	open := func(id uint8, dir string, skew int64) *dupCluster {
		e, err := Open(dir, Options{FS: vfs.NewMem(), Clock: clock.Now, MemTableSizeBytes: 1 << 20, BlockCacheSizeBytes: 1 << 20})
		must(t, err)
		t.Cleanup(func() { _ = e.Close() })
		return &dupCluster{id: id, e: e, skewUs: skew}
	}
	// Clock skews up to 20ms either way, against writes a fraction of a
	// millisecond apart, so the clusters' writes interleave and conflict.
	a := open(1, "a", rng.Int64N(40000)-20000)
	b := open(2, "b", rng.Int64N(40000)-20000)
	peer := map[*dupCluster]*dupCluster{a: b, b: a}
	type delivery struct {
		to    *dupCluster
		batch []shippedEntry
	}
	var pending, delivered []delivery
	hks, sks := []string{"a", "b", "c", "d"}, []string{"1", "2", "3", "4", "5", "6", "7", "8"}
	pick := func(s []string) []byte { return []byte(s[rng.IntN(len(s))]) }

	local := func(c *dupCluster) {
		ts := max(clock.Now().UnixMicro()+c.skewUs, c.lastTs+1)
		if bump {
			// What a primary does: propose above every timestamp applied.
			ts = max(ts, c.e.LastTimestampUs()+1)
		}
		c.lastTs = ts
		wb, err := c.e.NewWriteBatch(c.e.LastAppliedDecree()+1, WriteOptions{TimestampUs: ts, ClusterID: c.id, DupTimetags: true})
		must(t, err)
		var out []shippedEntry
		for range 1 + rng.IntN(3) {
			hk := pick(hks)
			var se shippedEntry
			switch rng.IntN(4) {
			case 0:
				r := &protocol.SetRequest{HashKey: hk, SortKey: pick(sks), Value: fmt.Appendf(nil, "%d@%d", c.id, ts), TTLSeconds: int32(rng.IntN(2) * 3600)}
				must(t, wb.Set(r.HashKey, r.SortKey, r.Value, r.TTLSeconds))
				se = shippedEntry{protocol.DuplicateEntry{Op: protocol.OpPut}, r}
			case 1:
				r := &protocol.DelRequest{HashKey: hk, SortKey: pick(sks)}
				must(t, wb.Del(r.HashKey, r.SortKey))
				se = shippedEntry{protocol.DuplicateEntry{Op: protocol.OpRemove}, r}
			case 2:
				r := &protocol.MultiSetRequest{HashKey: hk, KVs: []protocol.KeyValue{{SortKey: pick(sks), Value: fmt.Appendf(nil, "m%d@%d", c.id, ts)},
					{SortKey: pick(sks), Value: []byte("x")}}}
				must(t, wb.MultiSet(r.HashKey, r.KVs, 0))
				se = shippedEntry{protocol.DuplicateEntry{Op: protocol.OpMultiPut}, r}
			default:
				r := &protocol.MultiDelRequest{HashKey: hk, SortKeys: [][]byte{pick(sks), pick(sks)}}
				_, err := wb.MultiDel(r.HashKey, r.SortKeys)
				must(t, err)
				se = shippedEntry{protocol.DuplicateEntry{Op: protocol.OpMultiRemove}, r}
			}
			se.entry.TimestampUs, se.entry.ClusterID = ts, c.id
			out = append(out, se)
		}
		must(t, wb.Commit())
		pending = append(pending, delivery{peer[c], out})
	}
	deliver := func(d delivery) {
		c := d.to
		wb, err := c.e.NewWriteBatch(c.e.LastAppliedDecree()+1, WriteOptions{TimestampUs: clock.Now().UnixMicro() + c.skewUs, ClusterID: c.id, DupTimetags: true})
		must(t, err)
		for _, se := range d.batch {
			if _, err := wb.ApplyDuplicate(se.entry, se.req); err != nil {
				t.Fatalf("apply duplicate: %v", err)
			}
		}
		must(t, wb.Commit())
	}
	for range 200 {
		clock.Advance(time.Duration(rng.IntN(500)) * time.Microsecond)
		switch x := rng.IntN(10); {
		case x < 3:
			local(a)
		case x < 6:
			local(b)
		case x < 9 && len(pending) > 0:
			i := rng.IntN(len(pending))
			deliver(pending[i])
			delivered = append(delivered, pending[i])
			pending = slices.Delete(pending, i, i+1)
		case len(delivered) > 0:
			deliver(delivered[rng.IntN(len(delivered))]) // shipped again
		}
	}
	rng.Shuffle(len(pending), func(i, j int) { pending[i], pending[j] = pending[j], pending[i] })
	for _, d := range pending {
		deliver(d)
	}
	ra, rb := rawDump(t, a.e), rawDump(t, b.e)
	if !slices.Equal(ra, rb) {
		t.Fatalf("clusters diverged:\nA %v\nB %v", ra, rb)
	}
	if len(ra) == 0 {
		t.Fatal("nothing written")
	}
}

// rawDump lists every stored record, tombstones included, with its header.
func rawDump(t *testing.T, e *Engine) []string {
	t.Helper()
	var out []string
	err := iterateRange(e.db, keyschema.DataLowerBound(), keyschema.DataUpperBound(), false, func(key, raw []byte) (bool, error) {
		h, user, err := keyschema.DecodeValue(raw)
		if err != nil {
			return false, err
		}
		out = append(out, fmt.Sprintf("%q=%q exp=%d tag=%x", key, user, h.ExpireTs, h.Timetag))
		return true, nil
	})
	must(t, err)
	return out
}

// ResolveIncr and ResolveCheck followed by the put they describe leave
// exactly what Incr and CheckAndSet leave.
func TestResolveMatchesDirectWrites(t *testing.T) {
	for seed := range 20 {
		rng := rand.New(rand.NewPCG(uint64(seed), 7))
		clock := newFakeClock()
		direct := openTest(t, vfs.NewMem(), clock, nil)
		resolved := openTest(t, vfs.NewMem(), clock, nil)
		both := func(fn func(e *Engine, wb *WriteBatch)) {
			for _, e := range []*Engine{direct, resolved} {
				wb, err := e.NewWriteBatch(e.LastAppliedDecree()+1, WriteOptions{TimestampUs: clock.Now().UnixMicro(), ClusterID: 1, DupTimetags: true})
				must(t, err)
				fn(e, wb)
				must(t, wb.Commit())
			}
		}
		sks := []string{"a", "b", "c"}
		vals := []string{"", "1", "-5", "x", "9223372036854775807"}
		for range 200 {
			clock.Advance(time.Duration(rng.IntN(3)) * time.Second)
			sk := []byte(sks[rng.IntN(len(sks))])
			switch rng.IntN(4) {
			case 0:
				v, ttl := []byte(vals[rng.IntN(len(vals))]), int32(rng.IntN(3)*2)
				both(func(_ *Engine, wb *WriteBatch) { must(t, wb.Set([]byte("h"), sk, v, ttl)) })
			case 1:
				both(func(_ *Engine, wb *WriteBatch) { must(t, wb.Del([]byte("h"), sk)) })
			case 2:
				delta, exp := int64(rng.IntN(5)-2), int32(rng.IntN(5)-2)
				var want int64
				var wantErr error
				both(func(e *Engine, wb *WriteBatch) {
					if e == direct {
						want, wantErr = wb.Incr([]byte("h"), sk, delta, exp)
						return
					}
					out, err := e.ResolveIncr([]byte("h"), sk, delta, exp, clock.Now())
					if protocol.CodeOf(err) != protocol.CodeOf(wantErr) || err == nil && out.NewValue != want {
						t.Fatalf("resolve incr = %+v %v, direct %d %v", out, err, want, wantErr)
					}
					if err == nil {
						must(t, wb.Set([]byte("h"), sk, strconv.AppendInt(nil, out.NewValue, 10), out.TTLSeconds))
					}
				})
			default:
				req := CheckAndSetRequest{HashKey: []byte("h"), CheckSortKey: sk, CheckType: protocol.CheckType(rng.IntN(19)),
					CheckOperand: []byte(vals[rng.IntN(len(vals))]), SetDiffSortKey: true, SetSortKey: []byte(sks[rng.IntN(len(sks))]),
					SetValue: []byte("set"), SetTTLSeconds: int32(rng.IntN(2) * 3), ReturnCheckValue: true}
				var want CheckResult
				var wantErr error
				both(func(e *Engine, wb *WriteBatch) {
					if e == direct {
						want, wantErr = wb.CheckAndSet(req)
						return
					}
					res, err := e.ResolveCheck(req.HashKey, req.CheckSortKey, req.CheckType, req.CheckOperand, true, clock.Now())
					if protocol.CodeOf(err) != protocol.CodeOf(wantErr) || res.CheckValueExist != want.CheckValueExist || !bytes.Equal(res.CheckValue, want.CheckValue) {
						t.Fatalf("resolve check = %+v %v, direct %+v %v", res, err, want, wantErr)
					}
					if err == nil {
						must(t, wb.Set(req.HashKey, req.SetSortKey, req.SetValue, req.SetTTLSeconds))
					}
				})
			}
			if a, b := rawDump(t, direct), rawDump(t, resolved); !slices.Equal(a, b) {
				t.Fatalf("seed %d: direct %v\nresolved %v", seed, a, b)
			}
		}
	}
}
