package hotspot

import (
	"errors"
	"fmt"
	"math"
)

// Config tunes a Detector.
type Config struct {
	// Window is the number of rounds averaged (>= 1).
	Window int
	// Threshold is the z-score at or above which a partition is hot (> 0).
	Threshold float64
	// MinQPS is the window-average QPS a partition needs to be hot (>= 0).
	MinQPS float64
}

// DefaultConfig returns a window of 6 rounds, threshold 3 and a floor of
// 10 QPS.
func DefaultConfig() Config { return Config{Window: 6, Threshold: 3, MinQPS: 10} }

// Validate reports the first invalid field.
func (c Config) Validate() error {
	switch {
	case c.Window < 1 || c.Window > 10000:
		return fmt.Errorf("hotspot window %d: want 1..10000 rounds", c.Window)
	case !(c.Threshold > 0) || math.IsInf(c.Threshold, 0):
		return fmt.Errorf("hotspot threshold %v: want a positive number", c.Threshold)
	case !(c.MinQPS >= 0) || math.IsInf(c.MinQPS, 0):
		return errors.New("hotspot min_qps: want a non-negative number")
	}
	return nil
}

// Score is one partition's result.
type Score struct {
	Partition int32   `json:"partition"`
	AvgQPS    float64 `json:"avg_qps"`
	Z         float64 `json:"z"`
	Hot       bool    `json:"hot"`
}

// Detector scores partitions over a sliding window.
type Detector struct {
	cfg    Config
	tables map[string]*window
}

type window struct {
	rounds [][]float64 // ring of per-partition QPS vectors
	next   int
	filled int
}

// New returns a Detector; cfg must be valid.
func New(cfg Config) (*Detector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Detector{cfg: cfg, tables: map[string]*window{}}, nil
}

// Observe adds one round: qps maps every table of the round to its
// per-partition QPS (index = partition). It returns the scores of every
// table of the round, partitions in order. Negative and non-finite QPS
// values count as 0.
func (d *Detector) Observe(qps map[string][]float64) map[string][]Score {
	out := make(map[string][]Score, len(qps))
	for name := range d.tables {
		if _, ok := qps[name]; !ok {
			delete(d.tables, name)
		}
	}
	for name, v := range qps {
		w := d.tables[name]
		if w == nil || (w.filled > 0 && len(w.rounds[0]) != len(v)) {
			w = &window{rounds: make([][]float64, d.cfg.Window)}
			d.tables[name] = w
		}
		cur := make([]float64, len(v))
		for i, x := range v {
			if x > 0 && !math.IsInf(x, 1) {
				cur[i] = x
			}
		}
		w.rounds[w.next] = cur
		w.next = (w.next + 1) % len(w.rounds)
		w.filled = min(w.filled+1, len(w.rounds))
		out[name] = d.score(w, len(v))
	}
	return out
}

func (d *Detector) score(w *window, n int) []Score {
	avg := make([]float64, n)
	for _, r := range w.rounds {
		if r == nil {
			continue
		}
		for i, x := range r {
			avg[i] += x
		}
	}
	for i := range avg {
		avg[i] /= float64(w.filled)
	}
	return Scores(avg, d.cfg)
}

// Scores scores per-partition average QPS values with cfg's threshold and
// floor (the formula of the package doc).
func Scores(avg []float64, cfg Config) []Score {
	n := len(avg)
	out := make([]Score, n)
	var sum, sumSq float64
	for _, x := range avg {
		sum += x
		sumSq += x * x
	}
	for p, x := range avg {
		out[p] = Score{Partition: int32(p), AvgQPS: x}
		if n < 2 {
			continue
		}
		k := float64(n - 1)
		mean := (sum - x) / k
		variance := max((sumSq-x*x)/k-mean*mean, 0)
		sd := max(math.Sqrt(variance), 0.1*mean, 1)
		out[p].Z = (x - mean) / sd
		out[p].Hot = out[p].Z >= cfg.Threshold && x >= cfg.MinQPS
	}
	return out
}
