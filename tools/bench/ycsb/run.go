package ycsb

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/magiconair/properties"
	"github.com/pingcap/go-ycsb/pkg/client"
	"github.com/pingcap/go-ycsb/pkg/measurement"
	_ "github.com/pingcap/go-ycsb/pkg/workload" // registers the core workload
	"github.com/pingcap/go-ycsb/pkg/ycsb"
)

// Config describes one run.
type Config struct {
	// Binding is the registered go-ycsb binding ("pegasus", "etcd", ...).
	Binding string
	// Workload is "load" or one of "a".."f" (see Workloads).
	Workload string
	// Threads is the number of client threads (go-ycsb workers).
	Threads int
	// Records is the number of records the workloads address (go-ycsb's
	// recordcount); load inserts keys 0..Records, one more than that,
	// because go-ycsb's zipfian chooser includes key Records.
	Records int64
	// Ops is the number of operations of a transaction run; ignored by
	// load, which inserts Records records.
	Ops int64
	// MaxDuration ends the run early; 0 means no limit.
	MaxDuration time.Duration
	// Properties are extra go-ycsb properties (binding settings such as
	// etcd.endpoints), applied after the workload's and overriding them.
	Properties map[string]string
}

// Validate reports the first invalid field.
func (c *Config) Validate() error {
	switch {
	case c.Binding == "":
		return errors.New("binding is empty")
	case ycsb.GetDBCreator(c.Binding) == nil:
		return fmt.Errorf("binding %q is not registered", c.Binding)
	case c.Threads <= 0:
		return fmt.Errorf("threads %d is not positive", c.Threads)
	case c.Records < int64(c.Threads):
		return fmt.Errorf("records %d is below the thread count %d", c.Records, c.Threads)
	case c.Workload != WorkloadLoad && c.Ops < int64(c.Threads):
		return fmt.Errorf("ops %d is below the thread count %d", c.Ops, c.Threads)
	case c.MaxDuration < 0:
		return fmt.Errorf("max duration %v is negative", c.MaxDuration)
	}
	_, err := workloadProperties(c.Workload, c.Records, c.Ops, c.Threads)
	return err
}

// Result is the outcome of one run.
type Result struct {
	// System labels what was measured (e.g. "pegasus-fsync"); Round
	// numbers repetitions. Both are set by the caller.
	System string `json:"system"`
	Round  int    `json:"round"`

	Binding  string    `json:"binding"`
	Workload string    `json:"workload"`
	Threads  int       `json:"threads"`
	Records  int64     `json:"records"`
	Start    time.Time `json:"start"`
	// Seconds is the wall time from the first thread started to the last
	// one done.
	Seconds float64 `json:"seconds"`
	// Ops counts successful operations, Errors failed ones.
	Ops    int64 `json:"ops"`
	Errors int64 `json:"errors"`
	// OpsPerSec is Ops / Seconds.
	OpsPerSec float64 `json:"ops_per_sec"`
	// Latency covers every successful operation; PerOp each kind.
	Latency    Latency            `json:"latency"`
	PerOp      map[string]Latency `json:"per_op"`
	FirstError string             `json:"first_error,omitempty"`
}

// Run executes one workload against the binding and returns its result.
// The binding is created from the properties, used by cfg.Threads
// workers, and closed before Run returns. ctx cancels the run.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	base, err := workloadProperties(cfg.Workload, cfg.Records, cfg.Ops, cfg.Threads)
	if err != nil {
		return nil, err
	}
	p := properties.NewProperties()
	set := func(k, v string) error {
		if _, _, err := p.Set(k, v); err != nil {
			return fmt.Errorf("property %s=%q: %w", k, v, err)
		}
		return nil
	}
	for k, v := range base {
		if err := set(k, v); err != nil {
			return nil, err
		}
	}
	for k, v := range cfg.Properties {
		if err := set(k, v); err != nil {
			return nil, err
		}
	}

	// go-ycsb's worker loop reads its global measurement state (warm-up
	// flag, periodic summaries) even though the Recorder does the timing.
	measurement.InitMeasure(p)

	wl, err := ycsb.GetWorkloadCreator("core").Create(p)
	if err != nil {
		return nil, fmt.Errorf("create workload %s: %w", cfg.Workload, err)
	}
	defer wl.Close()
	db, err := ycsb.GetDBCreator(cfg.Binding).Create(p)
	if err != nil {
		return nil, fmt.Errorf("create binding %s: %w", cfg.Binding, err)
	}

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	if cfg.MaxDuration > 0 {
		runCtx, cancel = context.WithTimeout(runCtx, cfg.MaxDuration)
		defer cancel()
	}
	rec := NewRecorder(db, runCtx)
	start := time.Now()
	client.NewClient(p, wl, rec).Run(runCtx)
	elapsed := time.Since(start)
	cerr := rec.Close()

	all, perOp, firstErr := rec.Summary()
	res := &Result{
		Binding:  cfg.Binding,
		Workload: cfg.Workload,
		Threads:  cfg.Threads,
		Records:  cfg.Records,
		Start:    start.UTC(),
		Seconds:  elapsed.Seconds(),
		Ops:      all.Count,
		Errors:   all.Errors,
		Latency:  all,
		PerOp:    perOp,
	}
	if elapsed > 0 {
		res.OpsPerSec = float64(all.Count) / elapsed.Seconds()
	}
	if firstErr != nil {
		res.FirstError = firstErr.Error()
	}
	if cerr != nil {
		return res, fmt.Errorf("close binding %s: %w", cfg.Binding, cerr)
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	return res, nil
}
