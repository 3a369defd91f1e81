package duplag

import (
	"math"
	"slices"
	"time"
)

// Summary describes a set of durations.
type Summary struct {
	N                  int
	P50, P90, P99, Max time.Duration
}

// Summarize returns the nearest-rank percentiles and the maximum of ds
// (the zero Summary for none). ds is not modified.
func Summarize(ds []time.Duration) Summary {
	if len(ds) == 0 {
		return Summary{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := func(q float64) time.Duration {
		i := int(math.Ceil(q*float64(len(s)))) - 1
		return s[min(max(i, 0), len(s)-1)]
	}
	return Summary{N: len(s), P50: rank(0.50), P90: rank(0.90), P99: rank(0.99), Max: s[len(s)-1]}
}

// Bucket is one cumulative histogram bucket: Count observations were at
// most UpperBound (+Inf for the last one).
type Bucket struct {
	UpperBound float64
	Count      float64
}

// AddBuckets adds b to acc bound by bound and returns the sum. acc nil
// takes a copy of b. Histograms with different bounds cannot be added:
// ok is false and acc is returned unchanged.
func AddBuckets(acc, b []Bucket) (sum []Bucket, ok bool) {
	if acc == nil {
		return slices.Clone(b), true
	}
	if len(acc) != len(b) {
		return acc, false
	}
	for i := range acc {
		if acc[i].UpperBound != b[i].UpperBound {
			return acc, false
		}
	}
	out := slices.Clone(acc)
	for i := range out {
		out[i].Count += b[i].Count
	}
	return out, true
}

// SubBuckets returns after - before bound by bound: the observations made
// between two reads of the same cumulative histogram. With before nil, or
// with bounds that differ (the histogram was reset or changed), it returns
// a copy of after. Negative differences (a restart in between) count as
// zero.
func SubBuckets(after, before []Bucket) []Bucket {
	out := slices.Clone(after)
	if len(before) != len(after) {
		return out
	}
	for i := range before {
		if before[i].UpperBound != after[i].UpperBound {
			return slices.Clone(after)
		}
		out[i].Count = max(after[i].Count-before[i].Count, 0)
	}
	return out
}

// HistCount returns the number of observations of cumulative buckets b.
func HistCount(b []Bucket) float64 {
	if len(b) == 0 {
		return 0
	}
	return b[len(b)-1].Count
}

// HistQuantile estimates the q-quantile (0 < q <= 1) of cumulative buckets
// b sorted by bound, like Prometheus' histogram_quantile: linear
// interpolation within the bucket holding the rank, the first bucket
// starting at 0. A rank in the +Inf bucket yields the largest finite
// bound, with inf true (the value is only known to be above it). ok is
// false without observations or for a q outside (0, 1].
func HistQuantile(q float64, b []Bucket) (v float64, inf, ok bool) {
	total := HistCount(b)
	if total <= 0 || !(q > 0 && q <= 1) {
		return 0, false, false
	}
	rank := q * total
	lower, below := 0.0, 0.0
	for _, bk := range b {
		if bk.Count >= rank {
			if math.IsInf(bk.UpperBound, 1) {
				return lower, true, true
			}
			in := bk.Count - below
			if in <= 0 {
				return bk.UpperBound, false, true
			}
			return lower + (bk.UpperBound-lower)*(rank-below)/in, false, true
		}
		lower, below = bk.UpperBound, bk.Count
	}
	return lower, false, true
}
