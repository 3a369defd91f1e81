package rpc

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	rpcxproto "github.com/smallnest/rpcx/protocol"

	"github.com/pegasus-go/pegasus/shared/protocol"
)

func TestRoundTrip(t *testing.T) {
	h := newHarness(t, ServerConfig{})
	for _, body := range []string{"", "hello", strings.Repeat("x", 100_000)} {
		resp, err := h.call(t, "Echo", body)
		if err != nil {
			t.Fatalf("echo %d bytes: %v", len(body), err)
		}
		if string(resp.Body) != body {
			t.Fatalf("echo %d bytes: got %d bytes back", len(body), len(resp.Body))
		}
	}
}

func TestDeadlinePropagatesToHandler(t *testing.T) {
	h := newHarness(t, ServerConfig{})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Hour)
	defer cancel()
	resp := &echoMsg{}
	if err := h.cli.Call(ctx, h.addr, "Test", "Deadline", &echoMsg{}, resp); err != nil {
		t.Fatal(err)
	}
	if got := string(resp.Body); got != "3h0m0s" {
		t.Fatalf("handler deadline %q, want about 3h", got)
	}
	resp, err := h.call(t, "Deadline", "")
	if err != nil || string(resp.Body) == "none" {
		t.Fatalf("call with 10s deadline: handler saw %q, err %v", resp.Body, err)
	}
	if err := h.cli.Call(context.Background(), h.addr, "Test", "Deadline", &echoMsg{}, resp); err != nil || string(resp.Body) != "none" {
		t.Fatalf("call without deadline: handler saw %q, err %v", resp.Body, err)
	}
}

func TestHandlerErrors(t *testing.T) {
	h := newHarness(t, ServerConfig{})
	tests := []struct {
		method string
		code   protocol.ErrorCode
		msg    string
	}{
		{"NotFound", protocol.CodeNotFound, `no record "k1"`},
		{"BareCode", protocol.CodeStaleBallot, ""},
		{"Wrapped", protocol.CodeInvalidState, "replica 1.2: ERR_INVALID_STATE: not primary"},
		{"Plain", protocol.CodeUnknown, "disk on fire"},
	}
	for _, tc := range tests {
		t.Run(tc.method, func(t *testing.T) {
			_, err := h.call(t, tc.method, "k1")
			var pe *protocol.Error
			if !errors.As(err, &pe) {
				t.Fatalf("error %v (%T) is not a *protocol.Error", err, err)
			}
			if pe.Code != tc.code || pe.Message != tc.msg {
				t.Fatalf("got code %v message %q, want %v %q", pe.Code, pe.Message, tc.code, tc.msg)
			}
			if !errors.Is(err, tc.code) {
				t.Fatalf("errors.Is(err, %v) is false", tc.code)
			}
		})
	}
}

// (f) unknown service and unknown method.
func TestUnknownServiceAndMethod(t *testing.T) {
	h := newHarness(t, ServerConfig{})
	ctx := context.Background()
	err := h.cli.Call(ctx, h.addr, "Nope", "Echo", &echoMsg{}, &echoMsg{})
	var pe *protocol.Error
	if !errors.As(err, &pe) || pe.Code != protocol.CodeUnknownMethod || !strings.Contains(pe.Message, `"Nope"`) || !strings.Contains(pe.Message, `"Echo"`) {
		t.Fatalf("unknown service: %v", err)
	}
	err = h.cli.Call(ctx, h.addr, "Test", "Missing", &echoMsg{}, &echoMsg{})
	if !errors.As(err, &pe) || pe.Code != protocol.CodeUnknownMethod || !strings.Contains(pe.Message, `"Missing"`) || !strings.Contains(pe.Message, `"Test"`) {
		t.Fatalf("unknown method: %v", err)
	}
	// NotAHandler exists on the type but has another shape.
	err = h.cli.Call(ctx, h.addr, "Test", "NotAHandler", &echoMsg{}, &echoMsg{})
	if !errors.Is(err, protocol.CodeUnknownMethod) {
		t.Fatalf("method of another shape: %v", err)
	}
	h.mustEcho(t)
}

