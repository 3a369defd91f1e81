package cli

import (
	"strings"
	"testing"

	"github.com/pegasus-go/pegasus/client-go/admin/admintest"
)

// dataCluster starts a fake meta with two fake replica nodes.
func dataCluster(t *testing.T) []*admintest.Meta {
	t.Helper()
	c := admintest.NewCluster(admintest.Options{Name: "onebox"})
	for range 2 {
		n, err := c.StartNode()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = n.Close() })
	}
	m, err := c.StartMeta()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	return []*admintest.Meta{m}
}

const dataScript = `create t1 -p 4
use t1
set h1 s1 v1
set h1 s2 v2 100
set h1 s3 v3
set h2 s1 "hello world"
get h1 s1
get h2 s1
exist h1 s1
exist h1 nope
ttl h1 s2
ttl h1 s1
multi_get h1
multi_get h1 s1 s3 missing
scan h1
scan h1 --start s2
scan h1 --limit 2
count h1
incr h1 counter
incr h1 counter 10
incr h1 counter -3
del h1 s1
exist h1 s1
count h1
get h1 s1
ls
`

func TestDataGolden(t *testing.T) {
	for _, tc := range []struct {
		name   string
		stdin  string
		args   []string
		status int
	}{
		{name: "data_script", stdin: dataScript, args: []string{"-m", "$META"}, status: ExitFailed},
		{name: "data_script_json", stdin: dataScript, args: []string{"-m", "$META", "--json"}, status: ExitFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ms := dataCluster(t)
			r := run(ms, tc.stdin, tc.args...)
			if r.code != tc.status {
				t.Errorf("exit status %d, want %d (stderr %q)", r.code, tc.status, r.stderr)
			}
			checkGolden(t, tc.name, tc.args, tc.stdin, r)
		})
	}
}

// TestDataOneShot runs data commands one process-run at a time with -a.
func TestDataOneShot(t *testing.T) {
	ms := dataCluster(t)
	for _, step := range []struct {
		args   []string
		stdout string
		status int
	}{
		{[]string{"create", "t1", "-p", "2"}, "table t1 created: app_id 1, 2 partitions, 3 replicas; every partition has a primary\n", ExitOK},
		{[]string{"set", "-a", "t1", "k", "s", "-5"}, "OK\n", ExitOK},
		{[]string{"get", "k", "s", "-a", "t1"}, "-5\n", ExitOK},
		{[]string{"incr", "-a", "t1", "k", "s", "-1"}, "-6\n", ExitOK},
		{[]string{"--json", "count", "-a", "t1", "k"}, "{\n  \"hash_key\": \"k\",\n  \"count\": 1\n}\n", ExitOK},
		{[]string{"get", "-a", "t1", "k", "nope"}, "", ExitFailed},
		{[]string{"get", "-a", "nope", "k", "s"}, "", ExitFailed},
		{[]string{"set", "-a", "t1", "k", "dash", "--", "-x"}, "OK\n", ExitOK},
		{[]string{"get", "-a", "t1", "k", "dash"}, "-x\n", ExitOK},
		{[]string{"set", "-a", "t1", "k", "dash", "-x"}, "", ExitUsage},
		{[]string{"get", "k", "s"}, "", ExitUsage},
		{[]string{"set", "-a", "t1", "k", "s", "v", "-1"}, "", ExitUsage},
		{[]string{"scan", "-a", "t1", "k", "--limit", "-1"}, "", ExitUsage},
	} {
		r := run(ms, "", append([]string{"-m", "$META"}, step.args...)...)
		if r.code != step.status || r.stdout != step.stdout {
			t.Errorf("%q: exit %d stdout %q stderr %q; want exit %d stdout %q", step.args, r.code, r.stdout, r.stderr, step.status, step.stdout)
		}
		if step.status != ExitOK && strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("%q: stderr %q, want one line", step.args, r.stderr)
		}
	}
	r := run(ms, "", "-m", "$META", "get", "-a", "nope", "k", "s")
	if want := "error: get: open table nope: "; !strings.HasPrefix(r.stderr, want) {
		t.Errorf("stderr %q, want prefix %q", r.stderr, want)
	}
}
