package embed

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/vfs"

	"github.com/pegasus-go/pegasus/replicaserver/internal/plog"
	"github.com/pegasus-go/pegasus/replicaserver/internal/storage"
	"github.com/pegasus-go/pegasus/shared/config"
	"github.com/pegasus-go/pegasus/shared/failpoint"
	"github.com/pegasus-go/pegasus/shared/logging"
	"github.com/pegasus-go/pegasus/shared/rpc"
)

// Config is the replica server's configuration: the TOML file's shape
// (sections named as in Pegasus) plus a few runtime hooks that only code
// can set. DefaultConfig returns the compiled defaults.
type Config struct {
	Replication   ReplicationConfig   `toml:"replication" comment:"Replication: data directories, the private mutation log (plog), write limits and pacing."`
	ReplicaServer ReplicaServerConfig `toml:"replica_server" comment:"This server's addresses and its meta servers."`
	RPC           RPCConfig           `toml:"rpc" comment:"RPC server and client limits."`
	Pegasus       PegasusConfig       `toml:"pegasus"`
	// DuplicationGroup is the [duplication-group] section: cluster name ->
	// cluster id (1..127). Duplication stamps this cluster's id on the
	// writes it ships.
	DuplicationGroup map[string]int `toml:"duplication-group" comment:"Duplication: cluster name = cluster id (1..127, unique). When not empty it must give replication.cluster_name an id; duplicated writes carry the id of the cluster they were made in."`
	Logging          logging.Config `toml:"logging" comment:"Logging."`

	// Logger, if set, receives the server's logs instead of a logger built
	// from Logging (tests, embedding programs).
	Logger *slog.Logger `toml:"-"`
	// FS, if set, is the file system of every replica file (default: the
	// operating system's).
	FS vfs.FS `toml:"-"`
	// Clock, if set, replaces time.Now for leases, TTLs and write
	// timestamps.
	Clock func() time.Time `toml:"-"`
	// Failpoints, if set, enables fault injection (package
	// shared/failpoint): FS and Clock are wrapped by it and the HTTP server
	// serves it at /debug/failpoints. The command sets it when
	// PEGASUS_FAILPOINTS is in its environment.
	Failpoints *failpoint.Registry `toml:"-"`
}

// ReplicationConfig is the [replication] section.
type ReplicationConfig struct {
	ClusterName        string          `toml:"cluster_name" comment:"Name of the cluster this server belongs to (as in the meta servers' meta_server.cluster_name); duplication looks it up in [duplication-group]."`
	DataDirs           []string        `toml:"data_dirs" comment:"Directories holding the replicas (<data_dir>/<app_id>.<pidx>); new replicas go to the least loaded one."`
	PlogSync           string          `toml:"plog_sync" comment:"When a write is durable before it is acknowledged: \"fsync\" (synced to stable storage; survives machine crashes) or \"pagecache\" (handed to the OS; survives process crashes)."`
	PlogSegmentSize    config.ByteSize `toml:"plog_segment_size" comment:"Size at which a plog segment file is closed and a new one started."`
	PlogFlushInterval  config.Duration `toml:"plog_flush_interval" comment:"With plog_sync = \"pagecache\", sync the plog in the background this often (\"0s\": never)."`
	MaxWriteBytes      config.ByteSize `toml:"max_write_bytes" comment:"Largest write request, counting its keys and values; larger ones are rejected with ERR_INVALID_PARAMETERS. Must be below rpc.max_message_bytes."`
	TickInterval       config.Duration `toml:"tick_interval" comment:"Period of every replica's logical clock (group checks, retries, idle writes are counted in ticks)."`
	ConfigSyncInterval config.Duration `toml:"config_sync_interval" comment:"How often the server reports its replicas to the meta leader and applies its answer."`
	GroupCheckInterval config.Duration `toml:"group_check_interval" comment:"How often a primary checks its secondaries and learners (and brings idle ones its commit point)."`
	PrepareTimeout     config.Duration `toml:"prepare_timeout" comment:"How long a primary waits for a secondary to acknowledge prepares before proposing its removal to the meta server; unacknowledged prepares are resent after a fifth of it."`
	LearnRateLimit     config.ByteSize `toml:"learn_rate_limit" comment:"Bytes per second this node's learners copy from their primaries, all learners together (0: unlimited). Settable at runtime."`
	// Duplication (the sending side).
	DuplicationEnabled       bool            `toml:"duplication_enabled" comment:"Run duplication on this node: sync duplications with the meta leader, ship the primaries' writes to remote clusters, keep the plog for them."`
	DuplicateLogBatchBytes   config.ByteSize `toml:"duplicate_log_batch_bytes" comment:"Most entry bytes a primary's duplicator ships in one batch (at least one mutation); 0: one mutation per batch."`
	DupCheckpointIdleTimeout config.Duration `toml:"dup_checkpoint_idle_timeout" comment:"A primary removes the checkpoint it serves to a full duplication's follower replicas after this long without a request (it is also removed when the duplication is gone or the replica stops being primary)."`
	DupSyncInterval          config.Duration `toml:"dup_sync_interval" comment:"How often the server reports duplication progress to the meta leader and applies its duplications (start, pause, remove, fail mode)."`
}

