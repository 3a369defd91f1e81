package storage

import (
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cockroachdb/pebble/vfs"
	"github.com/cockroachdb/pebble/vfs/errorfs"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

var errInjected = errors.New("injected IO error")

func TestOpenIOErrorIsReported(t *testing.T) {
	fs := errorfs.Wrap(vfs.NewMem(), errorfs.InjectorFunc(func(errorfs.Op, string) error { return errInjected }))
	_, err := Open("db", Options{FS: fs})
	wantCode(t, err, protocol.CodeIOError)
}

func TestCheckpointIOErrorLeavesEngineUsable(t *testing.T) {
	var failCheckpoint atomic.Bool
	fs := errorfs.Wrap(vfs.NewMem(), errorfs.InjectorFunc(func(op errorfs.Op, path string) error {
		if failCheckpoint.Load() && strings.HasPrefix(path, "cp") && op.OpKind() == errorfs.OpKindWrite {
			return errInjected
		}
		return nil
	}))
	clock := newFakeClock()
	e := openTest(t, fs, clock, nil)
	apply(t, e, func(wb *WriteBatch) { must(t, wb.Set([]byte("h"), []byte("s"), []byte("v"), 0)) })
	failCheckpoint.Store(true)
	_, err := e.Checkpoint("cp")
	wantCode(t, err, protocol.CodeIOError)
	failCheckpoint.Store(false)
	apply(t, e, func(wb *WriteBatch) { must(t, wb.Set([]byte("h"), []byte("s2"), []byte("v"), 0)) })
	if d, err := e.Checkpoint("cp2"); err != nil || d != 2 {
		t.Fatalf("checkpoint after a failed one: %d, %v", d, err)
	}
}
