package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/pegasus-go/pegasus/client-go/admin"
	"github.com/pegasus-go/pegasus/client-go/pegasus"
	"github.com/pegasus-go/pegasus/integration/internal/harness"
	"github.com/pegasus-go/pegasus/shared/keyschema"
	"github.com/pegasus-go/pegasus/shared/zktest"
	"github.com/pegasus-go/pegasus/tools/onebox"
)

// collectorScrapeInterval is the collectors' scrape interval in these tests.
const collectorScrapeInterval = time.Second

// collectorCluster is one cluster of the collector test: its collector and
// a loaded table.
type collectorCluster struct {
	name      string
	collector string // HTTP address
	replicas  []string
	http      map[string]string // replica RPC address -> HTTP address
	table     string
}

// TestCollector runs two real clusters (processes, ZooKeeper), each with
// a collector, and a duplication of a table from the first to the second
// under a write, read and hot-key load on the first. It checks what the
// collectors report against the replica servers' own counters (per-table
// QPS, dup_shipped_ops on the source, duplicate_qps on the target), the
// duplication lag and pending mutations, the hotspot detector, the
// availability probe, the dashboard in a headless browser, the Grafana
// dashboard and Prometheus rules against real /metrics dumps, and a dead
// replica server.
func TestCollector(t *testing.T) {
	harness.SkipExternal(t)
	if err := zktest.Available(zktest.Options{}); err != nil {
		t.Fatal(err)
	}
	c := harness.Start(t, onebox.Options{
		Metas: 1, Replicas: 3, Clusters: 2, ZooKeeper: true, Collector: true,
		MetaSettings: []string{"meta_server.lease=4s", "meta_server.grace=6s", "meta_server.guardian_interval=500ms"},
		ReplicaSettings: []string{
			"replica_server.beacon_interval=500ms", "replication.config_sync_interval=1s",
		},
		CollectorSettings: []string{
			"collector.scrape_interval=" + collectorScrapeInterval.String(),
			"probe.interval=1s", "hotspot.window=3", "hotspot.min_qps=5",
		},
	})
	cc := newCollectorCluster(t, c, "onebox")
	dst := newCollectorCluster(t, c, "onebox2")
	metas := c.MetaServers(cc.name)
	ac, err := admin.New(admin.Config{MetaServers: metas, AttemptTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer ac.Close()
	dstAdmin, err := admin.New(admin.Config{MetaServers: c.MetaServers(dst.name), AttemptTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer dstAdmin.Close()
	client, err := pegasus.NewClient(pegasus.Config{MetaServers: metas})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	ctx := context.Background()

	// The table on both clusters (the target's with another partition
	// count), duplicated from the first to the second.
	const partitions = 8
	for _, x := range []struct {
		ac         *admin.Client
		partitions int32
	}{{dstAdmin, partitions / 2}, {ac, partitions}} {
		if _, err := x.ac.CreateApp(ctx, cc.table, admin.CreateAppOptions{PartitionCount: x.partitions, ReplicaCount: 3}); err != nil {
			t.Fatal(err)
		}
		wctx, cancel := context.WithTimeout(ctx, time.Minute)
		_, err = x.ac.WaitForPrimaries(wctx, cc.table)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}
	dctx, cancel := context.WithTimeout(ctx, time.Minute)
	dupResp, err := ac.AddDuplication(dctx, cc.table, dst.name, false)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("duplication %d of %s from %s to %s", dupResp.DupID, cc.table, cc.name, dst.name)
	table, err := client.OpenTable(ctx, cc.table)
	if err != nil {
		t.Fatal(err)
	}
	const rows = 200
	if err := harness.WriteRows(ctx, table, rows, 8); err != nil {
		t.Fatal(err)
	}

	// Load: even writes over every partition, reads of the rows, and a
	// hot hashkey written much faster than any other partition.
	load := harness.StartLoad(table, harness.LoadOptions{Prefix: "collector", Workers: 2, PartitionCount: partitions})
	hotKey := []byte("hot-key")
	hotPartition, _ := keyschema.PartitionIndex(keyschema.Hash(hotKey, []byte("s")), partitions)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	worker := func(fn func(i int)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				fn(i)
			}
		}()
	}
	for range 3 {
		worker(func(i int) {
			octx, cancel := context.WithTimeout(ctx, 3*time.Second)
			defer cancel()
			_ = table.Set(octx, hotKey, fmt.Appendf(nil, "s%d", i%64), []byte("hot"), nil)
		})
	}
	for range 2 {
		worker(func(int) {
			hk, sk, _ := harness.Key(rand.IntN(rows))
			octx, cancel := context.WithTimeout(ctx, 3*time.Second)
			defer cancel()
			_, _ = table.Get(octx, hk, sk)
		})
	}
	stopLoad := sync.OnceFunc(func() {
		close(stop)
		wg.Wait()
		t.Logf("load: %v", load.Stop())
	})
	defer stopLoad()

	t.Run("counters match the replica servers", func(t *testing.T) {
		checkCounters(t, cc, []counterPair{
			{source: "get_qps_total", op: "get"},
			{source: "put_qps_total", op: "put"},
			{source: "dup_shipped_ops_total", dup: dupShipped},
		})
		checkCounters(t, dst, []counterPair{
			{source: "duplicate_qps_total", dup: dupReceived},
		})
	})
	t.Run("duplication lag and pending mutations", func(t *testing.T) {
		// The receiving cluster's collector reports the lag p99 from the
		// replica servers' dup_time_lag_ms histogram, the sending one the
		// pending mutations; both on the API and on /metrics.
		var lag, pending tablePage
		waitTable(t, dst, "a duplication lag p99", func(tp tablePage) bool {
			lag = tp
			return tp.Dup.HasLag && tp.Dup.LagP99 > 0
		})
		waitTable(t, cc, "pending duplication mutations", func(tp tablePage) bool {
			pending = tp
			return tp.Dup.HasPending && tp.Dup.ShippedRate > 0
		})
		t.Logf("%s: lag p99 %.3fs; %s: pending %v, shipping %.0f entries/s", dst.name, lag.Dup.LagP99, cc.name,
			pending.Dup.Pending, pending.Dup.ShippedRate)
		for _, x := range []struct {
			cc     collectorCluster
			metric string
		}{{dst, "pegasus_table_dup_time_lag_p99_seconds"}, {cc, "pegasus_table_dup_pending_mutations"}} {
			fams, _, err := metricFamilies(x.cc.collector)
			if err != nil {
				t.Fatal(err)
			}
			if f := fams[x.metric]; f == nil || !slices.ContainsFunc(f.GetMetric(), func(m *dto.Metric) bool {
				return slices.ContainsFunc(m.GetLabel(), func(l *dto.LabelPair) bool { return l.GetName() == "table" && l.GetValue() == cc.table })
			}) {
				t.Errorf("%s: the collector's /metrics has no %s for %s", x.cc.name, x.metric, cc.table)
			}
		}
	})
	t.Run("hot partition flagged", func(t *testing.T) {
		waitCollector(t, cc, "partition "+fmt.Sprint(hotPartition)+" flagged hot", func(p clusterPage) bool {
			for _, h := range p.Hotspots {
				if h.Table == cc.table && h.Partition == hotPartition {
					return true
				}
			}
			return false
		})
	})
	t.Run("health, nodes and probe", func(t *testing.T) {
		waitCollector(t, cc, "healthy table, nodes up, probe succeeding", func(p clusterPage) bool {
			healthy := false
			for _, tb := range p.Tables {
				healthy = healthy || (tb.Name == cc.table && tb.Healthy == partitions && tb.Partitions == partitions && tb.ReadQPS > 0 && tb.WriteQPS > 0)
			}
			up := len(p.Nodes) == 4
			for _, n := range p.Nodes {
				up = up && n.Up && n.Alive
			}
			pr := p.Probe
			return healthy && up && pr != nil && pr.Rounds >= 2 && pr.LastError == "" &&
				pr.Ops["set"].SuccessRatio == 1 && pr.Ops["get"].SuccessRatio == 1
		})
	})
	var dump []byte
	t.Run("metrics dump, Grafana and Prometheus", func(t *testing.T) {
		dump = checkMetricsDump(t, cc, dst)
	})
	t.Run("dashboard in a browser", func(t *testing.T) {
		checkDashboard(t, cc)
	})
	t.Run("docs list every metric", func(t *testing.T) {
		checkDocs(t, dump, cc, c)
	})
	stopLoad()
	t.Run("dead replica server reported", func(t *testing.T) {
		victim := c.Instances("onebox", onebox.RoleReplica)[2]
		in, err := c.State.Instance(victim)
		if err != nil {
			t.Fatal(err)
		}
		c.Kill(victim)
		waitCollector(t, cc, victim+" reported down and dead, table unhealthy", func(p clusterPage) bool {
			down := false
			for _, n := range p.Nodes {
				down = down || (n.Address == in.RPCAddress && !n.Up && !n.Alive && n.Error != "")
			}
			unhealthy := false
			for _, tb := range p.Tables {
				unhealthy = unhealthy || (tb.Name == cc.table && tb.Healthy < tb.Partitions)
			}
			return down && unhealthy
		})
		c.Restart(victim)
		waitCollector(t, cc, victim+" up again", func(p clusterPage) bool {
			for _, n := range p.Nodes {
				if n.Address == in.RPCAddress {
					return n.Up
				}
			}
			return false
		})
	})
}

// newCollectorCluster describes cluster name of the onebox c and its
// collector, with the test's table.
func newCollectorCluster(t *testing.T, c *harness.Cluster, name string) collectorCluster {
	t.Helper()
	st := c.State.Cluster(name)
	if st == nil || st.Collector == "" {
		t.Fatalf("onebox started no collector for %s", name)
	}
	cc := collectorCluster{
		name: name, collector: strings.TrimSuffix(strings.TrimPrefix(st.Collector, "http://"), "/"),
		replicas: st.Replicas, table: "collected", http: map[string]string{},
	}
	for _, r := range st.Replicas {
		cc.http[r] = c.HTTPAddress(r)
	}
	return cc
}

// clusterPage is the part of the collector's /api/cluster the tests read.
type clusterPage struct {
	Round         uint64 `json:"round"`
	RoundsStarted uint64 `json:"rounds_started"`
	Tables        []struct {
		Name       string  `json:"name"`
		Partitions int32   `json:"partitions"`
		Healthy    int32   `json:"healthy"`
		ReadQPS    float64 `json:"read_qps"`
		WriteQPS   float64 `json:"write_qps"`
	} `json:"tables"`
	Nodes []struct {
		Address string `json:"address"`
		Role    string `json:"role"`
		Up      bool   `json:"up"`
		Alive   bool   `json:"alive"`
		Error   string `json:"error"`
	} `json:"nodes"`
	Hotspots []struct {
		Table     string  `json:"table"`
		Partition int32   `json:"partition"`
		Z         float64 `json:"z"`
	} `json:"hotspots"`
	Probe *struct {
		Rounds    uint64 `json:"rounds"`
		LastError string `json:"last_error"`
		Ops       map[string]struct {
			SuccessRatio float64 `json:"success_ratio"`
		} `json:"ops"`
	} `json:"probe"`
}

// opFigures is one operation of a table page.
type opFigures struct {
	Op    string  `json:"op"`
	QPS   float64 `json:"qps"`
	Total float64 `json:"total"`
}

// tablePage is the part of /api/tables/{name} the tests read.
type tablePage struct {
	Ops []opFigures `json:"ops"`
	Dup struct {
		ShippedTotal   float64 `json:"shipped_total"`
		ShippedRate    float64 `json:"shipped_rate"`
		DuplicateTotal float64 `json:"duplicate_total"`
		DuplicateQPS   float64 `json:"duplicate_qps"`
		LagP99         float64 `json:"lag_p99"`
		HasLag         bool    `json:"has_lag"`
		Pending        float64 `json:"pending"`
		HasPending     bool    `json:"has_pending"`
	} `json:"dup"`
}

// waitTable polls the collector's page of the cluster's table until cond
// holds.
func waitTable(t *testing.T, cc collectorCluster, what string, cond func(tablePage) bool) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		// Until the collector discovered the table, its page is a 404.
		var tp tablePage
		b, err := httpBody(cc.collector, "/api/tables/"+cc.table)
		if err == nil {
			if err = json.Unmarshal(b, &tp); err == nil && cond(tp) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("collector of %s: no %s for %s after 90s; last: %+v (%v)", cc.name, what, cc.table, tp, err)
		}
		time.Sleep(200 * time.Millisecond) // polling another process
	}
}

