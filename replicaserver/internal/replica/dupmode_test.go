package replica

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/vfs"
	"github.com/uber-go/tally/v4"

	"github.com/pegasus-go/pegasus/replicaserver/internal/replica/core"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

// checkDuplicatedLog checks that every data mutation in r's plog carries
// the duplication flag and no non-idempotent write reached the log.
func checkDuplicatedLog(t *testing.T, r *Replica) {
	t.Helper()
	n := 0
	err := r.plog.Replay(1, func(m *protocol.Mutation) error {
		for _, u := range m.Updates {
			if u.Op == protocol.OpEmpty {
				continue
			}
			if !u.Op.Idempotent() {
				return fmt.Errorf("decree %d holds a %s update", m.Decree, u.Op)
			}
			if m.Flags&protocol.MutationDupTimetags == 0 {
				return fmt.Errorf("decree %d has no duplication flag", m.Decree)
			}
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("no update in the plog")
	}
}

// logFlags returns the flags of every mutation in r's plog.
func logFlags(t *testing.T, r *Replica) []protocol.MutationFlags {
	t.Helper()
	var out []protocol.MutationFlags
	if err := r.plog.Replay(1, func(m *protocol.Mutation) error {
		out = append(out, m.Flags)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func write(t *testing.T, r *Replica, op protocol.OpCode, req protocol.Message) protocol.Message {
	t.Helper()
	resp, err := r.Write(context.Background(), op, req)
	if err != nil {
		t.Fatalf("%s: %v", op, err)
	}
	return resp
}

func TestSetDuplicatingFlagsMutations(t *testing.T) {
	fs := vfs.NewMem()
	prepareFS(t, fs)
	r := mustOpen(t, testOptions(fs))
	defer mustClose(t, r)
	doSet(t, r, "h", "a", "1")
	if r.Duplicating() {
		t.Fatal("duplicating before SetDuplicating")
	}
	r.SetDuplicating(true)
	doSet(t, r, "h", "b", "2")
	write(t, r, protocol.OpRemove, &protocol.DelRequest{HashKey: []byte("h"), SortKey: []byte("a")})
	r.SetDuplicating(false)
	doSet(t, r, "h", "c", "3")
	want := []protocol.MutationFlags{0, protocol.MutationDupTimetags, protocol.MutationDupTimetags, 0}
	if got := logFlags(t, r); !reflect.DeepEqual(got, want) {
		t.Fatalf("mutation flags %v, want %v", got, want)
	}
	if _, ok := read(t, r, "h", "a"); ok {
		t.Fatal("deleted record still visible")
	}
	// The delete left a tombstone: an older duplicated write stays out.
	old := dupRequest(t, entry(time.Now().Add(-time.Hour).UnixMicro(), 2, protocol.OpPut, setReq("h", "a", "old")))
	if resp := write(t, r, protocol.OpDuplicate, old).(*protocol.DuplicateResponse); resp.Applied != 0 {
		t.Fatalf("older entry applied over a tombstone: %+v", resp)
	}
	if _, ok := read(t, r, "h", "a"); ok {
		t.Fatal("tombstone resurrected")
	}
}

func TestFollowerTableIsDuplicating(t *testing.T) {
	fs := vfs.NewMem()
	prepareFS(t, fs)
	opts := testOptions(fs)
	r := mustOpen(t, opts)
	defer mustClose(t, r)
	app := opts.App
	app.Envs = map[string]string{protocol.EnvDupMasterApp: "temp", protocol.EnvDupMasterCluster: "master"}
	if err := r.UpdateConfig(app, opts.Config); err != nil {
		t.Fatal(err)
	}
	if !r.Duplicating() {
		t.Fatal("follower table not duplicating")
	}
	doSet(t, r, "h", "a", "1")
	if got := logFlags(t, r); len(got) != 1 || got[0] != protocol.MutationDupTimetags {
		t.Fatalf("flags %v", got)
	}
	app.Envs = nil
	if err := r.UpdateConfig(app, opts.Config); err != nil {
		t.Fatal(err)
	}
	if r.Duplicating() {
		t.Fatal("still duplicating without the envs")
	}
}

func entry(ts int64, cluster uint8, op protocol.OpCode, req protocol.Message) protocol.DuplicateEntry {
	u, err := EncodeUpdate(op, req)
	if err != nil {
		panic(err)
	}
	return protocol.DuplicateEntry{TimestampUs: ts, ClusterID: cluster, Op: op, Body: u.Body}
}

func dupRequest(t *testing.T, es ...protocol.DuplicateEntry) *protocol.DuplicateRequest {
	t.Helper()
	return &protocol.DuplicateRequest{Header: protocol.RequestHeader{Gpid: testGpid}, Entries: es}
}

func TestDuplicateWrites(t *testing.T) {
	fs := vfs.NewMem()
	prepareFS(t, fs)
	scope := tally.NewTestScope("", nil)
	clock := newFakeClock()
	opts := testOptions(fs)
	opts.Scope, opts.Clock, opts.ClusterID = scope, clock.Now, 1
	r := mustOpen(t, opts)
	defer mustClose(t, r)
	base := clock.Now().UnixMicro()

	dup := func(es ...protocol.DuplicateEntry) int32 {
		t.Helper()
		return write(t, r, protocol.OpDuplicate, dupRequest(t, es...)).(*protocol.DuplicateResponse).Applied
	}
	if n := dup(entry(base-2000, 2, protocol.OpPut, setReq("h", "k", "v2")),
		entry(base-3000, 3, protocol.OpMultiPut, &protocol.MultiSetRequest{HashKey: []byte("h"), KVs: []protocol.KeyValue{{SortKey: []byte("m"), Value: []byte("x")}}}),
		entry(base-5000, 3, protocol.OpPut, setReq("h", "k", "older"))); n != 2 {
		t.Fatalf("applied %d, want 2", n)
	}
	if v, _ := read(t, r, "h", "k"); v != "v2" {
		t.Fatalf("h/k = %q, want v2", v)
	}
	if n := dup(entry(base-1000, 2, protocol.OpMultiRemove, &protocol.MultiDelRequest{HashKey: []byte("h"), SortKeys: [][]byte{[]byte("k"), []byte("m")}})); n != 1 {
		t.Fatalf("applied %d, want 1", n)
	}
	if _, ok := read(t, r, "h", "k"); ok {
		t.Fatal("h/k still there")
	}
	// A duplicate write is flagged whatever the mode.
	if r.Duplicating() {
		t.Fatal("duplicating")
	}
	for _, f := range logFlags(t, r) {
		if f != protocol.MutationDupTimetags {
			t.Fatalf("flags %v", logFlags(t, r))
		}
	}
	// A local write after a duplicated one from the future wins: it gets a
	// larger timestamp.
	future := base + int64(time.Hour/time.Microsecond)
	if n := dup(entry(future, 3, protocol.OpPut, setReq("h", "f", "remote"))); n != 1 {
		t.Fatalf("applied %d", n)
	}
	r.SetDuplicating(true)
	doSet(t, r, "h", "f", "local")
	if v, _ := read(t, r, "h", "f"); v != "local" {
		t.Fatalf("h/f = %q, want local", v)
	}
	var lastTs int64
	_ = r.plog.Replay(1, func(m *protocol.Mutation) error { lastTs = m.TimestampUs; return nil })
	if lastTs <= future {
		t.Fatalf("local mutation at %d, not above the duplicated %d", lastTs, future)
	}

	// dup_time_lag_ms: one value per entry applied on the primary; the
	// entry from the future counts as no lag.
	h := scope.Snapshot().Histograms()["dup_time_lag_ms+"]
	if h == nil {
		t.Fatal("no dup_time_lag_ms histogram")
	}
	var n int64
	for _, c := range h.Values() {
		n += c
	}
	if n != 5 {
		t.Fatalf("dup_time_lag_ms has %d values, want 5", n)
	}

	for _, c := range []struct {
		name string
		req  *protocol.DuplicateRequest
	}{
		{"no entries", dupRequest(t)},
		{"incr", dupRequest(t, entry(base, 2, protocol.OpIncr, &protocol.IncrRequest{HashKey: []byte("h")}))},
		{"empty", dupRequest(t, protocol.DuplicateEntry{TimestampUs: base, ClusterID: 2, Op: protocol.OpEmpty})},
		{"nested", dupRequest(t, protocol.DuplicateEntry{TimestampUs: base, ClusterID: 2, Op: protocol.OpDuplicate})},
		{"bad body", dupRequest(t, protocol.DuplicateEntry{TimestampUs: base, ClusterID: 2, Op: protocol.OpPut, Body: []byte{1, 2}})},
		{"cluster id", dupRequest(t, entry(base, 200, protocol.OpPut, setReq("h", "k", "v")))},
		{"timestamp", dupRequest(t, entry(-5, 2, protocol.OpPut, setReq("h", "k", "v")))},
	} {
		if _, err := r.Write(context.Background(), protocol.OpDuplicate, c.req); !errors.Is(err, protocol.CodeInvalidArgument) {
			t.Errorf("%s: %v, want ERR_INVALID_PARAMETERS", c.name, err)
		}
	}
}

// TestConversionWaitsForEarlierWrites queues a set, an incr and another
// set while the loop is parked: the incr is computed after the first set
// is applied and before the second.
func TestConversionWaitsForEarlierWrites(t *testing.T) {
	fs := vfs.NewMem()
	prepareFS(t, fs)
	r := mustOpen(t, testOptions(fs))
	defer mustClose(t, r)
	r.SetDuplicating(true)
	release := blockLoop(t, r)
	var wg sync.WaitGroup
	var incr *protocol.IncrResponse
	var incrErr error
	queued := func(n int) {
		for len(r.propc) < n {
			runtime.Gosched()
		}
	}
	wg.Add(3)
	go func() { defer wg.Done(); doSet(t, r, "h", "c", "1") }()
	queued(1)
	go func() { defer wg.Done(); incr, incrErr = doIncr(r, "h", "c", 1) }()
	queued(2)
	go func() { defer wg.Done(); doSet(t, r, "h", "c", "5") }()
	queued(3)
	release()
	wg.Wait()
	if incrErr != nil || incr.NewValue != 2 || incr.Decree == 0 {
		t.Fatalf("incr = %+v %v, want 2", incr, incrErr)
	}
	if v, _ := read(t, r, "h", "c"); v != "5" {
		t.Fatalf("h/c = %q, want 5", v)
	}
	checkDuplicatedLog(t, r)
}

// TestConvertedWritesMatchPlain runs the same random write sequence on a
// plain and on a duplicated replica: every answer (but decrees) and the
// final data are the same.
func TestConvertedWritesMatchPlain(t *testing.T) {
	clock := newFakeClock()
	open := func(dir string) *Replica {
		fs := vfs.NewMem()
		prepareFS(t, fs)
		opts := testOptions(fs)
		opts.Dir, opts.Clock = "/data/"+dir, clock.Now
		return mustOpen(t, opts)
	}
	plain, dup := open("1.0"), open("1.1")
	defer mustClose(t, plain)
	defer mustClose(t, dup)
	dup.SetDuplicating(true)

	rng := rand.New(rand.NewPCG(1, 2))
	sks := []string{"a", "b", "c", "d"}
	vals := []string{"", "1", "7", "-2", "x"}
	pick := func(s []string) []byte { return []byte(s[rng.IntN(len(s))]) }
	for i := range 400 {
		if rng.IntN(10) == 0 {
			clock.Advance(time.Duration(rng.IntN(3)) * time.Second)
		}
		var op protocol.OpCode
		var req protocol.Message
		switch rng.IntN(7) {
		case 0:
			op, req = protocol.OpPut, &protocol.SetRequest{HashKey: []byte("h"), SortKey: pick(sks), Value: pick(vals), TTLSeconds: int32(rng.IntN(2) * 100)}
		case 1:
			op, req = protocol.OpRemove, &protocol.DelRequest{HashKey: []byte("h"), SortKey: pick(sks)}
		case 2:
			op, req = protocol.OpIncr, &protocol.IncrRequest{HashKey: []byte("h"), SortKey: pick(sks), Increment: int64(rng.IntN(5) - 2),
				ExpireSeconds: int32(rng.IntN(4) - 1)}
		case 3, 4:
			op, req = protocol.OpCheckAndSet, &protocol.CheckAndSetRequest{HashKey: []byte("h"), CheckSortKey: pick(sks),
				CheckType: protocol.CheckType(rng.IntN(19)), CheckOperand: pick(vals), SetDiffSortKey: rng.IntN(2) == 0,
				SetSortKey: pick(sks), SetValue: pick(vals), SetTTLSeconds: int32(rng.IntN(2) * 50), ReturnCheckValue: rng.IntN(2) == 0}
		default:
			var ms []protocol.Mutate
			for range 1 + rng.IntN(4) {
				ms = append(ms, protocol.Mutate{Operation: protocol.MutateOperation(rng.IntN(2)), SortKey: pick(sks),
					Value: pick(vals), TTLSeconds: int32(rng.IntN(2) * 30)})
			}
			op, req = protocol.OpCheckAndMutate, &protocol.CheckAndMutateRequest{HashKey: []byte("h"), CheckSortKey: pick(sks),
				CheckType: protocol.CheckType(rng.IntN(19)), CheckOperand: pick(vals), Mutates: ms, ReturnCheckValue: rng.IntN(2) == 0}
		}
		r1, err1 := plain.Write(context.Background(), op, req)
		r2, err2 := dup.Write(context.Background(), op, req)
		if protocol.CodeOf(err1) != protocol.CodeOf(err2) {
			t.Fatalf("op %d %s %+v: plain error %v, duplicated %v", i, op, req, err1, err2)
		}
		if s1, s2 := withoutDecree(r1), withoutDecree(r2); s1 != s2 {
			t.Fatalf("op %d %s %+v:\nplain      %s\nduplicated %s", i, op, req, s1, s2)
		}
	}
	d1, err := plain.Digest()
	if err != nil {
		t.Fatal(err)
	}
	d2, err := dup.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if d1.SHA256 != d2.SHA256 || d1.Records != d2.Records || d1.Records == 0 {
		t.Fatalf("digests differ: plain %+v, duplicated %+v", d1, d2)
	}
	checkDuplicatedLog(t, dup)
}

// withoutDecree renders a response with its decree zeroed (the replicas
// take different decrees: a converted write that fails its check takes
// none) but keeps whether it had one.
func withoutDecree(m protocol.Message) string {
	if m == nil {
		return "<nil>"
	}
	v := reflect.ValueOf(m).Elem()
	c := reflect.New(v.Type()).Elem()
	c.Set(v)
	had := false
	if f := c.FieldByName("Decree"); f.IsValid() {
		had = f.Int() != 0
		f.SetInt(0)
	}
	return fmt.Sprintf("%T%+v decree=%v", m, c.Interface(), had)
}

// TestConversionWaitsForInFlightMutations: with a secondary, a converted
// incr waits until the set before it is acknowledged and applied; the
// set after it waits too, and goes into the log after the converted put.
func TestConversionWaitsForInFlightMutations(t *testing.T) {
	fs := vfs.NewMem()
	prepareFS(t, fs)
	clock := newFakeClock()
	tr := &recordingTransport{msgs: make(chan core.Message, 64)}
	opts := testOptions(fs)
	opts.Clock, opts.Transport = clock.Now, tr
	r := mustOpen(t, opts)
	defer mustClose(t, r)
	cfg := protocol.PartitionConfiguration{Gpid: testGpid, Ballot: 2, Primary: testNode, Secondaries: []string{otherNode}}
	if err := r.UpdateConfig(protocol.AppInfo{}, cfg); err != nil {
		t.Fatal(err)
	}
	<-tr.msgs // group check
	r.GrantLease(clock.Now().Add(time.Hour))
	r.SetDuplicating(true)

	var wg sync.WaitGroup
	var incr *protocol.IncrResponse
	var incrErr error
	wg.Add(3)
	go func() { defer wg.Done(); doSet(t, r, "h", "c", "1") }()
	first := <-tr.msgs
	go func() { defer wg.Done(); incr, incrErr = doIncr(r, "h", "c", 1) }()
	for r.Status().QueuedWrites == 0 {
		runtime.Gosched()
	}
	go func() { defer wg.Done(); doSet(t, r, "h", "c", "5") }()
	for r.Status().QueuedWrites < 2 {
		runtime.Gosched()
	}
	select {
	case m := <-tr.msgs:
		t.Fatalf("%s sent while the first set is in flight", m)
	default:
	}
	ack := func(m core.Message) {
		t.Helper()
		if m.Type != core.MsgPrepare {
			t.Fatalf("expected a prepare, got %s", m)
		}
		if err := r.Step(core.Message{Type: core.MsgPrepareAck, From: otherNode, To: testNode, Ballot: 2,
			LastPrepared: m.Mutation.Decree, LastCommitted: m.LastCommitted}); err != nil {
			t.Fatal(err)
		}
	}
	ack(first)
	converted := <-tr.msgs
	u := converted.Mutation.Updates
	if len(u) != 1 || u[0].Op != protocol.OpPut || converted.Mutation.Flags != protocol.MutationDupTimetags {
		t.Fatalf("converted mutation %s", core.MutationString(converted.Mutation))
	}
	if req, _ := DecodeUpdate(u[0]); string(req.(*protocol.SetRequest).Value) != "2" {
		t.Fatalf("converted put %+v", req)
	}
	ack(converted)
	ack(<-tr.msgs)
	wg.Wait()
	if incrErr != nil || incr.NewValue != 2 || incr.Decree != converted.Mutation.Decree {
		t.Fatalf("incr = %+v %v", incr, incrErr)
	}
	if v, _ := read(t, r, "h", "c"); v != "5" {
		t.Fatalf("h/c = %q, want 5", v)
	}
}
