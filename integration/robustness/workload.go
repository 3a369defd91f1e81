package robustness

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pegasus-go/pegasus/client-go/pegasus"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

// Phase says when a call started relative to the faults.
type Phase int32

// Phases, for availability.
const (
	PhaseBefore Phase = iota // no fault injected, cluster healthy
	PhaseDuring              // a fault is active
	PhaseAfter               // healed, not yet healthy again
	phases
)

var phaseNames = [...]string{"before", "during", "after"}

func (p Phase) String() string { return phaseNames[p] }

// sortKey is the sort key of every record: the workload's keys are
// hashkeys, so they spread over every partition.
var sortKey = []byte("v")

// WorkloadOptions shape a Workload.
type WorkloadOptions struct {
	Clients int // 8..16 client-go clients, one goroutine each
	// Readers of the clients only read: they never see a write fail, so
	// they keep their cached configuration for as long as reads succeed
	// (a stale read from a replaced primary shows on them first).
	Readers int
	Keys    []string
	Seed    uint64
	// OpTimeout bounds one call.
	OpTimeout time.Duration
	// Open opens the table through a new client-go client.
	Open func(ctx context.Context) (*pegasus.Client, *pegasus.Table, error)
}

// Workload runs the clients and records every call.
type Workload struct {
	opts  WorkloadOptions
	start time.Time
	phase atomic.Int32

	mu struct {
		sync.Mutex
		ops      []Op
		attempts [phases]int64
		ok       [phases]int64
	}
	gate    sync.RWMutex // held for writing while paused
	stop    chan struct{}
	wg      sync.WaitGroup
	clients []*pegasus.Client
	nextVal atomic.Int64
}

// StartWorkload opens the clients and starts them.
func StartWorkload(ctx context.Context, start time.Time, o WorkloadOptions) (*Workload, error) {
	w := &Workload{opts: o, start: start, stop: make(chan struct{})}
	w.nextVal.Store(1_000_000)
	tables := make([]*pegasus.Table, o.Clients)
	for i := range o.Clients {
		c, t, err := o.Open(ctx)
		if err != nil {
			w.closeClients()
			return nil, err
		}
		w.clients = append(w.clients, c)
		tables[i] = t
	}
	for i, t := range tables {
		w.wg.Add(1)
		go w.run(i, t, rand.New(rand.NewPCG(o.Seed, uint64(i))))
	}
	return w, nil
}

// now is the campaign's clock: nanoseconds since its start.
func (w *Workload) now() int64 { return int64(time.Since(w.start)) }

// SetPhase sets the phase of the calls that start from now on.
func (w *Workload) SetPhase(p Phase) { w.phase.Store(int32(p)) }

// Pause waits for every call in flight to end and holds the clients until
// Resume.
func (w *Workload) Pause() { w.gate.Lock() }

// Resume lets the clients go on.
func (w *Workload) Resume() { w.gate.Unlock() }

// Stop ends the clients and closes them.
func (w *Workload) Stop() {
	close(w.stop)
	w.wg.Wait()
	w.closeClients()
}

func (w *Workload) closeClients() {
	for _, c := range w.clients {
		c.Close()
	}
}

// Ops returns a copy of the recorded calls.
func (w *Workload) Ops() []Op {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]Op(nil), w.mu.ops...)
}

// Count returns how many calls are recorded.
func (w *Workload) Count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.mu.ops)
}

// Availability returns, per phase, the calls attempted and the calls that
// succeeded (a definite answer).
func (w *Workload) Availability() (attempts, ok [phases]int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.mu.attempts, w.mu.ok
}

// Record appends a call made outside the clients (the read-back).
func (w *Workload) Record(op Op) {
	w.mu.Lock()
	w.mu.ops = append(w.mu.ops, op)
	w.mu.Unlock()
}

