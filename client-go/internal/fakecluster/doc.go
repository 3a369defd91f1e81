// Package fakecluster is an in-process stand-in for a Pegasus-Go cluster,
// for the client library's tests and examples. It runs real shared/rpc
// servers on 127.0.0.1: meta servers answering Meta.QueryConfig (followers
// redirect with CodeForwardToOthers and the leader's address, as the meta
// service does) and replica nodes answering every Replica data method over
// one in-memory map per partition.
//
// The data lives in the cluster, not in the nodes, so moving a partition's
// primary (MovePrimary) loses nothing, as replication would guarantee.
// A node serves a partition only while the configuration names it primary:
// otherwise it answers CodeInvalidState (it is a secondary) or
// CodeObjectNotFound, and a request whose partition hash does not map to
// the addressed partition gets CodeWrongPartition, as real replica servers
// do.
//
// Each node is reached through a small TCP proxy owned by the fake, so a
// test can cut its connections (Fault.DropConnAfterApply: the request is
// applied, the response is lost) or take it down (KillNode: connections
// are refused). Faults are injected per method and node, and every
// request is counted (Calls, NodeCalls, PartitionCalls) so tests can check
// routing and retry behaviour exactly. Scan contexts can be dropped at
// will (ExpireScans) to simulate the server's idle expiry.
//
// Concurrency: every method of Cluster is safe for concurrent use.
// Close stops every server, proxy and goroutine the cluster started.
package fakecluster
