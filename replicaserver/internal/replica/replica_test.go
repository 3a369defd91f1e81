package replica

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/vfs"
	"github.com/cockroachdb/pebble/vfs/errorfs"
	"github.com/uber-go/tally/v4"

	"github.com/pegasus-go/pegasus/replicaserver/internal/plog"
	"github.com/pegasus-go/pegasus/replicaserver/internal/replica/core"
	"github.com/pegasus-go/pegasus/replicaserver/internal/storage"
	"github.com/pegasus-go/pegasus/shared/keyschema"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

// TestConcurrentWriters runs 16 writers doing sets, incrs on a private and
// a shared counter, and check_and_sets; every acknowledged write must be
// visible afterwards and concurrent sets must share mutations.
// TestConcurrentWriters races writers over shared incr and check_and_set
// keys, with the table duplicated (non-idempotent writes converted by the
// primary) and without: the outcomes must be the same.
func TestConcurrentWriters(t *testing.T) {
	t.Run("plain", func(t *testing.T) { runConcurrentWriters(t, false) })
	t.Run("duplicated", func(t *testing.T) { runConcurrentWriters(t, true) })
}

func runConcurrentWriters(t *testing.T, dup bool) {
	fs := vfs.NewMem()
	prepareFS(t, fs)
	scope := tally.NewTestScope("", nil)
	opts := testOptions(fs)
	opts.Scope = scope
	r := mustOpen(t, opts)
	defer mustClose(t, r)
	r.SetDuplicating(dup)

	const writers, ops = 16, 60
	type result struct {
		sharedIncrs []int64
		casPassed   map[string]bool
		err         error
	}
	results := make([]result, writers)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := &results[w]
			res.casPassed = map[string]bool{}
			hk := fmt.Sprintf("w%02d", w)
			ctx := context.Background()
			for i := range ops {
				if _, err := r.Write(ctx, protocol.OpPut, setReq(hk, fmt.Sprintf("k%03d", i), fmt.Sprintf("v%d-%d", w, i))); err != nil {
					res.err = err
					return
				}
				switch i % 3 {
				case 0:
					ir, err := doIncr(r, hk, "counter", 2)
					if err != nil {
						res.err = err
						return
					}
					if want := int64(2 * (i/3 + 1)); ir.NewValue != want {
						res.err = fmt.Errorf("private counter = %d, want %d", ir.NewValue, want)
						return
					}
				case 1:
					ir, err := doIncr(r, "shared", "counter", 1)
					if err != nil {
						res.err = err
						return
					}
					res.sharedIncrs = append(res.sharedIncrs, ir.NewValue)
				case 2:
					// Every writer races for the same cas key: exactly one wins.
					sk := fmt.Sprintf("cas%03d", i)
					resp, err := r.Write(ctx, protocol.OpCheckAndSet, &protocol.CheckAndSetRequest{
						HashKey: []byte("shared"), CheckSortKey: []byte(sk), CheckType: protocol.CheckValueNotExist,
						SetValue: []byte(hk), ReturnCheckValue: true,
					})
					if err != nil {
						res.err = err
						return
					}
					cr := resp.(*protocol.CheckAndSetResponse)
					if cr.CheckPassed == cr.CheckValueExist {
						res.err = fmt.Errorf("cas %s: passed=%v but exist=%v", sk, cr.CheckPassed, cr.CheckValueExist)
						return
					}
					if cr.CheckPassed {
						res.casPassed[sk] = true
					}
				}
			}
		}()
	}
	wg.Wait()

	seen := map[int64]bool{}
	winners := map[string]string{}
	for w, res := range results {
		if res.err != nil {
			t.Fatalf("writer %d: %v", w, res.err)
		}
		for _, v := range res.sharedIncrs {
			if seen[v] {
				t.Fatalf("shared counter value %d returned twice", v)
			}
			seen[v] = true
		}
		for sk := range res.casPassed {
			if prev, ok := winners[sk]; ok {
				t.Fatalf("cas %s won by %s and w%02d", sk, prev, w)
			}
			winners[sk] = fmt.Sprintf("w%02d", w)
		}
	}
	for w := range writers {
		hk := fmt.Sprintf("w%02d", w)
		for i := range ops {
			if v, ok := read(t, r, hk, fmt.Sprintf("k%03d", i)); !ok || v != fmt.Sprintf("v%d-%d", w, i) {
				t.Fatalf("%s/k%03d = %q, %v", hk, i, v, ok)
			}
		}
		if v, _ := read(t, r, hk, "counter"); v != strconv.Itoa(2*((ops+2)/3)) {
			t.Fatalf("%s counter = %q", hk, v)
		}
	}
	if v, _ := read(t, r, "shared", "counter"); v != strconv.Itoa(len(seen)) {
		t.Fatalf("shared counter = %s, want %d", v, len(seen))
	}
	for sk, w := range winners {
		if v, _ := read(t, r, "shared", sk); v != w {
			t.Fatalf("cas %s = %q, want the winner %s", sk, v, w)
		}
	}
	if len(winners) != ops/3 {
		t.Fatalf("%d cas keys won, want %d", len(winners), ops/3)
	}

	st := r.Status()
	total := uint64(writers * ops * 2)
	if dup {
		// Converted check_and_sets that fail write nothing.
		total = uint64(writers*ops + writers*(ops-ops/3) + len(winners))
		checkDuplicatedLog(t, r)
		if c := scope.Snapshot().Counters()["dup_disabled_non_idempotent_write_count+"]; c == nil || c.Value() != int64(writers*ops) {
			t.Fatalf("dup_disabled_non_idempotent_write_count = %v, want %d", c, writers*ops)
		}
	}
	if st.Updates != total {
		t.Fatalf("updates = %d, want %d", st.Updates, total)
	}
	if st.Mutations >= st.Updates {
		t.Fatalf("no batching: %d mutations for %d updates", st.Mutations, st.Updates)
	}
	if st.LastApplied != protocol.Decree(st.Mutations) || st.Plog.MaxDecree != st.LastApplied {
		t.Fatalf("decrees: applied %d, mutations %d, plog max %d", st.LastApplied, st.Mutations, st.Plog.MaxDecree)
	}
	t.Logf("%d updates in %d mutations", st.Updates, st.Mutations)
	snap := scope.Snapshot()
	if c := snap.Counters()["mutations_applied+"]; c == nil || uint64(c.Value()) != st.Mutations {
		t.Fatalf("mutations_applied counter = %v", c)
	}
	if c := snap.Counters()["plog_appended_bytes+"]; c == nil || c.Value() <= 0 {
		t.Fatalf("plog_appended_bytes counter = %v", c)
	}
}

