// Package core is the PacificA replica state machine of one partition
// replica, shaped like etcd's raft RawNode: messages, ticks, proposals and
// configurations go in; a Ready batch comes out (mutations to log, messages
// to send, committed mutations to apply, configuration proposals for the
// meta server, failed proposals to answer). The core does no IO, reads no
// clock and starts no goroutines; time is a count of Tick calls. A thin
// per-replica loop persists, sends and applies, then calls Advance.
//
// # Roles
//
// The meta server's configuration {ballot, primary, secondaries} and the
// primary's learners decide the role. Every arrow but "stale" is taken on a
// configuration with a higher ballot, from SetConfig or carried by a prepare
// or group check from the new primary; learner lists may change under the
// same ballot.
//
//	               names it learner
//	+----------+ -------------------> +---------+
//	|          | <------------------- | learner |
//	| inactive |      drops it        +---------+
//	|          |                           | names it secondary
//	+----------+   names it secondary      v
//	 ^  ^   |  ---------------------> +-----------+
//	 |  |   |                         |           |
//	 |  +---|------------------------ | secondary |
//	 |      |        drops it         |           |
//	 |      |                         +-----------+
//	 |      | names it primary          |     ^
//	 |      v                           |     | names another primary
//	 |  +---------+ <-------------------+     |
//	 |  |         |   names it primary        |
//	 |  | primary | --------------------------+
//	 |  |         | --+
//	 |  +---------+ <-+ higher ballot, still primary
//	 |       |
//	 +-------+ drops it, or a peer answers with a higher ballot (stale)
//
// Becoming primary under a new ballot (including staying primary) re-stamps
// every logged mutation above the commit point with the new ballot,
// re-logs it and prepares it again to every member. New writes wait in the
// queue, and CanRead refuses, until those mutations are committed and
// applied: a new primary never serves a read before it holds everything its
// predecessor may have acknowledged.
//
// A core restored (New) with a configuration that makes it primary of a
// group with other members starts inactive: it may have lost a log tail
// that another member logged under the same ballot, so it waits for a
// configuration with a higher ballot. A primary alone in its configuration
// resumes at once (nobody else can hold its lost records).
//
// # Writes
//
// Propose queues a client write with an opaque token. At Ready time the
// primary turns queued writes into mutations while fewer than MaxInFlight
// are prepared but uncommitted: consecutive idempotent writes share one
// mutation (up to MaxMutationUpdates and MaxMutationBytes), a non-idempotent
// write gets its own. Each mutation is logged locally and prepared to every
// secondary, and to every learner from its start decree on, in parallel. It
// commits when the primary, every secondary and every learner past its start
// decree have logged it durably. (A learner holds everything below its start
// decree from its copy, so the meta server may upgrade it to secondary at any
// time without it missing a committed mutation.) The commit point reaches the members on later
// prepares, on group checks every GroupCheckTicks, and, when the primary has
// been idle IdleEmptyWriteTicks while a member has not committed the last
// write carrying data, through an empty write.
//
// A proposal's Flags become its mutation's flags (protocol.MutationFlags,
// e.g. MutationDupTimetags for duplicated tables): only writes with equal
// flags share a mutation, and a flagged mutation's timestamp is strictly
// above its predecessor's (timestamps never go back, also across a change
// of primary). A proposal's Extra updates go into its mutation with it,
// atomically.
//
// Writes need the primary role, a valid lease and at least
// min(2, MaxReplicaCount) members: with MaxReplicaCount 1 a partition runs
// on its primary alone; a primary left alone in a 3-replica partition is
// read-only.
//
// A member that has not acknowledged progress for ResendTicks gets its
// unacknowledged prepares again; after PrepareTimeoutTicks, or at once when
// it answers with an error, the primary proposes the removal of a secondary
// to the meta server (Ready.ConfigProposals, repeated every
// PrepareTimeoutTicks) and keeps waiting until a new configuration arrives;
// a learner it simply drops from its own configuration (Ready.State), and the
// learner has to learn again. A peer that answers with a higher ballot makes
// the primary inactive (stale): the loop should fetch the current
// configuration.
//
// Followers (secondaries and learners) log prepares in decree order. A
// prepare that arrives ahead of a gap waits in memory (bounded by
// MaxBufferedPrepares); the gap is filled by the primary's resend. A prepare
// with a lower ballot is answered with CodeStaleBallot; one with a higher
// ballot carries the new configuration, which the follower adopts first.
// An acknowledgement vouches only for records logged durably under the
// current ballot with no gap above the commit point. A secondary trusts its
// records at or below the primary's commit point whatever their ballot,
// because a replica stays a member across ballots only if it logged every
// committed mutation. A learner trusts only records of the current ballot:
// the primary committed past it while it was no member, so a tail it kept
// from an older ballot (mutations it logged as an old primary and that were
// never committed) may differ from the committed ones at those decrees.
//
// # The Ready / Advance contract
//
// The loop runs, on the one goroutine that owns the core:
//
//	for {
//		// feed inputs: Tick, Step, Propose, SetConfig, GrantLease/ExpireLease,
//		// LogDone (AsyncLogAck) ...
//		if !c.HasReady() {
//			continue
//		}
//		rd := c.Ready()
//		// 1. persist rd.State with the replica's metadata, before rd.Entries;
//		// 2. append rd.Entries to the plog, in order;
//		// 3. send rd.Messages (at once: see below);
//		// 4. apply rd.Committed to the state machine, in order, then answer
//		//    the tokens it carries;
//		// 5. send rd.ConfigProposals to the meta server, answer rd.Replies;
//		c.Advance(rd)
//	}
//
// Ownership: every slice in a Ready is new and belongs to the caller. The
// *protocol.Mutation and *Config values it points to are shared with the
// core and with other messages and must not be modified. The core keeps
// Proposal.Body inside the mutation it builds.
//
// Ordering rules:
//
//   - Persist log entries before acknowledging them: the core enforces this
//     itself, because a follower's acknowledgement of a record comes in a
//     Ready after the one holding the record, once the record was reported
//     durable (Advance, or LogDone with AsyncLogAck). Hence the messages of a
//     Ready may be sent before its entries are durable; the primary's
//     prepares go out in parallel with its own log write, and it counts its
//     own log only once durable.
//   - Apply only rd.Committed, in the order given; a committed mutation is
//     always durable in the local plog.
//   - Advance batches in the order Ready returned them. Without
//     AsyncLogAck, Advance means "entries durable and committed applied".
//     With AsyncLogAck, Advance means "committed applied" and the loop calls
//     LogDone(ballot, decree) when the plog has made every record up to and
//     including that one durable. Records are handed out in increasing
//     (ballot, decree) order, which is also the order they must be appended.
//   - A decree may be logged again under a higher ballot. On replay (State.Log
//     to New) the record with the highest ballot wins for each decree, and the
//     run stops at the first gap above the applied decree.
//
// # Time and leases
//
// Tick advances the logical clock. The loop reports the lease from the
// meta server in ticks: GrantLease(untilTick) or ExpireLease. A new core has
// no lease. Without a valid lease the primary refuses reads and writes, and
// queued writes fail with CodeLeaseExpired; mutations already prepared still
// commit.
//
// # Errors
//
// Every error the core returns is a *protocol.Error, so callers test with
// errors.Is(err, protocol.CodeX). Propose refuses with CodeInvalidState (not
// primary), CodeLeaseExpired, CodeNotEnoughMember, CodeInvalidArgument (op
// code), CodeMessageTooLarge or CodeBusy (queue full). Step refuses malformed
// messages with CodeInvalidArgument; protocol-level refusals are answered
// with an acknowledgement carrying Err instead. SetConfig refuses lower
// ballots with CodeStaleBallot. Broken internal invariants panic.
//
// # Concurrency
//
// A Core is not safe for concurrent use: one goroutine owns it and calls
// every method. No method blocks.
package core
