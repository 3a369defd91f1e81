package embed

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/pegasus-go/pegasus/client-go/admin"
	"github.com/pegasus-go/pegasus/collector/internal/hotspot"
	"github.com/pegasus-go/pegasus/shared/config"
	"github.com/pegasus-go/pegasus/shared/logging"
	"github.com/pegasus-go/pegasus/shared/metrics"
)

// Default addresses and port offsets (the daemons' default ports: meta
// 34601 RPC / 34701 HTTP, replica 34801 RPC / 35801 HTTP).
const (
	DefaultHTTPAddress           = "127.0.0.1:34101"
	DefaultMetaHTTPPortOffset    = 100
	DefaultReplicaHTTPPortOffset = 1000
	DefaultProbeTable            = "__collector_probe"
)

// Config is the collector's configuration.
type Config struct {
	Collector CollectorConfig `toml:"collector"`
	Hotspot   HotspotConfig   `toml:"hotspot"`
	Probe     ProbeConfig     `toml:"probe"`
	Logging   logging.Config  `toml:"logging"`

	// Logger, if set, is used instead of building one from Logging;
	// LogLevel, if also set, is the level /debug/loglevel shows and sets.
	Logger   *slog.Logger   `toml:"-"`
	LogLevel *slog.LevelVar `toml:"-"`
	// Metrics, if set, is the registry the collector exports into and
	// serves at /metrics; otherwise it makes its own.
	Metrics *metrics.Registry `toml:"-"`
}

// CollectorConfig is the [collector] section.
type CollectorConfig struct {
	ClusterName           string            `toml:"cluster_name" comment:"Name of the cluster, the cluster label of every exported metric."`
	MetaServers           []string          `toml:"meta_servers" comment:"Meta servers of the cluster (RPC host:port list)."`
	HTTPAddress           string            `toml:"http_address" comment:"Address of the collector's HTTP endpoint: dashboard, /api/, /metrics (port 0 picks a free one)."`
	ScrapeInterval        config.Duration   `toml:"scrape_interval" comment:"Time between two scrape rounds (discovery plus a scrape of every node)."`
	ScrapeTimeout         config.Duration   `toml:"scrape_timeout" comment:"Deadline of the discovery and of each node's scrape; at most scrape_interval; 0 means three quarters of scrape_interval."`
	SlowScrapeThreshold   config.Duration   `toml:"slow_scrape_threshold" comment:"A node whose scrape takes this long or longer is reported slow."`
	MetaHTTPPortOffset    int               `toml:"meta_http_port_offset" comment:"A meta server's HTTP port is its RPC port plus this offset (unless http_addresses names it)."`
	ReplicaHTTPPortOffset int               `toml:"replica_http_port_offset" comment:"A replica server's HTTP port is its RPC port plus this offset (unless http_addresses names it)."`
	HTTPAddresses         map[string]string `toml:"http_addresses" comment:"Explicit HTTP addresses: RPC host:port = HTTP host:port."`
	HistoryPoints         int               `toml:"history_points" comment:"Rounds of per-table history kept for the dashboard's charts."`
}

// HotspotConfig is the [hotspot] section.
type HotspotConfig struct {
	Window     int     `toml:"window" comment:"Rounds over which partition QPS is averaged before scoring."`
	ZThreshold float64 `toml:"z_threshold" comment:"z-score (against the table's other partitions) at or above which a partition is hot."`
	MinQPS     float64 `toml:"min_qps" comment:"Average QPS a partition needs before it can be flagged hot."`
}

// ProbeConfig is the [probe] section: the availability detector.
type ProbeConfig struct {
	Enabled        bool            `toml:"enabled" comment:"Write and read the probe table every interval."`
	Table          string          `toml:"table" comment:"Probe table, created when missing."`
	PartitionCount int             `toml:"partition_count" comment:"Partitions of the probe table when the collector creates it (a power of two)."`
	ReplicaCount   int             `toml:"replica_count" comment:"Replicas per partition of the probe table when the collector creates it."`
	Interval       config.Duration `toml:"interval" comment:"Time between two probe rounds."`
	Timeout        config.Duration `toml:"timeout" comment:"Deadline of one probe request."`
}

