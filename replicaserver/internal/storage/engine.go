package storage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/vfs"
	"github.com/pegasus-go/pegasus/shared/keyschema"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

// DataVersion is the version of the on-disk data layout this package writes
// (key schema and value header). It is stored in the replica metadata of
// every new database; Open refuses a database with a newer version.
const DataVersion uint32 = 1

// Sentinel errors.
var (
	// ErrClosed is returned by every operation after Close.
	ErrClosed = &protocol.Error{Code: protocol.CodeInvalidState, Message: "storage engine is closed"}
	// ErrBatchInProgress is returned by NewWriteBatch while another write
	// batch of the same engine is open.
	ErrBatchInProgress = &protocol.Error{Code: protocol.CodeInvalidState, Message: "another write batch is open"}
	// ErrBatchDone is returned by operations on a write batch after Commit
	// or Close.
	ErrBatchDone = &protocol.Error{Code: protocol.CodeInvalidState, Message: "write batch already committed or closed"}
)

// metaKey holds the replica metadata record.
var metaKey = keyschema.InternalKey("replica-meta")

// The metadata record: version 1 holds the last applied decree and the
// data version; version 2 adds the largest write timestamp.
const (
	metaVersion1 = 1
	metaVersion  = 2
	metaLen1     = 1 + 8 + 4
	metaLen      = metaLen1 + 8
)

// replicaMeta is the metadata record written with every committed batch.
type replicaMeta struct {
	lastApplied protocol.Decree
	dataVersion uint32
	// lastTimestampUs is the largest timestamp (µs) any committed batch
	// wrote with: a batch's own timestamp or a duplicated entry's.
	lastTimestampUs int64
}

func (m replicaMeta) encode() []byte {
	b := make([]byte, 0, metaLen)
	b = append(b, metaVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(m.lastApplied))
	b = binary.BigEndian.AppendUint32(b, m.dataVersion)
	return binary.BigEndian.AppendUint64(b, uint64(max(m.lastTimestampUs, 0)))
}

func decodeMeta(b []byte) (replicaMeta, error) {
	if len(b) == 0 || !(b[0] == metaVersion1 && len(b) == metaLen1 || b[0] == metaVersion && len(b) == metaLen) {
		return replicaMeta{}, protocol.Errorf(protocol.CodeCorruption, "storage: malformed replica metadata (%d bytes)", len(b))
	}
	d := binary.BigEndian.Uint64(b[1:9])
	if d > 1<<62 {
		return replicaMeta{}, protocol.Errorf(protocol.CodeCorruption, "storage: replica metadata decree %d out of range", d)
	}
	m := replicaMeta{lastApplied: protocol.Decree(d), dataVersion: binary.BigEndian.Uint32(b[9:13])}
	if b[0] == metaVersion {
		ts := binary.BigEndian.Uint64(b[13:21])
		if ts > keyschema.MaxTimetagTimestampUs {
			return replicaMeta{}, protocol.Errorf(protocol.CodeCorruption, "storage: replica metadata timestamp %d out of range", ts)
		}
		m.lastTimestampUs = int64(ts)
	}
	return m, nil
}

// Engine is the storage engine of one partition replica: a pebble database
// holding the replica's records and its metadata. See the package doc for
// the concurrency contract.
type Engine struct {
	opts      Options
	dir       string
	db        *pebble.DB
	logger    *slog.Logger
	writeOpts *pebble.WriteOptions

	// closeMu is held shared by every operation and exclusively by Close.
	closeMu sync.RWMutex
	closed  bool // guarded by closeMu

	// commitMu serializes pebble commits that must be ordered against each
	// other: write batches, reaper deletes and checkpoints.
	commitMu sync.Mutex

	batchOpen     atomic.Bool
	lastApplied   atomic.Int64
	lastTimestamp atomic.Int64
	lastDurable   atomic.Int64
	defaultTTL    atomic.Int32
	dataVersion   uint32

	scans *ScanManager
}