func (w *Workload) run(id int, t *pegasus.Table, rng *rand.Rand) {
	defer w.wg.Done()
	last := map[string]record{} // what this client last saw of each key
	for {
		select {
		case <-w.stop:
			return
		default:
		}
		w.gate.RLock()
		phase := Phase(w.phase.Load())
		in := w.next(rng, last)
		if id < w.opts.Readers {
			in = Input{Kind: OpGet, Key: in.Key}
		}
		op, definite := w.Do(t, id, in)
		w.gate.RUnlock()
		w.mu.Lock()
		w.mu.attempts[phase]++
		if definite {
			w.mu.ok[phase]++
		}
		if definite || in.Kind.IsWrite() {
			w.mu.ops = append(w.mu.ops, op)
		}
		w.mu.Unlock()
		if definite {
			switch {
			case in.Kind == OpGet:
				last[in.Key] = record{op.Out.Found, op.Out.Value}
			case in.Kind == OpSet || in.Kind == OpCAS && op.Out.Passed:
				last[in.Key] = record{true, in.Value}
			case in.Kind == OpIncr:
				last[in.Key] = record{true, op.Out.Value}
			case in.Kind == OpDel:
				last[in.Key] = record{}
			}
		}
	}
}

// next draws the next call: 40% get, 20% set, 8% del, 16% cas, 16% incr.
func (w *Workload) next(rng *rand.Rand, last map[string]record) Input {
	in := Input{Key: w.opts.Keys[rng.IntN(len(w.opts.Keys))]}
	switch r := rng.IntN(100); {
	case r < 40:
		in.Kind = OpGet
	case r < 60:
		in.Kind, in.Value = OpSet, w.nextVal.Add(1000)
	case r < 68:
		in.Kind = OpDel
	case r < 84:
		in.Kind, in.Value = OpCAS, w.nextVal.Add(1000)
		seen := last[in.Key]
		in.ExpectAbsent, in.Expect = !seen.exists, seen.v
	default:
		in.Kind, in.Value = OpIncr, 1+rng.Int64N(5)
	}
	return in
}

// Do performs one call through t and returns its record and whether its
// outcome is definite. A failed read is not definite (and not recorded);
// a failed write is recorded as unknown, returning at Infinity.
func (w *Workload) Do(t *pegasus.Table, client int, in Input) (Op, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), w.opts.OpTimeout)
	defer cancel()
	op := Op{Client: client, In: in, Call: w.now()}
	hk := []byte(in.Key)
	var err error
	switch in.Kind {
	case OpGet:
		var v []byte
		v, err = t.Get(ctx, hk, sortKey)
		switch {
		case errors.Is(err, pegasus.ErrNotFound):
			err = nil
		case err == nil:
			op.Out.Found = true
			op.Out.Value, err = strconv.ParseInt(string(v), 10, 64)
			if err != nil {
				err = fmt.Errorf("%w: value %q is not an integer", errCorrupt, v)
			}
		}
	case OpSet:
		err = t.Set(ctx, hk, sortKey, strconv.AppendInt(nil, in.Value, 10), nil)
	case OpDel:
		err = t.Del(ctx, hk, sortKey)
	case OpIncr:
		op.Out.Value, err = t.Incr(ctx, hk, sortKey, in.Value, nil)
	case OpCAS:
		ct, operand := protocol.CheckBytesEqual, strconv.AppendInt(nil, in.Expect, 10)
		if in.ExpectAbsent {
			ct, operand = protocol.CheckValueNotExist, nil
		}
		var res *pegasus.CheckResult
		res, err = t.CheckAndSet(ctx, hk, sortKey, ct, operand, sortKey, strconv.AppendInt(nil, in.Value, 10), nil)
		switch {
		case errors.Is(err, pegasus.ErrCheckFailed):
			err = nil
		case err == nil:
			op.Out.Passed = res.Passed
		}
	}
	op.Return = w.now()
	if err == nil {
		return op, true
	}
	op.Err = err.Error()
	if errors.Is(err, errCorrupt) {
		// A value the workload never wrote: record it as read, so the
		// checker reports it.
		op.Out.Found, op.Out.Value = true, -1
		return op, true
	}
	if in.Kind.IsWrite() {
		op.Out = Output{Unknown: true}
		op.Return = Infinity
	}
	return op, false
}

var errCorrupt = errors.New("corrupt value")
