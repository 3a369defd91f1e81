package meta

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	tally "github.com/uber-go/tally/v4"

	"github.com/pegasus-go/pegasus/metaserver/internal/membership"
	"github.com/pegasus-go/pegasus/metaserver/internal/state"
	"github.com/pegasus-go/pegasus/shared/coord"
	"github.com/pegasus-go/pegasus/shared/rpc"
)

// Options configure a Server.
type Options struct {
	// Open opens a new coordination store session. It is called at start
	// and again after every lost session.
	Open func(ctx context.Context) (coord.Store, error)
	// Layout locates the cluster in the store.
	Layout state.Layout
	// Address is this meta server's RPC address as published to the other
	// meta servers, replica servers and clients ("host:port").
	Address string
	// ClusterName, MetaServers, StoreHosts and StoreRoot are reported by
	// ClusterInfo and /meta/cluster.
	ClusterName string
	MetaServers []string
	StoreHosts  string
	StoreRoot   string
	// Lease is the lease each beacon grants; Grace (longer) is how long a
	// node may stay silent before it is declared dead.
	Lease time.Duration
	Grace time.Duration
	// GuardianInterval is how often the guardian looks for partitions to
	// cure and dropped tables to purge (default 1s).
	GuardianInterval time.Duration
	// DefaultReserve is how long a dropped table stays recallable when the
	// drop request does not say (default 7 days).
	DefaultReserve time.Duration
	// MinAliveRatio freezes reconfiguration while at most this fraction of
	// the known replica servers is alive (placement.Frozen). The zero value
	// freezes only when no node is alive; the meta server's configuration
	// defaults to placement.DefaultMinAliveRatio (more than half alive).
	MinAliveRatio float64
	// MaxLearners bounds the learners in progress over the cluster
	// (default 16).
	MaxLearners int
	// LearnTimeout is how long a learner may take before the guardian asks
	// for another node (default 10m).
	LearnTimeout time.Duration
	// ProposalTimeout bounds one ConfigProposal call (default 3s).
	ProposalTimeout time.Duration
	// RetryInterval is the pause before reopening a session or retrying a
	// failed load (default 1s).
	RetryInterval time.Duration
	// Duplication. DisableDuplication refuses new duplications
	// (AddDuplication); existing ones keep running and can be modified.
	DisableDuplication bool
	// Clusters is [pegasus.clusters]: remote cluster name -> its meta
	// servers. DupGroup is [duplication-group]: cluster name -> cluster id.
	Clusters map[string][]string
	DupGroup map[string]int
	// DupPersistInterval is the longest a confirmed decree reported by a
	// primary stays only in memory before it is stored (default 2s).
	DupPersistInterval time.Duration
	// DupRemovedRetention is how long the record of a removed duplication
	// is kept (so a repeated remove succeeds) before it is purged
	// (default 1h).
	DupRemovedRetention time.Duration
	// DialRemote returns a client of a remote cluster's meta servers
	// (default: a client-go admin client over Client). The Server closes
	// what it returns at Close.
	DialRemote func(cluster string, metas []string) (RemoteMeta, error)
	// Client sends proposals to replica servers. Nil: the Server makes its
	// own and closes it at Close.
	Client *rpc.Client
	// Clock is the time source of the failure detector, table timestamps and
	// the purge of dropped tables (default time.Now).
	Clock func() time.Time
	// Logger and Scope receive logs and metrics (defaults: discard, no-op).
	Logger *slog.Logger
	Scope  tally.Scope
}

// Defaults for zero Options fields.
const (
	DefaultGuardianInterval = time.Second
	DefaultReserve          = 7 * 24 * time.Hour
	DefaultProposalTimeout  = 3 * time.Second
	DefaultRetryInterval    = time.Second
	DefaultMaxLearners      = 16
	DefaultLearnTimeout     = 10 * time.Minute

	DefaultDupPersistInterval  = 2 * time.Second
	DefaultDupRemovedRetention = time.Hour
)

func (o *Options) setDefaults() error {
	if o.Open == nil {
		return errors.New("meta: no store opener")
	}
	if o.Address == "" {
		return errors.New("meta: no RPC address to publish")
	}
	if err := coord.ValidatePath(o.Layout.Root); err != nil {
		return fmt.Errorf("meta: cluster root: %w", err)
	}
	if err := (membership.Config{Lease: o.Lease, Grace: o.Grace}).Validate(); err != nil {
		return err
	}
	if o.GuardianInterval <= 0 {
		o.GuardianInterval = DefaultGuardianInterval
	}
	if o.DefaultReserve <= 0 {
		o.DefaultReserve = DefaultReserve
	}
	if o.ProposalTimeout <= 0 {
		o.ProposalTimeout = DefaultProposalTimeout
	}
	if o.MinAliveRatio < 0 || o.MinAliveRatio >= 1 {
		return fmt.Errorf("meta: min alive ratio %v: want 0 <= ratio < 1", o.MinAliveRatio)
	}
	if o.MaxLearners <= 0 {
		o.MaxLearners = DefaultMaxLearners
	}
	if o.LearnTimeout <= 0 {
		o.LearnTimeout = DefaultLearnTimeout
	}
	if o.DupPersistInterval <= 0 {
		o.DupPersistInterval = DefaultDupPersistInterval
	}
	if o.DupRemovedRetention <= 0 {
		o.DupRemovedRetention = DefaultDupRemovedRetention
	}
	if o.RetryInterval <= 0 {
		o.RetryInterval = DefaultRetryInterval
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Scope == nil {
		o.Scope = tally.NoopScope
	}
	return nil
}
