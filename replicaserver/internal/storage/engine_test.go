package storage

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/vfs"
	"github.com/pegasus-go/pegasus/shared/keyschema"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

// fakeClock is a settable clock for tests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func openTest(t *testing.T, fs vfs.FS, clock *fakeClock, mod func(*Options)) *Engine {
	t.Helper()
	o := Options{FS: fs, Clock: clock.Now, MemTableSizeBytes: 1 << 20, BlockCacheSizeBytes: 1 << 20}
	if mod != nil {
		mod(&o)
	}
	e, err := Open("db", o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return e
}

// apply runs fn in a write batch at the next decree and commits it.
func apply(t *testing.T, e *Engine, fn func(wb *WriteBatch)) {
	t.Helper()
	wb, err := e.NewWriteBatch(e.LastAppliedDecree()+1, WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer wb.Close()
	fn(wb)
	if err := wb.Commit(); err != nil {
		t.Fatal(err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantCode(t *testing.T, err error, code protocol.ErrorCode) {
	t.Helper()
	if got := protocol.CodeOf(err); got != code {
		t.Fatalf("error %v: code %v, want %v", err, got, code)
	}
}

func TestDecreeRules(t *testing.T) {
	e := openTest(t, vfs.NewMem(), newFakeClock(), nil)
	if e.LastAppliedDecree() != 0 || e.DataVersion() != DataVersion {
		t.Fatalf("new engine: decree %d version %d", e.LastAppliedDecree(), e.DataVersion())
	}
	for _, d := range []protocol.Decree{0, -1, 2} {
		_, err := e.NewWriteBatch(d, WriteOptions{})
		wantCode(t, err, protocol.CodeInvalidState)
	}
	apply(t, e, func(wb *WriteBatch) { must(t, wb.Set([]byte("h"), []byte("s"), []byte("v1"), 0)) })
	if e.LastAppliedDecree() != 1 {
		t.Fatalf("decree %d, want 1", e.LastAppliedDecree())
	}

	// A retry of decree 1 runs but writes nothing.
	wb, err := e.NewWriteBatch(1, WriteOptions{})
	must(t, err)
	if !wb.AlreadyApplied() {
		t.Fatal("retry batch not marked AlreadyApplied")
	}
	must(t, wb.Set([]byte("h"), []byte("s"), []byte("v2"), 0))
	must(t, wb.Commit())
	if v, err := e.Get([]byte("h"), []byte("s")); err != nil || string(v) != "v1" || e.LastAppliedDecree() != 1 {
		t.Fatalf("after retry: %q %v decree %d", v, err, e.LastAppliedDecree())
	}
	if err := wb.Set([]byte("h"), []byte("s"), nil, 0); !errors.Is(err, ErrBatchDone) {
		t.Fatalf("op after commit: %v", err)
	}

	// One batch at a time; an aborted batch leaves no trace.
	wb, err = e.NewWriteBatch(2, WriteOptions{})
	must(t, err)
	if _, err := e.NewWriteBatch(2, WriteOptions{}); !errors.Is(err, ErrBatchInProgress) {
		t.Fatalf("second batch: %v", err)
	}
	must(t, wb.Del([]byte("h"), []byte("s")))
	wb.Close()
	wb.Close()
	if _, err := e.Get([]byte("h"), []byte("s")); err != nil || e.LastAppliedDecree() != 1 {
		t.Fatalf("aborted batch changed state: %v decree %d", err, e.LastAppliedDecree())
	}
	// An empty batch still advances the decree (an empty mutation).
	apply(t, e, func(*WriteBatch) {})
	if e.LastAppliedDecree() != 2 {
		t.Fatalf("empty batch: decree %d", e.LastAppliedDecree())
	}
}

func TestBatchReadsOwnWrites(t *testing.T) {
	e := openTest(t, vfs.NewMem(), newFakeClock(), nil)
	apply(t, e, func(wb *WriteBatch) {
		for i := int64(1); i <= 3; i++ {
			n, err := wb.Incr([]byte("h"), []byte("c"), 10, 0)
			if err != nil || n != 10*i {
				t.Fatalf("incr %d = %d, %v", i, n, err)
			}
		}
		_, err := wb.CheckAndSet(CheckAndSetRequest{HashKey: []byte("h"), CheckSortKey: []byte("c"),
			CheckType: protocol.CheckIntEqual, CheckOperand: []byte("30"), SetDiffSortKey: true,
			SetSortKey: []byte("flag"), SetValue: []byte("yes")})
		must(t, err)
		n, err := wb.DelRange([]byte("h"), DelRangeOptions{StartInclusive: true})
		if err != nil || n != 2 {
			t.Fatalf("del_range = %d, %v", n, err)
		}
	})
	if n, err := e.SortKeyCount([]byte("h")); err != nil || n != 0 {
		t.Fatalf("sortkey_count = %d, %v", n, err)
	}
}

func TestIncrErrorsChangeNothing(t *testing.T) {
	e := openTest(t, vfs.NewMem(), newFakeClock(), nil)
	apply(t, e, func(wb *WriteBatch) {
		must(t, wb.Set([]byte("h"), []byte("text"), []byte("abc"), 0))
		must(t, wb.Set([]byte("h"), []byte("big"), []byte("9223372036854775806"), 0))
		_, err := wb.Incr([]byte("h"), []byte("text"), 1, 0)
		wantCode(t, err, protocol.CodeInvalidArgument)
		_, err = wb.Incr([]byte("h"), []byte("big"), 2, 0)
		wantCode(t, err, protocol.CodeIncrOverflow)
		n, err := wb.Incr([]byte("h"), []byte("big"), 1, 0)
		if err != nil || n != 1<<63-1 {
			t.Fatalf("incr to MaxInt64 = %d, %v", n, err)
		}
	})
	if v, _ := e.Get([]byte("h"), []byte("text")); string(v) != "abc" {
		t.Fatalf("failed incr changed the value to %q", v)
	}
}

func TestCheckAndMutateFailureReturnsCheckValue(t *testing.T) {
	e := openTest(t, vfs.NewMem(), newFakeClock(), nil)
	apply(t, e, func(wb *WriteBatch) {
		must(t, wb.Set([]byte("h"), []byte("c"), []byte("old"), 0))
		res, err := wb.CheckAndMutate(CheckAndMutateRequest{HashKey: []byte("h"), CheckSortKey: []byte("c"),
			CheckType: protocol.CheckBytesEqual, CheckOperand: []byte("new"), ReturnCheckValue: true,
			Mutates: []protocol.Mutate{{Operation: protocol.MutateDel, SortKey: []byte("c")}}})
		wantCode(t, err, protocol.CodeCheckFailed)
		if !res.CheckValueReturned || !res.CheckValueExist || string(res.CheckValue) != "old" {
			t.Fatalf("result %+v", res)
		}
		_, err = wb.CheckAndMutate(CheckAndMutateRequest{HashKey: []byte("h"), CheckSortKey: []byte("c"),
			CheckType: protocol.CheckIntLess, CheckOperand: []byte("5"),
			Mutates: []protocol.Mutate{{Operation: protocol.MutateDel, SortKey: []byte("c")}}})
		wantCode(t, err, protocol.CodeInvalidArgument)
		_, err = wb.CheckAndMutate(CheckAndMutateRequest{HashKey: []byte("h"), CheckSortKey: []byte("c"),
			Mutates: []protocol.Mutate{{Operation: 7, SortKey: []byte("c")}}})
		wantCode(t, err, protocol.CodeInvalidArgument)
	})
	if v, _ := e.Get([]byte("h"), []byte("c")); string(v) != "old" {
		t.Fatalf("value %q", v)
	}
}

func TestTTLAndDefaultTTL(t *testing.T) {
	clock := newFakeClock()
	e := openTest(t, vfs.NewMem(), clock, nil)
	apply(t, e, func(wb *WriteBatch) {
		must(t, wb.Set([]byte("h"), []byte("t"), []byte("v"), 10))
		must(t, wb.Set([]byte("h"), []byte("p"), []byte("v"), 0))
		wantCode(t, wb.Set([]byte("h"), []byte("n"), []byte("v"), -1), protocol.CodeInvalidArgument)
	})
	if ttl, err := e.TTL([]byte("h"), []byte("t")); err != nil || ttl != 10 {
		t.Fatalf("ttl = %d, %v", ttl, err)
	}
	if ttl, _ := e.TTL([]byte("h"), []byte("p")); ttl != -1 {
		t.Fatalf("ttl of a permanent record = %d", ttl)
	}
	if ttl, _ := e.TTL([]byte("h"), []byte("missing")); ttl != -2 {
		t.Fatalf("ttl of a missing record = %d", ttl)
	}
	clock.Advance(10 * time.Second)
	if _, err := e.Get([]byte("h"), []byte("t")); !errors.Is(err, protocol.CodeNotFound) {
		t.Fatalf("expired record visible: %v", err)
	}
	must(t, e.SetDefaultTTL(100))
	wantCode(t, e.SetDefaultTTL(-1), protocol.CodeInvalidArgument)
	apply(t, e, func(wb *WriteBatch) { must(t, wb.Set([]byte("h"), []byte("d"), []byte("v"), 0)) })
	if ttl, _ := e.TTL([]byte("h"), []byte("d")); ttl != 100 {
		t.Fatalf("default ttl not applied: %d", ttl)
	}
}

func TestWriteTimestampDrivesTTLAndTimetag(t *testing.T) {
	clock := newFakeClock()
	e := openTest(t, vfs.NewMem(), clock, nil)
	ts := clock.Now().Add(-time.Hour)
	wb, err := e.NewWriteBatch(1, WriteOptions{TimestampUs: ts.UnixMicro(), ClusterID: 5})
	must(t, err)
	must(t, wb.Set([]byte("h"), []byte("s"), []byte("v"), 7200))
	must(t, wb.Commit())
	if ttl, _ := e.TTL([]byte("h"), []byte("s")); ttl != 3600 {
		t.Fatalf("TTL computed from the mutation time: %d, want 3600", ttl)
	}
	key, _ := keyschema.EncodeKey([]byte("h"), []byte("s"))
	raw, closer, err := e.db.Get(key)
	must(t, err)
	h, _, err := keyschema.DecodeValue(raw)
	closer.Close()
	must(t, err)
	us, cid, del := keyschema.UnpackTimetag(h.Timetag)
	if int64(us) != ts.UnixMicro() || cid != 5 || del {
		t.Fatalf("timetag %d %d %v", us, cid, del)
	}
	_, err = e.NewWriteBatch(2, WriteOptions{ClusterID: 200})
	wantCode(t, err, protocol.CodeInvalidArgument)
}

func TestInvalidArguments(t *testing.T) {
	e := openTest(t, vfs.NewMem(), newFakeClock(), nil)
	long := bytes.Repeat([]byte("x"), keyschema.MaxHashKeyLen+1)
	_, err := e.Get(long, nil)
	wantCode(t, err, protocol.CodeInvalidArgument)
	_, err = e.MultiGet([]byte("h"), MultiGetOptions{SortKeyFilter: protocol.Filter{Type: 9, Pattern: []byte("a")}})
	wantCode(t, err, protocol.CodeInvalidArgument)
	_, err = e.Scans().Open(ScanOptions{HashKeyFilter: protocol.Filter{Type: 9}})
	wantCode(t, err, protocol.CodeInvalidArgument)
	apply(t, e, func(wb *WriteBatch) {
		wantCode(t, wb.Set(long, nil, nil, 0), protocol.CodeInvalidArgument)
		wantCode(t, wb.MultiSet([]byte("h"), nil, 0), protocol.CodeInvalidArgument)
		_, err := wb.MultiDel([]byte("h"), nil)
		wantCode(t, err, protocol.CodeInvalidArgument)
		_, err = wb.CheckAndSet(CheckAndSetRequest{HashKey: []byte("h"), CheckType: 99})
		wantCode(t, err, protocol.CodeInvalidArgument)
	})
}

func TestScanContexts(t *testing.T) {
	clock := newFakeClock()
	e := openTest(t, vfs.NewMem(), clock, func(o *Options) {
		o.MaxScanContexts = 2
		o.ScanIdleTimeout = time.Minute
	})
	apply(t, e, func(wb *WriteBatch) {
		for _, sk := range []string{"a", "b", "c"} {
			must(t, wb.Set([]byte("h"), []byte(sk), []byte("v"+sk), 0))
		}
	})
	s := e.Scans()
	id1, err := s.Open(ScanOptions{BatchSize: 2})
	must(t, err)
	// A scan sees the database as of Open.
	apply(t, e, func(wb *WriteBatch) { must(t, wb.Set([]byte("h"), []byte("d"), []byte("vd"), 0)) })
	b, err := s.Next(id1)
	if err != nil || b.Done || len(b.Records) != 2 || string(b.Records[1].SortKey) != "b" {
		t.Fatalf("first batch %+v %v", b, err)
	}
	b, err = s.Next(id1)
	if err != nil || !b.Done || len(b.Records) != 1 || string(b.Records[0].Value) != "vc" {
		t.Fatalf("last batch %+v %v", b, err)
	}
	if _, err := s.Next(id1); !errors.Is(err, ErrScanNotFound) || !errors.Is(err, protocol.CodeNotFound) {
		t.Fatalf("Next after done: %v", err)
	}

	id2, err := s.Open(ScanOptions{})
	must(t, err)
	id3, err := s.Open(ScanOptions{})
	must(t, err)
	if _, err := s.Open(ScanOptions{}); !errors.Is(err, ErrTooManyScans) {
		t.Fatalf("third open: %v", err)
	}
	s.Close(id3)
	clock.Advance(30 * time.Second)
	id4, err := s.Open(ScanOptions{})
	must(t, err)
	clock.Advance(30 * time.Second)
	// id2 is idle for a minute now, id4 for 30 s.
	if n := s.ExpireIdle(); n != 1 || s.Len() != 1 {
		t.Fatalf("ExpireIdle closed %d, %d left", n, s.Len())
	}
	if _, err := s.Next(id2); !errors.Is(err, ErrScanNotFound) {
		t.Fatalf("Next on an expired context: %v", err)
	}
	clock.Advance(time.Minute)
	if _, err := s.Next(id4); !errors.Is(err, ErrScanNotFound) || s.Len() != 0 {
		t.Fatalf("lazy expiry: %v, %d open", err, s.Len())
	}
	// Contexts left open are closed with the engine.
	_, err = s.Open(ScanOptions{})
	must(t, err)
	must(t, e.Close())
	if _, err := e.Get([]byte("h"), []byte("a")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Get after Close: %v", err)
	}
}

func TestReaper(t *testing.T) {
	clock := newFakeClock()
	e := openTest(t, vfs.NewMem(), clock, nil)
	apply(t, e, func(wb *WriteBatch) {
		for i := range 50 {
			ttl := int32(0)
			if i%2 == 0 {
				ttl = 10
			}
			must(t, wb.Set([]byte("h"), []byte{byte(i)}, []byte("v"), ttl))
		}
	})
	decree := e.LastAppliedDecree()
	var seen []ReapStats
	r := e.NewReaper(ReaperOptions{StepKeys: 7, DeleteBatchSize: 3, Grace: time.Minute,
		OnStep: func(s ReapStats) { seen = append(seen, s) }})
	clock.Advance(30 * time.Second)
	st, err := r.Step()
	must(t, err)
	if st.Reclaimed != 0 || st.Scanned != 7 {
		t.Fatalf("reaped inside the grace period: %+v", st)
	}
	clock.Advance(time.Minute)
	for st.Passes < 2 {
		st, err = r.Step()
		must(t, err)
	}
	// Pass one sees all 50 records; the first step fell inside the grace
	// period, so pass two still finds its 4 expired records besides the 25
	// permanent ones.
	if st.Reclaimed != 25 || st.Scanned != 50+29 {
		t.Fatalf("stats after two passes %+v", st)
	}
	if len(seen) == 0 || seen[len(seen)-1] != st {
		t.Fatal("OnStep did not report the cumulative stats")
	}
	if e.LastAppliedDecree() != decree {
		t.Fatal("reaper advanced the decree")
	}
	lo, hi := keyschema.DataLowerBound(), keyschema.DataUpperBound()
	var raw int
	must(t, iterateRange(e.db, lo, hi, false, func(_, _ []byte) (bool, error) { raw++; return true, nil }))
	if raw != 25 {
		t.Fatalf("%d raw records left, want 25", raw)
	}

	// Run steps on every tick until cancelled.
	ctx, cancel := context.WithCancel(context.Background())
	tick := make(chan time.Time)
	done := make(chan error)
	go func() { done <- r.Run(ctx, tick) }()
	tick <- time.Time{}
	tick <- time.Time{}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if r.Stats().Scanned != st.Scanned+14 {
		t.Fatalf("Run did not step: %+v", r.Stats())
	}
}

func TestReaperKeepsRewrittenRecord(t *testing.T) {
	clock := newFakeClock()
	e := openTest(t, vfs.NewMem(), clock, nil)
	apply(t, e, func(wb *WriteBatch) { must(t, wb.Set([]byte("h"), []byte("k"), []byte("old"), 1)) })
	clock.Advance(time.Hour)
	r := e.NewReaper(ReaperOptions{})
	key, _ := keyschema.EncodeKey([]byte("h"), []byte("k"))
	// The record is rewritten between the reaper's scan and its delete.
	apply(t, e, func(wb *WriteBatch) { must(t, wb.Set([]byte("h"), []byte("k"), []byte("new"), 0)) })
	n, tombs, err := r.deleteExpired([][]byte{key}, reapCutoff{expire: keyschema.EpochSeconds(clock.Now())})
	if err != nil || n != 0 || tombs != 0 {
		t.Fatalf("deleted %d, %v", n, err)
	}
	if v, err := e.Get([]byte("h"), []byte("k")); err != nil || string(v) != "new" {
		t.Fatalf("value %q %v", v, err)
	}
}

func TestCheckpointAndReopen(t *testing.T) {
	fs := vfs.NewMem()
	clock := newFakeClock()
	e := openTest(t, fs, clock, nil)
	for i := range 5 {
		apply(t, e, func(wb *WriteBatch) {
			must(t, wb.Set([]byte("h"), []byte{'k', byte('0' + i)}, []byte("v"), 0))
		})
	}
	d, err := e.Checkpoint("cp")
	if err != nil || d != 5 {
		t.Fatalf("checkpoint at %d, %v", d, err)
	}
	if _, err := e.Checkpoint("cp"); err == nil {
		t.Fatal("checkpoint into an existing dir succeeded")
	}
	apply(t, e, func(wb *WriteBatch) { must(t, wb.Del([]byte("h"), []byte("k0"))) })

	cp, err := Open("cp", Options{FS: fs, Clock: clock.Now})
	must(t, err)
	defer cp.Close()
	if cp.LastAppliedDecree() != 5 {
		t.Fatalf("checkpoint decree %d", cp.LastAppliedDecree())
	}
	if n, _ := cp.SortKeyCount([]byte("h")); n != 5 {
		t.Fatalf("checkpoint holds %d records", n)
	}
	// The learner continues from the checkpoint's decree.
	wb, err := cp.NewWriteBatch(6, WriteOptions{})
	must(t, err)
	must(t, wb.Del([]byte("h"), []byte("k0")))
	must(t, wb.Commit())

	fd, err := e.Flush()
	if err != nil || fd != 6 || e.LastDurableDecree() != 6 {
		t.Fatalf("flush covered %d (durable %d), %v", fd, e.LastDurableDecree(), err)
	}
}

// TestCheckpointWithoutWAL: with pebble's WAL off, the newest records
// live only in the memtable; the checkpoint must still hold everything up
// to the decree it reports.
func TestCheckpointWithoutWAL(t *testing.T) {
	fs := vfs.NewMem()
	clock := newFakeClock()
	e := openTest(t, fs, clock, func(o *Options) { o.DisableWAL = true })
	for i := range 3 {
		apply(t, e, func(wb *WriteBatch) {
			must(t, wb.Set([]byte("h"), []byte{'k', byte('0' + i)}, []byte("v"), 0))
		})
	}
	d, err := e.Checkpoint("cp")
	if err != nil || d != 3 {
		t.Fatalf("checkpoint at %d, %v", d, err)
	}
	cp, err := Open("cp", Options{FS: fs, Clock: clock.Now, DisableWAL: true})
	must(t, err)
	defer cp.Close()
	if cp.LastAppliedDecree() != 3 {
		t.Fatalf("checkpoint opened at decree %d, reported %d", cp.LastAppliedDecree(), d)
	}
	if n, _ := cp.SortKeyCount([]byte("h")); n != 3 {
		t.Fatalf("checkpoint holds %d of 3 records", n)
	}
}

func TestOpenRefusesNewerDataVersion(t *testing.T) {
	fs := vfs.NewMem()
	clock := newFakeClock()
	e, err := Open("db", Options{FS: fs, Clock: clock.Now})
	must(t, err)
	must(t, e.db.Set(metaKey, replicaMeta{lastApplied: 3, dataVersion: DataVersion + 1}.encode(), nil))
	must(t, e.Close())
	_, err = Open("db", Options{FS: fs, Clock: clock.Now})
	wantCode(t, err, protocol.CodeNotImplementable)

	_, err = Open("db2", Options{FS: fs, DisableWAL: true, SyncWrites: true})
	if err == nil || !strings.Contains(err.Error(), "SyncWrites") {
		t.Fatalf("SyncWrites without WAL: %v", err)
	}
}

func TestMetaDecode(t *testing.T) {
	m := replicaMeta{lastApplied: 42, dataVersion: 1, lastTimestampUs: 1_700_000_000_000_000}
	got, err := decodeMeta(m.encode())
	if err != nil || got != m {
		t.Fatalf("meta round trip %+v %v", got, err)
	}
	// Version 1 records (without the timestamp) still decode.
	v1 := m.encode()[:metaLen1]
	v1[0] = metaVersion1
	if got, err := decodeMeta(v1); err != nil || got != (replicaMeta{lastApplied: 42, dataVersion: 1}) {
		t.Fatalf("version 1 meta %+v %v", got, err)
	}
	for _, b := range [][]byte{nil, {metaVersion}, append([]byte{9}, m.encode()[1:]...)} {
		_, err := decodeMeta(b)
		wantCode(t, err, protocol.CodeCorruption)
	}
}

func TestConcurrentReadsDuringWrites(t *testing.T) {
	e := openTest(t, vfs.NewMem(), newFakeClock(), nil)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				res, err := e.MultiGet([]byte("h"), MultiGetOptions{StartInclusive: true})
				if err != nil {
					t.Error(err)
					return
				}
				// Batches write k and n together: a reader sees both or neither.
				if len(res.KVs)%2 != 0 {
					t.Errorf("torn batch: %d records", len(res.KVs))
					return
				}
			}
		}()
	}
	for i := range 200 {
		apply(t, e, func(wb *WriteBatch) {
			must(t, wb.Set([]byte("h"), []byte{'k', byte(i)}, []byte("v"), 0))
			must(t, wb.Set([]byte("h"), []byte{'n', byte(i)}, []byte("v"), 0))
		})
	}
	close(stop)
	wg.Wait()
}