// ReplicaServerConfig is the [replica_server] section.
type ReplicaServerConfig struct {
	RPCAddress       string          `toml:"rpc_address" comment:"Address the RPC server listens on (port 0 picks a free port)."`
	HTTPAddress      string          `toml:"http_address" comment:"Address of the HTTP server (/metrics, /healthz, /replica/..., pprof); empty disables it."`
	AdvertiseAddress string          `toml:"advertise_address" comment:"host:port the meta servers and clients know this server by; empty: the bound RPC address (required when rpc_address has no specific host)."`
	MetaServers      []string        `toml:"meta_servers" comment:"RPC addresses of the meta servers. Empty only in tests: partitions are then opened by the test harness and hold a lease that never ends."`
	BeaconInterval   config.Duration `toml:"beacon_interval" comment:"How often the server sends a beacon (and renews its lease) to the meta leader."`
}

// RPCConfig is the [rpc] section.
type RPCConfig struct {
	MaxMessageBytes config.ByteSize `toml:"max_message_bytes" comment:"Largest RPC frame accepted or sent."`
	ReadTimeout     config.Duration `toml:"read_timeout" comment:"Time to receive one frame once it started (\"0s\": no limit)."`
	WriteTimeout    config.Duration `toml:"write_timeout" comment:"Time to write one frame (\"0s\": no limit)."`
	IdleTimeout     config.Duration `toml:"idle_timeout" comment:"Close client connections idle this long (\"0s\": keep them)."`
	ShutdownTimeout config.Duration `toml:"shutdown_timeout" comment:"How long shutdown waits for requests in flight."`
	DialTimeout     config.Duration `toml:"dial_timeout" comment:"Time to connect to a meta server."`
	MetaCallTimeout config.Duration `toml:"meta_call_timeout" comment:"Time allowed for one call to a meta server (beacon, config sync)."`
	// DialAddresses maps an address this server knows a peer by to the
	// address it dials instead.
	DialAddresses map[string]string `toml:"dial_addresses" comment:"Dial through another address: \"host:port it is known by\" = \"host:port to dial\" (a proxy in front of a meta or replica server, e.g. in robustness tests). Empty: dial every address as known."`
}

// PegasusConfig is the [pegasus] table; its [pegasus.server] section holds
// the storage engine knobs and [pegasus.clusters] the known clusters.
type PegasusConfig struct {
	Server StorageConfig `toml:"server" comment:"Storage engine (pebble) of every replica."`
	// Clusters is the [pegasus.clusters] section: cluster name -> its meta
	// servers as a comma-separated host:port list.
	Clusters map[string]string `toml:"clusters" comment:"Known clusters (duplication targets): cluster name = comma-separated meta server list (host:port,...). The meta servers hand the remote's list to the replica servers with each duplication."`
}

