package dup

import (
	"context"
	"errors"
	"maps"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/uber-go/tally/v4"

	"github.com/pegasus-go/pegasus/replicaserver/internal/plog"
	"github.com/pegasus-go/pegasus/replicaserver/internal/replica"
	"github.com/pegasus-go/pegasus/shared/keyschema"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

func TestSplitMutation(t *testing.T) {
	batch := upd(t, protocol.OpMultiPut, &protocol.BatchSetRequest{Items: []protocol.BatchSetItem{
		{HashKey: []byte("a"), SortKey: []byte("1"), Value: []byte("a1")},
		{HashKey: []byte("b"), SortKey: []byte("1"), Value: []byte("b1")},
		{HashKey: []byte("a"), SortKey: []byte("2"), Value: []byte("a2")},
		{HashKey: []byte("a"), SortKey: []byte("3"), Value: []byte("a3"), TTLSeconds: 60},
		{HashKey: []byte("a"), SortKey: []byte("1"), Value: []byte("a1'")},
	}})
	m := &protocol.Mutation{Decree: 5, TimestampUs: 42, Updates: []protocol.Update{
		emptyWrite,
		set(t, "h", "s", "v"),
		{Op: protocol.OpDuplicate, Body: []byte("anything: never decoded")},
		upd(t, protocol.OpIncr, &protocol.IncrRequest{HashKey: []byte("h"), SortKey: []byte("n"), Increment: 1}),
		del(t, "h", "s"),
		upd(t, protocol.OpMultiPut, &protocol.MultiSetRequest{HashKey: []byte("m"), KVs: []protocol.KeyValue{{SortKey: []byte("x"), Value: []byte("1")}}}),
		upd(t, protocol.OpMultiRemove, &protocol.MultiDelRequest{HashKey: []byte("m"), SortKeys: [][]byte{[]byte("x")}}),
		upd(t, protocol.OpDelRange, &protocol.DelRangeRequest{HashKey: []byte("r"), StopSortKey: []byte("z")}),
		batch,
	}}
	s := splitter{clusterID: testCluster}
	if err := s.split(m); err != nil {
		t.Fatal(err)
	}
	type want struct {
		op   protocol.OpCode
		hk   string
		sks  []string
		ttl  int32
		hash uint64
	}
	wants := []want{
		{protocol.OpPut, "h", []string{"s"}, 0, keyschema.Hash([]byte("h"), []byte("s"))},
		{protocol.OpRemove, "h", []string{"s"}, 0, keyschema.Hash([]byte("h"), nil)},
		{protocol.OpMultiPut, "m", []string{"x"}, 0, keyschema.Hash([]byte("m"), nil)},
		{protocol.OpMultiRemove, "m", []string{"x"}, 0, keyschema.Hash([]byte("m"), nil)},
		{protocol.OpDelRange, "r", nil, 0, keyschema.Hash([]byte("r"), nil)},
		// The BatchSet: per hashkey, a new entry when the TTL changes.
		{protocol.OpMultiPut, "a", []string{"1", "2"}, 0, keyschema.Hash([]byte("a"), nil)},
		{protocol.OpMultiPut, "b", []string{"1"}, 0, keyschema.Hash([]byte("b"), nil)},
		{protocol.OpMultiPut, "a", []string{"3"}, 60, keyschema.Hash([]byte("a"), nil)},
		{protocol.OpMultiPut, "a", []string{"1"}, 0, keyschema.Hash([]byte("a"), nil)},
	}
	if len(s.out) != len(wants) {
		t.Fatalf("got %d entries, want %d", len(s.out), len(wants))
	}
	if s.unshippable != 1 {
		t.Fatalf("unshippable = %d, want 1 (the incr)", s.unshippable)
	}
	for i, w := range wants {
		e := s.out[i]
		if e.Op != w.op || e.TimestampUs != 42 || e.ClusterID != testCluster || e.hash != w.hash {
			t.Fatalf("entry %d: op %s ts %d cluster %d hash %x, want %s 42 %d %x", i, e.Op, e.TimestampUs, e.ClusterID, e.hash, w.op, testCluster, w.hash)
		}
		req, err := replica.DecodeUpdate(protocol.Update{Op: e.Op, Body: e.Body})
		if err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
		var hk string
		var sks []string
		var ttl int32
		switch r := req.(type) {
		case *protocol.SetRequest:
			hk, sks, ttl = string(r.HashKey), []string{string(r.SortKey)}, r.TTLSeconds
		case *protocol.DelRequest:
			hk, sks = string(r.HashKey), []string{string(r.SortKey)}
		case *protocol.MultiSetRequest:
			hk, ttl = string(r.HashKey), r.TTLSeconds
			for _, kv := range r.KVs {
				sks = append(sks, string(kv.SortKey))
			}
		case *protocol.MultiDelRequest:
			hk = string(r.HashKey)
			for _, sk := range r.SortKeys {
				sks = append(sks, string(sk))
			}
		case *protocol.DelRangeRequest:
			hk = string(r.HashKey)
		default:
			t.Fatalf("entry %d decodes to %T", i, req)
		}
		if hk != w.hk || !equalStrings(sks, w.sks) || ttl != w.ttl {
			t.Fatalf("entry %d: %s %v ttl %d, want %s %v ttl %d", i, hk, sks, ttl, w.hk, w.sks, w.ttl)
		}
	}
}

func TestSplitEmptyHashKeyRoutesBySortKey(t *testing.T) {
	// Requests with an empty hashkey never pass the server's validation,
	// but an entry must route as keyschema.Hash does if one is logged.
	m := &protocol.Mutation{Decree: 1, Updates: []protocol.Update{
		{Op: protocol.OpMultiPut, Body: mustEncode(t, &protocol.MultiSetRequest{KVs: []protocol.KeyValue{{SortKey: []byte("s1"), Value: []byte("v")}, {SortKey: []byte("s2")}}})},
		{Op: protocol.OpMultiRemove, Body: mustEncode(t, &protocol.MultiDelRequest{SortKeys: [][]byte{[]byte("s3")}})},
	}}
	s := splitter{clusterID: testCluster}
	if err := s.split(m); err != nil {
		t.Fatal(err)
	}
	ops := []protocol.OpCode{protocol.OpPut, protocol.OpPut, protocol.OpRemove}
	sks := []string{"s1", "s2", "s3"}
	if len(s.out) != 3 {
		t.Fatalf("got %d entries", len(s.out))
	}
	for i := range s.out {
		if s.out[i].Op != ops[i] || s.out[i].hash != keyschema.Hash(nil, []byte(sks[i])) {
			t.Fatalf("entry %d: %s hash %x", i, s.out[i].Op, s.out[i].hash)
		}
	}
}

func TestSplitCorruptUpdate(t *testing.T) {
	s := splitter{clusterID: testCluster}
	err := s.split(&protocol.Mutation{Decree: 9, Updates: []protocol.Update{{Op: protocol.OpPut, Body: []byte{0xff, 1, 2}}}})
	if !errors.Is(err, protocol.CodeCorruption) {
		t.Fatalf("err = %v, want CodeCorruption", err)
	}
}

func mustEncode(t testing.TB, m protocol.Message) []byte {
	t.Helper()
	b, err := m.AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// writeWorkload logs n mutations of sets, deletes and batch sets over many
// hashkeys and returns the expected final data.
func writeWorkload(t *testing.T, l *testLog, n int) map[string]string {
	t.Helper()
	want := map[string]string{}
	for i := range n {
		switch i % 5 {
		case 0, 1:
			hk, v := key(i), "v"+strconv.Itoa(i)
			l.append(set(t, hk, "s", v), emptyWrite)
			want[hk+"/s"] = v
		case 2:
			hk := key(i - 1)
			l.append(del(t, hk, "s"))
			delete(want, hk+"/s")
		case 3:
			var items []protocol.BatchSetItem
			for j := range 6 {
				hk, sk := key(i+j), "b"+strconv.Itoa(j%2)
				items = append(items, protocol.BatchSetItem{HashKey: []byte(hk), SortKey: []byte(sk), Value: []byte("bv")})
				want[hk+"/"+sk] = "bv"
			}
			l.append(upd(t, protocol.OpMultiPut, &protocol.BatchSetRequest{Items: items}))
		case 4:
			l.append(emptyWrite)
		}
	}
	return want
}

func TestRoutingAcrossPartitionCounts(t *testing.T) {
	for _, remote := range []int32{1, 4, 8} {
		t.Run(strconv.Itoa(int(remote)), func(t *testing.T) {
			l := newTestLog(t)
			want := writeWorkload(t, l, 200)
			r := newFakeRemote(t, remote)
			d := newTestDuplicator(t, l, r, func(o *Options) { o.BatchBytes = 512 })
			drain(t, d)
			if got := r.snapshot(); !maps.Equal(got, want) {
				t.Fatalf("remote holds %d records, want %d", len(got), len(want))
			}
			if c := d.Confirmed(); c != l.next-1 {
				t.Fatalf("confirmed %d, want %d", c, l.next-1)
			}
			used := map[int32]bool{}
			for _, c := range r.callsCopy() {
				used[c.partition] = true
			}
			if len(used) != int(remote) {
				t.Fatalf("entries reached %d of %d remote partitions", len(used), remote)
			}
		})
	}
}

// TestRoutingDependsOnRemoteOnly: the same source log of an 8-partition
// table's partition ships to a 4- and to a 16-partition table; each entry
// routes by its own key.
func TestRoutingDependsOnRemoteOnly(t *testing.T) {
	l := newTestLog(t)
	// Keys of source partition 3 of 8.
	var want = map[string]string{}
	for i := 0; len(want) < 60; i++ {
		hk := key(i)
		if p, _ := keyschema.PartitionIndex(keyschema.Hash([]byte(hk), nil), 8); p != 3 {
			continue
		}
		l.append(set(t, hk, "s", "v"))
		want[hk+"/s"] = "v"
	}
	for _, n := range []int32{4, 16} {
		r := newFakeRemote(t, n) // fakeRemote checks every entry's partition
		d := newTestDuplicator(t, l, r, nil)
		drain(t, d)
		if got := r.snapshot(); !maps.Equal(got, want) {
			t.Fatalf("%d partitions: remote holds %d records, want %d", n, len(got), len(want))
		}
	}
}

func TestBatchingLimits(t *testing.T) {
	l := newTestLog(t)
	for i := range 40 {
		l.append(set(t, "h", strconv.Itoa(i), string(make([]byte, 100))))
		if i%3 == 0 {
			l.append(emptyWrite)
		}
	}
	entrySize := 0
	{
		s := splitter{clusterID: testCluster}
		if err := s.split(&protocol.Mutation{Updates: []protocol.Update{set(t, "h", "0", string(make([]byte, 100)))}}); err != nil {
			t.Fatal(err)
		}
		entrySize = s.out[0].size()
	}

	t.Run("none", func(t *testing.T) {
		r := newFakeRemote(t, 1)
		d := newTestDuplicator(t, l, r, func(o *Options) { o.BatchBytes = 0 })
		drain(t, d)
		calls := r.callsCopy()
		if len(calls) != 40 {
			t.Fatalf("%d calls for 40 mutations without batching", len(calls))
		}
		for _, c := range calls {
			if len(c.entries) != 1 {
				t.Fatalf("a call carries %d entries", len(c.entries))
			}
		}
	})
	t.Run("bytes", func(t *testing.T) {
		r := newFakeRemote(t, 1)
		limit := 5*entrySize + entrySize/2
		d := newTestDuplicator(t, l, r, func(o *Options) { o.BatchBytes = limit })
		drain(t, d)
		calls := r.callsCopy()
		if len(calls) != 8 {
			t.Fatalf("%d calls, want 8 (5 entries each)", len(calls))
		}
		for _, c := range calls {
			if len(c.entries) != 5 {
				t.Fatalf("a call carries %d entries, want 5", len(c.entries))
			}
		}
	})
	t.Run("oversized", func(t *testing.T) {
		// A mutation larger than the limit is still shipped, alone.
		r := newFakeRemote(t, 1)
		d := newTestDuplicator(t, l, r, func(o *Options) { o.BatchBytes = 10 })
		drain(t, d)
		if n := len(r.callsCopy()); n != 40 {
			t.Fatalf("%d calls, want 40", n)
		}
	})
}

func TestFailSlowRetriesUntilApplied(t *testing.T) {
	l := newTestLog(t)
	want := writeWorkload(t, l, 30)
	r := newFakeRemote(t, 4)
	failures := 0
	r.fail = func(p int32, _ []protocol.DuplicateEntry) error {
		if p == 2 && failures < 25 {
			failures++
			return protocol.Errorf(protocol.CodeBusy, "remote busy")
		}
		return nil
	}
	d := newTestDuplicator(t, l, r, func(o *Options) { o.BatchBytes = 256; o.SkipAttempts = 2 })
	drain(t, d)
	if got := r.snapshot(); !maps.Equal(got, want) {
		t.Fatalf("remote holds %d records, want %d", len(got), len(want))
	}
	p := d.Progress()
	if p.Skipped != 0 || p.FailedOps == 0 || p.LastError != "" || p.Confirmed != l.next-1 {
		t.Fatalf("progress %+v", p)
	}
	// Only the failed partition's entries were sent again.
	for _, c := range r.callsCopy() {
		if c.failed && c.partition != 2 {
			t.Fatalf("partition %d failed", c.partition)
		}
	}
}

func TestFailSkipSkipsAfterBoundedAttempts(t *testing.T) {
	l := newTestLog(t)
	for i := range 10 {
		l.append(set(t, key(i), "s", "v"))
	}
	r := newFakeRemote(t, 1)
	r.fail = func(int32, []protocol.DuplicateEntry) error {
		return protocol.Errorf(protocol.CodeTimeout, "remote down")
	}
	d := newTestDuplicator(t, l, r, func(o *Options) {
		o.FailMode = protocol.DupFailSkip
		o.SkipAttempts = 3
		o.BatchBytes = 4 * 64
	})
	drain(t, d)
	p := d.Progress()
	if p.Confirmed != 10 || p.Skipped != 10 || p.ShippedOps != 0 {
		t.Fatalf("progress %+v", p)
	}
	if !strings.Contains(p.LastError, "remote down") {
		t.Fatalf("last error %q", p.LastError)
	}
	batches := 0
	for _, c := range r.callsCopy() {
		if !c.failed {
			t.Fatal("a call succeeded")
		}
		batches++
	}
	if batches%3 != 0 {
		t.Fatalf("%d calls: not 3 attempts per batch", batches)
	}

	// The remote is back: new mutations ship, the error clears.
	r.mu.Lock()
	r.fail = nil
	r.mu.Unlock()
	l.append(set(t, "late", "s", "v"))
	drain(t, d)
	p = d.Progress()
	if p.Confirmed != 11 || p.Skipped != 10 || p.ShippedOps != 1 || p.LastError != "" {
		t.Fatalf("progress %+v", p)
	}
}

func TestFailModeSwitchesLive(t *testing.T) {
	l := newTestLog(t)
	l.append(set(t, "a", "s", "v"))
	r := newFakeRemote(t, 1)
	r.fail = func(int32, []protocol.DuplicateEntry) error {
		return protocol.Errorf(protocol.CodeTimeout, "remote down")
	}
	var d *Duplicator
	waits := 0
	d = newTestDuplicator(t, l, r, func(o *Options) {
		o.SkipAttempts = 2
		o.After = func(time.Duration) <-chan time.Time {
			// FAIL_SLOW keeps retrying far past SkipAttempts; switch to
			// FAIL_SKIP after 10 retries.
			waits++
			if waits == 10 {
				d.SetFailMode(protocol.DupFailSkip)
			}
			return noWait(0)
		}
	})
	drain(t, d)
	if p := d.Progress(); p.Skipped != 1 || p.Confirmed != 1 || waits != 10 {
		t.Fatalf("progress %+v after %d waits", p, waits)
	}
}

func TestRestartFromConfirmedHasNoGap(t *testing.T) {
	l := newTestLog(t)
	want := writeWorkload(t, l, 50)
	mid := l.next - 1
	r := newFakeRemote(t, 4)
	d1 := newTestDuplicator(t, l, r, func(o *Options) { o.BatchBytes = 300 })
	drain(t, d1)
	if d1.Confirmed() != mid {
		t.Fatalf("confirmed %d, want %d", d1.Confirmed(), mid)
	}
	shippedBefore := len(r.callsCopy())

	for k, v := range writeWorkload(t, l, 50) {
		want[k] = v
	}
	// Keys the second workload deleted were written by the first.
	for i := range 50 {
		if i%5 == 2 {
			delete(want, key(i-1)+"/s")
		}
	}
	// A new duplicator (a new primary, or after a pause) resumes from the
	// persisted confirmed decree.
	d2 := newTestDuplicator(t, l, r, func(o *Options) { o.BatchBytes = 300; o.Confirmed = mid })
	drain(t, d2)
	if got := r.snapshot(); !maps.Equal(got, want) {
		t.Fatalf("remote holds %d records, want %d", len(got), len(want))
	}
	// Nothing at or below mid was shipped again.
	for _, c := range r.callsCopy()[shippedBefore:] {
		for _, e := range c.entries {
			if e.TimestampUs <= 1_700_000_000_000_000+int64(mid) {
				t.Fatalf("entry of decree %d shipped again", e.TimestampUs-1_700_000_000_000_000)
			}
		}
	}
	if d2.Confirmed() != l.next-1 {
		t.Fatalf("confirmed %d, want %d", d2.Confirmed(), l.next-1)
	}
}

func TestDuplicatedWritesAreNotShippedAgain(t *testing.T) {
	l := newTestLog(t)
	incoming := mustEncode(t, &protocol.DuplicateRequest{Entries: []protocol.DuplicateEntry{
		{TimestampUs: 1, ClusterID: 9, Op: protocol.OpPut, Body: set(t, "x", "y", "from-elsewhere").Body}}})
	l.append(protocol.Update{Op: protocol.OpDuplicate, Body: incoming})
	l.append(set(t, "local", "s", "v"), protocol.Update{Op: protocol.OpDuplicate, Body: incoming})
	l.append(protocol.Update{Op: protocol.OpDuplicate, Body: incoming})
	r := newFakeRemote(t, 2)
	d := newTestDuplicator(t, l, r, nil)
	drain(t, d)
	if got := r.snapshot(); !maps.Equal(got, map[string]string{"local/s": "v"}) {
		t.Fatalf("remote holds %v", got)
	}
	if d.Confirmed() != 3 || len(r.callsCopy()) != 1 {
		t.Fatalf("confirmed %d after %d calls", d.Confirmed(), len(r.callsCopy()))
	}
}

func TestOnlyCommittedMutationsShip(t *testing.T) {
	l := newTestLog(t)
	l.append(set(t, "a", "s", "1"))
	// Decree 2 is logged but not committed yet.
	m := &protocol.Mutation{Ballot: 1, Decree: 2, LastCommitted: 1, TimestampUs: 2, Updates: []protocol.Update{set(t, "b", "s", "2")}}
	if err := l.l.Append([]*protocol.Mutation{m}); err != nil {
		t.Fatal(err)
	}
	l.next = 3
	r := newFakeRemote(t, 1)
	d := newTestDuplicator(t, l, r, nil)
	drain(t, d)
	if got := r.snapshot(); !maps.Equal(got, map[string]string{"a/s": "1"}) || d.Confirmed() != 1 {
		t.Fatalf("remote holds %v, confirmed %d", got, d.Confirmed())
	}
	l.append(emptyWrite) // commits decree 2
	drain(t, d)
	if got := r.snapshot(); len(got) != 2 || d.Confirmed() != 3 {
		t.Fatalf("remote holds %v, confirmed %d", got, d.Confirmed())
	}
}

func TestGarbageCollectedLogIsAnError(t *testing.T) {
	l := newTestLog(t)
	for i := range 200 {
		l.append(set(t, key(i), "s", string(make([]byte, 64))))
	}
	if _, err := l.l.GC(150); err != nil {
		t.Fatal(err)
	}
	if l.l.Stats().MinDecree <= 10 {
		t.Fatal("GC removed nothing")
	}
	for _, confirmed := range []protocol.Decree{0, 10} {
		d := newTestDuplicator(t, l, newFakeRemote(t, 1), func(o *Options) { o.Confirmed = confirmed })
		_, err := d.step(context.Background())
		if !errors.Is(err, plog.ErrGarbageCollected) {
			t.Fatalf("confirmed %d: step error %v, want ErrGarbageCollected", confirmed, err)
		}
		d.closeReader()
	}
}

func TestRunShipsAndStops(t *testing.T) {
	l := newTestLog(t)
	r := newFakeRemote(t, 4)
	d := newTestDuplicator(t, l, r, func(o *Options) { o.After = time.After; o.PollInterval = time.Millisecond })
	d.Start()
	defer d.Stop()
	want := map[string]string{}
	for i := range 20 {
		l.append(set(t, key(i), "s", "v"))
		want[key(i)+"/s"] = "v"
		d.Kick()
	}
	deadline := time.After(30 * time.Second)
	for d.Confirmed() < 20 {
		select {
		case <-r.seen:
		case <-time.After(10 * time.Millisecond):
		case <-deadline:
			t.Fatalf("confirmed %d of 20", d.Confirmed())
		}
	}
	d.Stop()
	d.Stop()
	if got := r.snapshot(); !maps.Equal(got, want) {
		t.Fatalf("remote holds %v", got)
	}
	// Stopped: nothing more ships.
	calls := len(r.callsCopy())
	l.append(set(t, "after", "s", "v"))
	d.Kick()
	if n := len(r.callsCopy()); n != calls || d.Confirmed() != 20 {
		t.Fatalf("after Stop: %d calls (was %d), confirmed %d", n, calls, d.Confirmed())
	}
}

func TestOptionsValidation(t *testing.T) {
	l := newTestLog(t)
	r := newFakeRemote(t, 1)
	for name, mutate := range map[string]func(*Options){
		"no cluster id":  func(o *Options) { o.ClusterID = 0 },
		"cluster id 128": func(o *Options) { o.ClusterID = 128 },
		"negative start": func(o *Options) { o.Confirmed = -1 },
		"no remote":      func(o *Options) { o.Remote = nil },
		"negative batch": func(o *Options) { o.BatchBytes = -1 },
		"bad fail mode":  func(o *Options) { o.FailMode = 9 },
	} {
		o := Options{ClusterID: testCluster, Log: l.log(), Remote: r}
		mutate(&o)
		if _, err := New(o); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// commitLog is a Log whose commit point, ballot and role the test sets,
// as the replica's core would.
type commitLog struct {
	PlogLog
	mu        sync.Mutex
	ballot    protocol.Ballot
	committed protocol.Decree
	primary   bool
}

func (c *commitLog) CommitPoint() (protocol.Ballot, protocol.Decree, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ballot, c.committed, c.primary
}

func (c *commitLog) set(b protocol.Ballot, committed protocol.Decree, primary bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ballot, c.committed, c.primary = b, committed, primary
}

func TestCommitPointBoundsWhatShips(t *testing.T) {
	l := newTestLog(t)
	// The log's own evidence would commit everything; the core's commit
	// point says otherwise.
	for i := range 5 {
		l.append(set(t, key(i), "s", "v"))
	}
	cl := &commitLog{PlogLog: PlogLog{L: l.l}}
	cl.set(1, 2, true)
	r := newFakeRemote(t, 2)
	d := newTestDuplicator(t, l, r, func(o *Options) { o.Log = cl })
	drain(t, d)
	if d.Confirmed() != 2 || len(r.snapshot()) != 2 {
		t.Fatalf("confirmed %d, remote %v", d.Confirmed(), r.snapshot())
	}
	// The last write ships as soon as the core commits it, with no later
	// record.
	cl.set(1, 5, true)
	drain(t, d)
	if d.Confirmed() != 5 || len(r.snapshot()) != 5 {
		t.Fatalf("confirmed %d, remote %v", d.Confirmed(), r.snapshot())
	}

	// Not primary: nothing is read.
	l.append(set(t, "x", "s", "v"))
	cl.set(1, 6, false)
	if _, err := d.step(context.Background()); !errors.Is(err, errNotPrimary) {
		t.Fatalf("step on a non-primary: %v", err)
	}
	d.closeReader()
}

func TestBallotChangeReadsAgain(t *testing.T) {
	l := newTestLog(t)
	for i := range 4 {
		l.append(set(t, key(i), "s", "old"))
	}
	cl := &commitLog{PlogLog: PlogLog{L: l.l}}
	cl.set(1, 2, true)
	r := newFakeRemote(t, 1)
	d := newTestDuplicator(t, l, r, func(o *Options) { o.Log = cl })
	if _, err := d.step(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Decrees 3 and 4 were read (3 is held) under ballot 1. A new ballot
	// re-appends decree 3 with other content and drops 4.
	re := &protocol.Mutation{Ballot: 2, Decree: 3, LastCommitted: 3, TimestampUs: 3, Updates: []protocol.Update{set(t, key(2), "s", "new")}}
	if err := l.l.Append([]*protocol.Mutation{re}); err != nil {
		t.Fatal(err)
	}
	cl.set(2, 3, true)
	drain(t, d)
	got := r.snapshot()
	if d.Confirmed() != 3 || got[key(2)+"/s"] != "new" || len(got) != 3 {
		t.Fatalf("confirmed %d, remote %v", d.Confirmed(), got)
	}
}

func TestStoppedDuplicatorClearsPendingGauge(t *testing.T) {
	l := newTestLog(t)
	for i := range 3 {
		l.append(set(t, key(i), "s", "v"))
	}
	scope := tally.NewTestScope("", nil)
	waiting := make(chan struct{}, 1)
	d := newTestDuplicator(t, l, newFakeRemote(t, 4), func(o *Options) {
		// The commit point is past what the log holds: 7 mutations stay pending.
		o.Log = PlogLog{L: l.l, Committed: func() protocol.Decree { return 10 }}
		o.Scope = scope
		o.After = func(time.Duration) <-chan time.Time {
			select {
			case waiting <- struct{}{}:
			default:
			}
			return make(chan time.Time) // never fires: Stop ends the wait
		}
	})
	pending := func() float64 {
		for _, g := range scope.Snapshot().Gauges() {
			if g.Name() == MetricPendingMutations && g.Tags()["partition"] == "0" {
				return g.Value()
			}
		}
		t.Fatal("no pending gauge")
		return 0
	}
	d.Start()
	<-waiting // caught up with the log: the gauge was updated
	if got := pending(); got != 7 {
		d.Stop()
		t.Fatalf("pending gauge %v while running, want 7", got)
	}
	d.Stop()
	// A stopped duplicator (e.g. its primary moved away) no longer reports
	// a backlog on this node: the new primary's node does.
	if got := pending(); got != 0 {
		t.Fatalf("pending gauge %v after Stop, want 0", got)
	}
}
