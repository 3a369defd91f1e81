package probe

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pegasus-go/pegasus/shared/keyschema"
	"github.com/pegasus-go/pegasus/shared/logging"
	"github.com/pegasus-go/pegasus/shared/metrics"
)

// Store is the probe table as the prober uses it.
type Store interface {
	Set(ctx context.Context, hashKey, sortKey, value []byte) error
	Get(ctx context.Context, hashKey, sortKey []byte) ([]byte, error)
}

// Setup makes sure the probe table exists and opens it, returning its
// partition count.
type Setup interface {
	Ensure(ctx context.Context) (Store, int32, error)
}

// Operations the probe runs.
const (
	OpSet = "set"
	OpGet = "get"
)

// sortKey is the sort key of every probe record.
var sortKey = []byte("collector_probe")

// maxKeySearch bounds the search for hash keys covering every partition.
const maxKeySearch = 1 << 22

// Options configure a Prober.
type Options struct {
	Cluster string
	Setup   Setup
	// Interval between rounds (Run); Timeout bounds each request.
	Interval, Timeout time.Duration
	// Registerer receives the probe's metrics; nil registers none.
	Registerer prometheus.Registerer
	Clock      func() time.Time
	Logger     *slog.Logger
}

// Status is the prober's latest state, for the dashboard.
type Status struct {
	Enabled    bool                `json:"enabled"`
	Partitions int32               `json:"partitions"`
	Rounds     uint64              `json:"rounds"`
	LastRound  time.Time           `json:"last_round"`
	LastError  string              `json:"last_error,omitempty"`
	Ops        map[string]OpStatus `json:"ops"`
}

// OpStatus is one operation's figures.
type OpStatus struct {
	Requests uint64 `json:"requests"`
	Failures uint64 `json:"failures"`
	// SuccessRatio is over the latest round.
	SuccessRatio float64 `json:"success_ratio"`
	// MaxLatencyMs is the slowest request of the latest round.
	MaxLatencyMs float64 `json:"max_latency_ms"`
}

// Prober probes one cluster.
type Prober struct {
	opts Options
	log  *slog.Logger

	store Store
	keys  [][]byte

	requests, failures *prometheus.CounterVec
	ratio              *prometheus.GaugeVec
	latency            *prometheus.HistogramVec
	rounds             prometheus.Counter

	mu     sync.Mutex
	status Status
}

// New returns a Prober and registers its metrics.
func New(o Options) (*Prober, error) {
	if o.Setup == nil {
		return nil, errors.New("probe: Setup is required")
	}
	if o.Interval <= 0 || o.Timeout <= 0 {
		return nil, fmt.Errorf("probe: interval %v and timeout %v must be positive", o.Interval, o.Timeout)
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	cl := prometheus.Labels{"cluster": o.Cluster}
	p := &Prober{
		opts: o, log: logging.WithComponent(logging.OrDiscard(o.Logger), "probe"),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pegasus_probe_requests_total", Help: "Availability probe requests sent, by operation.", ConstLabels: cl,
		}, []string{"op"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pegasus_probe_failures_total", Help: "Availability probe requests that failed or read a wrong value, by operation.", ConstLabels: cl,
		}, []string{"op"}),
		ratio: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "pegasus_probe_success_ratio", Help: "Share of the latest probe round's requests that succeeded, by operation (0..1).", ConstLabels: cl,
		}, []string{"op"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "pegasus_probe_latency_seconds", Help: "Latency of availability probe requests, by operation.", ConstLabels: cl,
			Buckets: metrics.LatencyBuckets(),
		}, []string{"op"}),
		rounds: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pegasus_probe_rounds_total", Help: "Availability probe rounds run.", ConstLabels: cl,
		}),
		status: Status{Enabled: true, Ops: map[string]OpStatus{OpSet: {}, OpGet: {}}},
	}
	for _, op := range []string{OpSet, OpGet} {
		p.requests.WithLabelValues(op)
		p.failures.WithLabelValues(op)
		p.ratio.WithLabelValues(op)
		p.latency.WithLabelValues(op)
	}
	if o.Registerer != nil {
		for _, c := range []prometheus.Collector{p.requests, p.failures, p.ratio, p.latency, p.rounds} {
			if err := o.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("probe: register metrics: %w", err)
			}
		}
	}
	return p, nil
}

