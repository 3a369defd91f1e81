package replica

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/cockroachdb/pebble/vfs"

	"github.com/pegasus-go/pegasus/replicaserver/internal/plog"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

// BenchmarkWrite measures Write on the real file system with parallel
// writers (b.SetParallelism scales GOMAXPROCS), reporting how many client
// writes share a mutation.
func BenchmarkWrite(b *testing.B) {
	for _, tc := range []struct {
		name string
		sync plog.SyncPolicy
		par  int
	}{
		{"fsync/1", plog.SyncFsync, 1},
		{"fsync/x16", plog.SyncFsync, 16},
		{"pagecache/x16", plog.SyncPageCache, 16},
	} {
		b.Run(tc.name, func(b *testing.B) {
			opts := testOptions(vfs.Default)
			opts.Dir = b.TempDir()
			opts.PlogSync = tc.sync
			r := mustOpen(b, opts)
			defer mustClose(b, r)
			value := make([]byte, 100)
			var n atomic.Int64
			b.SetParallelism(tc.par)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := n.Add(1)
					req := &protocol.SetRequest{HashKey: []byte("h" + strconv.FormatInt(i%1000, 10)),
						SortKey: []byte(strconv.FormatInt(i, 10)), Value: value}
					if _, err := r.Write(context.Background(), protocol.OpPut, req); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			if st := r.Status(); st.Mutations > 0 {
				b.ReportMetric(float64(st.Updates)/float64(st.Mutations), "updates/mutation")
			}
		})
	}
}
