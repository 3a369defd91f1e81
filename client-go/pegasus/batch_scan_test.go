package pegasus_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/uber-go/tally/v4"
	"go.uber.org/goleak"

	"github.com/pegasus-go/pegasus/client-go/internal/fakecluster"
	"github.com/pegasus-go/pegasus/client-go/pegasus"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

func TestBatchGroupsByPartition(t *testing.T) {
	e := newEnv(t, envOpts{})
	ctx := context.Background()
	var items []pegasus.BatchSetItem
	parts := map[int]bool{}
	for i := range 40 {
		hk := b(fmt.Sprintf("bk%d", i))
		parts[partitionOf(t, hk, 8)] = true
		items = append(items, pegasus.BatchSetItem{HashKey: hk, SortKey: b("s"), Value: b(fmt.Sprint(i))})
	}
	items[3].TTL = time.Minute
	errs, err := e.t.BatchSet(ctx, items)
	if err != nil {
		t.Fatal(err)
	}
	if len(errs) != 40 || slices.ContainsFunc(errs, func(e error) bool { return e != nil }) {
		t.Fatalf("per-item errors: %v", errs)
	}
	if n := e.fc.Calls(protocol.MethodBatchSet); n != len(parts) {
		t.Fatalf("%d BatchSet requests for %d partitions", n, len(parts))
	}
	if ttl, has, err := e.t.TTL(ctx, items[3].HashKey, b("s")); err != nil || !has || ttl != time.Minute {
		t.Fatalf("ttl = %v %v %v", ttl, has, err)
	}

	keys := []pegasus.Key{
		{HashKey: b("bk5"), SortKey: b("s")},
		{HashKey: b("missing"), SortKey: b("s")},
		{HashKey: b("bk17"), SortKey: b("s")},
	}
	res, err := e.t.BatchGet(ctx, keys)
	if err != nil {
		t.Fatal(err)
	}
	if string(res[0].Value) != "5" || res[0].Err != nil || string(res[2].Value) != "17" || res[2].Err != nil {
		t.Fatalf("results: %+v", res)
	}
	if !errors.Is(res[1].Err, pegasus.ErrNotFound) || res[1].Value != nil {
		t.Fatalf("missing key: %+v", res[1])
	}

	// An invalid key fails alone, before any RPC for it.
	res, err = e.t.BatchGet(ctx, []pegasus.Key{{HashKey: nil, SortKey: b("s")}, {HashKey: b("bk1"), SortKey: b("s")}})
	if !errors.Is(err, pegasus.ErrInvalidArgument) || !errors.Is(res[0].Err, pegasus.ErrInvalidArgument) ||
		res[1].Err != nil || string(res[1].Value) != "1" {
		t.Fatalf("invalid key: %v %+v", err, res)
	}
}

