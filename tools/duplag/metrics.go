package duplag

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// LagMetrics are the names under which a replica server exports the
// receiver's lag histogram (milliseconds): dup_time_lag_ms, Pegasus's name.
var LagMetrics = []string{"dup_time_lag_ms"}

// maxMetricsPage bounds a /metrics page read.
const maxMetricsPage = 64 << 20

// fetchMetrics reads and parses the /metrics page served at addr
// (host:port).
func fetchMetrics(ctx context.Context, addr string) (map[string]*dto.MetricFamily, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxMetricsPage))
	if err != nil {
		return nil, fmt.Errorf("GET %s/metrics: %w", addr, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s/metrics: %s", addr, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%s/metrics: %w", addr, err)
	}
	return fams, nil
}

// lagHistogram returns the lag histogram of table appID on one page: the
// series of the first LagMetrics family present whose app_id label is
// appID, summed. found is false when the page has no such family.
func lagHistogram(fams map[string]*dto.MetricFamily, appID int32) (b []Bucket, found bool, err error) {
	id := strconv.Itoa(int(appID))
	for _, name := range LagMetrics {
		f := fams[name]
		if f == nil {
			continue
		}
		if f.GetType() != dto.MetricType_HISTOGRAM {
			return nil, false, fmt.Errorf("%s is a %s, not a histogram", name, f.GetType())
		}
		for _, m := range f.GetMetric() {
			if !hasLabel(m, "app_id", id) {
				continue
			}
			var ok bool
			if b, ok = AddBuckets(b, histBuckets(m.GetHistogram())); !ok {
				return nil, true, fmt.Errorf("%s: series with different buckets", name)
			}
		}
		return b, true, nil
	}
	return nil, false, nil
}

func hasLabel(m *dto.Metric, name, value string) bool {
	for _, lp := range m.GetLabel() {
		if lp.GetName() == name {
			return lp.GetValue() == value
		}
	}
	return false
}

// histBuckets converts a protobuf histogram into cumulative buckets ending
// with +Inf.
func histBuckets(h *dto.Histogram) []Bucket {
	out := make([]Bucket, 0, len(h.GetBucket())+1)
	for _, b := range h.GetBucket() {
		out = append(out, Bucket{UpperBound: b.GetUpperBound(), Count: float64(b.GetCumulativeCount())})
	}
	if len(out) == 0 || !math.IsInf(out[len(out)-1].UpperBound, 1) {
		out = append(out, Bucket{UpperBound: math.Inf(1), Count: float64(h.GetSampleCount())})
	}
	slices.SortFunc(out, func(x, y Bucket) int {
		switch {
		case x.UpperBound < y.UpperBound:
			return -1
		case x.UpperBound > y.UpperBound:
			return 1
		}
		return 0
	})
	return out
}

// scrapeLag sums the lag histogram of appID over the replica servers
// whose HTTP addresses are addrs. It fails when a server cannot be read,
// or when none exports the histogram (the names changed).
func scrapeLag(ctx context.Context, addrs []string, appID int32) ([]Bucket, error) {
	var sum []Bucket
	anyFound := false
	for _, a := range addrs {
		fams, err := fetchMetrics(ctx, a)
		if err != nil {
			return nil, err
		}
		b, found, err := lagHistogram(fams, appID)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", a, err)
		}
		anyFound = anyFound || found
		if b == nil {
			continue
		}
		var ok bool
		if sum, ok = AddBuckets(sum, b); !ok {
			return nil, fmt.Errorf("%s: lag histogram buckets differ from the other servers'", a)
		}
	}
	if !anyFound {
		return nil, fmt.Errorf("no replica server exports a lag histogram (looked for %v)", LagMetrics)
	}
	return sum, nil
}
