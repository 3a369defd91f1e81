package server

import (
	"context"
	"log/slog"
	"time"

	"github.com/cockroachdb/pebble/vfs"
	"github.com/uber-go/tally/v4"

	"github.com/pegasus-go/pegasus/replicaserver/internal/plog"
	"github.com/pegasus-go/pegasus/replicaserver/internal/replica"
	"github.com/pegasus-go/pegasus/replicaserver/internal/replica/core"
	"github.com/pegasus-go/pegasus/replicaserver/internal/storage"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

// Replica is what the server needs from one partition replica. The
// production implementation wraps package replica (see openReplica); unit
// tests use an in-memory fake. Every method must be safe for concurrent use.
type Replica interface {
	// Write applies one client write (op and its decoded request, e.g.
	// OpPut with *protocol.SetRequest; OpMultiPut also takes
	// *protocol.BatchSetRequest) and returns the matching response once the
	// write is applied. Errors are *protocol.Error values.
	Write(ctx context.Context, op protocol.OpCode, req protocol.Message) (protocol.Message, error)
	// Engine returns the storage engine for a read while the replica may
	// serve reads, else the reason as a *protocol.Error.
	Engine() (*storage.Engine, error)
	// UpdateConfig installs the meta server's table info (a zero app keeps
	// the current one) and a partition configuration (same ballot: no-op;
	// lower ballot: CodeStaleBallot).
	UpdateConfig(app protocol.AppInfo, cfg protocol.PartitionConfiguration) error
	// GrantLease records a lease from the meta server valid until the given
	// wall-clock time; ExpireLease withdraws it at once.
	GrantLease(until time.Time)
	ExpireLease()
	// Info reports the replica to the meta server.
	Info() protocol.ReplicaInfo
	// App returns the table info the replica holds (persisted with it, so a
	// reopened replica knows its partition count).
	App() protocol.AppInfo
	// Status returns a JSON-encodable snapshot for status pages.
	Status() any
	// Close stops the replica and closes its files.
	Close() error
}

// ReplicaOptions is everything the server decides about a replica it opens.
// It mirrors the replica package's Options; OpenReplica implementations
// translate it.
type ReplicaOptions struct {
	// Gpid is the partition.
	Gpid protocol.Gpid
	// Dir is the replica directory, <data_dir>/<app_id>.<pidx>.
	Dir string
	// FS is the file system of every replica file.
	FS vfs.FS
	// Node is this server's advertised address.
	Node string
	// App is the table info; zero when reopening a replica found on disk
	// (the persisted info is kept).
	App protocol.AppInfo
	// Config is the initial configuration when creating; zero when
	// reopening.
	Config protocol.PartitionConfiguration

	PlogSync             plog.SyncPolicy
	PlogSegmentSizeBytes int64
	PlogFlushInterval    time.Duration
	Storage              storage.Options
	TickInterval         time.Duration
	ReapInterval         time.Duration
	EngineSyncInterval   time.Duration
	// MaxReplicaCount is passed to the core (1 = single-replica mode; 0 =
	// the table's replica count).
	MaxReplicaCount int
	// GroupCheckInterval and PrepareTimeout tune the core (zero: the
	// replica package's defaults).
	GroupCheckInterval time.Duration
	PrepareTimeout     time.Duration
	// Transport carries the core's messages to other replicas (nil: drop).
	Transport replica.Transport
	// OnConfigProposal receives the primary's proposals for the meta; it
	// must not block.
	OnConfigProposal func(core.ConfigProposal)
	// ExternalLease is always true: the server manages leases (from meta
	// beacons, or a lease that never ends without a meta server).
	ExternalLease bool
	// ClusterID is this cluster's id in [duplication-group] (0: none),
	// written into the timetags of duplicated tables.
	ClusterID uint8

	// GCFloors are plog GC floors the replica holds from the start (see
	// replica.Options).
	GCFloors map[string]protocol.Decree

	// Scope receives the replica's metrics; DupScope its duplication
	// metrics, which keep their Pegasus names (see replica.Options).
	Scope    tally.Scope
	DupScope tally.Scope
	Logger   *slog.Logger
	Clock    func() time.Time
}

// OpenReplicaFunc opens (creating if needed) the replica described by opts.
type OpenReplicaFunc func(opts ReplicaOptions) (Replica, error)
