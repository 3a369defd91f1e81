// Package protocol defines everything that crosses a process boundary in
// Pegasus-Go: rpcx service and method names, request and response types for
// the data API, the meta API and replica<->replica / replica<->meta messages,
// the base identifiers (Gpid, Ballot, Decree) and the typed error codes.
//
// Every wire type implements Message with a compact hand-written binary
// encoding, and every RPC payload uses it: measured against rpcx's msgpack
// codec on the same structs (a SetRequest and a 100-entry MultiSetRequest)
// it encodes 7-8x and decodes 5-8x faster, with one allocation per encode
// and one or two per decode (docs/benchmarks.md, section "Wire
// codec"). Error codes are a typed enum converted to Go errors
// only at the RPC boundary.
//
// Where things are:
//
//	services.go      rpcx service and method names; Methods/LookupMethod table
//	data.go, scan.go data API (service Replica): RequestHeader and per-method types
//	meta.go          meta API (service Meta)
//	metainternal.go  replica<->meta (services MetaInternal and ReplicaControl)
//	peer.go          replica<->replica (service Peer)
//	config.go        AppInfo, PartitionConfiguration, NodeInfo, ReplicaInfo and enums
//	wire.go, wire_ext.go, codec.go  encoding helpers, Decoder, Sizer, Marshal
//
// Encoding invariants:
//
//   - Every encoding starts with a one-byte format version; decoders reject
//     versions they do not know with ErrMalformed. Types evolve their version
//     independently.
//   - AppendBinary appends to the caller's slice and allocates only to grow
//     it (and, for string maps, to sort the keys). Types implementing Sizer
//     report the exact encoded size so Marshal allocates once.
//   - UnmarshalBinary resets the receiver, never aliases its input (byte
//     fields share one private copy of it), rejects malformed input with
//     ErrMalformed or ErrTruncated, rejects trailing bytes, and never
//     allocates more than a small constant factor of the input size: every
//     count is checked against the bytes left. Empty byte strings, lists and
//     maps decode as nil. On error the receiver holds partial data.
//   - Unknown enum values are rejected when decoding and when encoding.
//   - Maps are encoded in ascending key order and must decode strictly
//     ascending, so each value has one encoding of its map fields.
//
// Concurrency: messages are plain values with no internal synchronization.
// Encoding only reads the message, so concurrent encodes of one message are
// safe; decoding writes the receiver and must not race with any other use
// of it. Methods and LookupMethod are safe for concurrent use.
package protocol