// StorageConfig is the [pegasus.server] section.
type StorageConfig struct {
	BlockCacheSize     config.ByteSize `toml:"block_cache_size" comment:"Block cache of each replica's database."`
	MemtableSize       config.ByteSize `toml:"memtable_size" comment:"Size of one memtable."`
	BloomBitsPerKey    int             `toml:"bloom_bits_per_key" comment:"Bits per key of the bloom filters; negative disables them."`
	DisableWAL         bool            `toml:"disable_wal" comment:"Turn pebble's WAL off (the plog is the log of record; a crash replays it)."`
	MaxIterationCount  int             `toml:"max_iteration_count" comment:"Most records one multi_get returns."`
	MaxIterationSize   config.ByteSize `toml:"max_iteration_size" comment:"Most bytes (sortkeys and values) one multi_get returns."`
	ScanBatchSize      int             `toml:"scan_batch_size" comment:"Records per scan batch when the client does not choose."`
	MaxScanBatchSize   int             `toml:"max_scan_batch_size" comment:"Largest scan batch a client may ask for."`
	MaxScanContexts    int             `toml:"max_scan_contexts" comment:"Scan contexts open at once per replica."`
	ScanIdleTimeout    config.Duration `toml:"scan_idle_timeout" comment:"A scan context unused this long is closed."`
	ReapInterval       config.Duration `toml:"reap_interval" comment:"Pause between two steps of the expired-record reaper."`
	EngineSyncInterval config.Duration `toml:"engine_sync_interval" comment:"How often the database is made durable so the plog below it can be deleted."`
	// DupLaggingWriteThresholdMs is in milliseconds, as Pegasus names it.
	DupLaggingWriteThresholdMs int64 `toml:"dup_lagging_write_threshold_ms" comment:"A duplicated write shipped more than this many milliseconds after it was made counts in dup_lagging_writes."`
	// DupTombstoneRetention keeps the tombstones of deletes on duplicated
	// tables this long (it must exceed the duplication lag).
	DupTombstoneRetention config.Duration `toml:"dup_tombstone_retention" comment:"Duplicated tables: how long a delete's tombstone is kept so an older write arriving later by duplication cannot bring the record back; must exceed the duplication lag."`
}

// Default addresses.
const (
	DefaultRPCAddress  = "127.0.0.1:34801"
	DefaultHTTPAddress = "127.0.0.1:35801"
)

// DefaultConfig returns the compiled defaults.
func DefaultConfig() Config {
	return Config{
		Replication: ReplicationConfig{
			ClusterName:        "onebox",
			DataDirs:           []string{"data/replica"},
			PlogSync:           plog.SyncFsync.String(),
			PlogSegmentSize:    config.ByteSize(plog.DefaultSegmentSizeBytes),
			PlogFlushInterval:  config.Duration(time.Second),
			MaxWriteBytes:      config.MiB,
			TickInterval:       config.Duration(100 * time.Millisecond),
			ConfigSyncInterval: config.Duration(5 * time.Second),
			GroupCheckInterval: config.Duration(5 * time.Second),
			PrepareTimeout:     config.Duration(5 * time.Second),

			DuplicationEnabled:       true,
			DuplicateLogBatchBytes:   64 * config.KiB,
			DupSyncInterval:          config.Duration(time.Second),
			DupCheckpointIdleTimeout: config.Duration(10 * time.Minute),
		},
		ReplicaServer: ReplicaServerConfig{
			RPCAddress:     DefaultRPCAddress,
			HTTPAddress:    DefaultHTTPAddress,
			MetaServers:    []string{"127.0.0.1:34601"},
			BeaconInterval: config.Duration(time.Second),
		},
		RPC: RPCConfig{
			MaxMessageBytes: config.ByteSize(rpc.DefaultMaxMessageBytes),
			ReadTimeout:     config.Duration(rpc.DefaultReadTimeout),
			WriteTimeout:    config.Duration(rpc.DefaultWriteTimeout),
			ShutdownTimeout: config.Duration(rpc.DefaultShutdownTimeout),
			DialTimeout:     config.Duration(rpc.DefaultDialTimeout),
			MetaCallTimeout: config.Duration(3 * time.Second),
			DialAddresses:   map[string]string{},
		},
		Pegasus: PegasusConfig{Server: StorageConfig{
			BlockCacheSize:     config.ByteSize(storage.DefaultBlockCacheSizeBytes),
			MemtableSize:       config.ByteSize(storage.DefaultMemTableSizeBytes),
			BloomBitsPerKey:    storage.DefaultBloomBitsPerKey,
			MaxIterationCount:  storage.DefaultMaxIterationCount,
			MaxIterationSize:   config.ByteSize(storage.DefaultMaxIterationSizeBytes),
			ScanBatchSize:      storage.DefaultScanBatchSize,
			MaxScanBatchSize:   storage.DefaultMaxScanBatchSize,
			MaxScanContexts:    storage.DefaultMaxScanContexts,
			ScanIdleTimeout:    config.Duration(storage.DefaultScanIdleTimeout),
			ReapInterval:       config.Duration(time.Second),
			EngineSyncInterval: config.Duration(10 * time.Second),

			DupLaggingWriteThresholdMs: 10_000,
			DupTombstoneRetention:      config.Duration(storage.DefaultTombstoneRetention),
		}, Clusters: map[string]string{}},
		DuplicationGroup: map[string]int{},
		Logging:          logging.DefaultConfig(),
	}
}

