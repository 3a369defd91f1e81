package metrics

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	tally "github.com/uber-go/tally/v4"
	promreporter "github.com/uber-go/tally/v4/prometheus"
)

// CounterSuffix ends the exposed name of every counter.
const CounterSuffix = "_total"

// DefaultReportInterval is how often counters, gauges and value histograms
// are pushed from tally into the Prometheus registry when
// Options.ReportInterval is zero. Timers are recorded directly.
const DefaultReportInterval = time.Second

// CounterName returns the name under which a tally counter called name is
// exposed: name with CounterSuffix appended unless it already ends with it.
// Callers use the plain name with Scope().Counter and this function where
// they need the exposed name (scrapers, dashboards, tests).
func CounterName(name string) string {
	if strings.HasSuffix(name, CounterSuffix) {
		return name
	}
	return name + CounterSuffix
}

// LatencyBuckets returns the upper bounds, in seconds, of the histogram
// buckets used for timers: 1-2.5-5 steps from 10µs to 10s (19 buckets, plus
// Prometheus' implicit +Inf). It returns a new slice on each call.
func LatencyBuckets() []float64 {
	return []float64{
		10e-6, 25e-6, 50e-6,
		100e-6, 250e-6, 500e-6,
		1e-3, 2.5e-3, 5e-3,
		10e-3, 25e-3, 50e-3,
		100e-3, 250e-3, 500e-3,
		1, 2.5, 5,
		10,
	}
}

// Options configure a Registry. The zero value is usable.
type Options struct {
	// Prefix is prepended to every metric name, joined with "_" (e.g.
	// "pegasus" makes "pegasus_dup_shipped_ops_total"). Empty means none.
	Prefix string
	// Tags are labels attached to every metric of the registry (e.g. the
	// node address). Keys are sanitized like names.
	Tags map[string]string
	// ReportInterval is how often buffered tally values (counters, gauges,
	// value histograms) are pushed into the Prometheus registry, i.e. how
	// stale a scrape may be. Zero means DefaultReportInterval.
	ReportInterval time.Duration
	// TimerBuckets are the histogram bucket upper bounds, in seconds, of
	// every timer, and the default buckets of Scope().Histogram with nil
	// buckets. Nil means LatencyBuckets(). They must be strictly increasing.
	TimerBuckets []float64
	// RuntimeMetrics adds the Go runtime (go_*) and process (process_*)
	// collectors to the registry.
	RuntimeMetrics bool
	// Logger receives metric registration failures and exposition errors.
	// Nil discards them.
	Logger *slog.Logger
}

// Registry is one metrics instance: a tally root scope whose metrics are
// exposed, with tags as labels, by a private Prometheus registry. Several
// Registries can live in one process (several daemons in one integration
// test) without sharing or clashing: nothing is registered globally.
//
// A Registry is safe for concurrent use.
type Registry struct {
	scope     tally.Scope
	closer    io.Closer
	reg       *prometheus.Registry
	handler   http.Handler
	log       *slog.Logger
	regErrors atomic.Int64
	closeOnce sync.Once
	closeErr  error
}

// New creates a Registry and starts its report loop; Close stops it.
func New(opts Options) (*Registry, error) {
	if opts.ReportInterval < 0 {
		return nil, fmt.Errorf("metrics: negative report interval %v", opts.ReportInterval)
	}
	if opts.ReportInterval == 0 {
		opts.ReportInterval = DefaultReportInterval
	}
	buckets := opts.TimerBuckets
	if buckets == nil {
		buckets = LatencyBuckets()
	}
	if len(buckets) == 0 {
		return nil, errors.New("metrics: empty timer buckets")
	}
	for i := 1; i < len(buckets); i++ {
		if !(buckets[i] > buckets[i-1]) {
			return nil, fmt.Errorf("metrics: timer buckets not strictly increasing at index %d (%v after %v)", i, buckets[i], buckets[i-1])
		}
	}
	buckets = slices.Clone(buckets)
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}

	r := &Registry{reg: prometheus.NewRegistry(), log: log}
	if opts.RuntimeMetrics {
		if err := r.reg.Register(collectors.NewGoCollector()); err != nil {
			return nil, fmt.Errorf("metrics: register Go collector: %w", err)
		}
		if err := r.reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
			return nil, fmt.Errorf("metrics: register process collector: %w", err)
		}
	}
	rep := promreporter.NewReporter(promreporter.Options{
		Registerer:              r.reg,
		Gatherer:                r.reg,
		DefaultTimerType:        promreporter.HistogramTimerType,
		DefaultHistogramBuckets: buckets,
		OnRegisterError:         r.onRegisterError,
	})
	durations := make(tally.DurationBuckets, len(buckets))
	for i, b := range buckets {
		durations[i] = time.Duration(b * float64(time.Second))
	}
	r.scope, r.closer = tally.NewRootScope(tally.ScopeOptions{
		Prefix:                 opts.Prefix,
		Tags:                   opts.Tags,
		CachedReporter:         exposeReporter{rep},
		Separator:              "_",
		DefaultBuckets:         durations,
		SanitizeOptions:        &sanitizeOptions,
		OmitCardinalityMetrics: true,
	}, opts.ReportInterval)
	r.handler = promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{
		ErrorLog:      promLogger{log},
		ErrorHandling: promhttp.ContinueOnError,
	})
	return r, nil
}

