package protocol

import (
	"bytes"
	"strconv"
)

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

// Match reports whether key passes the filter. An empty pattern or
// FilterNone (or an unknown type) matches everything.
func (f Filter) Match(key []byte) bool {
	switch f.Type {
	case FilterAnywhere:
		return bytes.Contains(key, f.Pattern)
	case FilterPrefix:
		return bytes.HasPrefix(key, f.Pattern)
	case FilterPostfix:
		return bytes.HasSuffix(key, f.Pattern)
	}
	return true
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

// Evaluate evaluates the check against a record (exists, value) with
// Pegasus's semantics: every check but NoCheck and the NotExist variants
// needs the record to exist; match checks with an empty operand pass for
// any existing record; int comparisons parse both sides as decimal int64
// and return a CodeInvalidArgument error when either does not parse (and
// the record exists). An unknown check type is CodeInvalidArgument.
func (c CheckType) Evaluate(exists bool, value, operand []byte) (bool, error) {
	switch c {
	case CheckNoCheck:
		return true, nil
	case CheckValueNotExist:
		return !exists, nil
	case CheckValueNotExistOrEmpty:
		return !exists || len(value) == 0, nil
	case CheckValueExist:
		return exists, nil
	case CheckValueNotEmpty:
		return exists && len(value) > 0, nil
	}
	if !c.Valid() {
		return false, Errorf(CodeInvalidArgument, "unknown check type %d", c)
	}
	if !exists {
		return false, nil
	}
	switch c {
	case CheckMatchAnywhere:
		return bytes.Contains(value, operand), nil
	case CheckMatchPrefix:
		return bytes.HasPrefix(value, operand), nil
	case CheckMatchPostfix:
		return bytes.HasSuffix(value, operand), nil
	case CheckBytesLess:
		return bytes.Compare(value, operand) < 0, nil
	case CheckBytesLessOrEqual:
		return bytes.Compare(value, operand) <= 0, nil
	case CheckBytesEqual:
		return bytes.Equal(value, operand), nil
	case CheckBytesGreaterOrEqual:
		return bytes.Compare(value, operand) >= 0, nil
	case CheckBytesGreater:
		return bytes.Compare(value, operand) > 0, nil
	}
	v, err := strconv.ParseInt(string(value), 10, 64)
	if err != nil {
		return false, Errorf(CodeInvalidArgument, "check: stored value %q is not an integer", truncateForError(value))
	}
	op, err := strconv.ParseInt(string(operand), 10, 64)
	if err != nil {
		return false, Errorf(CodeInvalidArgument, "check: operand %q is not an integer", truncateForError(operand))
	}
	switch c {
	case CheckIntLess:
		return v < op, nil
	case CheckIntLessOrEqual:
		return v <= op, nil
	case CheckIntEqual:
		return v == op, nil
	case CheckIntGreaterOrEqual:
		return v >= op, nil
	default: // CheckIntGreater, the last valid type
		return v > op, nil
	}
}

// truncateForError shortens v to at most 32 bytes for an error message.
func truncateForError(v []byte) []byte {
	if len(v) > 32 {
		return v[:32]
	}
	return v
}

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