func getJSON(t *testing.T, addr, path string, v any) {
	t.Helper()
	b, err := httpBody(addr, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("GET %s%s: %v: %s", addr, path, err, b)
	}
}

func httpBody(addr, path string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s%s: %s: %s", addr, path, resp.Status, b)
	}
	return b, nil
}

// waitCollector polls the collector's cluster page until cond holds.
func waitCollector(t *testing.T, cc collectorCluster, what string, cond func(clusterPage) bool) clusterPage {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		var p clusterPage
		getJSON(t, cc.collector, "/api/cluster", &p)
		if cond(p) {
			return p
		}
		if time.Now().After(deadline) {
			b, _ := json.MarshalIndent(p, "", "  ")
			t.Fatalf("collector of %s: no %s after 90s; last page:\n%s", cc.name, what, b)
		}
		time.Sleep(200 * time.Millisecond) // polling another process
	}
}

// waitRound waits until the collector has completed a round after round
// and returns the number of the latest completed round.
func waitRound(t *testing.T, cc collectorCluster, after uint64) uint64 {
	t.Helper()
	p := waitCollector(t, cc, fmt.Sprintf("round after %d", after), func(p clusterPage) bool {
		return p.Round > after
	})
	return p.Round
}

// metricFamilies fetches and parses a daemon's /metrics.
func metricFamilies(addr string) (map[string]*dto.MetricFamily, []byte, error) {
	b, err := httpBody(addr, "/metrics")
	if err != nil {
		return nil, nil, err
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(b))
	return fams, b, err
}