// DefaultConfig returns the compiled defaults.
func DefaultConfig() Config {
	hs := hotspot.DefaultConfig()
	return Config{
		Collector: CollectorConfig{
			ClusterName:           "onebox",
			MetaServers:           []string{"127.0.0.1:34601"},
			HTTPAddress:           DefaultHTTPAddress,
			ScrapeInterval:        config.Duration(5 * time.Second),
			SlowScrapeThreshold:   config.Duration(time.Second),
			MetaHTTPPortOffset:    DefaultMetaHTTPPortOffset,
			ReplicaHTTPPortOffset: DefaultReplicaHTTPPortOffset,
			HTTPAddresses:         map[string]string{},
			HistoryPoints:         720,
		},
		Hotspot: HotspotConfig{Window: hs.Window, ZThreshold: hs.Threshold, MinQPS: hs.MinQPS},
		Probe: ProbeConfig{
			Enabled: true, Table: DefaultProbeTable, PartitionCount: 8, ReplicaCount: 3,
			Interval: config.Duration(3 * time.Second), Timeout: config.Duration(2 * time.Second),
		},
		Logging: logging.DefaultConfig(),
	}
}

// scrapeTimeout is the effective scrape timeout.
func (c *CollectorConfig) scrapeTimeout() time.Duration {
	if c.ScrapeTimeout > 0 {
		return c.ScrapeTimeout.Std()
	}
	return c.ScrapeInterval.Std() * 3 / 4
}

func (h HotspotConfig) detector() hotspot.Config {
	return hotspot.Config{Window: h.Window, Threshold: h.ZThreshold, MinQPS: h.MinQPS}
}

// Validate reports the first invalid setting.
func (c *Config) Validate() error {
	cc := &c.Collector
	if cc.ClusterName == "" {
		return errors.New("collector.cluster_name is empty")
	}
	if len(cc.MetaServers) == 0 {
		return errors.New("collector.meta_servers is empty")
	}
	for _, m := range cc.MetaServers {
		if err := checkHostPort(m); err != nil {
			return fmt.Errorf("collector.meta_servers: %w", err)
		}
	}
	if _, _, err := net.SplitHostPort(cc.HTTPAddress); err != nil {
		return fmt.Errorf("collector.http_address %q: %v", cc.HTTPAddress, err)
	}
	if cc.ScrapeInterval < config.Duration(100*time.Millisecond) {
		return fmt.Errorf("collector.scrape_interval %v: want at least 100ms", cc.ScrapeInterval)
	}
	if cc.ScrapeTimeout < 0 || cc.ScrapeTimeout > cc.ScrapeInterval {
		return fmt.Errorf("collector.scrape_timeout %v: want 0 <= timeout <= scrape_interval (%v)", cc.ScrapeTimeout, cc.ScrapeInterval)
	}
	if cc.SlowScrapeThreshold <= 0 {
		return fmt.Errorf("collector.slow_scrape_threshold %v must be positive", cc.SlowScrapeThreshold)
	}
	for name, off := range map[string]int{"meta_http_port_offset": cc.MetaHTTPPortOffset, "replica_http_port_offset": cc.ReplicaHTTPPortOffset} {
		if off < -65535 || off > 65535 {
			return fmt.Errorf("collector.%s %d: want -65535..65535", name, off)
		}
	}
	for rpc, h := range cc.HTTPAddresses {
		if err := checkHostPort(rpc); err != nil {
			return fmt.Errorf("collector.http_addresses: key %w", err)
		}
		if err := checkHostPort(h); err != nil {
			return fmt.Errorf("collector.http_addresses: %s: %w", rpc, err)
		}
	}
	if cc.HistoryPoints < 2 || cc.HistoryPoints > 100000 {
		return fmt.Errorf("collector.history_points %d: want 2..100000", cc.HistoryPoints)
	}
	if err := c.Hotspot.detector().Validate(); err != nil {
		return fmt.Errorf("hotspot: %w", err)
	}
	p := &c.Probe
	if p.Enabled {
		if err := admin.CheckAppName(p.Table); err != nil {
			return fmt.Errorf("probe.table: %w", err)
		}
		if p.PartitionCount <= 0 || p.PartitionCount > admin.MaxPartitionCount || p.PartitionCount&(p.PartitionCount-1) != 0 {
			return fmt.Errorf("probe.partition_count %d: want a power of two in 1..%d", p.PartitionCount, admin.MaxPartitionCount)
		}
		if p.ReplicaCount <= 0 || p.ReplicaCount > admin.MaxReplicaCount {
			return fmt.Errorf("probe.replica_count %d: want 1..%d", p.ReplicaCount, admin.MaxReplicaCount)
		}
		if p.Interval <= 0 || p.Timeout <= 0 {
			return fmt.Errorf("probe.interval %v and probe.timeout %v must be positive", p.Interval, p.Timeout)
		}
	}
	return c.Logging.Validate()
}

func checkHostPort(s string) error {
	h, p, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("%q: %v", s, err)
	}
	if h == "" || p == "" || p == "0" {
		return fmt.Errorf("%q: want host:port with a host and a non-zero port", s)
	}
	return nil
}
