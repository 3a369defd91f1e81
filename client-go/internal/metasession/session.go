package metasession

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/pegasus-go/pegasus/shared/protocol"
	"github.com/pegasus-go/pegasus/shared/rpc"
)

// Config configures a Session. Zero values take the defaults noted on each
// field.
type Config struct {
	// MetaServers lists the cluster's meta servers as "host:port"; at
	// least one is required. Duplicates are removed, order is kept.
	MetaServers []string
	// AttemptTimeout bounds one attempt on one meta server, so a hung
	// server costs at most this much of the caller's deadline. Default 3s.
	AttemptTimeout time.Duration
	// RetryInterval is the wait after a round in which every meta server
	// failed; it doubles after each such round up to MaxRetryInterval.
	// Default 50ms.
	RetryInterval time.Duration
	// MaxRetryInterval caps RetryInterval. Default 1s.
	MaxRetryInterval time.Duration
	// MaxRedirects bounds consecutive CodeForwardToOthers redirects
	// followed before falling back to the meta list. Default 2 plus the
	// number of meta servers.
	MaxRedirects int
}

// Defaults.
const (
	DefaultAttemptTimeout   = 3 * time.Second
	DefaultRetryInterval    = 50 * time.Millisecond
	DefaultMaxRetryInterval = time.Second
)

// maxMetaServers bounds the configured list; a longer one is a mistake.
const maxMetaServers = 64

// Retry says which failed attempts Call may repeat.
type Retry uint8

const (
	// RetryIdempotent repeats a request after any retryable failure,
	// including a connection that broke after the request was written.
	RetryIdempotent Retry = iota
	// RetryUnsent repeats a request only when no meta server can have
	// served it: the dial failed, or a follower redirected it. Use it for
	// requests that must not be applied twice.
	RetryUnsent
)

// ErrNoMetaServers is returned by New when Config.MetaServers is empty.
var ErrNoMetaServers = errors.New("metasession: no meta servers configured")

// Session sends Meta requests to the meta leader. See the package doc.
type Session struct {
	cfg    Config
	metas  []string
	rpc    *rpc.Client
	ownRPC bool
	logger *slog.Logger

	mu struct {
		sync.Mutex
		leader string
		next   int // index into metas of the next server to try without a leader
		closed bool
	}
}

// New returns a session over the meta servers of cfg. With a nil client it
// creates its own RPC client (closed by Close); otherwise it uses client,
// which the caller keeps owning.
func New(cfg Config, client *rpc.Client, logger *slog.Logger) (*Session, error) {
	metas, err := normalize(cfg.MetaServers)
	if err != nil {
		return nil, err
	}
	if cfg.AttemptTimeout < 0 || cfg.RetryInterval < 0 || cfg.MaxRetryInterval < 0 || cfg.MaxRedirects < 0 {
		return nil, fmt.Errorf("metasession: negative timeout, interval or redirect limit in %+v", cfg)
	}
	if cfg.AttemptTimeout == 0 {
		cfg.AttemptTimeout = DefaultAttemptTimeout
	}
	if cfg.RetryInterval == 0 {
		cfg.RetryInterval = DefaultRetryInterval
	}
	if cfg.MaxRetryInterval == 0 {
		cfg.MaxRetryInterval = DefaultMaxRetryInterval
	}
	cfg.MaxRetryInterval = max(cfg.MaxRetryInterval, cfg.RetryInterval)
	if cfg.MaxRedirects == 0 {
		cfg.MaxRedirects = len(metas) + 2
	}
	cfg.MetaServers = metas
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Session{cfg: cfg, metas: metas, rpc: client, logger: logger}
	if client == nil {
		c, err := rpc.NewClient(rpc.ClientConfig{}, logger)
		if err != nil {
			return nil, err
		}
		s.rpc, s.ownRPC = c, true
	}
	return s, nil
}

