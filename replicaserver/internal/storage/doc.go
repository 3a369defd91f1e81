// Package storage is the storage engine of one partition replica: a pebble
// database holding the partition's records (keys and values laid out by
// shared/keyschema) and the replica's metadata.
//
// # Invariants
//
//   - Every write batch is applied at a decree, and the replica metadata
//     (last applied decree, data version) is written in the same pebble
//     batch. After any crash, LastAppliedDecree read at Open and the data
//     agree: every batch up to it is present, nothing beyond it. The replica
//     replays its plog from LastAppliedDecree()+1.
//   - Decrees advance by exactly one per committed batch; a batch at the
//     last applied decree is an idempotent retry that writes nothing.
//   - Expired records (expire_ts <= now) are invisible to every read,
//     scan and to the reads inside write batches. Reads judge expiry by the
//     engine clock; write batches by their mutation's timestamp, so every
//     replica applies a mutation identically. The Reaper deletes expired
//     records later; its deletes never touch the metadata.
//   - Internal keys (metadata) live above keyschema.DataUpperBound and are
//     never returned by reads or scans.
//   - Duplicated tables (write batches with WriteOptions.DupTimetags):
//     every write resolves last-writer-wins against the stored record by
//     timetag (timestamp, then cluster id; see dup.go), deletes leave
//     tombstones (a value header with the timetag's delete flag and an
//     empty value), and tombstones are invisible to every read, scan and
//     to the reads inside write batches, exactly like absent records. The
//     Reaper deletes tombstones older than Options.TombstoneRetention.
//     Batches without DupTimetags never read before writing and delete
//     records (tombstones included) outright.
//   - LastTimestampUs, persisted with the metadata, is the largest
//     timestamp any committed batch wrote with, duplicated entries
//     included.
//
// # Concurrency
//
// Reads (Get, MultiGet, SortKeyCount, Exist, TTL, BatchGet) and scans are
// safe from any goroutine, concurrently with each other and with writes;
// each read sees one consistent point-in-time view. Writes come from one
// goroutine, the replica's apply loop: at most one WriteBatch is open at a
// time, and a WriteBatch is not safe for concurrent use. The Reaper runs on
// a goroutine the caller owns and coordinates with commits internally.
// Close waits for running operations; every call after it returns
// ErrClosed.
//
// Durability: commits write pebble's WAL without fsync by default (the
// plog is the log of record); LastDurableDecree, advanced by Flush, SyncWAL
// and Checkpoint, tells the plog what it may garbage-collect.
//
// Errors are *protocol.Error values (or wrap one), so callers test them
// with errors.Is(err, protocol.CodeNotFound) and friends.
package storage
