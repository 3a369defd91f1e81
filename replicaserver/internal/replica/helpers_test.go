package replica

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/vfs"
	"go.uber.org/goleak"

	"github.com/pegasus-go/pegasus/shared/protocol"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	testNode  = "n1:34801"
	otherNode = "n2:34801"
	testDir   = "/data/1.0"
)

var testGpid = protocol.Gpid{AppID: 1, PartitionIndex: 0}

// fakeClock is a settable wall clock.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// logBuffer collects log output for assertions.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// newFS returns fs with the replica's parent directory created durably.
func prepareFS(t testing.TB, fs vfs.FS) {
	t.Helper()
	if err := fs.MkdirAll("/data", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syncDir(fs, "/"); err != nil {
		t.Fatal(err)
	}
}

// testOptions returns options for a single-replica primary on fs with no
// timers: ticks, reaper and engine syncs happen only when a test asks.
func testOptions(fs vfs.FS) Options {
	return Options{
		Gpid: testGpid, Dir: testDir, FS: fs, Node: testNode,
		App:                protocol.AppInfo{AppID: 1, Name: "temp", Status: protocol.AppAvailable, PartitionCount: 1, ReplicaCount: 1},
		Config:             protocol.PartitionConfiguration{Gpid: testGpid, Ballot: 1, Primary: testNode, MaxReplicaCount: 1},
		MaxReplicaCount:    1,
		ReapInterval:       -1,
		EngineSyncInterval: -1,
		hooks:              &testHooks{tickC: make(chan time.Time)},
	}
}

func mustOpen(t testing.TB, opts Options) *Replica {
	t.Helper()
	r, err := Open(opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return r
}

func mustClose(t testing.TB, r *Replica) {
	t.Helper()
	if err := r.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func setReq(hk, sk, v string) *protocol.SetRequest {
	return &protocol.SetRequest{HashKey: []byte(hk), SortKey: []byte(sk), Value: []byte(v)}
}

func doSet(t testing.TB, r *Replica, hk, sk, v string) protocol.Decree {
	t.Helper()
	resp, err := r.Write(context.Background(), protocol.OpPut, setReq(hk, sk, v))
	if err != nil {
		t.Fatalf("set %s/%s: %v", hk, sk, err)
	}
	return resp.(*protocol.SetResponse).Decree
}

func doIncr(r *Replica, hk, sk string, delta int64) (*protocol.IncrResponse, error) {
	resp, err := r.Write(context.Background(), protocol.OpIncr,
		&protocol.IncrRequest{HashKey: []byte(hk), SortKey: []byte(sk), Increment: delta})
	if err != nil {
		return nil, err
	}
	return resp.(*protocol.IncrResponse), nil
}

// read returns the value of a record through the read gate.
func read(t testing.TB, r *Replica, hk, sk string) (string, bool) {
	t.Helper()
	e, err := r.Engine()
	if err != nil {
		t.Fatalf("Engine: %v", err)
	}
	v, err := e.Get([]byte(hk), []byte(sk))
	if errors.Is(err, protocol.CodeNotFound) {
		return "", false
	}
	if err != nil {
		t.Fatalf("get %s/%s: %v", hk, sk, err)
	}
	return string(v), true
}

// crash stops r's goroutines and drops everything its files did not sync:
// a power loss on a strict in-memory file system.
func crash(t testing.TB, r *Replica, fs *vfs.MemFS) {
	t.Helper()
	r.stop()
	fs.SetIgnoreSyncs(true)
	_ = r.closeFiles()
	fs.ResetToSyncedState()
	fs.SetIgnoreSyncs(false)
}

// processCrash stops r's goroutines and closes its files without syncing
// anything more than a dying process would: the caller decides which file
// systems lose their unsynced state.
func stopAndDrop(r *Replica, lose ...*vfs.MemFS) {
	r.stop()
	for _, fs := range lose {
		fs.SetIgnoreSyncs(true)
	}
	_ = r.closeFiles()
	for _, fs := range lose {
		fs.ResetToSyncedState()
		fs.SetIgnoreSyncs(false)
	}
}

// blockLoop runs a call that parks the loop until the returned release is
// called, and returns once the loop is parked.
func blockLoop(t testing.TB, r *Replica) (release func()) {
	t.Helper()
	entered, unblock := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- r.call(func() error {
			close(entered)
			<-unblock
			return nil
		})
	}()
	<-entered
	return func() {
		close(unblock)
		if err := <-done; err != nil {
			t.Errorf("blocking call: %v", err)
		}
	}
}

func verifyNoLeaks() error { return goleak.Find() }
