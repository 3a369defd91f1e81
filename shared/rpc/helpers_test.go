package rpc

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	rpcxproto "github.com/smallnest/rpcx/protocol"
	"go.uber.org/goleak"

	"github.com/pegasus-go/pegasus/shared/protocol"
)

func TestMain(m *testing.M) {
	// rpcx logs to stdout by default; keep test output readable.
	SetFrameworkLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
	goleak.VerifyTestMain(m)
}

// echoMsg is the test message: a version byte and a byte string.
type echoMsg struct {
	Body []byte
}

func (m *echoMsg) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, 1)
	return protocol.AppendBytes(b, m.Body), nil
}

func (m *echoMsg) UnmarshalBinary(data []byte) error {
	d := protocol.NewDecoder(data)
	d.Version(1)
	m.Body = d.BytesCopy()
	return d.Finish()
}

// testService exercises every path of the server.
type testService struct {
	release      chan struct{} // Slow blocks until closed
	entered      chan struct{} // Slow signals its start here
	slowFinished atomic.Bool
}

func (s *testService) Echo(_ context.Context, req *echoMsg, resp *echoMsg) error {
	resp.Body = req.Body
	return nil
}

func (s *testService) NotFound(_ context.Context, req *echoMsg, _ *echoMsg) error {
	return protocol.Errorf(protocol.CodeNotFound, "no record %q", req.Body)
}

func (s *testService) BareCode(context.Context, *echoMsg, *echoMsg) error {
	return protocol.CodeStaleBallot
}

func (s *testService) Wrapped(context.Context, *echoMsg, *echoMsg) error {
	return fmt.Errorf("replica 1.2: %w", protocol.Errorf(protocol.CodeInvalidState, "not primary"))
}

func (s *testService) Plain(context.Context, *echoMsg, *echoMsg) error {
	return errors.New("disk on fire")
}

func (s *testService) Panic(_ context.Context, req *echoMsg, _ *echoMsg) error {
	panic("boom: " + string(req.Body))
}

func (s *testService) Slow(_ context.Context, _ *echoMsg, resp *echoMsg) error {
	select {
	case s.entered <- struct{}{}:
	default:
	}
	<-s.release
	resp.Body = []byte("late")
	s.slowFinished.Store(true)
	return nil
}

// Deadline reports the handler context's remaining deadline, if any.
func (s *testService) Deadline(ctx context.Context, _ *echoMsg, resp *echoMsg) error {
	d, ok := ctx.Deadline()
	if !ok {
		resp.Body = []byte("none")
		return nil
	}
	resp.Body = []byte(time.Until(d).Round(time.Hour).String())
	if PeerAddr(ctx) == nil {
		return errors.New("no peer address in handler context")
	}
	return nil
}

// Drop answers nothing.
func (s *testService) Drop(context.Context, *echoMsg, *echoMsg) error {
	return fmt.Errorf("denied: %w", ErrNoResponse)
}

// NotAHandler has another shape and is ignored by Register.
func (s *testService) NotAHandler(int) {}

// logBuffer is a concurrency-safe log sink that can wait for a line.
type logBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{}
}

func newLogBuffer() *logBuffer { return &logBuffer{changed: make(chan struct{})} }

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n, err := l.buf.Write(p)
	close(l.changed)
	l.changed = make(chan struct{})
	return n, err
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// waitFor blocks until the log contains every substring, failing the test
// after a generous deadline.
func (l *logBuffer) waitFor(t *testing.T, subs ...string) string {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		l.mu.Lock()
		s, ch := l.buf.String(), l.changed
		l.mu.Unlock()
		all := true
		for _, sub := range subs {
			all = all && strings.Contains(s, sub)
		}
		if all {
			return s
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("log never contained %q; log:\n%s", subs, s)
		}
	}
}

type harness struct {
	srv    *Server
	cli    *Client
	svc    *testService
	logs   *logBuffer
	addr   string
	logger *slog.Logger
}

