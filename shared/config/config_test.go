package config

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

type replicationConfig struct {
	DuplicationEnabled     bool          `toml:"duplication_enabled" comment:"Whether tables on this node may be duplicated to other clusters."`
	DuplicateLogBatchBytes ByteSize      `toml:"duplicate_log_batch_bytes" comment:"Upper bound of one duplication shipping batch, in bytes."`
	BeaconInterval         Duration      `toml:"beacon_interval" comment:"Interval between beacons to the meta server."`
	GroupCheckInterval     time.Duration `toml:"group_check_interval" comment:"Interval between group checks."`
	DataDirs               []string      `toml:"data_dirs" comment:"Data directories."`
	MutationBatch          int32         `toml:"mutation_batch"`
	CommitRatio            float64       `toml:"commit_ratio"`
}

type serverConfig struct {
	DupLaggingWriteThresholdMs int64 `toml:"dup_lagging_write_threshold_ms" comment:"Writes older than this many milliseconds count as lagging."`
}

type pegasusConfig struct {
	Clusters map[string]string `toml:"clusters" comment:"Remote clusters: name = comma-separated meta server list."`
	Server   serverConfig      `toml:"server"`
}

type blockService struct {
	Type string   `toml:"type" comment:"Provider type."`
	Args []string `toml:"args"`
}

type logConfig struct {
	Level slog.Level `toml:"level" comment:"Minimum log level."`
}

type testConfig struct {
	Node             string                  `toml:"node" comment:"Name of this node in logs."`
	Replication      replicationConfig       `toml:"replication" comment:"Replica server settings."`
	Pegasus          pegasusConfig           `toml:"pegasus"`
	DuplicationGroup map[string]int          `toml:"duplication-group" comment:"Cluster name = cluster id (1..127)."`
	BlockService     map[string]blockService `toml:"block_service"`
	MetaServer       struct {
		Addrs []string `toml:"addrs"`
	} `toml:"meta_server"`
	Zookeeper struct {
		Hosts          []string `toml:"hosts"`
		SessionTimeout Duration `toml:"session_timeout"`
	} `toml:"zookeeper"`
	Log logConfig `toml:"log"`
}

func (c *testConfig) Validate() error {
	for name, id := range c.DuplicationGroup {
		if id < 1 || id > 127 {
			return fmt.Errorf("duplication-group: cluster %q has id %d, want 1..127", name, id)
		}
	}
	if c.Replication.BeaconInterval <= 0 {
		return errors.New("replication.beacon_interval must be positive")
	}
	return nil
}

func defaults() testConfig {
	var c testConfig
	c.Node = "replica1"
	c.Replication = replicationConfig{
		DuplicationEnabled:     true,
		DuplicateLogBatchBytes: 4 * MiB,
		BeaconInterval:         Duration(3 * time.Second),
		GroupCheckInterval:     10 * time.Second,
		DataDirs:               []string{"data/a", "data/b"},
		MutationBatch:          64,
		CommitRatio:            0.5,
	}
	c.Pegasus.Clusters = map[string]string{"local": "127.0.0.1:34601,127.0.0.1:34602"}
	c.Pegasus.Server.DupLaggingWriteThresholdMs = 10000
	c.DuplicationGroup = map[string]int{"local": 1}
	c.BlockService = map[string]blockService{"local": {Type: "local_service", Args: []string{"/tmp"}}}
	c.MetaServer.Addrs = []string{"127.0.0.1:34601"}
	c.Zookeeper.Hosts = []string{"127.0.0.1:2181"}
	c.Zookeeper.SessionTimeout = Duration(30 * time.Second)
	c.Log.Level = slog.LevelInfo
	return c
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "cfg.toml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func load(t *testing.T, args ...string) (testConfig, Result, error) {
	t.Helper()
	c := defaults()
	var out bytes.Buffer
	res, err := Load(args, &c, WithName("testd"), WithOutput(&out))
	return c, res, err
}

