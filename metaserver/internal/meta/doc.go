// Package meta is the meta server proper: leader election, the Meta and
// MetaInternal RPC services, the guardian loop and its executor, and the
// JSON status pages. The embed package wires it to an RPC server, an HTTP
// server and a coordination store.
//
// # Leadership
//
// A Server runs one campaign loop. It opens a store session (Options.Open),
// makes sure the cluster skeleton exists (state.Init) and campaigns at
// <cluster_root>/meta/leader publishing its RPC address. Once elected it
// loads the whole cluster state into a fresh View and starts a term: the
// term serves every Meta and MetaInternal call and runs the guardian. The
// term ends at once when the leadership's Lost channel closes, the session
// ends, a fenced write fails or the Server closes; the Server then closes
// the session and campaigns again with a new one. Every store write of a
// term checks the term's own election node in the same transaction, so a
// deposed leader cannot write even before it notices.
//
// Outside a term (a follower, or a leader still loading) every call fails
// with CodeForwardToOthers whose message is exactly the current leader's
// address, or empty when none is known.
//
// # Terms
//
// A term owns its View and its Writer under term.mu; handlers hold it
// across the store write they make, so changes are serialised and the View
// always matches the store. Decisions (placement.PlaceApp, placement.Cure)
// are computed under the lock from the View and the failure detector;
// proposals to replica servers (ReplicaControl.ConfigProposal) are sent
// after the lock is released, each on its own goroutine bounded by
// Options.ProposalTimeout; a lost proposal is repaired by the node's next
// ConfigSync.
//
// A new term starts every node it knows of as pending (see membership), so
// a failover never declares a live node dead and never reassigns anything
// before the nodes have beaconed to the new leader.
//
// # Guardian and replica reports
//
// Besides the View, a term keeps in memory (under term.mu) what only this
// leader has seen: each alive node's latest ConfigSync report, the
// learners it asked primaries to add (with their deadlines) and the nodes
// whose learning timed out, and the nodes that restarted or came back.
// A new term starts with none of them: it acts on a node's decrees only
// once the node reported to it, so a failover never recovers a partition
// on stale evidence. Reports of a node are dropped when it is declared
// dead, restarts or comes back. Each guardian round builds a
// placement.Cluster from all of this, applies placement.Cure (one fenced
// transaction per table, the drops record with its partition), then
// pushes every change after the lock is released. UpdateConfiguration
// follows the same path for the changes a primary proposes.
//
// # Duplication
//
// A term also serves the duplication calls (AddDuplication,
// QueryDuplication, ModifyDuplication, MetaInternal.DuplicationSync) and
// runs the duplication executor, a second goroutine beside the guardian.
// The status machine is pure (decideDup, modifyDup, mergeProgress in
// dup_decide.go, with its state diagram); the executor stores each step
// with a fenced CAS write before it counts, so a new leader resumes every
// duplication from its stored status. What the primaries report (highest
// confirmed and checkpoint decrees, last errors) lives in term memory under
// term.mu; confirmed decrees are stored at most every DupPersistInterval
// and replica servers are told only stored ones. Calls to a remote
// cluster's meta servers (RemoteMeta, a client-go admin client by
// default) are made without holding term.mu; the step they lead to is
// applied only if the duplication's record did not change meanwhile.
//
// # Concurrency
//
// Server methods and the RPC handlers are safe for concurrent use. Each
// term runs a guardian goroutine, a duplication executor goroutine and
// short-lived proposal goroutines; all of them end before the next term
// starts and before Close returns. Remote cluster clients belong to the
// Server and are closed by Close.
package meta
