package dup

import (
	"context"

	"github.com/pegasus-go/pegasus/replicaserver/internal/plog"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

// Remote is the remote table a duplicator ships to. TableRemote is the
// production implementation (client-go); tests use fakes. Methods are
// called from the duplicator's goroutine and, for Duplicate, from one
// goroutine per remote partition of a batch at once.
type Remote interface {
	// PartitionCount returns the remote table's partition count (a
	// positive power of two), resolving the table if needed. An error
	// (remote cluster unreachable, table missing) fails the batch attempt.
	PartitionCount(ctx context.Context) (int32, error)
	// Duplicate applies entries, which all hash to partitionIndex of the
	// remote table, and returns how many changed the remote data. It may
	// be called again with the same entries after any error (the remote
	// applies them last-writer-wins by timetag).
	Duplicate(ctx context.Context, partitionIndex int32, entries []protocol.DuplicateEntry) (int32, error)
}

// Log is the primary's plog as a duplicator reads it. The server adapts
// *replica.Replica (NewTailLogReader, Info); PlogLog adapts a bare plog.
type Log interface {
	// NewLogReader returns a reader over the logged mutations from decree
	// from on, committed or not; plog.ErrGarbageCollected (possibly
	// wrapped) when the log no longer holds from.
	NewLogReader(from protocol.Decree) (LogReader, error)
	// CommitPoint returns the replica's ballot and commit point, and
	// whether it is primary. The duplicator ships only decrees up to the
	// commit point, and reads again from its confirmed decree when the
	// ballot changed.
	CommitPoint() (ballot protocol.Ballot, committed protocol.Decree, primary bool)
}

// LogReader yields logged mutations in decree order; io.EOF means caught
// up for now (*plog.Reader).
type LogReader interface {
	Next() (*protocol.Mutation, error)
	Close() error
}

// PlogLog adapts a plog.Log to Log: its tail reader, bounded by the log's
// own evidence of commitment (Stats.LastCommitted) unless Committed is
// set, under ballot 1.
type PlogLog struct {
	L *plog.Log
	// Committed, if set, returns the commit point instead.
	Committed func() protocol.Decree
}

// NewLogReader implements Log.
func (p PlogLog) NewLogReader(from protocol.Decree) (LogReader, error) {
	return p.L.NewTailReader(from)
}

// CommitPoint implements Log.
func (p PlogLog) CommitPoint() (protocol.Ballot, protocol.Decree, bool) {
	if p.Committed != nil {
		return 1, p.Committed(), true
	}
	return 1, p.L.Stats().LastCommitted, true
}
