// Package logging sets up a daemon's log/slog logging from a small typed
// config (the [log] section): format (text or json), minimum level and
// output (stderr, stdout, discard or a file). The level lives in a
// slog.LevelVar so it can be changed at runtime, in code (Root.SetLevel) or
// over HTTP (LevelHandler, mounted by httpserver at /debug/loglevel).
//
// There is no package-level logger. A daemon builds one Root, hands
// Root.Logger() to its components, and each component derives its own with
// With and the fixed attribute keys defined here (component, node, gpid,
// ballot, decree, app_id, table), e.g.
//
//	log := logging.WithReplica(logging.WithComponent(root.Logger(), "replica"), gpid)
//	log.Info("became primary", logging.Ballot(b), logging.Decree(d))
//
// Invariants: records of every logger derived from one Root pass through one
// slog handler, so they are serialized on the output and filtered by one
// level; attribute keys are the constants below, never ad hoc spellings.
//
// Concurrency: Root, its loggers and LevelHTTPHandler are safe for
// concurrent use. Close only after nothing logs through the Root any more.
package logging
