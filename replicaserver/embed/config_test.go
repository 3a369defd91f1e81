package embed

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/pegasus-go/pegasus/shared/config"
)

func TestDefaultConfigIsValid(t *testing.T) {
	cfg := DefaultConfig()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "replicaserver.toml")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadUnknownKey(t *testing.T) {
	p := writeFile(t, "[replication]\ndata_dirz = [\"x\"]\n\n[replica_server]\nbeacon_intreval = \"1s\"\n")
	cfg := DefaultConfig()
	_, err := config.Load([]string{"-c", p}, &cfg)
	var uk *config.UnknownKeysError
	if !errors.As(err, &uk) {
		t.Fatalf("got %v, want an UnknownKeysError", err)
	}
	for _, want := range []string{`"data_dirz" in section [replication]`, `"beacon_intreval" in section [replica_server]`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}

// TestPrintDefaultConfigRoundTrip loads the --print-default-config output
// into a zero Config: it must give back every default, so the template
// covers every key.
func TestPrintDefaultConfigRoundTrip(t *testing.T) {
	cfg := DefaultConfig()
	var out bytes.Buffer
	_, err := config.Load([]string{"--print-default-config"}, &cfg, config.WithOutput(&out))
	if !errors.Is(err, config.ErrHelpOrPrinted) {
		t.Fatalf("got %v, want ErrHelpOrPrinted", err)
	}
	for _, section := range []string{"[replication]", "[replica_server]", "[rpc]", "[pegasus.server]", "[logging]", "max_write_bytes = \"1MiB\"", "plog_sync = \"fsync\""} {
		if !strings.Contains(out.String(), section) {
			t.Errorf("template lacks %s", section)
		}
	}
	var back Config
	if _, err := config.Load([]string{"-c", writeFile(t, out.String())}, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, DefaultConfig()) {
		t.Fatalf("round trip differs:\n got %+v\nwant %+v", back, DefaultConfig())
	}
}

func TestLoadLayers(t *testing.T) {
	p := writeFile(t, `
[replication]
data_dirs = ["/a", "/b"]
plog_sync = "pagecache"
max_write_bytes = "512KiB"

[replica_server]
meta_servers = ["127.0.0.1:1", "127.0.0.1:2"]
`)
	cfg := DefaultConfig()
	if _, err := config.Load([]string{"-c", p, "--replication.plog_sync=fsync", "--replica_server.beacon_interval=250ms"}, &cfg); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg.Replication.DataDirs, []string{"/a", "/b"}) || cfg.Replication.PlogSync != "fsync" ||
		cfg.Replication.MaxWriteBytes != 512*config.KiB || len(cfg.ReplicaServer.MetaServers) != 2 ||
		cfg.ReplicaServer.BeaconInterval.String() != "250ms" {
		t.Fatalf("loaded %+v", cfg)
	}
}