// Open opens (creating if needed) the engine's database in dir on
// opts.FS and reads the replica metadata.
func Open(dir string, opts Options) (*Engine, error) {
	opts.EnsureDefaults()
	if err := opts.validate(); err != nil {
		return nil, protocol.Errorf(protocol.CodeInvalidConfig, "%v", err)
	}
	if err := ensureDir(opts.FS, dir); err != nil {
		return nil, ioError("create data dir", err)
	}
	cache := pebble.NewCache(opts.BlockCacheSizeBytes)
	defer cache.Unref()
	db, err := pebble.Open(dir, opts.PebbleOptions(cache))
	if err != nil {
		return nil, ioError("open pebble", err)
	}
	e := &Engine{
		opts:      opts,
		dir:       dir,
		db:        db,
		logger:    opts.Logger.With("component", "storage"),
		writeOpts: pebble.NoSync,
	}
	if opts.SyncWrites {
		e.writeOpts = pebble.Sync
	}
	e.defaultTTL.Store(opts.DefaultTTLSeconds)
	e.scans = newScanManager(e)
	meta, err := e.loadMeta()
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	e.lastApplied.Store(int64(meta.lastApplied))
	e.lastTimestamp.Store(meta.lastTimestampUs)
	e.lastDurable.Store(int64(meta.lastApplied))
	e.dataVersion = meta.dataVersion
	e.logger.Info("storage engine opened", "dir", dir, "decree", int64(meta.lastApplied), "data_version", meta.dataVersion)
	return e, nil
}

// loadMeta reads the metadata record, writing a fresh one into a new
// database.
func (e *Engine) loadMeta() (replicaMeta, error) {
	raw, closer, err := e.db.Get(metaKey)
	if errors.Is(err, pebble.ErrNotFound) {
		m := replicaMeta{dataVersion: DataVersion}
		wo := pebble.Sync
		if e.opts.DisableWAL {
			// Nothing to sync; a lost initial record reads as a new
			// database again.
			wo = pebble.NoSync
		}
		if err := e.db.Set(metaKey, m.encode(), wo); err != nil {
			return replicaMeta{}, ioError("write initial metadata", err)
		}
		return m, nil
	}
	if err != nil {
		return replicaMeta{}, ioError("read metadata", err)
	}
	m, err := decodeMeta(raw)
	_ = closer.Close()
	if err != nil {
		return replicaMeta{}, err
	}
	if m.dataVersion > DataVersion {
		return replicaMeta{}, protocol.Errorf(protocol.CodeNotImplementable,
			"storage: data version %d is newer than the supported %d", m.dataVersion, DataVersion)
	}
	return m, nil
}

// ensureDir creates dir and makes its entry durable by syncing the parent
// directory (pebble syncs the directory's contents, not its own entry).
func ensureDir(fs vfs.FS, dir string) error {
	if _, err := fs.Stat(dir); err == nil {
		return nil
	}
	if err := fs.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	parent := fs.PathDir(dir)
	if parent == "" {
		parent = "."
	}
	d, err := fs.OpenDir(parent)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		_ = d.Close()
		return err
	}
	return d.Close()
}

// Close closes every scan context and the database. Operations that are
// running finish first; later calls return ErrClosed. An open write batch
// is not committed. Close is idempotent.
func (e *Engine) Close() error {
	e.closeMu.Lock()
	defer e.closeMu.Unlock()
	if e.closed {
		return nil
	}
	e.closed = true
	e.scans.closeAll()
	if err := e.db.Close(); err != nil {
		return ioError("close pebble", err)
	}
	return nil
}

// acquire takes the shared close lock; the caller must call e.release when
// it returns nil.
func (e *Engine) acquire() error {
	e.closeMu.RLock()
	if e.closed {
		e.closeMu.RUnlock()
		return ErrClosed
	}
	return nil
}

func (e *Engine) release() { e.closeMu.RUnlock() }

// Dir returns the directory the engine was opened at.
func (e *Engine) Dir() string { return e.dir }

