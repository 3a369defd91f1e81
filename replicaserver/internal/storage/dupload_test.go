package storage

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/vfs"

	"github.com/pegasus-go/pegasus/shared/keyschema"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

func TestResetDecreeKeepsRecordsAndTimetags(t *testing.T) {
	for _, disableWAL := range []bool{false, true} {
		fs := vfs.NewMem()
		clock := newFakeClock()
		mod := func(o *Options) { o.DisableWAL = disableWAL }
		src := openTest(t, fs, clock, mod)
		ts := clock.Now().Add(-time.Hour).UnixMicro()
		for i := range 5 {
			wb, err := src.NewWriteBatch(src.LastAppliedDecree()+1, WriteOptions{TimestampUs: ts + int64(i), ClusterID: 3})
			must(t, err)
			must(t, wb.Set([]byte("hk"), []byte{byte('a' + i)}, []byte{byte(i)}, 0))
			must(t, wb.Commit())
		}
		key, err := keyschema.EncodeKey([]byte("hk"), []byte("c"))
		must(t, err)
		want, found, err := getRecord(src.db, key, src.nowEpoch())
		if err != nil || !found {
			t.Fatalf("source record: %v %v", found, err)
		}
		if disableWAL {
			// Without a WAL a checkpoint holds only what is flushed.
			_, err = src.Flush()
			must(t, err)
		}
		d, err := src.Checkpoint("copy")
		if err != nil || d != 5 {
			t.Fatalf("checkpoint at %d: %v", d, err)
		}
		o := Options{FS: fs, Clock: clock.Now, MemTableSizeBytes: 1 << 20, BlockCacheSizeBytes: 1 << 20, DisableWAL: disableWAL}
		prev, err := ResetDecree("copy", o)
		if err != nil || prev != 5 {
			t.Fatalf("ResetDecree = %d, %v; want 5", prev, err)
		}
		e, err := Open("copy", o)
		must(t, err)
		if e.LastAppliedDecree() != 0 || e.LastDurableDecree() != 0 || e.DataVersion() != DataVersion {
			t.Fatalf("reset engine at decree %d durable %d version %d", e.LastAppliedDecree(), e.LastDurableDecree(), e.DataVersion())
		}
		got, found, err := getRecord(e.db, key, e.nowEpoch())
		if err != nil || !found || !bytes.Equal(got.value, want.value) || got.timetag != want.timetag || got.timetag == 0 {
			t.Fatalf("copied record %+v (found %v, %v), want %+v", got, found, err, want)
		}
		for i := range 5 {
			v, err := e.Get([]byte("hk"), []byte{byte('a' + i)})
			if err != nil || !bytes.Equal(v, []byte{byte(i)}) {
				t.Fatalf("record %d: %q %v", i, v, err)
			}
		}
		// The new replica numbers its decrees from 1.
		if _, err := e.NewWriteBatch(6, WriteOptions{}); !errors.Is(err, protocol.CodeInvalidState) {
			t.Fatalf("batch at the master's next decree: %v", err)
		}
		apply(t, e, func(wb *WriteBatch) { must(t, wb.Set([]byte("hk"), []byte("z"), []byte("new"), 0)) })
		if e.LastAppliedDecree() != 1 {
			t.Fatalf("first follower decree %d", e.LastAppliedDecree())
		}
		must(t, e.Close())
	}
}

func TestResetDecreeErrors(t *testing.T) {
	fs := vfs.NewMem()
	o := Options{FS: fs, MemTableSizeBytes: 1 << 20, BlockCacheSizeBytes: 1 << 20}
	if _, err := ResetDecree("missing", o); !errors.Is(err, protocol.CodeIOError) {
		t.Fatalf("missing dir: %v", err)
	}
	e := openTest(t, fs, newFakeClock(), nil)
	if _, err := ResetDecree("db", o); err == nil {
		t.Fatal("reset of an open database succeeded")
	}
	_ = e
}
