package server

import (
	"sync"
	"time"

	"github.com/pegasus-go/pegasus/replicaserver/internal/replica"
	"github.com/pegasus-go/pegasus/replicaserver/internal/replica/core"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

// realReplica adapts *replica.Replica to Replica.
type realReplica struct {
	*replica.Replica

	mu  sync.Mutex
	app protocol.AppInfo
}

// openReplica is the default OpenReplicaFunc: package replica.
func openReplica(o ReplicaOptions) (Replica, error) {
	app := o.App
	if app.AppID == 0 && app.Name == "" {
		// Reopening: the table info is the persisted one.
		meta, found, err := replica.ReadMeta(o.FS, o.Dir)
		if err != nil {
			return nil, err
		}
		if found {
			app = meta.App
		}
	}
	r, err := replica.Open(replica.Options{
		Gpid: o.Gpid, Dir: o.Dir, FS: o.FS, Node: o.Node, App: o.App, Config: o.Config,
		PlogSync: o.PlogSync, PlogSegmentSizeBytes: o.PlogSegmentSizeBytes, PlogFlushInterval: o.PlogFlushInterval,
		Storage: o.Storage, TickInterval: o.TickInterval, MaxReplicaCount: o.MaxReplicaCount,
		Core:          coreTimeouts(o),
		ExternalLease: o.ExternalLease, ReapInterval: o.ReapInterval, EngineSyncInterval: o.EngineSyncInterval,
		Transport: o.Transport, OnConfigProposal: o.OnConfigProposal, ClusterID: o.ClusterID,
		GCFloors: o.GCFloors, Scope: o.Scope, DupScope: o.DupScope, Logger: o.Logger, Clock: o.Clock,
	})
	if err != nil {
		return nil, err
	}
	return &realReplica{Replica: r, app: app}, nil
}

// coreTimeouts converts the server's core durations to ticks (zero fields
// keep the replica package's defaults).
func coreTimeouts(o ReplicaOptions) core.Options {
	tick := o.TickInterval
	if tick <= 0 {
		tick = replica.DefaultTickInterval
	}
	ticks := func(d time.Duration) int {
		if d <= 0 {
			return 0
		}
		return max(1, int((d+tick-1)/tick))
	}
	co := core.Options{GroupCheckTicks: ticks(o.GroupCheckInterval)}
	if t := ticks(o.PrepareTimeout); t > 0 {
		co.PrepareTimeoutTicks = t
		co.ResendTicks = max(1, t/5)
		co.IdleEmptyWriteTicks = max(1, t/5)
	}
	return co
}

// underlying gives the peer and learning code the replica package's
// replica behind a Replica, when there is one.
type underlying interface {
	Underlying() *replica.Replica
}

// Underlying implements underlying.
func (r *realReplica) Underlying() *replica.Replica { return r.Replica }

// UpdateConfig implements Replica.
func (r *realReplica) UpdateConfig(app protocol.AppInfo, cfg protocol.PartitionConfiguration) error {
	if err := r.Replica.UpdateConfig(app, cfg); err != nil {
		return err
	}
	if app.AppID != 0 || app.Name != "" {
		r.mu.Lock()
		r.app = app
		r.mu.Unlock()
	}
	return nil
}

// App implements Replica.
func (r *realReplica) App() protocol.AppInfo {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.app
}

// Status implements Replica.
func (r *realReplica) Status() any { return r.Replica.Status() }
