package keyschema

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// MaxHashKeyLen is the largest hashkey length a storage key can carry. The
// length value 0xFFFF is reserved for internal keys.
const MaxHashKeyLen = 0xFFFF - 1

// keyLenSize is the size of the hashkey length prefix.
const keyLenSize = 2

// Sentinel errors.
var (
	// ErrHashKeyTooLong is returned when a hashkey exceeds MaxHashKeyLen.
	ErrHashKeyTooLong = errors.New("keyschema: hashkey longer than 65534 bytes")
	// ErrMalformedKey is returned by DecodeKey for a key that is too short
	// for its length prefix or that is an internal key.
	ErrMalformedKey = errors.New("keyschema: malformed storage key")
)

// internalPrefix starts every internal key.
var internalPrefix = [keyLenSize]byte{0xFF, 0xFF}

// DataLowerBound returns the smallest possible user key (inclusive bound of
// a partition's user keyspace). The caller owns the returned slice.
func DataLowerBound() []byte { return []byte{0x00, 0x00} }

// DataUpperBound returns the exclusive upper bound of a partition's user
// keyspace: the prefix of internal keys. The caller owns the returned slice.
func DataUpperBound() []byte { return []byte{0xFF, 0xFF} }

// InternalKey returns the internal (non-user) key named name: 0xFF 0xFF
// followed by name. Internal keys sort after every user key.
func InternalKey(name string) []byte {
	k := make([]byte, 0, keyLenSize+len(name))
	k = append(k, internalPrefix[:]...)
	return append(k, name...)
}

// IsInternalKey reports whether key belongs to the reserved internal
// keyspace.
func IsInternalKey(key []byte) bool {
	return len(key) >= keyLenSize && key[0] == 0xFF && key[1] == 0xFF
}

// AppendKey appends the storage key of (hashKey, sortKey) to dst.
func AppendKey(dst, hashKey, sortKey []byte) ([]byte, error) {
	if len(hashKey) > MaxHashKeyLen {
		return dst, fmt.Errorf("%w: %d bytes", ErrHashKeyTooLong, len(hashKey))
	}
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(hashKey)))
	dst = append(dst, hashKey...)
	return append(dst, sortKey...), nil
}

// EncodeKey returns the storage key of (hashKey, sortKey) in a new slice.
func EncodeKey(hashKey, sortKey []byte) ([]byte, error) {
	if len(hashKey) > MaxHashKeyLen {
		return nil, fmt.Errorf("%w: %d bytes", ErrHashKeyTooLong, len(hashKey))
	}
	return AppendKey(make([]byte, 0, keyLenSize+len(hashKey)+len(sortKey)), hashKey, sortKey)
}

// DecodeKey splits a storage key into its hashkey and sortkey. Both results
// alias key. It fails with ErrMalformedKey when key is shorter than its
// length prefix says or is an internal key.
func DecodeKey(key []byte) (hashKey, sortKey []byte, err error) {
	if len(key) < keyLenSize {
		return nil, nil, fmt.Errorf("%w: %d bytes, shorter than the length prefix", ErrMalformedKey, len(key))
	}
	n := int(binary.BigEndian.Uint16(key))
	if n > MaxHashKeyLen {
		return nil, nil, fmt.Errorf("%w: internal key", ErrMalformedKey)
	}
	if len(key)-keyLenSize < n {
		return nil, nil, fmt.Errorf("%w: hashkey length %d exceeds remaining %d bytes", ErrMalformedKey, n, len(key)-keyLenSize)
	}
	return key[keyLenSize : keyLenSize+n : keyLenSize+n], key[keyLenSize+n:], nil
}

// HashKeyPrefix returns the prefix every storage key of hashKey starts
// with: the length prefix and the hashkey.
func HashKeyPrefix(hashKey []byte) ([]byte, error) { return EncodeKey(hashKey, nil) }

// HashKeyRange returns the key range [lower, upper) holding exactly the
// records of hashKey.
func HashKeyRange(hashKey []byte) (lower, upper []byte, err error) {
	lower, err = HashKeyPrefix(hashKey)
	if err != nil {
		return nil, nil, err
	}
	return lower, PrefixEnd(lower), nil
}

// PrefixEnd returns the smallest key greater than every key that starts
// with prefix, or nil when there is none (prefix empty or all 0xFF bytes).
// For a HashKeyPrefix the result is never nil and never exceeds
// DataUpperBound. The result is a new slice.
func PrefixEnd(prefix []byte) []byte {
	for i := len(prefix) - 1; i >= 0; i-- {
		if prefix[i] != 0xFF {
			end := make([]byte, i+1)
			copy(end, prefix)
			end[i]++
			return end
		}
	}
	return nil
}

// Successor returns the immediate successor of key in byte order (key
// followed by 0x00), in a new slice.
func Successor(key []byte) []byte {
	s := make([]byte, len(key)+1)
	copy(s, key)
	return s
}

// LowerBound returns the inclusive lower iteration bound for sortkeys of
// hashKey starting at sortKey: the key itself when inclusive, else its
// successor.
func LowerBound(hashKey, sortKey []byte, inclusive bool) ([]byte, error) {
	k, err := EncodeKey(hashKey, sortKey)
	if err != nil || inclusive {
		return k, err
	}
	return append(k, 0x00), nil
}

// UpperBound returns the exclusive upper iteration bound for sortkeys of
// hashKey ending at sortKey: the successor of the key when inclusive, else
// the key itself.
func UpperBound(hashKey, sortKey []byte, inclusive bool) ([]byte, error) {
	k, err := EncodeKey(hashKey, sortKey)
	if err != nil || !inclusive {
		return k, err
	}
	return append(k, 0x00), nil
}

// SortKeyRange returns the key range [lower, upper) of hashKey's records
// whose sortkey lies between start and stop. An empty start begins at the
// first sortkey of hashKey (startInclusive then decides whether the empty
// sortkey itself is included); an empty stop runs to the end of hashKey and
// stopInclusive is ignored. When the range is empty, lower >= upper.
func SortKeyRange(hashKey, start []byte, startInclusive bool, stop []byte, stopInclusive bool) (lower, upper []byte, err error) {
	lower, err = LowerBound(hashKey, start, startInclusive)
	if err != nil {
		return nil, nil, err
	}
	if len(stop) == 0 {
		return lower, PrefixEnd(lower[:keyLenSize+len(hashKey)]), nil
	}
	upper, err = UpperBound(hashKey, stop, stopInclusive)
	if err != nil {
		return nil, nil, err
	}
	return lower, upper, nil
}