// normalize validates and de-duplicates a meta list.
func normalize(list []string) ([]string, error) {
	if len(list) == 0 {
		return nil, ErrNoMetaServers
	}
	if len(list) > maxMetaServers {
		return nil, fmt.Errorf("metasession: %d meta servers configured, at most %d allowed", len(list), maxMetaServers)
	}
	seen := make(map[string]bool, len(list))
	out := make([]string, 0, len(list))
	for _, a := range list {
		a = strings.TrimSpace(a)
		if _, _, err := net.SplitHostPort(a); err != nil {
			return nil, fmt.Errorf("metasession: meta server %q: want host:port: %w", a, err)
		}
		if !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	return out, nil
}

// ParseList splits a comma-separated meta server list ("h1:p1,h2:p2"),
// trimming blanks around each entry and dropping empty ones.
func ParseList(s string) []string {
	var out []string
	for _, a := range strings.Split(s, ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

// MetaServers returns a copy of the configured (de-duplicated) meta list.
func (s *Session) MetaServers() []string { return append([]string(nil), s.metas...) }

// Leader returns the remembered leader address, or "" when unknown.
func (s *Session) Leader() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.leader
}

// RPC returns the RPC client the session sends through.
func (s *Session) RPC() *rpc.Client { return s.rpc }

// Close releases the session's RPC client if the session created it.
// Calls after Close fail with CodeNetworkFailure. Close is idempotent.
func (s *Session) Close() error {
	s.mu.Lock()
	already := s.mu.closed
	s.mu.closed = true
	s.mu.Unlock()
	if already || !s.ownRPC {
		return nil
	}
	return s.rpc.Close()
}

// Call sends service.method to the meta leader and decodes the answer into
// resp, following redirects and retrying as the package doc describes.
// Errors from a server's handler come back as *protocol.Error; when retries
// end with the caller's context the last attempt's error is returned (it
// carries CodeNetworkFailure or CodeTimeout).
func (s *Session) Call(ctx context.Context, service, method string, req, resp protocol.Message, retry Retry) error {
	var (
		lastErr   error
		hint      string // address a follower named, tried next
		redirects int
		failures  int // failed attempts since the last backoff
		wait      = s.cfg.RetryInterval
	)
	for {
		if err := ctx.Err(); err != nil {
			return expired(protocol.Errorf(protocol.CodeTimeout, "call %s.%s on meta servers: %v", service, method, err), lastErr)
		}
		addr := hint
		if addr == "" {
			addr = s.pick()
		}
		hint = ""
		err := s.attempt(ctx, addr, service, method, req, resp)
		if err == nil {
			s.setLeader(addr)
			return nil
		}
		if ctx.Err() != nil {
			// The caller's deadline ended this attempt: report it together
			// with what the meta servers answered before.
			return expired(err, lastErr)
		}
		lastErr = err
		switch {
		case protocol.CodeOf(err) == protocol.CodeForwardToOthers:
			leader := forwardAddress(err)
			s.logger.Debug("metasession: redirected", "from", addr, "leader", leader, "method", method)
			if leader != "" && leader != addr && redirects < s.cfg.MaxRedirects {
				redirects++
				s.setLeader(leader)
				hint = leader
				continue
			}
			s.forget(addr)
		case s.retryable(ctx, err, retry):
			s.logger.Debug("metasession: attempt failed", "meta", addr, "method", method, "err", err)
			s.forget(addr)
		default:
			return err
		}
		redirects = 0
		failures++
		if failures < len(s.metas) {
			continue
		}
		failures = 0
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
		wait = min(2*wait, s.cfg.MaxRetryInterval)
	}
}

// expired is the error of a call whose context ended: the timeout, also
// matching (errors.Is) the last error a meta server answered, if any, so
// callers see why earlier attempts failed.
func expired(timeout, last error) error {
	if last == nil {
		return timeout
	}
	return fmt.Errorf("%w (last meta error: %w)", timeout, last)
}

// attempt makes one call bounded by AttemptTimeout.
func (s *Session) attempt(ctx context.Context, addr, service, method string, req, resp protocol.Message) error {
	actx, cancel := context.WithTimeout(ctx, s.cfg.AttemptTimeout)
	defer cancel()
	return s.rpc.Call(actx, addr, service, method, req, resp)
}

// retryable reports whether a failed attempt may be repeated elsewhere.
func (s *Session) retryable(ctx context.Context, err error, retry Retry) bool {
	if errors.Is(err, rpc.ErrClientClosed) || ctx.Err() != nil {
		return false
	}
	if retry == RetryUnsent {
		return notSent(err)
	}
	switch protocol.CodeOf(err) {
	case protocol.CodeNetworkFailure, protocol.CodeTimeout, protocol.CodeBusy:
		return true
	}
	return false
}

// notSent reports whether err proves the request never reached a server:
// the connection could not be established.
func notSent(err error) bool {
	var op *net.OpError
	return protocol.CodeOf(err) == protocol.CodeNetworkFailure && errors.As(err, &op) && op.Op == "dial"
}

// forwardAddress extracts the leader address from a CodeForwardToOthers
// error, or "" when it names none or something that is not host:port.
func forwardAddress(err error) string {
	var pe *protocol.Error
	if !errors.As(err, &pe) {
		return ""
	}
	addr := strings.TrimSpace(pe.Message)
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return ""
	}
	return addr
}

// pick returns the remembered leader, or the next meta server in rotation.
func (s *Session) pick() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.leader != "" {
		return s.mu.leader
	}
	addr := s.metas[s.mu.next%len(s.metas)]
	s.mu.next = (s.mu.next + 1) % len(s.metas)
	return addr
}

func (s *Session) setLeader(addr string) {
	s.mu.Lock()
	s.mu.leader = addr
	s.mu.Unlock()
}

// forget drops addr as the remembered leader after it failed.
func (s *Session) forget(addr string) {
	s.mu.Lock()
	if s.mu.leader == addr {
		s.mu.leader = ""
	}
	s.mu.Unlock()
}
