package storage

import (
	"github.com/cockroachdb/pebble"

	"github.com/pegasus-go/pegasus/shared/protocol"
)

// ResetDecree prepares a database copied from another partition's
// checkpoint to become a new replica's data: it rewrites the replica
// metadata of the closed database in dir so its last applied decree is 0
// (the new replica numbers its own decrees from 1) and keeps the data
// version and every record as they are, timetags included. A full
// duplication's follower loads the master's checkpoint this way. It
// returns the decree the checkpoint held. The database must not be open
// elsewhere; the new metadata is durable when ResetDecree returns.
func ResetDecree(dir string, opts Options) (protocol.Decree, error) {
	opts.EnsureDefaults()
	// A missing directory is an error here, not a new database.
	if _, err := opts.FS.Stat(dir); err != nil {
		return 0, ioError("open copied checkpoint", err)
	}
	e, err := Open(dir, opts)
	if err != nil {
		return 0, err
	}
	prev := e.LastAppliedDecree()
	err = e.resetDecree()
	if cerr := e.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, err
	}
	return prev, nil
}

// resetDecree writes the metadata record with decree 0 and flushes it to
// an sstable, so it survives whether or not the WAL is enabled.
func (e *Engine) resetDecree() error {
	if err := e.acquire(); err != nil {
		return err
	}
	defer e.release()
	e.commitMu.Lock()
	defer e.commitMu.Unlock()
	if e.batchOpen.Load() {
		return ErrBatchInProgress
	}
	m := replicaMeta{lastApplied: 0, dataVersion: e.dataVersion}
	wo := pebble.Sync
	if e.opts.DisableWAL {
		wo = pebble.NoSync // the flush below makes it durable
	}
	if err := e.db.Set(metaKey, m.encode(), wo); err != nil {
		return ioError("reset metadata", err)
	}
	if err := e.db.Flush(); err != nil {
		return ioError("flush reset metadata", err)
	}
	e.lastApplied.Store(0)
	e.lastDurable.Store(0)
	return nil
}
