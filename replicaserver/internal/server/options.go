package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/cockroachdb/pebble/vfs"
	"github.com/uber-go/tally/v4"

	"github.com/pegasus-go/pegasus/replicaserver/internal/plog"
	"github.com/pegasus-go/pegasus/replicaserver/internal/storage"
	"github.com/pegasus-go/pegasus/shared/keyschema"
	"github.com/pegasus-go/pegasus/shared/logging"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

// Defaults applied to zero Options fields.
const (
	DefaultMaxWriteBytes      = 1 << 20
	DefaultBeaconInterval     = time.Second
	DefaultConfigSyncInterval = 5 * time.Second
	DefaultMetaCallTimeout    = 3 * time.Second

	// DefaultPeerCallTimeout bounds one Prepare or GroupCheck RPC.
	DefaultPeerCallTimeout = 3 * time.Second
	// DefaultPeerInFlight is the number of RPCs in flight per destination
	// node.
	DefaultPeerInFlight = 8
	// DefaultPeerQueueLen bounds the messages queued per destination node;
	// more are dropped (the core sends again).
	DefaultPeerQueueLen = 4096
	// DefaultLearnSessionTimeout closes a primary's learning session idle
	// this long (no Learn or CopyFile call).
	DefaultLearnSessionTimeout = time.Minute
	// DefaultLearnLogMaxDecrees is the longest plog tail a learner that
	// already holds data learns through the log; further behind, it copies
	// a checkpoint.
	DefaultLearnLogMaxDecrees = 100_000
	// DefaultDupCheckpointIdleTimeout removes a duplication checkpoint no
	// follower asked for this long.
	DefaultDupCheckpointIdleTimeout = 10 * time.Minute
)

// MetaCaller calls the meta servers. *rpc.Client implements it.
type MetaCaller interface {
	Call(ctx context.Context, addr, service, method string, req, resp protocol.Message) error
}

// Options configures a Server. The embed package fills it from the daemon
// configuration.
type Options struct {
	// Node is the address this server advertises ("host:port"); replica
	// configurations name the server by it. Required.
	Node string
	// DataDirs are the directories replicas live in; a replica's directory
	// is <data_dir>/<app_id>.<pidx>. At least one is required.
	DataDirs []string
	// FS is the file system of every replica file. Default vfs.Default.
	FS vfs.FS

	// PlogSync, PlogSegmentSizeBytes and PlogFlushInterval configure every
	// replica's plog.
	PlogSync             plog.SyncPolicy
	PlogSegmentSizeBytes int64
	PlogFlushInterval    time.Duration
	// Storage configures every replica's engine (FS, Clock and Logger are
	// set per replica).
	Storage storage.Options
	// TickInterval, ReapInterval and EngineSyncInterval are passed to every
	// replica; zero takes the replica package's defaults.
	TickInterval       time.Duration
	ReapInterval       time.Duration
	EngineSyncInterval time.Duration
	// MaxReplicaCount, when positive, overrides the replica count every
	// replica's core runs with. Zero means the table's replica count
	// (AppInfo.ReplicaCount) with meta servers, and 1 (single-replica mode)
	// without them.
	MaxReplicaCount int
	// GroupCheckInterval and PrepareTimeout set the cores' group check
	// period and the time a primary waits for a member's acknowledgement
	// before proposing its removal (resends go out after a fifth of it).
	// Zero takes the replica package's defaults.
	GroupCheckInterval time.Duration
	PrepareTimeout     time.Duration

	// Peers calls other replica servers (service Peer). Nil drops every
	// replica-to-replica message (single-replica tests).
	Peers MetaCaller
	// PeerCallTimeout bounds one Prepare or GroupCheck call; a receiver
	// waits at most half of it for its replica's acknowledgement. Default
	// DefaultPeerCallTimeout.
	PeerCallTimeout time.Duration
	// PeerInFlight is the number of RPCs in flight per destination node.
	// Default DefaultPeerInFlight.
	PeerInFlight int
	// LearnRateLimitBytes limits what this node's learners copy, in bytes
	// per second (0: unlimited); SetLearnRateLimit changes it live.
	LearnRateLimitBytes int64
	// LearnSessionTimeout closes a primary's idle learning session.
	// Default DefaultLearnSessionTimeout.
	LearnSessionTimeout time.Duration
	// LearnLogMaxDecrees is the longest tail a learner holding data learns
	// through the log. Default DefaultLearnLogMaxDecrees.
	LearnLogMaxDecrees int64
	// DupCheckpointIdleTimeout removes a full duplication's checkpoint
	// that no follower replica asked for (DupCheckpoint or CopyFile) this
	// long. Default DefaultDupCheckpointIdleTimeout.
	DupCheckpointIdleTimeout time.Duration

	// ClusterName is this server's cluster ([replication] cluster_name) and
	// DuplicationGroup the [duplication-group] section: cluster name ->
	// cluster id (1..127). Replicas put the own cluster's id into the
	// timetags of duplicated tables; the Duplicate handler accepts entries
	// only from the other clusters of the group.
	ClusterName      string
	DuplicationGroup map[string]uint8

	// MaxWriteBytes bounds the keys and values of one write request.
	// Default DefaultMaxWriteBytes.
	MaxWriteBytes int64

	// MetaServers are the meta servers' RPC addresses. Empty (tests only)
	// means no meta: replicas are opened with OpenTestReplica and hold a
	// lease that never ends.
	MetaServers []string
	// Meta calls the meta servers; required when MetaServers is set.
	Meta MetaCaller
	// BeaconInterval, ConfigSyncInterval and MetaCallTimeout pace the meta
	// client loop.
	BeaconInterval     time.Duration
	ConfigSyncInterval time.Duration
	MetaCallTimeout    time.Duration

	// Dup configures duplication (see dup_sync.go).
	Dup DupOptions

	// OpenReplica opens a replica. Default: the replica package.
	OpenReplica OpenReplicaFunc

	// Scope receives the server's metrics. Default tally.NoopScope.
	Scope tally.Scope
	// Logger receives the server's log lines. Default: discard.
	Logger *slog.Logger
	// Clock is the wall clock leases are computed with. Default time.Now.
	Clock func() time.Time
}