// (g) a panicking handler.
func TestHandlerPanic(t *testing.T) {
	h := newHarness(t, ServerConfig{})
	_, err := h.call(t, "Panic", "kaboom")
	var pe *protocol.Error
	if !errors.As(err, &pe) || pe.Code != protocol.CodeInternal || !strings.Contains(pe.Message, "boom: kaboom") {
		t.Fatalf("panic: got %v, want CodeInternal with the panic message", err)
	}
	h.logs.waitFor(t, "handler panicked", "boom: kaboom", "goroutine ", "(*testService).Panic")
	h.mustEcho(t)
}

// (h) the caller's deadline expires while the handler is still running.
func TestClientDeadline(t *testing.T) {
	h := newHarness(t, ServerConfig{})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := h.cli.Call(ctx, h.addr, "Test", "Slow", &echoMsg{}, &echoMsg{})
	// The handler is still blocked: only the deadline can have ended the call.
	close(h.svc.release)
	var pe *protocol.Error
	if !errors.As(err, &pe) || pe.Code != protocol.CodeTimeout {
		t.Fatalf("got %v, want CodeTimeout", err)
	}
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, protocol.CodeTimeout) {
		t.Fatalf("%v does not unwrap to both the code and the cause", err)
	}
	// The late response is dropped and the connection keeps working.
	h.mustEcho(t)

	// An already expired context fails before sending.
	err = h.cli.Call(ctx, h.addr, "Test", "Echo", &echoMsg{}, &echoMsg{})
	if !errors.Is(err, protocol.CodeTimeout) {
		t.Fatalf("expired context: %v", err)
	}
	cctx, ccancel := context.WithCancel(context.Background())
	ccancel()
	if err := h.cli.Call(cctx, h.addr, "Test", "Echo", &echoMsg{}, &echoMsg{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled context: %v", err)
	}
}

// (a) a header claiming 1 GiB.
func TestHugeFrameRejected(t *testing.T) {
	h := newHarness(t, ServerConfig{})
	h.mustEcho(t) // warm up so the comparison is not skewed by first-use allocations

	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)

	c := rawConn(t, h.addr)
	frame := requestFrame(t, 77, "x")
	putU32(frame, 12, 1<<30)
	if _, err := c.Write(frame[:16]); err != nil {
		t.Fatal(err)
	}
	expectRejection(t, c, 77, protocol.CodeMessageTooLarge, "frame of 1073741824 bytes exceeds max_message_bytes 8388608")
	h.logs.waitFor(t, "rejected frame", "1073741824")

	runtime.ReadMemStats(&after)
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<20 {
		t.Fatalf("the server allocated %d MiB while rejecting the frame", grew>>20)
	}
	h.mustEcho(t)
}

// A frame at the configured limit is served; one byte more is rejected.
func TestFrameLimitBoundary(t *testing.T) {
	const limit = 4096
	h := newHarness(t, ServerConfig{MaxMessageBytes: limit})
	// Body: 4+len("Test") + 4+len("Echo") + 4+0 (metadata) + 4+payload, and
	// payload = version byte + 2-byte uvarint length + bytes.
	atLimit := requestFrame(t, 1, strings.Repeat("a", limit-24-3))
	if got := len(atLimit) - 16; got != limit {
		t.Fatalf("test frame of %d bytes, want %d", got, limit)
	}
	c := rawConn(t, h.addr)
	if _, err := c.Write(atLimit); err != nil {
		t.Fatal(err)
	}
	if m := readResponse(t, c); m.MessageStatusType() != rpcxproto.Normal {
		t.Fatalf("frame at the limit refused: %v", m.Metadata)
	}
	over := requestFrame(t, 2, strings.Repeat("a", limit-24-3+1))
	c2 := rawConn(t, h.addr)
	if _, err := c2.Write(over); err != nil {
		t.Fatal(err)
	}
	expectRejection(t, c2, 2, protocol.CodeMessageTooLarge, fmt.Sprintf("frame of %d bytes exceeds max_message_bytes %d", limit+1, limit))
}

