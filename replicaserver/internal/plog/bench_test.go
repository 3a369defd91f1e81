package plog

import (
	"fmt"
	"testing"

	"github.com/cockroachdb/pebble/vfs"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

// BenchmarkAppend measures Append on the real disk with mutations of one
// 100-byte set update. One op is one Append call of the given batch size;
// MB/s counts framed record bytes.
func BenchmarkAppend(b *testing.B) {
	for _, policy := range []SyncPolicy{SyncFsync, SyncPageCache} {
		for _, batch := range []int{1, 16} {
			b.Run(fmt.Sprintf("%s/batch=%d", policy, batch), func(b *testing.B) {
				l, err := Open(Options{FS: vfs.Default, Dir: b.TempDir(), Sync: policy})
				if err != nil {
					b.Fatal(err)
				}
				defer l.Close()
				body := make([]byte, 100)
				ms := make([]*protocol.Mutation, batch)
				for i := range ms {
					ms[i] = &protocol.Mutation{
						Ballot:      1,
						TimestampUs: 1_700_000_000_000_000,
						Updates:     []protocol.Update{{Op: protocol.OpPut, Body: body}},
					}
				}
				rec, err := appendRecord(nil, ms[0])
				if err != nil {
					b.Fatal(err)
				}
				b.SetBytes(int64(len(rec) * batch))
				b.ReportAllocs()
				d := protocol.Decree(0)
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					for _, m := range ms {
						d++
						m.Decree, m.LastCommitted = d, d-1
					}
					if err := l.Append(ms); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
