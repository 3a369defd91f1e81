package embed

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/pegasus-go/pegasus/metaproxy/route"
	"github.com/pegasus-go/pegasus/shared/config"
	"github.com/pegasus-go/pegasus/shared/logging"
	"github.com/pegasus-go/pegasus/shared/metrics"
)

// MaxCacheSize bounds route_cache_size.
const MaxCacheSize = 1 << 22

// Config is the meta proxy's configuration.
type Config struct {
	MetaProxy MetaProxyConfig `toml:"metaproxy"`
	Zookeeper ZookeeperConfig `toml:"zookeeper"`
	Logging   logging.Config  `toml:"logging"`

	// Logger, if set, is used instead of building one from Logging;
	// LogLevel, if also set, is the level /debug/loglevel shows and sets.
	Logger   *slog.Logger   `toml:"-"`
	LogLevel *slog.LevelVar `toml:"-"`
	// Metrics, if set, is the registry the proxy records into and serves
	// at /metrics; otherwise the proxy makes its own.
	Metrics *metrics.Registry `toml:"-"`
}

// MetaProxyConfig is the [metaproxy] section.
type MetaProxyConfig struct {
	RPCAddress       string          `toml:"rpc_address" comment:"Address the RPC server (service Meta, QueryConfig only) listens on (host:port; port 0 picks a free one)."`
	AdvertiseAddress string          `toml:"advertise_address" comment:"Address named in this proxy's error messages; empty means the bound rpc_address."`
	HTTPAddress      string          `toml:"http_address" comment:"Address of the HTTP endpoint (metrics, health, pprof, /metaproxy/routes)."`
	RouteCacheSize   int             `toml:"route_cache_size" comment:"Most tables whose routes are cached (each with a ZooKeeper watch); least recently used evicted first."`
	ForwardTimeout   config.Duration `toml:"forward_timeout" comment:"Bound of a forwarded QueryConfig whose request carries no deadline."`
	StoreTimeout     config.Duration `toml:"store_timeout" comment:"Bound of one ZooKeeper read of a route."`
}

// ZookeeperConfig is the [zookeeper] section.
type ZookeeperConfig struct {
	Hosts          []string        `toml:"hosts" comment:"ZooKeeper ensemble (host:port list) holding the routes."`
	Root           string          `toml:"root" comment:"Path of the routing table: node <root>/<table> holds {\"cluster_name\": ..., \"meta_addrs\": \"host:port,...\"}."`
	SessionTimeout config.Duration `toml:"session_timeout" comment:"ZooKeeper session timeout; a lost session drops every cached route and is reopened."`
}

// DefaultConfig returns the compiled defaults.
func DefaultConfig() Config {
	return Config{
		MetaProxy: MetaProxyConfig{
			RPCAddress:     "127.0.0.1:34501",
			HTTPAddress:    "127.0.0.1:34551",
			RouteCacheSize: 10000,
			ForwardTimeout: config.Duration(5 * time.Second),
			StoreTimeout:   config.Duration(5 * time.Second),
		},
		Zookeeper: ZookeeperConfig{
			Hosts:          []string{"127.0.0.1:2181"},
			Root:           route.DefaultRoot,
			SessionTimeout: config.Duration(10 * time.Second),
		},
		Logging: logging.DefaultConfig(),
	}
}

// Validate reports the first invalid setting.
func (c *Config) Validate() error {
	m := &c.MetaProxy
	if _, _, err := net.SplitHostPort(m.RPCAddress); err != nil {
		return fmt.Errorf("metaproxy.rpc_address %q: %v", m.RPCAddress, err)
	}
	if m.AdvertiseAddress != "" {
		if h, p, err := net.SplitHostPort(m.AdvertiseAddress); err != nil || h == "" || p == "0" {
			return fmt.Errorf("metaproxy.advertise_address %q: want host:port with a real host and port", m.AdvertiseAddress)
		}
	}
	if _, _, err := net.SplitHostPort(m.HTTPAddress); err != nil {
		return fmt.Errorf("metaproxy.http_address %q: %v", m.HTTPAddress, err)
	}
	if m.RouteCacheSize < 1 || m.RouteCacheSize > MaxCacheSize {
		return fmt.Errorf("metaproxy.route_cache_size %d: want 1..%d", m.RouteCacheSize, MaxCacheSize)
	}
	if m.ForwardTimeout <= 0 {
		return fmt.Errorf("metaproxy.forward_timeout %v must be positive", m.ForwardTimeout)
	}
	if m.StoreTimeout <= 0 {
		return fmt.Errorf("metaproxy.store_timeout %v must be positive", m.StoreTimeout)
	}
	z := &c.Zookeeper
	if len(z.Hosts) == 0 {
		return errors.New("zookeeper.hosts is empty")
	}
	for _, h := range z.Hosts {
		if _, _, err := net.SplitHostPort(h); err != nil {
			return fmt.Errorf("zookeeper.hosts: %q: %v", h, err)
		}
	}
	if err := route.CheckRoot(z.Root); err != nil {
		return fmt.Errorf("zookeeper.root: %w", err)
	}
	if z.SessionTimeout <= 0 {
		return fmt.Errorf("zookeeper.session_timeout %v must be positive", z.SessionTimeout)
	}
	return c.Logging.Validate()
}
