// Package admintest provides an in-memory fake of the meta server's Meta
// service for tests of admin tools: a Cluster holds tables, partition
// configurations and nodes in memory, and every Meta started from it is a
// real shared/rpc server on 127.0.0.1 that answers the Meta API from that
// state. A Meta can be made a follower that answers every call with
// CodeForwardToOthers naming the leader, as real followers do.
//
// Nodes started with StartNode are fake replica servers: they serve the
// Replica data API (Get, Set, Del, MultiGet, SortKeyCount, Exist, TTL,
// Incr, ScanOpen/Next/Close) for the partitions whose configuration names
// them primary, over records kept in memory in the Cluster, checking the
// request's partition hash like real replica servers (CodeInvalidState when
// not primary, CodeObjectNotFound for an unknown or dropped table,
// CodeWrongPartition for a misrouted key). TTLs use the Cluster's clock.
//
// It is a test double: it replicates nothing, persists nothing and assigns
// each partition one primary, round-robin over the alive nodes in address
// order, at creation. Tests change the state directly (SetNodeStatus,
// SetPartition) to stage situations.
//
// # Concurrency contract
//
// Cluster and Meta are safe for concurrent use; the state is guarded by
// one mutex. Close on a Meta stops its server and returns after its
// goroutines have exited.
package admintest
