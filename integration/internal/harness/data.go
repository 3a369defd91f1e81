package harness

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/pegasus-go/pegasus/client-go/pegasus"
)

// Key returns the hashkey, sortkey and value of row i of a data set.
func Key(i int) (hashKey, sortKey, value []byte) {
	return fmt.Appendf(nil, "user%06d", i), fmt.Appendf(nil, "s%d", i%7), fmt.Appendf(nil, "value-%d-%x", i, i*2654435761)
}

// forEach runs fn for 0..n-1 on at most workers goroutines and returns the
// first error (after which no new row starts).
func forEach(ctx context.Context, n, workers int, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := fn(ctx, i); err != nil {
					cancel(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	return context.Cause(ctx)
}

// WriteRows writes rows 0..n-1 (Key) with at most workers writes in
// flight. Each write may retry within ctx.
func WriteRows(ctx context.Context, t *pegasus.Table, n, workers int) error {
	return forEach(ctx, n, workers, func(ctx context.Context, i int) error {
		hk, sk, v := Key(i)
		if err := t.Set(ctx, hk, sk, v, nil); err != nil {
			return fmt.Errorf("set row %d: %w", i, err)
		}
		return nil
	})
}

// CheckRows reads rows 0..n-1 with at most workers reads in flight and
// fails on the first row that is missing or holds another value. The
// client retries each read within ctx, so a deadline on ctx is how long
// the partitions have to be served again.
func CheckRows(ctx context.Context, t *pegasus.Table, n, workers int) error {
	return forEach(ctx, n, workers, func(ctx context.Context, i int) error {
		hk, sk, want := Key(i)
		got, err := t.Get(ctx, hk, sk)
		if err != nil {
			return fmt.Errorf("get row %d: %w", i, err)
		}
		if !bytes.Equal(got, want) {
			return fmt.Errorf("row %d = %q, want %q", i, got, want)
		}
		return nil
	})
}
