package collector

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pegasus-go/pegasus/client-go/admin"
	"github.com/pegasus-go/pegasus/collector/internal/aggregate"
	"github.com/pegasus-go/pegasus/collector/internal/hotspot"
	"github.com/pegasus-go/pegasus/collector/internal/scrape"
	"github.com/pegasus-go/pegasus/shared/httpserver"
	"github.com/pegasus-go/pegasus/shared/metrics"
)

type fakeDiscoverer struct {
	mu   sync.Mutex
	view aggregate.View
	err  error
}

func (f *fakeDiscoverer) Discover(context.Context) (aggregate.View, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.view, f.err
}

// fakeScraper serves pages by HTTP address; the per-partition write
// counters grow by rate[p] every call, partition 2 much faster.
type fakeScraper struct {
	mu    sync.Mutex
	calls map[string]int
	down  map[string]bool
}

func (f *fakeScraper) Scrape(_ context.Context, addr string) (scrape.Page, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down[addr] {
		return nil, errors.New("connection refused")
	}
	f.calls[addr]++
	n := float64(f.calls[addr])
	if strings.HasPrefix(addr, "meta") {
		return scrape.Parse([]byte("# TYPE pegasus_meta_is_leader gauge\npegasus_meta_is_leader 1\n"))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# TYPE get_qps_total counter\nget_qps_total{app_id=\"1\",table=\"t1\"} %v\n", 100*n)
	fmt.Fprintf(&b, "# TYPE put_qps_total counter\nput_qps_total{app_id=\"1\",table=\"t1\"} %v\n", 50*n)
	b.WriteString("# TYPE get_latency histogram\n")
	fmt.Fprintf(&b, "get_latency_bucket{app_id=\"1\",table=\"t1\",le=\"0.001\"} %v\n", 90*n)
	fmt.Fprintf(&b, "get_latency_bucket{app_id=\"1\",table=\"t1\",le=\"+Inf\"} %v\n", 100*n)
	fmt.Fprintf(&b, "get_latency_sum{app_id=\"1\",table=\"t1\"} 1\nget_latency_count{app_id=\"1\",table=\"t1\"} %v\n", 100*n)
	b.WriteString("# TYPE replica_updates_applied_total counter\n")
	for p, rate := range []float64{10, 10, 500, 10} {
		fmt.Fprintf(&b, "replica_updates_applied_total{app_id=\"1\",partition=\"%d\"} %v\n", p, rate*n)
	}
	b.WriteString("# TYPE replica_count gauge\nreplica_count 4\n")
	return scrape.Parse([]byte(b.String()))
}

func testView() aggregate.View {
	return aggregate.View{
		Cluster: "c1", MetaLeader: "meta1:1",
		Tables: []aggregate.Table{{AppID: 1, Name: "t1", PartitionCount: 4, ReplicaCount: 3,
			Health: admin.HealthCounts{Partitions: 4, Healthy: 4}, Primaries: []string{"r1:1", "r1:1", "r1:1", "r1:1"}}},
		Nodes: []aggregate.Node{
			{Address: "meta1:1", Role: aggregate.RoleMeta, HTTPAddress: "meta1:2", Alive: true},
			{Address: "r1:1", Role: aggregate.RoleReplica, HTTPAddress: "r1:2", Alive: true, Primaries: 4},
			{Address: "r2:1", Role: aggregate.RoleReplica, HTTPAddress: "r2:2", Alive: false},
		},
	}
}

// newTest returns a collector whose clock advances one second per round.
func newTest(t *testing.T) (*Collector, *fakeDiscoverer, *fakeScraper) {
	t.Helper()
	d := &fakeDiscoverer{view: testView()}
	s := &fakeScraper{calls: map[string]int{}, down: map[string]bool{"r2:2": true}}
	var mu sync.Mutex
	now := time.Unix(1_700_000_000, 0)
	c, err := New(Options{
		Cluster: "c1", Discoverer: d, Scraper: s, Interval: time.Second, ScrapeTimeout: time.Second,
		SlowScrape: time.Second, Hotspot: hotspot.Config{Window: 2, Threshold: 3, MinQPS: 10}, HistoryPoints: 3,
		Clock: func() time.Time {
			mu.Lock()
			defer mu.Unlock()
			now = now.Add(250 * time.Millisecond)
			return now
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c, d, s
}

func TestRounds(t *testing.T) {
	c, d, _ := newTest(t)
	if c.State() != nil {
		t.Fatal("state before the first round")
	}
	c.Round(context.Background())
	st := c.Round(context.Background())
	if st.Round != 2 || c.RoundsStarted() != 2 {
		t.Fatalf("round %d started %d", st.Round, c.RoundsStarted())
	}
	t1, ok := st.Snapshot.Table("t1")
	if !ok {
		t.Fatal("t1 missing")
	}
	if t1.ReadQPS <= 0 || t1.WriteQPS <= 0 || t1.ReadLatency.Count != 100 {
		t.Errorf("t1 = %+v", t1)
	}
	if st.HotCount("t1") != 1 || !st.Hot["t1"][2].Hot {
		t.Errorf("hot scores = %+v", st.Hot["t1"])
	}
	var r2 aggregate.NodeStats
	for _, n := range st.Snapshot.Nodes {
		if n.Address == "r2:1" {
			r2 = n
		}
	}
	if r2.Up || r2.ScrapeFailures != 2 || r2.Error == "" {
		t.Errorf("down node = %+v", r2)
	}
	// Discovery fails: the previous view is kept and the error counted.
	d.mu.Lock()
	d.err = errors.New("meta down")
	d.mu.Unlock()
	st = c.Round(context.Background())
	if st.DiscoveryError != "meta down" || st.DiscoveryErrors != 1 || len(st.Snapshot.Tables) != 1 {
		t.Errorf("round with failed discovery: err %q count %d tables %d", st.DiscoveryError, st.DiscoveryErrors, len(st.Snapshot.Tables))
	}
	// History keeps HistoryPoints rounds, oldest first.
	c.Round(context.Background())
	s, ok := c.Series("t1")
	if !ok || len(s.Time) != 3 || s.Time[0] >= s.Time[2] {
		t.Fatalf("series = %+v", s)
	}
	if s.ReadQPS[2] == nil || *s.ReadQPS[2] <= 0 || s.DupLagP99Ms[2] != nil || s.HotPartitions[2] == nil || *s.HotPartitions[2] != 1 {
		t.Errorf("series values: read %v lag %v hot %v", s.ReadQPS[2], s.DupLagP99Ms[2], s.HotPartitions[2])
	}
	if _, ok := c.Series("nope"); ok {
		t.Error("series of an unknown table")
	}
}

func TestRunStops(t *testing.T) {
	c, _, _ := newTest(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	cancel()
	<-done
	if c.State() == nil {
		t.Error("Run did not run its first round")
	}
}

func get(t *testing.T, h http.Handler, path string) (int, []byte) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Code, rec.Body.Bytes()
}

func TestAPI(t *testing.T) {
	c, _, _ := newTest(t)
	srv, err := httpserver.New(httpserver.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.RegisterAPI(srv); err != nil {
		t.Fatal(err)
	}
	h := srv.Handler()
	if code, _ := get(t, h, "/api/tables/t1"); code != http.StatusServiceUnavailable {
		t.Errorf("table page before a round: %d", code)
	}
	c.Round(context.Background())
	c.Round(context.Background())
	code, body := get(t, h, "/api/cluster")
	var cp ClusterPage
	if err := json.Unmarshal(body, &cp); err != nil || code != 200 {
		t.Fatalf("cluster page %d %v: %s", code, err, body)
	}
	if cp.Cluster != "c1" || cp.Round != 2 || len(cp.Tables) != 1 || len(cp.Nodes) != 3 || len(cp.Hotspots) != 1 || cp.Hotspots[0].Partition != 2 {
		t.Errorf("cluster page = %+v", cp)
	}
	code, body = get(t, h, "/api/tables/t1")
	var tp TablePage
	if err := json.Unmarshal(body, &tp); err != nil || code != 200 || tp.Name != "t1" || len(tp.Scores) != 4 || len(tp.Ops) != len(aggregate.Ops) {
		t.Errorf("table page %d %v: %+v", code, err, tp)
	}
	code, body = get(t, h, "/api/tables/t1/history")
	var s Series
	if err := json.Unmarshal(body, &s); err != nil || code != 200 || len(s.Time) != 2 || len(s.WriteQPS) != 2 {
		t.Errorf("history %d %v: %s", code, err, body)
	}
	for _, p := range []string{"/api/tables/nope", "/api/tables/nope/history"} {
		if code, _ := get(t, h, p); code != http.StatusNotFound {
			t.Errorf("%s: %d", p, code)
		}
	}
}

// scrapeExporter renders the exporter through a real metrics registry.
func scrapeExporter(t *testing.T, c *Collector) []byte {
	t.Helper()
	reg, err := metrics.New(metrics.Options{RuntimeMetrics: true})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	if err := reg.Registerer().Register(NewExporter(c)); err != nil {
		t.Fatal(err)
	}
	code, body := get(t, reg.Handler(), "/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d %s", code, body)
	}
	return body
}

func TestExporter(t *testing.T) {
	c, _, _ := newTest(t)
	if body := scrapeExporter(t, c); bytes.Contains(body, []byte("pegasus_table_qps")) {
		t.Error("exported table metrics before the first round")
	}
	c.Round(context.Background())
	c.Round(context.Background())
	body := scrapeExporter(t, c)
	page, err := scrape.Parse(body)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"pegasus_table_qps", "pegasus_table_read_qps", "pegasus_table_requests_total", "pegasus_table_read_latency_seconds",
		"pegasus_partition_hotspot", "pegasus_node_up", "pegasus_collector_rounds_total", "pegasus_table_dup_shipped_ops_total",
	} {
		if page.Family(want) == nil {
			t.Errorf("%s not exported", want)
		}
	}
	for _, s := range page.Family("pegasus_node_up").Samples {
		if s.Labels["cluster"] != "c1" || s.Labels["node"] == "" || s.Labels["role"] == "" {
			t.Errorf("node_up labels %v", s.Labels)
		}
		if want := map[string]float64{"r2:1": 0, "r1:1": 1, "meta1:1": 1}[s.Labels["node"]]; s.Value != want {
			t.Errorf("node_up{%s} = %v, want %v", s.Labels["node"], s.Value, want)
		}
	}
	hot := 0.0
	for _, s := range page.Family("pegasus_partition_hotspot").Samples {
		if s.Labels["table"] != "t1" {
			t.Errorf("labels %v", s.Labels)
		}
		if s.Labels["partition"] == "2" {
			hot = s.Value
		}
	}
	if hot != 1 {
		t.Error("partition 2 not exported hot")
	}
	// Metrics whose source is absent are not exported with made-up values.
	for _, absent := range []string{"pegasus_table_dup_time_lag_p99_seconds", "pegasus_table_storage_bytes", "pegasus_table_dup_pending_mutations"} {
		if page.Family(absent) != nil {
			t.Errorf("%s exported without a source", absent)
		}
	}
	checkWithPromtool(t, body)
}

// checkWithPromtool runs `promtool check metrics` on a page; promtool
// comes from Debian's prometheus package (scripts/ensure-deps.sh).
func checkWithPromtool(t *testing.T, body []byte) {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not installed (Debian package prometheus; scripts/ensure-deps.sh installs it when run as root): skipping the lint")
	}
	cmd := exec.Command(path, "check", "metrics")
	cmd.Stdin = bytes.NewReader(body)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}

func TestExportedNamesHaveDescs(t *testing.T) {
	c, _, _ := newTest(t)
	e := NewExporter(c)
	if len(e.descs) != len(ExportedMetrics) {
		t.Errorf("%d descs for %d metrics (duplicate names?)", len(e.descs), len(ExportedMetrics))
	}
	for _, m := range ExportedMetrics {
		if m.counter != strings.HasSuffix(m.name, "_total") {
			t.Errorf("%s: counter=%v but name suffix disagrees", m.name, m.counter)
		}
		if m.labels[0] != "cluster" {
			t.Errorf("%s: first label %q", m.name, m.labels[0])
		}
	}
}

func TestAddresses(t *testing.T) {
	a := Addresses{MetaHTTPPortOffset: 100, ReplicaHTTPPortOffset: 50, HTTP: map[string]string{"10.0.0.1:1": "10.0.0.1:9"}}
	for _, tc := range []struct{ rpc, role, want string }{
		{"127.0.0.1:34601", aggregate.RoleMeta, "127.0.0.1:34701"},
		{"127.0.0.1:34801", aggregate.RoleReplica, "127.0.0.1:34851"},
		{"10.0.0.1:1", aggregate.RoleReplica, "10.0.0.1:9"},
	} {
		if got, err := a.HTTPFor(tc.rpc, tc.role); err != nil || got != tc.want {
			t.Errorf("HTTPFor(%s) = %s, %v; want %s", tc.rpc, got, err, tc.want)
		}
	}
	for _, bad := range []string{"nohost", "h:x", "h:65500"} {
		if _, err := a.HTTPFor(bad, aggregate.RoleMeta); err == nil {
			t.Errorf("HTTPFor(%q) succeeded", bad)
		}
	}
}

// TestDocsListExportedMetrics checks docs/observability.md names every
// metric the exporter and the probe export.
func TestDocsListExportedMetrics(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "docs", "observability.md"))
	if err != nil {
		t.Fatal(err)
	}
	names := append(ExportedNames(), "pegasus_probe_requests_total", "pegasus_probe_failures_total",
		"pegasus_probe_success_ratio", "pegasus_probe_latency_seconds", "pegasus_probe_rounds_total")
	for _, n := range names {
		if !strings.Contains(string(b), "`"+n+"`") {
			t.Errorf("docs/observability.md does not list `%s`", n)
		}
	}
}
