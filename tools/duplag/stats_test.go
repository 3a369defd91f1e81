package duplag

import (
	"math"
	"testing"
	"time"
)

func TestSummarize(t *testing.T) {
	if got := Summarize(nil); got != (Summary{}) {
		t.Fatalf("empty: %+v", got)
	}
	var ds []time.Duration
	for i := 100; i >= 1; i-- { // unsorted input
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	got := Summarize(ds)
	want := Summary{N: 100, P50: 50 * time.Millisecond, P90: 90 * time.Millisecond, P99: 99 * time.Millisecond, Max: 100 * time.Millisecond}
	if got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	if ds[0] != 100*time.Millisecond {
		t.Fatal("input was modified")
	}
	one := Summarize([]time.Duration{7})
	if one.P50 != 7 || one.P99 != 7 || one.Max != 7 || one.N != 1 {
		t.Fatalf("one: %+v", one)
	}
}

func buckets(bounds []float64, counts ...float64) []Bucket {
	out := make([]Bucket, len(bounds))
	for i := range bounds {
		out[i] = Bucket{bounds[i], counts[i]}
	}
	return out
}

func TestHistQuantile(t *testing.T) {
	inf := math.Inf(1)
	bounds := []float64{1, 2, 4, 8, inf}
	cases := []struct {
		name    string
		b       []Bucket
		q       float64
		want    float64
		wantInf bool
		ok      bool
	}{
		{"empty", nil, 0.5, 0, false, false},
		{"no observations", buckets(bounds, 0, 0, 0, 0, 0), 0.5, 0, false, false},
		{"bad q", buckets(bounds, 1, 1, 1, 1, 1), 0, 0, false, false},
		{"q above 1", buckets(bounds, 1, 1, 1, 1, 1), 1.5, 0, false, false},
		// 10 observations, all in (2, 4]: the median is half way.
		{"median interpolated", buckets(bounds, 0, 0, 10, 10, 10), 0.5, 3, false, true},
		// First bucket starts at 0.
		{"first bucket", buckets(bounds, 4, 4, 4, 4, 4), 0.5, 0.5, false, true},
		// p99 of 100: 90 in (1,2], 10 in (4,8]: rank 99 is 9/10 into (4,8].
		{"p99 upper bucket", buckets(bounds, 0, 90, 90, 100, 100), 0.99, 7.6, false, true},
		{"in +Inf bucket", buckets(bounds, 0, 0, 0, 5, 10), 0.99, 8, true, true},
	}
	for _, c := range cases {
		got, gotInf, ok := HistQuantile(c.q, c.b)
		if ok != c.ok || gotInf != c.wantInf || math.Abs(got-c.want) > 1e-9 {
			t.Errorf("%s: got (%v, %v, %v), want (%v, %v, %v)", c.name, got, gotInf, ok, c.want, c.wantInf, c.ok)
		}
	}
}

func TestBucketArithmetic(t *testing.T) {
	inf := math.Inf(1)
	a := buckets([]float64{1, 2, inf}, 1, 3, 4)
	b := buckets([]float64{1, 2, inf}, 2, 2, 5)
	sum, ok := AddBuckets(nil, a)
	if !ok || HistCount(sum) != 4 {
		t.Fatalf("add to nil: %v %v", sum, ok)
	}
	sum, ok = AddBuckets(sum, b)
	if !ok || sum[0].Count != 3 || sum[1].Count != 5 || sum[2].Count != 9 {
		t.Fatalf("add: %v %v", sum, ok)
	}
	if a[0].Count != 1 {
		t.Fatal("AddBuckets modified its input")
	}
	if _, ok := AddBuckets(a, buckets([]float64{1, 3, inf}, 1, 1, 1)); ok {
		t.Fatal("different bounds added")
	}
	if _, ok := AddBuckets(a, buckets([]float64{1, inf}, 1, 1)); ok {
		t.Fatal("different lengths added")
	}
	d := SubBuckets(sum, a)
	if d[0].Count != 2 || d[1].Count != 2 || d[2].Count != 5 {
		t.Fatalf("sub: %v", d)
	}
	// A reset in between: negative increases count as zero.
	if d := SubBuckets(a, sum); d[0].Count != 0 || d[2].Count != 0 {
		t.Fatalf("sub after reset: %v", d)
	}
	if d := SubBuckets(a, nil); HistCount(d) != 4 {
		t.Fatalf("sub nil: %v", d)
	}
	if d := SubBuckets(a, buckets([]float64{1, 3, inf}, 1, 1, 1)); HistCount(d) != 4 {
		t.Fatalf("sub other bounds: %v", d)
	}
}
