package aggregate

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/pegasus-go/pegasus/client-go/admin"
	"github.com/pegasus-go/pegasus/collector/internal/scrape"
)

// replicaPage renders a replica server's page the way tally's prometheus
// reporter does, with the given counter values for table t1 (app 1).
type replicaPage struct {
	get, put     float64
	updates      [2]float64 // replica_updates_applied_total per partition
	putLatency   [3]float64 // cumulative buckets le 0.001, 0.01, +Inf
	extra        []string   // raw lines
	replicaCount float64
}

func (r replicaPage) page(t *testing.T) scrape.Page {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "# TYPE get_qps_total counter\nget_qps_total{app_id=\"1\",table=\"t1\"} %v\n", r.get)
	fmt.Fprintf(&b, "# TYPE put_qps_total counter\nput_qps_total{app_id=\"1\",table=\"t1\"} %v\n", r.put)
	fmt.Fprintf(&b, "# TYPE put_latency histogram\n")
	for i, le := range []string{"0.001", "0.01", "+Inf"} {
		fmt.Fprintf(&b, "put_latency_bucket{app_id=\"1\",table=\"t1\",le=%q} %v\n", le, r.putLatency[i])
	}
	fmt.Fprintf(&b, "put_latency_sum{app_id=\"1\",table=\"t1\"} 1\nput_latency_count{app_id=\"1\",table=\"t1\"} %v\n", r.putLatency[2])
	fmt.Fprintf(&b, "# TYPE replica_updates_applied_total counter\n")
	for p, v := range r.updates {
		fmt.Fprintf(&b, "replica_updates_applied_total{app_id=\"1\",partition=\"%d\"} %v\n", p, v)
	}
	fmt.Fprintf(&b, "# TYPE replica_count gauge\nreplica_count %v\n", r.replicaCount)
	for _, l := range r.extra {
		b.WriteString(l + "\n")
	}
	p, err := scrape.Parse([]byte(b.String()))
	if err != nil {
		t.Fatalf("test page: %v\n%s", err, b.String())
	}
	return p
}

var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func testView() View {
	return View{
		Cluster: "c1", MetaLeader: "m1:1",
		Tables: []Table{{
			AppID: 1, Name: "t1", PartitionCount: 2, ReplicaCount: 3,
			Health:    admin.HealthCounts{Partitions: 2, Healthy: 1, Unhealthy: 1, WriteUnhealthy: 1},
			Primaries: []string{"n1:1", "n2:1"},
		}},
		Nodes: []Node{
			{Address: "m1:1", Role: RoleMeta, HTTPAddress: "m1:2", Alive: true},
			{Address: "n1:1", Role: RoleReplica, HTTPAddress: "n1:2", Alive: true, Primaries: 1, Secondaries: 1},
			{Address: "n2:1", Role: RoleReplica, HTTPAddress: "n2:2", Alive: true, Primaries: 1, Secondaries: 1},
			{Address: "n3:1", Role: RoleReplica, HTTPAddress: "n3:2", Alive: false},
		},
	}
}

