package cli

import (
	"strings"
	"testing"

	"github.com/pegasus-go/pegasus/client-go/admin/admintest"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

// dupCluster starts a fake meta whose [pegasus.clusters] knows "dst", with
// table t1 (2 partitions).
func dupCluster(t *testing.T) (*admintest.Cluster, []*admintest.Meta) {
	t.Helper()
	c := admintest.NewCluster(admintest.Options{Name: "onebox", Nodes: []string{node1, node2}, DupRemotes: []string{"dst"}})
	m, err := c.StartMeta()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	ms := []*admintest.Meta{m}
	if r := run(ms, "", "-m", "$META", "create", "t1", "-p", "2"); r.code != ExitOK {
		t.Fatalf("create: %+v", r)
	}
	return c, ms
}

// The fake's fixed clock makes the first dupid 1704067200 (2024-01-01).
const dupScript = `# duplication: add, list, pause, start, fail mode, remove
use t1
dup add -c dst
dup list
dup pause -d 1704067200
dup pause -d 1704067200
dup start -d 1704067200
set_dup_fail_mode t1 1704067200 skip
dup add -c dst -a t1 -p
dup remove -d 1704067200
dup remove -d 1704067200
dup list
`

func TestDupGolden(t *testing.T) {
	for _, tc := range []struct {
		name   string
		stdin  string
		args   []string
		setup  func(t *testing.T, c *admintest.Cluster, ms []*admintest.Meta)
		status int
	}{
		{name: "dup_script", stdin: dupScript, args: []string{"-m", "$META", "--keep-going"}, status: ExitFailed},
		{name: "dup_script_json", stdin: dupScript, args: []string{"-m", "$META", "--json", "--keep-going"}, status: ExitFailed},
		{name: "dup_list_progress", args: []string{"-m", "$META", "dup", "list", "-a", "t1"}, setup: stageDupProgress},
		{name: "dup_list_empty", args: []string{"-m", "$META", "dup", "list", "-a", "t1"}},
		{name: "dup_add_unknown_remote", args: []string{"-m", "$META", "dup", "add", "-c", "nowhere", "-a", "t1"}, status: ExitFailed},
		{name: "dup_pause_not_log", args: []string{"-m", "$META", "dup", "pause", "-d", "1704067200", "-a", "t1"}, status: ExitFailed,
			setup: func(t *testing.T, c *admintest.Cluster, ms []*admintest.Meta) {
				if r := run(ms, "", "-m", "$META", "dup", "add", "-c", "dst", "-p", "-a", "t1"); r.code != ExitOK {
					t.Fatalf("dup add: %+v", r)
				}
			}},
		{name: "help_dup", args: []string{"help", "dup"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, ms := dupCluster(t)
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

// stageDupProgress adds a duplication of t1 and stages the progress its
// primaries reported.
func stageDupProgress(t *testing.T, c *admintest.Cluster, ms []*admintest.Meta) {
	t.Helper()
	if r := run(ms, "", "-m", "$META", "dup", "add", "-c", "dst", "-a", "t1"); r.code != ExitOK {
		t.Fatalf("dup add: %+v", r)
	}
	err := c.SetDupProgress("t1", 1704067200, protocol.DupStatusLog, []protocol.DupPartition{
		{PartitionIndex: 0, ConfirmedDecree: 120, LastCommitted: 125, PendingMutations: 5, ReportTimeMs: 1704067260000},
		{PartitionIndex: 1, ConfirmedDecree: 80, LastCommitted: 200, PendingMutations: 120, SkippedMutations: 3,
			LastError: "ERR_TIMEOUT: remote primary did not answer", ReportTimeMs: 1704067261000},
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestDupUsageErrors: every usage error exits 2 with one line and sends
// nothing.
func TestDupUsageErrors(t *testing.T) {
	c, ms := dupCluster(t)
	for _, args := range [][]string{
		{"dup"},
		{"dup", "bogus", "-a", "t1"},
		{"dup", "add", "-a", "t1"},
		{"dup", "add", "-c", "dst"}, // no table used
		{"dup", "add", "-c", "dst", "-d", "5", "-a", "t1"},
		{"dup", "list", "-c", "dst", "-a", "t1"},
		{"dup", "pause", "-a", "t1"},
		{"dup", "pause", "-d", "x", "-a", "t1"},
		{"dup", "pause", "-d", "0", "-a", "t1"},
		{"dup", "start", "-p", "-d", "3", "-a", "t1"},
		{"dup", "remove", "-d", "99999999999", "-a", "t1"},
		{"set_dup_fail_mode", "t1", "1"},
		{"set_dup_fail_mode", "t1", "x", "slow"},
		{"set_dup_fail_mode", "t1", "1", "fast"},
	} {
		r := run(ms, "", append([]string{"-m", "$META"}, args...)...)
		if r.code != ExitUsage || !strings.HasPrefix(r.stderr, "error: ") || strings.Count(r.stderr, "\n") != 1 || r.stdout != "" {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want exit 2 and one error line", args, r.code, r.stdout, r.stderr)
		}
	}
	for _, m := range []string{protocol.MethodAddDuplication, protocol.MethodQueryDuplication, protocol.MethodModifyDuplication} {
		if n := c.Calls(m); n != 0 {
			t.Errorf("%s sent %d times by usage errors", m, n)
		}
	}
}
