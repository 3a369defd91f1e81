package storage

import (
	"bytes"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/vfs"
	"github.com/pegasus-go/pegasus/shared/keyschema"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

// This file holds a differential test: random operation sequences run
// against the engine and against a small in-memory model written from the
// documented semantics, and the two must agree after every step.

// chooser drives the generator: a seeded PRNG for the unit test, the fuzz
// input for FuzzDifferential.
type chooser interface {
	intn(n int) int
	exhausted() bool
}

type randChooser struct {
	r    *rand.Rand
	left int
}

func (c *randChooser) intn(n int) int  { c.left--; return c.r.IntN(n) }
func (c *randChooser) exhausted() bool { return c.left <= 0 }

type byteChooser struct {
	data []byte
	pos  int
}

func (c *byteChooser) intn(n int) int {
	if c.pos >= len(c.data) {
		c.pos++
		return 0
	}
	v := int(c.data[c.pos])
	c.pos++
	if n > 256 && c.pos < len(c.data) {
		v = v<<8 | int(c.data[c.pos])
		c.pos++
	}
	return v % n
}
func (c *byteChooser) exhausted() bool { return c.pos >= len(c.data) }

// mrec is a model record. tag is its timetag; tomb marks a tombstone
// (left by a delete in a duplicated batch, invisible to reads).
type mrec struct {
	value []byte
	exp   uint32
	tag   uint64
	tomb  bool
}

// model is the reference: records keyed by their encoded storage key (whose
// byte order is the documented key order, checked by keyschema's tests).
type model struct {
	data       map[string]mrec
	defaultTTL int32
	// maxTs is the largest write timestamp committed (LastTimestampUs).
	maxTs int64
}

func (m *model) clone() *model {
	return &model{data: maps.Clone(m.data), defaultTTL: m.defaultTTL, maxTs: m.maxTs}
}

// wctx is the write context of model writes: the batch's (or a duplicated
// entry's) time and timetag, and whether writes resolve last-writer-wins.
type wctx struct {
	now uint32
	tag uint64
	dup bool
}

// wins is the documented last-writer-wins rule: (timestamp, cluster id)
// of the write >= the stored record's, the delete flag left out.
func (m *model) wins(k string, c wctx) bool {
	r, ok := m.data[k]
	return !ok || c.tag>>1 >= r.tag>>1
}

// put writes k = (value, exp) under c; it reports whether it did.
func (m *model) put(k string, value []byte, exp uint32, c wctx) bool {
	if c.dup && !m.wins(k, c) {
		return false
	}
	m.data[k] = mrec{value: value, exp: exp, tag: c.tag}
	return true
}

// del deletes k under c (a tombstone when c.dup); it reports whether it
// wrote anything.
func (m *model) del(k string, c wctx) bool {
	if !c.dup {
		delete(m.data, k)
		return true
	}
	if !m.wins(k, c) {
		return false
	}
	m.data[k] = mrec{tag: c.tag | 1, tomb: true}
	return true
}

func mkey(hk, sk string) string {
	k, err := keyschema.EncodeKey([]byte(hk), []byte(sk))
	if err != nil {
		panic(err)
	}
	return string(k)
}

func splitKey(k string) (string, string) {
	n := int(k[0])<<8 | int(k[1])
	return k[2 : 2+n], k[2+n:]
}

func (m *model) visible(k string, now uint32) (mrec, bool) {
	r, ok := m.data[k]
	if !ok || r.tomb || (r.exp != 0 && r.exp <= now) {
		return mrec{}, false
	}
	return r, true
}

func (m *model) sortedKeys() []string { return slices.Sorted(maps.Keys(m.data)) }

func (m *model) expFor(ttl int64, now uint32) uint32 {
	if ttl <= 0 {
		ttl = int64(m.defaultTTL)
	}
	if ttl <= 0 {
		return 0
	}
	return now + uint32(ttl)
}

func filterOK(f protocol.Filter, key string) bool {
	p := string(f.Pattern)
	switch {
	case p == "" || f.Type == protocol.FilterNone:
		return true
	case f.Type == protocol.FilterAnywhere:
		for i := 0; i+len(p) <= len(key); i++ {
			if key[i:i+len(p)] == p {
				return true
			}
		}
		return false
	case f.Type == protocol.FilterPrefix:
		return len(key) >= len(p) && key[:len(p)] == p
	default:
		return len(key) >= len(p) && key[len(key)-len(p):] == p
	}
}

func inSortRange(sk, start string, sIncl bool, stop string, eIncl bool) bool {
	if sIncl && sk < start || !sIncl && sk <= start {
		return false
	}
	if stop == "" {
		return true
	}
	return eIncl && sk <= stop || !eIncl && sk < stop
}

// modelCheck evaluates a check from the CheckType comments in
// shared/protocol.
func modelCheck(ct protocol.CheckType, operand string, exist bool, value string) (bool, protocol.ErrorCode) {
	switch ct {
	case protocol.CheckNoCheck:
		return true, protocol.CodeOK
	case protocol.CheckValueNotExist:
		return !exist, protocol.CodeOK
	case protocol.CheckValueNotExistOrEmpty:
		return !exist || value == "", protocol.CodeOK
	case protocol.CheckValueExist:
		return exist, protocol.CodeOK
	case protocol.CheckValueNotEmpty:
		return exist && value != "", protocol.CodeOK
	}
	if !exist {
		return false, protocol.CodeOK
	}
	switch ct {
	case protocol.CheckMatchAnywhere:
		return filterOK(protocol.Filter{Type: protocol.FilterAnywhere, Pattern: []byte(operand)}, value), protocol.CodeOK
	case protocol.CheckMatchPrefix:
		return filterOK(protocol.Filter{Type: protocol.FilterPrefix, Pattern: []byte(operand)}, value), protocol.CodeOK
	case protocol.CheckMatchPostfix:
		return filterOK(protocol.Filter{Type: protocol.FilterPostfix, Pattern: []byte(operand)}, value), protocol.CodeOK
	case protocol.CheckBytesLess:
		return value < operand, protocol.CodeOK
	case protocol.CheckBytesLessOrEqual:
		return value <= operand, protocol.CodeOK
	case protocol.CheckBytesEqual:
		return value == operand, protocol.CodeOK
	case protocol.CheckBytesGreaterOrEqual:
		return value >= operand, protocol.CodeOK
	case protocol.CheckBytesGreater:
		return value > operand, protocol.CodeOK
	}
	v, err1 := strconv.ParseInt(value, 10, 64)
	o, err2 := strconv.ParseInt(operand, 10, 64)
	if err1 != nil || err2 != nil {
		return false, protocol.CodeInvalidArgument
	}
	switch ct {
	case protocol.CheckIntLess:
		return v < o, protocol.CodeOK
	case protocol.CheckIntLessOrEqual:
		return v <= o, protocol.CodeOK
	case protocol.CheckIntEqual:
		return v == o, protocol.CodeOK
	case protocol.CheckIntGreaterOrEqual:
		return v >= o, protocol.CodeOK
	default:
		return v > o, protocol.CodeOK
	}
}

// Vocabulary of the generator: few keys so operations collide.
var (
	genHashKeys = []string{"", "a", "b", "ab"}
	genSortKeys = []string{"", "1", "2", "10", "x", "xy"}
	genValues   = []string{"", "0", "5", "-3", "abc", "x1", "9223372036854775807", "12a"}
	genPatterns = []string{"", "1", "x", "y", "0"}
	genDeltas   = []int64{-2, -1, 0, 1, 2, 7, math.MaxInt64, math.MinInt64}
)

// harness runs one differential sequence.
type harness struct {
	t     testing.TB
	c     chooser
	fs    vfs.FS
	clock time.Time
	e     *Engine
	m     *model
	log   []string
}

func (h *harness) pick(s []string) string { return s[h.c.intn(len(s))] }
func (h *harness) bool() bool             { return h.c.intn(2) == 1 }
func (h *harness) now() uint32            { return keyschema.EpochSeconds(h.clock) }

func (h *harness) fatalf(format string, args ...any) {
	h.t.Helper()
	tail := h.log
	if len(tail) > 30 {
		tail = tail[len(tail)-30:]
	}
	h.t.Fatalf("%s\nlast operations:\n  %s", fmt.Sprintf(format, args...), joinLines(tail))
}

func joinLines(s []string) string {
	var b bytes.Buffer
	for i, l := range s {
		if i > 0 {
			b.WriteString("\n  ")
		}
		b.WriteString(l)
	}
	return b.String()
}

func (h *harness) note(format string, args ...any) {
	h.log = append(h.log, fmt.Sprintf(format, args...))
}

func (h *harness) open() {
	e, err := Open("db", Options{FS: h.fs, Clock: func() time.Time { return h.clock }, MemTableSizeBytes: 1 << 20,
		BlockCacheSizeBytes: 1 << 20, DefaultTTLSeconds: h.m.defaultTTL, TombstoneRetention: modelTombstoneRetention})
	if err != nil {
		h.t.Fatalf("open: %v", err)
	}
	h.e = e
}

func newHarness(t testing.TB, c chooser) *harness {
	h := &harness{t: t, c: c, fs: vfs.NewMem(), clock: time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC),
		m: &model{data: map[string]mrec{}}}
	h.open()
	return h
}