// LastAppliedDecree returns the decree of the last committed write batch
// (0 for a new database). It is read from the database at Open and
// advanced by Commit.
func (e *Engine) LastAppliedDecree() protocol.Decree {
	return protocol.Decree(e.lastApplied.Load())
}

// LastDurableDecree returns a decree up to which every committed write
// batch is known to survive a machine crash: the decree recovered at Open,
// or the last one covered by Flush, SyncWAL or Checkpoint (every commit
// when SyncWrites is set). The plog must keep every mutation above it.
func (e *Engine) LastDurableDecree() protocol.Decree {
	return protocol.Decree(e.lastDurable.Load())
}

// LastTimestampUs returns the largest timestamp (µs since the Unix epoch)
// a committed write batch wrote with: batch timestamps and duplicated
// entries' timestamps. It survives reopening (it is part of the replica
// metadata). A primary of a duplicated table gives later writes a larger
// timestamp, so a write that follows a duplicated one wins against it.
func (e *Engine) LastTimestampUs() int64 { return e.lastTimestamp.Load() }

// DataVersion returns the data version stored in the replica metadata.
func (e *Engine) DataVersion() uint32 { return e.dataVersion }

// DefaultTTL returns the current default TTL in seconds (0 = none).
func (e *Engine) DefaultTTL() int32 { return e.defaultTTL.Load() }

// SetDefaultTTL sets the table env default_ttl: write batches created
// afterwards give records written without a TTL this many seconds. 0
// disables it; a negative value is an error.
func (e *Engine) SetDefaultTTL(seconds int32) error {
	if seconds < 0 {
		return protocol.Errorf(protocol.CodeInvalidArgument, "default_ttl %d is negative", seconds)
	}
	e.defaultTTL.Store(seconds)
	return nil
}

// Scans returns the engine's scan context manager.
func (e *Engine) Scans() *ScanManager { return e.scans }

// noteDurable raises lastDurable to d.
func (e *Engine) noteDurable(d protocol.Decree) {
	for {
		cur := e.lastDurable.Load()
		if int64(d) <= cur || e.lastDurable.CompareAndSwap(cur, int64(d)) {
			return
		}
	}
}

// committedDecree returns LastAppliedDecree while no commit is in flight,
// so every batch up to the returned decree is in pebble.
func (e *Engine) committedDecree() protocol.Decree {
	e.commitMu.Lock()
	defer e.commitMu.Unlock()
	return e.LastAppliedDecree()
}

// Flush writes pebble's memtables to sstables, making every batch committed
// before the call durable even without a WAL, and returns the decree it
// covers.
func (e *Engine) Flush() (protocol.Decree, error) {
	if err := e.acquire(); err != nil {
		return 0, err
	}
	defer e.release()
	d := e.committedDecree()
	if err := e.db.Flush(); err != nil {
		return 0, ioError("flush", err)
	}
	e.noteDurable(d)
	return d, nil
}

// SyncWAL fsyncs pebble's WAL (flushes instead when the WAL is disabled)
// and returns the decree it covers.
func (e *Engine) SyncWAL() (protocol.Decree, error) {
	if e.opts.DisableWAL {
		return e.Flush()
	}
	if err := e.acquire(); err != nil {
		return 0, err
	}
	defer e.release()
	d := e.committedDecree()
	if err := e.db.LogData(nil, pebble.Sync); err != nil {
		return 0, ioError("sync WAL", err)
	}
	e.noteDurable(d)
	return d, nil
}

// Checkpoint writes a consistent copy of the database to destDir (on the
// engine's FS; it must not exist yet) for learners and backups, and returns
// the decree the copy holds. Opening destDir with Open gives an engine at
// that decree. Commits wait while the checkpoint is taken.
func (e *Engine) Checkpoint(destDir string) (protocol.Decree, error) {
	if err := e.acquire(); err != nil {
		return 0, err
	}
	defer e.release()
	e.commitMu.Lock()
	defer e.commitMu.Unlock()
	if _, err := e.opts.FS.Stat(destDir); err == nil {
		return 0, protocol.Errorf(protocol.CodeInvalidArgument, "checkpoint dir %q already exists", destDir)
	}
	if e.opts.DisableWAL {
		// Without a WAL a checkpoint holds only flushed data: flush the
		// memtables first (commits wait on commitMu), or the copy would
		// miss the newest records while claiming their decree.
		if err := e.db.Flush(); err != nil {
			return 0, ioError("flush before checkpoint", err)
		}
	}
	if err := e.db.Checkpoint(destDir, pebble.WithFlushedWAL()); err != nil {
		return 0, ioError("checkpoint", err)
	}
	d := e.LastAppliedDecree()
	return d, nil
}