// ParsePlogSync parses a plog_sync value.
func ParsePlogSync(s string) (plog.SyncPolicy, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "fsync":
		return plog.SyncFsync, nil
	case "pagecache":
		return plog.SyncPageCache, nil
	}
	return 0, fmt.Errorf("replication.plog_sync %q: want \"fsync\" or \"pagecache\"", s)
}

// Validate reports every invalid value, joined.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	r := &c.Replication
	if len(r.DataDirs) == 0 {
		bad("replication.data_dirs is empty: at least one data directory is required")
	}
	seen := map[string]bool{}
	for _, d := range r.DataDirs {
		switch {
		case strings.TrimSpace(d) == "":
			bad("replication.data_dirs has an empty entry")
		case seen[d]:
			bad("replication.data_dirs lists %q twice", d)
		}
		seen[d] = true
	}
	if _, err := ParsePlogSync(r.PlogSync); err != nil {
		errs = append(errs, err)
	}
	if r.PlogSegmentSize < 4*config.KiB {
		bad("replication.plog_segment_size %v is below 4KiB", r.PlogSegmentSize)
	}
	if r.PlogFlushInterval < 0 {
		bad("replication.plog_flush_interval %v is negative", r.PlogFlushInterval)
	}
	if r.MaxWriteBytes <= 0 {
		bad("replication.max_write_bytes %v must be positive", r.MaxWriteBytes)
	} else if r.MaxWriteBytes >= c.RPC.MaxMessageBytes {
		bad("replication.max_write_bytes %v must be below rpc.max_message_bytes %v", r.MaxWriteBytes, c.RPC.MaxMessageBytes)
	}
	positive := func(name string, d config.Duration) {
		if d <= 0 {
			bad("%s %v must be positive", name, d)
		}
	}
	if strings.TrimSpace(r.ClusterName) == "" {
		bad("replication.cluster_name is empty")
	}
	positive("replication.tick_interval", r.TickInterval)
	positive("replication.config_sync_interval", r.ConfigSyncInterval)
	positive("replication.group_check_interval", r.GroupCheckInterval)
	positive("replication.prepare_timeout", r.PrepareTimeout)
	positive("replication.dup_sync_interval", r.DupSyncInterval)
	positive("replication.dup_checkpoint_idle_timeout", r.DupCheckpointIdleTimeout)
	if r.DuplicateLogBatchBytes < 0 {
		bad("replication.duplicate_log_batch_bytes %v is negative", r.DuplicateLogBatchBytes)
	} else if r.DuplicateLogBatchBytes >= c.RPC.MaxMessageBytes/2 {
		bad("replication.duplicate_log_batch_bytes %v must be below half of rpc.max_message_bytes %v", r.DuplicateLogBatchBytes, c.RPC.MaxMessageBytes)
	}

	rs := &c.ReplicaServer
	if err := checkAddr("replica_server.rpc_address", rs.RPCAddress); err != nil {
		errs = append(errs, err)
	}
	if rs.HTTPAddress != "" {
		if err := checkAddr("replica_server.http_address", rs.HTTPAddress); err != nil {
			errs = append(errs, err)
		}
	}
	if rs.AdvertiseAddress != "" {
		if err := checkAddr("replica_server.advertise_address", rs.AdvertiseAddress); err != nil {
			errs = append(errs, err)
		} else if host, port, _ := net.SplitHostPort(rs.AdvertiseAddress); host == "" || port == "0" || net.ParseIP(host).IsUnspecified() {
			bad("replica_server.advertise_address %q must name a specific host and port", rs.AdvertiseAddress)
		}
	} else if host, _, err := net.SplitHostPort(rs.RPCAddress); err == nil && (host == "" || net.ParseIP(host).IsUnspecified()) {
		bad("replica_server.advertise_address is required when rpc_address %q does not name a specific host", rs.RPCAddress)
	}
	for _, m := range rs.MetaServers {
		if err := checkAddr("replica_server.meta_servers", m); err != nil {
			errs = append(errs, err)
		}
	}
	positive("replica_server.beacon_interval", rs.BeaconInterval)

	rc := &c.RPC
	if rc.MaxMessageBytes < 64*config.KiB || rc.MaxMessageBytes > rpc.MaxMessageBytesLimit {
		bad("rpc.max_message_bytes %v must be between 64KiB and %v", rc.MaxMessageBytes, config.ByteSize(rpc.MaxMessageBytesLimit))
	}
	for name, d := range map[string]config.Duration{
		"rpc.read_timeout": rc.ReadTimeout, "rpc.write_timeout": rc.WriteTimeout, "rpc.idle_timeout": rc.IdleTimeout,
		"rpc.shutdown_timeout": rc.ShutdownTimeout,
	} {
		if d < 0 {
			bad("%s %v is negative", name, d)
		}
	}
	positive("rpc.dial_timeout", rc.DialTimeout)
	for from, to := range rc.DialAddresses {
		if err := checkAddr("rpc.dial_addresses key", from); err != nil {
			errs = append(errs, err)
		}
		if err := checkAddr("rpc.dial_addresses["+from+"]", to); err != nil {
			errs = append(errs, err)
		}
	}
	positive("rpc.meta_call_timeout", rc.MetaCallTimeout)

	st := &c.Pegasus.Server
	if st.BlockCacheSize <= 0 {
		bad("pegasus.server.block_cache_size %v must be positive", st.BlockCacheSize)
	}
	if st.MemtableSize < 64*config.KiB {
		bad("pegasus.server.memtable_size %v is below 64KiB", st.MemtableSize)
	}
	for name, v := range map[string]int{
		"pegasus.server.max_iteration_count": st.MaxIterationCount, "pegasus.server.scan_batch_size": st.ScanBatchSize,
		"pegasus.server.max_scan_batch_size": st.MaxScanBatchSize, "pegasus.server.max_scan_contexts": st.MaxScanContexts,
	} {
		if v <= 0 {
			bad("%s %d must be positive", name, v)
		}
	}
	if st.ScanBatchSize > st.MaxScanBatchSize {
		bad("pegasus.server.scan_batch_size %d exceeds max_scan_batch_size %d", st.ScanBatchSize, st.MaxScanBatchSize)
	}
	if st.MaxIterationSize <= 0 {
		bad("pegasus.server.max_iteration_size %v must be positive", st.MaxIterationSize)
	}
	positive("pegasus.server.scan_idle_timeout", st.ScanIdleTimeout)
	positive("pegasus.server.reap_interval", st.ReapInterval)
	positive("pegasus.server.engine_sync_interval", st.EngineSyncInterval)
	if st.DupLaggingWriteThresholdMs <= 0 {
		bad("pegasus.server.dup_lagging_write_threshold_ms %d must be positive", st.DupLaggingWriteThresholdMs)
	}
	positive("pegasus.server.dup_tombstone_retention", st.DupTombstoneRetention)

	errs = append(errs, config.ValidateClusters(c.Pegasus.Clusters, c.DuplicationGroup, "replication.cluster_name", r.ClusterName)...)

	if err := c.Logging.Validate(); err != nil {
		errs = append(errs, err)
	}
	// Some checks iterate maps: order by message for a stable output.
	slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
	return errors.Join(errs...)
}

func checkAddr(name, addr string) error {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return fmt.Errorf("%s %q: want host:port: %v", name, addr, err)
	}
	return nil
}
