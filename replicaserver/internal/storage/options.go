package storage

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/bloom"
	"github.com/cockroachdb/pebble/vfs"
)

// Defaults applied by Options.EnsureDefaults.
const (
	DefaultBlockCacheSizeBytes   = 64 << 20
	DefaultMemTableSizeBytes     = 64 << 20
	DefaultBloomBitsPerKey       = 10
	DefaultMaxIterationCount     = 3000
	DefaultMaxIterationSizeBytes = 30 << 20
	DefaultScanBatchSize         = 100
	DefaultMaxScanBatchSize      = 10000
	DefaultMaxScanContexts       = 256
	DefaultScanIdleTimeout       = 5 * time.Minute
	DefaultTombstoneRetention    = time.Hour
)

// Options configures an Engine. The zero value is usable after
// EnsureDefaults (Open calls it on its own copy).
type Options struct {
	// FS is the file system every file of the database goes through.
	// Default vfs.Default.
	FS vfs.FS
	// Clock returns the current time; it decides TTL expiry on reads, the
	// time of writes that carry no timestamp, and scan-context idleness.
	// Default time.Now.
	Clock func() time.Time
	// Logger receives the engine's and pebble's log lines (pebble's at
	// debug level). Default: discard.
	Logger *slog.Logger

	// BlockCacheSizeBytes is the size of pebble's block cache.
	BlockCacheSizeBytes int64
	// MemTableSizeBytes is the size of one pebble memtable.
	MemTableSizeBytes uint64
	// BloomBitsPerKey sets the whole-key bloom filter of every level; a
	// negative value disables bloom filters.
	BloomBitsPerKey int
	// DisableWAL turns pebble's write-ahead log off. The replica's plog is
	// the log of record, so an engine without a WAL loses whatever was not
	// flushed on a crash and the replica replays it from the plog (it
	// learns where to start from LastAppliedDecree after reopening).
	DisableWAL bool
	// SyncWrites makes every Commit fsync pebble's WAL. Off by default: the
	// plog provides durability and the engine writes with pebble.NoSync.
	SyncWrites bool

	// DefaultTTLSeconds is the table env default_ttl: the TTL given to
	// records written without one. 0 = none. SetDefaultTTL changes it at
	// runtime.
	DefaultTTLSeconds int32

	// MaxIterationCount caps the records one MultiGet returns, whatever
	// the request asks.
	MaxIterationCount int
	// MaxIterationSizeBytes caps the bytes (sortkey + value) one MultiGet
	// returns, whatever the request asks.
	MaxIterationSizeBytes int

	// ScanBatchSize is the batch size of a scan that does not choose one.
	ScanBatchSize int
	// MaxScanBatchSize caps the batch size a scan may ask for.
	MaxScanBatchSize int
	// MaxScanContexts bounds the scan contexts open at once.
	MaxScanContexts int
	// ScanIdleTimeout closes a scan context not used for this long.
	ScanIdleTimeout time.Duration

	// TombstoneRetention is how long the tombstones deletes of a
	// duplicated table leave stay (judged by their timetag's timestamp)
	// before the reaper removes them. A duplicated write older than a
	// removed tombstone that arrives later could resurrect the record, so
	// it must exceed the duplication lag. Config [pegasus.server]
	// dup_tombstone_retention.
	TombstoneRetention time.Duration
}

// EnsureDefaults fills every unset field with its default and returns o.
func (o *Options) EnsureDefaults() *Options {
	if o.FS == nil {
		o.FS = vfs.Default
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.BlockCacheSizeBytes <= 0 {
		o.BlockCacheSizeBytes = DefaultBlockCacheSizeBytes
	}
	if o.MemTableSizeBytes == 0 {
		o.MemTableSizeBytes = DefaultMemTableSizeBytes
	}
	if o.BloomBitsPerKey == 0 {
		o.BloomBitsPerKey = DefaultBloomBitsPerKey
	}
	if o.MaxIterationCount <= 0 {
		o.MaxIterationCount = DefaultMaxIterationCount
	}
	if o.MaxIterationSizeBytes <= 0 {
		o.MaxIterationSizeBytes = DefaultMaxIterationSizeBytes
	}
	if o.MaxScanBatchSize <= 0 {
		o.MaxScanBatchSize = DefaultMaxScanBatchSize
	}
	if o.ScanBatchSize <= 0 {
		o.ScanBatchSize = DefaultScanBatchSize
	}
	if o.ScanBatchSize > o.MaxScanBatchSize {
		o.ScanBatchSize = o.MaxScanBatchSize
	}
	if o.MaxScanContexts <= 0 {
		o.MaxScanContexts = DefaultMaxScanContexts
	}
	if o.ScanIdleTimeout <= 0 {
		o.ScanIdleTimeout = DefaultScanIdleTimeout
	}
	if o.TombstoneRetention <= 0 {
		o.TombstoneRetention = DefaultTombstoneRetention
	}
	return o
}

// validate reports options EnsureDefaults cannot repair.
func (o *Options) validate() error {
	if o.DefaultTTLSeconds < 0 {
		return fmt.Errorf("storage: negative DefaultTTLSeconds %d", o.DefaultTTLSeconds)
	}
	if o.SyncWrites && o.DisableWAL {
		return fmt.Errorf("storage: SyncWrites needs the WAL; DisableWAL is set")
	}
	return nil
}

// PebbleOptions returns the pebble options the engine opens its database
// with, using cache as the block cache. It is exported so benchmarks and
// tools can open plain pebble with the same settings.
func (o *Options) PebbleOptions(cache *pebble.Cache) *pebble.Options {
	po := &pebble.Options{
		FS:                 o.FS,
		Cache:              cache,
		MemTableSize:       o.MemTableSizeBytes,
		DisableWAL:         o.DisableWAL,
		Logger:             pebbleLogger{o.Logger},
		FormatMajorVersion: pebble.FormatPrePebblev1MarkedCompacted,
	}
	po.Levels = make([]pebble.LevelOptions, 7)
	for i := range po.Levels {
		l := &po.Levels[i]
		l.BlockSize = 32 << 10
		l.Compression = pebble.SnappyCompression
		if o.BloomBitsPerKey > 0 {
			l.FilterPolicy = bloom.FilterPolicy(o.BloomBitsPerKey)
			l.FilterType = pebble.TableFilter
		}
		if i > 0 {
			l.TargetFileSize = po.Levels[i-1].TargetFileSize * 2
		} else {
			l.TargetFileSize = 8 << 20
		}
	}
	po.EnsureDefaults()
	return po
}

// pebbleLogger routes pebble's log lines to slog.
type pebbleLogger struct{ l *slog.Logger }

func (p pebbleLogger) Infof(format string, args ...any) {
	p.l.Debug(fmt.Sprintf(format, args...), "component", "pebble")
}

// Fatalf logs and panics: pebble calls it for states it cannot continue
// from and requires that it does not return.
func (p pebbleLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	p.l.Error(msg, "component", "pebble")
	panic("pebble: " + msg)
}