func TestDefaultsOnly(t *testing.T) {
	c, res, err := load(t)
	if err != nil {
		t.Fatal(err)
	}
	if res.File != "" {
		t.Fatalf("File = %q", res.File)
	}
	if want := defaults(); !reflect.DeepEqual(c, want) {
		t.Fatalf("got %+v\nwant %+v", c, want)
	}
}

func TestPrecedence(t *testing.T) {
	file := writeFile(t, `
node = "from-file"
[replication]
duplication_enabled = false
duplicate_log_batch_bytes = "8MiB"
beacon_interval = "5s"
group_check_interval = "1m"
mutation_batch = 7
[pegasus.server]
dup_lagging_write_threshold_ms = 500
`)
	c, res, err := load(t, "--replication.beacon_interval=150ms", "-c", file,
		"--pegasus.server.dup_lagging_write_threshold_ms", "42", "--replication.duplication_enabled")
	if err != nil {
		t.Fatal(err)
	}
	if res.File != file {
		t.Fatalf("File = %q", res.File)
	}
	want := defaults()
	want.Node = "from-file"                                            // file over default
	want.Replication.DuplicationEnabled = true                         // flag (no value) over file
	want.Replication.DuplicateLogBatchBytes = 8 * MiB                  // file
	want.Replication.BeaconInterval = Duration(150 * time.Millisecond) // flag given before -c still wins
	want.Replication.GroupCheckInterval = time.Minute                  // file, time.Duration field
	want.Replication.MutationBatch = 7                                 // file
	want.Pegasus.Server.DupLaggingWriteThresholdMs = 42                // flag
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("got  %+v\nwant %+v", c, want)
	}
	if !res.Flags.Changed("replication.beacon_interval") || res.Flags.Changed("node") {
		t.Fatal("Changed does not reflect the flags given")
	}

	// The last occurrence of a scalar flag wins.
	c, _, err = load(t, "--node=a", "--node=b")
	if err != nil || c.Node != "b" {
		t.Fatalf("node = %q, err %v", c.Node, err)
	}
}

func TestSliceAndMapFlags(t *testing.T) {
	file := writeFile(t, `
[replication]
data_dirs = ["f1"]
[pegasus.clusters]
remote = "10.0.0.1:34601"
`)
	c, _, err := load(t, "-c", file,
		"--replication.data_dirs", "x, y", "--replication.data_dirs=z",
		"--pegasus.clusters", "onebox=127.0.0.1:34601,127.0.0.1:34602",
		"--pegasus.clusters=remote=10.0.0.2:34601",
		"--duplication-group", "onebox=3",
		"--zookeeper.hosts=")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.Replication.DataDirs, []string{"x", "y", "z"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("data_dirs = %q, want %q", got, want)
	}
	wantClusters := map[string]string{
		"local":  "127.0.0.1:34601,127.0.0.1:34602", // default survives: maps merge by key
		"remote": "10.0.0.2:34601",                  // flag over file
		"onebox": "127.0.0.1:34601,127.0.0.1:34602", // flag value may hold commas
	}
	if !reflect.DeepEqual(c.Pegasus.Clusters, wantClusters) {
		t.Fatalf("clusters = %v", c.Pegasus.Clusters)
	}
	if !reflect.DeepEqual(c.DuplicationGroup, map[string]int{"local": 1, "onebox": 3}) {
		t.Fatalf("duplication-group = %v", c.DuplicationGroup)
	}
	if len(c.Zookeeper.Hosts) != 0 {
		t.Fatalf("empty flag should clear the list, got %q", c.Zookeeper.Hosts)
	}
}

