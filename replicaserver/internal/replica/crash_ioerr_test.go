package replica

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cockroachdb/pebble/vfs"
	"github.com/cockroachdb/pebble/vfs/errorfs"

	"github.com/pegasus-go/pegasus/replicaserver/internal/plog"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

// TestCrashAfterPlogIOError: under concurrent writers a plog write or
// sync fails at a random point (the IO errors the robustness harness
// injects into real processes); the replica fails (PS_ERROR) and refuses
// everything after. Then the machine crashes: everything unsynced is
// dropped. Reopened on a healthy disk, the replica holds every write it
// acknowledged before the error, and takes writes again.
func TestCrashAfterPlogIOError(t *testing.T) {
	for seed := uint64(1); seed <= 8; seed++ {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 0x10e))
			mem := vfs.NewStrictMem()
			prepareFS(t, mem)
			op, opName := errorfs.OpFileWrite, "write"
			if rng.IntN(2) == 0 {
				op, opName = errorfs.OpFileSync, "sync"
			}
			failAt := int64(5 + rng.IntN(60))
			var seen, fired atomic.Int64
			inj := errorfs.InjectorFunc(func(o errorfs.Op, path string) error {
				if o != op || !strings.Contains(path, "/"+PlogDirName+"/") {
					return nil
				}
				if seen.Add(1) >= failAt {
					fired.Add(1) // and every later one: the disk stays bad
					return errorfs.ErrInjected
				}
				return nil
			})
			opts := testOptions(errorfs.Wrap(mem, inj))
			opts.PlogSync = plog.SyncFsync
			opts.PlogSegmentSizeBytes = 2048
			r := mustOpen(t, opts)

			m := &model{acked: map[string]string{}}
			var wg sync.WaitGroup
			var failed atomic.Int64
			for w := range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; ; i++ {
						hk, sk, v := "w", fmt.Sprintf("%d-%d", w, i), fmt.Sprintf("v%d.%d", w, i)
						_, err := r.Write(context.Background(), protocol.OpPut, setReq(hk, sk, v))
						if err != nil {
							if !errors.Is(err, protocol.CodeIOError) {
								t.Errorf("write after the injected error: %v, want an IO error", err)
							}
							failed.Add(1)
							return
						}
						m.mu.Lock()
						m.acked[hk+"/"+sk] = v
						m.mu.Unlock()
						if i > 500 {
							t.Errorf("plog %s number %d never failed after %d writes", opName, failAt, i)
							return
						}
					}
				}()
			}
			wg.Wait()
			if fired.Load() == 0 {
				t.Fatalf("the injected plog %s error never fired", opName)
			}
			if st := r.Info().Status; st != protocol.PartitionError {
				t.Fatalf("replica status %v after a plog IO error, want PS_ERROR", st)
			}
			if _, err := r.Engine(); err == nil {
				t.Fatal("a failed replica serves reads")
			}
			t.Logf("plog %s #%d failed; %d writes acknowledged before, %d writers stopped", opName, failAt, len(m.acked), failed.Load())

			crash(t, r, mem)
			r = mustOpen(t, testOptions(mem))
			checkRecovered(t, r, m)
			doSet(t, r, "after", "k", "v")
			mustClose(t, r)
		})
	}
}
