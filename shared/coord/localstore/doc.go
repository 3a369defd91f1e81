// Package localstore implements coord.Store on a local directory, shared by
// the processes of one machine (onebox). It needs no server: processes
// coordinate through flock(2) and atomic renames.
//
// # Layout
//
//	<dir>/lock            store-wide flock: shared for reads, exclusive for writes
//	<dir>/state           {"format","zxid","next_session"} (JSON)
//	<dir>/journal         redo record of the transaction being applied
//	<dir>/sessions/<id>   one file per open session, flocked by its owner
//	<dir>/locks/<hash>    one flock file per election path
//	<dir>/tree/           the node "/": files data and meta, children in
//	                      subdirectories named "_<child>"
//
// A node's meta file holds its versions, revisions, times, child count and
// ephemeral owner; its data file holds the value. Names are limited to
// coord.MaxNameLen bytes so directory names stay within filesystem limits.
//
// # Transactions
//
// Every write (Create, Set, Delete, Multi, ephemeral cleanup) runs under the
// exclusive store lock: it stages its ops in memory against the tree, then
// writes the whole result as a journal (write a temporary file, rename it
// into place: the commit point), applies it file by file (each write again
// temporary-then-rename), updates the state file and removes the journal. A
// process killed mid-apply leaves the journal behind; the next process to
// take the lock replays it, so a transaction is all or nothing across
// crashes of the process. Durability against power loss is not promised (no
// fsync): this store is for one machine's development clusters. Reads take
// the shared lock and so see only committed transactions. Lock waits poll
// with a short backoff, so a context ends them.
//
// # Sessions
//
// Open allocates a session id and holds an exclusive flock on its session
// file for the store's lifetime. The kernel drops the flock when the process
// dies, so a session file whose flock can be taken belongs to a dead
// session: every open store checks the other sessions every PollInterval
// (and on reads, at most that often), and removes the ephemeral nodes and
// the file of dead ones. Close removes its own. ExpireSession ends a live
// session from outside (as a ZooKeeper server expiring it): its ephemeral
// nodes go at once, and the owner sees its session file gone and reports
// coord.ErrSessionLost within one PollInterval or at its next write.
//
// # Watches and the leader lock
//
// Watches record the node's revisions when they are set; the background
// poller compares them with the tree every PollInterval (skipping the work
// when no transaction committed) and delivers the same events ZooKeeper
// would. An election is an exclusive flock on locks/<hash of the path>;
// waiting candidates retry it every PollInterval. The winner deletes any
// candidate nodes a dead leader left under the path and creates its own
// ephemeral sequential node with its value, so coord.Leader reads the same
// way on both backends. Leadership ends (Lost closes, the flock is
// released) on Resign, on session end, or when the node is deleted.
//
// # Concurrency
//
// All methods are safe for concurrent use, within a process and across
// processes. Each Store runs one background goroutine (the poller) and one
// per leadership; Close stops them.
package localstore
