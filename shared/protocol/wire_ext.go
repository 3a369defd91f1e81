package protocol

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"maps"
	"math"
	"math/bits"
	"slices"
)

// Fixed-width integers and size arithmetic used by the message codecs, on
// top of the helpers in wire.go. Hashes and checksums are uniformly
// distributed, so they are written fixed-width (a uvarint would take up to
// 10 bytes for a 64-bit hash).

// formatV1 is the first format version of every message type. Each type
// evolves its version independently: a type that changes layout gets its own
// constant for version 2 and keeps decoding version 1.
const formatV1 byte = 1

// AppendFixed32 appends v as 4 bytes, little-endian.
func AppendFixed32(b []byte, v uint32) []byte { return binary.LittleEndian.AppendUint32(b, v) }

// AppendFixed64 appends v as 8 bytes, little-endian.
func AppendFixed64(b []byte, v uint64) []byte { return binary.LittleEndian.AppendUint64(b, v) }

// Fixed32 reads 4 little-endian bytes.
func (d *Decoder) Fixed32() uint32 {
	if d.err != nil {
		return 0
	}
	if len(d.buf) < 4 {
		d.err = ErrTruncated
		return 0
	}
	v := binary.LittleEndian.Uint32(d.buf)
	d.buf = d.buf[4:]
	return v
}

// Fixed64 reads 8 little-endian bytes.
func (d *Decoder) Fixed64() uint64 {
	if d.err != nil {
		return 0
	}
	if len(d.buf) < 8 {
		d.err = ErrTruncated
		return 0
	}
	v := binary.LittleEndian.Uint64(d.buf)
	d.buf = d.buf[8:]
	return v
}

// Uint32 reads a uvarint that must fit in a uint32.
func (d *Decoder) Uint32() uint32 {
	v := d.Uvarint()
	if v > math.MaxUint32 {
		d.Fail("value %d out of uint32 range", v)
		return 0
	}
	return uint32(v)
}

// newOwningDecoder returns a decoder over a private copy of data, so byte
// slices read with Bytes alias that copy instead of the caller's buffer: one
// allocation per decoded message instead of one per byte field. Used by
// messages whose byte fields would otherwise each be copied.
func newOwningDecoder(data []byte) *Decoder { return NewDecoder(bytes.Clone(data)) }

// uvarintSize is the encoded size of v as a uvarint.
func uvarintSize(v uint64) int { return (bits.Len64(v|1) + 6) / 7 }

// varintSize is the encoded size of v as a zig-zag varint.
func varintSize(v int64) int { return uvarintSize(uint64(v<<1) ^ uint64(v>>63)) }

// bytesSize is the encoded size of a length-prefixed byte string.
func bytesSize(v []byte) int { return uvarintSize(uint64(len(v))) + len(v) }

// stringSize is the encoded size of a length-prefixed string.
func stringSize(v string) int { return uvarintSize(uint64(len(v))) + len(v) }

// encodeError reports a value that cannot be encoded, such as an unknown
// enum value; decoders would reject its encoding as malformed.
func encodeError(format string, args ...any) error {
	return fmt.Errorf("%w: cannot encode: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// Lists of byte strings (sortkeys) and strings (node addresses, env keys).

func appendBytesList(b []byte, l [][]byte) []byte {
	b = AppendUvarint(b, uint64(len(l)))
	for _, v := range l {
		b = AppendBytes(b, v)
	}
	return b
}

func bytesListSize(l [][]byte) int {
	n := uvarintSize(uint64(len(l)))
	for _, v := range l {
		n += bytesSize(v)
	}
	return n
}

func decodeBytesList(d *Decoder) [][]byte {
	n := d.Len(1)
	if n == 0 {
		return nil
	}
	out := make([][]byte, n)
	for i := range out {
		out[i] = d.Bytes()
	}
	return out
}

func appendStringList(b []byte, l []string) []byte {
	b = AppendUvarint(b, uint64(len(l)))
	for _, v := range l {
		b = AppendString(b, v)
	}
	return b
}

func decodeStringList(d *Decoder) []string {
	n := d.Len(1)
	if n == 0 {
		return nil
	}
	out := make([]string, n)
	for i := range out {
		out[i] = d.String()
	}
	return out
}

// appendStringMap writes a count and the pairs in ascending key order, so
// the encoding of a map is canonical. Sorting allocates the key list; maps
// only travel on the meta path.
func appendStringMap(b []byte, m map[string]string) []byte {
	b = AppendUvarint(b, uint64(len(m)))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		b = AppendString(b, k)
		b = AppendString(b, m[k])
	}
	return b
}

// decodeStringMap reads what appendStringMap wrote and rejects keys that are
// not strictly ascending (duplicates included). An empty map decodes as nil.
func decodeStringMap(d *Decoder) map[string]string {
	n := d.Len(2)
	if n == 0 {
		return nil
	}
	m := make(map[string]string, n)
	prev := ""
	for i := 0; i < n && d.Err() == nil; i++ {
		k := d.String()
		v := d.String()
		if i > 0 && k <= prev {
			d.Fail("map key %q not after %q", k, prev)
			return nil
		}
		m[k] = v
		prev = k
	}
	return m
}