func ok(node string, at time.Time, p scrape.Page) Scrape {
	return Scrape{Node: node, At: at, Duration: 10 * time.Millisecond, Page: p}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func op(t *testing.T, ts *TableStats, name string) OpStats {
	t.Helper()
	for _, o := range ts.Ops {
		if o.Op == name {
			return o
		}
	}
	t.Fatalf("op %s missing", name)
	return OpStats{}
}

func TestRatesTotalsAndResets(t *testing.T) {
	a := New(Options{SlowScrape: time.Second})
	v := testView()
	empty := scrape.Page{}
	// Round 1: first sight of n1 and n2, n3 fails: totals only.
	s1 := a.Add(t0, v, []Scrape{
		ok("m1:1", t0, empty),
		ok("n1:1", t0, replicaPage{get: 100, put: 50, updates: [2]float64{50, 50}, putLatency: [3]float64{10, 50, 50}, replicaCount: 2}.page(t)),
		ok("n2:1", t0, replicaPage{get: 10, put: 5, updates: [2]float64{50, 50}}.page(t)),
		{Node: "n3:1", At: t0, Duration: 2 * time.Second, Err: errors.New("connection refused")},
	})
	t1, found := s1.Table("t1")
	if !found {
		t.Fatal("t1 missing")
	}
	if t1.ReadQPS != 0 || t1.WriteQPS != 0 {
		t.Errorf("round 1 rates = %v/%v, want 0 (first sight)", t1.ReadQPS, t1.WriteQPS)
	}
	if g := op(t, t1, "get"); g.Total != 110 {
		t.Errorf("round 1 get total = %v, want 110", g.Total)
	}
	if t1.Health.WriteUnhealthy != 1 || t1.Health.Healthy != 1 {
		t.Errorf("health not passed through: %+v", t1.Health)
	}
	n3 := s1.Nodes[3]
	if n3.Address != "n3:1" || n3.Up || !n3.Slow || n3.ScrapeFailures != 1 || n3.Error != "connection refused" || n3.Alive {
		t.Errorf("failed node = %+v", n3)
	}
	if s1.Nodes[0].Role != RoleMeta || !s1.Nodes[0].Up {
		t.Errorf("meta node = %+v", s1.Nodes[0])
	}

	// Round 2, 10s later.
	t2at := t0.Add(10 * time.Second)
	s2 := a.Add(t2at, v, []Scrape{
		ok("m1:1", t2at, empty),
		ok("n1:1", t2at, replicaPage{get: 200, put: 150, updates: [2]float64{150, 50}, putLatency: [3]float64{10, 140, 150}, replicaCount: 2,
			extra: []string{
				"# TYPE dup_shipped_ops_total counter", `dup_shipped_ops_total{table="t1",partition="0"} 5`,
				"# TYPE dup_pending_mutations_count gauge", `dup_pending_mutations_count{table="t1",partition="0"} 3`,
				"# TYPE rdb_total_sst_size_mb gauge", `rdb_total_sst_size_mb{app_id="1",partition="0"} 2`,
			}}.page(t)),
		ok("n2:1", t2at, replicaPage{get: 10, put: 25, updates: [2]float64{150, 70},
			extra: []string{"# TYPE rdb_total_sst_size_mb gauge", `rdb_total_sst_size_mb{app_id="1",partition="0"} 100`}}.page(t)),
		ok("n3:1", t2at, replicaPage{get: 7}.page(t)),
	})
	t1, _ = s2.Table("t1")
	if !near(t1.ReadQPS, 10) || !near(t1.WriteQPS, 12) {
		t.Errorf("round 2 rates read %v write %v, want 10 and 12", t1.ReadQPS, t1.WriteQPS)
	}
	if g, p := op(t, t1, "get"), op(t, t1, "put"); g.Total != 217 || p.Total != 175 || !near(g.QPS, 10) || !near(p.QPS, 12) {
		t.Errorf("round 2 get %+v put %+v", g, p)
	}
	// Partition 0: n1 and n2 both applied 100 writes: the rate is 10/s, not 20.
	if !near(t1.PartitionQPS[0], 10) || !near(t1.PartitionQPS[1], 2) {
		t.Errorf("partition qps = %v, want [10 2]", t1.PartitionQPS)
	}
	// put latency: 90 observations in (1ms, 10ms], 10 above 10ms.
	pl := op(t, t1, "put").Latency
	if pl.Count != 100 || !near(pl.P50, 0.001+0.009*50.0/90) || !near(pl.P99, 0.01) {
		t.Errorf("put latency = %+v", pl)
	}
	if t1.WriteLatency != pl || t1.ReadLatency.Valid() {
		t.Errorf("write latency %+v read latency %+v", t1.WriteLatency, t1.ReadLatency)
	}
	if t1.Dup.ShippedTotal != 5 || !t1.Dup.HasPending || t1.Dup.Pending != 3 || t1.Dup.HasLag {
		t.Errorf("dup = %+v", t1.Dup)
	}
	if !t1.HasStorage || t1.StorageBytes != 2<<20 {
		t.Errorf("storage = %v (%v), want only the primary's 2 MiB", t1.StorageBytes, t1.HasStorage)
	}
	n1 := s2.Nodes[1]
	if n1.Address != "n1:1" || !near(n1.ReadQPS, 10) || !near(n1.WriteQPS, 10) || !n1.HasReplicas || n1.Replicas != 2 || n1.Slow {
		t.Errorf("n1 = %+v", n1)
	}
	if n3 := s2.Nodes[3]; !n3.Up || n3.Error != "" || n3.ScrapeFailures != 1 || n3.LastSuccess != t2at {
		t.Errorf("recovered n3 = %+v", n3)
	}

	// Round 3: n1 restarted (its counters went down): they count from zero.
	t3at := t2at.Add(10 * time.Second)
	s3 := a.Add(t3at, v, []Scrape{
		ok("n1:1", t3at, replicaPage{get: 30, put: 0}.page(t)),
		ok("n2:1", t3at, replicaPage{get: 10, put: 25}.page(t)),
		ok("n3:1", t3at, replicaPage{get: 7}.page(t)),
	})
	t1, _ = s3.Table("t1")
	if g := op(t, t1, "get"); !near(g.QPS, 3) || g.Total != 247 {
		t.Errorf("after a restart get = %+v, want qps 3 total 247", g)
	}
	if s3.Nodes[0].Up || s3.Nodes[0].Error != "not scraped" {
		t.Errorf("unscraped meta = %+v", s3.Nodes[0])
	}
}

func TestDroppedTablesAndNodesArePruned(t *testing.T) {
	a := New(Options{})
	v := testView()
	a.Add(t0, v, []Scrape{ok("n1:1", t0, replicaPage{get: 100}.page(t))})
	v.Tables = nil
	v.Nodes = v.Nodes[:1]
	s := a.Add(t0.Add(time.Second), v, nil)
	if len(s.Tables) != 0 || len(a.totals) != 0 || len(a.nodes) != 1 {
		t.Errorf("tables %d totals %d nodes %d after the table and nodes left", len(s.Tables), len(a.totals), len(a.nodes))
	}
	// The table comes back: its totals restart from the nodes' counters.
	v = testView()
	s = a.Add(t0.Add(2*time.Second), v, []Scrape{ok("n1:1", t0, replicaPage{get: 100}.page(t))})
	if t1, _ := s.Table("t1"); op(t, t1, "get").Total != 100 {
		t.Errorf("total after return = %v", op(t, t1, "get").Total)
	}
}

func TestDupLagSources(t *testing.T) {
	a := New(Options{})
	v := testView()
	lagHist := func(c1, c2 float64) []string {
		return []string{"# TYPE dup_time_lag histogram",
			fmt.Sprintf(`dup_time_lag_bucket{table="t1",partition="0",le="1"} %v`, c1),
			fmt.Sprintf(`dup_time_lag_bucket{table="t1",partition="0",le="+Inf"} %v`, c2),
			`dup_time_lag_sum{table="t1",partition="0"} 1`,
			fmt.Sprintf(`dup_time_lag_count{table="t1",partition="0"} %v`, c2)}
	}
	a.Add(t0, v, []Scrape{ok("n1:1", t0, replicaPage{extra: lagHist(0, 0)}.page(t))})
	s := a.Add(t0.Add(time.Second), v, []Scrape{ok("n1:1", t0.Add(time.Second), replicaPage{extra: lagHist(100, 100)}.page(t))})
	t1, _ := s.Table("t1")
	if !t1.Dup.HasLag || !near(t1.Dup.LagP99, 0.99) {
		t.Errorf("histogram lag = %+v", t1.Dup)
	}
	// The replica server's histogram in milliseconds, labelled by app_id
	// and partition: bounds are converted to seconds, partitions and
	// nodes merged.
	msHist := func(part string, c1, c2, c3 float64) []string {
		return []string{"# TYPE dup_time_lag_ms histogram",
			fmt.Sprintf(`dup_time_lag_ms_bucket{app_id="1",partition=%q,le="256"} %v`, part, c1),
			fmt.Sprintf(`dup_time_lag_ms_bucket{app_id="1",partition=%q,le="512"} %v`, part, c2),
			fmt.Sprintf(`dup_time_lag_ms_bucket{app_id="1",partition=%q,le="+Inf"} %v`, part, c3),
			fmt.Sprintf(`dup_time_lag_ms_sum{app_id="1",partition=%q} 1`, part),
			fmt.Sprintf(`dup_time_lag_ms_count{app_id="1",partition=%q} %v`, part, c3)}
	}
	m := New(Options{})
	m.Add(t0, v, []Scrape{
		ok("n1:1", t0, replicaPage{extra: msHist("0", 5, 5, 5)}.page(t)),
		ok("n2:1", t0, replicaPage{extra: msHist("1", 0, 0, 0)}.page(t)),
	})
	t1at := t0.Add(time.Second)
	// In the interval: 50 observations in (0, 256] ms on n1, 50 in
	// (256, 512] ms on n2. The p99 is 98% into (256, 512] ms.
	s = m.Add(t1at, v, []Scrape{
		ok("n1:1", t1at, replicaPage{extra: msHist("0", 55, 55, 55)}.page(t)),
		ok("n2:1", t1at, replicaPage{extra: msHist("1", 0, 50, 50)}.page(t)),
	})
	t1, _ = s.Table("t1")
	if !t1.Dup.HasLag || !near(t1.Dup.LagP99, 0.256+0.256*49/50) {
		t.Errorf("millisecond histogram lag = %+v, want p99 %v s", t1.Dup, 0.256+0.256*49/50)
	}

	// A gauge in milliseconds (Pegasus' dup_time_lag_ms) works too.
	b := New(Options{})
	s = b.Add(t0, v, []Scrape{ok("n1:1", t0, replicaPage{extra: []string{
		"# TYPE dup_time_lag_ms gauge", `dup_time_lag_ms{table="t1",partition="0"} 250`, `dup_time_lag_ms{table="t1",partition="1"} 40`,
	}}.page(t))})
	t1, _ = s.Table("t1")
	if !t1.Dup.HasLag || !near(t1.Dup.LagP99, 0.25) {
		t.Errorf("gauge lag = %+v", t1.Dup)
	}
	// So does the replica server's dup_time_lag_ms histogram (bounds in
	// milliseconds, tagged app_id and partition).
	msHist1 := func(c1, c2 float64) []string {
		return []string{"# TYPE dup_time_lag_ms histogram",
			fmt.Sprintf(`dup_time_lag_ms_bucket{app_id="1",partition="0",le="1000"} %v`, c1),
			fmt.Sprintf(`dup_time_lag_ms_bucket{app_id="1",partition="0",le="+Inf"} %v`, c2),
			`dup_time_lag_ms_sum{app_id="1",partition="0"} 1`,
			fmt.Sprintf(`dup_time_lag_ms_count{app_id="1",partition="0"} %v`, c2)}
	}
	c := New(Options{})
	c.Add(t0, v, []Scrape{ok("n1:1", t0, replicaPage{extra: msHist1(0, 0)}.page(t))})
	s = c.Add(t0.Add(time.Second), v, []Scrape{ok("n1:1", t0.Add(time.Second), replicaPage{extra: msHist1(100, 100)}.page(t))})
	t1, _ = s.Table("t1")
	if !t1.Dup.HasLag || !near(t1.Dup.LagP99, 0.99) {
		t.Errorf("millisecond histogram lag = %+v", t1.Dup)
	}
}

func TestPercentiles(t *testing.T) {
	b := buckets{0.001: 50, 0.002: 50, math.Inf(1): 0}
	p := b.percentiles()
	if p.Count != 100 || !near(p.P50, 0.001) || !near(p.P99, 0.001+0.001*49/50) {
		t.Errorf("percentiles = %+v", p)
	}
	if (buckets{}).percentiles().Valid() {
		t.Error("empty buckets are valid")
	}
	// Everything above the last finite bound reports that bound.
	if p := (buckets{0.5: 0, math.Inf(1): 10}).percentiles(); p.P50 != 0.5 {
		t.Errorf("+Inf-only percentiles = %+v", p)
	}
	// A reset histogram counts its current buckets in full.
	d := buckets{}
	d.addDelta([]scrape.Bucket{{UpperBound: 1, Count: 2}, {UpperBound: math.Inf(1), Count: 3}},
		[]scrape.Bucket{{UpperBound: 1, Count: 5}, {UpperBound: math.Inf(1), Count: 9}})
	if d[1] != 2 || d[math.Inf(1)] != 1 {
		t.Errorf("reset delta = %v", d)
	}
}

func TestSourceMetricsNamesOps(t *testing.T) {
	names := SourceMetrics()
	for _, want := range []string{"get_qps_total", "check_and_mutate_latency", "dup_shipped_ops_total", "dup_pending_mutations_count"} {
		found := false
		for _, n := range names {
			found = found || n == want
		}
		if !found {
			t.Errorf("SourceMetrics lacks %s", want)
		}
	}
}
