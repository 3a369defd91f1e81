package metrics

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	tally "github.com/uber-go/tally/v4"
)

func newRegistry(t *testing.T, opts Options) *Registry {
	t.Helper()
	r, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func scrape(t *testing.T, h http.Handler) string {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("scrape: %d %s", rec.Code, rec.Body.String())
	}
	b, _ := io.ReadAll(rec.Body)
	return string(b)
}

func family(t *testing.T, r *Registry, name string) *dto.MetricFamily {
	t.Helper()
	fams, err := r.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() == name {
			return f
		}
	}
	return nil
}

func TestScrapeNamesLabelsAndBuckets(t *testing.T) {
	r := newRegistry(t, Options{Prefix: "pegasus", Tags: map[string]string{"node": "127.0.0.1:34801"}})
	table := r.Scope().Tagged(map[string]string{"app.id": "3", "table": "t1"})
	table.Counter("dup.shipped-ops").Inc(2)
	table.Counter("dup.shipped-ops").Inc(3) // same counter again
	table.Gauge("dup_pending_mutations_count").Update(7)
	table.SubScope("replica").Timer("write_latency").Record(3 * time.Millisecond)
	r.Scope().Histogram("batch_size", tally.ValueBuckets{1, 10, 100}).RecordValue(42)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}

	text := scrape(t, r.Handler())
	for _, want := range []string{
		"# TYPE pegasus_dup_shipped_ops_total counter\n",
		`pegasus_dup_shipped_ops_total{app_id="3",node="127.0.0.1:34801",table="t1"} 5` + "\n",
		"# TYPE pegasus_dup_pending_mutations_count gauge\n",
		`pegasus_dup_pending_mutations_count{app_id="3",node="127.0.0.1:34801",table="t1"} 7` + "\n",
		"# TYPE pegasus_replica_write_latency histogram\n",
		`pegasus_replica_write_latency_bucket{app_id="3",node="127.0.0.1:34801",table="t1",le="1e-05"} 0` + "\n",
		`pegasus_replica_write_latency_bucket{app_id="3",node="127.0.0.1:34801",table="t1",le="0.0025"} 0` + "\n",
		`pegasus_replica_write_latency_bucket{app_id="3",node="127.0.0.1:34801",table="t1",le="0.005"} 1` + "\n",
		`pegasus_replica_write_latency_bucket{app_id="3",node="127.0.0.1:34801",table="t1",le="10"} 1` + "\n",
		`pegasus_replica_write_latency_bucket{app_id="3",node="127.0.0.1:34801",table="t1",le="+Inf"} 1` + "\n",
		`pegasus_replica_write_latency_count{app_id="3",node="127.0.0.1:34801",table="t1"} 1` + "\n",
		`pegasus_batch_size_bucket{node="127.0.0.1:34801",le="100"} 1` + "\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
	if strings.Contains(text, "tally") {
		t.Errorf("tally internal metrics exported:\n%s", text)
	}
	if t.Failed() {
		t.Log(text)
	}

	// The histogram has exactly the latency buckets, in seconds.
	f := family(t, r, "pegasus_replica_write_latency")
	if f == nil || f.GetType() != dto.MetricType_HISTOGRAM {
		t.Fatalf("write_latency family: %v", f)
	}
	h := f.GetMetric()[0].GetHistogram()
	want := LatencyBuckets()
	if len(h.GetBucket()) != len(want) {
		t.Fatalf("%d buckets, want %d", len(h.GetBucket()), len(want))
	}
	for i, b := range h.GetBucket() {
		if b.GetUpperBound() != want[i] {
			t.Errorf("bucket %d = %v, want %v", i, b.GetUpperBound(), want[i])
		}
	}
	if s := h.GetSampleSum(); s < 0.0029 || s > 0.0031 {
		t.Errorf("sum = %v s, want 0.003", s)
	}
}

