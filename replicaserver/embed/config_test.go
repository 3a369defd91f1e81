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
		{"huge frame", func(c *Config) { c.RPC.MaxMessageBytes = config.GiB }, "rpc.max_message_bytes"},
		{"scan batch", func(c *Config) { c.Pegasus.Server.ScanBatchSize = c.Pegasus.Server.MaxScanBatchSize + 1 }, "exceeds max_scan_batch_size"},
		{"logging", func(c *Config) { c.Logging.Output = "" }, "log.output"},
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
