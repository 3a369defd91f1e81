package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pegasus-go/pegasus/tools/bench/report"
)

func run(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := Main(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "usage"},
		{[]string{"nope"}, `unknown command "nope"`},
		{[]string{"ycsb", "--db", "pebble", "--workload", "c", "-p", "novalue"}, "not name=value"},
		{[]string{"ycsb", "--db", "nosuch", "--workload", "c"}, "not registered"},
		{[]string{"ycsb", "--db", "pebble", "--workload", "q"}, "unknown workload"},
		{[]string{"report"}, "--results is required"},
		{[]string{"wait", "extra"}, "unexpected arguments"},
	} {
		code, _, stderr := run(tc.args...)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tc.args, code, stderr, tc.want)
		}
	}
}

func TestYCSBThenReportIntoDocs(t *testing.T) {
	dir := t.TempDir()
	results := filepath.Join(dir, "results.jsonl")
	pebbleDir := filepath.Join(dir, "pebble")
	for _, w := range []string{"load", "c"} {
		code, _, stderr := run("ycsb", "--db", "pebble", "--system", "pebble", "--workload", w, "--threads", "1",
			"--records", "100", "--ops", "200", "--round", "1", "-p", "pebble.dir="+pebbleDir, "--out", results)
		if code != 0 {
			t.Fatalf("ycsb %s: exit %d: %s", w, code, stderr)
		}
	}
	docs := filepath.Join(dir, "benchmarks.md")
	header := filepath.Join(dir, "header.md")
	if err := os.WriteFile(docs, []byte("# Benchmarks\n\nkept\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(header, []byte("### Run of today\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := run("report", "--results", results, "--docs", docs, "--header", header)
	if code != 0 {
		t.Fatalf("report: exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "| C | 1 | pebble |") || !strings.Contains(stdout, "| load | 1 | pebble |") {
		t.Fatalf("report output:\n%s", stdout)
	}
	got, err := os.ReadFile(docs)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"# Benchmarks\n\nkept\n", report.SectionBegin + "\n### Run of today\n", "| C | 1 | pebble |", report.SectionEnd} {
		if !strings.Contains(string(got), want) {
			t.Errorf("docs lack %q:\n%s", want, got)
		}
	}
}