func TestBatchRetriesFailedPartitionOnly(t *testing.T) {
	e := newEnv(t, envOpts{})
	ctx := context.Background()
	hkA := hashKeyIn(t, "a", 1, 8)
	hkB := hashKeyIn(t, "b", 2, 8)
	for _, hk := range [][]byte{hkA, hkB} {
		if err := e.t.Set(ctx, hk, b("s"), hk, nil); err != nil {
			t.Fatal(err)
		}
	}
	// Partition 1's primary moves to the node serving neither partition;
	// partition 2 is fine.
	from, other := e.nodeIndex(t, e.fc.Primary(tableName, 1)), e.nodeIndex(t, e.fc.Primary(tableName, 2))
	e.fc.MovePrimary(tableName, 1, 3-from-other)
	e.fc.ResetCounters()
	res, err := e.t.BatchGet(ctx, []pegasus.Key{{HashKey: hkA, SortKey: b("s")}, {HashKey: hkB, SortKey: b("s")}})
	if err != nil || string(res[0].Value) != string(hkA) || string(res[1].Value) != string(hkB) {
		t.Fatalf("batch get = %+v, %v", res, err)
	}
	if n := e.fc.Calls(protocol.MethodBatchGet); n != 3 {
		t.Fatalf("%d BatchGet requests, want 3 (two, then partition 1 again)", n)
	}
	if n := e.fc.PartitionCalls(tableName, 2); n != 1 {
		t.Fatalf("partition 2 served %d requests", n)
	}

	// A partition failing until the deadline: its keys fail, others succeed.
	e.fc.Inject(fakecluster.Fault{Method: protocol.MethodBatchSet, Node: e.fc.Primary(tableName, 2), Code: protocol.CodeBusy, Times: 1 << 30})
	errs, err := e.t.BatchSet(ctxTimeout(t, 100*time.Millisecond), []pegasus.BatchSetItem{
		{HashKey: hkA, SortKey: b("s"), Value: b("x")}, {HashKey: hkB, SortKey: b("s"), Value: b("y")},
	})
	if err == nil || errs[0] != nil || !errors.Is(errs[1], pegasus.ErrBusy) {
		t.Fatalf("batch set = %v, %v", errs, err)
	}
	var opErr *pegasus.OpError
	if !errors.As(errs[1], &opErr) || opErr.Partition != 2 || opErr.Op != "batch_set" {
		t.Fatalf("item error: %#v", errs[1])
	}
}

// fill writes n records with hashkeys "h<i>" and sortkeys "s<j>".
func fill(t *testing.T, e *env, hashKeys, sortKeys int) map[string]bool {
	t.Helper()
	want := map[string]bool{}
	for i := range hashKeys {
		hk := b(fmt.Sprintf("h%d", i))
		var sks, vals [][]byte
		for j := range sortKeys {
			sks = append(sks, b(fmt.Sprintf("s%02d", j)))
			vals = append(vals, b(fmt.Sprintf("v%d.%d", i, j)))
			want[fmt.Sprintf("h%d/s%02d", i, j)] = true
		}
		if err := e.t.MultiSet(context.Background(), hk, sks, vals, nil); err != nil {
			t.Fatal(err)
		}
	}
	return want
}

func scanAll(t *testing.T, ctx context.Context, s *pegasus.Scanner) []string {
	t.Helper()
	var out []string
	for {
		kv, ok, err := s.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return out
		}
		out = append(out, string(kv.HashKey)+"/"+string(kv.SortKey))
	}
}

