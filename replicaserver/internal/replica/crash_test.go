package replica

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cockroachdb/pebble/vfs"

	"github.com/pegasus-go/pegasus/replicaserver/internal/plog"
	"github.com/pegasus-go/pegasus/replicaserver/internal/storage"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

// model is what the writers of a crash test had acknowledged.
type model struct {
	mu           sync.Mutex
	acked        map[string]string // "hashkey/sortkey" -> value
	maxIncr      int64             // largest acknowledged value of the shared counter
	incrAttempts int64             // incrs issued, acknowledged or not
}

// checkRecovered verifies a reopened replica: decrees line up and every
// acknowledged write is there.
func checkRecovered(t *testing.T, r *Replica, m *model) {
	t.Helper()
	applied, ps := r.engine.LastAppliedDecree(), r.plog.Stats()
	if applied != ps.MaxDecree {
		t.Fatalf("engine applied %d, plog ends at %d", applied, ps.MaxDecree)
	}
	if st := r.Status(); st.LastApplied != applied || st.LastCommitted != applied {
		t.Fatalf("status applied %d committed %d, engine %d", st.LastApplied, st.LastCommitted, applied)
	}
	for k, v := range m.acked {
		hk, sk, _ := strings.Cut(k, "/")
		if got, ok := read(t, r, hk, sk); !ok || got != v {
			t.Fatalf("acknowledged %s = %q lost (found %q, %v); engine at %d", k, v, got, ok, applied)
		}
	}
	got, ok := read(t, r, "c", "n")
	n, _ := strconv.ParseInt(got, 10, 64)
	if m.incrAttempts > 0 && m.maxIncr > 0 && (!ok || n < m.maxIncr) {
		t.Fatalf("counter = %q, acknowledged up to %d", got, m.maxIncr)
	}
	if n > m.incrAttempts {
		t.Fatalf("counter = %d after %d incrs", n, m.incrAttempts)
	}
}

// runCrashRounds runs rounds of concurrent writers, each ended by a crash
// at a random spot of the loop (or, when the random spot is not reached,
// between two rounds of the loop), and checks the reopened replica.
func runCrashRounds(t *testing.T, seed uint64, configure func(*Options), crashFn func(*Replica)) {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	m := &model{acked: map[string]string{}}
	const rounds, writers, ops = 4, 6, 40
	for round := range rounds {
		opts := testOptions(nil)
		configure(&opts)
		opts.PlogSegmentSizeBytes = 2048
		point := crashPoint(rng.IntN(4))
		after := 1 + rng.IntN(120)
		var armed atomic.Bool
		var visits atomic.Int64
		opts.hooks.crashAt = func(p crashPoint) bool {
			if !armed.Load() || p != point {
				return false
			}
			return visits.Add(1) >= int64(after)
		}
		r := mustOpen(t, opts)
		checkRecovered(t, r, m)
		armed.Store(true)

		var wg sync.WaitGroup
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range ops {
					var err error
					if i%4 == 3 {
						m.mu.Lock()
						m.incrAttempts++
						m.mu.Unlock()
						var ir *protocol.IncrResponse
						if ir, err = doIncr(r, "c", "n", 1); err == nil {
							m.mu.Lock()
							m.maxIncr = max(m.maxIncr, ir.NewValue)
							m.mu.Unlock()
						}
					} else {
						hk, sk := "r"+strconv.Itoa(round), fmt.Sprintf("w%d-%d", w, i)
						v := fmt.Sprintf("%d.%d.%d", round, w, i)
						if _, err = r.Write(context.Background(), protocol.OpPut, setReq(hk, sk, v)); err == nil {
							m.mu.Lock()
							m.acked[hk+"/"+sk] = v
							m.mu.Unlock()
						}
					}
					if err != nil {
						if !errors.Is(err, protocol.CodeInvalidState) {
							t.Errorf("write during crash: %v", err)
						}
						return
					}
				}
			}()
		}
		wg.Wait()
		if round%2 == 1 {
			// Let the engine become durable and the plog shrink, so recovery
			// also starts from a collected plog.
			r.syncEngine()
			_ = r.call(func() error { r.maybeGC(); return nil })
		}
		t.Logf("round %d: crash at point %d after %d visits (reached %v), %d writes acknowledged so far",
			round, point, after, visits.Load() >= int64(after), len(m.acked))
		crashFn(r)
	}
	opts := testOptions(nil)
	configure(&opts)
	r := mustOpen(t, opts)
	checkRecovered(t, r, m)
	// The replica keeps working after all those crashes.
	d := doSet(t, r, "final", "k", "v")
	if d != r.plog.Stats().MaxDecree {
		t.Fatalf("new write at decree %d, plog ends at %d", d, r.plog.Stats().MaxDecree)
	}
	mustClose(t, r)
}

