package plog

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/cockroachdb/pebble/vfs"
)

// SyncPolicy says when Append makes its records durable. See the package
// documentation for the exact contract of each policy.
type SyncPolicy int

const (
	// SyncFsync syncs the active segment at the end of every Append: a
	// mutation is on stable storage when Append returns nil.
	SyncFsync SyncPolicy = iota
	// SyncPageCache hands records to the operating system without syncing
	// them (as Pegasus does by default). Records survive a crash of the
	// process but not of the machine, except as far as a Flush (or the
	// background flush) reached.
	SyncPageCache
)

// String returns "fsync" or "pagecache".
func (p SyncPolicy) String() string {
	switch p {
	case SyncFsync:
		return "fsync"
	case SyncPageCache:
		return "pagecache"
	}
	return fmt.Sprintf("SyncPolicy(%d)", int(p))
}

// DefaultSegmentSizeBytes is the segment rotation size used when
// Options.SegmentSizeBytes is zero.
const DefaultSegmentSizeBytes = 64 << 20

// minSegmentSizeBytes keeps tests able to force rotation with tiny segments
// while rejecting nonsense.
const minSegmentSizeBytes = headerSize + frameSize + 1

// Options configures a Log.
type Options struct {
	// FS is the file system all IO goes through. Default vfs.Default.
	FS vfs.FS
	// Dir is the directory holding this replica's segments; it is created if
	// missing. The log takes an exclusive lock on Dir/LOCK. Required.
	Dir string
	// SegmentSizeBytes is the size at which the active segment is closed and
	// a new one started. A segment exceeds it only when a single record is
	// larger. Default DefaultSegmentSizeBytes.
	SegmentSizeBytes int64
	// Sync is the durability policy. Default SyncFsync.
	Sync SyncPolicy
	// FlushInterval, with SyncPageCache, makes a background goroutine sync
	// the active segment this often, bounding what a power loss can take.
	// Zero disables it. Ignored with SyncFsync.
	FlushInterval time.Duration
	// Logger receives the log's few messages (truncation on open, removed
	// leftovers). Default: discard.
	Logger *slog.Logger

	// flushTicks replaces the FlushInterval ticker in tests.
	flushTicks <-chan time.Time
	// afterFlush, if set, runs after every background flush (tests).
	afterFlush func(error)
}

// ensureDefaults fills zero fields and validates the rest.
func (o *Options) ensureDefaults() error {
	if o.FS == nil {
		o.FS = vfs.Default
	}
	if o.Dir == "" {
		return errors.New("plog: Options.Dir is required")
	}
	if o.SegmentSizeBytes == 0 {
		o.SegmentSizeBytes = DefaultSegmentSizeBytes
	}
	if o.SegmentSizeBytes < minSegmentSizeBytes {
		return fmt.Errorf("plog: Options.SegmentSizeBytes %d is below the minimum %d", o.SegmentSizeBytes, minSegmentSizeBytes)
	}
	switch o.Sync {
	case SyncFsync, SyncPageCache:
	default:
		return fmt.Errorf("plog: unknown sync policy %d", int(o.Sync))
	}
	if o.FlushInterval < 0 {
		return fmt.Errorf("plog: negative Options.FlushInterval %v", o.FlushInterval)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}