// sumWhere sums the counter, gauge or untyped series of family name whose
// labels include want.
func sumWhere(fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	var sum float64
	f := fams[name]
	if f == nil {
		return 0
	}
next:
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, lp := range m.GetLabel() {
			labels[lp.GetName()] = lp.GetValue()
		}
		for k, v := range want {
			if labels[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			sum += m.GetCounter().GetValue()
		case m.Gauge != nil:
			sum += m.GetGauge().GetValue()
		case m.Untyped != nil:
			sum += m.GetUntyped().GetValue()
		}
	}
	return sum
}

// counterPair ties a replica-server counter (summed over the cluster's
// replica servers, for the cluster's table) to the collector's total for
// the same table: op names an entry of the table page's ops, or dup one
// of its duplication totals.
type counterPair struct {
	source string
	op     string
	dup    dupTotal
}

// dupTotal names a duplication total of the collector's table page.
type dupTotal string

const (
	dupShipped  dupTotal = "shipped_total"   // dup_shipped_ops
	dupReceived dupTotal = "duplicate_total" // duplicate_qps
)

// collectorValue returns the pair's collector total, and its rate for dup
// totals (op rates are checked on the ops).
func (p counterPair) collectorValue(tp tablePage) (total, rate float64, ok bool) {
	switch p.dup {
	case dupShipped:
		return tp.Dup.ShippedTotal, tp.Dup.ShippedRate, true
	case dupReceived:
		return tp.Dup.DuplicateTotal, tp.Dup.DuplicateQPS, true
	}
	for _, o := range tp.Ops {
		if o.Op == p.op {
			return o.Total, o.QPS, true
		}
	}
	return 0, 0, false
}