func TestTimersAreImmediate(t *testing.T) {
	r := newRegistry(t, Options{ReportInterval: time.Hour})
	r.Scope().Timer("rpc_latency").Record(200 * time.Microsecond)
	f := family(t, r, "rpc_latency")
	if f == nil || f.GetMetric()[0].GetHistogram().GetSampleCount() != 1 {
		t.Fatalf("timer not visible before a report: %v", f)
	}
}

func TestSeveralRegistriesSameNames(t *testing.T) {
	a := newRegistry(t, Options{Tags: map[string]string{"node": "a"}})
	b := newRegistry(t, Options{Tags: map[string]string{"node": "b"}})
	for i, r := range []*Registry{a, b} {
		for range 2 { // the same names twice in one registry
			r.Scope().Counter("get_qps").Inc(int64(i + 1))
			r.Scope().Gauge("partitions").Update(float64(10 * (i + 1)))
			r.Scope().Timer("get_latency").Record(time.Millisecond)
			r.Scope().Tagged(map[string]string{"table": "t"}).Counter("put_qps").Inc(1)
			r.Scope().Tagged(map[string]string{"table": "u"}).Counter("put_qps").Inc(1)
		}
	}
	a.Close()
	b.Close()
	ta, tb := scrape(t, a.Handler()), scrape(t, b.Handler())
	for _, c := range []struct{ text, want string }{
		{ta, `get_qps_total{node="a"} 2`}, {tb, `get_qps_total{node="b"} 4`},
		{ta, `partitions{node="a"} 10`}, {tb, `partitions{node="b"} 20`},
		{ta, `get_latency_count{node="a"} 2`}, {tb, `get_latency_count{node="b"} 2`},
		{ta, `put_qps_total{node="a",table="u"} 2`}, {tb, `put_qps_total{node="b",table="t"} 2`},
	} {
		if !strings.Contains(c.text, c.want) {
			t.Errorf("scrape lacks %q:\n%s", c.want, c.text)
		}
	}
	if strings.Contains(ta, `node="b"`) || strings.Contains(tb, `node="a"`) {
		t.Error("registries share metrics")
	}
	if a.RegistrationErrors() != 0 || b.RegistrationErrors() != 0 {
		t.Errorf("registration errors: %d %d", a.RegistrationErrors(), b.RegistrationErrors())
	}
}

func TestConflictingRegistrationsDoNotPanic(t *testing.T) {
	var logs bytes.Buffer
	r := newRegistry(t, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	r.Scope().Counter("reqs").Inc(1)
	r.Scope().Tagged(map[string]string{"table": "t"}).Counter("reqs").Inc(1) // other label keys
	r.Scope().Gauge("depth").Update(1)
	r.Scope().Timer("depth").Record(time.Second) // same name, other type
	r.Close()
	if got := r.RegistrationErrors(); got != 2 {
		t.Fatalf("RegistrationErrors = %d, want 2; logs:\n%s", got, logs.String())
	}
	if !strings.Contains(logs.String(), "metric registration failed") {
		t.Fatalf("failure not logged: %s", logs.String())
	}
	text := scrape(t, r.Handler())
	if !strings.Contains(text, "reqs_total 1\n") || !strings.Contains(text, "depth 1\n") {
		t.Fatalf("first registrations lost:\n%s", text)
	}
}

func TestCounterSuffix(t *testing.T) {
	for in, want := range map[string]string{"a": "a_total", "a_total": "a_total", "total": "total_total"} {
		if got := CounterName(in); got != want {
			t.Errorf("CounterName(%q) = %q, want %q", in, got, want)
		}
	}
	r := newRegistry(t, Options{})
	r.Scope().Counter("bytes_read_total").Inc(4)
	r.Scope().Counter("dup_shipped_ops").Inc(1)
	r.Close()
	fams, err := r.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetType() == dto.MetricType_COUNTER && !strings.HasSuffix(f.GetName(), CounterSuffix) {
			t.Errorf("counter %q lacks %q", f.GetName(), CounterSuffix)
		}
		if strings.HasSuffix(f.GetName(), "_total_total") {
			t.Errorf("suffix doubled: %q", f.GetName())
		}
	}
	if family(t, r, "bytes_read_total") == nil || family(t, r, "dup_shipped_ops_total") == nil {
		t.Fatal("counters missing")
	}
}