func TestSections(t *testing.T) {
	file := writeFile(t, `
[pegasus.clusters]
onebox = "127.0.0.1:34601"
"c2.example" = "10.0.0.1:34601"

[pegasus.server]
dup_lagging_write_threshold_ms = 1

[duplication-group]
onebox = 1
c2 = 127

[block_service.local]
type = "local_service"
args = ["/data/backup"]

[block_service."hdfs-1"]
type = "hdfs_service"

[meta_server]
addrs = ["a:1", "b:2"]

[zookeeper]
hosts = ["z:2181"]
session_timeout = "10s"

[log]
level = "debug"
`)
	c, _, err := load(t, "-c", file)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Pegasus.Clusters["c2.example"]; got != "10.0.0.1:34601" {
		t.Fatalf("quoted dotted map key: %q (%v)", got, c.Pegasus.Clusters)
	}
	if c.Pegasus.Server.DupLaggingWriteThresholdMs != 1 {
		t.Fatal("pegasus.server not decoded")
	}
	if c.DuplicationGroup["c2"] != 127 || c.DuplicationGroup["onebox"] != 1 {
		t.Fatalf("duplication-group = %v", c.DuplicationGroup)
	}
	wantBS := map[string]blockService{
		"local":  {Type: "local_service", Args: []string{"/data/backup"}},
		"hdfs-1": {Type: "hdfs_service"},
	}
	if !reflect.DeepEqual(c.BlockService, wantBS) {
		t.Fatalf("block_service = %+v", c.BlockService)
	}
	if !reflect.DeepEqual(c.MetaServer.Addrs, []string{"a:1", "b:2"}) || c.Zookeeper.SessionTimeout.Std() != 10*time.Second {
		t.Fatalf("meta_server/zookeeper: %+v %+v", c.MetaServer, c.Zookeeper)
	}
	if c.Log.Level != slog.LevelDebug {
		t.Fatalf("log.level = %v", c.Log.Level)
	}
}

func TestUnknownKeys(t *testing.T) {
	file := writeFile(t, `
nod = "typo at top"
[replication]
duplication_enabeld = true
[pegasus.server]
dup_lagging_write_treshold_ms = 3
[block_service.local]
typ = "x"
[nosuch.section]
a = 1
b = 2
[empty_unknown]
`)
	_, _, err := load(t, "-c", file)
	var uk *UnknownKeysError
	if !errors.As(err, &uk) {
		t.Fatalf("want *UnknownKeysError, got %v", err)
	}
	wantKeys := []string{"nod", "replication.duplication_enabeld", "pegasus.server.dup_lagging_write_treshold_ms",
		"block_service.local.typ", "nosuch.section.a", "nosuch.section.b", "empty_unknown"}
	if !reflect.DeepEqual(uk.Keys, wantKeys) {
		t.Fatalf("Keys = %q\nwant  %q", uk.Keys, wantKeys)
	}
	msg := err.Error()
	for _, want := range []string{
		file,
		`"nod" at top level`,
		`"duplication_enabeld" in section [replication]`,
		`"dup_lagging_write_treshold_ms" in section [pegasus.server]`,
		`"typ" in section [block_service.local]`,
		`"a" in section [nosuch.section]`,
		`"b" in section [nosuch.section]`,
		`section [empty_unknown]`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not contain %q", msg, want)
		}
	}
}

