// Package keyschema defines how Pegasus-Go lays records out in a partition's
// pebble database and how a record is routed to a partition.
//
// # Storage key
//
// A record key (hashkey, sortkey) is stored as
//
//	uint16 big-endian len(hashkey) | hashkey | sortkey
//
// with len(hashkey) <= MaxHashKeyLen (65534). The length value 0xFFFF is
// reserved: keys starting with 0xFF 0xFF are the replica's internal keys
// (metadata), see InternalKey. Every user key therefore sorts below every
// internal key, and the whole user keyspace of a partition is
// [DataLowerBound, DataUpperBound).
//
// Order: comparing two encoded keys with bytes.Compare gives the same result
// as comparing the tuples (len(hashkey), hashkey, sortkey) lexicographically,
// where hashkey and sortkey compare bytewise. So all sortkeys of one hashkey
// are contiguous in the keyspace and ordered by sortkey, and a range of
// sortkeys of one hashkey is one contiguous key range (see SortKeyRange).
// Hashkeys themselves are ordered by length first, so a scan of a whole
// partition is not in hashkey byte order.
//
// # Partition hash
//
// Hash computes CRC-64 (hash/crc64, polynomial 0x9a6c9329ac4bc9b5) of the
// hashkey, or of the sortkey when the hashkey is empty. PartitionIndex maps a
// hash to one of a power-of-two number of partitions.
//
// # Stored value
//
// A stored value is a 13-byte header followed by the user value:
//
//	version u8 (ValueVersion) | expire_ts u32 BE | timetag u64 BE | user value
//
// expire_ts counts seconds since 2016-01-01 00:00:00 UTC (the Pegasus
// epoch); 0 means no TTL. A record is expired at time now when
// 0 < expire_ts <= EpochSeconds(now). The timetag packs
// timestamp_us<<8 | cluster_id<<1 | delete_flag and orders concurrent writes
// of duplicated tables (last writer wins).
//
// # Concurrency
//
// Everything here is a pure function or an immutable value; all of it is
// safe for concurrent use. Decoders return sub-slices of their input and
// never allocate in proportion to an untrusted length field.
package keyschema
