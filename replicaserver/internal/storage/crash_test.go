package storage

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/vfs"
)

// TestCrashRecovery applies random batches on a strict in-memory FS,
// sometimes syncing or flushing, then "crashes" (drops everything not
// synced) and reopens: LastAppliedDecree and the data must agree, and the
// recovered decree must be at least the last durable one.
func TestCrashRecovery(t *testing.T) {
	for _, disableWAL := range []bool{false, true} {
		for seed := range 6 {
			t.Run(fmt.Sprintf("wal=%v/seed=%d", !disableWAL, seed), func(t *testing.T) {
				testCrashRecovery(t, disableWAL, uint64(seed))
			})
		}
	}
}

func testCrashRecovery(t *testing.T, disableWAL bool, seed uint64) {
	r := rand.New(rand.NewPCG(seed, 99))
	fs := vfs.NewStrictMem()
	clock := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	opts := Options{FS: fs, Clock: func() time.Time { return clock }, DisableWAL: disableWAL, MemTableSizeBytes: 256 << 10}
	e, err := Open("db", opts)
	if err != nil {
		t.Fatal(err)
	}
	// states[d] is the expected content (key -> value) after decree d.
	states := []map[string]string{{}}
	for round := range 4 {
		for range 20 + r.IntN(40) {
			d := e.LastAppliedDecree() + 1
			wb, err := e.NewWriteBatch(d, WriteOptions{})
			if err != nil {
				t.Fatal(err)
			}
			st := clone(states[len(states)-1])
			for range 1 + r.IntN(4) {
				sk := fmt.Sprintf("k%02d", r.IntN(30))
				if r.IntN(4) == 0 {
					if err := wb.Del([]byte("h"), []byte(sk)); err != nil {
						t.Fatal(err)
					}
					delete(st, sk)
				} else {
					v := fmt.Sprintf("v%d-%d", d, r.IntN(1000))
					if err := wb.Set([]byte("h"), []byte(sk), []byte(v), 0); err != nil {
						t.Fatal(err)
					}
					st[sk] = v
				}
			}
			if err := wb.Commit(); err != nil {
				t.Fatal(err)
			}
			states = append(states, st)
			switch r.IntN(15) {
			case 0:
				if _, err := e.SyncWAL(); err != nil {
					t.Fatal(err)
				}
			case 1:
				if _, err := e.Flush(); err != nil {
					t.Fatal(err)
				}
			}
		}
		durable := e.LastDurableDecree()
		// Crash: further syncs are lost, the process dies, unsynced data
		// vanishes.
		fs.SetIgnoreSyncs(true)
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
		fs.ResetToSyncedState()
		fs.SetIgnoreSyncs(false)

		e, err = Open("db", opts)
		if err != nil {
			t.Fatalf("round %d: reopen: %v", round, err)
		}
		rec := e.LastAppliedDecree()
		if rec < durable || int(rec) >= len(states) {
			t.Fatalf("round %d: recovered decree %d, durable was %d, applied %d", round, rec, durable, len(states)-1)
		}
		got := readAll(t, e)
		want := states[rec]
		if len(got) != len(want) {
			t.Fatalf("round %d: decree %d: %d records, want %d", round, rec, len(got), len(want))
		}
		for k, v := range want {
			if got[k] != v {
				t.Fatalf("round %d: decree %d: %s = %q, want %q", round, rec, k, got[k], v)
			}
		}
		t.Logf("round %d: applied %d, durable %d, recovered %d", round, len(states)-1, durable, rec)
		// Replay continues from the recovered decree, as the plog would.
		states = states[:rec+1]
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
}

func clone(m map[string]string) map[string]string {
	c := make(map[string]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// readAll returns hashkey "h"'s records.
func readAll(t *testing.T, e *Engine) map[string]string {
	t.Helper()
	res, err := e.MultiGet([]byte("h"), MultiGetOptions{StartInclusive: true})
	if err != nil || !res.Complete {
		t.Fatalf("multi_get: %v complete=%v", err, res.Complete)
	}
	out := map[string]string{}
	for _, kv := range res.KVs {
		out[string(kv.SortKey)] = string(kv.Value)
	}
	return out
}
