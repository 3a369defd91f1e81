package plog

import (
	"errors"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/vfs"
	"github.com/cockroachdb/pebble/vfs/errorfs"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

// crash simulates a power loss: everything not synced is lost. The old log
// is closed with syncs ignored so its Close cannot persist anything.
func crash(t *testing.T, fs *vfs.MemFS, l *Log) {
	t.Helper()
	fs.SetIgnoreSyncs(true)
	l.Close()
	fs.ResetToSyncedState()
	fs.SetIgnoreSyncs(false)
}

func TestCrashFsync(t *testing.T) {
	fs := vfs.NewStrictMem()
	rng := rand.New(rand.NewPCG(1, 2))
	var acked []*protocol.Mutation
	next := protocol.Decree(1)
	for round := 0; round < 20; round++ {
		l := mustOpen(t, testOpts(fs, nil))
		wantSame(t, replayAll(t, l, 0), acked)
		for i := rng.IntN(6); i > 0; i-- {
			batch := muts(next, next+protocol.Decree(rng.IntN(16)), 1)
			mustAppend(t, l, batch...)
			acked = append(acked, batch...)
			next += protocol.Decree(len(batch))
		}
		crash(t, fs, l)
	}
	if len(acked) < 100 {
		t.Fatalf("only %d mutations appended; the test did not cross segments", len(acked))
	}
}

func TestCrashPageCache(t *testing.T) {
	fs := vfs.NewStrictMem()
	opts := testOpts(fs, nil)
	opts.Sync = SyncPageCache
	rng := rand.New(rand.NewPCG(3, 4))
	var log []*protocol.Mutation // what the surviving log holds
	next := protocol.Decree(1)
	for round := 0; round < 30; round++ {
		l := mustOpen(t, opts)
		got := replayAll(t, l, 0)
		// Whatever survived is a prefix of what was appended, and it holds
		// at least everything that was synced.
		if len(got) > len(log) {
			t.Fatalf("round %d: %d mutations survived, only %d appended", round, len(got), len(log))
		}
		wantSame(t, got, log[:len(got)])
		log = got
		if len(got) > 0 {
			next = got[len(got)-1].Decree + 1
		} else {
			next = 1
		}
		synced := len(log)
		for i := 1 + rng.IntN(6); i > 0; i-- {
			batch := muts(next, next+protocol.Decree(rng.IntN(16)), 1)
			mustAppend(t, l, batch...)
			log = append(log, batch...)
			next += protocol.Decree(len(batch))
			if rng.IntN(3) == 0 {
				if err := l.Flush(); err != nil {
					t.Fatal(err)
				}
				synced = len(log)
			}
		}
		// Rotation syncs every segment but the active one.
		if segs := l.Stats().Segments; segs > 1 {
			l.mu.Lock()
			sealed := l.mu.segs[len(l.mu.segs)-2].maxDecree
			l.mu.Unlock()
			for synced < len(log) && log[synced].Decree <= sealed {
				synced++
			}
		}
		crash(t, fs, l)
		l = mustOpen(t, opts)
		got = replayAll(t, l, 0)
		if len(got) < synced {
			t.Fatalf("round %d: %d mutations survived, %d were synced", round, len(got), synced)
		}
		wantSame(t, got, log[:len(got)])
		l.Close()
	}
}

func TestCrashPageCacheWithoutSyncLosesTail(t *testing.T) {
	fs := vfs.NewStrictMem()
	opts := testOpts(fs, nil)
	opts.Sync = SyncPageCache
	l := mustOpen(t, opts)
	mustAppend(t, l, muts(1, 5, 1)...)
	crash(t, fs, l)
	l = mustOpen(t, opts)
	defer l.Close()
	// The segment's directory entry was synced at creation, its data never:
	// the log is empty but readable and appendable.
	if got := replayAll(t, l, 0); len(got) != 0 {
		t.Fatalf("unsynced mutations survived a power loss: %v", decreesBallots(got))
	}
	mustAppend(t, l, muts(1, 3, 1)...)
	wantSame(t, replayAll(t, l, 0), muts(1, 3, 1))
}

func TestBackgroundFlush(t *testing.T) {
	fs := vfs.NewStrictMem()
	ticks := make(chan time.Time)
	flushed := make(chan error)
	opts := testOpts(fs, nil)
	opts.Sync = SyncPageCache
	opts.flushTicks = ticks
	opts.afterFlush = func(err error) { flushed <- err }
	l := mustOpen(t, opts)
	mustAppend(t, l, muts(1, 5, 1)...)
	ticks <- time.Time{}
	if err := <-flushed; err != nil {
		t.Fatal(err)
	}
	mustAppend(t, l, muts(6, 7, 1)...) // not flushed
	crash(t, fs, l)
	opts.flushTicks, opts.afterFlush = nil, nil
	l = mustOpen(t, opts)
	defer l.Close()
	wantSame(t, replayAll(t, l, 0), muts(1, 5, 1))
}

// armedInjector fails operations of one kind on segment files once armed.
type armedInjector struct {
	op    errorfs.Op
	armed atomic.Bool
}

func (a *armedInjector) MaybeError(op errorfs.Op, path string) error {
	if op == a.op && a.armed.Load() {
		return errorfs.ErrInjected
	}
	return nil
}

func TestIOErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		op   errorfs.Op
	}{
		{"write", errorfs.OpFileWrite},
		{"sync", errorfs.OpFileSync},
		{"create", errorfs.OpCreate},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem := vfs.NewStrictMem()
			inj := &armedInjector{op: tc.op}
			opts := testOpts(errorfs.Wrap(mem, inj), nil)
			l := mustOpen(t, opts)
			acked := muts(1, 20, 1)
			mustAppend(t, l, acked...)
			r, err := l.NewReader(0)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()

			inj.armed.Store(true)
			// Enough to need a new segment, so "create" is exercised too.
			err = l.Append(muts(21, 40, 1))
			if !errors.Is(err, ErrFailed) || !errors.Is(err, errorfs.ErrInjected) {
				t.Fatalf("Append with injected %s error: %v", tc.name, err)
			}
			inj.armed.Store(false)
			if err := l.Append(muts(41, 41, 1)); !errors.Is(err, ErrFailed) {
				t.Fatalf("Append on a failed log: %v", err)
			}
			if st := l.Stats(); st.MaxDecree != 20 {
				t.Fatalf("failed append was published: %+v", st)
			}
			// Readers still see exactly what was acknowledged.
			n := 0
			for {
				m, err := r.Next()
				if err != nil {
					break
				}
				n++
				if m.Decree != protocol.Decree(n) {
					t.Fatalf("reader yielded %d at %d", m.Decree, n)
				}
			}
			if n != 19 { // decree 20 is not committed by the log's evidence
				t.Fatalf("reader yielded %d mutations", n)
			}
			l.Close()

			// After a power loss and a reopen on a healthy disk the log holds
			// the acknowledged prefix (the failed batch may or may not be
			// there, as a prefix) and takes appends again.
			mem.ResetToSyncedState()
			opts.FS = mem
			l = mustOpen(t, opts)
			defer l.Close()
			got := replayAll(t, l, 0)
			all := muts(1, 40, 1)
			if len(got) < len(acked) || len(got) > len(all) {
				t.Fatalf("%d mutations after reopen", len(got))
			}
			wantSame(t, got, all[:len(got)])
			d := got[len(got)-1].Decree
			mustAppend(t, l, mut(d+1, 1))
		})
	}
}
