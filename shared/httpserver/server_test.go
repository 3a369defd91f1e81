package httpserver

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/pegasus-go/pegasus/shared/metrics"
)

func get(t *testing.T, h http.Handler, method, target string) (int, string, http.Header) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, target, nil))
	b, _ := io.ReadAll(rec.Body)
	return rec.Code, string(b), rec.Header()
}

func newServer(t *testing.T, opts Options) *Server {
	t.Helper()
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestStandardPages(t *testing.T) {
	reg, err := metrics.New(metrics.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	reg.Scope().Timer("get_latency").Record(1)
	var notReady atomic.Pointer[error]
	lv := new(slog.LevelVar)
	s := newServer(t, Options{
		Metrics:  reg,
		LogLevel: lv,
		Ready: func() error {
			if p := notReady.Load(); p != nil {
				return *p
			}
			return nil
		},
	})
	h := s.Handler()

	if code, body, _ := get(t, h, "GET", "/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("/healthz: %d %q", code, body)
	}
	if code, body, _ := get(t, h, "GET", "/readyz"); code != 200 || body != "ok\n" {
		t.Errorf("/readyz: %d %q", code, body)
	}
	e := errors.New("replaying plog")
	notReady.Store(&e)
	if code, body, _ := get(t, h, "GET", "/readyz"); code != 503 || body != "not ready: replaying plog\n" {
		t.Errorf("/readyz not ready: %d %q", code, body)
	}
	if code, body, _ := get(t, h, "GET", "/metrics"); code != 200 || !strings.Contains(body, "get_latency_bucket") {
		t.Errorf("/metrics: %d %q", code, body)
	}
	if code, body, _ := get(t, h, "PUT", "/debug/loglevel?level=debug"); code != 200 || lv.Level() != slog.LevelDebug {
		t.Errorf("/debug/loglevel: %d %q", code, body)
	}
	if code, body, _ := get(t, h, "GET", "/debug/loglevel"); code != 200 || !strings.Contains(body, `"DEBUG"`) {
		t.Errorf("/debug/loglevel: %d %q", code, body)
	}
	if code, body, _ := get(t, h, "GET", "/debug/pprof/"); code != 200 || !strings.Contains(body, "goroutine") {
		t.Errorf("/debug/pprof/: %d", code)
	}
	if code, _, _ := get(t, h, "GET", "/debug/pprof/goroutine?debug=1"); code != 200 {
		t.Errorf("/debug/pprof/goroutine: %d", code)
	}
	if code, _, _ := get(t, h, "GET", "/debug/pprof/cmdline"); code != 200 {
		t.Errorf("/debug/pprof/cmdline: %d", code)
	}
	if code, _, _ := get(t, h, "GET", "/nosuch"); code != 404 {
		t.Errorf("/nosuch: %d", code)
	}
}

func TestOptionalPagesAbsent(t *testing.T) {
	s := newServer(t, Options{DisablePprof: true})
	for _, p := range []string{"/metrics", "/debug/loglevel", "/debug/pprof/", "/debug/pprof/profile"} {
		if code, _, _ := get(t, s.Handler(), "GET", p); code != 404 {
			t.Errorf("%s: %d, want 404", p, code)
		}
	}
	if code, _, _ := get(t, s.Handler(), "GET", "/readyz"); code != 200 {
		t.Errorf("/readyz without Ready func: %d", code)
	}
	if _, err := New(Options{ShutdownTimeout: -1}); err == nil {
		t.Error("negative shutdown timeout accepted")
	}
}

func TestVersion(t *testing.T) {
	s := newServer(t, Options{})
	code, body, hdr := get(t, s.Handler(), "GET", "/version")
	var v VersionInfo
	if code != 200 || hdr.Get("Content-Type") != "application/json" || json.Unmarshal([]byte(body), &v) != nil {
		t.Fatalf("/version: %d %q", code, body)
	}
	if v.GoVersion != runtime.Version() || v.Version == "" || v.Commit == "" {
		t.Fatalf("/version = %+v", v)
	}

	oldV, oldC := Version, Commit
	t.Cleanup(func() { Version, Commit = oldV, oldC })
	Version, Commit = "v9.8.7", "abc123"
	_, body, _ = get(t, s.Handler(), "GET", "/version")
	if err := json.Unmarshal([]byte(body), &v); err != nil || v.Version != "v9.8.7" || v.Commit != "abc123" {
		t.Fatalf("/version with ldflags values = %+v (%v)", v, err)
	}
}

type status struct {
	Apps  []string `json:"apps"`
	Count int      `json:"count"`
}

func TestHandleJSON(t *testing.T) {
	s := newServer(t, Options{})
	if err := s.HandleJSON("GET /meta/apps", func(r *http.Request) (any, error) {
		switch r.URL.Query().Get("fail") {
		case "notfound":
			return nil, Errorf(http.StatusNotFound, "table %q not found", "t9")
		case "wrapped":
			return nil, errors.Join(errors.New("ctx"), &StatusError{Status: 400, Err: errors.New("bad name")})
		case "plain":
			return nil, errors.New("store unavailable")
		case "unencodable":
			return map[string]any{"f": func() {}}, nil
		}
		return status{Apps: []string{"t1", "t2"}, Count: 2}, nil
	}); err != nil {
		t.Fatal(err)
	}
	h := s.Handler()
	code, body, hdr := get(t, h, "GET", "/meta/apps")
	if code != 200 || hdr.Get("Content-Type") != "application/json" || body != `{"apps":["t1","t2"],"count":2}`+"\n" {
		t.Fatalf("ok page: %d %q", code, body)
	}
	if _, body, _ := get(t, h, "GET", "/meta/apps?pretty"); !strings.Contains(body, "\n  \"apps\"") {
		t.Errorf("pretty: %q", body)
	}
	for _, tc := range []struct {
		q    string
		code int
		msg  string
	}{
		{"notfound", 404, `table \"t9\" not found`},
		{"wrapped", 400, "bad name"},
		{"plain", 500, "store unavailable"},
		{"unencodable", 500, "encode response"},
	} {
		code, body, _ := get(t, h, "GET", "/meta/apps?fail="+tc.q)
		var e struct {
			Error  string `json:"error"`
			Status int    `json:"status"`
		}
		if code != tc.code || json.Unmarshal([]byte(body), &e) != nil || e.Status != tc.code || !strings.Contains(body, tc.msg) {
			t.Errorf("%s: %d %q", tc.q, code, body)
		}
	}
	if code, _, _ := get(t, h, "POST", "/meta/apps"); code != 405 {
		t.Errorf("POST to a GET page: %d", code)
	}

	// Bad or conflicting patterns are errors, not panics.
	for _, p := range []string{"/healthz", "GET /meta/apps", "/debug/pprof/", "BAD PATTERN WITH SPACES", ""} {
		if err := s.HandleJSON(p, func(*http.Request) (any, error) { return nil, nil }); err == nil {
			t.Errorf("HandleJSON(%q) succeeded", p)
		}
	}
	if err := s.HandleJSON("/x", nil); err == nil {
		t.Error("nil JSONFunc accepted")
	}
	if err := s.Handle("/y", nil); err == nil {
		t.Error("nil handler accepted")
	}
}

func TestStartAddrClose(t *testing.T) {
	s := newServer(t, Options{Addr: "127.0.0.1:0"})
	if s.Addr() != "" {
		t.Fatal("Addr before Start")
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	addr := s.Addr()
	if host, port, err := net.SplitHostPort(addr); err != nil || host != "127.0.0.1" || port == "0" {
		t.Fatalf("Addr = %q", addr)
	}
	if err := s.Start(); err == nil {
		t.Fatal("second Start succeeded")
	}
	// Pages added after Start are served.
	if err := s.HandleJSON("/late", func(*http.Request) (any, error) { return 1, nil }); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/healthz", "/late"} {
		resp, err := http.Get("http://" + addr + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d", p, resp.StatusCode)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
	if _, err := net.Dial("tcp", addr); err == nil {
		t.Fatal("still listening after Close")
	}
	if err := s.Start(); err == nil {
		t.Fatal("Start after Close succeeded")
	}
}

func TestStartErrors(t *testing.T) {
	s := newServer(t, Options{Addr: "127.0.0.1:notaport"})
	if err := s.Start(); err == nil || !strings.Contains(err.Error(), "127.0.0.1:notaport") {
		t.Fatalf("err = %v", err)
	}
	closed := newServer(t, Options{})
	if err := closed.Close(); err != nil {
		t.Fatal("Close before Start:", err)
	}
}

// blockingServer serves /block, which signals entered and waits for release.
func blockingServer(t *testing.T) (s *Server, entered, release chan struct{}) {
	t.Helper()
	s = newServer(t, Options{Addr: "127.0.0.1:0"})
	entered, release = make(chan struct{}), make(chan struct{})
	if err := s.Handle("/block", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		w.Write([]byte("done"))
	})); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	return s, entered, release
}

type result struct {
	body string
	err  error
}

func fetch(url string) <-chan result {
	ch := make(chan result, 1)
	go func() {
		resp, err := http.Get(url)
		if err != nil {
			ch <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		ch <- result{string(b), err}
	}()
	return ch
}

func TestGracefulCloseFinishesInFlightRequests(t *testing.T) {
	s, entered, release := blockingServer(t)
	shuttingDown := make(chan struct{})
	s.srv.RegisterOnShutdown(func() { close(shuttingDown) })
	res := fetch("http://" + s.Addr() + "/block")
	<-entered
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	<-shuttingDown // Close has begun and is waiting for the request
	close(release)
	if r := <-res; r.err != nil || r.body != "done" {
		t.Fatalf("in-flight request: %q %v", r.body, r.err)
	}
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func TestShutdownDeadlineClosesConnections(t *testing.T) {
	s, entered, release := blockingServer(t)
	defer close(release)
	res := fetch("http://" + s.Addr() + "/block")
	<-entered
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // no grace at all: the in-flight request is cut off
	if err := s.Shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Shutdown = %v, want context.Canceled", err)
	}
	if r := <-res; r.err == nil {
		t.Fatalf("request survived a forced close: %q", r.body)
	}
}
