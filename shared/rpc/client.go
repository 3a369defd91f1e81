package rpc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/smallnest/rpcx/client"
	rpcxproto "github.com/smallnest/rpcx/protocol"

	"github.com/pegasus-go/pegasus/shared/protocol"
)

// ClientConfig configures a Client. Zero values take the defaults noted on
// each field (see EnsureDefaults).
type ClientConfig struct {
	// MaxMessageBytes bounds the length of one frame in either direction:
	// larger requests fail locally with CodeMessageTooLarge, larger
	// responses close the connection. Default DefaultMaxMessageBytes; at
	// most MaxMessageBytesLimit.
	MaxMessageBytes int
	// DialTimeout bounds connection establishment. Default 3s.
	DialTimeout time.Duration
	// ReadTimeout bounds the time to receive one response frame once its
	// first byte has arrived. Default 30s; negative means no limit.
	ReadTimeout time.Duration
	// WriteTimeout bounds each request write. Default 30s; negative means
	// no limit.
	WriteTimeout time.Duration
	// KeepAlivePeriod is the TCP keep-alive period. Default 1m; negative
	// disables keep-alive.
	KeepAlivePeriod time.Duration
	// DialAddresses maps an address callers name to the address actually
	// dialled (a proxy in front of it, e.g. in robustness tests). Calls,
	// pooling and errors keep the named address. Nil dials every address
	// as named. The map must not change after NewClient.
	DialAddresses map[string]string
}

// Client defaults.
const (
	DefaultDialTimeout     = 3 * time.Second
	DefaultKeepAlivePeriod = time.Minute
)

