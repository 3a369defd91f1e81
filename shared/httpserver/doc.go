// Package httpserver is the HTTP endpoint every Pegasus-Go daemon runs: one
// server with one private mux serving
//
//	/metrics          the daemon's metrics.Registry (Prometheus text format)
//	/healthz          200 "ok" whenever the server is serving
//	/readyz           200 "ok", or 503 "not ready: <reason>" from Options.Ready
//	/version          JSON VersionInfo (Version/Commit set by -ldflags, else build info)
//	/debug/pprof/     net/http/pprof, on this mux (not http.DefaultServeMux)
//	/debug/loglevel   GET shows, PUT/POST ?level=debug sets the slog level
//
// plus the daemon's JSON status pages added with HandleJSON (e.g.
// /meta/apps), whose errors come back as {"error": "...", "status": N}.
//
// Lifecycle: New builds the mux; Start listens on Options.Addr (port 0 picks
// a free one, Addr reports it) and serves in a goroutine; Close stops
// accepting, lets in-flight requests finish within the shutdown timeout,
// then closes what is left and returns once the serving goroutine is gone.
//
// Invariants: nothing is registered on http.DefaultServeMux by this package
// (importing net/http/pprof does register its handlers there, but the
// default mux is never served); mounting a bad or conflicting pattern is an
// error, not a panic.
//
// Concurrency: all methods are safe for concurrent use. Handlers run on
// net/http's goroutines, so Ready and JSONFuncs must be safe for concurrent
// use.
package httpserver
