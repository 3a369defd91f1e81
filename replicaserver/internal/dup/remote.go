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

// Log is the primary's plog as a duplicator reads it. *replica.Replica
// implements it through ReplicaLog.
type Log interface {
	// NewLogReader returns a reader over the committed mutations from
	// decree from on; plog.ErrGarbageCollected (possibly wrapped) when the
	// log no longer holds from.
	NewLogReader(from protocol.Decree) (LogReader, error)
	// LastCommitted returns the primary's commit point.
	LastCommitted() protocol.Decree
}

// LogReader yields committed mutations in decree order; io.EOF means
// caught up for now (*plog.Reader).
type LogReader interface {
	Next() (*protocol.Mutation, error)
	Close() error
}

// PlogLog adapts a plog.Log (and a commit point source) to Log.
type PlogLog struct {
	L *plog.Log
}

// NewLogReader implements Log.
func (p PlogLog) NewLogReader(from protocol.Decree) (LogReader, error) { return p.L.NewReader(from) }

// LastCommitted implements Log: the plog's own evidence of commitment.
func (p PlogLog) LastCommitted() protocol.Decree { return p.L.Stats().LastCommitted }
