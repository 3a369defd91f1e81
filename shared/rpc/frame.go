package rpc

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	rpcxproto "github.com/smallnest/rpcx/protocol"

	"github.com/pegasus-go/pegasus/shared/protocol"
)

// The rpcx v1.9.1 frame, as written by protocol.Message.Encode:
//
//	offset size
//	0      1    magic number 0x08
//	1      1    protocol version (rpcx writes 0)
//	2      1    bit 7 message type (0 request, 1 response)
//	            bit 6 heartbeat, bit 5 one-way,
//	            bits 4..2 compress type (0 none, 1 gzip),
//	            bits 1..0 status (0 normal, 1 error)
//	3      1    bits 7..4 serialize type, bits 3..0 unused
//	4      8    sequence number, big endian
//	12     4    total: length of everything after this field, big endian
//	16     4+n  service path: uint32 length + bytes
//	...    4+n  service method: uint32 length + bytes
//	...    4+n  metadata: uint32 length + (uint32 klen, key, uint32 vlen, value)*
//	...    4+n  payload: uint32 length + bytes
//
// rpcx itself trusts every length: it allocates total bytes up front, slices
// the inner lengths without bounds checks (a panic it recovers from, leaving a
// half-decoded message and a nil error), ignores the payload length and
// gunzips without bound. The frame reader below checks all of it before rpcx
// sees a byte.

const (
	// frameHeaderLen is the fixed prefix: 12-byte header + 4-byte total.
	frameHeaderLen = 16
	// maxNameBytes bounds service path and method names.
	maxNameBytes = 256
	// maxMetadataEntries bounds the number of metadata pairs, so a frame
	// of small pairs cannot blow up into a huge map inside rpcx.
	maxMetadataEntries = 64
	// maxMetadataBytes bounds the metadata section.
	maxMetadataBytes = 64 << 10
	// frameProtocolVersion is the only rpcx protocol version accepted.
	frameProtocolVersion = 0
	// frameRetainBytes: buffers above this size are dropped after use so an
	// idle connection does not pin a large frame's memory.
	frameRetainBytes = 64 << 10
	// frameMinGrow is the first buffer size when a frame body is read.
	frameMinGrow = 4 << 10
)

// frameViolation describes a frame that breaks the rules. It carries the
// wire code sent back to the peer and, when the fixed header was read with a
// valid magic number, the peer's sequence number so the reply can be matched
// to the offending call.
type frameViolation struct {
	code     protocol.ErrorCode
	msg      string
	seq      uint64
	seqKnown bool
}

func (v *frameViolation) Error() string { return "rpc: invalid frame: " + v.msg }

// protocolError returns the violation as the wire error sent to the peer.
func (v *frameViolation) protocolError() *protocol.Error {
	return &protocol.Error{Code: v.code, Message: "invalid frame: " + v.msg}
}

// errTruncatedFrame is wrapped by frameReader.next when the stream ends
// inside a frame.
var errTruncatedFrame = errors.New("rpc: truncated frame")

// frameRules says which frames are acceptable on one side of a connection.
type frameRules struct {
	// maxBytes bounds the total length field.
	maxBytes int
	// msgType is the message type expected from the peer.
	msgType rpcxproto.MessageType
}

// violation builds the error for a frame whose 12-byte header (and so its
// sequence number) was read.
func violation(h []byte, code protocol.ErrorCode, format string, args ...any) error {
	return &frameViolation{code: code, msg: fmt.Sprintf(format, args...),
		seq: binary.BigEndian.Uint64(h[4:12]), seqKnown: true}
}

