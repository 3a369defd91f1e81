package embed

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/pegasus-go/pegasus/metaserver/internal/membership"
	"github.com/pegasus-go/pegasus/metaserver/internal/meta"
	"github.com/pegasus-go/pegasus/metaserver/internal/placement"
	"github.com/pegasus-go/pegasus/shared/config"
	"github.com/pegasus-go/pegasus/shared/coord"
	"github.com/pegasus-go/pegasus/shared/failpoint"
	"github.com/pegasus-go/pegasus/shared/logging"
	"github.com/pegasus-go/pegasus/shared/metrics"
)

// Store backends selectable with [meta_server] store.
const (
	StoreZooKeeper = "zookeeper"
	StoreLocal     = "local"
)

// maxHoldSeconds bounds hold_seconds_for_dropped_app (100 years).
const maxHoldSeconds = 100 * 365 * 24 * 3600

// Config is the meta server's configuration.
type Config struct {
	MetaServer MetaServerConfig `toml:"meta_server"`
	Zookeeper  ZookeeperConfig  `toml:"zookeeper"`
	LocalStore LocalStoreConfig `toml:"local_store"`
	Pegasus    PegasusConfig    `toml:"pegasus"`
	// Replication is the [replication] section; the meta server reads
	// only duplication_enabled from it (the Pegasus spelling).
	Replication ReplicationConfig `toml:"replication"`
	// DuplicationGroup is the [duplication-group] section: cluster name ->
	// cluster id (1..127). A duplication needs ids for this cluster and
	// its remote cluster.
	DuplicationGroup map[string]int `toml:"duplication-group" comment:"Duplication: cluster name = cluster id (1..127, unique, the same on every cluster of the group). When not empty it must give meta_server.cluster_name an id; dup add needs ids for this cluster and the remote one."`
	Logging          logging.Config `toml:"logging"`

	// Logger, if set, is used instead of building one from Logging;
	// LogLevel, if also set, is the level /debug/loglevel shows and sets.
	Logger   *slog.Logger   `toml:"-"`
	LogLevel *slog.LevelVar `toml:"-"`
	// Clock, if set, replaces time.Now for the failure detector, table
	// timestamps and the purge of dropped tables (tests).
	Clock func() time.Time `toml:"-"`
	// Metrics, if set, is the registry the server records into and serves
	// at /metrics; otherwise the server makes its own.
	Metrics *metrics.Registry `toml:"-"`
	// Failpoints, if set, enables fault injection (package
	// shared/failpoint): Clock is wrapped by it (clock-offset) and the
	// HTTP server serves it at /debug/failpoints. The command sets it when
	// PEGASUS_FAILPOINTS is in its environment.
	Failpoints *failpoint.Registry `toml:"-"`
}

// MetaServerConfig is the [meta_server] section.
type MetaServerConfig struct {
	RPCAddress       string          `toml:"rpc_address" comment:"Address the RPC server listens on (host:port; port 0 picks a free one)."`
	AdvertiseAddress string          `toml:"advertise_address" comment:"RPC address published to other meta servers, replica servers and clients; empty means the bound rpc_address (which then must not be a wildcard host)."`
	HTTPAddress      string          `toml:"http_address" comment:"Address of the HTTP endpoint (metrics, health, pprof, /meta/* pages)."`
	ClusterName      string          `toml:"cluster_name" comment:"Name of this cluster, reported by cluster_info."`
	ClusterRoot      string          `toml:"cluster_root" comment:"Path of this cluster's state inside the coordination store (below the store root)."`
	MetaServers      []string        `toml:"meta_servers" comment:"Every meta server of the cluster (host:port), reported by cluster_info; a full duplication records it as the master meta list when [pegasus.clusters] has no entry for this cluster."`
	Store            string          `toml:"store" comment:"Coordination store: zookeeper or local (a directory shared by the processes of one machine)."`
	Lease            config.Duration `toml:"lease" comment:"Lease granted by each replica server beacon."`
	Grace            config.Duration `toml:"grace" comment:"Silence after which a replica server is declared dead; must exceed lease."`
	GuardianInterval config.Duration `toml:"guardian_interval" comment:"How often the guardian cures partitions and purges expired dropped tables."`
	HoldDroppedApp   int64           `toml:"hold_seconds_for_dropped_app" comment:"Seconds a dropped table stays recallable when the drop request does not say."`
	ProposalTimeout  config.Duration `toml:"proposal_timeout" comment:"Deadline of one configuration proposal sent to a replica server."`
	// Replication guardian.
	MinAliveNodesRatio    float64         `toml:"min_alive_nodes_ratio" comment:"Reconfiguration (promotions, removals, learners, DDD recovery) is frozen unless more than this fraction of the known replica servers is alive; 0..1 (exclusive)."`
	MaxConcurrentLearners int             `toml:"max_concurrent_learners" comment:"Most learners (replicas being added) in progress over the whole cluster."`
	LearnTimeout          config.Duration `toml:"learn_timeout" comment:"A learner that has not become a secondary after this long is replaced by another node."`
	// Duplication.
	DuplicationEnabled         bool            `toml:"duplication_enabled" comment:"Accept new duplications (dup add). When false, dup add is refused; existing duplications keep running and can be paused, started or removed."`
	DupProgressPersistInterval config.Duration `toml:"dup_progress_persist_interval" comment:"Longest time a confirmed decree reported by a primary stays only in the leader's memory before it is stored (a new leader resumes from the stored one)."`
	// DialAddresses maps an address this server knows a replica server or
	// meta server by to the address it dials instead.
	DialAddresses map[string]string `toml:"dial_addresses" comment:"Dial through another address: \"host:port it is known by\" = \"host:port to dial\" (a proxy in front of a replica or meta server, e.g. in robustness tests). Empty: dial every address as known."`
}

