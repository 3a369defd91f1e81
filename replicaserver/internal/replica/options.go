package replica

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/cockroachdb/pebble/vfs"
	"github.com/uber-go/tally/v4"

	"github.com/pegasus-go/pegasus/replicaserver/internal/plog"
	"github.com/pegasus-go/pegasus/replicaserver/internal/replica/core"
	"github.com/pegasus-go/pegasus/replicaserver/internal/storage"
	"github.com/pegasus-go/pegasus/shared/keyschema"
	"github.com/pegasus-go/pegasus/shared/logging"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

// Defaults applied by Open to zero Options fields.
const (
	DefaultTickInterval       = 100 * time.Millisecond
	DefaultReapInterval       = time.Second
	DefaultEngineSyncInterval = 10 * time.Second

	// Core timeouts, converted to ticks of TickInterval (at least one tick)
	// when the matching core.Options field is zero.
	DefaultGroupCheckInterval = 5 * time.Second
	DefaultResendInterval     = time.Second
	DefaultPrepareTimeout     = 5 * time.Second
	DefaultIdleEmptyWrite     = time.Second

	// DefaultMaxInFlight is the primary's window of prepared, uncommitted
	// mutations when core.Options.MaxInFlight is zero. A small window makes
	// concurrent client writes wait for a slot and share the next mutation
	// (one plog append, one prepare per secondary, one apply for the lot),
	// while one mutation can still be prepared as the previous one's acks
	// come back. With the core's own default of 32 nearly every write of a
	// 3-replica YCSB run got a mutation of its own.
	DefaultMaxInFlight = 2
)

// Transport carries the core's replica-to-replica messages. Send is called
// from the replica's loop goroutine and must not block on the network: it
// queues the messages and returns. The messages (and the mutations and
// configurations they point to) are shared with the core and read-only.
type Transport interface {
	Send(msgs []core.Message)
}

// Options configures a Replica. Zero fields take the defaults listed.
type Options struct {
	// Gpid is the partition this replica serves.
	Gpid protocol.Gpid
	// Dir is the replica directory (<data_dir>/<app_id>.<pidx>): the plog
	// lives in Dir/plog, the pebble database in Dir/data and the replica
	// metadata in Dir/replica.json. Required.
	Dir string
	// FS is the file system every file goes through. Default vfs.Default.
	FS vfs.FS
	// Node is this replica server's address ("host:port"), the name the
	// configurations use for it. Required.
	Node string
	// App is the table's info (partition and replica counts, envs). A zero
	// App (AppID 0 and no name) keeps the persisted one.
	App protocol.AppInfo
	// Config is the initial partition configuration when the replica is
	// created; it is ignored when the persisted configuration has the same
	// or a higher ballot, and installed (as by UpdateConfig) when its ballot
	// is higher. A zero ballot means "none".
	Config protocol.PartitionConfiguration

	// PlogSync is the plog's durability policy (default plog.SyncFsync).
	PlogSync plog.SyncPolicy
	// PlogSegmentSizeBytes is the plog's segment size (default
	// plog.DefaultSegmentSizeBytes).
	PlogSegmentSizeBytes int64
	// PlogFlushInterval, with plog.SyncPageCache, syncs the plog's active
	// segment in the background this often. Zero disables it.
	PlogFlushInterval time.Duration

	// Storage configures the pebble engine. Its FS, Clock and Logger default
	// to this Options' FS, Clock and Logger.
	Storage storage.Options

	// TickInterval is the period of the core's logical clock. Default
	// DefaultTickInterval.
	TickInterval time.Duration
	// MaxReplicaCount is passed to the core: writes need min(2,
	// MaxReplicaCount) members. Zero takes App.ReplicaCount, else the core's
	// default; 1 is single-replica mode.
	MaxReplicaCount int
	// Core tunes the core (queue and batch limits, timeouts in ticks). ID,
	// MaxReplicaCount and Logger are set by Open; zero timeouts are derived
	// from the Default*Interval constants and TickInterval.
	Core core.Options
	// ExternalLease says the server manages the lease (GrantLease from meta
	// beacons). When false (single-replica mode), a replica grants itself a
	// lease that never runs out whenever it becomes primary alone in its
	// configuration (at Open and on configuration changes), and withdraws
	// it when it stops being so; GrantLease and ExpireLease still work.
	ExternalLease bool

	// Transport sends the core's messages to other replicas. Default: drop
	// them with a log line (single-replica mode has no peers).
	Transport Transport
	// OnConfigProposal receives the primary's configuration proposals for
	// the meta server. It is called from the loop goroutine and must not
	// block. Default: log them.
	OnConfigProposal func(core.ConfigProposal)

	// ReapInterval is the pause between two steps of the TTL reaper (each
	// examines Reaper.StepKeys keys). Negative disables the reaper. Default
	// DefaultReapInterval.
	ReapInterval time.Duration
	// Reaper configures the TTL reaper. A zero Grace takes
	// storage.DefaultReapGrace (use a negative Grace for none); OnStep, if
	// set, is called after the replica's own metrics hook.
	Reaper storage.ReaperOptions
	// EngineSyncInterval is how often the engine is made durable
	// (storage.Engine.SyncWAL, a flush when its WAL is disabled) so the plog
	// can be garbage collected below it. The engine is also synced whenever
	// the plog grew by PlogSegmentSizeBytes since the last sync. Negative
	// disables the periodic sync (the size trigger stays). Default
	// DefaultEngineSyncInterval.
	EngineSyncInterval time.Duration

	// ClusterID is this cluster's id in [duplication-group] (1..127; 0 when
	// the cluster has none). Writes of a duplicated table carry it in their
	// timetags.
	ClusterID uint8

	// GCFloors are named plog GC floors (see SetGCFloor) the replica holds
	// from the start, before its loop can collect anything: a caller that
	// learns a floor only later (duplication, from the meta server) sets
	// its floor to 0 here and lowers its hold with SetGCFloor then.
	GCFloors map[string]protocol.Decree

	// Scope receives the replica's metrics. Default tally.NoopScope.
	Scope tally.Scope
	// DupScope receives the duplication metrics (MetricDupConvertedWrites,
	// MetricDupTimeLag), which keep their Pegasus names: give it the tags
	// of Scope without Scope's name prefix. Default Scope.
	DupScope tally.Scope
	// Logger receives the replica's log lines. Default: discard.
	Logger *slog.Logger
	// Clock is the wall clock: write timestamps and lease expiry. Default
	// time.Now.
	Clock func() time.Time

	// testing hooks; see hooks.go.
	hooks *testHooks
}

