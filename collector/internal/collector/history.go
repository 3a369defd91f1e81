package collector

import (
	"math"
	"time"

	"github.com/pegasus-go/pegasus/collector/internal/aggregate"
)

// point is one table's figures at one round, as the dashboard charts them.
type point struct {
	at                       time.Time
	readQPS, writeQPS        float64
	readP99, writeP99        float64 // seconds; NaN without observations
	dupLagP99, dupPending    float64 // NaN when not reported
	dupShippedRate, hotCount float64
}

// history is a fixed-size ring of points per table.
type history struct {
	size   int
	tables map[string]*ring
}

type ring struct {
	points []point
	next   int
	n      int
}

func newHistory(size int) *history { return &history{size: size, tables: map[string]*ring{}} }

func nanUnless(ok bool, v float64) float64 {
	if !ok {
		return math.NaN()
	}
	return v
}

// add appends a round; tables missing from it lose their history.
func (h *history) add(s *aggregate.Snapshot, hot map[string]int) {
	seen := map[string]bool{}
	for i := range s.Tables {
		t := &s.Tables[i]
		seen[t.Name] = true
		r := h.tables[t.Name]
		if r == nil {
			r = &ring{points: make([]point, h.size)}
			h.tables[t.Name] = r
		}
		r.points[r.next] = point{
			at: s.At, readQPS: t.ReadQPS, writeQPS: t.WriteQPS,
			readP99:        nanUnless(t.ReadLatency.Valid(), t.ReadLatency.P99),
			writeP99:       nanUnless(t.WriteLatency.Valid(), t.WriteLatency.P99),
			dupLagP99:      nanUnless(t.Dup.HasLag, t.Dup.LagP99),
			dupPending:     nanUnless(t.Dup.HasPending, t.Dup.Pending),
			dupShippedRate: t.Dup.ShippedRate,
			hotCount:       float64(hot[t.Name]),
		}
		r.next = (r.next + 1) % h.size
		r.n = min(r.n+1, h.size)
	}
	for name := range h.tables {
		if !seen[name] {
			delete(h.tables, name)
		}
	}
}

// Series is a table's history in columns (uPlot's data layout): Time in
// Unix seconds, every other column aligned with it; null (nil) marks a
// missing value.
type Series struct {
	Table          string     `json:"table"`
	Time           []float64  `json:"time"`
	ReadQPS        []*float64 `json:"read_qps"`
	WriteQPS       []*float64 `json:"write_qps"`
	ReadP99Ms      []*float64 `json:"read_p99_ms"`
	WriteP99Ms     []*float64 `json:"write_p99_ms"`
	DupLagP99Ms    []*float64 `json:"dup_lag_p99_ms"`
	DupPending     []*float64 `json:"dup_pending"`
	DupShippedRate []*float64 `json:"dup_shipped_rate"`
	HotPartitions  []*float64 `json:"hot_partitions"`
}

func val(v, scale float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	x := v * scale
	return &x
}

// series returns the table's history, oldest first.
func (h *history) series(name string) (Series, bool) {
	r := h.tables[name]
	if r == nil {
		return Series{}, false
	}
	s := Series{Table: name}
	for i := range r.n {
		p := r.points[(r.next-r.n+i+h.size)%h.size]
		s.Time = append(s.Time, float64(p.at.UnixMilli())/1000)
		s.ReadQPS = append(s.ReadQPS, val(p.readQPS, 1))
		s.WriteQPS = append(s.WriteQPS, val(p.writeQPS, 1))
		s.ReadP99Ms = append(s.ReadP99Ms, val(p.readP99, 1000))
		s.WriteP99Ms = append(s.WriteP99Ms, val(p.writeP99, 1000))
		s.DupLagP99Ms = append(s.DupLagP99Ms, val(p.dupLagP99, 1000))
		s.DupPending = append(s.DupPending, val(p.dupPending, 1))
		s.DupShippedRate = append(s.DupShippedRate, val(p.dupShippedRate, 1))
		s.HotPartitions = append(s.HotPartitions, val(p.hotCount, 1))
	}
	return s, true
}
