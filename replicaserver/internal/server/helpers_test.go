package server

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/vfs"
	"go.uber.org/goleak"

	"github.com/pegasus-go/pegasus/replicaserver/internal/storage"
	"github.com/pegasus-go/pegasus/shared/keyschema"
	"github.com/pegasus-go/pegasus/shared/protocol"
	"github.com/pegasus-go/pegasus/shared/rpc"
)

func TestMain(m *testing.M) {
	rpc.SetFrameworkLogger(slog.New(slog.DiscardHandler))
	goleak.VerifyTestMain(m)
}

// fakeClock is an injected wall clock.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// fakeReplica is an in-memory Replica: writes are recorded, sets are
// applied to a real storage engine on the fake's file system so reads work,
// and errors can be injected.
type fakeReplica struct {
	opts ReplicaOptions
	eng  *storage.Engine

	mu         sync.Mutex
	writes     []protocol.Message
	app        protocol.AppInfo
	cfg        protocol.PartitionConfiguration
	leaseUntil time.Time
	expired    int
	readErr    error
	writeErr   error
	decree     protocol.Decree
	closed     bool
}

func (f *fakeReplica) Write(_ context.Context, op protocol.OpCode, req protocol.Message) (protocol.Message, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.writes = append(f.writes, req)
	if f.writeErr != nil {
		return nil, f.writeErr
	}
	f.decree++
	wb, err := f.eng.NewWriteBatch(f.decree, storage.WriteOptions{})
	if err != nil {
		return nil, err
	}
	defer wb.Close()
	var resp protocol.Message
	switch r := req.(type) {
	case *protocol.SetRequest:
		if op != protocol.OpPut {
			return nil, protocol.Errorf(protocol.CodeInternal, "set as %d", op)
		}
		if err := wb.Set(r.HashKey, r.SortKey, r.Value, r.TTLSeconds); err != nil {
			return nil, err
		}
		resp = &protocol.SetResponse{Decree: f.decree}
	case *protocol.BatchSetRequest:
		out := &protocol.BatchSetResponse{Codes: make([]protocol.ErrorCode, len(r.Items)), Decree: f.decree}
		for _, it := range r.Items {
			if err := wb.Set(it.HashKey, it.SortKey, it.Value, it.TTLSeconds); err != nil {
				return nil, err
			}
		}
		resp = out
	case *protocol.DelRequest:
		resp = &protocol.DelResponse{Decree: f.decree}
	case *protocol.MultiSetRequest:
		resp = &protocol.MultiSetResponse{Decree: f.decree}
	case *protocol.MultiDelRequest:
		resp = &protocol.MultiDelResponse{Decree: f.decree}
	case *protocol.DelRangeRequest:
		resp = &protocol.DelRangeResponse{Decree: f.decree}
	case *protocol.IncrRequest:
		resp = &protocol.IncrResponse{Decree: f.decree}
	case *protocol.CheckAndSetRequest:
		resp = &protocol.CheckAndSetResponse{Decree: f.decree}
	case *protocol.CheckAndMutateRequest:
		resp = &protocol.CheckAndMutateResponse{Decree: f.decree}
	default:
		return nil, protocol.Errorf(protocol.CodeInternal, "fake: unexpected %T", req)
	}
	if err := wb.Commit(); err != nil {
		return nil, err
	}
	return resp, nil
}

func (f *fakeReplica) Engine() (*storage.Engine, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.readErr != nil {
		return nil, f.readErr
	}
	return f.eng, nil
}

func (f *fakeReplica) UpdateConfig(app protocol.AppInfo, cfg protocol.PartitionConfiguration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if cfg.Ballot < f.cfg.Ballot {
		return protocol.Errorf(protocol.CodeStaleBallot, "ballot %d below %d", cfg.Ballot, f.cfg.Ballot)
	}
	if app.AppID != 0 {
		f.app = app
	}
	f.cfg = cfg
	return nil
}

func (f *fakeReplica) GrantLease(until time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.leaseUntil = until
}

func (f *fakeReplica) ExpireLease() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.leaseUntil = time.Time{}
	f.expired++
}

func (f *fakeReplica) Info() protocol.ReplicaInfo {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := protocol.PartitionInactive
	if f.cfg.Primary == f.opts.Node {
		st = protocol.PartitionPrimary
	}
	return protocol.ReplicaInfo{Gpid: f.opts.Gpid, Ballot: f.cfg.Ballot, Status: st, LastCommitted: f.decree, LastPrepared: f.decree}
}

func (f *fakeReplica) App() protocol.AppInfo {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.app
}

func (f *fakeReplica) Status() any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return map[string]any{"fake": true, "decree": f.decree}
}

func (f *fakeReplica) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil
	}
	f.closed = true
	return f.eng.Close()
}

func (f *fakeReplica) writeCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.writes)
}

func (f *fakeReplica) lease() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.leaseUntil
}