// EnsureDefaults fills zero fields with their defaults.
func (c *ClientConfig) EnsureDefaults() {
	if c.MaxMessageBytes == 0 {
		c.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = DefaultReadTimeout
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.KeepAlivePeriod == 0 {
		c.KeepAlivePeriod = DefaultKeepAlivePeriod
	}
}

// Validate reports the first invalid field.
func (c *ClientConfig) Validate() error {
	if err := checkMaxMessageBytes(c.MaxMessageBytes); err != nil {
		return fmt.Errorf("rpc client: %w", err)
	}
	if c.DialTimeout < 0 {
		return fmt.Errorf("rpc client: dial_timeout %v is negative", c.DialTimeout)
	}
	for from, to := range c.DialAddresses {
		if _, _, err := net.SplitHostPort(to); err != nil {
			return fmt.Errorf("rpc client: dial address for %q: %q is not host:port: %v", from, to, err)
		}
	}
	return nil
}

// ErrClientClosed is the cause carried by calls made after Client.Close.
var ErrClientClosed = errors.New("rpc: client closed")

// requestOverhead is the frame size of a request beyond its service name,
// method name and payload: four length fields plus the deadline metadata.
const requestOverhead = 16 + 8 + len(timeoutMetadataKey) + 20

// Client is a pool of rpcx connections keyed by address: one multiplexed
// connection per address, dialled on first use, reused by every call, and
// replaced on the next call after it fails. It is safe for concurrent use.
type Client struct {
	cfg    ClientConfig
	logger *slog.Logger

	dials   sync.WaitGroup // dial goroutines
	readers sync.WaitGroup // one per connection: until rpcx's reader goroutine has stopped reading

	mu struct {
		sync.Mutex
		closed bool
		conns  map[string]*poolConn
	}
}

// poolConn is one pooled connection. ready is closed when the dial ends;
// rc, guard and err are immutable afterwards (rc and guard are set only if
// the dial succeeded).
type poolConn struct {
	addr  string
	ready chan struct{}
	rc    *client.Client
	guard *clientConn
	err   error
	seq   atomic.Uint64
}

// NewClient returns an empty pool configured by cfg (defaults filled in).
func NewClient(cfg ClientConfig, logger *slog.Logger) (*Client, error) {
	cfg.EnsureDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	c := &Client{cfg: cfg, logger: logger}
	c.mu.conns = make(map[string]*poolConn)
	return c, nil
}

// Call invokes service.method on the server at addr with req and decodes
// the answer into resp. The context's deadline bounds the whole call
// (waiting for a dial included) and is passed to the server, whose handler
// context carries it.
//
// Errors: a handler's error comes back as *protocol.Error with its code and
// message (errors.Is(err, protocol.CodeNotFound) works); an unknown service
// or method is CodeUnknownMethod; a context deadline or cancellation is
// CodeTimeout, and a dial, write or connection failure CodeNetworkFailure,
// both also unwrapping to their cause (errors.Is(err,
// context.DeadlineExceeded) works). A request above MaxMessageBytes is
// CodeMessageTooLarge and a response that does not decode
// CodeInvalidArgument.
func (c *Client) Call(ctx context.Context, addr, service, method string, req, resp protocol.Message) error {
	if err := ctx.Err(); err != nil {
		return contextError(err, addr, service, method)
	}
	payload, err := req.AppendBinary(nil)
	if err != nil {
		return protocol.Errorf(protocol.CodeInvalidArgument, "encode %s.%s request: %v", service, method, err)
	}
	if size := len(service) + len(method) + len(payload) + requestOverhead; size > c.cfg.MaxMessageBytes {
		return protocol.Errorf(protocol.CodeMessageTooLarge,
			"%s.%s request of %d bytes exceeds max_message_bytes %d", service, method, size, c.cfg.MaxMessageBytes)
	}
	pc, err := c.conn(ctx, addr, service, method)
	if err != nil {
		return err
	}

	msg := rpcxproto.NewMessage()
	msg.SetMessageType(rpcxproto.Request)
	msg.SetSerializeType(SerializeType)
	msg.SetSeq(pc.seq.Add(1))
	msg.ServicePath = service
	msg.ServiceMethod = method
	msg.Payload = payload
	if deadline, ok := ctx.Deadline(); ok {
		ms := max(time.Until(deadline).Milliseconds(), 0)
		msg.Metadata = map[string]string{timeoutMetadataKey: strconv.FormatInt(ms, 10)}
	}

	_, out, err := pc.rc.SendRaw(ctx, msg)
	if err != nil {
		return c.callError(ctx, pc, err, service, method)
	}
	if err := resp.UnmarshalBinary(out); err != nil {
		return protocol.Errorf(protocol.CodeInvalidArgument, "decode %s.%s response from %s: %v", service, method, addr, err)
	}
	return nil
}

// callError classifies a SendRaw failure.
func (c *Client) callError(ctx context.Context, pc *poolConn, err error, service, method string) error {
	var se client.ServiceError
	if errors.As(err, &se) {
		return DecodeError(se.Error())
	}
	if ctxErr := ctx.Err(); ctxErr != nil && errors.Is(err, ctxErr) {
		return contextError(ctxErr, pc.addr, service, method)
	}
	// The connection is unusable: close it so the next call redials.
	pc.discard()
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return newTransportError(protocol.CodeTimeout, err, "call %s.%s on %s", service, method, pc.addr)
	}
	return newTransportError(protocol.CodeNetworkFailure, err, "call %s.%s on %s", service, method, pc.addr)
}

func contextError(err error, addr, service, method string) error {
	return newTransportError(protocol.CodeTimeout, err, "call %s.%s on %s", service, method, addr)
}

// conn returns a connected pool entry for addr, dialling if needed.
func (c *Client) conn(ctx context.Context, addr, service, method string) (*poolConn, error) {
	c.mu.Lock()
	if c.mu.closed {
		c.mu.Unlock()
		return nil, newTransportError(protocol.CodeNetworkFailure, ErrClientClosed, "call %s.%s on %s", service, method, addr)
	}
	pc := c.mu.conns[addr]
	if pc != nil && !pc.usable() {
		pc.discard()
		pc = nil
	}
	if pc == nil {
		pc = &poolConn{addr: addr, ready: make(chan struct{})}
		c.mu.conns[addr] = pc
		c.dials.Add(1)
		go c.dial(pc)
	}
	c.mu.Unlock()

	select {
	case <-pc.ready:
	case <-ctx.Done():
		return nil, contextError(ctx.Err(), addr, service, method)
	}
	if pc.err != nil {
		return nil, newTransportError(protocol.CodeNetworkFailure, pc.err, "connect to %s for %s.%s", addr, service, method)
	}
	return pc, nil
}