func newHarness(t *testing.T, cfg ServerConfig) *harness {
	t.Helper()
	h := &harness{svc: &testService{release: make(chan struct{}), entered: make(chan struct{}, 16)}, logs: newLogBuffer()}
	h.logger = slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv, err := NewServer(cfg, h.logger)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Register("Test", h.svc); err != nil {
		t.Fatal(err)
	}
	if err := srv.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	h.srv = srv
	h.addr = srv.Addr().String()
	cli, err := NewClient(ClientConfig{}, h.logger)
	if err != nil {
		t.Fatal(err)
	}
	h.cli = cli
	t.Cleanup(func() {
		select {
		case <-h.svc.release:
		default:
			close(h.svc.release)
		}
		if err := h.cli.Close(); err != nil {
			t.Errorf("client close: %v", err)
		}
		if err := h.srv.Close(); err != nil {
			t.Errorf("server close: %v", err)
		}
	})
	return h
}

func (h *harness) call(t *testing.T, method string, body string) (*echoMsg, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp := &echoMsg{}
	err := h.cli.Call(ctx, h.addr, "Test", method, &echoMsg{Body: []byte(body)}, resp)
	return resp, err
}

// mustEcho checks a normal round trip on the pooled client and on a fresh
// client (a new connection).
func (h *harness) mustEcho(t *testing.T) {
	t.Helper()
	resp, err := h.call(t, "Echo", "still alive")
	if err != nil || string(resp.Body) != "still alive" {
		t.Fatalf("echo on pooled client: %q, %v", resp.Body, err)
	}
	fresh, err := NewClient(ClientConfig{}, h.logger)
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp = &echoMsg{}
	if err := fresh.Call(ctx, h.addr, "Test", "Echo", &echoMsg{Body: []byte("new conn")}, resp); err != nil || string(resp.Body) != "new conn" {
		t.Fatalf("echo on new connection: %q, %v", resp.Body, err)
	}
}

// requestFrame encodes a well-formed request frame for Test.Echo.
func requestFrame(t testing.TB, seq uint64, body string) []byte {
	t.Helper()
	m := rpcxproto.NewMessage()
	m.SetMessageType(rpcxproto.Request)
	m.SetSerializeType(SerializeType)
	m.SetSeq(seq)
	m.ServicePath = "Test"
	m.ServiceMethod = "Echo"
	payload, _ := (&echoMsg{Body: []byte(body)}).AppendBinary(nil)
	m.Payload = payload
	return m.Encode()
}

// rawConn dials the server directly.
func rawConn(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	t.Cleanup(func() { c.Close() })
	return c
}

// readResponse reads one rpcx frame from c (bounded by rpcx's global limit).
func readResponse(t *testing.T, c net.Conn) *rpcxproto.Message {
	t.Helper()
	m, err := rpcxproto.Read(c)
	if err != nil {
		t.Fatalf("reading response: %v", err)
	}
	return m
}

// expectRejection reads the error reply to a rejected frame and then the
// connection's end.
func expectRejection(t *testing.T, c net.Conn, seq uint64, code protocol.ErrorCode, msgPart string) {
	t.Helper()
	m := readResponse(t, c)
	if m.MessageType() != rpcxproto.Response || m.MessageStatusType() != rpcxproto.Error {
		t.Fatalf("got type %d status %d, want an error response", m.MessageType(), m.MessageStatusType())
	}
	if m.Seq() != seq {
		t.Fatalf("reply seq %d, want %d", m.Seq(), seq)
	}
	pe := DecodeError(m.Metadata[rpcxproto.ServiceError])
	if pe.Code != code || !strings.Contains(pe.Message, msgPart) {
		t.Fatalf("reply error %v, want code %v containing %q", pe, code, msgPart)
	}
	expectClosed(t, c)
}

// expectClosed checks that the server closes c without sending more.
func expectClosed(t *testing.T, c net.Conn) {
	t.Helper()
	var b [1]byte
	n, err := c.Read(b[:])
	if n != 0 || err == nil {
		t.Fatalf("connection still open: read %d bytes, err %v", n, err)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection not closed by the server: %v", err)
	}
}

func putU32(b []byte, off int, v uint32) { binary.BigEndian.PutUint32(b[off:], v) }
