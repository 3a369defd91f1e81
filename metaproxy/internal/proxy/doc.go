// Package proxy is the meta proxy proper: it answers Meta.QueryConfig for a
// table by looking up the table's route (package route) and forwarding the
// query to the meta leader of the cluster the route names, so a client
// configured with proxy addresses reaches whichever cluster serves the
// table now.
//
// # Route cache
//
// Routes are read from the coordination store on first use and cached, at
// most Options.CacheSize tables, least recently used evicted first. Every
// cached table holds a one-shot watch on its node (a creation watch when
// the table has no route, so a negative answer is cached too); when it
// fires, a watcher goroutine re-reads the node, sets the next watch and
// installs the new route, so a `proxy set` reaches every proxy within one
// store round trip. A re-read that fails evicts the entry (the next query
// reads again). Concurrent first queries of a table share one read.
//
// # Sessions
//
// A background loop opens the store session (Options.Open) and reopens it
// with backoff whenever it ends; while there is none, queries fail with
// CodeBusy so clients try another proxy, and /readyz says why. Losing a
// session voids its watches, so the whole cache is dropped with it.
//
// # Forwarding
//
// Each distinct cluster (a route's canonical meta list) gets an admin
// client over the proxy's one RPC client; it finds the meta leader,
// follows CodeForwardToOthers redirects and retries other meta servers
// within the caller's deadline (Options.ForwardTimeout when the request
// carries none). The meta's answer is returned unchanged; its errors keep
// their code, with the cluster named in the message.
//
// # Errors
//
//   - no route for the table: CodeAppNotExist naming the table and the
//     node that is missing;
//   - a route node with bad data: CodeInvalidConfig naming the node;
//   - QueryConfig by app id only, or a bad table name: CodeInvalidArgument;
//   - no store session or a failed store read: CodeBusy;
//   - every other Meta method: CodeNotImplementable, saying the proxy only
//     routes (ErrOnlyRoutes).
//
// # Metrics
//
// Under the sub-scope "metaproxy": client_connection_count (gauge, open
// client connections, see CountConnections), zk_request_count (counter,
// every store request the proxy makes) and client_query_config_count
// (counter, tagged table; queries for tables without a route are counted
// under table="_unrouted" so unknown names cannot grow the label set),
// plus route_cache_entries (gauge) and forward_failures (counter).
//
// # Concurrency
//
// Proxy methods are safe for concurrent use. Close cancels the session
// loop and every watcher and returns after all of them have exited; it
// does not close the RPC client the caller supplied.
package proxy