func TestSanitizing(t *testing.T) {
	r := newRegistry(t, Options{})
	r.Scope().Tagged(map[string]string{"node": "127.0.0.1:34801", "bad": "a\xffb", "uni": "ü", "1st": "x"}).Gauge("g").Update(1)
	r.Scope().Counter("9lives").Inc(1)
	r.Scope().Timer("3-way.latency").Record(time.Second)
	r.Scope().SubScope("dup").Histogram("8.bytes", tally.ValueBuckets{1}).RecordValue(1)
	r.Close()
	text := scrape(t, r.Handler())
	for _, want := range []string{
		`g{_1st="x",bad="a_b",node="127.0.0.1:34801",uni="ü"} 1`,
		"_9lives_total 1\n",
		"_3_way_latency_count 1\n",
		"dup_8_bytes_count 1\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("scrape lacks %q:\n%s", want, text)
		}
	}
	if r.RegistrationErrors() != 0 {
		t.Errorf("RegistrationErrors = %d", r.RegistrationErrors())
	}
}

func TestOptions(t *testing.T) {
	for _, o := range []Options{
		{ReportInterval: -time.Second},
		{TimerBuckets: []float64{}},
		{TimerBuckets: []float64{1, 1}},
		{TimerBuckets: []float64{2, 1}},
	} {
		if _, err := New(o); err == nil {
			t.Errorf("New(%+v) succeeded", o)
		}
	}
	r := newRegistry(t, Options{TimerBuckets: []float64{0.5, 1}, RuntimeMetrics: true})
	r.Scope().Timer("t").Record(time.Second)
	text := scrape(t, r.Handler())
	for _, want := range []string{`t_bucket{le="0.5"} 0`, `t_bucket{le="1"} 1`, "go_goroutines", "go_gc_duration_seconds"} {
		if !strings.Contains(text, want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
}

func TestLatencyBuckets(t *testing.T) {
	b := LatencyBuckets()
	if b[0] != 10e-6 || b[len(b)-1] != 10 {
		t.Fatalf("range %v..%v", b[0], b[len(b)-1])
	}
	b[0] = 99
	if LatencyBuckets()[0] != 10e-6 {
		t.Fatal("LatencyBuckets shares its slice")
	}
}

func TestConcurrentUse(t *testing.T) {
	r := newRegistry(t, Options{})
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			s := r.Scope().Tagged(map[string]string{"w": strconv.Itoa(i)})
			for range 500 {
				s.Counter("ops").Inc(1)
				s.Timer("lat").Record(time.Microsecond)
			}
		})
	}
	wg.Go(func() {
		for range 20 {
			scrape(t, r.Handler())
		}
	})
	wg.Wait()
	r.Close()
	f := family(t, r, "ops_total")
	var total float64
	for _, m := range f.GetMetric() {
		total += m.GetCounter().GetValue()
	}
	if total != 2000 {
		t.Fatalf("total = %v", total)
	}
}

func BenchmarkCounterInc(b *testing.B) {
	r, _ := New(Options{})
	defer r.Close()
	c := r.Scope().Tagged(map[string]string{"table": "t"}).Counter("ops")
	for b.Loop() {
		c.Inc(1)
	}
}

func BenchmarkTimerRecord(b *testing.B) {
	r, _ := New(Options{})
	defer r.Close()
	tm := r.Scope().Tagged(map[string]string{"table": "t"}).Timer("lat")
	for b.Loop() {
		tm.Record(150 * time.Microsecond)
	}
}
