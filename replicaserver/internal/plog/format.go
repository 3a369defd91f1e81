package plog

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"strconv"
	"strings"

	"github.com/pegasus-go/pegasus/shared/protocol"
)

// On-disk format, version 1. All integers are little-endian.
//
//	segment = header record*
//	header  = magic u32 | version u32 | first_decree u64 | crc u32   (20 bytes)
//	record  = length u32 | crc u32 | payload[length]
//
// The header CRC covers the 16 bytes before it. A record CRC is CRC-32C
// (Castagnoli) over the payload; the payload is protocol.Mutation's
// AppendBinary encoding. A record's length is never 0, so a zero-filled tail
// is never mistaken for a record.
const (
	segmentMagic   uint32 = 0x474c5050 // "PPLG" read as little-endian bytes
	formatVersion  uint32 = 1
	headerSize            = 20
	frameSize             = 8
	segmentPrefix         = "log."
	tempSuffix            = ".tmp"
	lockFileName          = "LOCK"
	maxRecordBytes        = 64 << 20
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

func appendHeader(b []byte, first protocol.Decree) []byte {
	start := len(b)
	b = binary.LittleEndian.AppendUint32(b, segmentMagic)
	b = binary.LittleEndian.AppendUint32(b, formatVersion)
	b = binary.LittleEndian.AppendUint64(b, uint64(first))
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b[start:], crcTable))
}

// parseHeader validates a segment header and returns its first decree.
func parseHeader(h []byte) (protocol.Decree, error) {
	if len(h) < headerSize {
		return 0, fmt.Errorf("short segment header (%d bytes)", len(h))
	}
	if m := binary.LittleEndian.Uint32(h[0:]); m != segmentMagic {
		return 0, fmt.Errorf("bad segment magic %#08x", m)
	}
	if got, want := binary.LittleEndian.Uint32(h[16:]), crc32.Checksum(h[:16], crcTable); got != want {
		return 0, fmt.Errorf("segment header checksum mismatch (stored %#08x, computed %#08x)", got, want)
	}
	if v := binary.LittleEndian.Uint32(h[4:]); v != formatVersion {
		return 0, fmt.Errorf("unsupported segment format version %d", v)
	}
	first := protocol.Decree(binary.LittleEndian.Uint64(h[8:]))
	if first <= 0 {
		return 0, fmt.Errorf("invalid first decree %d in segment header", first)
	}
	return first, nil
}

// appendRecord appends the framed encoding of m to b.
func appendRecord(b []byte, m *protocol.Mutation) ([]byte, error) {
	start := len(b)
	b = append(b, make([]byte, frameSize)...)
	b, err := m.AppendBinary(b)
	if err != nil {
		return b[:start], fmt.Errorf("plog: encode mutation %d: %w", m.Decree, err)
	}
	n := len(b) - start - frameSize
	if n > maxRecordBytes {
		return b[:start], fmt.Errorf("%w: decree %d encodes to %d bytes (limit %d)", ErrRecordTooLarge, m.Decree, n, maxRecordBytes)
	}
	payload := b[start+frameSize:]
	binary.LittleEndian.PutUint32(b[start:], uint32(n))
	binary.LittleEndian.PutUint32(b[start+4:], crc32.Checksum(payload, crcTable))
	return b, nil
}

// segmentName formats a segment file name: log.<seq, 10 digits>.<first decree>.
// The zero-padded sequence number makes lexical order the creation order.
func segmentName(seq uint64, first protocol.Decree) string {
	return fmt.Sprintf("%s%010d.%d", segmentPrefix, seq, first)
}

// parseSegmentName parses a name made by segmentName.
func parseSegmentName(name string) (seq uint64, first protocol.Decree, ok bool) {
	rest, found := strings.CutPrefix(name, segmentPrefix)
	if !found {
		return 0, 0, false
	}
	seqStr, firstStr, found := strings.Cut(rest, ".")
	if !found || len(seqStr) == 0 || len(firstStr) == 0 {
		return 0, 0, false
	}
	seq, err := strconv.ParseUint(seqStr, 10, 64)
	if err != nil || seq == 0 {
		return 0, 0, false
	}
	f, err := strconv.ParseInt(firstStr, 10, 64)
	if err != nil || f <= 0 {
		return 0, 0, false
	}
	return seq, protocol.Decree(f), true
}