func (o *Options) ensureDefaults() error {
	if o.Node == "" {
		return errors.New("server: Options.Node is required")
	}
	if len(o.DataDirs) == 0 {
		return errors.New("server: at least one data dir is required")
	}
	seen := make(map[string]bool, len(o.DataDirs))
	for _, d := range o.DataDirs {
		if d == "" {
			return errors.New("server: empty data dir")
		}
		if seen[d] {
			return fmt.Errorf("server: data dir %q listed twice", d)
		}
		seen[d] = true
	}
	if o.FS == nil {
		o.FS = vfs.Default
	}
	if o.MaxReplicaCount < 0 {
		return fmt.Errorf("server: negative MaxReplicaCount %d", o.MaxReplicaCount)
	}
	if o.MaxReplicaCount == 0 && len(o.MetaServers) == 0 {
		o.MaxReplicaCount = 1
	}
	for _, d := range []*time.Duration{&o.GroupCheckInterval, &o.PrepareTimeout, &o.PeerCallTimeout, &o.LearnSessionTimeout, &o.DupCheckpointIdleTimeout} {
		if *d < 0 {
			return fmt.Errorf("server: negative interval %v", *d)
		}
	}
	if o.PeerCallTimeout == 0 {
		o.PeerCallTimeout = DefaultPeerCallTimeout
	}
	if o.PeerInFlight <= 0 {
		o.PeerInFlight = DefaultPeerInFlight
	}
	if o.LearnSessionTimeout == 0 {
		o.LearnSessionTimeout = DefaultLearnSessionTimeout
	}
	if o.DupCheckpointIdleTimeout == 0 {
		o.DupCheckpointIdleTimeout = DefaultDupCheckpointIdleTimeout
	}
	if o.LearnLogMaxDecrees <= 0 {
		o.LearnLogMaxDecrees = DefaultLearnLogMaxDecrees
	}
	if o.LearnRateLimitBytes < 0 {
		return fmt.Errorf("server: negative LearnRateLimitBytes %d", o.LearnRateLimitBytes)
	}
	for name, id := range o.DuplicationGroup {
		if id == 0 || id > keyschema.MaxClusterID {
			return fmt.Errorf("server: duplication-group.%s = %d: want a cluster id in 1..%d", name, id, keyschema.MaxClusterID)
		}
	}
	if o.MaxWriteBytes == 0 {
		o.MaxWriteBytes = DefaultMaxWriteBytes
	}
	if o.MaxWriteBytes < 0 {
		return fmt.Errorf("server: negative MaxWriteBytes %d", o.MaxWriteBytes)
	}
	if len(o.MetaServers) > 0 && o.Meta == nil {
		return errors.New("server: Options.Meta is required with meta servers")
	}
	for _, d := range []*time.Duration{&o.BeaconInterval, &o.ConfigSyncInterval, &o.MetaCallTimeout} {
		if *d < 0 {
			return fmt.Errorf("server: negative interval %v", *d)
		}
	}
	if o.BeaconInterval == 0 {
		o.BeaconInterval = DefaultBeaconInterval
	}
	if o.ConfigSyncInterval == 0 {
		o.ConfigSyncInterval = DefaultConfigSyncInterval
	}
	if o.MetaCallTimeout == 0 {
		o.MetaCallTimeout = DefaultMetaCallTimeout
	}
	if err := o.Dup.ensureDefaults(); err != nil {
		return err
	}
	if o.OpenReplica == nil {
		o.OpenReplica = openReplica
	}
	if o.Scope == nil {
		o.Scope = tally.NoopScope
	}
	o.Logger = logging.OrDiscard(o.Logger)
	if o.Clock == nil {
		o.Clock = time.Now
	}
	return nil
}