// TestBatchingIsDeterministic queues writes while the loop is parked: the
// loop takes them all at once and idempotent ones share one mutation.
func TestBatchingIsDeterministic(t *testing.T) {
	fs := vfs.NewMem()
	prepareFS(t, fs)
	r := mustOpen(t, testOptions(fs))
	defer mustClose(t, r)

	const n = 20
	release := blockLoop(t, r)
	decrees := make(chan protocol.Decree, n+1)
	errs := make(chan error, n+1)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := r.Write(context.Background(), protocol.OpPut, setReq("h", strconv.Itoa(i), "v"))
			if err != nil {
				errs <- err
				return
			}
			decrees <- resp.(*protocol.SetResponse).Decree
		}()
	}
	for len(r.propc) < n {
		runtime.Gosched()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		// A non-idempotent write queued behind them gets its own mutation.
		for len(r.propc) < n {
			runtime.Gosched()
		}
		if _, err := doIncr(r, "h", "c", 1); err != nil {
			errs <- err
		}
	}()
	for len(r.propc) < n+1 {
		runtime.Gosched()
	}
	release()
	wg.Wait()
	close(decrees)
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	first := protocol.Decree(-1)
	for d := range decrees {
		if first == -1 {
			first = d
		}
		if d != first {
			t.Fatalf("sets applied at decrees %d and %d, want one mutation", first, d)
		}
	}
	if st := r.Status(); st.Mutations != 2 || st.Updates != n+1 {
		t.Fatalf("mutations %d updates %d, want 2 and %d", st.Mutations, st.Updates, n+1)
	}
}

