package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pegasus-go/pegasus/client-go/pegasus"
	"github.com/pegasus-go/pegasus/shared/keyschema"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

// Record is one write of a Load: a unique key and its value.
type Record struct {
	HashKey, SortKey, Value []byte
	// Partition is the partition of the key (under the table's partition
	// count when the load started).
	Partition int32
	// Start is when the write was sent, Done when its answer came.
	Start, Done time.Time
}

// LoadOptions shape a Load.
type LoadOptions struct {
	// Prefix starts every hashkey, so loads of several tests never share
	// a key.
	Prefix string
	// Workers is the number of writing goroutines (default 4).
	Workers int
	// WriteTimeout bounds one write, the client's retries included
	// (default 3s).
	WriteTimeout time.Duration
	// PartitionCount of the table, to record each key's partition.
	PartitionCount int32
}

// Load is a steady write load through client-go: Workers goroutines each
// write fresh keys one after the other until Stop. Every write the client
// acknowledges is recorded as acknowledged; a write that failed or timed
// out is recorded as maybe (it may or may not have been applied). Every key
// is written once, with a value of its own, so a read tells exactly which
// write it sees.
//
// A Load is safe for concurrent use.
type Load struct {
	opts   LoadOptions
	table  *pegasus.Table
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu struct {
		sync.Mutex
		acked  []Record
		maybe  []Record
		errs   map[string]int // error class -> count
		change chan struct{}  // closed and replaced on every acknowledgement
	}
}

// StartLoad starts a load on table.
func StartLoad(table *pegasus.Table, o LoadOptions) *Load {
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 3 * time.Second
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &Load{opts: o, table: table, cancel: cancel}
	l.mu.errs = map[string]int{}
	l.mu.change = make(chan struct{})
	for w := range o.Workers {
		l.wg.Add(1)
		go l.run(ctx, w)
	}
	return l
}

func (l *Load) run(ctx context.Context, w int) {
	defer l.wg.Done()
	for seq := 0; ctx.Err() == nil; seq++ {
		hk := fmt.Appendf(nil, "%s-w%02d-%07d", l.opts.Prefix, w, seq)
		r := Record{HashKey: hk, SortKey: []byte("s"), Value: fmt.Appendf(nil, "v-%s-%d-%d", l.opts.Prefix, w, seq)}
		if l.opts.PartitionCount > 0 {
			r.Partition, _ = keyschema.PartitionIndex(keyschema.Hash(r.HashKey, r.SortKey), l.opts.PartitionCount)
		}
		// The write gets its own deadline, not ctx: Stop must not turn a
		// write in flight into a failure that was in fact applied.
		wctx, cancel := context.WithTimeout(context.Background(), l.opts.WriteTimeout)
		r.Start = time.Now()
		err := l.table.Set(wctx, r.HashKey, r.SortKey, r.Value, nil)
		r.Done = time.Now()
		cancel()
		l.record(r, err)
	}
}

func (l *Load) record(r Record, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err == nil {
		l.mu.acked = append(l.mu.acked, r)
		close(l.mu.change)
		l.mu.change = make(chan struct{})
		return
	}
	l.mu.maybe = append(l.mu.maybe, r)
	l.mu.errs[errorClass(err)]++
}

// errorClass names an error for the load's failure tally: its protocol
// code, or the client's sentinel.
func errorClass(err error) string {
	if c := protocol.CodeOf(err); c != protocol.CodeOK && c != protocol.CodeUnknown {
		return c.String()
	}
	for _, s := range []error{pegasus.ErrTimeout, pegasus.ErrUnavailable, pegasus.ErrBusy} {
		if errors.Is(err, s) {
			return s.Error()
		}
	}
	return err.Error()
}

// Acked returns how many writes have been acknowledged so far.
func (l *Load) Acked() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.mu.acked)
}

// AckedIn returns how many writes to partition p have been acknowledged
// so far.
func (l *Load) AckedIn(p int32) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, r := range l.mu.acked {
		if r.Partition == p {
			n++
		}
	}
	return n
}

