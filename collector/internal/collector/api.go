package collector

import (
	"net/http"
	"sort"
	"time"

	"github.com/pegasus-go/pegasus/collector/internal/aggregate"
	"github.com/pegasus-go/pegasus/collector/internal/hotspot"
	"github.com/pegasus-go/pegasus/collector/internal/probe"
	"github.com/pegasus-go/pegasus/shared/httpserver"
)

// ClusterPage is the body of GET /api/cluster.
type ClusterPage struct {
	Cluster         string  `json:"cluster"`
	MetaLeader      string  `json:"meta_leader"`
	IntervalSeconds float64 `json:"interval_seconds"`
	// Round counts completed rounds; RoundsStarted counts started ones
	// (one more while a round runs).
	Round          uint64                `json:"round"`
	RoundsStarted  uint64                `json:"rounds_started"`
	RoundStarted   time.Time             `json:"round_started"`
	RoundSeconds   float64               `json:"round_seconds"`
	DiscoveryError string                `json:"discovery_error,omitempty"`
	Tables         []TableSummary        `json:"tables"`
	Nodes          []aggregate.NodeStats `json:"nodes"`
	Hotspots       []Hotspot             `json:"hotspots"`
	Probe          *probe.Status         `json:"probe,omitempty"`
}

// TableSummary is one row of the dashboard's table list.
type TableSummary struct {
	Name           string   `json:"name"`
	AppID          int32    `json:"app_id"`
	Partitions     int32    `json:"partitions"`
	Healthy        int32    `json:"healthy"`
	WriteUnhealthy int32    `json:"write_unhealthy"`
	ReadUnhealthy  int32    `json:"read_unhealthy"`
	ReadQPS        float64  `json:"read_qps"`
	WriteQPS       float64  `json:"write_qps"`
	ReadP99Ms      *float64 `json:"read_p99_ms"`  // null without reads in the interval
	WriteP99Ms     *float64 `json:"write_p99_ms"` // null without writes in the interval
	HotPartitions  int      `json:"hot_partitions"`
	DupShipped     float64  `json:"dup_shipped_total"`
	DupPending     float64  `json:"dup_pending"`
}

// Hotspot is one hot partition.
type Hotspot struct {
	Table string `json:"table"`
	hotspot.Score
}

// TablePage is the body of GET /api/tables/{name}.
type TablePage struct {
	aggregate.TableStats
	Scores []hotspot.Score `json:"scores"`
}

// ClusterPage returns the cluster summary; ok is false before the first
// round.
func (c *Collector) ClusterPage() (ClusterPage, bool) {
	st := c.State()
	p := ClusterPage{
		Cluster: c.opts.Cluster, IntervalSeconds: c.opts.Interval.Seconds(), RoundsStarted: c.RoundsStarted(),
		Tables: []TableSummary{}, Nodes: []aggregate.NodeStats{}, Hotspots: []Hotspot{},
	}
	if c.opts.Probe != nil {
		ps := c.opts.Probe.Status()
		p.Probe = &ps
	}
	if st == nil {
		return p, false
	}
	s := st.Snapshot
	p.MetaLeader, p.Round, p.RoundStarted, p.RoundSeconds, p.DiscoveryError =
		s.MetaLeader, st.Round, st.RoundStarted, st.RoundSeconds, st.DiscoveryError
	p.Nodes = append(p.Nodes, s.Nodes...)
	for _, t := range s.Tables {
		p.Tables = append(p.Tables, TableSummary{
			Name: t.Name, AppID: t.AppID, Partitions: t.PartitionCount, Healthy: t.Health.Healthy,
			WriteUnhealthy: t.Health.WriteUnhealthy, ReadUnhealthy: t.Health.ReadUnhealthy,
			ReadQPS: t.ReadQPS, WriteQPS: t.WriteQPS,
			ReadP99Ms: ms(t.ReadLatency), WriteP99Ms: ms(t.WriteLatency),
			HotPartitions: st.HotCount(t.Name), DupShipped: t.Dup.ShippedTotal, DupPending: t.Dup.Pending,
		})
		for _, sc := range st.Hot[t.Name] {
			if sc.Hot {
				p.Hotspots = append(p.Hotspots, Hotspot{Table: t.Name, Score: sc})
			}
		}
	}
	sort.SliceStable(p.Hotspots, func(i, j int) bool { return p.Hotspots[i].Z > p.Hotspots[j].Z })
	return p, true
}

// RegisterAPI mounts the JSON API on h:
//
//	GET /api/cluster               ClusterPage
//	GET /api/tables/{name}         TablePage
//	GET /api/tables/{name}/history Series (columns for the charts)
func (c *Collector) RegisterAPI(h *httpserver.Server) error {
	if err := h.HandleJSON("GET /api/cluster", func(*http.Request) (any, error) {
		p, _ := c.ClusterPage()
		return p, nil
	}); err != nil {
		return err
	}
	if err := h.HandleJSON("GET /api/tables/{name}", func(r *http.Request) (any, error) {
		name := r.PathValue("name")
		st := c.State()
		if st == nil {
			return nil, httpserver.Errorf(http.StatusServiceUnavailable, "no scrape round has completed yet")
		}
		t, ok := st.Snapshot.Table(name)
		if !ok {
			return nil, httpserver.Errorf(http.StatusNotFound, "table %q not found", name)
		}
		scores := st.Hot[name]
		if scores == nil {
			scores = []hotspot.Score{}
		}
		return TablePage{TableStats: *t, Scores: scores}, nil
	}); err != nil {
		return err
	}
	return h.HandleJSON("GET /api/tables/{name}/history", func(r *http.Request) (any, error) {
		s, ok := c.Series(r.PathValue("name"))
		if !ok {
			return nil, httpserver.Errorf(http.StatusNotFound, "table %q not found", r.PathValue("name"))
		}
		return s, nil
	})
}

// ms returns p's p99 in milliseconds, nil when p has no observation.
func ms(p aggregate.Percentiles) *float64 {
	if !p.Valid() {
		return nil
	}
	v := p.P99 * 1000
	return &v
}
