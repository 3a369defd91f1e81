package protocol

// Enums and small structs of the data API that both the wire requests and
// the storage engine use. Values are part of the wire format.

// FilterType selects how a hashkey or sortkey filter pattern matches.
type FilterType uint8

const (
	FilterNone     FilterType = 0 // no filter
	FilterAnywhere FilterType = 1 // the pattern occurs anywhere in the key
	FilterPrefix   FilterType = 2 // the key starts with the pattern
	FilterPostfix  FilterType = 3 // the key ends with the pattern
)

// Valid reports whether f is a known filter type.
func (f FilterType) Valid() bool { return f <= FilterPostfix }

// Filter is a filter type with its pattern. An empty pattern matches all.
type Filter struct {
	Type    FilterType
	Pattern []byte
}

// CheckType is the condition of check_and_set and check_and_mutate, with
// Pegasus's semantics.
type CheckType uint8

const (
	CheckNoCheck              CheckType = 0  // always passes
	CheckValueNotExist        CheckType = 1  // the record does not exist
	CheckValueNotExistOrEmpty CheckType = 2  // the record does not exist or its value is empty
	CheckValueExist           CheckType = 3  // the record exists
	CheckValueNotEmpty        CheckType = 4  // the record exists and its value is not empty
	CheckMatchAnywhere        CheckType = 5  // the value contains the operand
	CheckMatchPrefix          CheckType = 6  // the value starts with the operand
	CheckMatchPostfix         CheckType = 7  // the value ends with the operand
	CheckBytesLess            CheckType = 8  // value < operand, bytewise
	CheckBytesLessOrEqual     CheckType = 9  // value <= operand, bytewise
	CheckBytesEqual           CheckType = 10 // value == operand
	CheckBytesGreaterOrEqual  CheckType = 11 // value >= operand, bytewise
	CheckBytesGreater         CheckType = 12 // value > operand, bytewise
	CheckIntLess              CheckType = 13 // both parse as int64 and value < operand
	CheckIntLessOrEqual       CheckType = 14 // both parse as int64 and value <= operand
	CheckIntEqual             CheckType = 15 // both parse as int64 and value == operand
	CheckIntGreaterOrEqual    CheckType = 16 // both parse as int64 and value >= operand
	CheckIntGreater           CheckType = 17 // both parse as int64 and value > operand
)

// Valid reports whether c is a known check type.
func (c CheckType) Valid() bool { return c <= CheckIntGreater }

// MutateOperation is one step of check_and_mutate.
type MutateOperation uint8

const (
	MutatePut MutateOperation = 0 // set sortkey to value with TTL
	MutateDel MutateOperation = 1 // delete sortkey
)

// Mutate is one operation of check_and_mutate, applied to the request's
// hashkey.
type Mutate struct {
	Operation  MutateOperation
	SortKey    []byte
	Value      []byte // MutatePut only
	TTLSeconds int32  // MutatePut only; 0 = no TTL
}

// KeyValue is a sortkey/value pair of one hashkey, as multi_get and
// multi_set carry them.
type KeyValue struct {
	SortKey []byte
	Value   []byte
}
