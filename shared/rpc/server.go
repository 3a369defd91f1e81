package rpc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"reflect"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	rpcxproto "github.com/smallnest/rpcx/protocol"
	"github.com/smallnest/rpcx/server"

	"github.com/pegasus-go/pegasus/shared/protocol"
)

// ServerConfig configures a Server. Zero values take the defaults noted on
// each field (see EnsureDefaults).
type ServerConfig struct {
	// MaxMessageBytes bounds the length of one request frame (everything
	// after its 16-byte prefix). Default DefaultMaxMessageBytes (8 MiB); at
	// most MaxMessageBytesLimit.
	MaxMessageBytes int
	// ReadTimeout bounds the time to receive one request frame once its
	// first byte has arrived. Default 30s; negative means no limit.
	ReadTimeout time.Duration
	// WriteTimeout bounds each response write. Default 30s; negative means
	// no limit.
	WriteTimeout time.Duration
	// IdleTimeout closes a connection on which no frame starts for this
	// long. Zero (the default) keeps idle connections; TCP keep-alive still
	// detects dead peers.
	IdleTimeout time.Duration
	// ShutdownTimeout bounds how long Close waits for requests in flight.
	// Default 10s.
	ShutdownTimeout time.Duration
}

// Server defaults.
const (
	DefaultReadTimeout     = 30 * time.Second
	DefaultWriteTimeout    = 30 * time.Second
	DefaultShutdownTimeout = 10 * time.Second
)

// EnsureDefaults fills zero fields with their defaults.
func (c *ServerConfig) EnsureDefaults() {
	if c.MaxMessageBytes == 0 {
		c.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = DefaultReadTimeout
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
}

// Validate reports the first invalid field.
func (c *ServerConfig) Validate() error {
	if err := checkMaxMessageBytes(c.MaxMessageBytes); err != nil {
		return fmt.Errorf("rpc server: %w", err)
	}
	if c.IdleTimeout < 0 {
		return fmt.Errorf("rpc server: idle_timeout %v is negative", c.IdleTimeout)
	}
	if c.ShutdownTimeout < 0 {
		return fmt.Errorf("rpc server: shutdown_timeout %v is negative", c.ShutdownTimeout)
	}
	return nil
}

// ErrServerClosed is returned by Serve and Start after Close.
var ErrServerClosed = errors.New("rpc: server closed")

// timeoutMetadataKey carries the caller's remaining deadline in
// milliseconds; the server derives the handler context's deadline from it.
const timeoutMetadataKey = "__pegasus_timeout_ms"

// maxTimeoutMillis is the largest deadline honoured (larger values would
// overflow time.Duration); a larger one leaves the handler without a
// deadline.
const maxTimeoutMillis = math.MaxInt64 / int64(time.Millisecond)

// guardNetwork is the network name passed to rpcx's ServeListener. rpcx
// multiplexes an HTTP gateway and JSON-RPC onto listeners named "tcp*"
// through cmux; any other name serves the listener directly, so every
// connection goes through the frame guard.
const guardNetwork = "pegasus"

const (
	phaseRunning int32 = iota
	phaseDraining
	phaseFinal
)

var (
	typeOfContext = reflect.TypeFor[context.Context]()
	typeOfError   = reflect.TypeFor[error]()
	typeOfMessage = reflect.TypeFor[protocol.Message]()
)

// Server serves registered services over rpcx with the frame guard, the
// error encoding and panic recovery described in the package doc.
type Server struct {
	cfg    ServerConfig
	logger *slog.Logger
	rules  frameRules
	rs     *server.Server

	// baseCtx is the parent of every handler context; it is cancelled when
	// Close gives up waiting for handlers.
	baseCtx    context.Context
	cancelBase context.CancelFunc

	phase    atomic.Int32
	inflight inflight

	serveDone chan struct{} // closed when Serve returns
	closeDone chan struct{} // closed when Close has finished

	mu struct {
		sync.Mutex
		services map[string]map[string]bool
		ln       net.Listener
		closed   bool
		conns    map[*serverConn]struct{}
	}
}

// NewServer returns a server configured by cfg (defaults filled in). It
// serves nothing until Serve or Start.
func NewServer(cfg ServerConfig, logger *slog.Logger) (*Server, error) {
	cfg.EnsureDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		cfg:       cfg,
		logger:    logger,
		rules:     frameRules{maxBytes: cfg.MaxMessageBytes, msgType: rpcxproto.Request},
		serveDone: make(chan struct{}),
		closeDone: make(chan struct{}),
	}
	s.baseCtx, s.cancelBase = context.WithCancel(context.Background())
	s.mu.services = make(map[string]map[string]bool)
	s.mu.conns = make(map[*serverConn]struct{})

	s.rs = server.NewServer(server.WithCustomPool(newWorkerPool()))
	s.rs.DisableHTTPGateway = true
	s.rs.DisableJSONRPC = true
	s.rs.Plugins.Add(serverPlugin{s})
	s.rs.ServerErrorFunc = func(res *rpcxproto.Message, err error) string {
		return EncodeError(s.rpcxError(res.ServicePath, res.ServiceMethod, err))
	}
	s.rs.HandleServiceError = func(err error) {
		s.logger.Debug("rpc: rpcx reported an error", "err", err)
	}
	return s, nil
}

