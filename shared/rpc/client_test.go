package rpc

import (
	"context"
	"errors"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	rpcxproto "github.com/smallnest/rpcx/protocol"
	"github.com/smallnest/rpcx/share"
	"go.uber.org/goleak"

	"github.com/pegasus-go/pegasus/shared/protocol"
)

func TestCodec(t *testing.T) {
	for _, builtin := range []rpcxproto.SerializeType{rpcxproto.SerializeNone, rpcxproto.JSON, rpcxproto.ProtoBuffer, rpcxproto.MsgPack, rpcxproto.Thrift} {
		if builtin == SerializeType {
			t.Fatalf("SerializeType %d collides with an rpcx built-in", SerializeType)
		}
	}
	if SerializeType > 15 {
		t.Fatalf("SerializeType %d does not fit the 4-bit header field", SerializeType)
	}
	if _, ok := share.Codecs[SerializeType].(Codec); !ok {
		t.Fatalf("codec not registered with rpcx: %T", share.Codecs[SerializeType])
	}
	var c Codec
	b, err := c.Encode(&echoMsg{Body: []byte("hi")})
	if err != nil {
		t.Fatal(err)
	}
	var m echoMsg
	if err := c.Decode(b, &m); err != nil || string(m.Body) != "hi" {
		t.Fatalf("decode: %q, %v", m.Body, err)
	}
	_, err = c.Encode(struct{ X int }{1})
	if !errors.Is(err, protocol.CodeInvalidArgument) || !strings.Contains(err.Error(), "does not implement protocol.Message") {
		t.Fatalf("encoding a non-Message: %v", err)
	}
	var s string
	if err := c.Decode(b, &s); err == nil || !strings.Contains(err.Error(), "does not implement protocol.Message") {
		t.Fatalf("decoding into a non-Message: %v", err)
	}
	if err := c.Decode([]byte{1, 200}, &m); !errors.Is(err, protocol.CodeInvalidArgument) {
		t.Fatalf("decoding garbage: %v", err)
	}
}

func TestErrorEncoding(t *testing.T) {
	tests := []struct {
		err  error
		code protocol.ErrorCode
		msg  string
	}{
		{protocol.Errorf(protocol.CodeNotFound, "key: a:b"), protocol.CodeNotFound, "key: a:b"},
		{protocol.CodeBusy, protocol.CodeBusy, ""},
		{errors.New("x"), protocol.CodeUnknown, "x"},
		{context.DeadlineExceeded, protocol.CodeTimeout, "context deadline exceeded"},
		{&protocol.Error{Code: protocol.CodeOK, Message: "odd"}, protocol.CodeUnknown, "odd"},
		{protocol.Errorf(protocol.ErrorCode(999), "future"), protocol.ErrorCode(999), "future"},
	}
	for _, tc := range tests {
		s := EncodeError(tc.err)
		got := DecodeError(s)
		if got.Code != tc.code || got.Message != tc.msg {
			t.Errorf("%v -> %q -> %v/%q, want %v/%q", tc.err, s, got.Code, got.Message, tc.code, tc.msg)
		}
	}
	if got := EncodeError(protocol.Errorf(protocol.CodeNotFound, "k")); got != "pegasus:6:k" {
		t.Errorf("encoding changed: %q", got)
	}
	for _, foreign := range []string{"rpcx: can't find service X", "pegasus:", "pegasus:x:y", "pegasus:99999999999:y"} {
		if got := DecodeError(foreign); got.Code != protocol.CodeUnknown || got.Message != foreign {
			t.Errorf("foreign %q -> %v", foreign, got)
		}
	}
}

// fakeServer accepts one connection at a time and answers every request
// with whatever reply builds from the request's sequence number.
type fakeServer struct {
	ln    net.Listener
	done  chan struct{}
	reply func(seq uint64) []byte
}

func newFakeServer(t *testing.T, reply func(seq uint64) []byte) *fakeServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeServer{ln: ln, done: make(chan struct{}), reply: reply}
	go f.run()
	t.Cleanup(func() {
		ln.Close()
		<-f.done
	})
	return f
}

func (f *fakeServer) run() {
	defer close(f.done)
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		m, err := rpcxproto.Read(c)
		if err == nil {
			_, _ = c.Write(f.reply(m.Seq()))
			// Hold the connection until the client closes it.
			_, _ = io.Copy(io.Discard, c)
		}
		c.Close()
	}
}

func responseFrame(seq uint64, mutate func(*rpcxproto.Message)) []byte {
	m := rpcxproto.NewMessage()
	m.SetMessageType(rpcxproto.Response)
	m.SetSerializeType(SerializeType)
	m.SetSeq(seq)
	m.Payload, _ = (&echoMsg{Body: []byte("ok")}).AppendBinary(nil)
	if mutate != nil {
		mutate(m)
	}
	return m.Encode()
}

