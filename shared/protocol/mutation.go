package protocol

import "strconv"

// OpCode names the kind of client write an Update carries. Values are part
// of the plog and wire format.
type OpCode uint8

const (
	OpEmpty          OpCode = 0 // no-op write an idle primary issues to advance the commit point
	OpPut            OpCode = 1 // set
	OpMultiPut       OpCode = 2 // multi_set
	OpRemove         OpCode = 3 // del
	OpMultiRemove    OpCode = 4 // multi_del
	OpDelRange       OpCode = 5 // del_range
	OpIncr           OpCode = 6 // incr
	OpCheckAndSet    OpCode = 7 // check_and_set
	OpCheckAndMutate OpCode = 8 // check_and_mutate
	OpDuplicate      OpCode = 9 // a batch that arrived by duplication
)

// opCodeNames are the names OpCode.String returns, indexed by op code.
var opCodeNames = [...]string{
	OpEmpty:          "empty",
	OpPut:            "put",
	OpMultiPut:       "multi_put",
	OpRemove:         "remove",
	OpMultiRemove:    "multi_remove",
	OpDelRange:       "del_range",
	OpIncr:           "incr",
	OpCheckAndSet:    "check_and_set",
	OpCheckAndMutate: "check_and_mutate",
	OpDuplicate:      "duplicate",
}

// String returns a short lower-case name for o ("put", "incr", ...), or
// "op(N)" for an unknown op code N.
func (o OpCode) String() string {
	if int(o) < len(opCodeNames) {
		return opCodeNames[o]
	}
	return "op(" + strconv.Itoa(int(o)) + ")"
}

// Idempotent reports whether applying the op twice has the same effect as
// once; only idempotent updates are batched together and blindly retried.
func (o OpCode) Idempotent() bool {
	switch o {
	case OpIncr, OpCheckAndSet, OpCheckAndMutate:
		return false
	}
	return true
}

// Update is one client write inside a mutation: its op code and the encoded
// request body (the request type's AppendBinary output).
type Update struct {
	Op   OpCode
	Body []byte
}

// Mutation is the unit of replication and of the plog: a batch of updates
// assigned one decree under one ballot. LastCommitted is the primary's
// commit point when it prepared the mutation. TimestampUs is the primary's
// wall clock (microseconds since the Unix epoch) at assignment; duplication
// uses it for timetags.
type Mutation struct {
	Ballot        Ballot
	Decree        Decree
	LastCommitted Decree
	TimestampUs   int64
	// Flags change how every replica applies the mutation; the primary
	// sets them, so all replicas apply it the same way.
	Flags   MutationFlags
	Updates []Update
}

// MutationFlags are per-mutation apply options.
type MutationFlags uint8

const (
	// MutationDupTimetags: the table is duplicated. Local writes get the
	// timetag max(mutation timestamp, stored timestamp + 1) with this
	// cluster's id, deletes leave timetagged tombstones, and OpDuplicate
	// entries apply last-writer-wins. See DESIGN section 6.
	MutationDupTimetags MutationFlags = 1 << 0

	knownMutationFlags = MutationDupTimetags
)

// A mutation without flags is encoded in version 1, the original plog and
// wire format; one with flags in version 2, which adds a flags byte after
// the timestamp.
const (
	mutationVersion      = 1
	mutationVersionFlags = 2
)

// AppendBinary implements Message.
func (m *Mutation) AppendBinary(b []byte) ([]byte, error) {
	if m.Flags&^knownMutationFlags != 0 {
		return b, encodeError("unknown mutation flags %#x", uint8(m.Flags))
	}
	version := byte(mutationVersion)
	if m.Flags != 0 {
		version = mutationVersionFlags
	}
	b = append(b, version)
	b = AppendVarint(b, int64(m.Ballot))
	b = AppendVarint(b, int64(m.Decree))
	b = AppendVarint(b, int64(m.LastCommitted))
	b = AppendVarint(b, m.TimestampUs)
	if version == mutationVersionFlags {
		b = append(b, byte(m.Flags))
	}
	b = AppendUvarint(b, uint64(len(m.Updates)))
	for _, u := range m.Updates {
		b = append(b, byte(u.Op))
		b = AppendBytes(b, u.Body)
	}
	return b, nil
}

// UnmarshalBinary implements Message. Update bodies are copied.
func (m *Mutation) UnmarshalBinary(data []byte) error {
	d := NewDecoder(data)
	version := d.Version(mutationVersionFlags)
	m.Ballot = Ballot(d.Varint())
	m.Decree = Decree(d.Varint())
	m.LastCommitted = Decree(d.Varint())
	m.TimestampUs = d.Varint()
	m.Flags = 0
	if version == mutationVersionFlags {
		m.Flags = MutationFlags(d.Byte())
		if d.Err() == nil && (m.Flags == 0 || m.Flags&^knownMutationFlags != 0) {
			d.Fail("invalid mutation flags %#x", uint8(m.Flags))
		}
	}
	n := d.Len(2)
	m.Updates = nil
	if n > 0 {
		m.Updates = make([]Update, n)
	}
	for i := 0; i < n && d.Err() == nil; i++ {
		op := OpCode(d.Byte())
		if op > OpDuplicate {
			d.Fail("unknown op code %d", op)
		}
		m.Updates[i] = Update{Op: op, Body: d.BytesCopy()}
	}
	return d.Finish()
}