// Register exposes every method of receiver that has the form
//
//	func (r *T) Method(ctx context.Context, req *Req, resp *Resp) error
//
// where *Req and *Resp implement protocol.Message, as serviceName.Method.
// Other methods are ignored, except that a method with that shape whose
// argument types do not implement protocol.Message is an error, as is a
// receiver with no such method. Register must be called before Serve or
// Start.
func (s *Server) Register(serviceName string, receiver any) error {
	if serviceName == "" || len(serviceName) > maxNameBytes || strings.ContainsAny(serviceName, ".") {
		return fmt.Errorf("rpc: invalid service name %q: want 1..%d bytes without '.'", serviceName, maxNameBytes)
	}
	rv := reflect.ValueOf(receiver)
	if !rv.IsValid() {
		return fmt.Errorf("rpc: register %s: nil receiver", serviceName)
	}
	rt := rv.Type()
	type handler struct {
		name string
		fn   server.Handler
	}
	var handlers []handler
	for i := 0; i < rt.NumMethod(); i++ {
		m := rt.Method(i)
		mt := m.Type // includes the receiver as In(0)
		if mt.NumIn() != 4 || mt.NumOut() != 1 || mt.In(1) != typeOfContext || mt.Out(0) != typeOfError {
			continue
		}
		reqT, respT := mt.In(2), mt.In(3)
		for _, t := range []reflect.Type{reqT, respT} {
			if t.Kind() != reflect.Pointer || !t.Implements(typeOfMessage) {
				return fmt.Errorf("rpc: register %s.%s: %v is not a pointer type implementing protocol.Message", serviceName, m.Name, t)
			}
		}
		handlers = append(handlers, handler{m.Name, s.handler(serviceName, m.Name, rv.Method(i), reqT.Elem(), respT.Elem())})
	}
	if len(handlers) == 0 {
		return fmt.Errorf("rpc: register %s: %T has no method of the form func(context.Context, *Req, *Resp) error", serviceName, receiver)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.closed || s.mu.ln != nil {
		return fmt.Errorf("rpc: register %s: server already serving or closed", serviceName)
	}
	if _, ok := s.mu.services[serviceName]; ok {
		return fmt.Errorf("rpc: service %s already registered", serviceName)
	}
	methods := make(map[string]bool, len(handlers))
	for _, h := range handlers {
		methods[h.name] = true
		s.rs.AddHandler(serviceName, h.name, h.fn)
	}
	s.mu.services[serviceName] = methods
	return nil
}

// Start listens on addr ("127.0.0.1:0" picks a free port) and serves in a
// background goroutine. Addr reports the bound address once Start returns.
func (s *Server) Start(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("rpc: listen on %s: %w", addr, err)
	}
	if err := s.attach(ln); err != nil {
		return err
	}
	go func() {
		if err := s.serve(ln); err != nil {
			s.logger.Error("rpc: server stopped accepting connections", "addr", ln.Addr().String(), "err", err)
		}
	}()
	return nil
}