// replicaSums reads every pair's source counter for the table from every
// replica server of the cluster.
func replicaSums(t *testing.T, cc collectorCluster, pairs []counterPair) []float64 {
	t.Helper()
	out := make([]float64, len(pairs))
	for _, r := range cc.replicas {
		fams, _, err := metricFamilies(httpOf(t, cc, r))
		if err != nil {
			t.Fatal(err)
		}
		for i, p := range pairs {
			out[i] += sumWhere(fams, p.source, map[string]string{"table": cc.table})
		}
	}
	return out
}

// httpOf returns the HTTP address of the replica server serving RPC on
// rpc.
func httpOf(t *testing.T, cc collectorCluster, rpc string) string {
	t.Helper()
	h, ok := cc.http[rpc]
	if !ok {
		t.Fatalf("no replica server %s", rpc)
	}
	return h
}

// checkCounters checks that the collector's per-table counter totals lie
// between the replica servers' own counters read before a round started
// and after the next one ended: they match within one scrape interval. It first waits for the collector to report a QPS for every
// compared operation under the load.
func checkCounters(t *testing.T, cc collectorCluster, pairs []counterPair) {
	// The load shows in the collector's QPS (or duplication rate) of
	// every compared figure.
	waitTable(t, cc, "QPS of every compared figure", func(tp tablePage) bool {
		for _, p := range pairs {
			if _, rate, ok := p.collectorValue(tp); !ok || rate <= 0 {
				return false
			}
		}
		return true
	})
	// Every scrape of a round that started after the first read comes
	// after it; the second read comes after that round ended. Two rounds,
	// so the daemons' metrics report tick (1s) falls in between and the
	// load moves their counters.
	before := replicaSums(t, cc, pairs)
	var p clusterPage
	getJSON(t, cc.collector, "/api/cluster", &p)
	waitRound(t, cc, p.RoundsStarted+1)
	var tp tablePage
	getJSON(t, cc.collector, "/api/tables/"+cc.table, &tp)
	after := replicaSums(t, cc, pairs)
	for i, p := range pairs {
		got, _, ok := p.collectorValue(tp)
		if !ok {
			t.Fatalf("collector reports no %s", p.op)
		}
		t.Logf("%s on %s: replica servers %v before, %v after; collector %v", p.source, cc.name, before[i], after[i], got)
		if got < before[i] || got > after[i] {
			t.Errorf("%s: collector total %v outside [%v, %v], the replica servers' counters read before and after two rounds", p.source, got, before[i], after[i])
		}
		if after[i] <= before[i] {
			t.Errorf("%s: no requests counted under load (%v -> %v)", p.source, before[i], after[i])
		}
	}
}

