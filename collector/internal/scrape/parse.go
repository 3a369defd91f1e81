package scrape

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// MaxPageBytes bounds the size of a /metrics page Parse and Scrape accept.
const MaxPageBytes = 32 << 20

// ErrPageTooLarge is returned for a page larger than MaxPageBytes.
var ErrPageTooLarge = errors.New("scrape: metrics page larger than MaxPageBytes")

// Kind is the type of a metric family.
type Kind int

// Metric family kinds.
const (
	Untyped Kind = iota
	Counter
	Gauge
	Histogram
	Summary
)

var kindNames = [...]string{"untyped", "counter", "gauge", "histogram", "summary"}

func (k Kind) String() string {
	if k < 0 || int(k) >= len(kindNames) {
		return fmt.Sprintf("Kind(%d)", int(k))
	}
	return kindNames[k]
}

// Bucket is one cumulative histogram bucket: Count observations were <=
// UpperBound.
type Bucket struct {
	UpperBound float64
	Count      float64
}

// Sample is one series of a family.
type Sample struct {
	Labels map[string]string
	// Value is the counter, gauge or untyped value; for a histogram or a
	// summary the sample sum.
	Value float64
	// Count and Buckets are set for histograms (Count for summaries too).
	Count   float64
	Buckets []Bucket
}

// Family is a metric family: every series of one name.
type Family struct {
	Name    string
	Kind    Kind
	Samples []Sample
}

// Page is a parsed /metrics page: families by name.
type Page map[string]*Family

// Family returns the family called name, or nil.
func (p Page) Family(name string) *Family {
	if p == nil {
		return nil
	}
	return p[name]
}

// Parse parses a page in the Prometheus text exposition format (version
// 0.0.4, as tally's prometheus reporter and client_golang write it).
func Parse(data []byte) (Page, error) {
	if len(data) > MaxPageBytes {
		return nil, ErrPageTooLarge
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("scrape: parse metrics page: %w", err)
	}
	page := make(Page, len(fams))
	for name, mf := range fams {
		page[name] = convert(name, mf)
	}
	return page, nil
}

// ReadPage reads at most MaxPageBytes from r and parses it.
func ReadPage(r io.Reader) (Page, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxPageBytes+1))
	if err != nil {
		return nil, fmt.Errorf("scrape: read metrics page: %w", err)
	}
	return Parse(data)
}

func convert(name string, mf *dto.MetricFamily) *Family {
	f := &Family{Name: name, Samples: make([]Sample, 0, len(mf.GetMetric()))}
	switch mf.GetType() {
	case dto.MetricType_COUNTER:
		f.Kind = Counter
	case dto.MetricType_GAUGE:
		f.Kind = Gauge
	case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
		f.Kind = Histogram
	case dto.MetricType_SUMMARY:
		f.Kind = Summary
	default:
		f.Kind = Untyped
	}
	for _, m := range mf.GetMetric() {
		s := Sample{Labels: make(map[string]string, len(m.GetLabel()))}
		for _, lp := range m.GetLabel() {
			s.Labels[lp.GetName()] = lp.GetValue()
		}
		switch f.Kind {
		case Counter:
			s.Value = m.GetCounter().GetValue()
		case Gauge:
			s.Value = m.GetGauge().GetValue()
		case Histogram:
			h := m.GetHistogram()
			s.Value = h.GetSampleSum()
			s.Count = float64(h.GetSampleCount())
			if h.SampleCountFloat != nil {
				s.Count = h.GetSampleCountFloat()
			}
			for _, b := range h.GetBucket() {
				c := float64(b.GetCumulativeCount())
				if b.CumulativeCountFloat != nil {
					c = b.GetCumulativeCountFloat()
				}
				s.Buckets = append(s.Buckets, Bucket{UpperBound: b.GetUpperBound(), Count: c})
			}
			slices.SortFunc(s.Buckets, func(a, b Bucket) int {
				switch {
				case a.UpperBound < b.UpperBound:
					return -1
				case a.UpperBound > b.UpperBound:
					return 1
				}
				return 0
			})
			if n := len(s.Buckets); n == 0 || !math.IsInf(s.Buckets[n-1].UpperBound, 1) {
				s.Buckets = append(s.Buckets, Bucket{UpperBound: math.Inf(1), Count: s.Count})
			}
		case Summary:
			s.Value = m.GetSummary().GetSampleSum()
			s.Count = float64(m.GetSummary().GetSampleCount())
		default:
			s.Value = m.GetUntyped().GetValue()
		}
		f.Samples = append(f.Samples, s)
	}
	return f
}
