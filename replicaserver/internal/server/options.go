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
	"github.com/pegasus-go/pegasus/shared/logging"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

// Defaults applied to zero Options fields.
const (
	DefaultMaxWriteBytes      = 1 << 20
	DefaultBeaconInterval     = time.Second
	DefaultConfigSyncInterval = 5 * time.Second
	DefaultMetaCallTimeout    = 3 * time.Second
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
	// MaxReplicaCount is passed to every replica's core. Default 1: until
	// replication lands every partition runs in single-replica mode.
	MaxReplicaCount int

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
	if o.MaxReplicaCount == 0 {
		o.MaxReplicaCount = 1
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
