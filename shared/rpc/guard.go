package rpc

import (
	"bufio"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	rpcxproto "github.com/smallnest/rpcx/protocol"
)

// guardBufferBytes is the read buffer under each guarded connection.
const guardBufferBytes = 4 << 10

// violationReplyTimeout bounds the write of an error reply to a peer that
// sent a bad frame when no WriteTimeout is configured.
const violationReplyTimeout = 5 * time.Second

// serverConn is the frame guard on one accepted connection. rpcx reads
// through it and sees only complete frames that passed frameRules; on the
// first bad frame it answers with an rpcx error response (when the sequence
// number is known), logs, and fails the read so rpcx closes the connection.
//
// Read is called only by rpcx's per-connection goroutine. Write may be
// called by many handler goroutines at once (net.Conn writes are atomic per
// call). Close may be called by rpcx and by Server.Close.
type serverConn struct {
	net.Conn
	s      *Server
	logger *slog.Logger
	br     *bufio.Reader
	fr     *frameReader
	bw     *batchWriter

	// Owned by the reading goroutine.
	pending []byte
	readErr error

	stopOnce  sync.Once
	stopped   chan struct{} // closed once reading ends for good
	closeOnce sync.Once
	closeErr  error
}

func newServerConn(s *Server, conn net.Conn) *serverConn {
	c := &serverConn{
		Conn:    conn,
		s:       s,
		logger:  s.logger.With("remote", conn.RemoteAddr().String()),
		stopped: make(chan struct{}),
	}
	c.br = bufio.NewReaderSize(conn, guardBufferBytes)
	c.fr = newFrameReader(c.br, s.rules)
	c.bw = newBatchWriter(conn, s.cfg.WriteTimeout, func() { _ = c.closeSocket() })
	return c
}

// Read hands rpcx the bytes of validated frames.
func (c *serverConn) Read(p []byte) (int, error) {
	if len(c.pending) == 0 {
		if c.readErr != nil {
			return 0, c.readErr
		}
		frame, err := c.nextFrame()
		if err != nil {
			c.readErr = err
			c.stop()
			return 0, err
		}
		c.pending = frame
		// rpcx will dispatch this request; it is in flight until its
		// response is written (see Server.handler and PostWriteResponse).
		c.s.inflight.add()
	}
	n := copy(p, c.pending)
	c.pending = c.pending[n:]
	return n, nil
}

func (c *serverConn) nextFrame() ([]byte, error) {
	cfg := &c.s.cfg
	if cfg.IdleTimeout > 0 {
		_ = c.Conn.SetReadDeadline(time.Now().Add(cfg.IdleTimeout))
	} else if cfg.ReadTimeout > 0 {
		_ = c.Conn.SetReadDeadline(time.Time{})
	}
	// Checked after the deadline is set, so a drain that starts now either
	// is seen here or interrupts the wait below.
	if !c.s.running() {
		return nil, io.EOF
	}
	if _, err := c.br.Peek(1); err != nil {
		return nil, c.readFailed(err, false)
	}
	if cfg.ReadTimeout > 0 {
		_ = c.Conn.SetReadDeadline(time.Now().Add(cfg.ReadTimeout))
	}
	frame, err := c.fr.next()
	if err != nil {
		return nil, c.readFailed(err, true)
	}
	return frame, nil
}

// readFailed logs why reading stopped, answers a bad frame, and returns the
// error rpcx should see.
func (c *serverConn) readFailed(err error, started bool) error {
	var v *frameViolation
	switch {
	case !c.s.running():
		return io.EOF
	case errors.Is(err, io.EOF) && !started:
		return io.EOF
	case errors.As(err, &v):
		c.logger.Warn("rpc: rejected frame; closing connection", "err", v.msg)
		if v.seqKnown {
			c.replyViolation(v)
		}
		return err
	case errors.Is(err, errTruncatedFrame):
		c.logger.Warn("rpc: connection closed inside a frame", "err", err)
		return err
	case errors.Is(err, os.ErrDeadlineExceeded):
		if started {
			c.logger.Warn("rpc: frame not received within read_timeout; closing connection", "read_timeout", c.s.cfg.ReadTimeout)
		} else {
			c.logger.Info("rpc: closing idle connection", "idle_timeout", c.s.cfg.IdleTimeout)
		}
		return err
	default:
		c.logger.Debug("rpc: connection read failed", "err", err)
		return err
	}
}