// usable reports whether pc is dialling or connected and healthy. Called
// with c.mu held.
func (pc *poolConn) usable() bool {
	select {
	case <-pc.ready:
	default:
		return true // still dialling
	}
	return pc.err == nil && !pc.guard.isStopped() && !pc.rc.IsShutdown() && !pc.rc.IsClosing()
}

// discard closes a replaced entry (its calls, if any, fail). It closes the
// socket, not the rpcx client: rpcx's reader goroutine then fails every
// pending call exactly once and shuts the client down itself. Calling the
// rpcx client's Close as well would complete those calls a second time,
// racing with the callers reading their results (rpcx v1.9.1 leaves
// terminated calls in its pending map).
func (pc *poolConn) discard() {
	if pc.guard != nil {
		_ = pc.guard.Close()
	}
}

func (c *Client) dial(pc *poolConn) {
	defer c.dials.Done()
	defer close(pc.ready)
	opt := client.DefaultOption
	opt.SerializeType = SerializeType
	opt.CompressType = rpcxproto.None
	opt.ConnectTimeout = c.cfg.DialTimeout
	opt.Heartbeat = false
	opt.IdleTimeout = 0
	opt.TCPKeepAlivePeriod = max(c.cfg.KeepAlivePeriod, 0)
	rc := client.NewClient(opt)
	plugin := &connPlugin{cfg: &c.cfg, logger: c.logger.With("remote", pc.addr)}
	rc.Plugins = client.NewPluginContainer()
	rc.Plugins.Add(plugin)
	target := pc.addr
	if via, ok := c.cfg.DialAddresses[pc.addr]; ok {
		target = via
	}
	if err := rc.Connect("tcp", target); err != nil {
		pc.err = err
		return
	}
	c.mu.Lock()
	closed := c.mu.closed
	if !closed {
		pc.rc, pc.guard = rc, plugin.conn
		// The reader goroutine rpcx started must be gone before Close
		// returns; it exits once the socket is closed.
		c.readers.Add(1)
		go func() {
			defer c.readers.Done()
			<-plugin.conn.readerDone
		}()
	}
	c.mu.Unlock()
	if closed {
		pc.err = ErrClientClosed
		_ = rc.Close()
		<-plugin.conn.readerDone
	}
}

// Drop closes the pooled connection to addr, if any: calls in flight on it
// fail with CodeNetworkFailure and the next call to addr redials. If a dial
// to addr is in progress, Drop waits for it (at most DialTimeout).
func (c *Client) Drop(addr string) {
	c.mu.Lock()
	pc := c.mu.conns[addr]
	if pc != nil {
		delete(c.mu.conns, addr)
	}
	c.mu.Unlock()
	if pc != nil {
		<-pc.ready
		pc.discard()
	}
}

// Close closes every connection, failing calls in flight with
// CodeNetworkFailure, and returns once every goroutine the client started
// has exited. Calls after Close fail with CodeNetworkFailure wrapping
// ErrClientClosed. Close is idempotent.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.mu.closed {
		c.mu.Unlock()
		c.readers.Wait()
		return nil
	}
	c.mu.closed = true
	conns := make([]*poolConn, 0, len(c.mu.conns))
	for _, pc := range c.mu.conns {
		conns = append(conns, pc)
	}
	c.mu.conns = nil
	c.mu.Unlock()

	// After this no dial is running and no reader can be added.
	c.dials.Wait()
	for _, pc := range conns {
		pc.discard()
	}
	// Entries replaced or dropped earlier were closed then; with every
	// socket closed, every reader exits.
	c.readers.Wait()
	return nil
}

// connPlugin wraps the rpcx client's connection in the client-side frame
// guard.
type connPlugin struct {
	cfg    *ClientConfig
	logger *slog.Logger
	conn   *clientConn
}

// ConnCreated implements rpcx's client.ConnCreatedPlugin.
func (p *connPlugin) ConnCreated(conn net.Conn) (net.Conn, error) {
	p.conn = newClientConn(conn, p.cfg, p.logger)
	return p.conn, nil
}