func TestValidateRejects(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"plog_sync", func(c *Config) { c.Replication.PlogSync = "sometimes" }, `replication.plog_sync "sometimes"`},
		{"no data dirs", func(c *Config) { c.Replication.DataDirs = nil }, "replication.data_dirs is empty"},
		{"duplicate data dir", func(c *Config) { c.Replication.DataDirs = []string{"a", "a"} }, `lists "a" twice`},
		{"write above frame", func(c *Config) { c.Replication.MaxWriteBytes = c.RPC.MaxMessageBytes }, "must be below rpc.max_message_bytes"},
		{"zero write limit", func(c *Config) { c.Replication.MaxWriteBytes = 0 }, "max_write_bytes 0B must be positive"},
		{"tick", func(c *Config) { c.Replication.TickInterval = 0 }, "replication.tick_interval"},
		{"beacon", func(c *Config) { c.ReplicaServer.BeaconInterval = -1 }, "replica_server.beacon_interval"},
		{"bad rpc address", func(c *Config) { c.ReplicaServer.RPCAddress = "nowhere" }, "replica_server.rpc_address"},
		{"wildcard without advertise", func(c *Config) { c.ReplicaServer.RPCAddress = "0.0.0.0:34801" }, "advertise_address is required"},
		{"advertise wildcard", func(c *Config) { c.ReplicaServer.AdvertiseAddress = "0.0.0.0:34801" }, "must name a specific host"},
		{"bad meta", func(c *Config) { c.ReplicaServer.MetaServers = []string{"meta"} }, "replica_server.meta_servers"},
		{"dial address", func(c *Config) { c.RPC.DialAddresses = map[string]string{"127.0.0.1:1": "proxy"} }, "rpc.dial_addresses[127.0.0.1:1]"},
		{"huge frame", func(c *Config) { c.RPC.MaxMessageBytes = config.GiB }, "rpc.max_message_bytes"},
		{"scan batch", func(c *Config) { c.Pegasus.Server.ScanBatchSize = c.Pegasus.Server.MaxScanBatchSize + 1 }, "exceeds max_scan_batch_size"},
		{"logging", func(c *Config) { c.Logging.Output = "" }, "log.output"},
		{"dup sync", func(c *Config) { c.Replication.DupSyncInterval = 0 }, "replication.dup_sync_interval"},
		{"dup batch", func(c *Config) { c.Replication.DuplicateLogBatchBytes = -1 }, "duplicate_log_batch_bytes -1B is negative"},
		{"dup batch above frame", func(c *Config) { c.Replication.DuplicateLogBatchBytes = c.RPC.MaxMessageBytes }, "below half of rpc.max_message_bytes"},
		{"dup lagging", func(c *Config) { c.Pegasus.Server.DupLaggingWriteThresholdMs = 0 }, "dup_lagging_write_threshold_ms 0 must be positive"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := DefaultConfig()
			c.mutate(&cfg)
			err := cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Validate() = %v, want an error containing %q", err, c.want)
			}
		})
	}
	// Every problem is reported at once.
	cfg := DefaultConfig()
	cfg.Replication.PlogSync = "x"
	cfg.ReplicaServer.BeaconInterval = 0
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "plog_sync") || !strings.Contains(err.Error(), "beacon_interval") {
		t.Fatalf("Validate() = %v, want both problems", err)
	}
}

// TestConfigDocListsEveryKey keeps docs/replicaserver-config.md in step
// with the configuration: every key of the default template appears in its
// section's table with its default value.
func TestConfigDocListsEveryKey(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "replicaserver-config.md"))
	if err != nil {
		t.Fatal(err)
	}
	var tmpl bytes.Buffer
	cfg := DefaultConfig()
	if _, err := config.Load([]string{"--print-default-config"}, &cfg, config.WithOutput(&tmpl)); !errors.Is(err, config.ErrHelpOrPrinted) {
		t.Fatal(err)
	}
	text := string(doc)
	section := ""
	for _, line := range strings.Split(tmpl.String(), "\n") {
		switch {
		case strings.HasPrefix(line, "["):
			section = line
			if !strings.Contains(text, "### "+section) {
				t.Errorf("doc lacks section %s", section)
			}
		case line == "" || strings.HasPrefix(line, "#"):
		default:
			k, v, _ := strings.Cut(line, " = ")
			row := "| `" + k + "` | `" + v + "` |"
			i := strings.Index(text, "### "+section)
			if i < 0 || !strings.Contains(text[i:], row) {
				t.Errorf("doc lacks %s %s", section, row)
			}
		}
	}
}