// needTool returns the path of a system tool the test needs; without root
// it cannot be installed and the test skips, with root its absence is a
// setup error (make deps / scripts/ensure-deps.sh installs it).
func needTool(t *testing.T, name, pkg string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if os.Geteuid() != 0 {
		t.Skipf("%s not installed and not root, so it cannot be installed (Debian package %s; scripts/ensure-deps.sh installs it as root): skipping", name, pkg)
	}
	t.Fatalf("%s not installed: run scripts/ensure-deps.sh (make deps), which installs Debian's %s", name, pkg)
	return ""
}

// dashboardMetricRE finds metric names in PromQL expressions.
var dashboardMetricRE = regexp.MustCompile(`\bpegasus_[a-z0-9_]+`)

// darkMetrics are collector metrics that exist only when the replica
// servers export their sources; a dashboard may query them before then.
var darkMetrics = map[string][]string{
	"pegasus_table_storage_bytes": {"rdb_total_sst_size_mb"},
}

// checkMetricsDump fetches the /metrics of the collectors of cc and of
// the clusters others (the duplication's target: the lag is reported
// there), saves them as test artifacts, lints them with promtool, and
// checks that every metric the Grafana dashboards and the Prometheus rules
// query is in one of them. It returns cc's dump.
func checkMetricsDump(t *testing.T, cc collectorCluster, others ...collectorCluster) []byte {
	promtool := needTool(t, "promtool", "prometheus")
	fams := map[string]*dto.MetricFamily{}
	var ccDump []byte
	for i, x := range append([]collectorCluster{cc}, others...) {
		// A round with the load's latencies in it.
		waitRound(t, x, 0)
		xf, dump, err := metricFamilies(x.collector)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			ccDump = dump
		}
		for name, f := range xf {
			if fams[name] == nil {
				fams[name] = f
			}
		}
		art := filepath.Join(t.ArtifactDir(), "collector-metrics-"+x.name+".txt")
		if err := os.WriteFile(art, dump, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("collector /metrics dump of %s: %s (%d families)", x.name, art, len(xf))
		cmd := exec.Command(promtool, "check", "metrics")
		cmd.Stdin = bytes.NewReader(dump)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool check metrics (%s): %v\n%s", x.name, err, out)
		}
	}
	for _, args := range [][]string{
		{"check", "config", filepath.Join("..", "deploy", "prometheus", "prometheus.yml")},
		{"check", "rules", filepath.Join("..", "deploy", "prometheus", "rules.yml")},
	} {
		if out, err := exec.Command(promtool, args...).CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	// Sources present on the replica servers, for the dark metrics.
	sources := map[string]bool{}
	for _, x := range append([]collectorCluster{cc}, others...) {
		for _, r := range x.replicas {
			rf, _, err := metricFamilies(httpOf(t, x, r))
			if err != nil {
				t.Fatal(err)
			}
			for name := range rf {
				sources[strings.TrimSuffix(name, "_total")] = true
				sources[name] = true
			}
		}
	}
	queried := map[string][]string{} // metric -> files
	files, _ := filepath.Glob(filepath.Join("..", "deploy", "grafana", "*.json"))
	files = append(files, filepath.Join("..", "deploy", "prometheus", "rules.yml"))
	if len(files) < 2 {
		t.Fatal("no Grafana dashboard in deploy/grafana")
	}
	for _, f := range files {
		for _, expr := range queries(t, f) {
			for _, m := range dashboardMetricRE.FindAllString(expr, -1) {
				queried[m] = append(queried[m], filepath.Base(f))
			}
		}
	}
	if len(queried) < 20 {
		t.Fatalf("only %d metrics queried by %v", len(queried), files)
	}
	for m, in := range queried {
		base := m
		for _, suf := range []string{"_bucket", "_sum", "_count"} {
			if b, ok := strings.CutSuffix(m, suf); ok && fams[b] != nil && fams[b].GetType() == dto.MetricType_HISTOGRAM {
				base = b
			}
		}
		if fams[base] != nil {
			continue
		}
		if srcs, ok := darkMetrics[base]; ok && !slices.ContainsFunc(srcs, func(s string) bool { return sources[s] }) {
			t.Logf("%s (queried in %v) is dark: the replica servers do not export %v yet", base, in, srcs)
			continue
		}
		t.Errorf("%s, queried in %v, is not in the collectors' /metrics", base, in)
	}
	return ccDump
}