// ReplicationConfig is the [replication] section as the meta server reads
// it.
type ReplicationConfig struct {
	DuplicationEnabled bool `toml:"duplication_enabled" comment:"Pegasus spelling of meta_server.duplication_enabled; duplication is enabled only when both are true."`
}

// ZookeeperConfig is the [zookeeper] section (store = "zookeeper").
type ZookeeperConfig struct {
	Hosts          []string        `toml:"hosts" comment:"ZooKeeper ensemble (host:port list)."`
	SessionTimeout config.Duration `toml:"session_timeout" comment:"ZooKeeper session timeout; a leader that loses its session stops at once."`
	Root           string          `toml:"root" comment:"Store root (chroot) every path is relative to; created if missing."`
}

// LocalStoreConfig is the [local_store] section (store = "local").
type LocalStoreConfig struct {
	Dir          string          `toml:"dir" comment:"Directory of the local coordination store, shared by every process of the onebox."`
	PollInterval config.Duration `toml:"poll_interval" comment:"How often the local store checks watches, dead sessions and contended elections."`
}

// PegasusConfig is the [pegasus] table.
type PegasusConfig struct {
	// Clusters is the [pegasus.clusters] section: cluster name -> its meta
	// servers as a comma-separated host:port list.
	Clusters map[string]string `toml:"clusters" comment:"Known clusters (duplication targets): cluster name = comma-separated meta server list (host:port,...). dup add -c <name> needs the name here."`
}

// DefaultConfig returns the compiled defaults.
func DefaultConfig() Config {
	return Config{
		MetaServer: MetaServerConfig{
			RPCAddress:       "127.0.0.1:34601",
			HTTPAddress:      "127.0.0.1:34701",
			ClusterName:      "onebox",
			ClusterRoot:      "/onebox",
			Store:            StoreZooKeeper,
			Lease:            config.Duration(9 * time.Second),
			Grace:            config.Duration(12 * time.Second),
			GuardianInterval: config.Duration(time.Second),
			HoldDroppedApp:   7 * 24 * 3600,
			ProposalTimeout:  config.Duration(3 * time.Second),

			MinAliveNodesRatio:    placement.DefaultMinAliveRatio,
			MaxConcurrentLearners: meta.DefaultMaxLearners,
			LearnTimeout:          config.Duration(meta.DefaultLearnTimeout),

			DuplicationEnabled:         true,
			DupProgressPersistInterval: config.Duration(meta.DefaultDupPersistInterval),
			DialAddresses:              map[string]string{},
		},
		Replication: ReplicationConfig{DuplicationEnabled: true},
		Zookeeper: ZookeeperConfig{
			Hosts:          []string{"127.0.0.1:2181"},
			SessionTimeout: config.Duration(10 * time.Second),
			Root:           "/pegasus",
		},
		LocalStore: LocalStoreConfig{
			Dir:          "onebox/meta-store",
			PollInterval: config.Duration(100 * time.Millisecond),
		},
		Pegasus:          PegasusConfig{Clusters: map[string]string{}},
		DuplicationGroup: map[string]int{},
		Logging:          logging.DefaultConfig(),
	}
}

// DuplicationEnabled reports whether both duplication_enabled settings
// are on.
func (c *Config) DuplicationEnabled() bool {
	return c.MetaServer.DuplicationEnabled && c.Replication.DuplicationEnabled
}

// ClusterMetas returns [pegasus.clusters] as cluster name -> meta list.
func (c *Config) ClusterMetas() map[string][]string {
	out := make(map[string][]string, len(c.Pegasus.Clusters))
	for name, list := range c.Pegasus.Clusters {
		var metas []string
		for part := range strings.SplitSeq(list, ",") {
			if a := strings.TrimSpace(part); a != "" {
				metas = append(metas, a)
			}
		}
		out[name] = metas
	}
	return out
}

