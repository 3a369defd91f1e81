package duplag

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

const page = `# TYPE dup_time_lag_ms histogram
dup_time_lag_ms_bucket{app_id="2",partition="0",le="1"} 1
dup_time_lag_ms_bucket{app_id="2",partition="0",le="2"} 3
dup_time_lag_ms_bucket{app_id="2",partition="0",le="+Inf"} 4
dup_time_lag_ms_sum{app_id="2",partition="0"} 9
dup_time_lag_ms_count{app_id="2",partition="0"} 4
dup_time_lag_ms_bucket{app_id="2",partition="1",le="1"} 0
dup_time_lag_ms_bucket{app_id="2",partition="1",le="2"} 2
dup_time_lag_ms_bucket{app_id="2",partition="1",le="+Inf"} 2
dup_time_lag_ms_sum{app_id="2",partition="1"} 3
dup_time_lag_ms_count{app_id="2",partition="1"} 2
dup_time_lag_ms_bucket{app_id="3",partition="0",le="1"} 100
dup_time_lag_ms_bucket{app_id="3",partition="0",le="2"} 100
dup_time_lag_ms_bucket{app_id="3",partition="0",le="+Inf"} 100
dup_time_lag_ms_sum{app_id="3",partition="0"} 9
dup_time_lag_ms_count{app_id="3",partition="0"} 100
`

func TestLagHistogram(t *testing.T) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	b, found, err := lagHistogram(fams, 2)
	if err != nil || !found {
		t.Fatalf("found %v err %v", found, err)
	}
	if len(b) != 3 || b[0].Count != 1 || b[1].Count != 5 || b[2].Count != 6 {
		t.Fatalf("buckets %v", b)
	}
	if b, found, err := lagHistogram(fams, 9); err != nil || !found || b != nil {
		t.Fatalf("other table: %v %v %v", b, found, err)
	}
	if _, found, _ := lagHistogram(nil, 2); found {
		t.Fatal("found on an empty page")
	}
	gauge, _ := p.TextToMetricFamilies(strings.NewReader("# TYPE dup_time_lag_ms gauge\ndup_time_lag_ms{app_id=\"2\"} 5\n"))
	if _, _, err := lagHistogram(gauge, 2); err == nil {
		t.Fatal("a gauge was read as the histogram")
	}
}

func TestScrapeLag(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte(page))
	}))
	defer srv.Close()
	empty := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("# TYPE up gauge\nup 1\n"))
	}))
	defer empty.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	none := strings.TrimPrefix(empty.URL, "http://")
	b, err := scrapeLag(context.Background(), []string{addr, addr, none}, 2)
	if err != nil {
		t.Fatal(err)
	}
	if HistCount(b) != 12 {
		t.Fatalf("sum over two servers: %v", b)
	}
	if _, err := scrapeLag(context.Background(), []string{none}, 2); err == nil || !strings.Contains(err.Error(), "no replica server exports") {
		t.Fatalf("no histogram anywhere: %v", err)
	}
	if _, err := scrapeLag(context.Background(), []string{"127.0.0.1:1"}, 2); err == nil {
		t.Fatal("unreachable server read")
	}
	var buf bytes.Buffer
	buf.WriteString("garbage{")
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(buf.Bytes()) }))
	defer bad.Close()
	if _, err := scrapeLag(context.Background(), []string{strings.TrimPrefix(bad.URL, "http://")}, 2); err == nil {
		t.Fatal("garbage parsed")
	}
}
