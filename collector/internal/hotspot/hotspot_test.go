package hotspot

import (
	"math"
	"testing"
)

func TestScores(t *testing.T) {
	cfg := Config{Window: 1, Threshold: 3, MinQPS: 10}
	// Even load: nothing hot.
	for _, s := range Scores([]float64{100, 101, 99, 100}, cfg) {
		if s.Hot || math.Abs(s.Z) > 1 {
			t.Errorf("even load scored %+v", s)
		}
	}
	// One partition at 10x: others mean 100, sd 0 -> floor 0.1*100 = 10.
	s := Scores([]float64{100, 100, 1000, 100}, cfg)
	if !s[2].Hot || math.Abs(s[2].Z-90) > 1e-9 {
		t.Errorf("hot partition scored %+v", s[2])
	}
	if s[0].Hot || s[0].Z > 0 {
		t.Errorf("cold partition scored %+v", s[0])
	}
	// Leave-one-out against a noisy table: others 10, 20, 30 (sd 8.16).
	s = Scores([]float64{10, 20, 30, 60}, cfg)
	if want := (60 - 20) / math.Sqrt(200.0/3); math.Abs(s[3].Z-want) > 1e-9 || !s[3].Hot {
		t.Errorf("z = %v, want %v (hot)", s[3].Z, want)
	}
	// Below MinQPS nothing is hot, however lopsided.
	if s := Scores([]float64{0, 0, 0, 9}, cfg); s[3].Hot || s[3].Z != 9 {
		t.Errorf("low-traffic partition scored %+v (spread floor is 1 qps)", s[3])
	}
	// A single partition has no others.
	if s := Scores([]float64{1e6}, cfg); s[0].Hot || s[0].Z != 0 {
		t.Errorf("single partition scored %+v", s[0])
	}
}

func TestWindow(t *testing.T) {
	d, err := New(Config{Window: 3, Threshold: 3, MinQPS: 10})
	if err != nil {
		t.Fatal(err)
	}
	even := []float64{100, 100, 100, 100}
	spike := []float64{100, 100, 2000, 100}
	for range 3 {
		d.Observe(map[string][]float64{"t": even})
	}
	// One spike round in a window of three: avg(p2) = 733, still hot.
	out := d.Observe(map[string][]float64{"t": spike})
	if !out["t"][2].Hot || math.Abs(out["t"][2].AvgQPS-(100+100+2000)/3.0) > 1e-9 {
		t.Errorf("after a spike %+v", out["t"][2])
	}
	// Three even rounds push the spike out of the window.
	for range 3 {
		out = d.Observe(map[string][]float64{"t": even})
	}
	if out["t"][2].Hot || out["t"][2].AvgQPS != 100 {
		t.Errorf("after the window passed %+v", out["t"][2])
	}
	// A partition count change starts a new window; bad values count as 0.
	out = d.Observe(map[string][]float64{"t": {math.NaN(), -5, math.Inf(1), 50, 50, 50, 50, 50}})
	if len(out["t"]) != 8 || out["t"][0].AvgQPS != 0 || out["t"][1].AvgQPS != 0 || out["t"][2].AvgQPS != 0 {
		t.Errorf("after a split %+v", out["t"])
	}
	// A table missing from a round is forgotten.
	d.Observe(map[string][]float64{})
	if len(d.tables) != 0 {
		t.Errorf("tables kept: %d", len(d.tables))
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []Config{
		{Window: 0, Threshold: 3}, {Window: 1, Threshold: 0}, {Window: 1, Threshold: math.Inf(1)},
		{Window: 1, Threshold: 3, MinQPS: -1}, {Window: 1, Threshold: 3, MinQPS: math.NaN()},
	} {
		if c.Validate() == nil {
			t.Errorf("%+v validated", c)
		}
		if _, err := New(c); err == nil {
			t.Errorf("New(%+v) succeeded", c)
		}
	}
}
