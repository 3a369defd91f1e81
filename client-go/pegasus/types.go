package pegasus

import (
	"math"
	"time"

	"github.com/pegasus-go/pegasus/shared/keyschema"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

// KeyValue is one record. MultiGet fills HashKey with the requested
// hashkey; scans fill Expire (zero when the record has no TTL). Slices
// returned by the client are owned by the caller.
type KeyValue struct {
	HashKey []byte
	SortKey []byte
	Value   []byte
	// Expire is when the record expires (scans only); zero for no TTL.
	Expire time.Time
}

// Key is a full record key.
type Key struct {
	HashKey []byte
	SortKey []byte
}

// Filter selects keys by a byte pattern; the zero value matches every key.
type Filter = protocol.Filter

// FilterType says where a Filter's pattern must occur.
type FilterType = protocol.FilterType

// Filter types.
const (
	FilterNone     = protocol.FilterNone     // no filter
	FilterAnywhere = protocol.FilterAnywhere // the pattern occurs anywhere in the key
	FilterPrefix   = protocol.FilterPrefix   // the key starts with the pattern
	FilterPostfix  = protocol.FilterPostfix  // the key ends with the pattern
)

// CheckType is the condition CheckAndSet and CheckAndMutate test.
type CheckType = protocol.CheckType

// Check types; operand-free ones ignore the operand.
const (
	CheckNoCheck              = protocol.CheckNoCheck              // always passes
	CheckValueNotExist        = protocol.CheckValueNotExist        // the record does not exist
	CheckValueNotExistOrEmpty = protocol.CheckValueNotExistOrEmpty // missing or empty value
	CheckValueExist           = protocol.CheckValueExist           // the record exists
	CheckValueNotEmpty        = protocol.CheckValueNotEmpty        // exists with a non-empty value
	CheckMatchAnywhere        = protocol.CheckMatchAnywhere        // the value contains the operand
	CheckMatchPrefix          = protocol.CheckMatchPrefix          // the value starts with the operand
	CheckMatchPostfix         = protocol.CheckMatchPostfix         // the value ends with the operand
	CheckBytesLess            = protocol.CheckBytesLess            // value < operand, bytewise
	CheckBytesLessOrEqual     = protocol.CheckBytesLessOrEqual     // value <= operand, bytewise
	CheckBytesEqual           = protocol.CheckBytesEqual           // value == operand
	CheckBytesGreaterOrEqual  = protocol.CheckBytesGreaterOrEqual  // value >= operand, bytewise
	CheckBytesGreater         = protocol.CheckBytesGreater         // value > operand, bytewise
	CheckIntLess              = protocol.CheckIntLess              // int64 value < operand
	CheckIntLessOrEqual       = protocol.CheckIntLessOrEqual       // int64 value <= operand
	CheckIntEqual             = protocol.CheckIntEqual             // int64 value == operand
	CheckIntGreaterOrEqual    = protocol.CheckIntGreaterOrEqual    // int64 value >= operand
	CheckIntGreater           = protocol.CheckIntGreater           // int64 value > operand
)

// SetOptions tunes Set, MultiSet and BatchSet items.
type SetOptions struct {
	// TTL is the record's time to live, rounded up to whole seconds; zero
	// means no TTL.
	TTL time.Duration
}

// MultiGetOptions tunes MultiGet and MultiGetRange. The zero value reads
// [start, stop) with the server's default limits.
type MultiGetOptions struct {
	// StartExclusive excludes the start sortkey (MultiGetRange).
	StartExclusive bool
	// StopInclusive includes the stop sortkey (MultiGetRange); ignored
	// when the stop sortkey is empty (read to the end of the hashkey).
	StopInclusive bool
	// Filter keeps only matching sortkeys.
	Filter Filter
	// MaxCount and MaxSize bound the records and bytes returned; <= 0
	// means the server's default. A cut-short result reports complete ==
	// false.
	MaxCount int
	MaxSize  int
	// NoValue returns sortkeys only.
	NoValue bool
	// Reverse reads from the stop end.
	Reverse bool
}

// DelRangeOptions tunes DelRange. The zero value deletes [start, stop).
type DelRangeOptions struct {
	StartExclusive bool
	StopInclusive  bool
	// Filter deletes only matching sortkeys.
	Filter Filter
}

// IncrOptions tunes Incr. The zero value keeps the record's TTL.
type IncrOptions struct {
	// TTL, when positive, gives the record a new TTL.
	TTL time.Duration
	// ClearTTL removes the record's TTL. It cannot be combined with TTL.
	ClearTTL bool
}

// CheckAndSetOptions tunes CheckAndSet.
type CheckAndSetOptions struct {
	// TTL of the record written; zero means none.
	TTL time.Duration
	// ReturnCheckValue asks for the checked record's value.
	ReturnCheckValue bool
}

// CheckAndMutateOptions tunes CheckAndMutate.
type CheckAndMutateOptions struct {
	// ReturnCheckValue asks for the checked record's value.
	ReturnCheckValue bool
}

// CheckResult is what CheckAndSet and CheckAndMutate report about the
// checked record (when ReturnCheckValue was set).
type CheckResult struct {
	// Passed is true when the check passed and the write was applied.
	Passed bool
	// CheckValueReturned is true when the fields below are filled.
	CheckValueReturned bool
	// CheckValueExist says whether the checked record existed.
	CheckValueExist bool
	// CheckValue is its value (before the write).
	CheckValue []byte
}

// ScanOptions tunes scanners. The zero value scans [start, stop) in
// batches of the server's default size, with values.
type ScanOptions struct {
	// StartExclusive excludes the start sortkey (GetScanner).
	StartExclusive bool
	// StopInclusive includes the stop sortkey (GetScanner); ignored when
	// the stop sortkey is empty (scan to the end of the hashkey).
	StopInclusive bool
	// HashKeyFilter and SortKeyFilter keep only matching records.
	HashKeyFilter Filter
	SortKeyFilter Filter
	// BatchSize is the records fetched per round trip; <= 0 means the
	// server's default.
	BatchSize int
	// NoValue returns keys only.
	NoValue bool
}

// Mutations is a list of writes for CheckAndMutate, built with Set and
// Del (the zero value is empty and ready to use):
//
//	m := new(pegasus.Mutations).Set(sk1, v1, 0).Del(sk2)
//
// The byte slices are referenced, not copied, until the call returns.
type Mutations struct {
	list []protocol.Mutate
	err  error
}

// Set appends a write of sortKey with value and ttl (zero: no TTL).
func (m *Mutations) Set(sortKey, value []byte, ttl time.Duration) *Mutations {
	secs, err := ttlSeconds(ttl)
	if err != nil && m.err == nil {
		m.err = err
	}
	m.list = append(m.list, protocol.Mutate{Operation: protocol.MutatePut, SortKey: sortKey, Value: value, TTLSeconds: secs})
	return m
}

// Del appends a delete of sortKey.
func (m *Mutations) Del(sortKey []byte) *Mutations {
	m.list = append(m.list, protocol.Mutate{Operation: protocol.MutateDel, SortKey: sortKey})
	return m
}

// Len returns the number of mutations.
func (m *Mutations) Len() int { return len(m.list) }

// ttlSeconds converts a TTL to whole seconds, rounding up.
func ttlSeconds(d time.Duration) (int32, error) {
	switch {
	case d < 0:
		return 0, invalidArgf("ttl %v is negative", d)
	case d == 0:
		return 0, nil
	}
	s := (d + time.Second - 1) / time.Second
	if s > math.MaxInt32 {
		return 0, invalidArgf("ttl %v is too large", d)
	}
	return int32(s), nil
}

// checkHashKey validates a hashkey for routing.
func checkHashKey(hk []byte) error {
	switch {
	case len(hk) == 0:
		return invalidArgf("hashkey is empty")
	case len(hk) > keyschema.MaxHashKeyLen:
		return invalidArgf("hashkey of %d bytes exceeds %d", len(hk), keyschema.MaxHashKeyLen)
	}
	return nil
}

func checkFilter(name string, f Filter) error {
	if !f.Type.Valid() {
		return invalidArgf("%s filter type %d is unknown", name, f.Type)
	}
	return nil
}

func clampInt32(n int) int32 {
	switch {
	case n <= 0:
		return 0
	case n > math.MaxInt32:
		return math.MaxInt32
	}
	return int32(n)
}
