package embed

import (
	"strings"
	"time"

	"github.com/cockroachdb/pebble/vfs"
	"github.com/cockroachdb/pebble/vfs/errorfs"

	"github.com/pegasus-go/pegasus/replicaserver/internal/replica"
	"github.com/pegasus-go/pegasus/shared/failpoint"
)

// withFailpoints wraps the replica files' file system (the operating
// system's when fs is nil) and the clock (time.Now when nil) with the
// failpoints of reg: plog-write-error and plog-sync-error fail writes and
// syncs of plog files, clock-offset shifts the clock.
func withFailpoints(reg *failpoint.Registry, fs vfs.FS, clock func() time.Time) (vfs.FS, func() time.Time) {
	if fs == nil {
		fs = vfs.Default
	}
	return errorfs.Wrap(fs, plogInjector{reg}), reg.Clock(clock)
}

// plogInjector is the errorfs.Injector of the plog failpoints.
type plogInjector struct{ reg *failpoint.Registry }

// plogPathPart is in the path of every plog file.
const plogPathPart = "/" + replica.PlogDirName + "/"

// MaybeError fails a write or sync of a plog file when its failpoint
// fires.
func (i plogInjector) MaybeError(op errorfs.Op, path string) error {
	var name string
	switch op {
	case errorfs.OpFileWrite, errorfs.OpFileWriteAt:
		name = failpoint.PlogWriteError
	case errorfs.OpFileSync, errorfs.OpFileFlush:
		name = failpoint.PlogSyncError
	default:
		return nil
	}
	if !strings.Contains(path, plogPathPart) || !i.reg.Fire(name) {
		return nil
	}
	return failpoint.ErrInjected
}