// WaitAcked waits until cond, called with the acknowledged records so far
// (not to be kept or modified), returns true after an acknowledgement, or
// ctx ends.
func (l *Load) WaitAcked(ctx context.Context, cond func(acked []Record) bool) error {
	for {
		l.mu.Lock()
		ok, ch := cond(l.mu.acked), l.mu.change
		l.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}

// WaitProgress waits until every partition in parts has at least n more
// acknowledged writes than it had when called.
func (l *Load) WaitProgress(ctx context.Context, n int, parts ...int32) error {
	base := map[int32]int{}
	for _, p := range parts {
		base[p] = l.AckedIn(p)
	}
	return l.WaitAcked(ctx, func(acked []Record) bool {
		got := map[int32]int{}
		for _, r := range acked {
			got[r.Partition]++
		}
		for _, p := range parts {
			if got[p] < base[p]+n {
				return false
			}
		}
		return true
	})
}

// Snapshot returns a copy of the acknowledged records so far.
func (l *Load) Snapshot() []Record {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.mu.acked)
}

// LoadResult is what a stopped Load recorded.
type LoadResult struct {
	Acked, Maybe []Record
	// Errors counts the failed writes by error class.
	Errors map[string]int
}

// Stop stops the load, waits for the writes in flight to end and returns
// the records.
func (l *Load) Stop() LoadResult {
	l.cancel()
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return LoadResult{Acked: slices.Clone(l.mu.acked), Maybe: slices.Clone(l.mu.maybe), Errors: maps.Clone(l.mu.errs)}
}

// String summarizes the result.
func (r LoadResult) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d acknowledged, %d maybe", len(r.Acked), len(r.Maybe))
	for _, k := range slices.Sorted(maps.Keys(r.Errors)) {
		fmt.Fprintf(&b, "; %s x%d", k, r.Errors[k])
	}
	return b.String()
}

// LongestGap returns the longest time partition p went without an
// acknowledged write between from and to: the gap between two consecutive
// acknowledgements (by completion time), or between from or to and the
// nearest one.
func (r LoadResult) LongestGap(p int32, from, to time.Time) time.Duration {
	var done []time.Time
	for _, rec := range r.Acked {
		if rec.Partition == p && rec.Done.After(from) && rec.Done.Before(to) {
			done = append(done, rec.Done)
		}
	}
	slices.SortFunc(done, func(a, b time.Time) int { return a.Compare(b) })
	prev, gap := from, time.Duration(0)
	for _, d := range append(done, to) {
		gap = max(gap, d.Sub(prev))
		prev = d
	}
	return gap
}

// Verify reads every acknowledged record back (it must hold its value)
// and every maybe record (absent, or holding its value) with at most
// workers reads in flight. The client retries each read within ctx.
func (r LoadResult) Verify(ctx context.Context, table *pegasus.Table, workers int) error {
	all := append(slices.Clone(r.Acked), r.Maybe...)
	var lost []string
	var mu sync.Mutex
	err := forEach(ctx, len(all), workers, func(ctx context.Context, i int) error {
		rec := all[i]
		acked := i < len(r.Acked)
		got, err := table.Get(ctx, rec.HashKey, rec.SortKey)
		switch {
		case errors.Is(err, pegasus.ErrNotFound) && !acked:
			return nil
		case errors.Is(err, pegasus.ErrNotFound):
			mu.Lock()
			lost = append(lost, fmt.Sprintf("%s (partition %d, acknowledged at %s)", rec.HashKey, rec.Partition, rec.Done.Format("15:04:05.000")))
			mu.Unlock()
			return nil
		case err != nil:
			return fmt.Errorf("get %s: %w", rec.HashKey, err)
		case !bytes.Equal(got, rec.Value):
			return fmt.Errorf("key %s holds %q, want %q (acknowledged %v)", rec.HashKey, got, rec.Value, acked)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if len(lost) > 0 {
		slices.Sort(lost)
		return fmt.Errorf("%d of %d acknowledged writes lost, e.g. %s", len(lost), len(r.Acked), strings.Join(lost[:min(len(lost), 10)], ", "))
	}
	return nil
}
