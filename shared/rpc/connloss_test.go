package rpc

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/pegasus-go/pegasus/shared/protocol"
)

// cutProxy forwards TCP connections to a backend until cut closes them all.
type cutProxy struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
	wg    sync.WaitGroup
}

func newCutProxy(t *testing.T, backend string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", backend)
			if err != nil {
				in.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, in, out)
			p.mu.Unlock()
			p.wg.Add(2)
			go func() { defer p.wg.Done(); _, _ = io.Copy(out, in); out.Close() }()
			go func() { defer p.wg.Done(); _, _ = io.Copy(in, out); in.Close() }()
		}
	}()
	t.Cleanup(func() { ln.Close(); p.cut(); p.wg.Wait() })
	return p
}

func (p *cutProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// Many calls in flight on one pooled connection all fail cleanly when the
// connection breaks, each exactly once, and the next call redials. Run with
// -race: completing rpcx calls twice (closing the rpcx client after its
// reader already failed them) is a data race.
func TestConnectionLossFailsInFlightCalls(t *testing.T) {
	h := newHarness(t, ServerConfig{})
	p := newCutProxy(t, h.addr)
	addr := p.ln.Addr().String()
	h.mustEcho(t)

	const callers = 16
	errs := make(chan error, callers)
	for range callers {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			errs <- h.cli.Call(ctx, addr, "Test", "Slow", &echoMsg{}, &echoMsg{})
		}()
	}
	// Wait until at least one call reached the handler, so calls are in flight.
	select {
	case <-h.svc.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("no call reached the handler")
	}
	p.cut()
	// A caller the scheduler started only after the cut sends on a new
	// connection and waits in the handler: release the handler so such
	// calls succeed. Calls on the cut connection cannot: their answers
	// have no connection to go back on.
	close(h.svc.release)
	failed := 0
	for range callers {
		err := <-errs
		switch {
		case err == nil:
		case errors.Is(err, protocol.CodeNetworkFailure):
			failed++
		default:
			t.Fatalf("call after connection loss: %v, want CodeNetworkFailure (or success for a call sent after the cut)", err)
		}
	}
	if failed == 0 {
		t.Fatal("no call in flight on the cut connection failed")
	}
	// The pool redials through the proxy.
	var out echoMsg
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.cli.Call(ctx, addr, "Test", "Echo", &echoMsg{Body: []byte("again")}, &out); err != nil {
		t.Fatalf("call after redial: %v", err)
	}
}