// TestFailedUpdateAnswersOnlyItsCaller applies one mutation holding a good
// set, an incr on a non-integer and another set: the incr's caller gets
// the error, the sets commit.
func TestFailedUpdateAnswersOnlyItsCaller(t *testing.T) {
	fs := vfs.NewMem()
	prepareFS(t, fs)
	r := mustOpen(t, testOptions(fs))
	defer mustClose(t, r)
	doSet(t, r, "h", "text", "abc")
	applied := r.engine.LastAppliedDecree()

	var updates []protocol.Update
	var toks []core.Token
	var pws []*pendingWrite
	for _, req := range []struct {
		op  protocol.OpCode
		msg protocol.Message
	}{
		{protocol.OpPut, setReq("h", "a", "1")},
		{protocol.OpIncr, &protocol.IncrRequest{HashKey: []byte("h"), SortKey: []byte("text"), Increment: 1}},
		{protocol.OpPut, setReq("h", "b", "2")},
	} {
		u, err := EncodeUpdate(req.op, req.msg)
		if err != nil {
			t.Fatal(err)
		}
		pw := &pendingWrite{ch: make(chan writeResult, 1)}
		updates, toks, pws = append(updates, u), append(toks, pw), append(pws, pw)
	}
	m := &protocol.Mutation{Ballot: 1, Decree: applied + 1, TimestampUs: time.Now().UnixMicro(), Updates: updates}
	// Apply on the loop goroutine, as the core would hand it out.
	if err := r.call(func() error { return r.apply(core.Apply{Mutation: m, Tokens: toks}) }); err != nil {
		t.Fatal(err)
	}
	if res := <-pws[0].ch; res.err != nil {
		t.Fatalf("first set: %v", res.err)
	}
	if res := <-pws[1].ch; !errors.Is(res.err, protocol.CodeInvalidArgument) {
		t.Fatalf("incr on text: %v, want CodeInvalidArgument", res.err)
	}
	if res := <-pws[2].ch; res.err != nil || res.resp.(*protocol.SetResponse).Decree != applied+1 {
		t.Fatalf("second set: %v %v", res.resp, res.err)
	}
	e := r.engine
	if v, err := e.Get([]byte("h"), []byte("b")); err != nil || string(v) != "2" {
		t.Fatalf("h/b = %q, %v", v, err)
	}
	if v, err := e.Get([]byte("h"), []byte("text")); err != nil || string(v) != "abc" {
		t.Fatalf("h/text = %q, %v", v, err)
	}
}

func TestWriteOps(t *testing.T) {
	fs := vfs.NewMem()
	prepareFS(t, fs)
	r := mustOpen(t, testOptions(fs))
	defer mustClose(t, r)
	ctx := context.Background()
	w := func(op protocol.OpCode, req protocol.Message) protocol.Message {
		t.Helper()
		resp, err := r.Write(ctx, op, req)
		if err != nil {
			t.Fatalf("%s: %v", op.String(), err)
		}
		return resp
	}
	w(protocol.OpMultiPut, &protocol.MultiSetRequest{HashKey: []byte("m"), KVs: []protocol.KeyValue{
		{SortKey: []byte("a"), Value: []byte("1")}, {SortKey: []byte("b"), Value: []byte("2")},
		{SortKey: []byte("c"), Value: []byte("3")}, {SortKey: []byte("d"), Value: []byte("4")},
	}})
	if resp := w(protocol.OpMultiRemove, &protocol.MultiDelRequest{HashKey: []byte("m"),
		SortKeys: [][]byte{[]byte("a"), []byte("zz")}}).(*protocol.MultiDelResponse); resp.Deleted != 1 {
		t.Fatalf("multi_del deleted %d, want 1", resp.Deleted)
	}
	if resp := w(protocol.OpDelRange, &protocol.DelRangeRequest{HashKey: []byte("m"), StartSortKey: []byte("b"),
		StopSortKey: []byte("c"), StartInclusive: true, StopInclusive: true}).(*protocol.DelRangeResponse); resp.Deleted != 2 {
		t.Fatalf("del_range deleted %d, want 2", resp.Deleted)
	}
	w(protocol.OpRemove, &protocol.DelRequest{HashKey: []byte("m"), SortKey: []byte("d")})
	if n, err := r.engine.SortKeyCount([]byte("m")); err != nil || n != 0 {
		t.Fatalf("sortkey count = %d, %v", n, err)
	}

	cm := w(protocol.OpCheckAndMutate, &protocol.CheckAndMutateRequest{HashKey: []byte("x"), CheckSortKey: []byte("k"),
		CheckType: protocol.CheckValueExist, ReturnCheckValue: true,
		Mutates: []protocol.Mutate{{Operation: protocol.MutatePut, SortKey: []byte("k"), Value: []byte("v")}}}).(*protocol.CheckAndMutateResponse)
	if cm.CheckPassed || cm.Decree != 0 || !cm.CheckValueReturned || cm.CheckValueExist {
		t.Fatalf("check_and_mutate on a missing record: %+v", cm)
	}
	cm = w(protocol.OpCheckAndMutate, &protocol.CheckAndMutateRequest{HashKey: []byte("x"), CheckSortKey: []byte("k"),
		CheckType: protocol.CheckValueNotExist,
		Mutates:   []protocol.Mutate{{Operation: protocol.MutatePut, SortKey: []byte("k"), Value: []byte("v")}}}).(*protocol.CheckAndMutateResponse)
	if !cm.CheckPassed || cm.Decree == 0 {
		t.Fatalf("check_and_mutate: %+v", cm)
	}

	long := make([]byte, keyschema.MaxHashKeyLen+1)
	bs := w(protocol.OpMultiPut, &protocol.BatchSetRequest{Items: []protocol.BatchSetItem{
		{HashKey: []byte("b1"), SortKey: []byte("s"), Value: []byte("1")},
		{HashKey: long, SortKey: []byte("s"), Value: []byte("x")},
		{HashKey: []byte("b2"), SortKey: []byte("s"), Value: []byte("2"), TTLSeconds: -1},
		{HashKey: []byte("b3"), SortKey: []byte("s"), Value: []byte("3")},
	}}).(*protocol.BatchSetResponse)
	want := []protocol.ErrorCode{protocol.CodeOK, protocol.CodeInvalidArgument, protocol.CodeInvalidArgument, protocol.CodeOK}
	if fmt.Sprint(bs.Codes) != fmt.Sprint(want) || bs.Decree == 0 {
		t.Fatalf("batch_set: %+v", bs)
	}
	for _, hk := range []string{"b1", "b3"} {
		if _, ok := read(t, r, hk, "s"); !ok {
			t.Fatalf("batch_set item %s missing", hk)
		}
	}
	if _, ok := read(t, r, "b2", "s"); ok {
		t.Fatal("batch_set wrote an item with a negative TTL")
	}
}

