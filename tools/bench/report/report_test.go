package report

import (
	"strings"
	"testing"

	"github.com/pegasus-go/pegasus/tools/bench/ycsb"
)

func res(system, binding, workload string, threads, round int, ops, p99 float64, errs int64) ycsb.Result {
	return ycsb.Result{System: system, Binding: binding, Workload: workload, Threads: threads, Round: round,
		OpsPerSec: ops, Errors: errs, Latency: ycsb.Latency{P50Us: ops / 1000, P99Us: p99, P999Us: p99 * 2}}
}

func TestMedians(t *testing.T) {
	rs := []ycsb.Result{
		res("pegasus-fsync", "pegasus", "a", 64, 1, 300, 10, 0),
		res("pegasus-fsync", "pegasus", "a", 64, 2, 100, 30, 1),
		res("pegasus-fsync", "pegasus", "a", 64, 3, 200, 20, 2),
		res("etcd", "etcd", "a", 64, 1, 50, 5, 0),
		res("etcd", "etcd", "a", 64, 2, 70, 9, 0),
		res("etcd", "etcd", "load", 64, 1, 10, 1, 0),
		res("etcd", "etcd", "a", 16, 1, 40, 1, 0),
	}
	rows := Medians(rs)
	var got []string
	for _, r := range rows {
		got = append(got, r.Workload+"/"+r.System)
	}
	want := "load/etcd a/etcd a/pegasus-fsync a/etcd"
	if strings.Join(got, " ") != want {
		t.Fatalf("order %v, want %s", got, want)
	}
	pf := rows[2]
	if pf.Threads != 64 || pf.OpsPerSec != 200 || pf.P99Us != 20 || pf.P999Us != 40 || pf.Errors != 3 || pf.Rounds != 3 {
		t.Fatalf("pegasus row %+v", pf)
	}
	if e := rows[3]; e.OpsPerSec != 60 || e.P99Us != 7 {
		t.Fatalf("even median: %+v", e)
	}
}

func TestRatiosAndTargets(t *testing.T) {
	rows := Medians([]ycsb.Result{
		res("pegasus-pagecache", "pegasus", "c", 16, 1, 800, 1, 0),
		res("pegasus-pagecache", "pegasus", "c", 64, 1, 1000, 1, 0),
		res("etcd", "etcd", "c", 16, 1, 400, 1, 0),
		res("etcd", "etcd", "c", 64, 1, 200, 1, 0),
		res("redis", "redis", "c", 64, 1, 2000, 1, 0),
		res("rpcx-echo", "rpcx-echo", "c", 64, 1, 9000, 1, 0),
	})
	ratios := Ratios(rows)
	if len(ratios) != 3 {
		t.Fatalf("ratios %+v, want pagecache/etcd at 16 and 64 and pagecache/redis at 64", ratios)
	}
	for _, r := range ratios {
		if r.Peer == "rpcx-echo" {
			t.Fatalf("an echo row is not a peer: %+v", r)
		}
	}
	tr := EvalTargets(ratios, DefaultTargets)
	byName := map[string]TargetResult{}
	for _, x := range tr {
		byName[x.Name] = x
	}
	c := byName["YCSB-C vs etcd"]
	if c.Threads != 64 || c.Value != 5 || !c.Met() {
		t.Fatalf("C vs etcd: %+v", c)
	}
	if r := byName["YCSB-C vs redis"]; r.Value != 0.5 || r.Met() {
		t.Fatalf("C vs redis: %+v", r)
	}
	if a := byName["YCSB-A vs etcd"]; a.Threads != 0 || a.Met() {
		t.Fatalf("A vs etcd was not measured: %+v", a)
	}

	var b strings.Builder
	if err := Tables(&b, rows); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"| C | 64 | pegasus-pagecache | 1,000 |",
		"| 64 | rpcx-echo | 9,000 |",
		"| C | 64 | 5.00 | 0.50 |",
		"| YCSB-C vs etcd (pegasus-pagecache / etcd) | 5.00 | 64 | >= 4.0 | yes |",
		"| YCSB-A vs etcd (pegasus-pagecache / etcd) | not measured |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("tables lack %q:\n%s", want, out)
		}
	}
}

func TestLoad(t *testing.T) {
	rs, err := Load(strings.NewReader(`{"system":"etcd","workload":"a","threads":4,"ops_per_sec":12.5}` + "\n\n"))
	if err != nil || len(rs) != 1 || rs[0].OpsPerSec != 12.5 {
		t.Fatalf("Load = %+v, %v", rs, err)
	}
	if _, err := Load(strings.NewReader("{\"system\":\"etcd\"}\n")); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Fatalf("incomplete line: %v", err)
	}
	if _, err := Load(strings.NewReader("ok\nnot json\n")); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Fatalf("bad line: %v", err)
	}
}

func TestReplaceSection(t *testing.T) {
	doc := "# Benchmarks\n\nhand-written\n"
	got, err := ReplaceSection(doc, "tables v1")
	if err != nil {
		t.Fatal(err)
	}
	want := doc + "\n" + SectionBegin + "\ntables v1\n" + SectionEnd + "\n"
	if got != want {
		t.Fatalf("appended:\n%q\nwant\n%q", got, want)
	}
	got2, err := ReplaceSection(got+"after\n", "tables v2\n\n")
	if err != nil {
		t.Fatal(err)
	}
	if want2 := doc + "\n" + SectionBegin + "\ntables v2\n" + SectionEnd + "\nafter\n"; got2 != want2 {
		t.Fatalf("replaced:\n%q\nwant\n%q", got2, want2)
	}
	if _, err := ReplaceSection(SectionEnd+"\n"+SectionBegin, "x"); err == nil {
		t.Fatal("markers out of order accepted")
	}
	if _, err := ReplaceSection("a\n"+SectionBegin+"\n", "x"); err == nil {
		t.Fatal("missing end marker accepted")
	}
}

func TestFormatting(t *testing.T) {
	for v, want := range map[float64]string{0: "0", 999.4: "999", 1000: "1,000", 1234567.8: "1,234,568"} {
		if got := thousands(v); got != want {
			t.Errorf("thousands(%v) = %q, want %q", v, got, want)
		}
	}
	if got := micros(2.345); got != "2.3" {
		t.Errorf("micros(2.345) = %q", got)
	}
	if got := micros(12345.6); got != "12,346" {
		t.Errorf("micros(12345.6) = %q", got)
	}
}