// TestValidateClusters covers the [pegasus.clusters] and
// [duplication-group] sections that duplication reads.
func TestValidateClusters(t *testing.T) {
	good := func(c *Config) {
		c.Replication.ClusterName = "onebox"
		c.Pegasus.Clusters = map[string]string{"onebox": "127.0.0.1:34601,127.0.0.1:34602", "onebox2": "127.0.0.1:34701"}
		c.DuplicationGroup = map[string]int{"onebox": 1, "onebox2": 2}
	}
	cfg := DefaultConfig()
	good(&cfg)
	if err := cfg.Validate(); err != nil {
		t.Fatalf("two clusters: %v", err)
	}
	cases := []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"empty cluster name", func(c *Config) { c.Replication.ClusterName = " " }, "replication.cluster_name is empty"},
		{"empty name in clusters", func(c *Config) { c.Pegasus.Clusters[""] = "127.0.0.1:1" }, "pegasus.clusters has an entry with an empty cluster name"},
		{"empty meta list", func(c *Config) { c.Pegasus.Clusters["onebox2"] = "" }, "pegasus.clusters.onebox2: empty meta server list"},
		{"meta without port", func(c *Config) { c.Pegasus.Clusters["onebox2"] = "127.0.0.1:34701,meta" }, `pegasus.clusters.onebox2: meta server "meta": want host:port`},
		{"meta port out of range", func(c *Config) { c.Pegasus.Clusters["onebox2"] = "127.0.0.1:70000" }, "port in 1..65535"},
		{"meta without host", func(c *Config) { c.Pegasus.Clusters["onebox2"] = ":34701" }, "want a host"},
		{"empty list entry", func(c *Config) { c.Pegasus.Clusters["onebox2"] = "127.0.0.1:34701," }, `meta server ""`},
		{"empty name in group", func(c *Config) { c.DuplicationGroup[""] = 3 }, "duplication-group has an entry with an empty cluster name"},
		{"id zero", func(c *Config) { c.DuplicationGroup["onebox2"] = 0 }, "duplication-group.onebox2 = 0: want a cluster id in 1..127"},
		{"id too large", func(c *Config) { c.DuplicationGroup["onebox2"] = 128 }, "duplication-group.onebox2 = 128"},
		{"duplicate id", func(c *Config) { c.DuplicationGroup["onebox2"] = 1 }, "duplication-group.onebox2 = 1: id already used by cluster onebox"},
		{"own cluster without id", func(c *Config) { c.Replication.ClusterName = "other" }, `no id to this server's own cluster "other"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := DefaultConfig()
			good(&cfg)
			c.mutate(&cfg)
			err := cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Validate() = %v, want an error containing %q", err, c.want)
			}
		})
	}
	// An empty group needs no id for the own cluster.
	cfg = DefaultConfig()
	cfg.Replication.ClusterName = "other"
	cfg.Pegasus.Clusters = map[string]string{"onebox": "127.0.0.1:34601"}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("clusters without a group: %v", err)
	}
}

// TestLoadClusters reads both sections from a file and from flags.
func TestLoadClusters(t *testing.T) {
	p := writeFile(t, `
[replication]
cluster_name = "onebox2"

[pegasus.clusters]
onebox = "127.0.0.1:34601"
onebox2 = "127.0.0.1:34701,127.0.0.1:34702"

[duplication-group]
onebox = 1
onebox2 = 2
`)
	cfg := DefaultConfig()
	if _, err := config.Load([]string{"-c", p, "--duplication-group", "onebox3=3", "--pegasus.clusters", "onebox3=127.0.0.1:34801"}, &cfg); err != nil {
		t.Fatal(err)
	}
	wantClusters := map[string]string{"onebox": "127.0.0.1:34601", "onebox2": "127.0.0.1:34701,127.0.0.1:34702", "onebox3": "127.0.0.1:34801"}
	if !reflect.DeepEqual(cfg.Pegasus.Clusters, wantClusters) || !reflect.DeepEqual(cfg.DuplicationGroup, map[string]int{"onebox": 1, "onebox2": 2, "onebox3": 3}) ||
		cfg.Replication.ClusterName != "onebox2" {
		t.Fatalf("loaded clusters %v, group %v, name %q", cfg.Pegasus.Clusters, cfg.DuplicationGroup, cfg.Replication.ClusterName)
	}
	cfg = DefaultConfig()
	if _, err := config.Load([]string{"-c", p, "--duplication-group", "onebox3=200"}, &cfg); err == nil || !strings.Contains(err.Error(), "duplication-group.onebox3 = 200") {
		t.Fatalf("bad id through a flag: %v", err)
	}
}
