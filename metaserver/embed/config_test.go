package embed_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pegasus-go/pegasus/metaserver/embed"
	"github.com/pegasus-go/pegasus/shared/config"
)

func TestDefaultConfigValid(t *testing.T) {
	cfg := embed.DefaultConfig()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*embed.Config)
		want string
	}{
		{"grace not above lease", func(c *embed.Config) { c.MetaServer.Grace = c.MetaServer.Lease }, "grace"},
		{"unknown store", func(c *embed.Config) { c.MetaServer.Store = "etcd" }, "meta_server.store"},
		{"root cluster root", func(c *embed.Config) { c.MetaServer.ClusterRoot = "/" }, "cluster_root"},
		{"relative cluster root", func(c *embed.Config) { c.MetaServer.ClusterRoot = "onebox" }, "cluster_root"},
		{"no zookeeper hosts", func(c *embed.Config) { c.Zookeeper.Hosts = nil }, "zookeeper.hosts"},
		{"bad zookeeper host", func(c *embed.Config) { c.Zookeeper.Hosts = []string{"zk"} }, "zookeeper.hosts"},
		{"no local dir", func(c *embed.Config) { c.MetaServer.Store = embed.StoreLocal; c.LocalStore.Dir = "" }, "local_store.dir"},
		{"bad rpc address", func(c *embed.Config) { c.MetaServer.RPCAddress = "34601" }, "rpc_address"},
		{"wildcard advertise", func(c *embed.Config) { c.MetaServer.AdvertiseAddress = ":34601" }, "advertise_address"},
		{"no hold", func(c *embed.Config) { c.MetaServer.HoldDroppedApp = 0 }, "hold_seconds_for_dropped_app"},
		{"alive ratio 1", func(c *embed.Config) { c.MetaServer.MinAliveNodesRatio = 1 }, "min_alive_nodes_ratio"},
		{"negative alive ratio", func(c *embed.Config) { c.MetaServer.MinAliveNodesRatio = -0.1 }, "min_alive_nodes_ratio"},
		{"no learners", func(c *embed.Config) { c.MetaServer.MaxConcurrentLearners = 0 }, "max_concurrent_learners"},
		{"no learn timeout", func(c *embed.Config) { c.MetaServer.LearnTimeout = 0 }, "learn_timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := embed.DefaultConfig()
			tt.mod(&cfg)
			err := cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate = %v, want an error about %s", err, tt.want)
			}
		})
	}
}

func TestConfigLoad(t *testing.T) {
	file := filepath.Join(t.TempDir(), "meta.toml")
	text := `
[meta_server]
store = "local"
lease = "3s"
grace = "5s"
[local_store]
dir = "meta-store"
[logging]
level = "debug"
`
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := embed.DefaultConfig()
	if _, err := config.Load([]string{"-c", file, "--meta_server.cluster_name=c1"}, &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.MetaServer.Store != embed.StoreLocal || cfg.MetaServer.Lease.Std() != 3*time.Second ||
		cfg.MetaServer.ClusterName != "c1" || cfg.LocalStore.Dir != "meta-store" {
		t.Fatalf("loaded %+v", cfg.MetaServer)
	}
	if err := os.WriteFile(file, []byte("[meta_server]\nleese = \"3s\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg = embed.DefaultConfig()
	if _, err := config.Load([]string{"-c", file}, &cfg); err == nil || !strings.Contains(err.Error(), "leese") {
		t.Fatalf("unknown key: %v", err)
	}
}

func TestStartRefusesBadConfig(t *testing.T) {
	cfg := localConfig(t.TempDir())
	cfg.MetaServer.Grace = cfg.MetaServer.Lease
	if _, err := embed.Start(cfg); err == nil {
		t.Fatal("Start accepted grace == lease")
	}
	cfg = localConfig(t.TempDir())
	cfg.MetaServer.RPCAddress = "0.0.0.0:0"
	if _, err := embed.Start(cfg); err == nil || !strings.Contains(err.Error(), "advertise_address") {
		t.Fatalf("Start on a wildcard address without advertise_address: %v", err)
	}
}

// TestConfigClusters covers the [pegasus.clusters] and [duplication-group]
// sections that duplication reads.
func TestConfigClusters(t *testing.T) {
	good := func(c *embed.Config) {
		c.MetaServer.ClusterName = "onebox"
		c.Pegasus.Clusters = map[string]string{"onebox": "127.0.0.1:34601,127.0.0.1:34602", "onebox2": "127.0.0.1:34701"}
		c.DuplicationGroup = map[string]int{"onebox": 1, "onebox2": 2}
	}
	cfg := embed.DefaultConfig()
	good(&cfg)
	if err := cfg.Validate(); err != nil {
		t.Fatalf("two clusters: %v", err)
	}
	tests := []struct {
		name string
		mod  func(*embed.Config)
		want string
	}{
		{"empty name in clusters", func(c *embed.Config) { c.Pegasus.Clusters[""] = "127.0.0.1:1" }, "pegasus.clusters has an entry with an empty cluster name"},
		{"empty meta list", func(c *embed.Config) { c.Pegasus.Clusters["onebox2"] = " " }, "pegasus.clusters.onebox2: empty meta server list"},
		{"meta without port", func(c *embed.Config) { c.Pegasus.Clusters["onebox2"] = "127.0.0.1:34701,meta" }, `meta server "meta": want host:port`},
		{"meta port out of range", func(c *embed.Config) { c.Pegasus.Clusters["onebox2"] = "127.0.0.1:0" }, "port in 1..65535"},
		{"empty name in group", func(c *embed.Config) { c.DuplicationGroup[""] = 3 }, "duplication-group has an entry with an empty cluster name"},
		{"negative id", func(c *embed.Config) { c.DuplicationGroup["onebox2"] = -1 }, "duplication-group.onebox2 = -1: want a cluster id in 1..127"},
		{"id too large", func(c *embed.Config) { c.DuplicationGroup["onebox2"] = 128 }, "duplication-group.onebox2 = 128"},
		{"duplicate id", func(c *embed.Config) { c.DuplicationGroup["onebox2"] = 1 }, "id already used by cluster onebox"},
		{"own cluster without id", func(c *embed.Config) { c.MetaServer.ClusterName = "other" }, `no id to this server's own cluster "other"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := embed.DefaultConfig()
			good(&cfg)
			tt.mod(&cfg)
			err := cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate = %v, want an error about %s", err, tt.want)
			}
		})
	}

	file := filepath.Join(t.TempDir(), "meta.toml")
	text := `
[meta_server]
cluster_name = "onebox2"
[pegasus.clusters]
onebox = "127.0.0.1:34601"
onebox2 = "127.0.0.1:34701"
[duplication-group]
onebox = 1
onebox2 = 2
`
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg = embed.DefaultConfig()
	if _, err := config.Load([]string{"-c", file, "--duplication-group", "onebox3=3"}, &cfg); err != nil {
		t.Fatal(err)
	}
	if len(cfg.Pegasus.Clusters) != 2 || cfg.Pegasus.Clusters["onebox2"] != "127.0.0.1:34701" ||
		len(cfg.DuplicationGroup) != 3 || cfg.DuplicationGroup["onebox3"] != 3 {
		t.Fatalf("loaded clusters %v, group %v", cfg.Pegasus.Clusters, cfg.DuplicationGroup)
	}
	cfg = embed.DefaultConfig()
	if _, err := config.Load([]string{"-c", file, "--meta_server.cluster_name=onebox9"}, &cfg); err == nil || !strings.Contains(err.Error(), `"onebox9"`) {
		t.Fatalf("own cluster missing from the group: %v", err)
	}
}
