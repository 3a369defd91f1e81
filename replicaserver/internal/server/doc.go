// Package server is the replica server proper: the registry of the
// replicas a node holds, the rpcx handlers of the client data API (service
// Replica) and of the meta's pushes (service ReplicaControl), the meta client
// loop (beacons and config syncs), per-table request metrics and the
// /replica/replicas status page. The embed package wires it to the RPC and
// HTTP servers and the daemon configuration.
//
// # Replicas on disk
//
// A replica of partition <app_id>.<pidx> lives in <data_dir>/<app_id>.<pidx>;
// a new one goes to the data dir holding the fewest replicas (ties
// round-robin). New reopens every such directory it finds (the replica's
// persisted table info and configuration come back with it); a directory
// that fails to open is logged, left alone and listed on the status page.
// A gpid found in two data dirs is an error: the server does not start.
//
// # Request validation
//
// Every data request is checked before it reaches the replica, so an
// invalid write never takes a decree or a plog record:
//
//   - the header's gpid must be a replica this server holds, else
//     CodeObjectNotFound;
//   - the hashkey must be 1..keyschema.MaxHashKeyLen (65534) bytes, else
//     CodeInvalidArgument (scans allow empty start and stop hashkeys);
//   - the keys and values of a write together must not exceed
//     Options.MaxWriteBytes (max_write_bytes), else CodeInvalidArgument
//     naming the limit;
//   - RequestHeader.CheckPartition against the table's partition count,
//     and the key's own hash (keyschema.Hash of the hashkey) must map to
//     the replica's partition, else CodeWrongPartition; BatchGet and
//     BatchSet check every key and answer a failing key with its own code
//     while the others proceed;
//   - Duplicate (entries another cluster's duplicator ships; dup_recv.go)
//     checks every entry: a cluster id of another cluster of
//     Options.DuplicationGroup, a duplicable op (put, multi_set, batch_set,
//     del, multi_del, del_range) and hashkeys of this partition; the whole
//     request becomes one OpDuplicate write.
//
// A table env replica.deny_client_request (EnvDenyClientRequest, set for
// hot migration) is checked right after the lookup: timeout*read|write|all
// drops matching requests without any response (rpc.ErrNoResponse; the
// client times out), reconfig*read|write|all answers CodeInvalidState so
// the client re-resolves the table. Scans and batch reads are reads;
// incr, check-and-set/mutate and batch writes are writes. Denied requests
// count as rejected_requests (code ERR_TIMEOUT or ERR_INVALID_STATE), not
// in the per-op QPS, so a drained source shows zero QPS.
//
// Reads then go through Replica.Engine (which refuses unless the replica is
// a primary holding a valid lease), writes through Replica.Write; their
// errors are returned as they are.
//
// # Leases and the meta server
//
// With meta servers configured, Start runs two goroutines. The beacon
// loop sends MetaInternal.Beacon to the meta leader every BeaconInterval
// and, on success, grants every replica the lease SendTimeMs + LeaseMs
// measured on this server's clock (Options.Clock); a leader that grants no
// lease withdraws all leases at once; a failed beacon lets them run out.
// The sync loop sends MetaInternal.ConfigSync after the first successful
// beacon, every ConfigSyncInterval, and at once after a ConfigProposal that
// could not be applied; it opens the partitions the answer assigns to this
// node, installs newer configurations, and deletes the garbage replicas.
// Redirects (CodeForwardToOthers with the leader's address, or
// BeaconResponse.MetaLeader) are followed; an unreachable meta server moves
// the client on to the next one of the list.
//
// Without meta servers (tests only) every replica holds a lease that never
// ends and partitions are opened with OpenTestReplica.
//
// # Replication
//
// Every replica's core runs with the table's replica count
// (AppInfo.ReplicaCount; 1 without meta servers, or Options.MaxReplicaCount
// when set): writes need two members, a lone primary of a 3-replica table
// is read-only (CodeNotEnoughMember).
//
// Peer transport. A replica's Transport (transport.go) converts the core's
// prepares and group checks to PrepareRequest / GroupCheckRequest (copies:
// the core's configurations and mutations are shared and never modified;
// the wire mutation carries the message's commit point in LastCommitted)
// and queues them on the destination node's sender: one bounded queue per
// node (DefaultPeerQueueLen; beyond it messages are dropped and counted),
// PeerInFlight workers taking from it in order, so several prepares are in
// flight and arrive roughly in order (the receiving core buffers gaps). A
// successful response becomes the core's MsgPrepareAck / MsgGroupCheckAck,
// stepped into the sending replica; a failed call is a lost message (the
// core resends and times out), and a network failure marks the node down
// for downBackoff so its queued messages fail fast.
//
// Service Peer (peer.go). Prepare and GroupCheck validate the request,
// step it into the replica and answer with the acknowledgement the core
// emits for it: the replica's Transport hands acknowledgements to
// ackWaiters, which match them cumulatively (an ack with LastPrepared L
// answers every waiting prepare of decree <= L; a group-check ack answers
// one group check; an ack with an error answers everything waiting from
// that primary). So a stale ballot is answered CodeStaleBallot with the
// receiver's ballot, inside a successful response. A prepare not
// acknowledged within half of PeerCallTimeout (it waits behind a gap) fails
// with CodeTimeout. An unknown partition is CodeObjectNotFound, except a
// group check naming this node as learner: the replica is created (or
// reopened with its old data) and becomes a learner.
//
// Configuration proposals (proposals.go). A primary's removal proposal
// (core.ConfigProposal) and a finished learner's upgrade become
// MetaInternal.UpdateConfiguration (ConfigDowngradeToInactive /
// ConfigUpgradeToSecondary, Config = the proposed configuration with ballot
// + 1) sent in order by one goroutine to the meta leader (following
// redirects); the configuration the meta answers with is installed at once.
// ReplicaControl.ConfigProposal handles ConfigAddSecondary at the primary
// (the node becomes a learner of its core) and ConfigDowngradeToInactive
// naming this node (the replica is closed, its data kept).
//
// Learning (learn_source.go at the primary, learn_target.go at the
// learner, file handling in package learn). The learner's task sends Learn
// rounds to the primary: a learner holding nothing (or one the plog no
// longer covers, or more than LearnLogMaxDecrees behind) gets a pebble
// checkpoint in <replica dir>/learn/<session> plus the table info, fetched
// with CopyFile into <replica dir>/learn_staging (CRC-32C checked,
// node-wide rate limit LearnRateLimitBytes, complete files kept across
// interruptions and restarts), then installed: the replica is closed, its
// data replaced, reopened as a learner. Later rounds return the committed
// plog tail, which the learner steps into its core as prepares. Within
// learnSwitchGap of the commit point, the primary switches the learner to
// prepares (replica.StartLearner: start decree = commit point + 1, on the
// replica loop, with the rest of the tail in the answer); the learner
// steps the tail and sends LearnCompletionNotify, and the primary proposes
// its upgrade (again every upgradeRetry while it stays a learner). While a
// session is open the plog is kept from the learner's next decree on
// (SetGCFloor; the floor is lifted when no session needs it). Sessions end
// when the learner leaves the learners, the replica stops being primary,
// or after LearnSessionTimeout idle (a learner that never switched is then
// dropped); their directories are removed, and a replica's learn
// directory is removed whenever it opens.
//
// Full duplication (dup_checkpoint.go at the master primary,
// follower_copy.go at the follower). A replica created for a table whose
// envs name a duplication master (protocol.EnvDupMasterApp and
// EnvDupMasterMetas) and that has no data here is not opened at once: a
// task resolves the master partition's primary through the master metas
// (QueryConfig, redirects followed), asks it for its duplication
// checkpoint (Peer.DupCheckpoint: one per partition, reused for every
// follower replica and retry, removed when idle or no longer primary),
// fetches it with CopyFile into <data_dir>/<app_id>.<pidx>.dupcopy
// (checksummed, learn_rate_limit, resumable across restarts), resets its
// decree to 0 (storage.ResetDecree) and installs it as the replica's
// directory, then opens the replica. Failures are retried with backoff and
// counted in dup_load_file_failed_count; progress is on /replica/learning.
//
// # Duplication
//
// With DupOptions.Enabled and meta servers, the duplication loop
// (dup_sync.go) sends MetaInternal.DuplicationSync every
// DupOptions.SyncInterval with the progress of every duplication of every
// primary here and applies the answer: duplicators (package dup) run on
// primaries for duplications in DS_LOG, shipping through one client-go
// client per remote cluster; in DS_PREPARE the primary fixes and reports
// its checkpoint decree; pause and remove stop them; every replica of a
// duplicated table is told SetDuplicating(true) and keeps its plog above
// the smallest confirmed decree + 1 of the table's live duplications
// (replica.GCFloorDup; learning sessions hold replica.GCFloorLearn, the
// lowest floor wins). Primaries put their duplicators' confirmed decrees
// in their group checks (GroupCheckRequest.ConfirmedDecrees) so
// secondaries keep the plog too before the meta persisted them.
// /replica/duplication?appid=<id> (dup_page.go) shows it all.
//
// # Concurrency
//
// RPC handlers run concurrently; the registry is guarded by an RWMutex and
// looked up once per request. Opening and removing replicas (proposals,
// syncs, the test hook) are serialized by openMu; a request racing with a
// removal gets the closed replica's error. Close stops the loops, then
// closes every replica; the RPC server must stop delivering requests first.
//
// The replication goroutines (per-node sender workers, learner tasks, the
// proposal sender, the learning janitor) start with Start and stop in
// Close before the replicas close. A replica's Transport and
// OnConfigProposal run on its loop and never block: they only queue.
// Learning installs a checkpoint under openMu (reinstall), so requests see
// either the old replica, none (CodeObjectNotFound), or the new one.
//
// # Seams
//
// Options.OpenReplica opens a replica (default: package replica through a
// thin adapter), so handler tests run against an in-memory fake;
// Options.Meta is the RPC client towards the meta servers; Options.Peers
// the one towards other replica servers (nil drops replica messages);
// Options.Clock is the clock leases are computed with. Replicas that are
// not package replica's (test fakes) take no part in replication.
package server