func (h *harness) codeCheck(what string, err error, want protocol.ErrorCode) {
	h.t.Helper()
	if got := protocol.CodeOf(err); got != want {
		h.fatalf("%s: engine error %v (code %v), model code %v", what, err, got, want)
	}
}

func (h *harness) run() {
	defer func() {
		if h.e != nil {
			if err := h.e.Close(); err != nil {
				h.t.Fatalf("close: %v", err)
			}
		}
	}()
	for step := 0; !h.c.exhausted(); step++ {
		switch h.c.intn(20) {
		case 0, 1:
			d := time.Duration(h.c.intn(4)) * time.Second
			h.clock = h.clock.Add(d)
			h.note("advance %v", d)
		case 2:
			ttl := int32(h.c.intn(3) * 2)
			h.note("default_ttl %d", ttl)
			if err := h.e.SetDefaultTTL(ttl); err != nil {
				h.fatalf("SetDefaultTTL: %v", err)
			}
			h.m.defaultTTL = ttl
		case 3:
			h.note("reopen")
			d := h.e.LastAppliedDecree()
			if err := h.e.Close(); err != nil {
				h.fatalf("close: %v", err)
			}
			h.open()
			if got := h.e.LastAppliedDecree(); got != d {
				h.fatalf("decree after reopen %d, want %d", got, d)
			}
		case 4:
			r := h.e.NewReaper(ReaperOptions{StepKeys: 1 + h.c.intn(5), DeleteBatchSize: 1 + h.c.intn(3)})
			d := h.e.LastAppliedDecree()
			st, err := r.Step()
			h.note("reaper step -> %+v", st)
			if err != nil {
				h.fatalf("reaper: %v", err)
			}
			if h.e.LastAppliedDecree() != d {
				h.fatalf("reaper changed the decree")
			}
			h.syncReaped()
		case 5, 6, 7, 8, 9, 10, 11:
			h.writeBatch()
		default:
			h.read()
		}
		h.compareAll()
	}
}