// Run runs a round at once and then every Interval until ctx ends.
func (p *Prober) Run(ctx context.Context) {
	t := time.NewTicker(p.opts.Interval)
	defer t.Stop()
	for {
		p.Round(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Status returns a copy of the latest status.
func (p *Prober) Status() Status {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.status
	s.Ops = make(map[string]OpStatus, len(p.status.Ops))
	for k, v := range p.status.Ops {
		s.Ops[k] = v
	}
	return s
}

// KeysFor returns hash keys k[0..n-1] with k[i] in partition i.
func KeysFor(n int32) ([][]byte, error) {
	if n <= 0 || n > 1<<16 {
		return nil, fmt.Errorf("probe: partition count %d out of range", n)
	}
	keys := make([][]byte, n)
	missing := int(n)
	for i := 0; missing > 0; i++ {
		if i >= maxKeySearch {
			return nil, fmt.Errorf("probe: no hash key found for %d of %d partitions", missing, n)
		}
		hk := []byte("probe." + strconv.Itoa(i))
		idx, err := keyschema.PartitionIndex(keyschema.Hash(hk, sortKey), n)
		if err != nil {
			return nil, err
		}
		if keys[idx] == nil {
			keys[idx] = hk
			missing--
		}
	}
	return keys, nil
}

type roundResult struct {
	requests, failures uint64
	maxLatency         time.Duration
}

// Round runs one probe round and returns the error of its setup or of its
// first failed request, if any.
func (p *Prober) Round(ctx context.Context) error {
	res := map[string]*roundResult{OpSet: {}, OpGet: {}}
	err := p.round(ctx, res)
	p.rounds.Inc()
	if err != nil {
		p.log.Warn("probe round failed", logging.Err(err))
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.status.Rounds++
	p.status.LastRound = p.opts.Clock()
	p.status.LastError = ""
	if err != nil {
		p.status.LastError = err.Error()
	}
	for op, r := range res {
		if r.requests == 0 { // setup failed
			r.requests, r.failures = 1, 1
			p.requests.WithLabelValues(op).Inc()
			p.failures.WithLabelValues(op).Inc()
		}
		ratio := float64(r.requests-r.failures) / float64(r.requests)
		p.ratio.WithLabelValues(op).Set(ratio)
		s := p.status.Ops[op]
		s.Requests += r.requests
		s.Failures += r.failures
		s.SuccessRatio = ratio
		s.MaxLatencyMs = float64(r.maxLatency) / float64(time.Millisecond)
		p.status.Ops[op] = s
	}
	return err
}

func (p *Prober) round(ctx context.Context, res map[string]*roundResult) error {
	if p.store == nil {
		sctx, cancel := context.WithTimeout(ctx, 4*p.opts.Timeout)
		store, n, err := p.opts.Setup.Ensure(sctx)
		cancel()
		if err != nil {
			return fmt.Errorf("probe table: %w", err)
		}
		keys, err := KeysFor(n)
		if err != nil {
			return err
		}
		p.store, p.keys = store, keys
		p.mu.Lock()
		p.status.Partitions = n
		p.mu.Unlock()
	}
	var first error
	note := func(err error) {
		if first == nil {
			first = err
		}
	}
	stamp := strconv.FormatInt(p.opts.Clock().UnixNano(), 10)
	for i, hk := range p.keys {
		value := []byte(stamp + "." + strconv.Itoa(i))
		err := p.do(ctx, OpSet, res[OpSet], func(ctx context.Context) error {
			return p.store.Set(ctx, hk, sortKey, value)
		})
		if err != nil {
			note(fmt.Errorf("set in partition %d: %w", i, err))
			continue
		}
		err = p.do(ctx, OpGet, res[OpGet], func(ctx context.Context) error {
			got, err := p.store.Get(ctx, hk, sortKey)
			if err == nil && !bytes.Equal(got, value) {
				err = fmt.Errorf("read %q, wrote %q", got, value)
			}
			return err
		})
		if err != nil {
			note(fmt.Errorf("get in partition %d: %w", i, err))
		}
	}
	return first
}

func (p *Prober) do(ctx context.Context, op string, r *roundResult, fn func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, p.opts.Timeout)
	defer cancel()
	start := p.opts.Clock()
	err := fn(ctx)
	d := p.opts.Clock().Sub(start)
	r.requests++
	r.maxLatency = max(r.maxLatency, d)
	p.requests.WithLabelValues(op).Inc()
	p.latency.WithLabelValues(op).Observe(d.Seconds())
	if err != nil {
		r.failures++
		p.failures.WithLabelValues(op).Inc()
	}
	return err
}
