package scrape

import (
	"context"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

const page = `# HELP get_qps_total get_qps counter
# TYPE get_qps_total counter
get_qps_total{app_id="2",table="t1"} 10
get_qps_total{app_id="3",table="t2"} 4
# HELP replica_count replica_count gauge
# TYPE replica_count gauge
replica_count 12
# HELP get_latency get_latency histogram
# TYPE get_latency histogram
get_latency_bucket{app_id="2",table="t1",le="0.001"} 3
get_latency_bucket{app_id="2",table="t1",le="0.01"} 9
get_latency_bucket{app_id="2",table="t1",le="+Inf"} 10
get_latency_sum{app_id="2",table="t1"} 0.05
get_latency_count{app_id="2",table="t1"} 10
# TYPE noinf histogram
noinf_bucket{le="1"} 2
noinf_sum 1
noinf_count 5
plain_value 7
`

func TestParse(t *testing.T) {
	p, err := Parse([]byte(page))
	if err != nil {
		t.Fatal(err)
	}
	f := p.Family("get_qps_total")
	if f == nil || f.Kind != Counter || len(f.Samples) != 2 {
		t.Fatalf("get_qps_total = %+v", f)
	}
	var sum float64
	for _, s := range f.Samples {
		sum += s.Value
		if s.Labels["table"] == "" || s.Labels["app_id"] == "" {
			t.Errorf("labels lost: %v", s.Labels)
		}
	}
	if sum != 14 {
		t.Errorf("counter sum = %v, want 14", sum)
	}
	if g := p.Family("replica_count"); g == nil || g.Kind != Gauge || g.Samples[0].Value != 12 {
		t.Errorf("replica_count = %+v", g)
	}
	h := p.Family("get_latency")
	if h == nil || h.Kind != Histogram {
		t.Fatalf("get_latency = %+v", h)
	}
	s := h.Samples[0]
	want := []Bucket{{0.001, 3}, {0.01, 9}, {math.Inf(1), 10}}
	if s.Count != 10 || s.Value != 0.05 || len(s.Buckets) != len(want) {
		t.Fatalf("histogram sample = %+v", s)
	}
	for i := range want {
		if s.Buckets[i] != want[i] {
			t.Errorf("bucket %d = %v, want %v", i, s.Buckets[i], want[i])
		}
	}
	ni := p.Family("noinf").Samples[0].Buckets
	if last := ni[len(ni)-1]; !math.IsInf(last.UpperBound, 1) || last.Count != 5 {
		t.Errorf("missing +Inf bucket not added from the count: %v", ni)
	}
	if u := p.Family("plain_value"); u == nil || u.Kind != Untyped || u.Samples[0].Value != 7 {
		t.Errorf("untyped = %+v", u)
	}
	if p.Family("absent") != nil || Page(nil).Family("x") != nil {
		t.Error("absent family found")
	}
}

func TestParseErrors(t *testing.T) {
	for _, bad := range []string{
		"metric{label=\"unterminated} 1\n",
		"# TYPE x counter\nx abc\n",
		"# TYPE x counter\n# TYPE x gauge\nx 1\n",
	} {
		if _, err := Parse([]byte(bad)); err == nil {
			t.Errorf("Parse(%q) succeeded", bad)
		}
	}
	big := strings.Repeat("a", MaxPageBytes+1)
	if _, err := Parse([]byte(big)); !errors.Is(err, ErrPageTooLarge) {
		t.Errorf("oversized page: %v", err)
	}
}

func TestScrape(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/metrics":
			_, _ = w.Write([]byte(page))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	s := NewScraper(nil)
	defer s.CloseIdle()
	addr := strings.TrimPrefix(srv.URL, "http://")
	p, err := s.Scrape(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	if p.Family("get_qps_total") == nil {
		t.Error("page not parsed")
	}
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "nope", http.StatusInternalServerError)
	}))
	defer bad.Close()
	if _, err := s.Scrape(context.Background(), strings.TrimPrefix(bad.URL, "http://")); err == nil || !strings.Contains(err.Error(), "500") {
		t.Errorf("scrape of a failing page: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Scrape(ctx, addr); err == nil {
		t.Error("scrape with a cancelled context succeeded")
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(page))
	f.Add([]byte("# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_count 1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse(data)
		if err != nil {
			return
		}
		for name, fam := range p {
			if fam.Name != name {
				t.Fatalf("family %q named %q", name, fam.Name)
			}
			for _, s := range fam.Samples {
				if fam.Kind == Histogram && (len(s.Buckets) == 0 || !math.IsInf(s.Buckets[len(s.Buckets)-1].UpperBound, 1)) {
					t.Fatalf("histogram %q without a +Inf bucket", name)
				}
			}
		}
	})
}