// Metrics returns pebble's metrics, for status pages.
func (e *Engine) Metrics() (*pebble.Metrics, error) {
	if err := e.acquire(); err != nil {
		return nil, err
	}
	defer e.release()
	return e.db.Metrics(), nil
}

// ioError wraps a pebble or file-system error as CodeIOError, or
// CodeCorruption when pebble reports corruption.
func ioError(what string, err error) error {
	code := protocol.CodeIOError
	if errors.Is(err, pebble.ErrCorruption) {
		code = protocol.CodeCorruption
	}
	return fmt.Errorf("storage: %s: %w", what, &protocol.Error{Code: code, Message: err.Error()})
}

// getter is the point-read side of *pebble.DB, *pebble.Batch and
// *pebble.Snapshot.
type getter interface {
	Get(key []byte) ([]byte, io.Closer, error)
}

// iterMaker is the iterator side of *pebble.DB, *pebble.Batch and
// *pebble.Snapshot.
type iterMaker interface {
	NewIter(o *pebble.IterOptions) (*pebble.Iterator, error)
}

// record is a decoded stored value.
type record struct {
	value    []byte
	expireTs uint32
	timetag  uint64
}

// getRecord reads key through g. found is false when the key is absent,
// expired at nowEpoch or a tombstone. The returned value is a copy.
func getRecord(g getter, key []byte, nowEpoch uint32) (rec record, found bool, err error) {
	raw, closer, err := g.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return record{}, false, nil
	}
	if err != nil {
		return record{}, false, ioError("get", err)
	}
	defer closer.Close()
	h, user, err := decodeStored(key, raw)
	if err != nil {
		return record{}, false, err
	}
	if hidden(h, nowEpoch) {
		return record{}, false, nil
	}
	return record{value: bytes.Clone(user), expireTs: h.ExpireTs, timetag: h.Timetag}, true, nil
}

// decodeStored decodes a stored value, reporting corruption with the key.
func decodeStored(key, raw []byte) (keyschema.ValueHeader, []byte, error) {
	h, user, err := keyschema.DecodeValue(raw)
	if err != nil {
		return h, nil, protocol.Errorf(protocol.CodeCorruption, "storage: key %x: %v", key, err)
	}
	return h, user, nil
}

// tombstoneBit is the delete flag of a timetag (keyschema.PackTimetag): a
// record whose timetag has it is a tombstone, left by a delete of a
// duplicated table so a later-arriving older write cannot resurrect the
// record. Tombstones are invisible to every read.
const tombstoneBit = 1

// isTombstone reports whether a stored record is a tombstone.
func isTombstone(h keyschema.ValueHeader) bool { return h.Timetag&tombstoneBit != 0 }

// hidden reports whether a stored record is invisible to reads at
// nowEpoch: expired, or a tombstone.
func hidden(h keyschema.ValueHeader, nowEpoch uint32) bool {
	return isTombstone(h) || expiredAt(h.ExpireTs, nowEpoch)
}

// expiredAt is keyschema.IsExpired on precomputed epoch seconds.
func expiredAt(expireTs, nowEpoch uint32) bool { return expireTs != 0 && expireTs <= nowEpoch }

// nowEpoch returns the engine clock in Pegasus epoch seconds.
func (e *Engine) nowEpoch() uint32 { return keyschema.EpochSeconds(e.opts.Clock()) }

// now returns the engine clock.
func (e *Engine) now() time.Time { return e.opts.Clock() }