// TestCrashStrictFsync: under SyncFsync a power loss (everything unsynced
// dropped, for the plog and pebble alike) loses no acknowledged write.
func TestCrashStrictFsync(t *testing.T) {
	for seed := uint64(1); seed <= 6; seed++ {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			fs := vfs.NewStrictMem()
			prepareFS(t, fs)
			runCrashRounds(t, seed, func(o *Options) {
				o.FS = fs
				o.PlogSync = plog.SyncFsync
			}, func(r *Replica) { crash(t, r, fs) })
		})
	}
}

// TestProcessCrashPageCache: under SyncPageCache a process crash keeps
// what the plog handed to the OS and loses no acknowledged write, even
// though pebble loses everything it did not sync (here: more than a
// process crash would take from it).
func TestProcessCrashPageCache(t *testing.T) {
	for seed := uint64(1); seed <= 4; seed++ {
		for _, disableWAL := range []bool{false, true} {
			t.Run(fmt.Sprintf("seed=%d/disableWAL=%v", seed, disableWAL), func(t *testing.T) {
				fs := vfs.NewMem() // plog and metadata: the page cache survives
				engFS := vfs.NewStrictMem()
				prepareFS(t, fs)
				if err := engFS.MkdirAll(testDir, 0o755); err != nil {
					t.Fatal(err)
				}
				for _, d := range []string{"/", "/data", testDir} {
					if err := syncDir(engFS, d); err != nil {
						t.Fatal(err)
					}
				}
				runCrashRounds(t, seed, func(o *Options) {
					o.FS = fs
					o.Storage.FS = engFS
					o.Storage.DisableWAL = disableWAL
					o.PlogSync = plog.SyncPageCache
				}, func(r *Replica) { stopAndDrop(r, engFS) })
			})
		}
	}
}