// compareAll checks the whole visible state with a partition scan.
func (h *harness) compareAll() {
	h.t.Helper()
	id, err := h.e.Scans().Open(ScanOptions{BatchSize: 1000})
	if err != nil {
		h.fatalf("open full scan: %v", err)
	}
	b, err := h.e.Scans().Next(id)
	if err != nil || !b.Done {
		h.fatalf("full scan: %v done=%v", err, b.Done)
	}
	var want []ScanRecord
	now := h.now()
	for _, k := range h.m.sortedKeys() {
		if r, ok := h.m.visible(k, now); ok {
			hk, sk := splitKey(k)
			want = append(want, ScanRecord{HashKey: []byte(hk), SortKey: []byte(sk), Value: r.value, ExpireTs: r.exp})
		}
	}
	h.compareRecords("state", b.Records, want)
}

func (h *harness) compareRecords(what string, got, want []ScanRecord) {
	h.t.Helper()
	if len(got) != len(want) {
		h.fatalf("%s: engine has %d records, model %d\nengine %s\nmodel  %s", what, len(got), len(want), fmtRecs(got), fmtRecs(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if !bytes.Equal(g.HashKey, w.HashKey) || !bytes.Equal(g.SortKey, w.SortKey) || !bytes.Equal(g.Value, w.Value) || g.ExpireTs != w.ExpireTs {
			h.fatalf("%s: record %d differs\nengine %s\nmodel  %s", what, i, fmtRecs(got), fmtRecs(want))
		}
	}
}

func fmtRecs(rs []ScanRecord) string {
	var b bytes.Buffer
	for _, r := range rs {
		fmt.Fprintf(&b, "(%q,%q)=%q@%d ", r.HashKey, r.SortKey, r.Value, r.ExpireTs)
	}
	return b.String()
}

func (h *harness) writeBatch() {
	decree := h.e.LastAppliedDecree() + 1
	dup := h.bool()
	ts := h.clock.UnixMicro()
	wb, err := h.e.NewWriteBatch(decree, WriteOptions{TimestampUs: ts, ClusterID: modelClusterID, DupTimetags: dup})
	if err != nil {
		h.fatalf("NewWriteBatch(%d): %v", decree, err)
	}
	defer wb.Close()
	mm := h.m.clone()
	mm.maxTs = max(mm.maxTs, ts)
	tag, _ := keyschema.PackTimetag(uint64(ts), modelClusterID, false)
	c := wctx{now: h.now(), tag: tag, dup: dup}
	h.note("batch %d dup=%v", decree, dup)
	n := 1 + h.c.intn(3)
	for range n {
		if h.c.intn(4) == 0 {
			h.duplicateOp(wb, mm, dup)
		} else {
			h.writeOp(wb, mm, c)
		}
	}
	if h.c.intn(8) == 0 {
		h.note("abort batch %d", decree)
		wb.Close()
		if h.e.LastAppliedDecree() != decree-1 {
			h.fatalf("aborted batch advanced the decree")
		}
		return
	}
	h.note("commit %d", decree)
	if err := wb.Commit(); err != nil {
		h.fatalf("commit: %v", err)
	}
	if h.e.LastAppliedDecree() != decree {
		h.fatalf("decree %d after commit, want %d", h.e.LastAppliedDecree(), decree)
	}
	if got := h.e.LastTimestampUs(); got != mm.maxTs {
		h.fatalf("LastTimestampUs %d after commit, model %d", got, mm.maxTs)
	}
	h.m = mm
}

func (h *harness) ttl() int32 {
	if h.c.intn(3) == 0 {
		return 0
	}
	return int32(1 + h.c.intn(5))
}

func (h *harness) writeOp(wb *WriteBatch, m *model, c wctx) {
	now := c.now
	hk := h.pick(genHashKeys)
	switch h.c.intn(9) {
	case 0: // set
		sk, v, ttl := h.pick(genSortKeys), h.pick(genValues), h.ttl()
		h.note("set %q %q %q ttl=%d", hk, sk, v, ttl)
		h.codeCheck("set", wb.Set([]byte(hk), []byte(sk), []byte(v), ttl), protocol.CodeOK)
		m.put(mkey(hk, sk), []byte(v), m.expFor(int64(ttl), now), c)
	case 1: // del
		sk := h.pick(genSortKeys)
		h.note("del %q %q", hk, sk)
		h.codeCheck("del", wb.Del([]byte(hk), []byte(sk)), protocol.CodeOK)
		m.del(mkey(hk, sk), c)
	case 2: // multi_set
		var kvs []protocol.KeyValue
		for range h.c.intn(4) {
			kvs = append(kvs, protocol.KeyValue{SortKey: []byte(h.pick(genSortKeys)), Value: []byte(h.pick(genValues))})
		}
		ttl := h.ttl()
		h.note("multi_set %q %d kvs ttl=%d", hk, len(kvs), ttl)
		err := wb.MultiSet([]byte(hk), kvs, ttl)
		if len(kvs) == 0 {
			h.codeCheck("multi_set", err, protocol.CodeInvalidArgument)
			return
		}
		h.codeCheck("multi_set", err, protocol.CodeOK)
		for _, kv := range kvs {
			m.put(mkey(hk, string(kv.SortKey)), kv.Value, m.expFor(int64(ttl), now), c)
		}
	case 3: // multi_del
		var sks [][]byte
		for range h.c.intn(4) {
			sks = append(sks, []byte(h.pick(genSortKeys)))
		}
		h.note("multi_del %q %q", hk, sks)
		n, err := wb.MultiDel([]byte(hk), sks)
		if len(sks) == 0 {
			h.codeCheck("multi_del", err, protocol.CodeInvalidArgument)
			return
		}
		h.codeCheck("multi_del", err, protocol.CodeOK)
		var want int64
		for _, sk := range sks {
			k := mkey(hk, string(sk))
			_, ok := m.visible(k, now)
			if m.del(k, c) && ok {
				want++
			}
		}
		if n != want {
			h.fatalf("multi_del count %d, model %d", n, want)
		}
	case 4: // del_range
		o := DelRangeOptions{StartSortKey: []byte(h.pick(genSortKeys)), StopSortKey: []byte(h.pick(genSortKeys)),
			StartInclusive: h.bool(), StopInclusive: h.bool(), SortKeyFilter: h.filter()}
		h.note("del_range %q %+v", hk, o)
		n, err := wb.DelRange([]byte(hk), o)
		h.codeCheck("del_range", err, protocol.CodeOK)
		want, _ := m.delRange(hk, o, c)
		if n != want {
			h.fatalf("del_range count %d, model %d", n, want)
		}
	case 5: // incr
		sk := h.pick(genSortKeys)
		delta := genDeltas[h.c.intn(len(genDeltas))]
		exp := int32(h.c.intn(5) - 2)
		h.note("incr %q %q %d exp=%d", hk, sk, delta, exp)
		got, err := wb.Incr([]byte(hk), []byte(sk), delta, exp)
		k := mkey(hk, sk)
		r, found := m.visible(k, now)
		var old int64
		if found && len(r.value) > 0 {
			v, perr := strconv.ParseInt(string(r.value), 10, 64)
			if perr != nil {
				h.codeCheck("incr", err, protocol.CodeInvalidArgument)
				return
			}
			old = v
		}
		sum := old + delta
		if (delta > 0 && sum < old) || (delta < 0 && sum > old) {
			h.codeCheck("incr", err, protocol.CodeIncrOverflow)
			return
		}
		h.codeCheck("incr", err, protocol.CodeOK)
		if got != sum {
			h.fatalf("incr = %d, model %d", got, sum)
		}
		var e uint32
		switch {
		case exp > 0:
			e = now + uint32(exp)
		case exp == 0 && found:
			e = r.exp
		}
		if e == 0 {
			e = m.expFor(0, now)
		}
		m.put(k, []byte(strconv.FormatInt(sum, 10)), e, c)
	case 6, 7: // check_and_set
		req := CheckAndSetRequest{HashKey: []byte(hk), CheckSortKey: []byte(h.pick(genSortKeys)),
			CheckType: protocol.CheckType(h.c.intn(19)), CheckOperand: []byte(h.pick(genValues)),
			SetDiffSortKey: h.bool(), SetSortKey: []byte(h.pick(genSortKeys)), SetValue: []byte(h.pick(genValues)),
			SetTTLSeconds: h.ttl(), ReturnCheckValue: h.bool()}
		h.note("check_and_set %+v", req)
		res, err := wb.CheckAndSet(req)
		setSK := req.CheckSortKey
		if req.SetDiffSortKey {
			setSK = req.SetSortKey
		}
		if h.modelCheckOp("check_and_set", m, now, hk, req.CheckSortKey, req.CheckType, req.CheckOperand, req.ReturnCheckValue, res, err) {
			m.put(mkey(hk, string(setSK)), req.SetValue, m.expFor(int64(req.SetTTLSeconds), now), c)
		}
	case 8: // check_and_mutate
		var muts []protocol.Mutate
		for range h.c.intn(4) {
			mu := protocol.Mutate{Operation: protocol.MutateOperation(h.c.intn(2)), SortKey: []byte(h.pick(genSortKeys))}
			if mu.Operation == protocol.MutatePut {
				mu.Value, mu.TTLSeconds = []byte(h.pick(genValues)), h.ttl()
			}
			muts = append(muts, mu)
		}
		req := CheckAndMutateRequest{HashKey: []byte(hk), CheckSortKey: []byte(h.pick(genSortKeys)),
			CheckType: protocol.CheckType(h.c.intn(19)), CheckOperand: []byte(h.pick(genValues)),
			Mutates: muts, ReturnCheckValue: h.bool()}
		h.note("check_and_mutate %+v", req)
		res, err := wb.CheckAndMutate(req)
		if len(muts) == 0 {
			h.codeCheck("check_and_mutate", err, protocol.CodeInvalidArgument)
			return
		}
		if h.modelCheckOp("check_and_mutate", m, now, hk, req.CheckSortKey, req.CheckType, req.CheckOperand, req.ReturnCheckValue, res, err) {
			for _, mu := range muts {
				k := mkey(hk, string(mu.SortKey))
				if mu.Operation == protocol.MutatePut {
					m.put(k, mu.Value, m.expFor(int64(mu.TTLSeconds), now), c)
				} else {
					m.del(k, c)
				}
			}
		}
	}
}

// modelCheckOp compares a check_and_* outcome; it reports whether the
// writes should be applied.
func (h *harness) modelCheckOp(what string, m *model, now uint32, hk string, sk []byte, ct protocol.CheckType, operand []byte, ret bool, res CheckResult, err error) bool {
	if ct > protocol.CheckIntGreater {
		h.codeCheck(what, err, protocol.CodeInvalidArgument)
		return false
	}
	r, exist := m.visible(mkey(hk, string(sk)), now)
	passed, code := modelCheck(ct, string(operand), exist, string(r.value))
	if code == protocol.CodeOK && !passed {
		code = protocol.CodeCheckFailed
	}
	h.codeCheck(what, err, code)
	want := CheckResult{}
	if ret {
		want.CheckValueReturned = true
		if exist {
			want.CheckValueExist = true
			want.CheckValue = r.value
		}
	}
	if res.CheckValueReturned != want.CheckValueReturned || res.CheckValueExist != want.CheckValueExist || !bytes.Equal(res.CheckValue, want.CheckValue) {
		h.fatalf("%s result %+v, model %+v", what, res, want)
	}
	return code == protocol.CodeOK
}

func (h *harness) filter() protocol.Filter {
	return protocol.Filter{Type: protocol.FilterType(h.c.intn(4)), Pattern: []byte(h.pick(genPatterns))}
}

func (h *harness) read() {
	now := h.now()
	hk := h.pick(genHashKeys)
	switch h.c.intn(8) {
	case 0: // get
		sk := h.pick(genSortKeys)
		h.note("get %q %q", hk, sk)
		v, err := h.e.Get([]byte(hk), []byte(sk))
		r, ok := h.m.visible(mkey(hk, sk), now)
		if !ok {
			h.codeCheck("get", err, protocol.CodeNotFound)
			return
		}
		h.codeCheck("get", err, protocol.CodeOK)
		if !bytes.Equal(v, r.value) {
			h.fatalf("get = %q, model %q", v, r.value)
		}
	case 1: // exist + ttl
		sk := h.pick(genSortKeys)
		h.note("exist/ttl %q %q", hk, sk)
		ex, err := h.e.Exist([]byte(hk), []byte(sk))
		h.codeCheck("exist", err, protocol.CodeOK)
		ttl, err := h.e.TTL([]byte(hk), []byte(sk))
		h.codeCheck("ttl", err, protocol.CodeOK)
		r, ok := h.m.visible(mkey(hk, sk), now)
		want := int32(-2)
		if ok {
			want = -1
			if r.exp != 0 {
				want = int32(r.exp - now)
			}
		}
		if ex != ok || ttl != want {
			h.fatalf("exist=%v ttl=%d, model %v %d", ex, ttl, ok, want)
		}
	case 2: // sortkey_count
		h.note("sortkey_count %q", hk)
		n, err := h.e.SortKeyCount([]byte(hk))
		h.codeCheck("sortkey_count", err, protocol.CodeOK)
		var want int64
		for k := range h.m.data {
			if khk, _ := splitKey(k); khk == hk {
				if _, ok := h.m.visible(k, now); ok {
					want++
				}
			}
		}
		if n != want {
			h.fatalf("sortkey_count = %d, model %d", n, want)
		}
	case 3: // batch_get
		var keys []FullKey
		var want []FullKeyValue
		for range 1 + h.c.intn(4) {
			k := FullKey{HashKey: []byte(h.pick(genHashKeys)), SortKey: []byte(h.pick(genSortKeys))}
			keys = append(keys, k)
			if r, ok := h.m.visible(mkey(string(k.HashKey), string(k.SortKey)), now); ok {
				want = append(want, FullKeyValue{HashKey: k.HashKey, SortKey: k.SortKey, Value: r.value})
			}
		}
		h.note("batch_get %d keys", len(keys))
		got, err := h.e.BatchGet(keys)
		h.codeCheck("batch_get", err, protocol.CodeOK)
		if len(got) != len(want) {
			h.fatalf("batch_get %d records, model %d", len(got), len(want))
		}
		for i := range got {
			if !bytes.Equal(got[i].HashKey, want[i].HashKey) || !bytes.Equal(got[i].SortKey, want[i].SortKey) || !bytes.Equal(got[i].Value, want[i].Value) {
				h.fatalf("batch_get record %d: %+v, model %+v", i, got[i], want[i])
			}
		}
	case 4, 5:
		h.multiGet(hk, now)
	default:
		h.scan(now)
	}
}

func (h *harness) multiGet(hk string, now uint32) {
	o := MultiGetOptions{MaxKVCount: int32(h.c.intn(4)), MaxKVSize: []int32{0, 1, 3, 10}[h.c.intn(4)],
		Reverse: h.bool(), NoValue: h.bool()}
	explicit := h.c.intn(3) == 0
	if explicit {
		for range 1 + h.c.intn(4) {
			o.SortKeys = append(o.SortKeys, []byte(h.pick(genSortKeys)))
		}
	} else {
		o.StartSortKey, o.StopSortKey = []byte(h.pick(genSortKeys)), []byte(h.pick(genSortKeys))
		o.StartInclusive, o.StopInclusive = h.bool(), h.bool()
		o.SortKeyFilter = h.filter()
	}
	h.note("multi_get %q %+v", hk, o)
	res, err := h.e.MultiGet([]byte(hk), o)
	h.codeCheck("multi_get", err, protocol.CodeOK)

	// Candidates in reading order.
	type kv struct{ sk, v string }
	var cands []kv
	if explicit {
		for _, sk := range o.SortKeys {
			if r, ok := h.m.visible(mkey(hk, string(sk)), now); ok {
				cands = append(cands, kv{string(sk), string(r.value)})
			}
		}
	} else {
		for _, k := range h.m.sortedKeys() {
			khk, ksk := splitKey(k)
			r, ok := h.m.visible(k, now)
			if ok && khk == hk && inSortRange(ksk, string(o.StartSortKey), o.StartInclusive, string(o.StopSortKey), o.StopInclusive) && filterOK(o.SortKeyFilter, ksk) {
				cands = append(cands, kv{ksk, string(r.value)})
			}
		}
		if o.Reverse {
			slices.Reverse(cands)
		}
	}
	maxC, maxS := DefaultMaxIterationCount, DefaultMaxIterationSizeBytes
	if o.MaxKVCount > 0 {
		maxC = int(o.MaxKVCount)
	}
	if o.MaxKVSize > 0 {
		maxS = int(o.MaxKVSize)
	}
	var want []kv
	size, complete := 0, true
	for _, c := range cands {
		if len(want) >= maxC || size >= maxS {
			complete = false
			break
		}
		if o.NoValue {
			c.v = ""
		}
		want = append(want, c)
		size += len(c.sk) + len(c.v)
	}
	if o.Reverse && !explicit {
		slices.Reverse(want)
	}
	if res.Complete != complete || len(res.KVs) != len(want) {
		h.fatalf("multi_get complete=%v n=%d, model complete=%v n=%d (%v)", res.Complete, len(res.KVs), complete, len(want), want)
	}
	for i, w := range want {
		g := res.KVs[i]
		if string(g.SortKey) != w.sk || string(g.Value) != w.v || (o.NoValue && g.Value != nil) {
			h.fatalf("multi_get record %d = %q=%q, model %q=%q", i, g.SortKey, g.Value, w.sk, w.v)
		}
	}
}

func (h *harness) scan(now uint32) {
	o := ScanOptions{HashKeyFilter: h.filter(), SortKeyFilter: h.filter(), BatchSize: 1 + h.c.intn(4), NoValue: h.bool()}
	switch h.c.intn(3) {
	case 0: // whole partition
	case 1: // one hashkey
		hk := h.pick(genHashKeys)
		lo, hi, err := keyschema.HashKeyRange([]byte(hk))
		if err != nil {
			h.fatalf("%v", err)
		}
		o.StartKey, o.StopKey, o.StartInclusive = lo, hi, true
	default: // arbitrary full keys
		o.StartKey = []byte(mkey(h.pick(genHashKeys), h.pick(genSortKeys)))
		o.StopKey = []byte(mkey(h.pick(genHashKeys), h.pick(genSortKeys)))
		o.StartInclusive, o.StopInclusive = h.bool(), h.bool()
	}
	h.note("scan %+v", o)
	id, err := h.e.Scans().Open(o)
	h.codeCheck("scan open", err, protocol.CodeOK)
	var got []ScanRecord
	for {
		b, err := h.e.Scans().Next(id)
		h.codeCheck("scan next", err, protocol.CodeOK)
		got = append(got, b.Records...)
		if b.Done {
			break
		}
		if len(b.Records) != o.BatchSize {
			h.fatalf("scan batch of %d records, not done, batch size %d", len(b.Records), o.BatchSize)
		}
	}
	if _, err := h.e.Scans().Next(id); err != ErrScanNotFound {
		h.fatalf("Next after Done: %v", err)
	}
	var want []ScanRecord
	for _, k := range h.m.sortedKeys() {
		if len(o.StartKey) > 0 && (o.StartInclusive && k < string(o.StartKey) || !o.StartInclusive && k <= string(o.StartKey)) {
			continue
		}
		if len(o.StopKey) > 0 && (o.StopInclusive && k > string(o.StopKey) || !o.StopInclusive && k >= string(o.StopKey)) {
			continue
		}
		hk, sk := splitKey(k)
		r, ok := h.m.visible(k, now)
		if !ok || !filterOK(o.HashKeyFilter, hk) || !filterOK(o.SortKeyFilter, sk) {
			continue
		}
		rec := ScanRecord{HashKey: []byte(hk), SortKey: []byte(sk), Value: r.value, ExpireTs: r.exp}
		if o.NoValue {
			rec.Value = nil
		}
		want = append(want, rec)
	}
	h.compareRecords("scan", got, want)
}

func TestDifferential(t *testing.T) {
	seeds := 40
	if testing.Short() {
		seeds = 8
	}
	for seed := range seeds {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			c := &randChooser{r: rand.New(rand.NewPCG(uint64(seed), 0x5eed)), left: 3000}
			newHarness(t, c).run()
		})
	}
}

func FuzzDifferential(f *testing.F) {
	f.Add([]byte{5, 0, 1, 2, 3, 4, 5, 6, 7, 12, 13, 14, 15})
	f.Add(bytes.Repeat([]byte{7, 1, 2, 0, 3, 19, 1, 1}, 20))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 4096 {
			data = data[:4096]
		}
		newHarness(t, &byteChooser{data: data}).run()
	})
}