// Validate reports the first invalid setting.
func (c *Config) Validate() error {
	m := &c.MetaServer
	if _, _, err := net.SplitHostPort(m.RPCAddress); err != nil {
		return fmt.Errorf("meta_server.rpc_address %q: %v", m.RPCAddress, err)
	}
	if m.AdvertiseAddress != "" {
		if h, p, err := net.SplitHostPort(m.AdvertiseAddress); err != nil || h == "" || p == "0" {
			return fmt.Errorf("meta_server.advertise_address %q: want host:port with a real host and port", m.AdvertiseAddress)
		}
	}
	if _, _, err := net.SplitHostPort(m.HTTPAddress); err != nil {
		return fmt.Errorf("meta_server.http_address %q: %v", m.HTTPAddress, err)
	}
	if m.ClusterName == "" {
		return errors.New("meta_server.cluster_name is empty")
	}
	if err := coord.ValidatePath(m.ClusterRoot); err != nil || m.ClusterRoot == "/" {
		return fmt.Errorf("meta_server.cluster_root %q: want an absolute path below the store root", m.ClusterRoot)
	}
	if err := (membership.Config{Lease: m.Lease.Std(), Grace: m.Grace.Std()}).Validate(); err != nil {
		return fmt.Errorf("meta_server.lease / grace: %w", err)
	}
	if m.GuardianInterval <= 0 {
		return fmt.Errorf("meta_server.guardian_interval %v must be positive", m.GuardianInterval)
	}
	if m.HoldDroppedApp <= 0 || m.HoldDroppedApp > maxHoldSeconds {
		return fmt.Errorf("meta_server.hold_seconds_for_dropped_app %d: want 1..%d", m.HoldDroppedApp, maxHoldSeconds)
	}
	if m.ProposalTimeout <= 0 {
		return fmt.Errorf("meta_server.proposal_timeout %v must be positive", m.ProposalTimeout)
	}
	if m.MinAliveNodesRatio < 0 || m.MinAliveNodesRatio >= 1 {
		return fmt.Errorf("meta_server.min_alive_nodes_ratio %v: want 0 <= ratio < 1", m.MinAliveNodesRatio)
	}
	if m.MaxConcurrentLearners <= 0 {
		return fmt.Errorf("meta_server.max_concurrent_learners %d must be positive", m.MaxConcurrentLearners)
	}
	if m.LearnTimeout <= 0 {
		return fmt.Errorf("meta_server.learn_timeout %v must be positive", m.LearnTimeout)
	}
	if m.DupProgressPersistInterval <= 0 {
		return fmt.Errorf("meta_server.dup_progress_persist_interval %v must be positive", m.DupProgressPersistInterval)
	}
	for from, to := range m.DialAddresses {
		if _, _, err := net.SplitHostPort(from); err != nil {
			return fmt.Errorf("meta_server.dial_addresses key %q: %v", from, err)
		}
		if _, _, err := net.SplitHostPort(to); err != nil {
			return fmt.Errorf("meta_server.dial_addresses[%s] %q: %v", from, to, err)
		}
	}
	switch m.Store {
	case StoreZooKeeper:
		if len(c.Zookeeper.Hosts) == 0 {
			return errors.New("zookeeper.hosts is empty")
		}
		for _, h := range c.Zookeeper.Hosts {
			if _, _, err := net.SplitHostPort(h); err != nil {
				return fmt.Errorf("zookeeper.hosts: %q: %v", h, err)
			}
		}
		if c.Zookeeper.SessionTimeout <= 0 {
			return fmt.Errorf("zookeeper.session_timeout %v must be positive", c.Zookeeper.SessionTimeout)
		}
		if err := coord.ValidatePath(c.Zookeeper.Root); err != nil {
			return fmt.Errorf("zookeeper.root: %w", err)
		}
	case StoreLocal:
		if c.LocalStore.Dir == "" {
			return errors.New("local_store.dir is empty")
		}
		if c.LocalStore.PollInterval <= 0 {
			return fmt.Errorf("local_store.poll_interval %v must be positive", c.LocalStore.PollInterval)
		}
	default:
		return fmt.Errorf("meta_server.store %q: want %q or %q", m.Store, StoreZooKeeper, StoreLocal)
	}
	if errs := config.ValidateClusters(c.Pegasus.Clusters, c.DuplicationGroup, "meta_server.cluster_name", m.ClusterName); len(errs) > 0 {
		return errs[0]
	}
	return c.Logging.Validate()
}