// TestPlogRestoresWhatTheEngineLost: with pebble's WAL disabled a crash
// takes the engine back; the plog brings every acknowledged write back.
func TestPlogRestoresWhatTheEngineLost(t *testing.T) {
	fs := vfs.NewMem()
	prepareFS(t, fs)
	opts := testOptions(fs)
	opts.Storage.DisableWAL = true
	r := mustOpen(t, opts)
	const n = 100
	for i := range n {
		doSet(t, r, "h", strconv.Itoa(i), "v"+strconv.Itoa(i))
	}
	last := r.engine.LastAppliedDecree()
	stopAndDrop(r) // the process dies: pebble's memtable goes with it

	eng, err := storage.Open(fs.PathJoin(testDir, DataDirName), storage.Options{FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	lost := eng.LastAppliedDecree()
	if err := eng.Close(); err != nil {
		t.Fatal(err)
	}
	if lost >= last {
		t.Fatalf("the engine kept decree %d of %d: nothing to prove", lost, last)
	}

	r = mustOpen(t, opts)
	defer mustClose(t, r)
	if got := r.engine.LastAppliedDecree(); got != last {
		t.Fatalf("after replay the engine is at %d, want %d", got, last)
	}
	for i := range n {
		if v, ok := read(t, r, "h", strconv.Itoa(i)); !ok || v != "v"+strconv.Itoa(i) {
			t.Fatalf("h/%d = %q %v", i, v, ok)
		}
	}
	t.Logf("engine lost decrees %d..%d; the plog replayed them", lost+1, last)
}

// TestPlogGC: the plog is collected below the engine's durable decree and
// the GC floor, never above, and a power loss after GC loses nothing. The
// engine syncs by itself whenever the plog grew by a segment.
func TestPlogGC(t *testing.T) {
	fs := vfs.NewStrictMem()
	prepareFS(t, fs)
	opts := testOptions(fs)
	opts.PlogSegmentSizeBytes = 1024
	opts.Storage.DisableWAL = true // durable only through a flush
	r := mustOpen(t, opts)
	gc := func() { _ = r.call(func() error { r.maybeGC(); return nil }) }
	check := func() {
		t.Helper()
		gc()
		st := r.plog.Stats()
		if d := r.engine.LastDurableDecree(); st.MinDecree > d+1 {
			t.Fatalf("plog starts at %d, engine durable only up to %d", st.MinDecree, d)
		}
	}
	r.SetGCFloor(GCFloorLearn, 50)
	for i := range 200 {
		doSet(t, r, "h", strconv.Itoa(i), "v")
		check()
	}
	gc()
	st := r.plog.Stats()
	if st.MinDecree > 50 {
		t.Fatalf("with floor 50 the plog starts at %d", st.MinDecree)
	}
	r.SetGCFloor(GCFloorLearn, NoGCFloor)
	r.syncEngine()
	if d := r.engine.LastDurableDecree(); d != 200 {
		t.Fatalf("durable decree after sync = %d", d)
	}
	gc()
	st2 := r.plog.Stats()
	if st2.MinDecree <= 50 || st2.Segments >= st.Segments {
		t.Fatalf("without floor: %+v (before %+v)", st2, st)
	}
	check()
	for i := 200; i < 250; i++ {
		doSet(t, r, "h", strconv.Itoa(i), "v")
		check()
	}
	durable := r.engine.LastDurableDecree()
	crash(t, r, fs) // the engine loses what it did not flush; the plog holds it
	r = mustOpen(t, opts)
	defer mustClose(t, r)
	if got := r.engine.LastAppliedDecree(); got != 250 {
		t.Fatalf("engine at %d after recovery, want 250", got)
	}
	for i := range 250 {
		if _, ok := read(t, r, "h", strconv.Itoa(i)); !ok {
			t.Fatalf("h/%d lost", i)
		}
	}
	t.Logf("engine durable at %d before the crash; plog replayed the rest", durable)
}

// TestPlogTailCorruption: a corrupt last record is cut off at Open with a
// log line; the replica recovers the records before it and goes on.
func TestPlogTailCorruption(t *testing.T) {
	fs := vfs.NewMem()
	prepareFS(t, fs)
	opts := testOptions(fs)
	opts.Storage.DisableWAL = true // recovery depends on the plog alone
	r := mustOpen(t, opts)
	const n = 20
	for i := range n {
		doSet(t, r, "h", strconv.Itoa(i), "v")
	}
	stopAndDrop(r)

	dir := fs.PathJoin(testDir, PlogDirName)
	names, err := fs.List(dir)
	if err != nil {
		t.Fatal(err)
	}
	var segs []string
	for _, name := range names {
		if strings.HasPrefix(name, "log.") {
			segs = append(segs, name)
		}
	}
	slices.Sort(segs)
	if len(segs) == 0 {
		t.Fatal("no plog segment")
	}
	f, err := fs.OpenReadWrite(fs.PathJoin(dir, segs[len(segs)-1]))
	if err != nil {
		t.Fatal(err)
	}
	info, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, info.Size()-1); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{b[0] ^ 0xff}, info.Size()-1); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	logs := &logBuffer{}
	opts.Logger = slog.New(slog.NewTextHandler(logs, nil))
	r = mustOpen(t, opts)
	defer mustClose(t, r)
	if !strings.Contains(logs.String(), "truncating log at corrupt record") {
		t.Fatalf("no truncation log line in:\n%s", logs)
	}
	if got := r.engine.LastAppliedDecree(); got != n-1 {
		t.Fatalf("engine at %d, want %d", got, n-1)
	}
	for i := range n - 1 {
		if _, ok := read(t, r, "h", strconv.Itoa(i)); !ok {
			t.Fatalf("h/%d lost", i)
		}
	}
	if _, ok := read(t, r, "h", strconv.Itoa(n-1)); ok {
		t.Fatal("the corrupt record was applied")
	}
	if d := doSet(t, r, "h", "again", "v"); d != n {
		t.Fatalf("next write at decree %d, want %d", d, n)
	}
}