// A hostile or broken server cannot make the client allocate without bound
// or panic; the call fails with CodeNetworkFailure.
func TestClientRejectsBadResponses(t *testing.T) {
	tests := []struct {
		name  string
		reply func(seq uint64) []byte
		want  string
	}{
		{"1 GiB header", func(seq uint64) []byte {
			f := responseFrame(seq, nil)
			putU32(f, 12, 1<<30)
			return f[:16]
		}, "frame of 1073741824 bytes exceeds max_message_bytes 8388608"},
		{"error status without message", func(seq uint64) []byte {
			return responseFrame(seq, func(m *rpcxproto.Message) { m.SetMessageStatusType(rpcxproto.Error) })
		}, "error response without __rpcx_error__"},
		{"compressed", func(seq uint64) []byte {
			f := responseFrame(seq, nil)
			f[2] |= byte(rpcxproto.Gzip) << 2
			return f
		}, "compressed frames are refused"},
		{"request instead of response", func(seq uint64) []byte {
			f := responseFrame(seq, nil)
			f[2] &^= 0x80
			return f
		}, "got a request frame, want a response"},
		{"inconsistent lengths", func(seq uint64) []byte {
			f := responseFrame(seq, nil)
			putU32(f, 16, 3)
			return f
		}, "inner lengths inconsistent"},
		{"truncated", func(seq uint64) []byte {
			f := responseFrame(seq, nil)
			return f[:len(f)-1]
		}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs := newFakeServer(t, tc.reply)
			cli, err := NewClient(ClientConfig{ReadTimeout: 100 * time.Millisecond}, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer cli.Close()
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err = cli.Call(ctx, fs.ln.Addr().String(), "Test", "Echo", &echoMsg{}, &echoMsg{})
			runtime.ReadMemStats(&after)
			if !errors.Is(err, protocol.CodeNetworkFailure) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want CodeNetworkFailure mentioning %q", err, tc.want)
			}
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<20 {
				t.Fatalf("client allocated %d MiB", grew>>20)
			}
		})
	}
}

func TestCallTooLarge(t *testing.T) {
	cli, err := NewClient(ClientConfig{MaxMessageBytes: 1024}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	// No server needed: the request is refused before dialling.
	err = cli.Call(context.Background(), "127.0.0.1:1", "Test", "Echo", &echoMsg{Body: make([]byte, 2000)}, &echoMsg{})
	if !errors.Is(err, protocol.CodeMessageTooLarge) {
		t.Fatalf("got %v", err)
	}
}

func TestDialFailure(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens on addr now
	cli, err := NewClient(ClientConfig{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	err = cli.Call(context.Background(), addr, "Test", "Echo", &echoMsg{}, &echoMsg{})
	var pe *protocol.Error
	if !errors.As(err, &pe) || pe.Code != protocol.CodeNetworkFailure {
		t.Fatalf("got %v, want CodeNetworkFailure", err)
	}
	var opErr *net.OpError
	if !errors.As(err, &opErr) {
		t.Fatalf("%v does not wrap the dial error", err)
	}
}

// The pool reuses one connection, reconnects after the server restarts and
// leaves no goroutine behind after Close.
func TestPoolReconnectAndLeaks(t *testing.T) {
	defer goleak.VerifyNone(t)
	h := newHarness(t, ServerConfig{})
	for range 10 {
		if _, err := h.call(t, "Echo", "x"); err != nil {
			t.Fatal(err)
		}
	}
	h.cli.mu.Lock()
	first := h.cli.mu.conns[h.addr]
	n := len(h.cli.mu.conns)
	h.cli.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d pooled connections for one address", n)
	}

	// Restart the server on the same address.
	if err := h.srv.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := h.call(t, "Echo", "x"); !errors.Is(err, protocol.CodeNetworkFailure) {
		t.Fatalf("call to a closed server: %v", err)
	}
	srv2, err := NewServer(ServerConfig{}, h.logger)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv2.Register("Test", h.svc); err != nil {
		t.Fatal(err)
	}
	if err := srv2.Start(h.addr); err != nil {
		t.Fatal(err)
	}
	defer srv2.Close()
	// The first call after the restart may still meet the old connection
	// if the client has not noticed the close yet; the pool must redial by
	// the next one.
	var lastErr error
	for range 2 {
		if _, lastErr = h.call(t, "Echo", "again"); lastErr == nil {
			break
		}
	}
	if lastErr != nil {
		t.Fatalf("no reconnect after restart: %v", lastErr)
	}
	h.cli.mu.Lock()
	second := h.cli.mu.conns[h.addr]
	h.cli.mu.Unlock()
	if second == first {
		t.Fatal("pool kept the dead connection")
	}

	// Concurrent calls across several addresses, then Close.
	srv3, err := NewServer(ServerConfig{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv3.Register("Test", &testService{}); err != nil {
		t.Fatal(err)
	}
	if err := srv3.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer srv3.Close()
	errs := make(chan error, 40)
	for i := range 40 {
		addr := h.addr
		if i%2 == 1 {
			addr = srv3.Addr().String()
		}
		go func() {
			errs <- h.cli.Call(context.Background(), addr, "Test", "Echo", &echoMsg{Body: []byte("p")}, &echoMsg{})
		}()
	}
	for range 40 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	h.cli.Drop(h.addr)
	if _, err := h.call(t, "Echo", "after drop"); err != nil {
		t.Fatalf("call after Drop: %v", err)
	}
	if err := h.cli.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := h.call(t, "Echo", "x"); !errors.Is(err, ErrClientClosed) || !errors.Is(err, protocol.CodeNetworkFailure) {
		t.Fatalf("call after Close: %v", err)
	}
	if err := srv2.Close(); err != nil {
		t.Fatal(err)
	}
	if err := srv3.Close(); err != nil {
		t.Fatal(err)
	}
}

// Close fails calls in flight instead of leaving them hanging.
func TestClientCloseFailsInFlight(t *testing.T) {
	h := newHarness(t, ServerConfig{})
	done := make(chan error, 1)
	go func() {
		done <- h.cli.Call(context.Background(), h.addr, "Test", "Slow", &echoMsg{}, &echoMsg{})
	}()
	<-h.svc.entered
	if err := h.cli.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, protocol.CodeNetworkFailure) {
		t.Fatalf("in-flight call after Close: %v", err)
	}
}