// Scope returns the root tally scope. Derive per-component scopes with
// SubScope (prefix joined with "_") and Tagged (labels). A metric name must
// keep one label-key set in the whole registry: asking for the same name
// with a different set of tag keys (or as a different metric type) fails to
// register; that metric then records nothing, the failure is logged and
// counted in RegistrationErrors, and nothing panics.
func (r *Registry) Scope() tally.Scope { return r.scope }

// Handler serves the registry in the Prometheus text exposition format; it
// is what /metrics mounts.
func (r *Registry) Handler() http.Handler { return r.handler }

// Gatherer returns the private Prometheus registry for reading.
func (r *Registry) Gatherer() prometheus.Gatherer { return r.reg }

// Registerer returns the private Prometheus registry, for native Prometheus
// collectors that have no tally equivalent.
func (r *Registry) Registerer() prometheus.Registerer { return r.reg }

// RegistrationErrors is the number of metrics that could not be registered
// (conflicting label sets or types, invalid names) since New.
func (r *Registry) RegistrationErrors() int64 { return r.regErrors.Load() }

// Close stops the report loop after a final report, so every value recorded
// before Close is visible to later scrapes. The handler keeps serving the
// final values. Close is idempotent.
func (r *Registry) Close() error {
	r.closeOnce.Do(func() { r.closeErr = r.closer.Close() })
	return r.closeErr
}

func (r *Registry) onRegisterError(err error) {
	r.regErrors.Add(1)
	r.log.Error("metric registration failed; the metric will not be exported", slog.String("error", err.Error()))
}

// exposeReporter fixes up what tally's character sanitizer cannot: it
// appends CounterSuffix to counter names, so counters follow the Prometheus
// convention while code keeps Pegasus' metric names, and it prefixes names
// and label keys that start with a digit with '_', so every name is a
// classic Prometheus identifier.
type exposeReporter struct {
	promreporter.Reporter
}

func (e exposeReporter) AllocateCounter(name string, tags map[string]string) tally.CachedCount {
	return e.Reporter.AllocateCounter(CounterName(identifier(name)), identifierKeys(tags))
}

func (e exposeReporter) AllocateGauge(name string, tags map[string]string) tally.CachedGauge {
	return e.Reporter.AllocateGauge(identifier(name), identifierKeys(tags))
}

func (e exposeReporter) AllocateTimer(name string, tags map[string]string) tally.CachedTimer {
	return e.Reporter.AllocateTimer(identifier(name), identifierKeys(tags))
}

func (e exposeReporter) AllocateHistogram(name string, tags map[string]string, b tally.Buckets) tally.CachedHistogram {
	return e.Reporter.AllocateHistogram(identifier(name), identifierKeys(tags), b)
}

// identifier makes an already character-sanitized name start with a letter
// or underscore.
func identifier(s string) string {
	if s == "" || (s[0] >= '0' && s[0] <= '9') {
		return "_" + s
	}
	return s
}

func identifierKeys(tags map[string]string) map[string]string {
	for k := range tags {
		if identifier(k) != k {
			out := make(map[string]string, len(tags))
			for k, v := range tags {
				out[identifier(k)] = v
			}
			return out
		}
	}
	return tags
}

// sanitizeOptions make names and label keys valid Prometheus identifiers
// (letters, digits, underscore; anything else becomes '_') and replace
// invalid UTF-8 in label values, which Prometheus rejects; other characters
// of label values (dots, colons in addresses) are kept.
var sanitizeOptions = tally.SanitizeOptions{
	NameCharacters: tally.ValidCharacters{Ranges: tally.AlphanumericRange, Characters: tally.UnderscoreCharacters},
	KeyCharacters:  tally.ValidCharacters{Ranges: tally.AlphanumericRange, Characters: tally.UnderscoreCharacters},
	ValueCharacters: tally.ValidCharacters{Ranges: []tally.SanitizeRange{
		{0, unicode.ReplacementChar - 1},
		{unicode.ReplacementChar + 1, unicode.MaxRune},
	}},
	ReplacementCharacter: tally.DefaultReplacementCharacter,
}

// promLogger adapts slog to promhttp's error log.
type promLogger struct{ log *slog.Logger }

func (p promLogger) Println(v ...any) {
	p.log.Error("metrics exposition error", slog.String("error", strings.TrimSpace(fmt.Sprintln(v...))))
}
