package collector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pegasus-go/pegasus/collector/internal/aggregate"
	"github.com/pegasus-go/pegasus/collector/internal/hotspot"
	"github.com/pegasus-go/pegasus/collector/internal/probe"
	"github.com/pegasus-go/pegasus/collector/internal/scrape"
	"github.com/pegasus-go/pegasus/shared/logging"
)

// Scraper fetches one daemon's metrics page; *scrape.Scraper is the real
// one.
type Scraper interface {
	Scrape(ctx context.Context, httpAddr string) (scrape.Page, error)
}

// ProbeReporter is the availability detector as the collector shows it.
type ProbeReporter interface {
	Status() probe.Status
}

// Options configure a Collector.
type Options struct {
	Cluster    string
	Discoverer Discoverer
	Scraper    Scraper
	// Interval is the time between the starts of two rounds (Run).
	Interval time.Duration
	// ScrapeTimeout bounds discovery and each node's scrape.
	ScrapeTimeout time.Duration
	// SlowScrape marks nodes whose scrape takes this long or longer.
	SlowScrape time.Duration
	// MaxConcurrentScrapes bounds the scrapes in flight (default 16).
	MaxConcurrentScrapes int
	Hotspot              hotspot.Config
	// HistoryPoints is the number of rounds kept per table for the
	// dashboard's charts (default 720).
	HistoryPoints int
	// Probe, if set, is shown in the cluster summary.
	Probe ProbeReporter
	// Clock replaces time.Now (tests).
	Clock  func() time.Time
	Logger *slog.Logger
}

// Collector runs scrape rounds and keeps the latest State and the
// per-table history.
type Collector struct {
	opts Options
	log  *slog.Logger
	hot  *hotspot.Detector

	roundMu sync.Mutex // serializes rounds; guards agg, view, discovery counters
	agg     *aggregate.Aggregator
	view    aggregate.View

	started atomic.Uint64

	mu struct {
		sync.RWMutex
		state   *State
		history *history
	}
}

// State is the result of the latest round. It is immutable.
type State struct {
	Snapshot *aggregate.Snapshot
	// Hot has the hotspot scores of every table of the round.
	Hot map[string][]hotspot.Score
	// Round counts completed rounds (1 for the first).
	Round        uint64
	RoundStarted time.Time
	RoundSeconds float64
	// DiscoveryError is the latest discovery failure of this round ("" if
	// discovery succeeded); the round then used the previous view.
	DiscoveryError  string
	DiscoveryErrors uint64
}

// HotCount returns the number of hot partitions of table.
func (s *State) HotCount(table string) int {
	n := 0
	for _, sc := range s.Hot[table] {
		if sc.Hot {
			n++
		}
	}
	return n
}

// New returns a Collector; it does nothing until Round or Run.
func New(o Options) (*Collector, error) {
	if o.Discoverer == nil || o.Scraper == nil {
		return nil, errors.New("collector: Discoverer and Scraper are required")
	}
	if o.Interval <= 0 || o.ScrapeTimeout <= 0 {
		return nil, fmt.Errorf("collector: interval %v and scrape timeout %v must be positive", o.Interval, o.ScrapeTimeout)
	}
	if o.MaxConcurrentScrapes <= 0 {
		o.MaxConcurrentScrapes = 16
	}
	if o.HistoryPoints <= 0 {
		o.HistoryPoints = 720
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	hot, err := hotspot.New(o.Hotspot)
	if err != nil {
		return nil, fmt.Errorf("collector: %w", err)
	}
	c := &Collector{
		opts: o, log: logging.WithComponent(logging.OrDiscard(o.Logger), "collector"), hot: hot,
		agg:  aggregate.New(aggregate.Options{SlowScrape: o.SlowScrape}),
		view: aggregate.View{Cluster: o.Cluster},
	}
	c.mu.history = newHistory(o.HistoryPoints)
	return c, nil
}

// Cluster returns the configured cluster name.
func (c *Collector) Cluster() string { return c.opts.Cluster }

// Interval returns the round interval.
func (c *Collector) Interval() time.Duration { return c.opts.Interval }

// Run runs a round at once and then every Interval until ctx ends. A slow
// round delays the next one rather than overlapping it.
func (c *Collector) Run(ctx context.Context) {
	t := time.NewTicker(c.opts.Interval)
	defer t.Stop()
	for {
		c.Round(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// RoundsStarted counts rounds started so far.
func (c *Collector) RoundsStarted() uint64 { return c.started.Load() }

// State returns the latest round's state, nil before the first round.
func (c *Collector) State() *State {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.mu.state
}

// Series returns a table's history.
func (c *Collector) Series(table string) (Series, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.mu.history.series(table)
}

// Round runs one round: discovery, a scrape of every node, aggregation
// and hotspot scoring. Node failures are recorded in the state, never
// returned; a discovery failure keeps the previous view. Round returns
// the new state.
func (c *Collector) Round(ctx context.Context) *State {
	c.roundMu.Lock()
	defer c.roundMu.Unlock()
	c.started.Add(1)
	start := c.opts.Clock()
	prev := c.State()
	st := &State{RoundStarted: start}
	if prev != nil {
		st.Round, st.DiscoveryErrors = prev.Round, prev.DiscoveryErrors
	}
	st.Round++

	dctx, cancel := context.WithTimeout(ctx, c.opts.ScrapeTimeout)
	view, err := c.opts.Discoverer.Discover(dctx)
	cancel()
	if err != nil {
		st.DiscoveryError = err.Error()
		st.DiscoveryErrors++
		c.log.Warn("discovery failed; using the previous view", logging.Err(err))
	} else {
		if view.Cluster == "" {
			view.Cluster = c.opts.Cluster
		}
		c.view = view
	}

	scrapes := c.scrapeAll(ctx, c.view.Nodes)
	now := c.opts.Clock()
	snap := c.agg.Add(now, c.view, scrapes)
	qps := make(map[string][]float64, len(snap.Tables))
	for _, t := range snap.Tables {
		qps[t.Name] = t.PartitionQPS
	}
	st.Hot = c.hot.Observe(qps)
	st.Snapshot = snap
	st.RoundSeconds = now.Sub(start).Seconds()
	hot := map[string]int{}
	for name := range st.Hot {
		hot[name] = st.HotCount(name)
	}

	c.mu.Lock()
	c.mu.state = st
	c.mu.history.add(snap, hot)
	c.mu.Unlock()
	return st
}

// scrapeAll scrapes every node concurrently, each within ScrapeTimeout.
func (c *Collector) scrapeAll(ctx context.Context, nodes []aggregate.Node) []aggregate.Scrape {
	out := make([]aggregate.Scrape, len(nodes))
	sem := make(chan struct{}, c.opts.MaxConcurrentScrapes)
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			sctx, cancel := context.WithTimeout(ctx, c.opts.ScrapeTimeout)
			defer cancel()
			begin := c.opts.Clock()
			page, err := c.opts.Scraper.Scrape(sctx, n.HTTPAddress)
			end := c.opts.Clock()
			out[i] = aggregate.Scrape{Node: n.Address, At: end, Duration: end.Sub(begin), Err: err, Page: page}
			if err != nil {
				c.log.Debug("scrape failed", logging.Node(n.Address), slog.String("role", n.Role), logging.Err(err))
			}
		}()
	}
	wg.Wait()
	return out
}
