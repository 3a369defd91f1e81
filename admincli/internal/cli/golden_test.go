package cli

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pegasus-go/pegasus/client-go/admin/admintest"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// Replica server addresses of the fake cluster; nothing listens on them.
const (
	node1    = "127.0.0.1:34801"
	node2    = "127.0.0.1:34802"
	deadNode = "127.0.0.1:34803"
)

// fakeCluster starts n fake metas over one fresh cluster state.
func fakeCluster(t *testing.T, n int) (*admintest.Cluster, []*admintest.Meta) {
	t.Helper()
	c := admintest.NewCluster(admintest.Options{Name: "onebox", Nodes: []string{node1, node2}})
	c.SetNodeStatus(deadNode, protocol.NodeDead)
	var ms []*admintest.Meta
	for range n {
		m, err := c.StartMeta()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = m.Close() })
		ms = append(ms, m)
	}
	return c, ms
}

// result is one admincli run.
type result struct {
	stdout, stderr string
	code           int
}

// run runs admincli with args (in which "$META" stands for the meta list)
// and stdin as a script.
func run(metas []*admintest.Meta, stdin string, args ...string) result {
	var list []string
	for _, m := range metas {
		list = append(list, m.Addr())
	}
	full := make([]string, len(args))
	for i, a := range args {
		full[i] = strings.ReplaceAll(a, "$META", strings.Join(list, ","))
	}
	var out, errb bytes.Buffer
	code := Main(context.Background(), Env{Args: full, Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb})
	r := result{stdout: out.String(), stderr: errb.String(), code: code}
	for i, m := range metas {
		r.stdout = strings.ReplaceAll(r.stdout, m.Addr(), fmt.Sprintf("META%d", i))
		r.stderr = strings.ReplaceAll(r.stderr, m.Addr(), fmt.Sprintf("META%d", i))
	}
	return r
}

