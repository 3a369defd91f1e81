// Package bindings registers the go-ycsb bindings that go-ycsb does not
// ship, so the YCSB driver measures every system through the same
// ycsb.DB interface:
//
//   - "pegasus": Pegasus-Go through client-go. The YCSB key is the
//     hashkey, the sortkey is empty, and the record's single field is the
//     value. A scan (workload E) reads count records of the start key's
//     partition through an unordered client-go scanner in one batch:
//     Pegasus-Go partitions by hash, so there is no global key order to
//     scan from the start key; the cost (one scan open with count records,
//     one close) is that of a range scan of the same length.
//   - "pebble": pebble opened in-process (no RPC, no replication, writes
//     without fsync): the storage engine's own ceiling.
//   - "rpcx-echo": every operation is one rpcx call of a 100-byte echo to
//     a bare rpcx server (EchoServer), with rpcx's default msgpack codec:
//     the RPC ceiling of the framework the RPC layer is built on.
//   - "rpc-echo": the same echo through Pegasus-Go's own RPC layer
//     (shared/rpc client and server: frame guard, binary codec, deadline
//     metadata), for comparison with rpcx-echo.
//
// Every binding stores exactly one field per record (the driver fixes
// fieldcount=1); more fields are a clear error.
//
// Concurrency: a binding's DB is created once per run and used by every
// worker thread at once; all its methods are safe for concurrent use.
// Each binding reads its settings from go-ycsb properties named
// "<binding>.<setting>" (see the constants below).
package bindings