func TestOrderedScanner(t *testing.T) {
	// One partition, so neighbouring hashkeys share it and the scan must
	// stop at the end of its own hashkey.
	e := newEnv(t, envOpts{partitions: 1})
	fill(t, e, 3, 10)
	ctx := context.Background()

	s, err := e.t.GetScanner(b("h1"), nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := scanAll(t, ctx, s)
	if len(got) != 10 || got[0] != "h1/s00" || got[9] != "h1/s09" || !slices.IsSorted(got) {
		t.Fatalf("scan h1 = %v", got)
	}
	s.Close()

	s, _ = e.t.GetScanner(b("h1"), b("s02"), b("s05"), &pegasus.ScanOptions{StartExclusive: true, StopInclusive: true, BatchSize: 2})
	if got := scanAll(t, ctx, s); !slices.Equal(got, []string{"h1/s03", "h1/s04", "h1/s05"}) {
		t.Fatalf("bounded scan = %v", got)
	}
	s.Close()

	s, _ = e.t.GetScanner(b("h2"), nil, nil, &pegasus.ScanOptions{SortKeyFilter: pegasus.Filter{Type: pegasus.FilterPostfix, Pattern: b("7")}, NoValue: true})
	kv, ok, err := s.Next(ctx)
	if err != nil || !ok || string(kv.SortKey) != "s07" || kv.Value != nil {
		t.Fatalf("filtered = %+v %v %v", kv, ok, err)
	}
	if _, ok, err := s.Next(ctx); ok || err != nil {
		t.Fatalf("filtered scan not done: %v %v", ok, err)
	}
	s.Close()
	if n := e.fc.OpenScans(); n != 0 {
		t.Fatalf("%d scan contexts left open", n)
	}
}

func TestScannerResumesAfterContextLoss(t *testing.T) {
	e := newEnv(t, envOpts{partitions: 1})
	fill(t, e, 1, 10)
	ctx := context.Background()
	s, _ := e.t.GetScanner(b("h0"), nil, nil, nil) // batches of 3
	var got []string
	for i := 0; ; i++ {
		if i == 4 {
			e.fc.ExpireScans() // the server forgets the context
		}
		if i == 7 {
			// The primary moves away mid-scan.
			e.fc.MovePrimary(tableName, 0, (e.nodeIndex(t, e.fc.Primary(tableName, 0))+1)%3)
		}
		kv, ok, err := s.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		got = append(got, string(kv.SortKey))
	}
	want := []string{"s00", "s01", "s02", "s03", "s04", "s05", "s06", "s07", "s08", "s09"}
	if !slices.Equal(got, want) {
		t.Fatalf("scan across context loss = %v", got)
	}
}

func TestScannerNextDeadline(t *testing.T) {
	e := newEnv(t, envOpts{partitions: 1})
	fill(t, e, 1, 6)
	s, _ := e.t.GetScanner(b("h0"), nil, nil, nil)
	defer s.Close()
	ctx := context.Background()
	for range 3 { // the first batch
		if _, _, err := s.Next(ctx); err != nil {
			t.Fatal(err)
		}
	}
	release := make(chan struct{})
	e.fc.Inject(fakecluster.Fault{Method: protocol.MethodScanNext, Block: release})
	_, _, err := s.Next(ctxTimeout(t, 50*time.Millisecond))
	if !errors.Is(err, pegasus.ErrTimeout) {
		t.Fatalf("next past deadline: %v", err)
	}
	close(release)
	// The scanner resumes after the last key it returned.
	got := scanAll(t, ctx, s)
	if !slices.Equal(got, []string{"h0/s03", "h0/s04", "h0/s05"}) {
		t.Fatalf("after timeout = %v", got)
	}
}

func TestScanExpiredError(t *testing.T) {
	e := newEnv(t, envOpts{partitions: 1})
	fill(t, e, 1, 6)
	s, _ := e.t.GetScanner(b("h0"), nil, nil, nil)
	defer s.Close()
	ctx := context.Background()
	for range 3 {
		if _, _, err := s.Next(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// The context is gone and reopening keeps failing until the deadline.
	e.fc.ExpireScans()
	e.fc.Inject(fakecluster.Fault{Method: protocol.MethodScanOpen, Code: protocol.CodeBusy, Times: 1 << 30})
	_, _, err := s.Next(ctxTimeout(t, 100*time.Millisecond))
	if err == nil || !(errors.Is(err, pegasus.ErrScanExpired) || errors.Is(err, pegasus.ErrBusy) || errors.Is(err, pegasus.ErrTimeout)) {
		t.Fatalf("next: %v", err)
	}
	e.fc.ClearFaults()
	if got := scanAll(t, ctx, s); !slices.Equal(got, []string{"h0/s03", "h0/s04", "h0/s05"}) {
		t.Fatalf("after recovery = %v", got)
	}
}

func TestUnorderedScannersCoverEveryPartitionOnce(t *testing.T) {
	e := newEnv(t, envOpts{partitions: 8})
	want := fill(t, e, 30, 3)
	scanners, err := e.t.GetUnorderedScanners(3, &pegasus.ScanOptions{BatchSize: 4})
	if err != nil {
		t.Fatal(err)
	}
	if len(scanners) != 3 {
		t.Fatalf("%d scanners", len(scanners))
	}
	var parts []int32
	for _, s := range scanners {
		parts = append(parts, s.Partitions()...)
	}
	slices.Sort(parts)
	if !slices.Equal(parts, []int32{0, 1, 2, 3, 4, 5, 6, 7}) {
		t.Fatalf("partitions covered: %v", parts)
	}

	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	for _, s := range scanners {
		wg.Go(func() {
			defer s.Close()
			for kv, err := range s.All(context.Background()) {
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				seen[string(kv.HashKey)+"/"+string(kv.SortKey)]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(seen) != len(want) {
		t.Fatalf("saw %d records, want %d", len(seen), len(want))
	}
	for k, n := range seen {
		if !want[k] || n != 1 {
			t.Fatalf("record %s seen %d times", k, n)
		}
	}
	if n := e.fc.Calls(protocol.MethodScanOpen); n != 8 {
		t.Fatalf("%d ScanOpen calls, want one per partition", n)
	}

	many, err := e.t.GetUnorderedScanners(100, nil)
	if err != nil || len(many) != 8 {
		t.Fatalf("100 scanners over 8 partitions = %d, %v", len(many), err)
	}
}

func TestUnorderedScannerResumes(t *testing.T) {
	e := newEnv(t, envOpts{partitions: 2})
	want := fill(t, e, 10, 3)
	scanners, _ := e.t.GetUnorderedScanners(1, nil)
	s := scanners[0]
	defer s.Close()
	seen := map[string]int{}
	for i := 0; ; i++ {
		if i == 5 || i == 20 {
			e.fc.ExpireScans()
		}
		kv, ok, err := s.Next(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		seen[string(kv.HashKey)+"/"+string(kv.SortKey)]++
	}
	if len(seen) != len(want) {
		t.Fatalf("saw %d records, want %d", len(seen), len(want))
	}
	for k, n := range seen {
		if n != 1 {
			t.Fatalf("record %s seen %d times", k, n)
		}
	}
}

func TestIterators(t *testing.T) {
	e := newEnv(t, envOpts{partitions: 4})
	want := fill(t, e, 5, 4)
	ctx := context.Background()

	var got []string
	for kv, err := range e.t.Scan(ctx, b("h3"), nil, nil, nil) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(kv.SortKey))
	}
	if !slices.Equal(got, []string{"s00", "s01", "s02", "s03"}) {
		t.Fatalf("scan = %v", got)
	}

	// Breaking out early closes the scanner's server-side context.
	for _, err := range e.t.Scan(ctx, b("h3"), nil, nil, &pegasus.ScanOptions{BatchSize: 1}) {
		if err != nil {
			t.Fatal(err)
		}
		break
	}
	if n := e.fc.OpenScans(); n != 0 {
		t.Fatalf("%d scan contexts open after break", n)
	}

	count := 0
	for kv, err := range e.t.ScanAll(ctx, nil) {
		if err != nil {
			t.Fatal(err)
		}
		if !want[string(kv.HashKey)+"/"+string(kv.SortKey)] {
			t.Fatalf("unexpected %s", kv.HashKey)
		}
		count++
	}
	if count != len(want) {
		t.Fatalf("scan all = %d records, want %d", count, len(want))
	}

	// An invalid request yields its error once.
	n := 0
	for _, err := range e.t.Scan(ctx, nil, nil, nil, nil) {
		n++
		if !errors.Is(err, pegasus.ErrInvalidArgument) {
			t.Fatalf("err = %v", err)
		}
	}
	if n != 1 {
		t.Fatalf("%d yields", n)
	}
}

func TestScanExpireField(t *testing.T) {
	e := newEnv(t, envOpts{partitions: 1})
	ctx := context.Background()
	if err := e.t.Set(ctx, b("h"), b("s"), b("v"), &pegasus.SetOptions{TTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	for kv, err := range e.t.Scan(ctx, b("h"), nil, nil, nil) {
		if err != nil {
			t.Fatal(err)
		}
		if want := e.clock.Now().Add(time.Hour); !kv.Expire.Equal(want) {
			t.Fatalf("expire = %v, want %v", kv.Expire, want)
		}
	}
}

func TestCloseReleasesEverything(t *testing.T) {
	fc, err := fakecluster.Start(fakecluster.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer fc.Close()
	if _, err := fc.CreateTable(tableName, 4); err != nil {
		t.Fatal(err)
	}
	ignore := goleak.IgnoreCurrent() // the fake cluster's goroutines

	c, err := pegasus.NewClient(pegasus.Config{MetaServers: fc.MetaAddrs(), InitialRetryBackoff: time.Millisecond, MaxRetryBackoff: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tbl, err := c.OpenTable(ctx, tableName)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if err := tbl.Set(ctx, b(fmt.Sprint(i)), b("s"), b("v"), nil); err != nil {
			t.Fatal(err)
		}
	}
	scanners, _ := tbl.GetUnorderedScanners(2, &pegasus.ScanOptions{BatchSize: 1})
	if _, _, err := scanners[0].Next(ctx); err != nil {
		t.Fatal(err)
	}
	// A request stuck on the server, and a partition without a primary
	// whose refreshes keep running, while the client closes.
	release := make(chan struct{})
	releaseOnce := sync.OnceFunc(func() { close(release) })
	defer releaseOnce()
	reached := make(chan struct{})
	fc.Inject(fakecluster.Fault{Method: protocol.MethodGet, Block: release, OnMatch: func() { close(reached) }})
	fc.MovePrimary(tableName, 3, -1)
	stuck := make(chan error, 2)
	go func() { _, err := tbl.Get(ctx, hashKeyIn(t, "x", 0, 4), b("s")); stuck <- err }()
	go func() { _, err := tbl.Get(ctx, hashKeyIn(t, "y", 3, 4), b("s")); stuck <- err }()
	<-reached

	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := <-stuck; err == nil {
			t.Fatal("operation in flight succeeded after Close")
		}
	}
	if err := c.Close(); err != nil { // idempotent
		t.Fatal(err)
	}
	if err := tbl.Set(ctx, b("a"), b("s"), b("v"), nil); !errors.Is(err, pegasus.ErrClosed) {
		t.Fatalf("set after close: %v", err)
	}
	if _, _, err := scanners[0].Next(ctx); !errors.Is(err, pegasus.ErrClosed) {
		t.Fatalf("scan after close: %v", err)
	}
	if _, err := c.OpenTable(ctx, "other"); !errors.Is(err, pegasus.ErrClosed) {
		t.Fatalf("open after close: %v", err)
	}
	releaseOnce() // let the fake's held handler finish
	goleak.VerifyNone(t, ignore)
}

func TestMetrics(t *testing.T) {
	scope := tally.NewTestScope("", nil)
	e := newEnv(t, envOpts{clientOpts: []pegasus.Option{pegasus.WithMetrics(scope)}})
	ctx := context.Background()
	if err := e.t.Set(ctx, b("h"), b("s"), b("v"), nil); err != nil {
		t.Fatal(err)
	}
	_, _ = e.t.Get(ctx, b("h"), b("missing"))
	e.fc.Inject(fakecluster.Fault{Method: protocol.MethodGet, Code: protocol.CodeInvalidState})
	if _, err := e.t.Get(ctx, b("h"), b("s")); err != nil {
		t.Fatal(err)
	}
	counters := map[string]int64{}
	for _, c := range scope.Snapshot().Counters() {
		key := c.Name()
		if op := c.Tags()["op"]; op != "" {
			key += "/" + op
		}
		if code := c.Tags()["code"]; code != "" {
			key += "/" + code
		}
		counters[key] += c.Value()
	}
	for k, v := range map[string]int64{
		"client.requests/set":            1,
		"client.requests/get":            2,
		"client.errors/get/ERR_NOT_FOUND": 1,
		"client.retries/get":             1,
		"client.config_refreshes":        1,
	} {
		if counters[k] != v {
			t.Errorf("%s = %d, want %d (all: %v)", k, counters[k], v, counters)
		}
	}
}
