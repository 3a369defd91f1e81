// Package dup is the sending side of duplication (cross-cluster
// asynchronous replication): the Duplicator of one duplication (dupid) of
// one partition, run on the partition's primary.
//
// # What it ships
//
// A Duplicator reads the primary's committed mutations from its plog
// (Log, in production the replica's NewTailLogReader bounded by the
// core's commit point from Info) from the confirmed decree + 1 on. Each mutation is split into per-hashkey
// protocol.DuplicateEntry values, in update order, each stamped with the
// mutation's timestamp and this cluster's id from [duplication-group]:
//
//	OpPut, OpRemove, OpMultiPut (MultiSet), OpMultiRemove, OpDelRange
//	    shipped with the body as logged (one hashkey each)
//	OpMultiPut (BatchSet)   one OpMultiPut per hashkey (and TTL run)
//	empty hashkey           single-key puts / removes, routed by sortkey
//	OpEmpty, OpDuplicate    nothing: writes that came in by duplication
//	                        are never shipped again (no loops)
//	incr, check_and_set,    nothing (counted in dup_unshippable_updates):
//	check_and_mutate        a duplicating primary converts them into puts
//	                        before they reach the log
//
// Entries are routed by the remote table's partition count
// (keyschema.PartitionIndex(keyschema.Hash(hashkey, sortkey), n)), not
// by the source partition, so partition counts may differ.
//
// # Batches and the confirmed decree
//
// A batch is a run of consecutive committed mutations whose entries fit
// in Options.BatchBytes (duplicate_log_batch_bytes; always at least one
// mutation with entries; 0: exactly one). Its entries go out in one
// Remote.Duplicate call per remote partition, in parallel. The confirmed
// decree moves to the batch's last decree only once every call of the
// batch succeeded (failed calls are retried alone, re-routed with the
// then current partition count), so
//
//   - every mutation up to the confirmed decree was applied remotely (or
//     skipped under FAIL_SKIP, and counted);
//   - a duplicator started at any confirmed decree c (a new primary, a
//     resumed duplication) ships c+1 on: at least once, no gap; entries
//     may be shipped again, which the receiver's last-writer-wins by
//     timetag makes harmless.
//
// Only mutations at or below the replica's commit point are shipped; the
// commit point comes from the core rather than from the log's own
// evidence (which for the last write arrives only with a later record),
// so an idle table's last write ships at once. While the replica is not
// primary nothing is read, and when its ballot changes the duplicator
// reads again from its confirmed decree (an uncommitted mutation read
// before may have been replaced). A log that no longer holds the next decree (garbage collected) is an
// error the duplicator reports and retries; the server's GC floor keeps
// this from happening.
//
// # Fail modes
//
// FAIL_SLOW retries a failing batch forever with doubling backoff
// (MinBackoff..MaxBackoff). FAIL_SKIP gives up after SkipAttempts
// attempts: the batch's mutations count as skipped and the confirmed
// decree moves past them. SetFailMode switches at once, also in the
// middle of retrying a batch.
//
// # Concurrency
//
// Clients (clients.go) is the production Remote source: one client-go
// client per remote cluster, shared by every duplicator of the node;
// TableRemote ships through (*pegasus.Table).Duplicate.
//
// Run (or Start/Stop) owns the reading and shipping; one batch's calls
// run on their own goroutines and end before the next batch. Progress,
// Confirmed, SetFailMode, FailMode and Kick are safe from any goroutine.
// Stop cancels a call in flight and waits for the goroutine; the batch in
// flight is not confirmed and is read again by the next duplicator.
package dup
