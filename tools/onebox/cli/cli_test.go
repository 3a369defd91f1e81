package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pegasus-go/pegasus/tools/onebox"
)

func run(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = Main(args, &o, &e)
	return code, o.String(), e.String()
}

func TestUsageErrors(t *testing.T) {
	cases := []struct {
		args []string
		code int
		want string
	}{
		{nil, ExitUsage, "usage: onebox"},
		{[]string{"help"}, ExitOK, "start-instance <name>"},
		{[]string{"nosuch"}, ExitUsage, `unknown command "nosuch"`},
		{[]string{"start", "--metas"}, ExitUsage, "flag needs an argument"},
		{[]string{"start", "extra"}, ExitUsage, "takes no arguments"},
		{[]string{"status", "--zk"}, ExitUsage, "unknown flag: --zk"},
		{[]string{"stop-instance"}, ExitUsage, "needs one instance name"},
		{[]string{"start-instance", "a", "b"}, ExitUsage, "needs one instance name"},
		{[]string{"stop-instance", "onebox/meta1", "--signal", "HUP", "--dir", "x"}, ExitUsage, "want KILL, TERM, STOP or CONT"},
		{[]string{"start", "--help"}, ExitOK, "--clusters"},
	}
	for _, c := range cases {
		code, stdout, stderr := run(c.args...)
		if code != c.code || !strings.Contains(stdout+stderr, c.want) {
			t.Errorf("onebox %q: exit %d, out %q, err %q; want exit %d and %q", c.args, code, stdout, stderr, c.code, c.want)
		}
	}
}

func TestNoOnebox(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "none")
	for _, cmd := range []string{"status", "stop"} {
		code, _, stderr := run(cmd, "--dir", dir)
		if code != ExitFail || !strings.Contains(stderr, "does not exist") {
			t.Errorf("%s: exit %d, %q", cmd, code, stderr)
		}
	}
	if code, stdout, _ := run("clean", "--dir", dir); code != ExitOK || !strings.Contains(stdout, "removed") {
		t.Errorf("clean of nothing: exit %d, %q", code, stdout)
	}
	code, _, stderr := run("start", "--dir", dir, "--bin-dir", t.TempDir())
	if code != ExitFail || !strings.Contains(stderr, "binaries not found") || !strings.Contains(stderr, "make build") {
		t.Errorf("start without binaries: exit %d, %q", code, stderr)
	}
}

func TestStatus(t *testing.T) {
	dir := t.TempDir()
	st := onebox.State{Version: 1, Dir: dir, Store: "local", BasePort: 34601,
		Clusters: []onebox.Cluster{{Name: "onebox", ID: 1, MetaServers: []string{"127.0.0.1:34601"}, Replicas: []string{"127.0.0.1:34801"}}},
		Instances: []onebox.Instance{
			{Name: "onebox/meta1", Role: onebox.RoleMeta, Cluster: "onebox", RPCAddress: "127.0.0.1:34601", HTTPAddress: "127.0.0.1:34651"},
			{Name: "onebox/replica1", Role: onebox.RoleReplica, Cluster: "onebox", RPCAddress: "127.0.0.1:34801", HTTPAddress: "127.0.0.1:34851"},
		}}
	b, _ := json.Marshal(st)
	if err := os.WriteFile(filepath.Join(dir, onebox.StateFile), b, 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := run("status", "--dir", dir)
	if code != ExitOK || !strings.Contains(stdout, "onebox/replica1  replica  onebox   127.0.0.1:34801  127.0.0.1:34851  -    dead") {
		t.Fatalf("status: exit %d\n%s%s", code, stdout, stderr)
	}
	code, stdout, _ = run("status", "--json", "--dir", dir)
	var got struct {
		Clusters  []onebox.Cluster
		Instances []onebox.InstanceStatus
	}
	if err := json.Unmarshal([]byte(stdout), &got); code != ExitOK || err != nil {
		t.Fatalf("status --json: exit %d, %v\n%s", code, err, stdout)
	}
	if len(got.Instances) != 2 || got.Instances[0].Alive || got.Instances[0].State != onebox.ProcDead || got.Clusters[0].MetaServers[0] != "127.0.0.1:34601" {
		t.Fatalf("status --json: %+v", got)
	}
	if code, _, stderr := run("stop-instance", "onebox/meta9", "--dir", dir); code != ExitFail || !strings.Contains(stderr, `no instance "onebox/meta9"`) {
		t.Fatalf("unknown instance: exit %d, %q", code, stderr)
	}
	if got := AdmincliCommand(&st, &st.Clusters[0]); got != "admincli -m 127.0.0.1:34601" {
		t.Fatalf("AdmincliCommand = %q", got)
	}
}