func (o *Options) ensureDefaults() error {
	if o.Dir == "" {
		return protocol.Errorf(protocol.CodeInvalidArgument, "replica: Options.Dir is required")
	}
	if o.Node == "" {
		return protocol.Errorf(protocol.CodeInvalidArgument, "replica: Options.Node is required")
	}
	if o.FS == nil {
		o.FS = vfs.Default
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	o.Logger = logging.OrDiscard(o.Logger)
	if o.Scope == nil {
		o.Scope = tally.NoopScope
	}
	if o.DupScope == nil {
		o.DupScope = o.Scope
	}
	if o.TickInterval < 0 {
		return protocol.Errorf(protocol.CodeInvalidArgument, "replica: negative TickInterval %v", o.TickInterval)
	}
	if o.TickInterval == 0 {
		o.TickInterval = DefaultTickInterval
	}
	if o.ReapInterval == 0 {
		o.ReapInterval = DefaultReapInterval
	}
	if o.EngineSyncInterval == 0 {
		o.EngineSyncInterval = DefaultEngineSyncInterval
	}
	if o.PlogSegmentSizeBytes == 0 {
		o.PlogSegmentSizeBytes = plog.DefaultSegmentSizeBytes
	}
	if o.PlogSegmentSizeBytes < 0 {
		return protocol.Errorf(protocol.CodeInvalidArgument, "replica: negative PlogSegmentSizeBytes %d", o.PlogSegmentSizeBytes)
	}
	if o.MaxReplicaCount < 0 {
		return protocol.Errorf(protocol.CodeInvalidArgument, "replica: negative MaxReplicaCount %d", o.MaxReplicaCount)
	}
	if o.ClusterID > keyschema.MaxClusterID {
		return protocol.Errorf(protocol.CodeInvalidArgument, "replica: cluster id %d exceeds %d", o.ClusterID, keyschema.MaxClusterID)
	}
	if o.Config.Ballot != protocol.InvalidBallot && o.Config.Gpid != o.Gpid {
		return protocol.Errorf(protocol.CodeInvalidArgument, "replica: configuration of %s given to replica %s", o.Config.Gpid, o.Gpid)
	}
	if o.App.AppID != 0 && o.App.AppID != o.Gpid.AppID {
		return protocol.Errorf(protocol.CodeInvalidArgument, "replica: app %d given to replica %s", o.App.AppID, o.Gpid)
	}
	if o.Storage.FS == nil {
		o.Storage.FS = o.FS
	}
	if o.Storage.Clock == nil {
		o.Storage.Clock = o.Clock
	}
	if o.Storage.Logger == nil {
		o.Storage.Logger = o.Logger
	}
	return nil
}

// coreOptions returns the core's options for this replica.
func (o *Options) coreOptions(app protocol.AppInfo, logger *slog.Logger) core.Options {
	co := o.Core
	co.ID = o.Node
	co.MaxReplicaCount = o.MaxReplicaCount
	if co.MaxInFlight == 0 {
		co.MaxInFlight = DefaultMaxInFlight
	}
	if co.MaxReplicaCount == 0 && app.ReplicaCount > 0 {
		co.MaxReplicaCount = int(app.ReplicaCount)
	}
	co.Logger = logger
	ticks := func(v *int, d time.Duration) {
		if *v == 0 {
			*v = max(1, int((d+o.TickInterval-1)/o.TickInterval))
		}
	}
	ticks(&co.GroupCheckTicks, DefaultGroupCheckInterval)
	ticks(&co.ResendTicks, DefaultResendInterval)
	ticks(&co.PrepareTimeoutTicks, DefaultPrepareTimeout)
	ticks(&co.IdleEmptyWriteTicks, DefaultIdleEmptyWrite)
	return co
}

// dropTransport is the default Transport: it logs and drops.
type dropTransport struct{ logger *slog.Logger }

func (t dropTransport) Send(msgs []core.Message) {
	if len(msgs) == 0 {
		return
	}
	t.logger.Warn("no transport configured; dropping replica messages",
		"count", len(msgs), "first", msgs[0].String())
}

// describeConfig renders a partition configuration for errors and logs.
func describeConfig(c protocol.PartitionConfiguration) string {
	return fmt.Sprintf("%s b=%d primary=%q secondaries=%v", c.Gpid, c.Ballot, c.Primary, c.Secondaries)
}
