package storage

import (
	"fmt"
	"testing"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/vfs"
	"github.com/pegasus-go/pegasus/shared/keyschema"
)

// The two benchmarks below run the same workload (one 100-byte value per
// write, fresh keys, pebble.NoSync, on the real file system with the
// engine's pebble options) so their numbers compare directly:
// BenchmarkApplySet goes through a decree-ordered engine write batch (key
// and value encoding, the metadata record, indexed batch), and
// BenchmarkRawPebbleSet is a plain pebble Set. Each runs with the WAL on
// (default; unsynced) and off.

func benchKey(i int) []byte { return []byte(fmt.Sprintf("user%010d", i)) }

var benchValue = make([]byte, 100)

func BenchmarkApplySet(b *testing.B) {
	for _, disableWAL := range []bool{false, true} {
		b.Run(fmt.Sprintf("wal=%v", !disableWAL), func(b *testing.B) {
			e, err := Open(b.TempDir(), Options{FS: vfs.Default, DisableWAL: disableWAL})
			if err != nil {
				b.Fatal(err)
			}
			defer e.Close()
			b.SetBytes(int64(len(benchValue)))
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				wb, err := e.NewWriteBatch(e.LastAppliedDecree()+1, WriteOptions{})
				if err != nil {
					b.Fatal(err)
				}
				if err := wb.Set(benchKey(i), []byte("f"), benchValue, 0); err != nil {
					b.Fatal(err)
				}
				if err := wb.Commit(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkRawPebbleSet(b *testing.B) {
	for _, disableWAL := range []bool{false, true} {
		b.Run(fmt.Sprintf("wal=%v", !disableWAL), func(b *testing.B) {
			o := Options{FS: vfs.Default, DisableWAL: disableWAL}
			o.EnsureDefaults()
			cache := pebble.NewCache(o.BlockCacheSizeBytes)
			db, err := pebble.Open(b.TempDir(), o.PebbleOptions(cache))
			cache.Unref()
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			// Same stored sizes as the engine: encoded key, header + value.
			value := keyschema.EncodeValue(keyschema.ValueHeader{}, benchValue)
			b.SetBytes(int64(len(benchValue)))
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				key, _ := keyschema.EncodeKey(benchKey(i), []byte("f"))
				if err := db.Set(key, value, pebble.NoSync); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
