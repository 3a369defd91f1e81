package ycsb

import (
	"context"
	"sync"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	"github.com/pingcap/go-ycsb/pkg/ycsb"
)

// Operation names, as go-ycsb's own measurement spells them.
const (
	OpRead   = "READ"
	OpUpdate = "UPDATE"
	OpInsert = "INSERT"
	OpScan   = "SCAN"
	OpDelete = "DELETE"
)

type opKind int

const (
	opRead opKind = iota
	opUpdate
	opInsert
	opScan
	opDelete
	numOps
)

var opNames = [numOps]string{OpRead, OpUpdate, OpInsert, OpScan, OpDelete}

// Latencies are recorded in nanoseconds from 1 ns to maxLatency with three
// significant digits; slower calls are recorded as maxLatency.
const maxLatency = int64(10 * time.Minute)

func newHistogram() *hdrhistogram.Histogram { return hdrhistogram.New(1, maxLatency, 3) }

// Recorder is a ycsb.DB that times every call of the binding it wraps.
// Each worker thread records into its own histograms (created in
// InitThread, merged in CleanupThread), so recording takes no lock.
//
// A call that fails after the run's context has ended is dropped: the run's
// deadline cancelled it. Every other failure counts as an error of its
// operation and is not timed.
type Recorder struct {
	db     ycsb.DB
	runCtx context.Context

	mu struct {
		sync.Mutex
		hists    [numOps]*hdrhistogram.Histogram
		errs     [numOps]int64
		firstErr error
	}
}

// threadRecorder is one worker thread's share, reached through its context.
type threadRecorder struct {
	hists    [numOps]*hdrhistogram.Histogram
	errs     [numOps]int64
	firstErr error
}

type threadKey struct{}

// NewRecorder wraps db. runCtx is the run's context: failures after it
// ends are not counted.
func NewRecorder(db ycsb.DB, runCtx context.Context) *Recorder {
	return &Recorder{db: db, runCtx: runCtx}
}

// Close implements ycsb.DB.
func (r *Recorder) Close() error { return r.db.Close() }

// InitThread implements ycsb.DB.
func (r *Recorder) InitThread(ctx context.Context, threadID, threadCount int) context.Context {
	ctx = r.db.InitThread(ctx, threadID, threadCount)
	return context.WithValue(ctx, threadKey{}, &threadRecorder{})
}

// CleanupThread implements ycsb.DB: it merges the thread's figures.
func (r *Recorder) CleanupThread(ctx context.Context) {
	r.db.CleanupThread(ctx)
	t, ok := ctx.Value(threadKey{}).(*threadRecorder)
	if !ok {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range numOps {
		r.mu.errs[i] += t.errs[i]
		if t.hists[i] == nil {
			continue
		}
		if r.mu.hists[i] == nil {
			r.mu.hists[i] = newHistogram()
		}
		r.mu.hists[i].Merge(t.hists[i])
	}
	if r.mu.firstErr == nil {
		r.mu.firstErr = t.firstErr
	}
}

func (r *Recorder) record(ctx context.Context, op opKind, start time.Time, err error) {
	d := time.Since(start)
	t, ok := ctx.Value(threadKey{}).(*threadRecorder)
	if !ok {
		return
	}
	if err != nil {
		if r.runCtx.Err() != nil {
			return
		}
		t.errs[op]++
		if t.firstErr == nil {
			t.firstErr = err
		}
		return
	}
	h := t.hists[op]
	if h == nil {
		h = newHistogram()
		t.hists[op] = h
	}
	_ = h.RecordValue(min(max(int64(d), 1), maxLatency))
}

// Read implements ycsb.DB.
func (r *Recorder) Read(ctx context.Context, table, key string, fields []string) (map[string][]byte, error) {
	start := time.Now()
	v, err := r.db.Read(ctx, table, key, fields)
	r.record(ctx, opRead, start, err)
	return v, err
}

// Scan implements ycsb.DB.
func (r *Recorder) Scan(ctx context.Context, table, startKey string, count int, fields []string) ([]map[string][]byte, error) {
	start := time.Now()
	v, err := r.db.Scan(ctx, table, startKey, count, fields)
	r.record(ctx, opScan, start, err)
	return v, err
}

// Update implements ycsb.DB.
func (r *Recorder) Update(ctx context.Context, table, key string, values map[string][]byte) error {
	start := time.Now()
	err := r.db.Update(ctx, table, key, values)
	r.record(ctx, opUpdate, start, err)
	return err
}

// Insert implements ycsb.DB.
func (r *Recorder) Insert(ctx context.Context, table, key string, values map[string][]byte) error {
	start := time.Now()
	err := r.db.Insert(ctx, table, key, values)
	r.record(ctx, opInsert, start, err)
	return err
}

// Delete implements ycsb.DB.
func (r *Recorder) Delete(ctx context.Context, table, key string) error {
	start := time.Now()
	err := r.db.Delete(ctx, table, key)
	r.record(ctx, opDelete, start, err)
	return err
}

// Latency summarises the successful calls of one operation (or of all).
type Latency struct {
	Count  int64   `json:"count"`
	Errors int64   `json:"errors"`
	MeanUs float64 `json:"mean_us"`
	P50Us  float64 `json:"p50_us"`
	P99Us  float64 `json:"p99_us"`
	P999Us float64 `json:"p999_us"`
	MaxUs  float64 `json:"max_us"`
}

func summarize(h *hdrhistogram.Histogram, errs int64) Latency {
	us := func(ns int64) float64 { return float64(ns) / 1e3 }
	return Latency{
		Count:  h.TotalCount(),
		Errors: errs,
		MeanUs: h.Mean() / 1e3,
		P50Us:  us(h.ValueAtQuantile(50)),
		P99Us:  us(h.ValueAtQuantile(99)),
		P999Us: us(h.ValueAtQuantile(99.9)),
		MaxUs:  us(h.Max()),
	}
}

// Summary returns the figures of every operation that ran, by name, and
// of all operations together. Call it after the run (after every
// CleanupThread).
func (r *Recorder) Summary() (all Latency, perOp map[string]Latency, firstErr error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	total := newHistogram()
	var totalErrs int64
	perOp = make(map[string]Latency)
	for i := range numOps {
		h, errs := r.mu.hists[i], r.mu.errs[i]
		if h == nil && errs == 0 {
			continue
		}
		if h == nil {
			h = newHistogram()
		}
		total.Merge(h)
		totalErrs += errs
		perOp[opNames[i]] = summarize(h, errs)
	}
	return summarize(total, totalErrs), perOp, r.mu.firstErr
}