// Serve accepts connections on ln until Close and returns nil after Close,
// or the accept error that stopped it. It closes ln when it returns.
func (s *Server) Serve(ln net.Listener) error {
	if err := s.attach(ln); err != nil {
		return err
	}
	return s.serve(ln)
}

func (s *Server) attach(ln net.Listener) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.closed {
		_ = ln.Close()
		return ErrServerClosed
	}
	if s.mu.ln != nil {
		_ = ln.Close()
		return errors.New("rpc: server is already serving")
	}
	s.mu.ln = ln
	return nil
}

func (s *Server) serve(ln net.Listener) error {
	defer close(s.serveDone)
	defer ln.Close()
	err := s.rs.ServeListener(guardNetwork, ln)
	if !s.running() {
		return nil
	}
	return err
}

// Addr returns the listening address, or nil before Serve or Start.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.ln == nil {
		return nil
	}
	return s.mu.ln.Addr()
}

// Close stops the server gracefully: it stops accepting connections and
// reading requests, waits up to ShutdownTimeout for requests already read
// to be answered, then cancels the handlers' contexts, closes every
// connection and waits for the server's goroutines to finish (handlers
// still running after the timeout are not waited for). Close is
// idempotent; concurrent calls all wait for the first to finish.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.mu.closed {
		s.mu.Unlock()
		<-s.closeDone
		return nil
	}
	s.mu.closed = true
	s.phase.Store(phaseDraining)
	ln := s.mu.ln
	conns := make([]*serverConn, 0, len(s.mu.conns))
	for c := range s.mu.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	defer close(s.closeDone)

	var err error
	if ln != nil {
		if e := ln.Close(); e != nil && !errors.Is(e, net.ErrClosed) {
			err = e
		}
	}
	for _, c := range conns {
		c.interruptRead()
	}
	timer := time.NewTimer(s.cfg.ShutdownTimeout)
	defer timer.Stop()
	drained := true
	for _, c := range conns {
		if !waitOrTimer(c.stopped, timer.C) {
			drained = false
			break
		}
	}
	if drained {
		drained = waitOrTimer(s.inflight.zero(), timer.C)
	}
	if !drained {
		s.logger.Warn("rpc: shutdown_timeout expired with requests in flight; closing connections",
			"shutdown_timeout", s.cfg.ShutdownTimeout, "in_flight", s.inflight.count())
	}

	s.phase.Store(phaseFinal)
	s.cancelBase()
	_ = s.rs.Close()
	s.mu.Lock()
	conns = conns[:0]
	for c := range s.mu.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		_ = c.closeSocket()
	}
	for _, c := range conns {
		<-c.stopped
	}
	if ln != nil {
		<-s.serveDone
	}
	return err
}

func waitOrTimer(ch <-chan struct{}, timer <-chan time.Time) bool {
	select {
	case <-ch:
		return true
	case <-timer:
		return false
	}
}

func (s *Server) running() bool  { return s.phase.Load() == phaseRunning }
func (s *Server) draining() bool { return s.phase.Load() == phaseDraining }

func (s *Server) forgetConn(c *serverConn) {
	s.mu.Lock()
	delete(s.mu.conns, c)
	s.mu.Unlock()
}

// rpcxError turns an error raised inside rpcx (not by a handler) into a
// wire error: requests for unregistered services or methods become
// CodeUnknownMethod naming both.
func (s *Server) rpcxError(service, method string, err error) error {
	s.mu.Lock()
	methods, ok := s.mu.services[service]
	s.mu.Unlock()
	switch {
	case !ok:
		return protocol.Errorf(protocol.CodeUnknownMethod, "unknown service %q (method %q)", service, method)
	case !methods[method]:
		return protocol.Errorf(protocol.CodeUnknownMethod, "unknown method %q of service %q", method, service)
	}
	return err
}

// wireErrorString is an error whose text is already an encoded wire error,
// for rpcx's Context.WriteError.
type wireErrorString string

func (e wireErrorString) Error() string { return string(e) }

