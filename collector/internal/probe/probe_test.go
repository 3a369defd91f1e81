package probe

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/pegasus-go/pegasus/shared/keyschema"
)

type fakeStore struct {
	mu       sync.Mutex
	data     map[string][]byte
	failSet  map[string]bool // hash keys whose Set fails
	corrupt  map[string]bool // hash keys whose Get returns a wrong value
	setCalls int
}

func (s *fakeStore) Set(_ context.Context, hk, _, v []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setCalls++
	if s.failSet[string(hk)] {
		return errors.New("no primary")
	}
	s.data[string(hk)] = append([]byte(nil), v...)
	return nil
}

func (s *fakeStore) Get(_ context.Context, hk, _ []byte) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.corrupt[string(hk)] {
		return []byte("stale"), nil
	}
	return s.data[string(hk)], nil
}

type fakeSetup struct {
	store *fakeStore
	n     int32
	err   error
	calls int
}

func (f *fakeSetup) Ensure(context.Context) (Store, int32, error) {
	f.calls++
	if f.err != nil {
		return nil, 0, f.err
	}
	return f.store, f.n, nil
}

func TestKeysFor(t *testing.T) {
	keys, err := KeysFor(16)
	if err != nil {
		t.Fatal(err)
	}
	for i, hk := range keys {
		p, err := keyschema.PartitionIndex(keyschema.Hash(hk, sortKey), 16)
		if err != nil || p != int32(i) {
			t.Errorf("key %q lands in %d, want %d (%v)", hk, p, i, err)
		}
	}
	for _, n := range []int32{0, -1, 1 << 17} {
		if _, err := KeysFor(n); err == nil {
			t.Errorf("KeysFor(%d) succeeded", n)
		}
	}
}

func TestRounds(t *testing.T) {
	store := &fakeStore{data: map[string][]byte{}, failSet: map[string]bool{}, corrupt: map[string]bool{}}
	setup := &fakeSetup{err: errors.New("meta unreachable")}
	reg := prometheus.NewPedanticRegistry()
	now := time.Unix(1000, 0)
	p, err := New(Options{
		Cluster: "c1", Setup: setup, Interval: time.Second, Timeout: time.Second, Registerer: reg,
		Clock: func() time.Time { now = now.Add(time.Millisecond); return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	// Setup fails: one failure per op, ratio 0, retried next round.
	if err := p.Round(context.Background()); err == nil || !strings.Contains(err.Error(), "meta unreachable") {
		t.Fatalf("round with failing setup: %v", err)
	}
	if st := p.Status(); st.Ops[OpSet].SuccessRatio != 0 || st.Ops[OpSet].Failures != 1 || st.LastError == "" {
		t.Errorf("status after a failed setup: %+v", st)
	}
	setup.err, setup.store, setup.n = nil, store, 4
	if err := p.Round(context.Background()); err != nil {
		t.Fatal(err)
	}
	st := p.Status()
	if st.Partitions != 4 || st.Ops[OpSet].SuccessRatio != 1 || st.Ops[OpGet].SuccessRatio != 1 || st.Ops[OpGet].Requests != 5 || st.LastError != "" {
		t.Errorf("status after a good round: %+v", st)
	}
	if st.Ops[OpGet].MaxLatencyMs != 1 {
		t.Errorf("max latency = %v ms, want the injected clock's 1 ms", st.Ops[OpGet].MaxLatencyMs)
	}
	// One partition refuses writes, another reads a stale value.
	keys, _ := KeysFor(4)
	store.failSet[string(keys[1])] = true
	store.corrupt[string(keys[2])] = true
	if err := p.Round(context.Background()); err == nil || !strings.Contains(err.Error(), "partition 1") {
		t.Errorf("round with failures: %v", err)
	}
	st = p.Status()
	// set: 3 of 4 ok; get: 2 of 3 ok (no read after a failed write).
	if st.Ops[OpSet].SuccessRatio != 0.75 || st.Ops[OpGet].SuccessRatio != 2.0/3 {
		t.Errorf("ratios set %v get %v", st.Ops[OpSet].SuccessRatio, st.Ops[OpGet].SuccessRatio)
	}
	if setup.calls != 2 {
		t.Errorf("setup called %d times, want 2 (retried once, then kept)", setup.calls)
	}
	if got := testutil.ToFloat64(p.failures.WithLabelValues(OpGet)); got != 2 {
		t.Errorf("get failures = %v, want 2 (setup round + stale read)", got)
	}
	if n, err := testutil.GatherAndCount(reg); err != nil || n == 0 {
		t.Errorf("gather: %d metrics, %v", n, err)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP pegasus_probe_rounds_total Availability probe rounds run.
# TYPE pegasus_probe_rounds_total counter
pegasus_probe_rounds_total{cluster="c1"} 3
`), "pegasus_probe_rounds_total"); err != nil {
		t.Error(err)
	}
}

func TestRunStopsWithContext(t *testing.T) {
	setup := &fakeSetup{store: &fakeStore{data: map[string][]byte{}}, n: 1}
	p, err := New(Options{Cluster: "c", Setup: setup, Interval: time.Hour, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	cancel()
	<-done
	if _, err := New(Options{Cluster: "c", Interval: time.Second, Timeout: time.Second}); err == nil {
		t.Error("New without Setup succeeded")
	}
}
