// Package protocol defines everything that crosses a process boundary in
// Pegasus-Go: rpcx service and method names, request and response types for
// the data API, the meta API and replica<->replica / replica<->meta messages,
// the base identifiers (Gpid, Ballot, Decree) and the typed error codes.
//
// Every wire type implements Message with a compact hand-written binary
// encoding (see docs/benchmarks.md for why it was chosen over msgpack).
// Error codes are a typed enum converted to Go errors only at the RPC
// boundary.
package protocol