// checkHeader validates the 16-byte frame prefix and returns the length of
// the rest of the frame. It allocates nothing unless the frame is refused.
func (r *frameRules) checkHeader(h []byte) (int, error) {
	if len(h) < frameHeaderLen {
		return 0, &frameViolation{code: protocol.CodeInvalidArgument,
			msg: fmt.Sprintf("frame header of %d bytes, want %d", len(h), frameHeaderLen)}
	}
	if h[0] != rpcxproto.MagicNumber() {
		return 0, &frameViolation{code: protocol.CodeInvalidArgument,
			msg: fmt.Sprintf("bad magic number 0x%02x (want 0x%02x): not an rpcx frame", h[0], rpcxproto.MagicNumber())}
	}
	const bad = protocol.CodeInvalidArgument
	if h[1] != frameProtocolVersion {
		return 0, violation(h, bad, "unsupported protocol version %d (want %d)", h[1], frameProtocolVersion)
	}
	flags := h[2]
	msgType := rpcxproto.MessageType(flags >> 7)
	if msgType != r.msgType {
		return 0, violation(h, bad, "got a %s frame, want a %s", messageTypeName(msgType), messageTypeName(r.msgType))
	}
	if flags&0x40 != 0 {
		return 0, violation(h, bad, "heartbeat frames are not accepted")
	}
	if flags&0x20 != 0 {
		return 0, violation(h, bad, "one-way frames are not accepted")
	}
	if ct := (flags & 0x1C) >> 2; ct != byte(rpcxproto.None) {
		return 0, violation(h, bad, "compressed frames are refused (compress type %d); send payloads uncompressed", ct)
	}
	status := rpcxproto.MessageStatusType(flags & 0x03)
	switch {
	case r.msgType == rpcxproto.Request && status != rpcxproto.Normal:
		return 0, violation(h, bad, "request frame with status %d, want 0 (normal)", status)
	case status > rpcxproto.Error:
		return 0, violation(h, bad, "unknown message status %d", status)
	}
	if st := rpcxproto.SerializeType(h[3] >> 4); st != SerializeType {
		return 0, violation(h, bad, "serialize type %d is not accepted (want %d, the protocol.Message codec)", st, SerializeType)
	}
	total := binary.BigEndian.Uint32(h[12:16])
	if uint64(total) > uint64(r.maxBytes) {
		return 0, violation(h, protocol.CodeMessageTooLarge, "frame of %d bytes exceeds max_message_bytes %d", total, r.maxBytes)
	}
	if total < 16 {
		return 0, violation(h, bad, "frame of %d bytes is shorter than its four 4-byte length fields", total)
	}
	return int(total), nil
}

// The four length-prefixed sections of a frame body, in order, with the
// size limit of each (0: bounded only by the frame).
var frameSections = [4]struct {
	name  string
	limit int
}{
	{"service path", maxNameBytes},
	{"service method", maxNameBytes},
	{"metadata", maxMetadataBytes},
	{"payload", 0},
}

// checkBody validates the body (everything after the 16-byte prefix) of a
// frame whose header passed checkHeader. It allocates nothing unless the
// frame is refused.
func (r *frameRules) checkBody(h, body []byte) error {
	const bad = protocol.CodeInvalidArgument
	rest := body
	hasError := false
	for i, sec := range frameSections {
		if len(rest) < 4 {
			return violation(h, bad, "%s length field missing: %d bytes left", sec.name, len(rest))
		}
		n := uint64(binary.BigEndian.Uint32(rest))
		rest = rest[4:]
		if n > uint64(len(rest)) {
			return violation(h, bad, "inner lengths inconsistent: %s of %d bytes but only %d bytes left in the frame", sec.name, n, len(rest))
		}
		if sec.limit > 0 && n > uint64(sec.limit) {
			return violation(h, bad, "%s of %d bytes exceeds %d", sec.name, n, sec.limit)
		}
		if i == 2 {
			var err error
			if hasError, err = checkMetadata(rest[:n]); err != nil {
				return violation(h, bad, "%v", err)
			}
		}
		rest = rest[n:]
	}
	if len(rest) != 0 {
		return violation(h, bad, "inner lengths inconsistent: they add up to %d bytes but the frame holds %d", len(body)-len(rest), len(body))
	}
	if rpcxproto.MessageStatusType(h[2]&0x03) == rpcxproto.Error && !hasError {
		return violation(h, bad, "error response without %s metadata", rpcxproto.ServiceError)
	}
	return nil
}

