package ycsb_test

import (
	"context"
	"errors"
	"testing"
	"time"

	goycsb "github.com/pingcap/go-ycsb/pkg/ycsb"

	_ "github.com/pegasus-go/pegasus/tools/bench/bindings"
	"github.com/pegasus-go/pegasus/tools/bench/ycsb"
)

// The runs here use one thread: go-ycsb's generators record their last
// value without synchronisation (harmless for these workloads, but the race
// detector reports it), and one thread still covers the whole path.
func TestRunPebbleLoadThenWorkloads(t *testing.T) {
	dir := t.TempDir()
	props := map[string]string{"pebble.dir": dir}
	load, err := ycsb.Run(context.Background(), ycsb.Config{Binding: "pebble", Workload: "load", Threads: 1, Records: 500, Properties: props})
	if err != nil {
		t.Fatal(err)
	}
	if load.Ops != 501 || load.Errors != 0 || load.PerOp[ycsb.OpInsert].Count != 501 {
		t.Fatalf("load: %+v", load)
	}
	if load.OpsPerSec <= 0 || load.Latency.P50Us <= 0 || load.Latency.P99Us < load.Latency.P50Us {
		t.Fatalf("load figures: %+v", load)
	}
	for _, w := range []string{"a", "c", "e"} {
		r, err := ycsb.Run(context.Background(), ycsb.Config{Binding: "pebble", Workload: w, Threads: 1, Records: 500, Ops: 2000, Properties: props})
		if err != nil {
			t.Fatal(err)
		}
		if r.Errors != 0 || r.Ops != 2000 {
			t.Fatalf("workload %s: ops %d errors %d (%s)", w, r.Ops, r.Errors, r.FirstError)
		}
		switch w {
		case "a":
			if r.PerOp[ycsb.OpRead].Count == 0 || r.PerOp[ycsb.OpUpdate].Count == 0 {
				t.Fatalf("workload a mix: %+v", r.PerOp)
			}
		case "c":
			if r.PerOp[ycsb.OpRead].Count != 2000 {
				t.Fatalf("workload c mix: %+v", r.PerOp)
			}
		case "e":
			if r.PerOp[ycsb.OpScan].Count == 0 {
				t.Fatalf("workload e mix: %+v", r.PerOp)
			}
		}
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []ycsb.Config{
		{Binding: "", Workload: "a", Threads: 1, Records: 1, Ops: 1},
		{Binding: "no-such-binding", Workload: "a", Threads: 1, Records: 1, Ops: 1},
		{Binding: "pebble", Workload: "z", Threads: 1, Records: 1, Ops: 1},
		{Binding: "pebble", Workload: "a", Threads: 0, Records: 1, Ops: 1},
		{Binding: "pebble", Workload: "a", Threads: 4, Records: 100, Ops: 3},
		{Binding: "pebble", Workload: "load", Threads: 4, Records: 3},
		{Binding: "pebble", Workload: "a", Threads: 1, Records: 1, Ops: 1, MaxDuration: -time.Second},
	} {
		if err := c.Validate(); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}

// failingDB fails every read with errRead and blocks updates until their
// context ends.
type failingDB struct{ goycsb.DB }

var errRead = errors.New("read failed")

func (failingDB) InitThread(ctx context.Context, _, _ int) context.Context { return ctx }
func (failingDB) CleanupThread(context.Context)                            {}
func (failingDB) Read(context.Context, string, string, []string) (map[string][]byte, error) {
	return nil, errRead
}
func (failingDB) Update(ctx context.Context, _ string, _ string, _ map[string][]byte) error {
	<-ctx.Done()
	return ctx.Err()
}
func (failingDB) Insert(context.Context, string, string, map[string][]byte) error { return nil }

func TestRecorderCountsErrorsAndDropsCancelledCalls(t *testing.T) {
	runCtx, cancel := context.WithCancel(context.Background())
	rec := ycsb.NewRecorder(failingDB{}, runCtx)
	ctx := rec.InitThread(runCtx, 0, 1)
	for range 3 {
		if _, err := rec.Read(ctx, "t", "k", nil); !errors.Is(err, errRead) {
			t.Fatalf("read: %v", err)
		}
	}
	if err := rec.Insert(ctx, "t", "k", nil); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := rec.Update(ctx, "t", "k", nil); err == nil {
		t.Fatal("update after cancel succeeded")
	}
	rec.CleanupThread(ctx)
	all, perOp, first := rec.Summary()
	if all.Count != 1 || all.Errors != 3 || !errors.Is(first, errRead) {
		t.Fatalf("all %+v first %v", all, first)
	}
	if perOp[ycsb.OpRead].Errors != 3 || perOp[ycsb.OpInsert].Count != 1 {
		t.Fatalf("per op %+v", perOp)
	}
	if _, ok := perOp[ycsb.OpUpdate]; ok {
		t.Fatalf("the cancelled update was counted: %+v", perOp)
	}
}

func TestPropertiesOverrideWorkload(t *testing.T) {
	// Extra properties override the workload's: a zero read proportion
	// with a full update proportion turns C into writes only.
	dir := t.TempDir()
	props := map[string]string{"pebble.dir": dir, "readproportion": "0", "updateproportion": "1"}
	if _, err := ycsb.Run(context.Background(), ycsb.Config{Binding: "pebble", Workload: "load", Threads: 1, Records: 50, Properties: map[string]string{"pebble.dir": dir}}); err != nil {
		t.Fatal(err)
	}
	r, err := ycsb.Run(context.Background(), ycsb.Config{Binding: "pebble", Workload: "c", Threads: 1, Records: 50, Ops: 100, Properties: props})
	if err != nil {
		t.Fatal(err)
	}
	if r.PerOp[ycsb.OpUpdate].Count != 100 || r.PerOp[ycsb.OpRead].Count != 0 {
		t.Fatalf("per op %+v", r.PerOp)
	}
}