// checkGolden compares a run with testdata/<name>.golden.
func checkGolden(t *testing.T, name string, args []string, stdin string, r result) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "$ admincli %s\n", strings.Join(args, " "))
	if stdin != "" {
		fmt.Fprintf(&b, "--- stdin\n%s", stdin)
	}
	fmt.Fprintf(&b, "--- stdout\n%s--- stderr\n%s--- exit %d\n", r.stdout, r.stderr, r.code)
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got := b.String(); got != string(want) {
		t.Fatalf("%s differs (run with -update to accept):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

const tablesScript = `# tables: create, inspect, envs, drop, recall
create t1 -p 4 -e a=1,b=2
create t2 -p 2 -r 1
ls
ls -d
app t1 -d
use t1
set_app_envs -e c=3,x.y=4
get_app_envs
del_app_envs -k a,missing
del_app_envs --prefix x.
get_app_envs -a t1
drop t2 --reserve_seconds 3600
ls -a
recall 2 t2b
ls
`

func TestGolden(t *testing.T) {
	for _, tc := range []struct {
		name   string
		metas  int
		setup  func(t *testing.T, c *admintest.Cluster, ms []*admintest.Meta)
		stdin  string
		args   []string
		status int
	}{
		{name: "cluster_info", metas: 1, args: []string{"-m", "$META", "cluster_info"}},
		{name: "cluster_info_json", metas: 1, args: []string{"-m", "$META", "--json", "cluster_info"}},
		{name: "nodes", metas: 1, args: []string{"-m", "$META", "nodes"}, setup: createT1},
		{name: "nodes_json", metas: 1, args: []string{"-m", "$META", "--json", "nodes"}, setup: createT1},
		{name: "create", metas: 1, args: []string{"-m", "$META", "create", "t1", "-p", "8", "-r", "3", "-e", "k=v"}},
		{name: "create_flags_first_json", metas: 1, args: []string{"-m", "$META", "--json", "create", "-p", "2", "t1"}},
		{name: "create_exists", metas: 1, args: []string{"-m", "$META", "create", "t1", "-p", "4"}, setup: createT1, status: ExitFailed},
		{name: "script_tables", metas: 1, stdin: tablesScript, args: []string{"-m", "$META"}},
		{name: "script_tables_json", metas: 1, stdin: tablesScript, args: []string{"-m", "$META", "--json"}},
		{name: "script_stops_at_failure", metas: 1, stdin: "create t1 -p 1\ncreate t1 -p 1\nls\n", args: []string{"-m", "$META"}, status: ExitFailed},
		{name: "script_keep_going", metas: 1, stdin: "create t1 -p 1\nnosuch\ncreate t1 -p 1\nls\n", args: []string{"-m", "$META", "--keep-going"}, status: ExitUsage},
		{name: "script_usage_error", metas: 1, stdin: "\n# comment\nls\ncreate t9 -p 3\nls\n", args: []string{"-m", "$META"}, status: ExitUsage},
		{name: "ls_health", metas: 1, args: []string{"-m", "$META", "ls", "-d"}, setup: stageUnhealthy},
		{name: "app_health", metas: 1, args: []string{"-m", "$META", "app", "t1", "-d"}, setup: stageUnhealthy},
		{name: "app_health_json", metas: 1, args: []string{"-m", "$META", "--json", "app", "-d", "t1"}, setup: stageUnhealthy},
		{name: "leader_redirect", metas: 2, args: []string{"-m", "$META", "cluster_info"}, setup: func(t *testing.T, _ *admintest.Cluster, ms []*admintest.Meta) {
			ms[0].SetFollower(ms[1].Addr())
		}},
		{name: "app_missing", metas: 1, args: []string{"-m", "$META", "app", "nope"}, status: ExitFailed},
		{name: "help", metas: 0, args: []string{"help"}},
		{name: "help_create", metas: 0, args: []string{"help", "create"}},
		{name: "help_migrate_table", metas: 0, args: []string{"help", "migrate_table"}},
		{name: "create_help_flag", metas: 1, args: []string{"-m", "$META", "create", "--help"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, ms := fakeCluster(t, tc.metas)
			if tc.setup != nil {
				tc.setup(t, c, ms)
			}
			r := run(ms, tc.stdin, tc.args...)
			if r.code != tc.status {
				t.Errorf("exit status %d, want %d (stderr %q)", r.code, tc.status, r.stderr)
			}
			checkGolden(t, tc.name, tc.args, tc.stdin, r)
		})
	}
}

func createT1(t *testing.T, c *admintest.Cluster, ms []*admintest.Meta) {
	t.Helper()
	if r := run(ms, "", "-m", "$META", "create", "t1", "-p", "4"); r.code != 0 {
		t.Fatalf("create: %+v", r)
	}
}

// stageUnhealthy creates t1 (4 partitions, primaries alternating over
// node1 and node2) and t2 (2 partitions), marks node2 dead and leaves
// partition 2 of t1 without a primary.
func stageUnhealthy(t *testing.T, c *admintest.Cluster, ms []*admintest.Meta) {
	createT1(t, c, ms)
	if r := run(ms, "", "-m", "$META", "create", "t2", "-p", "2"); r.code != 0 {
		t.Fatalf("create: %+v", r)
	}
	c.SetNodeStatus(node2, protocol.NodeDead) // partitions 1 and 3 of t1 lose their primary
	if err := c.SetPartition(protocol.PartitionConfiguration{Gpid: protocol.Gpid{AppID: 1, PartitionIndex: 2}, Ballot: 5}); err != nil {
		t.Fatal(err) // partition 2: no primary at all
	}
}

// TestUsageErrors checks that every usage error exits 2 with one line.
func TestUsageErrors(t *testing.T) {
	_, ms := fakeCluster(t, 1)
	for _, args := range [][]string{
		{"-m", "$META", "nosuch"},
		{"-m", "$META", "create"},
		{"-m", "$META", "create", "t1"},
		{"-m", "$META", "create", "t1", "-p"},
		{"-m", "$META", "create", "t1", "-p", "x"},
		{"-m", "$META", "create", "t1", "-p", "3"},
		{"-m", "$META", "create", "t 1", "-p", "4"},
		{"-m", "$META", "create", "-z", "t1"},
		{"-m", "$META", "create", "t1", "-p", "4", "--bogus"},
		{"-m", "$META", "create", "t1", "-p", "4", "-e", "novalue"},
		{"-m", "$META", "ls", "extra"},
		{"-m", "$META", "ls", "-d=maybe"},
		{"-m", "$META", "recall", "abc"},
		{"-m", "$META", "recall", "0"},
		{"-m", "$META", "drop"},
		{"-m", "$META", "get_app_envs"},
		{"-m", "$META", "del_app_envs", "-a", "t1"},
		{"-m", "$META", "set_app_envs", "-a", "t1"},
		{"-m", "$META", "help", "nosuch"},
		{"cluster_info"},
		{"-m", "nonsense", "cluster_info"},
		{"--bogus"},
		{"-m", "$META", "--timeout", "0s", "ls"},
	} {
		r := run(ms, "", args...)
		if r.code != ExitUsage {
			t.Errorf("%q: exit %d, want %d (stderr %q)", args, r.code, ExitUsage, r.stderr)
		}
		if !strings.HasPrefix(r.stderr, "error: ") || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("%q: stderr %q, want one line starting with 'error: '", args, r.stderr)
		}
		if r.stdout != "" {
			t.Errorf("%q: stdout %q, want nothing", args, r.stdout)
		}
	}
}

// TestOperationErrorLine checks the operation failure format.
func TestOperationErrorLine(t *testing.T) {
	_, ms := fakeCluster(t, 1)
	if r := run(ms, "", "-m", "$META", "create", "t1", "-p", "4"); r.code != ExitOK {
		t.Fatalf("create: %+v", r)
	}
	r := run(ms, "", "-m", "$META", "create", "t1", "-p", "4")
	want := "error: create t1: ERR_APP_EXIST: table t1 already exists\n"
	if r.code != ExitFailed || r.stderr != want {
		t.Fatalf("got exit %d stderr %q, want exit 1 and %q", r.code, r.stderr, want)
	}
}