func TestWriteValidation(t *testing.T) {
	fs := vfs.NewMem()
	prepareFS(t, fs)
	scope := tally.NewTestScope("", nil)
	opts := testOptions(fs)
	opts.Scope = scope
	r := mustOpen(t, opts)
	defer mustClose(t, r)
	long := make([]byte, keyschema.MaxHashKeyLen+1)
	for _, tc := range []struct {
		name string
		op   protocol.OpCode
		req  protocol.Message
	}{
		{"mismatch", protocol.OpPut, &protocol.DelRequest{}},
		{"nil", protocol.OpPut, nil},
		{"empty op", protocol.OpEmpty, setReq("a", "b", "c")},
		{"duplicate", protocol.OpDuplicate, setReq("a", "b", "c")},
		{"unknown op", protocol.OpCode(200), setReq("a", "b", "c")},
		{"negative ttl", protocol.OpPut, &protocol.SetRequest{HashKey: []byte("a"), TTLSeconds: -1}},
		{"long hashkey", protocol.OpPut, &protocol.SetRequest{HashKey: long}},
		{"empty multi_set", protocol.OpMultiPut, &protocol.MultiSetRequest{HashKey: []byte("a")}},
		{"empty batch_set", protocol.OpMultiPut, &protocol.BatchSetRequest{}},
		{"empty multi_del", protocol.OpMultiRemove, &protocol.MultiDelRequest{HashKey: []byte("a")}},
		{"bad filter", protocol.OpDelRange, &protocol.DelRangeRequest{SortKeyFilter: protocol.Filter{Type: 99}}},
		{"bad check type", protocol.OpCheckAndSet, &protocol.CheckAndSetRequest{CheckType: 99}},
		{"empty mutates", protocol.OpCheckAndMutate, &protocol.CheckAndMutateRequest{}},
		{"bad mutate", protocol.OpCheckAndMutate, &protocol.CheckAndMutateRequest{
			Mutates: []protocol.Mutate{{Operation: 9}}}},
	} {
		if _, err := r.Write(context.Background(), tc.op, tc.req); !errors.Is(err, protocol.CodeInvalidArgument) {
			t.Errorf("%s: %v, want CodeInvalidArgument", tc.name, err)
		}
	}
	if st := r.Status(); st.Mutations != 0 || st.RejectedWrites != 14 {
		t.Fatalf("mutations %d rejected %d", st.Mutations, st.RejectedWrites)
	}
	c := scope.Snapshot().Counters()["rejected_writes+code=ERR_INVALID_PARAMETERS"]
	if c == nil || c.Value() != 14 {
		t.Fatalf("rejected_writes counter = %v", c)
	}
}

func TestEncodeDecodeUpdateRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		op  protocol.OpCode
		req protocol.Message
	}{
		{protocol.OpPut, setReq("h", "s", "v")},
		{protocol.OpMultiPut, &protocol.MultiSetRequest{HashKey: []byte("h"), KVs: []protocol.KeyValue{{SortKey: []byte("s")}}}},
		{protocol.OpMultiPut, &protocol.BatchSetRequest{Items: []protocol.BatchSetItem{{HashKey: []byte("h")}}}},
		{protocol.OpRemove, &protocol.DelRequest{HashKey: []byte("h")}},
		{protocol.OpIncr, &protocol.IncrRequest{HashKey: []byte("h"), Increment: -3}},
	} {
		u, err := EncodeUpdate(tc.op, tc.req)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeUpdate(u)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprintf("%T %+v", got, got) != fmt.Sprintf("%T %+v", tc.req, tc.req) {
			t.Fatalf("round trip: %+v -> %+v", tc.req, got)
		}
	}
	if _, err := DecodeUpdate(protocol.Update{Op: protocol.OpPut, Body: []byte{1, 2}}); !errors.Is(err, protocol.CodeInvalidArgument) {
		t.Fatalf("truncated body: %v", err)
	}
	if _, err := DecodeUpdate(protocol.Update{Op: protocol.OpMultiPut, Body: []byte{batchSetMarker}}); !errors.Is(err, protocol.CodeInvalidArgument) {
		t.Fatalf("truncated batch_set body: %v", err)
	}
}

func TestLeaseGate(t *testing.T) {
	fs := vfs.NewMem()
	prepareFS(t, fs)
	clock := newFakeClock()
	opts := testOptions(fs)
	opts.ExternalLease = true
	opts.Clock = clock.Now
	r := mustOpen(t, opts)
	defer mustClose(t, r)

	if _, err := r.Engine(); !errors.Is(err, protocol.CodeLeaseExpired) {
		t.Fatalf("Engine without lease: %v", err)
	}
	if _, err := r.Write(context.Background(), protocol.OpPut, setReq("h", "s", "v")); !errors.Is(err, protocol.CodeLeaseExpired) {
		t.Fatalf("Write without lease: %v", err)
	}
	r.GrantLease(clock.Now().Add(9 * time.Second))
	doSet(t, r, "h", "s", "v")
	if v, ok := read(t, r, "h", "s"); !ok || v != "v" {
		t.Fatalf("read = %q %v", v, ok)
	}
	clock.Advance(9 * time.Second)
	if _, err := r.Engine(); !errors.Is(err, protocol.CodeLeaseExpired) {
		t.Fatalf("Engine after the lease ran out: %v", err)
	}
	if _, err := r.Write(context.Background(), protocol.OpPut, setReq("h", "s", "v2")); !errors.Is(err, protocol.CodeLeaseExpired) {
		t.Fatalf("Write after the lease ran out: %v", err)
	}
	r.GrantLease(clock.Now().Add(time.Minute))
	doSet(t, r, "h", "s", "v3")
	r.ExpireLease()
	if _, err := r.Engine(); !errors.Is(err, protocol.CodeLeaseExpired) {
		t.Fatalf("Engine after ExpireLease: %v", err)
	}
	if st := r.Status(); st.ReadError == "" {
		t.Fatal("status shows no read error without a lease")
	}
}

func TestNotPrimary(t *testing.T) {
	fs := vfs.NewMem()
	prepareFS(t, fs)
	opts := testOptions(fs)
	opts.Config.Primary = otherNode
	opts.Config.Secondaries = []string{testNode}
	r := mustOpen(t, opts)
	defer mustClose(t, r)
	if _, err := r.Write(context.Background(), protocol.OpPut, setReq("h", "s", "v")); !errors.Is(err, protocol.CodeInvalidState) {
		t.Fatalf("Write on a secondary: %v", err)
	}
	if _, err := r.Engine(); !errors.Is(err, protocol.CodeInvalidState) {
		t.Fatalf("Engine on a secondary: %v", err)
	}
	if info := r.Info(); info.Status != protocol.PartitionSecondary || info.Ballot != 1 {
		t.Fatalf("info = %+v", info)
	}
}

