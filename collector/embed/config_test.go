package embed

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pegasus-go/pegasus/shared/config"
)

func TestDefaultConfigValid(t *testing.T) {
	c := DefaultConfig()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestTemplateRoundTrip(t *testing.T) {
	var b bytes.Buffer
	c := DefaultConfig()
	c.Collector.HTTPAddresses = map[string]string{"127.0.0.1:34801": "127.0.0.1:34851"}
	if err := config.WriteTemplate(&b, &c); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "c.toml")
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	got := DefaultConfig()
	if _, err := config.Load([]string{"-c", path, "--collector.cluster_name=x"}, &got); err != nil {
		t.Fatal(err)
	}
	if got.Collector.ClusterName != "x" || got.Collector.HTTPAddresses["127.0.0.1:34801"] != "127.0.0.1:34851" {
		t.Errorf("loaded %+v", got.Collector)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"cluster", func(c *Config) { c.Collector.ClusterName = "" }, "cluster_name"},
		{"metas", func(c *Config) { c.Collector.MetaServers = nil }, "meta_servers is empty"},
		{"meta addr", func(c *Config) { c.Collector.MetaServers = []string{"nohost"} }, "meta_servers"},
		{"meta port 0", func(c *Config) { c.Collector.MetaServers = []string{"h:0"} }, "non-zero port"},
		{"http", func(c *Config) { c.Collector.HTTPAddress = "x" }, "http_address"},
		{"interval", func(c *Config) { c.Collector.ScrapeInterval = 0 }, "scrape_interval"},
		{"timeout", func(c *Config) { c.Collector.ScrapeTimeout = c.Collector.ScrapeInterval + 1 }, "scrape_timeout"},
		{"negative timeout", func(c *Config) { c.Collector.ScrapeTimeout = -1 }, "scrape_timeout"},
		{"slow", func(c *Config) { c.Collector.SlowScrapeThreshold = 0 }, "slow_scrape_threshold"},
		{"offset", func(c *Config) { c.Collector.ReplicaHTTPPortOffset = 70000 }, "replica_http_port_offset"},
		{"http map", func(c *Config) { c.Collector.HTTPAddresses = map[string]string{"a:1": "bad"} }, "http_addresses"},
		{"history", func(c *Config) { c.Collector.HistoryPoints = 1 }, "history_points"},
		{"hotspot", func(c *Config) { c.Hotspot.Window = 0 }, "hotspot"},
		{"probe table", func(c *Config) { c.Probe.Table = "a b" }, "probe.table"},
		{"probe partitions", func(c *Config) { c.Probe.PartitionCount = 3 }, "power of two"},
		{"probe replicas", func(c *Config) { c.Probe.ReplicaCount = 0 }, "replica_count"},
		{"probe interval", func(c *Config) { c.Probe.Interval = 0 }, "probe.interval"},
	} {
		c := DefaultConfig()
		tc.mod(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error naming %q", tc.name, err, tc.want)
		}
	}
	c := DefaultConfig()
	c.Probe.Enabled, c.Probe.PartitionCount = false, 3
	if err := c.Validate(); err != nil {
		t.Errorf("a disabled probe's settings are checked: %v", err)
	}
}