// handler adapts one registered method to rpcx's raw handler: it decodes
// the request, runs the method with panic recovery under a context carrying
// the caller's deadline, and writes the response or the encoded error.
func (s *Server) handler(service, method string, fn reflect.Value, reqT, respT reflect.Type) server.Handler {
	return func(rctx *server.Context) error {
		defer s.inflight.done()
		ctx := s.baseCtx
		if ms := rctx.Metadata()[timeoutMetadataKey]; ms != "" {
			if n, err := strconv.ParseInt(ms, 10, 64); err == nil && n >= 0 && n <= maxTimeoutMillis {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, time.Duration(n)*time.Millisecond)
				defer cancel()
			}
		}
		if conn, ok := rctx.Get(server.RemoteConnContextKey).(net.Conn); ok {
			ctx = context.WithValue(ctx, peerAddrKey{}, conn.RemoteAddr())
		}

		req := reflect.New(reqT)
		err := req.Interface().(protocol.Message).UnmarshalBinary(rctx.Payload())
		if err != nil {
			err = protocol.Errorf(protocol.CodeInvalidArgument, "decode %s.%s request: %v", service, method, err)
		} else {
			resp := reflect.New(respT)
			err = s.invoke(ctx, service, method, fn, req, resp)
			if errors.Is(err, ErrNoResponse) {
				s.logger.Debug("rpc: request dropped by its handler", "service", service, "method", method)
				return nil
			}
			if err == nil {
				if werr := rctx.Write(resp.Interface()); werr != nil {
					s.logger.Debug("rpc: response not sent", "service", service, "method", method, "err", werr)
				}
				return nil
			}
		}
		if werr := rctx.WriteError(wireErrorString(EncodeError(err))); werr != nil {
			s.logger.Debug("rpc: error response not sent", "service", service, "method", method, "err", werr)
		}
		return nil
	}
}

func (s *Server) invoke(ctx context.Context, service, method string, fn, req, resp reflect.Value) (err error) {
	defer func() {
		if r := recover(); r != nil {
			s.logger.Error("rpc: handler panicked", "service", service, "method", method,
				"panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			err = protocol.Errorf(protocol.CodeInternal, "panic in %s.%s: %v", service, method, r)
		}
	}()
	out := fn.Call([]reflect.Value{reflect.ValueOf(ctx), req, resp})
	if e := out[0].Interface(); e != nil {
		return e.(error)
	}
	return nil
}

type peerAddrKey struct{}

// PeerAddr returns the remote address of the connection a handler's request
// arrived on, or nil outside a handler.
func PeerAddr(ctx context.Context) net.Addr {
	a, _ := ctx.Value(peerAddrKey{}).(net.Addr)
	return a
}

// serverPlugin hooks the frame guard into rpcx and ends the in-flight
// accounting of requests rpcx answers itself (unknown service or method).
type serverPlugin struct{ s *Server }

// HandleConnAccept wraps each accepted connection in the frame guard.
func (p serverPlugin) HandleConnAccept(conn net.Conn) (net.Conn, bool) {
	s := p.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.closed {
		return conn, false
	}
	c := newServerConn(s, conn)
	s.mu.conns[c] = struct{}{}
	return c, true
}

// PostWriteResponse is called by rpcx after it wrote a response it built
// itself; responses of registered methods are written by Server.handler.
func (p serverPlugin) PostWriteResponse(context.Context, *rpcxproto.Message, *rpcxproto.Message, error) error {
	p.s.inflight.done()
	return nil
}

// inflight counts requests read but not yet answered.
type inflight struct {
	mu     sync.Mutex
	n      int
	zeroCh chan struct{}
}

func (f *inflight) add() {
	f.mu.Lock()
	f.n++
	f.mu.Unlock()
}

func (f *inflight) done() {
	f.mu.Lock()
	f.n--
	if f.n == 0 && f.zeroCh != nil {
		close(f.zeroCh)
		f.zeroCh = nil
	}
	f.mu.Unlock()
}

func (f *inflight) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n
}

// zero returns a channel closed once no request is in flight.
func (f *inflight) zero() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.zeroCh == nil {
		f.zeroCh = make(chan struct{})
		if f.n == 0 {
			close(f.zeroCh)
			ch := f.zeroCh
			f.zeroCh = nil
			return ch
		}
	}
	return f.zeroCh
}