// (b) a truncated frame and then the peer goes away.
func TestTruncatedFrame(t *testing.T) {
	h := newHarness(t, ServerConfig{})
	c := rawConn(t, h.addr)
	frame := requestFrame(t, 5, "truncated payload")
	if _, err := c.Write(frame[:len(frame)-5]); err != nil {
		t.Fatal(err)
	}
	c.Close()
	h.logs.waitFor(t, "connection closed inside a frame", fmt.Sprintf("got %d of %d bytes", len(frame)-5, len(frame)))

	// A header cut short is reported too.
	c = rawConn(t, h.addr)
	if _, err := c.Write(frame[:7]); err != nil {
		t.Fatal(err)
	}
	c.Close()
	h.logs.waitFor(t, "header cut off after 7 of 16 bytes")
	h.mustEcho(t)
}

// (c) garbage and a wrong magic number: no reply is possible (the sequence
// number is unknown), the connection is closed.
func TestGarbage(t *testing.T) {
	h := newHarness(t, ServerConfig{})
	c := rawConn(t, h.addr)
	if _, err := c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	expectClosed(t, c)
	h.logs.waitFor(t, "bad magic number 0x47")

	// Right magic, wrong version: the sequence number is readable, so the
	// peer gets an answer.
	c = rawConn(t, h.addr)
	frame := requestFrame(t, 9, "v")
	frame[1] = 7
	if _, err := c.Write(frame); err != nil {
		t.Fatal(err)
	}
	expectRejection(t, c, 9, protocol.CodeInvalidArgument, "unsupported protocol version 7")
	h.mustEcho(t)
}

// (d) inner lengths that do not add up, and other header violations.
func TestBadFrames(t *testing.T) {
	h := newHarness(t, ServerConfig{})
	base := requestFrame(t, 11, "abc")
	// Offsets in a frame for service "Test", method "Echo", no metadata.
	const (
		spLenOff   = 16
		smLenOff   = 24
		metaLenOff = 32
		payLenOff  = 36
	)
	tests := []struct {
		name   string
		mutate func(f []byte) []byte
		want   string
	}{
		{"payload length too short", func(f []byte) []byte { putU32(f, payLenOff, 1); return f },
			"inner lengths inconsistent: they add up to"},
		{"payload length past the end", func(f []byte) []byte { putU32(f, payLenOff, 1000); return f },
			"payload of 1000 bytes but only"},
		{"service path past the end", func(f []byte) []byte { putU32(f, spLenOff, 0xFFFFFFF0); return f },
			"service path of 4294967280 bytes but only"},
		{"method length past the end", func(f []byte) []byte { putU32(f, smLenOff, 900); return f },
			"service method of 900 bytes"},
		{"metadata does not decode", func(f []byte) []byte {
			// Claim 4 bytes of metadata, taken from the payload section.
			putU32(f, metaLenOff, 4)
			return f
		}, "metadata"},
		{"total shorter than the length fields", func(f []byte) []byte {
			putU32(f, 12, 8)
			return f[:24]
		}, "shorter than its four 4-byte length fields"},
		{"compressed", func(f []byte) []byte { f[2] |= byte(rpcxproto.Gzip) << 2; return f },
			"compressed frames are refused (compress type 1)"},
		{"wrong serialize type", func(f []byte) []byte { f[3] = byte(rpcxproto.MsgPack) << 4; return f },
			"serialize type 3 is not accepted"},
		{"response instead of request", func(f []byte) []byte { f[2] |= 0x80; return f },
			"got a response frame, want a request"},
		{"heartbeat", func(f []byte) []byte { f[2] |= 0x40; return f }, "heartbeat frames are not accepted"},
		{"one-way", func(f []byte) []byte { f[2] |= 0x20; return f }, "one-way frames are not accepted"},
		{"error status on a request", func(f []byte) []byte { f[2] |= 0x01; return f }, "request frame with status 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.mutate(append([]byte(nil), base...))
			c := rawConn(t, h.addr)
			if _, err := c.Write(f); err != nil {
				t.Fatal(err)
			}
			expectRejection(t, c, 11, protocol.CodeInvalidArgument, tc.want)
		})
	}
	h.mustEcho(t)
}

