package server

import (
	"errors"
	"fmt"
	"time"

	"github.com/pegasus-go/pegasus/replicaserver/internal/dup"
)

// Defaults of DupOptions.
const (
	DefaultDupSyncInterval          = time.Second
	DefaultDupLaggingWriteThreshold = 10 * time.Second
)

// DupOptions configures the sending side of duplication on this node
// (dup_*.go).
type DupOptions struct {
	// Enabled runs duplication ([replication] duplication_enabled): the
	// DuplicationSync loop with the meta leader, duplicators on primaries,
	// GC floors. Without meta servers nothing runs.
	Enabled bool
	// ClusterID is this cluster's id in [duplication-group] (1..127), 0
	// when the cluster has none: duplicators then refuse to start and
	// report why.
	ClusterID uint8
	// SyncInterval paces DuplicationSync ([replication] dup_sync_interval).
	// Default DefaultDupSyncInterval.
	SyncInterval time.Duration
	// LogBatchBytes bounds one shipped batch ([replication]
	// duplicate_log_batch_bytes); 0: one mutation per batch.
	LogBatchBytes int
	// LaggingWriteThreshold: entries shipped later than this after their
	// write count in dup_lagging_writes ([pegasus.server]
	// dup_lagging_write_threshold_ms). Default
	// DefaultDupLaggingWriteThreshold.
	LaggingWriteThreshold time.Duration
	// PollInterval is how often a caught-up duplicator looks for new
	// commits. Zero: the dup package's default.
	PollInterval time.Duration
	// Remotes makes the remote tables duplicators ship to. Default: one
	// client-go client per remote cluster (dup.Clients), closed with the
	// server.
	Remotes RemoteFactory
}

// RemoteFactory returns the remote table of a duplication. *dup.Clients
// implements it. It must be safe for concurrent use and must not block
// on the network (tables are resolved on first use).
type RemoteFactory interface {
	Remote(cluster string, metas []string, table string) (dup.Remote, error)
}

func (o *DupOptions) ensureDefaults() error {
	if o.SyncInterval < 0 || o.LaggingWriteThreshold < 0 || o.PollInterval < 0 {
		return errors.New("server: negative duplication interval")
	}
	if o.LogBatchBytes < 0 {
		return fmt.Errorf("server: negative duplicate_log_batch_bytes %d", o.LogBatchBytes)
	}
	if o.ClusterID > 127 {
		return fmt.Errorf("server: duplication cluster id %d is not in 1..127", o.ClusterID)
	}
	if o.SyncInterval == 0 {
		o.SyncInterval = DefaultDupSyncInterval
	}
	if o.LaggingWriteThreshold == 0 {
		o.LaggingWriteThreshold = DefaultDupLaggingWriteThreshold
	}
	return nil
}