func TestFileErrors(t *testing.T) {
	for _, tc := range []struct{ name, body, want string }{
		{"syntax", "[replication\n", "cfg.toml"},
		{"type", "[replication]\nduplication_enabled = \"yes\"\n", "duplication_enabled"},
		{"duration without unit", "[replication]\nbeacon_interval = 5\n", `has no unit`},
		{"bad duration", "[replication]\nbeacon_interval = \"5 parsecs\"\n", `invalid duration`},
		{"std duration bad", "[replication]\ngroup_check_interval = \"soon\"\n", `group_check_interval`},
		{"bytes unit", "[replication]\nduplicate_log_batch_bytes = \"8MiBs\"\n", `unknown unit "MiBs"`},
		{"bytes negative", "[replication]\nduplicate_log_batch_bytes = -1\n", `invalid byte size`},
		{"bytes fraction", "[replication]\nduplicate_log_batch_bytes = 1.5\n", `invalid byte size`},
		{"level", "[log]\nlevel = \"loud\"\n", `level`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := load(t, "-c", writeFile(t, tc.body))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
	_, _, err := load(t, "-c", filepath.Join(t.TempDir(), "missing.toml"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}

func TestBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--no-such-flag"}, "unknown flag: --no-such-flag"},
		{[]string{"--replication.nosuch=1"}, "unknown flag: --replication.nosuch"},
		{[]string{"-x"}, "unknown shorthand flag: 'x'"},
		{[]string{"--replication.beacon_interval=5"}, `"--replication.beacon_interval" flag: duration "5" has no unit`},
		{[]string{"--replication.duplicate_log_batch_bytes=lots"}, "invalid byte size"},
		{[]string{"--replication.mutation_batch=99999999999"}, "fits in 32 bits"},
		{[]string{"--replication.duplication_enabled=maybe"}, "invalid boolean"},
		{[]string{"--replication.commit_ratio=half"}, `invalid number "half"`},
		{[]string{"--pegasus.clusters=novalue"}, "want key=value"},
		{[]string{"--duplication-group=a=b"}, `key "a": invalid integer`},
		{[]string{"--log.level=loud"}, "log.level"},
		{[]string{"--config"}, "flag needs an argument"},
		{[]string{"stray"}, `unexpected argument "stray"`},
	} {
		_, _, err := load(t, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want it to contain %q", tc.args, err, tc.want)
		}
		if ExitCode(err) != 2 {
			t.Errorf("%q: ExitCode = %d", tc.args, ExitCode(err))
		}
	}
}

func TestValidate(t *testing.T) {
	_, _, err := load(t, "--duplication-group", "far=300")
	if err == nil || !strings.Contains(err.Error(), "invalid configuration") ||
		!strings.Contains(err.Error(), `cluster "far" has id 300, want 1..127`) {
		t.Fatalf("err = %v", err)
	}
	file := writeFile(t, "[replication]\nbeacon_interval = \"0s\"\n")
	_, _, err = load(t, "-c", file)
	if err == nil || !strings.Contains(err.Error(), file) || !strings.Contains(err.Error(), "beacon_interval must be positive") {
		t.Fatalf("err = %v", err)
	}
}

func TestPrintDefaultConfigRoundTrip(t *testing.T) {
	def := defaults()
	c := def
	var out bytes.Buffer
	_, err := Load([]string{"--print-default-config", "--node=ignored"}, &c, WithOutput(&out))
	if !errors.Is(err, ErrHelpOrPrinted) || ExitCode(err) != 0 {
		t.Fatalf("err = %v", err)
	}
	text := out.String()
	for _, want := range []string{
		"# Name of this node in logs.\nnode = \"replica1\"\n",
		"# Replica server settings.\n[replication]\n",
		"# Upper bound of one duplication shipping batch, in bytes.\nduplicate_log_batch_bytes = \"4MiB\"\n",
		"beacon_interval = \"3s\"\n",
		"group_check_interval = \"10s\"\n",
		"[pegasus.clusters]\nlocal = \"127.0.0.1:34601,127.0.0.1:34602\"\n",
		"[pegasus.server]\n",
		"[duplication-group]\nlocal = 1\n",
		"[block_service.local]\n# Provider type.\ntype = \"local_service\"\n",
		"level = \"INFO\"\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("template lacks %q:\n%s", want, text)
		}
	}

	// Loading the template back gives the defaults, even over a zero config.
	var back testConfig
	if _, err := Load([]string{"-c", writeFile(t, text)}, &back); err != nil {
		t.Fatalf("template does not load back: %v\n%s", err, text)
	}
	if !reflect.DeepEqual(back, def) {
		t.Fatalf("round trip changed values:\n got  %+v\n want %+v", back, def)
	}

	// Awkward values survive too.
	odd := def
	odd.Node = "quote\" back\\slash\ttab ünï"
	odd.Replication.DataDirs = nil
	odd.Replication.DuplicateLogBatchBytes = 1000
	odd.Replication.CommitRatio = 1e-9
	odd.Pegasus.Clusters = map[string]string{"with.dot": "x", "with space": "y"}
	odd.BlockService = map[string]blockService{"my disk": {Type: "t"}, "empty": {}}
	var buf bytes.Buffer
	if err := WriteTemplate(&buf, &odd); err != nil {
		t.Fatal(err)
	}
	var back2 testConfig
	if _, err := Load([]string{"-c", writeFile(t, buf.String())}, &back2); err != nil {
		t.Fatalf("%v\n%s", err, buf.String())
	}
	odd.Replication.DataDirs = []string{} // nil prints as [], which decodes as empty
	odd.BlockService["empty"] = blockService{Args: []string{}}
	odd.BlockService["my disk"] = blockService{Type: "t", Args: []string{}}
	if !reflect.DeepEqual(back2, odd) {
		t.Fatalf("round trip changed values:\n got  %+v\n want %+v\n%s", back2, odd, buf.String())
	}
}

func TestPrintConfig(t *testing.T) {
	c := defaults()
	var out bytes.Buffer
	_, err := Load([]string{"--print-config", "--node=n9"}, &c, WithOutput(&out))
	if !errors.Is(err, ErrHelpOrPrinted) {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(out.String(), `node = "n9"`) {
		t.Fatalf("effective config not printed:\n%s", out.String())
	}
}

func TestHelp(t *testing.T) {
	for _, arg := range []string{"-h", "--help"} {
		c := defaults()
		var out bytes.Buffer
		_, err := Load([]string{arg}, &c, WithName("testd"), WithOutput(&out))
		if !errors.Is(err, ErrHelpOrPrinted) {
			t.Fatalf("%s: err = %v", arg, err)
		}
		for _, want := range []string{"Usage: testd", "-c, --config file", "--print-default-config",
			"--replication.beacon_interval duration", "Interval between beacons to the meta server. (default 3s)",
			"--pegasus.clusters key=string", "--replication.data_dirs strings"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("%s: help lacks %q:\n%s", arg, want, out.String())
			}
		}
	}
}

func TestExtraFlagsAndAliases(t *testing.T) {
	c := defaults()
	var version bool
	res, err := Load([]string{"-V", "-d", "x,y", "--beacon", "1s", "pos"}, &c,
		WithFlags(func(fs *pflag.FlagSet) { fs.BoolVarP(&version, "version", "V", false, "print version") }),
		WithAlias("data-dir", "d", "replication.data_dirs"),
		WithAlias("beacon", "", "replication.beacon_interval"),
		WithPositionalArgs())
	if err != nil {
		t.Fatal(err)
	}
	if !version || !reflect.DeepEqual(c.Replication.DataDirs, []string{"x", "y"}) ||
		c.Replication.BeaconInterval.Std() != time.Second || !reflect.DeepEqual(res.Args, []string{"pos"}) {
		t.Fatalf("version=%v cfg=%+v args=%q", version, c.Replication, res.Args)
	}

	// Collisions are errors, not panics.
	for _, tc := range []struct {
		opt  Option
		want string
	}{
		{WithFlags(func(fs *pflag.FlagSet) { fs.String("replication.beacon_interval", "", "") }), "collides"},
		{WithFlags(func(fs *pflag.FlagSet) { fs.String("config", "", "") }), "--config is already registered"},
		{WithFlags(func(fs *pflag.FlagSet) { fs.StringP("cfg", "c", "", "") }), "shorthand -c"},
		{WithAlias("node", "", "node"), "--node is already registered"},
		{WithAlias("x", "h", "node"), "shorthand -h"},
		{WithAlias("bs", "", "block_service"), "no configuration flag --block_service"},
		{WithAlias("h2", "", "help"), "no configuration flag --help"},
	} {
		c := defaults()
		_, err := Load(nil, &c, tc.opt)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("err = %v, want %q", err, tc.want)
		}
	}
}

func TestLoadNeedsStruct(t *testing.T) {
	n := 3
	if _, err := Load(nil, &n); err == nil {
		t.Fatal("Load of *int succeeded")
	}
	var nilCfg *testConfig
	if _, err := Load(nil, nilCfg); err == nil {
		t.Fatal("Load of nil succeeded")
	}
}

func TestFileTooLarge(t *testing.T) {
	p := filepath.Join(t.TempDir(), "big.toml")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(MaxFileSize + 1); err != nil {
		t.Fatal(err)
	}
	f.Close()
	_, _, err = load(t, "-c", p)
	if err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("err = %v", err)
	}
}
