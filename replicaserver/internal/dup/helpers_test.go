package dup

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/vfs"
	"go.uber.org/goleak"

	"github.com/pegasus-go/pegasus/replicaserver/internal/plog"
	"github.com/pegasus-go/pegasus/replicaserver/internal/replica"
	"github.com/pegasus-go/pegasus/shared/keyschema"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const testCluster = 3

// testLog is a real plog on an in-memory file system that the test
// appends committed mutations to.
type testLog struct {
	t    testing.TB
	l    *plog.Log
	next protocol.Decree
}

func newTestLog(t testing.TB) *testLog {
	t.Helper()
	l, err := plog.Open(plog.Options{FS: vfs.NewMem(), Dir: "plog", SegmentSizeBytes: 4096})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return &testLog{t: t, l: l, next: 1}
}

func (tl *testLog) log() Log { return PlogLog{L: tl.l} }

// append logs one committed mutation of the given requests (op, request
// pairs as replica.EncodeUpdate takes them; nil request: an empty write).
func (tl *testLog) append(updates ...protocol.Update) protocol.Decree {
	tl.t.Helper()
	d := tl.next
	tl.next++
	m := &protocol.Mutation{Ballot: 1, Decree: d, LastCommitted: d, TimestampUs: 1_700_000_000_000_000 + int64(d), Updates: updates}
	if err := tl.l.Append([]*protocol.Mutation{m}); err != nil {
		tl.t.Fatal(err)
	}
	return d
}

func upd(t testing.TB, op protocol.OpCode, req protocol.Message) protocol.Update {
	t.Helper()
	u, err := replica.EncodeUpdate(op, req)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func set(t testing.TB, hk, sk, v string) protocol.Update {
	return upd(t, protocol.OpPut, &protocol.SetRequest{HashKey: []byte(hk), SortKey: []byte(sk), Value: []byte(v)})
}

func del(t testing.TB, hk, sk string) protocol.Update {
	return upd(t, protocol.OpRemove, &protocol.DelRequest{HashKey: []byte(hk), SortKey: []byte(sk)})
}

var emptyWrite = protocol.Update{Op: protocol.OpEmpty}

// fakeRemote is a remote table of partitions partitions that applies
// entries to an in-memory model, checking each routes to the partition it
// was sent to. fail, when set, decides whether a call fails.
type fakeRemote struct {
	t          testing.TB
	partitions int32

	mu    sync.Mutex
	data  map[string]string // hashkey "/" sortkey -> value
	calls []remoteCall
	fail  func(p int32, entries []protocol.DuplicateEntry) error
	seen  chan struct{}
}

type remoteCall struct {
	partition int32
	entries   []protocol.DuplicateEntry
	failed    bool
}

func newFakeRemote(t testing.TB, partitions int32) *fakeRemote {
	return &fakeRemote{t: t, partitions: partitions, data: map[string]string{}, seen: make(chan struct{}, 1)}
}

func (f *fakeRemote) PartitionCount(context.Context) (int32, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.partitions, nil
}

func (f *fakeRemote) Duplicate(ctx context.Context, p int32, entries []protocol.DuplicateEntry) (int32, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	defer func() {
		select {
		case f.seen <- struct{}{}:
		default:
		}
	}()
	if f.fail != nil {
		if err := f.fail(p, entries); err != nil {
			f.calls = append(f.calls, remoteCall{partition: p, entries: entries, failed: true})
			return 0, err
		}
	}
	f.calls = append(f.calls, remoteCall{partition: p, entries: entries})
	for _, e := range entries {
		if e.ClusterID != testCluster {
			f.t.Errorf("entry from cluster %d", e.ClusterID)
		}
		req, err := replica.DecodeUpdate(protocol.Update{Op: e.Op, Body: e.Body})
		if err != nil {
			f.t.Errorf("undecodable entry: %v", err)
			continue
		}
		f.apply(p, e.Op, req)
	}
	return int32(len(entries)), nil
}

func (f *fakeRemote) route(p int32, hk, sk []byte) {
	want, err := keyschema.PartitionIndex(keyschema.Hash(hk, sk), f.partitions)
	if err != nil || want != p {
		f.t.Errorf("key %q/%q sent to partition %d of %d, belongs to %d", hk, sk, p, f.partitions, want)
	}
}

func (f *fakeRemote) apply(p int32, op protocol.OpCode, req protocol.Message) {
	switch r := req.(type) {
	case *protocol.SetRequest:
		f.route(p, r.HashKey, r.SortKey)
		f.data[string(r.HashKey)+"/"+string(r.SortKey)] = string(r.Value)
	case *protocol.DelRequest:
		f.route(p, r.HashKey, r.SortKey)
		delete(f.data, string(r.HashKey)+"/"+string(r.SortKey))
	case *protocol.MultiSetRequest:
		f.route(p, r.HashKey, nil)
		for _, kv := range r.KVs {
			f.data[string(r.HashKey)+"/"+string(kv.SortKey)] = string(kv.Value)
		}
	case *protocol.MultiDelRequest:
		f.route(p, r.HashKey, nil)
		for _, sk := range r.SortKeys {
			delete(f.data, string(r.HashKey)+"/"+string(sk))
		}
	default:
		f.t.Errorf("remote got %s entry %T", op.String(), req)
	}
}

func (f *fakeRemote) snapshot() map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]string, len(f.data))
	for k, v := range f.data {
		out[k] = v
	}
	return out
}

func (f *fakeRemote) callsCopy() []remoteCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// noWait is an After that fires at once (no real time passes in tests).
func noWait(time.Duration) <-chan time.Time {
	c := make(chan time.Time, 1)
	c <- time.Time{}
	return c
}

func newTestDuplicator(t testing.TB, l *testLog, r Remote, mutate func(*Options)) *Duplicator {
	t.Helper()
	o := Options{Gpid: protocol.Gpid{AppID: 1}, DupID: 7, Table: "t", RemoteCluster: "remote", ClusterID: testCluster,
		Log: l.log(), Remote: r, After: noWait}
	if mutate != nil {
		mutate(&o)
	}
	d, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// drain steps d until nothing new is committed.
func drain(t testing.TB, d *Duplicator) {
	t.Helper()
	defer d.closeReader()
	for range 100_000 {
		progressed, err := d.step(context.Background())
		if err != nil {
			t.Fatalf("step: %v", err)
		}
		if !progressed {
			return
		}
	}
	t.Fatal("duplicator never caught up")
}

func key(i int) string { return fmt.Sprintf("hk%04d", i) }
