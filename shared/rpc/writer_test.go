package rpc

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// recordingConn is a net.Conn whose writes are recorded; a write fails
// once fail is set.
type recordingConn struct {
	net.Conn
	mu     sync.Mutex
	writes [][]byte
	fail   atomic.Bool
}

var errWriteFailed = errors.New("write failed")

func (c *recordingConn) Write(p []byte) (int, error) {
	if c.fail.Load() {
		return 0, errWriteFailed
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writes = append(c.writes, append([]byte(nil), p...))
	return len(p), nil
}

func (c *recordingConn) SetWriteDeadline(time.Time) error { return nil }

func TestBatchWriterKeepsFramesWhole(t *testing.T) {
	conn := &recordingConn{}
	w := newBatchWriter(conn, time.Second, func() { t.Error("onError called") })
	const writers, frames = 16, 200
	var wg sync.WaitGroup
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range frames {
				frame := []byte(fmt.Sprintf("<%02d:%04d>", i, j))
				if n, err := w.Write(frame); err != nil || n != len(frame) {
					t.Errorf("Write = %d, %v", n, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	all := bytes.Join(conn.writes, nil)
	if len(all) != writers*frames*len("<00:0000>") {
		t.Fatalf("%d bytes written", len(all))
	}
	// Every frame is intact and each writer's frames are in order.
	next := make([]int, writers)
	for len(all) > 0 {
		var i, j int
		if _, err := fmt.Sscanf(string(all[:9]), "<%02d:%04d>", &i, &j); err != nil {
			t.Fatalf("torn frame %q: %v", all[:9], err)
		}
		if j != next[i] {
			t.Fatalf("writer %d: frame %d after %d", i, j, next[i]-1)
		}
		next[i]++
		all = all[9:]
	}
	t.Logf("%d frames in %d writes", writers*frames, len(conn.writes))
}

func TestBatchWriterErrorIsSticky(t *testing.T) {
	conn := &recordingConn{}
	var calls atomic.Int32
	w := newBatchWriter(conn, 0, func() { calls.Add(1) })
	if _, err := w.Write([]byte("a")); err != nil {
		t.Fatal(err)
	}
	conn.fail.Store(true)
	if _, err := w.Write([]byte("b")); !errors.Is(err, errWriteFailed) {
		t.Fatalf("failing write: %v", err)
	}
	conn.fail.Store(false)
	if _, err := w.Write([]byte("c")); !errors.Is(err, errWriteFailed) {
		t.Fatalf("write after a failure: %v", err)
	}
	if calls.Load() != 1 {
		t.Fatalf("onError called %d times", calls.Load())
	}
	if got := string(bytes.Join(conn.writes, nil)); got != "a" {
		t.Fatalf("written %q", got)
	}
}