// queries returns the PromQL expressions of a Grafana dashboard (every
// "expr" and templating "query"/"definition") or of a Prometheus rules
// file (every "expr:" line).
func queries(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	if strings.HasSuffix(path, ".yml") {
		for line := range strings.Lines(string(b)) {
			if e, ok := strings.CutPrefix(strings.TrimSpace(line), "expr:"); ok {
				out = append(out, e)
			}
		}
		return out
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				if s, ok := e.(string); ok && (k == "expr" || k == "definition") {
					out = append(out, s)
				}
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(v)
	return out
}

// checkDashboard loads the dashboard in headless chromium, waits until
// the QPS and latency charts drew every series with data, checks their
// canvases hold pixels of each series' colour, and saves a screenshot as
// a test artifact.
func checkDashboard(t *testing.T, cc collectorCluster) {
	chromium := needTool(t, "chromium", "chromium")
	opts := append(slices.Clone(chromedp.DefaultExecAllocatorOptions[:]),
		chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1400, 1600))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	bctx, cancel := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	defer cancel()
	bctx, cancel = context.WithTimeout(bctx, 2*time.Minute)
	defer cancel()

	const ready = `(() => {
		const c = window.pegasusCharts || {};
		return ["chart-qps", "chart-latency"].every(id => c[id] && c[id].canvas &&
			c[id].series.length === 2 && c[id].series.every(s => s.points >= 3));
	})()`
	// Pixels of each series' stroke colour on the two charts.
	const painted = `(() => {
		const colours = {"chart-qps": [[47,111,219],[217,98,43]], "chart-latency": [[47,111,219],[217,98,43]]};
		const out = {};
		for (const [id, cols] of Object.entries(colours)) {
			const cv = window.pegasusCharts[id].canvas;
			const px = cv.getContext("2d").getImageData(0, 0, cv.width, cv.height).data;
			out[id] = cols.map(([r, g, b]) => {
				let n = 0;
				for (let i = 0; i < px.length; i += 4) {
					if (Math.abs(px[i]-r) < 40 && Math.abs(px[i+1]-g) < 40 && Math.abs(px[i+2]-b) < 40 && px[i+3] > 128) n++;
				}
				return n;
			});
		}
		return out;
	})()`
	var ok bool
	var pixels map[string][]int
	var shot []byte
	var title string
	err := chromedp.Run(bctx,
		chromedp.Navigate("http://"+cc.collector+"/#table="+cc.table),
		chromedp.Poll(ready, &ok, chromedp.WithPollingTimeout(90*time.Second), chromedp.WithPollingInterval(500*time.Millisecond)),
		chromedp.Evaluate(painted, &pixels),
		chromedp.Text("#current-table", &title, chromedp.ByQuery),
		chromedp.FullScreenshot(&shot, 100), // quality 100: PNG
	)
	if len(shot) > 0 {
		art := filepath.Join(t.ArtifactDir(), "dashboard.png")
		if werr := os.WriteFile(art, shot, 0o644); werr != nil {
			t.Error(werr)
		}
		t.Logf("dashboard screenshot: %s (%d bytes)", art, len(shot))
	}
	if err != nil {
		t.Fatalf("dashboard: %v", err)
	}
	if !ok || title != cc.table {
		t.Fatalf("dashboard not ready (%v) or showing %q, not %q", ok, title, cc.table)
	}
	for id, counts := range pixels {
		for i, n := range counts {
			if n < 20 {
				t.Errorf("%s: series %d drew %d pixels of its colour", id, i, n)
			}
		}
	}
	t.Logf("series pixels: %v", pixels)
	if len(shot) == 0 {
		t.Error("no screenshot")
	}
}