// replyViolation sends the peer an rpcx error response for the call whose
// frame was rejected.
func (c *serverConn) replyViolation(v *frameViolation) {
	m := rpcxproto.NewMessage()
	m.SetMessageType(rpcxproto.Response)
	m.SetMessageStatusType(rpcxproto.Error)
	m.SetSerializeType(SerializeType)
	m.SetSeq(v.seq)
	m.Metadata = map[string]string{rpcxproto.ServiceError: EncodeError(v.protocolError())}
	data := m.EncodeSlicePointer()
	defer rpcxproto.PutData(data)
	timeout := c.s.cfg.WriteTimeout
	if timeout <= 0 {
		timeout = violationReplyTimeout
	}
	_ = c.Conn.SetWriteDeadline(time.Now().Add(timeout))
	if _, err := c.Conn.Write(*data); err != nil {
		c.logger.Debug("rpc: could not send frame rejection", "err", err)
	}
}

// Write writes p, one response frame, under the write timeout, coalesced
// with concurrent responses (see batchWriter).
func (c *serverConn) Write(p []byte) (int, error) { return c.bw.Write(p) }

// Close closes the socket, except while the server drains: then responses
// of requests already read may still be written, and Server.Close closes
// the socket when the drain ends.
func (c *serverConn) Close() error {
	c.stop()
	if c.s.draining() {
		return nil
	}
	return c.closeSocket()
}

func (c *serverConn) closeSocket() error {
	c.closeOnce.Do(func() {
		c.closeErr = c.Conn.Close()
		c.s.forgetConn(c)
	})
	return c.closeErr
}

func (c *serverConn) stop() { c.stopOnce.Do(func() { close(c.stopped) }) }

// interruptRead makes a blocked Read return at once.
func (c *serverConn) interruptRead() { _ = c.Conn.SetReadDeadline(time.Unix(1, 0)) }

// clientConn is the frame guard on one client connection: the rpcx client's
// reader goroutine sees only complete, valid response frames. A bad frame
// fails the read; rpcx then fails every pending call and closes the
// connection.
type clientConn struct {
	net.Conn
	cfg    *ClientConfig
	logger *slog.Logger
	br     *bufio.Reader
	fr     *frameReader
	bw     *batchWriter

	// Owned by the reading goroutine.
	pending []byte
	readErr error

	stopOnce   sync.Once
	stopped    chan struct{} // closed once reading ends for good or the socket is closed
	readerDone chan struct{} // closed when Read has returned its terminal error
}

func newClientConn(conn net.Conn, cfg *ClientConfig, logger *slog.Logger) *clientConn {
	c := &clientConn{
		Conn:       conn,
		cfg:        cfg,
		logger:     logger,
		stopped:    make(chan struct{}),
		readerDone: make(chan struct{}),
	}
	c.br = bufio.NewReaderSize(conn, guardBufferBytes)
	c.fr = newFrameReader(c.br, frameRules{maxBytes: cfg.MaxMessageBytes, msgType: rpcxproto.Response})
	c.bw = newBatchWriter(conn, cfg.WriteTimeout, func() { _ = c.Close() })
	return c
}

func (c *clientConn) Read(p []byte) (int, error) {
	if len(c.pending) == 0 {
		if c.readErr != nil {
			return 0, c.readErr
		}
		frame, err := c.nextFrame()
		if err != nil {
			c.readErr = err
			c.stop()
			close(c.readerDone)
			return 0, err
		}
		c.pending = frame
	}
	n := copy(p, c.pending)
	c.pending = c.pending[n:]
	return n, nil
}

func (c *clientConn) nextFrame() ([]byte, error) {
	rt := c.cfg.ReadTimeout
	if rt > 0 {
		_ = c.Conn.SetReadDeadline(time.Time{})
	}
	if _, err := c.br.Peek(1); err != nil {
		return nil, err
	}
	if rt > 0 {
		_ = c.Conn.SetReadDeadline(time.Now().Add(rt))
	}
	frame, err := c.fr.next()
	if err != nil {
		var v *frameViolation
		if errors.As(err, &v) {
			c.logger.Warn("rpc: server sent an invalid frame; closing connection", "err", v.msg)
			// rpcx reports this error to every pending call.
			return nil, v.protocolError()
		}
		return nil, err
	}
	return frame, nil
}

// Write writes p, one request frame, under the write timeout, coalesced
// with concurrent requests (see batchWriter).
func (c *clientConn) Write(p []byte) (int, error) { return c.bw.Write(p) }

func (c *clientConn) Close() error {
	c.stop()
	return c.Conn.Close()
}

func (c *clientConn) stop() { c.stopOnce.Do(func() { close(c.stopped) }) }

// isStopped reports whether the connection can no longer carry calls.
func (c *clientConn) isStopped() bool {
	select {
	case <-c.stopped:
		return true
	default:
		return false
	}
}
