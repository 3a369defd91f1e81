// Package embed starts a complete meta proxy in the calling process: the
// ZooKeeper session loop and route cache (internal/proxy), the RPC server
// with the Meta service, and the HTTP endpoint with metrics, /readyz (ready
// while a ZooKeeper session is open) and the /metaproxy/routes status
// page. The metaproxy binary is Run plus signal handling; integration tests
// may start several in one process.
//
// Config is the daemon's whole configuration ([metaproxy], [zookeeper],
// [logging]); DefaultConfig returns the compiled defaults and Validate
// checks a filled one. Logger, LogLevel and Metrics are runtime-only
// fields for tests.
//
// Concurrency: Start and Close may be called from any goroutine; Close is
// idempotent and returns after every goroutine the server started has
// ended. Server accessors are safe for concurrent use.
package embed