// checkDocs checks that docs/observability.md names every metric family
// of the collector's dump and of the daemons' pages of every cluster (Go
// runtime and process metrics aside; per-operation names as <op>_...).
func checkDocs(t *testing.T, dump []byte, cc collectorCluster, c *harness.Cluster) {
	b, err := os.ReadFile(filepath.Join("..", "docs", "observability.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	p := expfmt.NewTextParser(model.UTF8Validation)
	if dump == nil {
		_, dump, err = metricFamilies(cc.collector)
		if err != nil {
			t.Fatal(err)
		}
	}
	all, err := p.TextToMetricFamilies(bytes.NewReader(dump))
	if err != nil {
		t.Fatal(err)
	}
	pages := map[string]map[string]*dto.MetricFamily{"collector": all}
	for _, in := range c.State.Instances {
		if in.Role != onebox.RoleMeta && in.Role != onebox.RoleReplica {
			continue
		}
		fams, _, err := metricFamilies(in.HTTPAddress)
		if err != nil {
			t.Fatal(err)
		}
		pages[in.Name] = fams
	}
	ops := regexp.MustCompile(`^(get|put|remove|multi_get|multi_put|multi_remove|del_range|sortkey_count|exist|ttl|incr|check_and_set|check_and_mutate|scan|scan_close|batch_get|batch_set)_(qps_total|latency)$`)
	for page, fams := range pages {
		for name := range fams {
			if strings.HasPrefix(name, "go_") || strings.HasPrefix(name, "process_") || strings.HasPrefix(name, "promhttp_") {
				continue
			}
			want := ops.ReplaceAllString(name, "<op>_$2")
			if !strings.Contains(doc, "`"+want+"`") {
				t.Errorf("docs/observability.md does not list `%s` (from %s)", want, page)
			}
		}
	}
}
