package httpserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"sync"
	"time"

	"github.com/pegasus-go/pegasus/shared/logging"
	"github.com/pegasus-go/pegasus/shared/metrics"
)

// DefaultShutdownTimeout bounds Close when Options.ShutdownTimeout is zero.
const DefaultShutdownTimeout = 10 * time.Second

// Options configure a Server.
type Options struct {
	// Addr is the TCP address Start listens on, e.g. "127.0.0.1:34101";
	// port 0 picks a free port (see Server.Addr).
	Addr string
	// Metrics, if set, is served at /metrics.
	Metrics *metrics.Registry
	// LogLevel, if set, is shown and set at /debug/loglevel
	// (logging.LevelHandler).
	LogLevel *slog.LevelVar
	// Ready reports whether the daemon can take traffic: nil means ready;
	// an error makes /readyz answer 503 with the error as the reason. A nil
	// Ready func means always ready. It is called on every /readyz request
	// and must be safe for concurrent use.
	Ready func() error
	// DisablePprof leaves /debug/pprof/ out.
	DisablePprof bool
	// ShutdownTimeout bounds the graceful part of Close; zero means
	// DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
	// Logger receives serving errors. Nil discards them.
	Logger *slog.Logger
}

// JSONFunc produces the body of a JSON status page. A returned error is
// rendered as {"error": "...", "status": N} with the status from the error
// (see StatusError), 500 by default.
type JSONFunc func(r *http.Request) (any, error)

// StatusError is an error with the HTTP status a JSON page answers it with.
type StatusError struct {
	Status int
	Err    error
}

// Error returns the wrapped error's message.
func (e *StatusError) Error() string { return e.Err.Error() }

// Unwrap returns the wrapped error.
func (e *StatusError) Unwrap() error { return e.Err }

// Errorf returns a *StatusError with the given status and message.
func Errorf(status int, format string, args ...any) error {
	return &StatusError{Status: status, Err: fmt.Errorf(format, args...)}
}

// Server is one daemon's HTTP endpoint: a private mux with the standard
// pages (/metrics, /healthz, /readyz, /version, /debug/pprof/,
// /debug/loglevel) plus the daemon's own JSON status pages.
//
// Handlers may be added before or after Start, from any goroutine. Start
// and Close may each be called once; Close before Start is a no-op.
type Server struct {
	opts Options
	log  *slog.Logger
	mux  *http.ServeMux
	srv  *http.Server

	mu struct {
		sync.Mutex
		ln      net.Listener
		started bool
		closed  bool
	}
	served chan struct{} // closed when the Serve goroutine returns
}