// checkMetadata validates the metadata section exactly as rpcx will decode
// it (pairs of uint32-length-prefixed strings filling it completely) and
// reports whether the rpcx error key is present.
func checkMetadata(meta []byte) (hasError bool, err error) {
	entries := 0
	for len(meta) > 0 {
		var k []byte
		if k, meta, err = metadataString(meta, "key"); err != nil {
			return false, err
		}
		if _, meta, err = metadataString(meta, "value"); err != nil {
			return false, err
		}
		entries++
		if entries > maxMetadataEntries {
			return false, fmt.Errorf("metadata has more than %d entries", maxMetadataEntries)
		}
		if string(k) == rpcxproto.ServiceError {
			hasError = true
		}
	}
	return hasError, nil
}

func metadataString(b []byte, what string) (s, rest []byte, err error) {
	if len(b) < 4 {
		return nil, nil, fmt.Errorf("metadata %s length truncated (%d bytes left)", what, len(b))
	}
	n := uint64(binary.BigEndian.Uint32(b))
	b = b[4:]
	if n > uint64(len(b)) {
		return nil, nil, fmt.Errorf("metadata %s of %d bytes overruns the metadata section (%d bytes left)", what, n, len(b))
	}
	return b[:n], b[n:], nil
}

func messageTypeName(t rpcxproto.MessageType) string {
	if t == rpcxproto.Request {
		return "request"
	}
	return "response"
}

// frameReader reads whole frames from a stream and validates them. Memory
// use is bounded by the bytes the peer actually sent, never by the lengths
// it claims, and never exceeds frameHeaderLen + maxBytes for one frame.
//
// A frameReader is used by one goroutine.
type frameReader struct {
	br    *bufio.Reader
	rules frameRules
	buf   []byte
}

func newFrameReader(br *bufio.Reader, rules frameRules) *frameReader {
	return &frameReader{br: br, rules: rules}
}

// next returns the next complete, valid frame (header and body). The slice
// is valid until the next call. At a clean end of stream between frames it
// returns io.EOF; a stream ending inside a frame yields an error wrapping
// errTruncatedFrame; a rule violation yields a *frameViolation.
func (fr *frameReader) next() ([]byte, error) {
	if cap(fr.buf) > frameRetainBytes {
		fr.buf = nil
	}
	if cap(fr.buf) < frameHeaderLen {
		fr.buf = make([]byte, 0, frameMinGrow)
	}
	buf := fr.buf[:frameHeaderLen]
	if n, err := io.ReadFull(fr.br, buf); err != nil {
		if err == io.EOF {
			return nil, io.EOF
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w: header cut off after %d of %d bytes", errTruncatedFrame, n, frameHeaderLen)
		}
		return nil, err
	}
	total, err := fr.rules.checkHeader(buf)
	if err != nil {
		return nil, err
	}
	need := frameHeaderLen + total
	for len(buf) < need {
		if len(buf) == cap(buf) {
			grown := make([]byte, len(buf), min(need, max(2*cap(buf), frameMinGrow)))
			copy(grown, buf)
			buf = grown
			fr.buf = buf
		}
		end := min(cap(buf), need)
		n, err := io.ReadFull(fr.br, buf[len(buf):end])
		buf = buf[:len(buf)+n]
		if err != nil {
			if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
				return nil, fmt.Errorf("%w: got %d of %d bytes", errTruncatedFrame, len(buf), need)
			}
			return nil, err
		}
	}
	if err := fr.rules.checkBody(buf[:frameHeaderLen], buf[frameHeaderLen:]); err != nil {
		return nil, err
	}
	return buf, nil
}

// bufferedCap reports the capacity of the frame buffer (for tests).
func (fr *frameReader) bufferedCap() int { return cap(fr.buf) }