// (e) a real gzip-compressed frame, as an rpcx client configured for gzip
// would send it.
func TestCompressedFrameRefused(t *testing.T) {
	h := newHarness(t, ServerConfig{})
	m := rpcxproto.NewMessage()
	m.SetMessageType(rpcxproto.Request)
	m.SetSerializeType(SerializeType)
	m.SetCompressType(rpcxproto.Gzip)
	m.SetSeq(21)
	m.ServicePath, m.ServiceMethod = "Test", "Echo"
	m.Payload, _ = (&echoMsg{Body: []byte(strings.Repeat("z", 5000))}).AppendBinary(nil)
	c := rawConn(t, h.addr)
	if _, err := c.Write(m.Encode()); err != nil {
		t.Fatal(err)
	}
	expectRejection(t, c, 21, protocol.CodeInvalidArgument, "compressed frames are refused")
}

// A request payload that the message type cannot decode.
func TestUndecodableRequest(t *testing.T) {
	h := newHarness(t, ServerConfig{})
	m := rpcxproto.NewMessage()
	m.SetMessageType(rpcxproto.Request)
	m.SetSerializeType(SerializeType)
	m.SetSeq(31)
	m.ServicePath, m.ServiceMethod = "Test", "Echo"
	m.Payload = []byte{9, 9, 9}
	c := rawConn(t, h.addr)
	if _, err := c.Write(m.Encode()); err != nil {
		t.Fatal(err)
	}
	r := readResponse(t, c)
	pe := DecodeError(r.Metadata[rpcxproto.ServiceError])
	if r.Seq() != 31 || pe.Code != protocol.CodeInvalidArgument || !strings.Contains(pe.Message, "decode Test.Echo request") {
		t.Fatalf("got seq %d error %v", r.Seq(), pe)
	}
	// A handler-level error keeps the connection open.
	if _, err := c.Write(requestFrame(t, 32, "ok")); err != nil {
		t.Fatal(err)
	}
	if r := readResponse(t, c); r.Seq() != 32 || r.MessageStatusType() != rpcxproto.Normal {
		t.Fatalf("follow-up call: seq %d status %d", r.Seq(), r.MessageStatusType())
	}
}

