package protocol

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// ErrTruncated is returned by decoders when the input ends in the middle of
// a value.
var ErrTruncated = errors.New("protocol: truncated message")

// ErrMalformed is returned by decoders when the input is not a valid
// encoding (a length past the end, an unknown enum value, trailing bytes).
var ErrMalformed = errors.New("protocol: malformed message")

// The binary encoding is deliberately simple: unsigned integers are uvarints,
// signed integers zig-zag varints, byte strings a uvarint length followed by
// the bytes, booleans one byte, slices a uvarint count followed by the
// elements. Every message type starts with a one-byte format version so
// fields can be added later.

// AppendUvarint appends v as a uvarint.
func AppendUvarint(b []byte, v uint64) []byte { return binary.AppendUvarint(b, v) }

// AppendVarint appends v as a zig-zag varint.
func AppendVarint(b []byte, v int64) []byte { return binary.AppendVarint(b, v) }

// AppendBytes appends a length-prefixed byte string.
func AppendBytes(b, v []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

// AppendString appends a length-prefixed string.
func AppendString(b []byte, v string) []byte {
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

// AppendBool appends one byte, 1 for true.
func AppendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

// Decoder reads the encoding produced by the Append helpers. The first error
// sticks: later reads return zero values, and Err reports it. Bytes returned
// by Bytes alias the input; BytesCopy copies.
type Decoder struct {
	buf []byte
	err error
}

// NewDecoder returns a decoder over data.
func NewDecoder(data []byte) *Decoder { return &Decoder{buf: data} }

// Err returns the first error met, or nil.
func (d *Decoder) Err() error { return d.err }

// Remaining reports how many bytes are left.
func (d *Decoder) Remaining() int { return len(d.buf) }

// Fail records err (wrapped with ErrMalformed) unless an error is already
// recorded.
func (d *Decoder) Fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
	}
}

// Finish reports an error if bytes remain after the last field.
func (d *Decoder) Finish() error {
	if d.err == nil && len(d.buf) != 0 {
		d.err = fmt.Errorf("%w: %d trailing bytes", ErrMalformed, len(d.buf))
	}
	return d.err
}

// Uvarint reads a uvarint.
func (d *Decoder) Uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.buf)
	if n <= 0 {
		if n == 0 {
			d.err = ErrTruncated
		} else {
			d.Fail("uvarint overflows 64 bits")
		}
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

// Varint reads a zig-zag varint.
func (d *Decoder) Varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.buf)
	if n <= 0 {
		if n == 0 {
			d.err = ErrTruncated
		} else {
			d.Fail("varint overflows 64 bits")
		}
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

// Int32 reads a varint that must fit in an int32.
func (d *Decoder) Int32() int32 {
	v := d.Varint()
	if v < math.MinInt32 || v > math.MaxInt32 {
		d.Fail("value %d out of int32 range", v)
		return 0
	}
	return int32(v)
}

// Byte reads one byte.
func (d *Decoder) Byte() byte {
	if d.err != nil {
		return 0
	}
	if len(d.buf) == 0 {
		d.err = ErrTruncated
		return 0
	}
	v := d.buf[0]
	d.buf = d.buf[1:]
	return v
}

// Bool reads one byte that must be 0 or 1.
func (d *Decoder) Bool() bool {
	switch v := d.Byte(); v {
	case 0:
		return false
	case 1:
		return true
	default:
		d.Fail("bool byte %d", v)
		return false
	}
}

// Len reads a count or length and checks that at least min*count bytes
// remain, so a hostile length cannot make the caller allocate much more than
// the message size.
func (d *Decoder) Len(minElemSize int) int {
	v := d.Uvarint()
	if d.err != nil {
		return 0
	}
	if minElemSize < 1 {
		minElemSize = 1
	}
	if v > uint64(len(d.buf)/minElemSize) {
		if v > uint64(len(d.buf)) {
			d.err = ErrTruncated
		} else {
			d.Fail("count %d exceeds remaining %d bytes", v, len(d.buf))
		}
		return 0
	}
	return int(v)
}

// Bytes reads a length-prefixed byte string aliasing the input. A zero
// length yields nil.
func (d *Decoder) Bytes() []byte {
	v := d.Uvarint()
	if d.err != nil {
		return nil
	}
	if v > uint64(len(d.buf)) {
		d.err = ErrTruncated
		return nil
	}
	if v == 0 {
		return nil
	}
	out := d.buf[:v:v]
	d.buf = d.buf[v:]
	return out
}

// BytesCopy reads a length-prefixed byte string into a new slice.
func (d *Decoder) BytesCopy() []byte {
	b := d.Bytes()
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}

// String reads a length-prefixed string.
func (d *Decoder) String() string { return string(d.Bytes()) }

// Version reads the leading format version byte and fails unless it is at
// most max.
func (d *Decoder) Version(max byte) byte {
	v := d.Byte()
	if d.err == nil && (v == 0 || v > max) {
		d.Fail("unsupported format version %d (max %d)", v, max)
	}
	return v
}
