// Package replica runs one partition replica: the thin IO loop around the
// deterministic PacificA core (package core), with the private mutation log
// (package plog) and the pebble storage engine (package storage).
//
// # Files
//
// A replica directory (Options.Dir, <data_dir>/<app_id>.<pidx>) holds:
//
//	replica.json   metadata (Meta): gpid, table info, the core's
//	               configuration and role (Ready.State); replaced
//	               atomically (temp file, fsync, rename, directory fsync)
//	plog/          the plog segments
//	data/          the pebble database; its last applied decree is written
//	               in the same batch as the data
//
// # Write path
//
//	Write ──propc──► loop: Propose (everything waiting, at once) ──► Ready
//	  ▲                 1. persist Ready.State            (replica.json)
//	  │                 2. plog.Append(Entries)           (one sync per batch under SyncFsync)
//	  │                 3. Transport.Send(Messages)
//	  │                 4. apply Committed in decree order, one engine write
//	  └──── reply ──────   batch per mutation, then answer its callers
//	                    5. OnConfigProposal, answer failed proposals
//	                    6. Advance; repeat while the core has more
//
// Write encodes the request as the update body (EncodeUpdate), queues it
// with a reply channel as its token and waits for the reply or its context.
// The loop drains every queued write before asking the core for a Ready, so
// concurrent idempotent writes share a mutation (the core batches up to
// core.Options.MaxMutationUpdates; incr, check_and_set and check_and_mutate
// get a mutation each). An update that fails (incr on a non-integer, a
// hashkey too long) answers its own caller with the error; the other
// updates of the mutation commit. A failed check is a response with
// CheckPassed false. Replies go out only after the engine commit and after
// the round's snapshot is published, so a read that starts after Write
// returned sees the write, and Info and Status show at least its decree.
//
// While the table is duplicated (SetDuplicating, or a follower table:
// envs with protocol.EnvDupMasterApp) every mutation carries
// protocol.MutationDupTimetags, writes get timestamps above every one
// applied, and incr / check_and_set / check_and_mutate are converted by
// the primary into idempotent writes before they reach the log (the loop
// holds them, and every write behind them, until everything earlier is
// applied, computes the result and proposes it first); see dupmode.go.
// OpDuplicate writes carry entries another cluster shipped and apply
// last-writer-wins per key (dupapply.go).
//
// Messages for other replicas go to Options.Transport; messages from them
// come in through Step. Configuration proposals go to
// Options.OnConfigProposal.
//
// # Learning
//
// learn.go holds what learning needs (the server drives it). On the
// primary: AddLearner puts a node in the core's learners (start decree 0:
// copying, no prepares) and sends it a group check at once; Checkpoint and
// NewLogReader give the state to copy; StartLearner switches a learner to
// prepares on the loop goroutine, so no write slips between the tail it
// returns (the committed decrees [from, C] read from the plog) and the
// start decree C+1 it sets; DropLearner and ResetLearner undo. Learners
// are the primary's own business: UpdateConfig carries them over to a new
// configuration from the meta that keeps this replica primary. On the
// learner: InstallCheckpoint replaces a closed replica's data by a copied
// checkpoint, and StepLearned feeds learned mutations to the core as the
// primary's prepares (re-stamped with the current ballot), in chunks the
// core accepts, returning once they are logged. Digest summarizes the data
// at the applied decree so replicas can be compared.
//
// # Invariants
//
//   - The engine's last applied decree is the decree of the last mutation
//     applied; mutations are applied exactly once, in decree order.
//   - Ready.State is durable before any entry of the same or a later Ready
//     is appended, so the persisted ballot is never below a logged one.
//   - A write is acknowledged only after its mutation is in the plog under
//     the plog's sync policy (SyncFsync: on stable storage; SyncPageCache:
//     handed to the OS, surviving a process crash) and applied.
//   - Open replays every plog record above the engine's last applied decree,
//     so whatever the engine lost (its WAL is not synced, or disabled) comes
//     back from the plog: after Open a primary alone in its group has applied
//     every record of its plog (engine last applied decree == plog end).
//   - The plog is garbage collected below min(engine durable decree + 1,
//     the lowest owner's SetGCFloor: learning, duplication), never above:
//     nothing that is not durable in the engine is
//     dropped. The engine is made durable (SyncWAL, or a flush without a
//     WAL) every EngineSyncInterval and whenever the plog grew by a segment.
//   - Reads (Engine) are allowed only while the core allows them (primary,
//     valid lease, predecessors' mutations applied) and the wall-clock lease
//     has not run out.
//
// # Leases
//
// The lease is wall-clock time (GrantLease(until), ExpireLease). The loop
// tells the core whenever the lease starts or ends (checked on every tick,
// before proposing and on every call); Engine checks the clock itself. With
// ExternalLease false, a replica that becomes primary alone in its
// configuration grants itself a lease that never ends (single-replica
// mode), and loses it when it stops being primary alone.
//
// # Goroutines and concurrency
//
// One loop goroutine owns the core, the plog's appender and the engine's
// write batches. Two background goroutines run beside it: the engine syncer
// (SyncWAL, then wakes the loop to collect the plog) and the TTL reaper
// (small steps every ReapInterval; its counts are exported as metrics).
// Write, Engine, UpdateConfig, GrantLease, ExpireLease, SetGCFloor, Step,
// SetDuplicating, Duplicating, Info, Status, Close and the learning methods
// are safe for concurrent use. Engine, Info and Status
// never wait for the loop: the loop publishes a snapshot (core status and
// read permission) after every round. UpdateConfig, GrantLease and
// ExpireLease run on the loop and return once the state they caused is
// persisted.
//
// Close stops the loop and the background goroutines (no goroutine
// outlives it), then closes the plog and the engine; writes not yet applied
// fail with CodeInvalidState. A failure the loop cannot recover from (plog
// append, metadata write or engine commit failing) stops the loop: every
// later call returns that error (CodeIOError or CodeCorruption), Info
// reports PS_ERROR, and the replica must be closed and reopened.
//
// # BatchSet
//
// BatchSet has no op code of its own: it is written as OpMultiPut with a
// *protocol.BatchSetRequest, and its update body is the request's encoding
// behind one marker byte (see EncodeUpdate and DecodeUpdate, which
// duplication uses to read plog updates back). Each item gets its own code
// in the response; the items that pass are written in one mutation.
//
// Errors are *protocol.Error values, so callers test them with errors.Is.
package replica