func TestUpdateConfigAndPersistedState(t *testing.T) {
	fs := vfs.NewMem()
	prepareFS(t, fs)
	clock := newFakeClock()
	opts := testOptions(fs)
	opts.Config = protocol.PartitionConfiguration{}
	opts.Clock = clock.Now
	r := mustOpen(t, opts)
	if info := r.Info(); info.Status != protocol.PartitionInactive {
		t.Fatalf("unconfigured replica: %+v", info)
	}
	if _, err := r.Write(context.Background(), protocol.OpPut, setReq("h", "s", "v")); !errors.Is(err, protocol.CodeInvalidState) {
		t.Fatalf("Write on an unconfigured replica: %v", err)
	}
	app := opts.App
	app.Envs = map[string]string{EnvDefaultTTL: "3600"}
	cfg := protocol.PartitionConfiguration{Gpid: testGpid, Ballot: 3, Primary: testNode, MaxReplicaCount: 1}
	if err := r.UpdateConfig(app, cfg); err != nil {
		t.Fatal(err)
	}
	doSet(t, r, "h", "s", "v")
	e, err := r.Engine()
	if err != nil {
		t.Fatal(err)
	}
	if ttl, err := e.TTL([]byte("h"), []byte("s")); err != nil || ttl <= 3500 || ttl > 3600 {
		t.Fatalf("TTL under default_ttl = %d, %v", ttl, err)
	}
	if err := r.UpdateConfig(app, cfg); err != nil {
		t.Fatalf("same configuration again: %v", err)
	}
	stale := cfg
	stale.Ballot = 2
	if err := r.UpdateConfig(app, stale); !errors.Is(err, protocol.CodeStaleBallot) {
		t.Fatalf("lower ballot: %v", err)
	}
	changed := cfg
	changed.Secondaries = []string{otherNode}
	if err := r.UpdateConfig(app, changed); !errors.Is(err, protocol.CodeInvalidArgument) {
		t.Fatalf("same ballot, other members: %v", err)
	}
	wrong := cfg
	wrong.Gpid.PartitionIndex = 5
	if err := r.UpdateConfig(app, wrong); !errors.Is(err, protocol.CodeInvalidArgument) {
		t.Fatalf("other gpid: %v", err)
	}
	mustClose(t, r)

	m, found, err := ReadMeta(fs, testDir)
	if err != nil || !found {
		t.Fatalf("ReadMeta: %v %v", found, err)
	}
	if m.Gpid != testGpid || m.Config.Ballot != 3 || m.Config.Primary != testNode || m.Role != "primary" ||
		m.App.Envs[EnvDefaultTTL] != "3600" {
		t.Fatalf("persisted meta = %+v", m)
	}

	// Reopen with no configuration and no table info: the persisted ones
	// are used.
	opts.App = protocol.AppInfo{}
	r = mustOpen(t, opts)
	defer mustClose(t, r)
	if info := r.Info(); info.Status != protocol.PartitionPrimary || info.Ballot != 3 {
		t.Fatalf("reopened: %+v", info)
	}
	if v, ok := read(t, r, "h", "s"); !ok || v != "v" {
		t.Fatalf("reopened read = %q %v", v, ok)
	}
	if st := r.Status(); st.App != "temp" {
		t.Fatalf("status app = %q", st.App)
	}
	if r.engine.DefaultTTL() != 3600 {
		t.Fatalf("default TTL after reopen = %d", r.engine.DefaultTTL())
	}
}

func TestOpenRefusesOtherReplicaDir(t *testing.T) {
	fs := vfs.NewMem()
	prepareFS(t, fs)
	r := mustOpen(t, testOptions(fs))
	mustClose(t, r)
	opts := testOptions(fs)
	opts.Gpid = protocol.Gpid{AppID: 1, PartitionIndex: 1}
	opts.Config.Gpid = opts.Gpid
	if _, err := Open(opts); !errors.Is(err, protocol.CodeInvalidArgument) {
		t.Fatalf("Open with another gpid: %v", err)
	}
	for _, bad := range []func(*Options){
		func(o *Options) { o.Dir = "" },
		func(o *Options) { o.Node = "" },
		func(o *Options) { o.TickInterval = -1 },
		func(o *Options) { o.Config.Gpid = protocol.Gpid{AppID: 9} },
	} {
		o := testOptions(fs)
		bad(&o)
		if _, err := Open(o); !errors.Is(err, protocol.CodeInvalidArgument) {
			t.Fatalf("bad options: %v", err)
		}
	}
}

func TestReadMetaRejectsGarbage(t *testing.T) {
	fs := vfs.NewMem()
	if err := fs.MkdirAll("/r", 0o755); err != nil {
		t.Fatal(err)
	}
	if _, found, err := ReadMeta(fs, "/r"); found || err != nil {
		t.Fatalf("missing meta: %v %v", found, err)
	}
	for _, content := range []string{"{", `{"format":2}`, `{"format":1,"config":{"Ballot":1,"Primary":"a","Secondaries":["a"]}}`, `{"format":1,"config":{"Ballot":-1}}`} {
		f, err := fs.Create("/r/" + MetaFileName)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = f.Write([]byte(content))
		_ = f.Close()
		if _, _, err := ReadMeta(fs, "/r"); err == nil {
			t.Fatalf("ReadMeta accepted %q", content)
		}
	}
}

// TestCtxCancelReturnsTimeout parks the loop so the write cannot finish
// before its context ends; the write is applied later all the same.
func TestCtxCancelReturnsTimeout(t *testing.T) {
	fs := vfs.NewMem()
	prepareFS(t, fs)
	r := mustOpen(t, testOptions(fs))
	defer mustClose(t, r)
	release := blockLoop(t, r)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := r.Write(ctx, protocol.OpPut, setReq("h", "late", "v"))
		done <- err
	}()
	for len(r.propc) < 1 {
		runtime.Gosched()
	}
	cancel()
	if err := <-done; !errors.Is(err, protocol.CodeTimeout) {
		t.Fatalf("cancelled write: %v", err)
	}
	release()
	// A write after it is applied after it.
	doSet(t, r, "h", "after", "v")
	if _, ok := read(t, r, "h", "late"); !ok {
		t.Fatal("the timed-out write was not applied")
	}
}

