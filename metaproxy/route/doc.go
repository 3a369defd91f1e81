// Package route is the meta proxy's routing table: which cluster serves
// each table, kept in a coordination store (ZooKeeper in production) as
// one node per table,
//
//	<root>/<table>   {"cluster_name": "onebox2", "meta_addrs": "127.0.0.1:34701,127.0.0.1:34702"}
//
// The metaproxy daemon reads it (with watches) to answer clients; admincli's
// `proxy set/get/ls` and the hot-migration command write and read it through
// the same API, so every writer produces what the proxy accepts.
//
// A Registry wraps an open coord.Store and a root path. Get, Watch, List,
// Create, Set and Delete are thin, validated operations on the table's
// node; Set and Delete take an expected version (coord.AnyVersion, or the
// Stat.Version a Get returned) so a migration can switch a route with a
// compare-and-set and resume after a crash. Open opens a ZooKeeper session
// of its own (closed by Registry.Close).
//
// Invariants:
//   - Every route written is valid (Route.Validate): a non-empty cluster
//     name without control characters and 1..MaxMetaAddrs host:port
//     addresses; every table name is a valid Pegasus table name that is
//     also a valid node name (CheckTable).
//   - Decoding is strict about values and bounded in size (MaxRouteBytes)
//     but ignores unknown JSON fields, so a newer writer's extra fields do
//     not break an older proxy.
//   - A node whose data is not a valid route is reported, never guessed at:
//     Get returns ErrInvalidRoute naming the node, Watch and List report it
//     in Lookup.Invalid.
//
// Concurrency: a Registry is safe for concurrent use (it only forwards to
// the store, which is). Close may be called once the Registry is no longer
// used.
package route