// fakeFactory opens fake replicas. Table info survives a reopen (as the real
// replica persists it) through the apps map, keyed by directory.
type fakeFactory struct {
	mu      sync.Mutex
	opened  []*fakeReplica
	apps    map[string]protocol.AppInfo
	failDir string // opening this directory fails
}

func newFakeFactory() *fakeFactory { return &fakeFactory{apps: make(map[string]protocol.AppInfo)} }

func (ff *fakeFactory) open(o ReplicaOptions) (Replica, error) {
	ff.mu.Lock()
	defer ff.mu.Unlock()
	if o.Dir == ff.failDir {
		return nil, protocol.Errorf(protocol.CodeCorruption, "fake: cannot open %s", o.Dir)
	}
	if err := o.FS.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, err
	}
	eng, err := storage.Open(o.FS.PathJoin(o.Dir, "data"), storage.Options{FS: o.FS, Clock: o.Clock})
	if err != nil {
		return nil, err
	}
	app := o.App
	if app.AppID == 0 {
		app = ff.apps[o.Dir]
	} else {
		ff.apps[o.Dir] = app
	}
	f := &fakeReplica{opts: o, eng: eng, app: app, cfg: o.Config}
	ff.opened = append(ff.opened, f)
	return f, nil
}

// replica returns the most recently opened fake of g.
func (ff *fakeFactory) replica(g protocol.Gpid) *fakeReplica {
	ff.mu.Lock()
	defer ff.mu.Unlock()
	for i := len(ff.opened) - 1; i >= 0; i-- {
		if ff.opened[i].opts.Gpid == g {
			return ff.opened[i]
		}
	}
	return nil
}

func (ff *fakeFactory) openCount() int {
	ff.mu.Lock()
	defer ff.mu.Unlock()
	return len(ff.opened)
}

// harness is a Server on fake replicas, served over a real rpc.Server on
// 127.0.0.1 and called through a real rpc.Client.
type harness struct {
	t      testing.TB
	srv    *Server
	rs     *rpc.Server
	client *rpc.Client
	addr   string
	fakes  *fakeFactory
	fs     vfs.FS
	clock  *fakeClock
	done   chan struct{}
	closed sync.Once
}

const testMaxWriteBytes = 1024

func testApp(partitions int32) protocol.AppInfo {
	return protocol.AppInfo{AppID: 1, Name: "t", Status: protocol.AppAvailable, PartitionCount: partitions, ReplicaCount: 3}
}

// newHarness starts a server; mutate adjusts its options before New.
func newHarness(t testing.TB, fs vfs.FS, fakes *fakeFactory, mutate func(*Options)) *harness {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, fakes: fakes, fs: fs, clock: newFakeClock(), addr: ln.Addr().String(), done: make(chan struct{})}
	opts := Options{
		Node: h.addr, DataDirs: []string{"d0"}, FS: fs, MaxWriteBytes: testMaxWriteBytes,
		OpenReplica: fakes.open, Clock: h.clock.Now,
	}
	if mutate != nil {
		mutate(&opts)
	}
	h.srv, err = New(opts)
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	h.rs, err = rpc.NewServer(rpc.ServerConfig{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.srv.Register(h.rs); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(h.done)
		_ = h.rs.Serve(ln)
	}()
	h.client, err = rpc.NewClient(rpc.ClientConfig{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.close)
	return h
}

func (h *harness) close() {
	h.closed.Do(func() {
		_ = h.client.Close()
		_ = h.rs.Close()
		<-h.done
		if err := h.srv.Close(); err != nil {
			h.t.Errorf("close server: %v", err)
		}
	})
}

func (h *harness) call(method string, req, resp protocol.Message) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return h.client.Call(ctx, h.addr, protocol.ServiceReplica, method, req, resp)
}

// header returns the request header of a key of app 1 with n partitions.
func header(hashKey []byte, n int32) protocol.RequestHeader {
	hash := keyschema.Hash(hashKey, nil)
	idx, _ := keyschema.PartitionIndex(hash, n)
	return protocol.RequestHeader{Gpid: protocol.Gpid{AppID: 1, PartitionIndex: idx}, PartitionHash: hash}
}

// keyFor returns a hashkey that maps to partition pidx of n.
func keyFor(t testing.TB, pidx, n int32) []byte {
	t.Helper()
	for i := 0; i < 10000; i++ {
		hk := []byte("hk" + strconv.Itoa(i))
		if idx, _ := keyschema.PartitionIndex(keyschema.Hash(hk, nil), n); idx == pidx {
			return hk
		}
	}
	t.Fatalf("no hashkey for partition %d of %d", pidx, n)
	return nil
}

func wantCode(t testing.TB, err error, code protocol.ErrorCode) {
	t.Helper()
	if got := protocol.CodeOf(err); got != code {
		t.Fatalf("got %v (code %v), want code %v", err, got, code)
	}
	var pe *protocol.Error
	if code != protocol.CodeOK && !errors.As(err, &pe) {
		t.Fatalf("error %v (%T) is not a *protocol.Error", err, err)
	}
}