// (j) after a burst of bad input on many connections the server still
// serves new connections, and its pooled clients.
func TestSurvivesBadInput(t *testing.T) {
	h := newHarness(t, ServerConfig{})
	for i := range 20 {
		c := rawConn(t, h.addr)
		f := requestFrame(t, uint64(i), "x")
		switch i % 4 {
		case 0:
			putU32(f, 12, 1<<30)
			f = f[:16]
		case 1:
			f = f[:len(f)/2]
		case 2:
			f[0] = 0
		case 3:
			putU32(f, 36, 1<<20)
		}
		if _, err := c.Write(f); err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	h.mustEcho(t)
}

func TestIdleTimeout(t *testing.T) {
	h := newHarness(t, ServerConfig{IdleTimeout: 50 * time.Millisecond})
	c := rawConn(t, h.addr)
	expectClosed(t, c)
	h.logs.waitFor(t, "closing idle connection")
}

func TestReadTimeout(t *testing.T) {
	h := newHarness(t, ServerConfig{ReadTimeout: 50 * time.Millisecond})
	c := rawConn(t, h.addr)
	f := requestFrame(t, 1, "slowloris")
	if _, err := c.Write(f[:20]); err != nil {
		t.Fatal(err)
	}
	expectClosed(t, c)
	h.logs.waitFor(t, "frame not received within read_timeout")
}

func TestRegisterValidation(t *testing.T) {
	srv, err := NewServer(ServerConfig{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	type noHandlers struct{}
	for name, tc := range map[string]struct {
		service string
		rcvr    any
		want    string
	}{
		"dotted name": {"a.b", &testService{}, "invalid service name"},
		"empty name":  {"", &testService{}, "invalid service name"},
		"no methods":  {"X", &noHandlers{}, "has no method of the form"},
		"nil":         {"X", nil, "nil receiver"},
		"bad types":   {"X", &badTypes{}, "is not a pointer type implementing protocol.Message"},
	} {
		if err := srv.Register(tc.service, tc.rcvr); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", name, err, tc.want)
		}
	}
	if err := srv.Register("T", &testService{}); err != nil {
		t.Fatal(err)
	}
	if err := srv.Register("T", &testService{}); err == nil {
		t.Fatal("duplicate registration accepted")
	}
	if err := srv.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	if err := srv.Register("U", &testService{}); err == nil {
		t.Fatal("registration after Start accepted")
	}
	if err := srv.Start("127.0.0.1:0"); err == nil {
		t.Fatal("second Start accepted")
	}
}

type badTypes struct{}

func (badTypes) Get(context.Context, *string, *echoMsg) error { return nil }

func TestConfigValidation(t *testing.T) {
	if _, err := NewServer(ServerConfig{MaxMessageBytes: MaxMessageBytesLimit + 1}, nil); err == nil {
		t.Fatal("server accepted max_message_bytes above the limit")
	}
	if _, err := NewClient(ClientConfig{MaxMessageBytes: 3}, nil); err == nil {
		t.Fatal("client accepted max_message_bytes 3")
	}
	if rpcxproto.MaxMessageLength != MaxMessageBytesLimit {
		t.Fatalf("rpcx MaxMessageLength = %d, want %d", rpcxproto.MaxMessageLength, MaxMessageBytesLimit)
	}
}

// Close waits for a request in flight and answers it.
func TestGracefulClose(t *testing.T) {
	h := newHarness(t, ServerConfig{})
	done := make(chan error, 1)
	var resp echoMsg
	go func() {
		done <- h.cli.Call(context.Background(), h.addr, "Test", "Slow", &echoMsg{}, &resp)
	}()
	<-h.svc.entered
	closed := make(chan error, 1)
	go func() { closed <- h.srv.Close() }()
	// Close stops accepting before it waits for the handler.
	for h.srv.running() {
		runtime.Gosched()
	}
	close(h.svc.release)
	if err := <-done; err != nil || string(resp.Body) != "late" {
		t.Fatalf("in-flight call: %q, %v", resp.Body, err)
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if !h.svc.slowFinished.Load() {
		t.Fatal("Close returned before the in-flight handler finished")
	}
	// New calls fail cleanly.
	if _, err := h.call(t, "Echo", "x"); !errors.Is(err, protocol.CodeNetworkFailure) {
		t.Fatalf("call after Close: %v", err)
	}
}

func TestShutdownTimeout(t *testing.T) {
	h := newHarness(t, ServerConfig{ShutdownTimeout: 20 * time.Millisecond})
	done := make(chan error, 1)
	go func() {
		done <- h.cli.Call(context.Background(), h.addr, "Test", "Slow", &echoMsg{}, &echoMsg{})
	}()
	<-h.svc.entered
	if err := h.srv.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, protocol.CodeNetworkFailure) {
		t.Fatalf("call cut off by shutdown: %v", err)
	}
	h.logs.waitFor(t, "shutdown_timeout expired")
	if h.svc.slowFinished.Load() {
		t.Fatal("handler finished although it was never released")
	}
}