// TestCloseFailsPendingWrites closes the replica while writes wait in the
// queue of a parked loop.
func TestCloseFailsPendingWrites(t *testing.T) {
	fs := vfs.NewMem()
	prepareFS(t, fs)
	r := mustOpen(t, testOptions(fs))
	release := blockLoop(t, r)
	const n = 5
	errs := make(chan error, n)
	for i := range n {
		go func() {
			_, err := r.Write(context.Background(), protocol.OpPut, setReq("h", strconv.Itoa(i), "v"))
			errs <- err
		}()
	}
	for len(r.propc) < n {
		runtime.Gosched()
	}
	closed := make(chan error, 1)
	go func() { closed <- r.Close() }()
	for !r.closed.Load() {
		runtime.Gosched()
	}
	release()
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	for range n {
		if err := <-errs; !errors.Is(err, protocol.CodeInvalidState) {
			t.Fatalf("pending write at Close: %v", err)
		}
	}
	if _, err := r.Write(context.Background(), protocol.OpPut, setReq("h", "x", "v")); !errors.Is(err, protocol.CodeInvalidState) {
		t.Fatalf("write after Close: %v", err)
	}
	if _, err := r.Engine(); !errors.Is(err, protocol.CodeInvalidState) {
		t.Fatalf("Engine after Close: %v", err)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// TestCloseLeavesNoGoroutines runs a replica with real timers (tick,
// reaper, engine sync) and checks that Close stops every goroutine.
func TestCloseLeavesNoGoroutines(t *testing.T) {
	fs := vfs.NewMem()
	prepareFS(t, fs)
	opts := testOptions(fs)
	opts.hooks = nil
	opts.TickInterval = time.Millisecond
	opts.ReapInterval = time.Millisecond
	opts.EngineSyncInterval = time.Millisecond
	opts.PlogFlushInterval = time.Millisecond
	opts.PlogSync = plog.SyncPageCache // with its background flusher
	r := mustOpen(t, opts)
	for i := range 50 {
		doSet(t, r, "h", strconv.Itoa(i), "v")
	}
	mustClose(t, r)
	// goleak.VerifyTestMain checks the whole package too; this names the
	// test that leaked.
	if err := verifyNoLeaks(); err != nil {
		t.Fatal(err)
	}
}

// TestReaperMetrics drives the reaper by hand: expired records are
// reclaimed and counted.
func TestReaperMetrics(t *testing.T) {
	fs := vfs.NewMem()
	prepareFS(t, fs)
	clock := newFakeClock()
	scope := tally.NewTestScope("", nil)
	reapC := make(chan time.Time)
	steps := make(chan storage.ReapStats, 1)
	opts := testOptions(fs)
	opts.Clock = clock.Now
	opts.Scope = scope
	opts.ReapInterval = time.Hour
	opts.Reaper = storage.ReaperOptions{Grace: -1, OnStep: func(s storage.ReapStats) { steps <- s }}
	opts.hooks.reapC = reapC
	r := mustOpen(t, opts)
	defer mustClose(t, r)
	for i := range 10 {
		req := setReq("h", strconv.Itoa(i), "v")
		if i < 6 {
			req.TTLSeconds = 10
		}
		if _, err := r.Write(context.Background(), protocol.OpPut, req); err != nil {
			t.Fatal(err)
		}
	}
	clock.Advance(time.Minute)
	reapC <- clock.Now()
	s := <-steps
	if s.Scanned != 10 || s.Reclaimed != 6 {
		t.Fatalf("reaper stats %+v", s)
	}
	snap := scope.Snapshot().Counters()
	if c := snap["reaper_reclaimed_records+"]; c == nil || c.Value() != 6 {
		t.Fatalf("reclaimed counter = %v", c)
	}
	if c := snap["reaper_scanned_records+"]; c == nil || c.Value() != 10 {
		t.Fatalf("scanned counter = %v", c)
	}
}

// TestPlogFailureFailsReplica makes the plog's sync fail: the write gets
// CodeIOError, the replica reports PS_ERROR and refuses everything, and
// Close still works.
func TestPlogFailureFailsReplica(t *testing.T) {
	mem := vfs.NewMem()
	prepareFS(t, mem)
	var failing atomic.Bool
	fs := errorfs.Wrap(mem, errorfs.InjectorFunc(func(op errorfs.Op, path string) error {
		if failing.Load() && op == errorfs.OpFileSync && strings.Contains(path, "/"+PlogDirName+"/") {
			return errorfs.ErrInjected
		}
		return nil
	}))
	opts := testOptions(fs)
	opts.Storage.FS = mem
	r := mustOpen(t, opts)
	doSet(t, r, "h", "before", "v")
	failing.Store(true)
	if _, err := r.Write(context.Background(), protocol.OpPut, setReq("h", "s", "v")); !errors.Is(err, protocol.CodeIOError) {
		t.Fatalf("write with a failing plog: %v", err)
	}
	if info := r.Info(); info.Status != protocol.PartitionError {
		t.Fatalf("info after failure: %+v", info)
	}
	if _, err := r.Write(context.Background(), protocol.OpPut, setReq("h", "s2", "v")); !errors.Is(err, protocol.CodeIOError) {
		t.Fatalf("write after failure: %v", err)
	}
	if _, err := r.Engine(); !errors.Is(err, protocol.CodeIOError) {
		t.Fatalf("Engine after failure: %v", err)
	}
	if err := r.UpdateConfig(protocol.AppInfo{}, opts.Config); !errors.Is(err, protocol.CodeIOError) {
		t.Fatalf("UpdateConfig after failure: %v", err)
	}
	if st := r.Status(); st.Error == "" {
		t.Fatal("status shows no error")
	}
	_ = r.Close()
	failing.Store(false)
	r = mustOpen(t, opts)
	defer mustClose(t, r)
	if v, ok := read(t, r, "h", "before"); !ok || v != "v" {
		t.Fatalf("h/before after reopen = %q %v", v, ok)
	}
}

// recordingTransport hands the core's messages to the test.
type recordingTransport struct{ msgs chan core.Message }

func (t *recordingTransport) Send(msgs []core.Message) {
	for _, m := range msgs {
		t.msgs <- m
	}
}

// TestTransportStepAndSelfLease grows a single-replica partition to two
// members: the self-granted lease is withdrawn, prepares go out through the
// Transport, and a write commits once the secondary's ack comes in through
// Step.
func TestTransportStepAndSelfLease(t *testing.T) {
	fs := vfs.NewMem()
	prepareFS(t, fs)
	clock := newFakeClock()
	tr := &recordingTransport{msgs: make(chan core.Message, 64)}
	opts := testOptions(fs)
	opts.Clock = clock.Now
	opts.Transport = tr
	r := mustOpen(t, opts)
	defer mustClose(t, r)
	doSet(t, r, "h", "alone", "v")

	cfg := protocol.PartitionConfiguration{Gpid: testGpid, Ballot: 2, Primary: testNode, Secondaries: []string{otherNode}}
	if err := r.UpdateConfig(protocol.AppInfo{}, cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Engine(); !errors.Is(err, protocol.CodeLeaseExpired) {
		t.Fatalf("Engine with two members and no lease from the meta: %v", err)
	}
	if m := <-tr.msgs; m.Type != core.MsgGroupCheck || m.To != otherNode || m.Ballot != 2 {
		t.Fatalf("first message = %s", m)
	}
	r.GrantLease(clock.Now().Add(time.Minute))

	done := make(chan error, 1)
	go func() {
		_, err := r.Write(context.Background(), protocol.OpPut, setReq("h", "pair", "v"))
		done <- err
	}()
	m := <-tr.msgs
	if m.Type != core.MsgPrepare || m.To != otherNode || m.Mutation == nil {
		t.Fatalf("expected a prepare, got %s", m)
	}
	select {
	case err := <-done:
		t.Fatalf("write answered before the secondary acknowledged: %v", err)
	default:
	}
	ack := core.Message{Type: core.MsgPrepareAck, From: otherNode, To: testNode, Ballot: 2,
		LastPrepared: m.Mutation.Decree, LastCommitted: m.LastCommitted}
	if err := r.Step(ack); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("write after the ack: %v", err)
	}
	if v, ok := read(t, r, "h", "pair"); !ok || v != "v" {
		t.Fatalf("h/pair = %q %v", v, ok)
	}
	// A malformed message is dropped, not fatal.
	if err := r.Step(core.Message{Type: core.MsgPrepareAck, From: "", To: testNode, Ballot: 2}); err != nil {
		t.Fatal(err)
	}
	if info := r.Info(); info.Status != protocol.PartitionPrimary || info.Ballot != 2 || info.LastCommitted != m.Mutation.Decree {
		t.Fatalf("info = %+v", info)
	}
}
