package aggregate

import (
	"math"
	"slices"

	"github.com/pegasus-go/pegasus/collector/internal/scrape"
)

// Percentiles are latency percentiles over one interval, in seconds.
type Percentiles struct {
	P50 float64 `json:"p50"`
	P95 float64 `json:"p95"`
	P99 float64 `json:"p99"`
	// Count is the number of observations in the interval; 0 means the
	// percentiles are meaningless (and zero).
	Count float64 `json:"count"`
}

// Valid reports whether the percentiles rest on at least one observation.
func (p Percentiles) Valid() bool { return p.Count > 0 }

// buckets is a histogram's per-bound counts (not cumulative), keyed by
// upper bound, so histograms from several nodes and ops merge by bound.
type buckets map[float64]float64

// addDelta adds the bucket increase cur - prev (cumulative buckets, as
// scraped) to b. A prev with other bounds, or any bucket that went down,
// means the histogram was reset: cur counts in full.
func (b buckets) addDelta(cur, prev []scrape.Bucket) {
	reset := prev == nil || len(prev) != len(cur)
	if !reset {
		for i := range cur {
			if cur[i].UpperBound != prev[i].UpperBound || cur[i].Count < prev[i].Count {
				reset = true
				break
			}
		}
	}
	var lastCur, lastPrev float64
	for i := range cur {
		d := cur[i].Count - lastCur
		if !reset {
			d -= prev[i].Count - lastPrev
			lastPrev = prev[i].Count
		}
		lastCur = cur[i].Count
		b[cur[i].UpperBound] += max(d, 0) // empty buckets keep their bound

	}
}

func (b buckets) merge(o buckets) {
	for k, v := range o {
		b[k] += v
	}
}

// percentiles computes p50, p95 and p99 of b.
func (b buckets) percentiles() Percentiles {
	bounds := make([]float64, 0, len(b))
	var total float64
	for ub, c := range b {
		bounds = append(bounds, ub)
		total += c
	}
	if total <= 0 {
		return Percentiles{}
	}
	slices.Sort(bounds)
	return Percentiles{
		P50: quantile(0.50, bounds, b, total), P95: quantile(0.95, bounds, b, total),
		P99: quantile(0.99, bounds, b, total), Count: total,
	}
}

// quantile is Prometheus' histogram_quantile on non-cumulative buckets:
// linear interpolation inside the bucket holding rank q*total, the first
// bucket starting at 0 (latencies are not negative), and the highest
// finite bound for ranks in the +Inf bucket.
func quantile(q float64, bounds []float64, b buckets, total float64) float64 {
	rank := q * total
	var cum, lower float64
	for i, ub := range bounds {
		c := b[ub]
		if cum+c >= rank && c > 0 {
			if math.IsInf(ub, 1) {
				if i == 0 {
					return 0
				}
				return bounds[i-1]
			}
			return lower + (ub-lower)*(rank-cum)/c
		}
		cum += c
		if !math.IsInf(ub, 1) {
			lower = ub
		}
	}
	return lower
}