// New builds a Server with the standard pages mounted. It does not listen.
func New(opts Options) (*Server, error) {
	if opts.ShutdownTimeout < 0 {
		return nil, fmt.Errorf("httpserver: negative shutdown timeout %v", opts.ShutdownTimeout)
	}
	if opts.ShutdownTimeout == 0 {
		opts.ShutdownTimeout = DefaultShutdownTimeout
	}
	s := &Server{opts: opts, log: logging.OrDiscard(opts.Logger), mux: http.NewServeMux(), served: make(chan struct{})}
	s.srv = &http.Server{
		Handler:           s.mux,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	type route struct {
		pattern string
		h       http.Handler
	}
	routes := []route{
		{"/healthz", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { writeText(w, http.StatusOK, "ok") })},
		{"/readyz", http.HandlerFunc(s.serveReady)},
		{"/version", jsonHandler(func(*http.Request) (any, error) { return BuildVersion(), nil })},
	}
	if opts.Metrics != nil {
		routes = append(routes, route{"/metrics", opts.Metrics.Handler()})
	}
	if opts.LogLevel != nil {
		routes = append(routes, route{"/debug/loglevel", logging.LevelHandler(opts.LogLevel)})
	}
	if !opts.DisablePprof {
		// Registered on this mux only; the handlers serve any named
		// profile under /debug/pprof/ (heap, goroutine, ...).
		for p, h := range map[string]http.HandlerFunc{
			"/debug/pprof/":        pprof.Index,
			"/debug/pprof/cmdline": pprof.Cmdline,
			"/debug/pprof/profile": pprof.Profile,
			"/debug/pprof/symbol":  pprof.Symbol,
			"/debug/pprof/trace":   pprof.Trace,
		} {
			routes = append(routes, route{p, h})
		}
	}
	for _, r := range routes {
		if err := s.Handle(r.pattern, r.h); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Handle mounts h at pattern (net/http.ServeMux syntax, e.g. "/meta/apps"
// or "GET /replica/duplication"). An invalid pattern or one that conflicts
// with a mounted pattern is an error.
func (s *Server) Handle(pattern string, h http.Handler) (err error) {
	if h == nil {
		return fmt.Errorf("httpserver: nil handler for %q", pattern)
	}
	defer func() {
		// ServeMux reports bad and conflicting patterns by panicking.
		if r := recover(); r != nil {
			err = fmt.Errorf("httpserver: cannot mount %q: %v", pattern, r)
		}
	}()
	s.mux.Handle(pattern, h)
	return nil
}

// HandleJSON mounts a JSON status page at pattern: fn's value is encoded as
// JSON with status 200 (indented when the request has a "pretty" query
// parameter); its error as {"error": "...", "status": N}.
func (s *Server) HandleJSON(pattern string, fn JSONFunc) error {
	if fn == nil {
		return fmt.Errorf("httpserver: nil JSON func for %q", pattern)
	}
	return s.Handle(pattern, jsonHandler(fn))
}

// Handler returns the server's mux, e.g. for httptest.
func (s *Server) Handler() http.Handler { return s.mux }

// Start listens on Options.Addr and serves in a background goroutine.
func (s *Server) Start() error {
	ln, err := net.Listen("tcp", s.opts.Addr)
	if err != nil {
		return fmt.Errorf("httpserver: listen on %q: %w", s.opts.Addr, err)
	}
	if err := s.Serve(ln); err != nil {
		ln.Close()
		return err
	}
	return nil
}

// Serve serves on ln, which the Server then owns, in a background goroutine.
// Use it instead of Start when the listener already exists.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.mu.closed:
		return errors.New("httpserver: server is closed")
	case s.mu.started:
		return errors.New("httpserver: server already started")
	}
	s.mu.started, s.mu.ln = true, ln
	go func() {
		defer close(s.served)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("http server stopped", slog.String("addr", ln.Addr().String()), logging.Err(err))
		}
	}()
	return nil
}

// Addr returns the address the server listens on ("127.0.0.1:41234" after
// Start with port 0), or "" before Start.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.ln == nil {
		return ""
	}
	return s.mu.ln.Addr().String()
}

// Close shuts the server down gracefully within Options.ShutdownTimeout;
// see Shutdown.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.ShutdownTimeout)
	defer cancel()
	return s.Shutdown(ctx)
}

// Shutdown stops accepting connections and waits for in-flight requests
// until ctx is done; then it closes the remaining connections and returns
// ctx's error. It returns after the serving goroutine has exited. Calls
// after the first return nil.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if s.mu.closed {
		s.mu.Unlock()
		return nil
	}
	s.mu.closed = true
	started := s.mu.started
	s.mu.Unlock()
	if !started {
		return nil
	}
	err := s.srv.Shutdown(ctx)
	if err != nil {
		_ = s.srv.Close()
		err = fmt.Errorf("httpserver: graceful shutdown: %w", err)
	}
	<-s.served
	return err
}

func (s *Server) serveReady(w http.ResponseWriter, _ *http.Request) {
	if s.opts.Ready != nil {
		if err := s.opts.Ready(); err != nil {
			writeText(w, http.StatusServiceUnavailable, "not ready: "+err.Error())
			return
		}
	}
	writeText(w, http.StatusOK, "ok")
}

func writeText(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(msg + "\n"))
}

type errorBody struct {
	Error  string `json:"error"`
	Status int    `json:"status"`
}

func jsonHandler(fn JSONFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, err := fn(r)
		status := http.StatusOK
		if err != nil {
			status = http.StatusInternalServerError
			var se *StatusError
			if errors.As(err, &se) && se.Status >= 400 && se.Status <= 599 {
				status = se.Status
			}
			v = errorBody{Error: err.Error(), Status: status}
		}
		var b []byte
		if r.URL.Query().Has("pretty") {
			b, err = json.MarshalIndent(v, "", "  ")
		} else {
			b, err = json.Marshal(v)
		}
		if err != nil {
			status = http.StatusInternalServerError
			b, _ = json.Marshal(errorBody{Error: "encode response: " + err.Error(), Status: status})
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(status)
		_, _ = w.Write(append(b, '\n'))
	})
}
