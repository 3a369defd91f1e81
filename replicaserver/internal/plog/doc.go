// Package plog is the private mutation log of one partition replica: an
// append-only, segmented, checksummed log of protocol.Mutation records. The
// replica appends every mutation it prepares before acknowledging it,
// replays the log past pebble's durable decree on restart, and serves
// learners and duplication from it. All IO goes through a pebble vfs.FS, so
// tests run it on vfs.NewStrictMem (crashes) and vfs/errorfs (IO errors).
//
// # Files
//
// A log is a directory of segment files named log.<seq>.<first decree>, seq
// a zero-padded 10-digit sequence number (1, 2, ...; lexical order is
// creation order) and first decree the decree of the segment's first
// record, plus a LOCK file. A segment is a 20-byte header (magic, format
// version, first decree, CRC-32C of the header) followed by records, each
// framed as length u32 | CRC-32C (Castagnoli) of the payload u32 | payload,
// the payload being Mutation.AppendBinary. A segment is closed and a new one
// started when the next record would take it past Options.SegmentSizeBytes.
// Every Open starts a new segment at the first Append; old segments are
// never written again (except that Open may cut one short, see below).
//
// # Ordering and re-appends
//
// Append enforces, over the whole log: decrees are positive; a mutation
// whose decree is above the last appended decree needs a ballot >= the last
// appended ballot; a mutation whose decree is <= the last appended decree
// (a new primary re-preparing) needs a ballot strictly above the last
// appended ballot. Such a re-append of decree d supersedes every earlier
// record with decree >= d: the old version of d and anything prepared after
// it under the old ballot, exactly as a Raft log overwrites its suffix. The
// log's logical end (Stats.MaxDecree) becomes d. Replay therefore yields, per
// decree, the version with the highest ballot, and never a superseded
// suffix: the live records form a strictly increasing decree sequence. The
// log keeps the (rare) re-append positions in memory, rebuilt by Open.
//
// # Durability contract
//
// SyncFsync: Append writes the batch and syncs the active segment before
// returning; when a new segment is started, the previous one and the
// directory are synced first. When Append returns nil every mutation of the
// batch survives a process crash and a power loss (given a disk that honours
// fsync). Group commit is the caller's batching: one sync per Append.
//
// SyncPageCache: Append writes the batch to the operating system and returns
// without syncing. When Append returns nil the mutations survive a crash of
// the process (SIGKILL, panic) but not of the machine or the kernel. After a
// power loss nothing is guaranteed beyond the last sync of the active
// segment, which happens on Flush, on the background flush every
// Options.FlushInterval (if set), on Close, and whenever a segment is
// rotated (so every segment except the active one is fully durable). The
// log is still readable after any crash: Open keeps the longest valid prefix.
//
// Under both policies the log is a prefix: if a mutation survives, every
// mutation appended before it survives too (Open truncates at the first
// gap, and with SyncFsync a failed Append fails the log).
//
// # Recovery
//
// Open verifies every segment in order. At the first torn or corrupt spot
// (short header, bad magic, version or checksum, a frame whose length is 0
// or runs past the file, a CRC mismatch, an undecodable mutation, a record
// that breaks the ordering rules) it logs one warning with the segment,
// offset and reason, deletes every later segment (newest first, syncing the
// directory after each), and cuts the segment at that record (copying the
// valid prefix to a temporary file renamed over it; a segment left with no
// records is deleted). Segments before a gap in the sequence numbers are
// leftovers of an interrupted GC and are deleted. Open never panics on bad
// contents and never allocates more than the file holds.
//
// # Garbage collection
//
// GC(floor) removes the oldest segments whose every decree is below floor,
// never the newest segment; the caller computes floor as the minimum of
// pebble's durable decree, the duplication confirmed decrees and what
// learners still need.
//
// # Concurrency
//
// One goroutine, the replica's owner, calls Open, Append, Replay, GC and
// Close. Stats and Flush may be called from any goroutine. A Reader
// (NewReader) is used by one goroutine of its own, concurrently with the
// owner: it reads only what an Append has returned (published under the
// log's mutex after the write and sync), yields only committed mutations
// (decree <= the largest LastCommitted appended), and keeps its segment file
// open so GC may remove files under it; a Reader that needs a segment GC
// already removed gets ErrGarbageCollected. After an IO error Append fails
// with ErrFailed until the log is closed and reopened.
package plog
