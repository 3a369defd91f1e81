package duplag

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/pegasus-go/pegasus/client-go/pegasus"
)

// PhaseResult is what one phase measured.
type PhaseResult struct {
	// Rate is the target write rate; Achieved the acknowledged writes per
	// second over the load time.
	Rate     int
	Achieved float64
	Duration time.Duration
	// Issued writes; Failed of them answered with an error.
	Issued, Failed int64
	// Saturated counts writes issued late because MaxInflight writes were
	// in flight (the load was not open-loop for them).
	Saturated int64
	// Write is the source write latency (issue to acknowledgement).
	Write Summary
	// Visibility is the end-to-end lag of the sampled writes
	// (acknowledgement to readable on the target); SampleEvery tells which
	// writes were sampled; Lost counts samples not visible within the
	// visibility timeout (or read back with another value).
	Visibility  Summary
	SampleEvery int
	Lost        int64
	// Hist is the increase of the receiver's lag histogram (ms) over the
	// phase, and HistP50/HistP99 its interpolated percentiles; HistP99Inf
	// means the p99 lies above the last finite bucket.
	Hist             []Bucket
	HistP50, HistP99 float64
	HistP99Inf       bool
	// MaxPending is the largest sum over partitions of the pending
	// mutations the primaries reported during the phase; Drain how long
	// the backlog took to reach zero after the load stopped.
	MaxPending int64
	Drain      time.Duration
}

// writeStats collects one phase's write figures; safe for concurrent use.
type writeStats struct {
	mu        sync.Mutex
	latencies []time.Duration
	lags      []time.Duration
	failed    atomic.Int64
	lost      atomic.Int64
}

func (s *writeStats) write(d time.Duration) {
	s.mu.Lock()
	s.latencies = append(s.latencies, d)
	s.mu.Unlock()
}

func (s *writeStats) visible(d time.Duration) {
	s.mu.Lock()
	s.lags = append(s.lags, d)
	s.mu.Unlock()
}

// key returns the hashkey and sortkey of write i of phase p.
func key(phase, i int) (hashKey, sortKey []byte) {
	return fmt.Appendf(nil, "dl%d-%09d", phase, i), []byte("s")
}

// value returns the value of write i of phase p: its key, padded to size.
func value(phase, i, size int) []byte {
	v := make([]byte, size)
	copy(v, fmt.Appendf(nil, "%d/%d:", phase, i))
	for j := range v {
		if v[j] == 0 {
			v[j] = 'a' + byte(j%26)
		}
	}
	return v
}

// load runs one phase's open-loop write load on src, following every
// sampleEvery-th write on dst. It returns once the load time is over and
// every write and probe has ended.
func load(ctx context.Context, o *Options, phase, r int, src, dst *pegasus.Table) (*PhaseResult, error) {
	res := &PhaseResult{Rate: r, SampleEvery: o.sampleEvery(r)}
	st := &writeStats{}
	lim := rate.NewLimiter(rate.Limit(r), max(1, r/50))
	sem := make(chan struct{}, o.MaxInflight)
	var writes, probes sync.WaitGroup
	lctx, cancel := context.WithTimeout(ctx, o.Duration)
	defer cancel()
	start := time.Now()
	i := 0
	for ; ; i++ {
		if err := lim.Wait(lctx); err != nil {
			break
		}
		select {
		case sem <- struct{}{}:
		default:
			res.Saturated++
			select {
			case sem <- struct{}{}:
			case <-lctx.Done():
			}
		}
		if lctx.Err() != nil {
			break
		}
		sampled := i%res.SampleEvery == 0
		writes.Add(1)
		go func(i int) {
			defer writes.Done()
			hk, sk := key(phase, i)
			v := value(phase, i, o.ValueSize)
			wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			t0 := time.Now()
			err := src.Set(wctx, hk, sk, v, nil)
			acked := time.Now()
			cancel()
			<-sem
			if err != nil {
				st.failed.Add(1)
				return
			}
			st.write(acked.Sub(t0))
			if sampled {
				probes.Add(1)
				go func() {
					defer probes.Done()
					probe(ctx, o, dst, hk, sk, v, acked, st)
				}()
			}
		}(i)
	}
	res.Duration = time.Since(start)
	res.Issued = int64(i)
	writes.Wait()
	probes.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	res.Failed = st.failed.Load()
	res.Lost = st.lost.Load()
	res.Achieved = float64(res.Issued-res.Failed) / res.Duration.Seconds()
	res.Write = Summarize(st.latencies)
	res.Visibility = Summarize(st.lags)
	return res, nil
}

// probe reads (hk, sk) on dst every poll interval until it holds v, and
// records the time from acked to the end of that read; a write not there
// within the visibility timeout, or there with another value, is lost.
func probe(ctx context.Context, o *Options, dst *pegasus.Table, hk, sk, v []byte, acked time.Time, st *writeStats) {
	deadline := acked.Add(o.VisibilityTimeout)
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		got, err := dst.Get(rctx, hk, sk)
		cancel()
		now := time.Now()
		switch {
		case err == nil && bytes.Equal(got, v):
			st.visible(now.Sub(acked))
			return
		case err == nil:
			st.lost.Add(1)
			return
		case !errors.Is(err, pegasus.ErrNotFound) && ctx.Err() != nil:
			return
		}
		if now.After(deadline) {
			st.lost.Add(1)
			return
		}
		t.Reset(o.PollInterval)
	}
}
