package plog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"slices"
	"strings"

	"github.com/cockroachdb/pebble/vfs"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

// CorruptionError describes the first torn or corrupt spot of a log: the
// segment file, the byte offset of the bad record (0 for a bad header) and
// why it was rejected. errors.Is(err, ErrCorrupt) holds for it.
type CorruptionError struct {
	Segment string
	Offset  int64
	Reason  string
}

func (e *CorruptionError) Error() string {
	return fmt.Sprintf("plog: corrupt log: segment %s offset %d: %s", e.Segment, e.Offset, e.Reason)
}

// Unwrap makes errors.Is(err, ErrCorrupt) true.
func (e *CorruptionError) Unwrap() error { return ErrCorrupt }

// Record is one record as found on disk, reported by Scan.
type Record struct {
	Segment  string // segment file name
	Offset   int64  // byte offset of the record's frame in the segment
	Mutation *protocol.Mutation
}

// Scan reads the log in dir without modifying it and calls fn for every
// record in order, including records that a later re-append with a higher
// ballot superseded. It stops at the first torn or corrupt record (or
// header) and returns a *CorruptionError for it; an error from fn is returned
// as is. Scan is meant for inspection tools; it takes no lock and may run
// while a Log is appending (it then may report the unfinished tail as torn).
func Scan(fs vfs.FS, dir string, fn func(Record) error) error {
	segs, _, _, err := listDir(fs, dir)
	if err != nil {
		return err
	}
	var v validator
	for _, s := range segs {
		_, cerr, err := scanSegment(fs, dir, s, &v, func(off int64, m *protocol.Mutation, _ bool) error {
			return fn(Record{Segment: s.name, Offset: off, Mutation: m})
		})
		if err != nil {
			return err
		}
		if cerr != nil {
			return cerr
		}
	}
	return nil
}

// dirEntry is a segment file found in the log directory.
type dirEntry struct {
	seq   uint64
	first protocol.Decree
	name  string
}

// listDir returns the segment files of dir sorted by sequence number, the
// leftover temporary files, and any other unexpected names.
func listDir(fs vfs.FS, dir string) (segs []dirEntry, temps, others []string, err error) {
	names, err := fs.List(dir)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("plog: list %s: %w", dir, err)
	}
	for _, n := range names {
		switch {
		case n == lockFileName:
		case strings.HasPrefix(n, segmentPrefix) && strings.HasSuffix(n, tempSuffix):
			temps = append(temps, n)
		default:
			if seq, first, ok := parseSegmentName(n); ok {
				segs = append(segs, dirEntry{seq: seq, first: first, name: n})
			} else {
				others = append(others, n)
			}
		}
	}
	slices.SortFunc(segs, func(a, b dirEntry) int {
		switch {
		case a.seq < b.seq:
			return -1
		case a.seq > b.seq:
			return 1
		}
		return strings.Compare(a.name, b.name)
	})
	return segs, temps, others, nil
}

// validator applies the append ordering rules to a stream of mutations: the
// same rules Append enforces, so a log that Open accepts is one Append could
// have written.
type validator struct {
	last       protocol.Decree
	lastBallot protocol.Ballot
}

// check validates m against the log so far and reports whether it
// supersedes earlier records (a re-append with a higher ballot). It does not
// update v; see accept.
func (v *validator) check(m *protocol.Mutation) (supersede bool, err error) {
	if m.Decree <= 0 {
		return false, fmt.Errorf("%w: decree %d is not positive", ErrInvalidOrder, m.Decree)
	}
	if m.Ballot < 0 {
		return false, fmt.Errorf("%w: decree %d has negative ballot %d", ErrInvalidOrder, m.Decree, m.Ballot)
	}
	if v.last == 0 {
		return false, nil
	}
	if m.Decree > v.last {
		if m.Ballot < v.lastBallot {
			return false, fmt.Errorf("%w: decree %d has ballot %d, below the log's ballot %d",
				ErrInvalidOrder, m.Decree, m.Ballot, v.lastBallot)
		}
		return false, nil
	}
	if m.Ballot <= v.lastBallot {
		return false, fmt.Errorf("%w: decree %d (ballot %d) does not follow decree %d (ballot %d); re-appending needs a higher ballot",
			ErrInvalidOrder, m.Decree, m.Ballot, v.last, v.lastBallot)
	}
	return true, nil
}

func (v *validator) accept(m *protocol.Mutation) {
	v.last = m.Decree
	v.lastBallot = m.Ballot
}

// scanSegment reads and validates one segment. It calls fn (if not nil) for
// every valid record. It returns the segment's summary covering the valid
// prefix, a *CorruptionError describing where that prefix ends if the
// segment does not end cleanly, and an error only for IO failures or an
// error from fn.
func scanSegment(fs vfs.FS, dir string, e dirEntry, v *validator,
	fn func(off int64, m *protocol.Mutation, supersede bool) error) (segment, *CorruptionError, error) {
	info := segment{seq: e.seq, name: e.name, first: e.first}
	corrupt := func(off int64, format string, args ...any) (segment, *CorruptionError, error) {
		return info, &CorruptionError{Segment: e.name, Offset: off, Reason: fmt.Sprintf(format, args...)}, nil
	}
	f, err := fs.Open(fs.PathJoin(dir, e.name))
	if err != nil {
		return info, nil, fmt.Errorf("plog: open segment %s: %w", e.name, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return info, nil, fmt.Errorf("plog: stat segment %s: %w", e.name, err)
	}
	r := newSegmentReader(f, 0, st.Size())
	hdr, err := r.read(headerSize)
	if err != nil {
		if errors.Is(err, errShort) {
			return corrupt(0, "segment header torn (file is %d bytes)", st.Size())
		}
		return info, nil, fmt.Errorf("plog: read segment %s: %w", e.name, err)
	}
	first, herr := parseHeader(hdr)
	if herr != nil {
		return corrupt(0, "%v", herr)
	}
	if first != e.first {
		return corrupt(0, "file name says first decree %d, header says %d", e.first, first)
	}
	r.off = headerSize
	info.size = headerSize
	for r.off < r.limit {
		off := r.off
		payload, reason, err := r.next()
		if err != nil {
			return info, nil, fmt.Errorf("plog: read segment %s: %w", e.name, err)
		}
		if reason != "" {
			return corrupt(off, "%s", reason)
		}
		m := new(protocol.Mutation)
		if err := m.UnmarshalBinary(payload); err != nil {
			return corrupt(off, "undecodable mutation: %v", err)
		}
		if off == headerSize && m.Decree != first {
			return corrupt(off, "first record has decree %d, header says %d", m.Decree, first)
		}
		supersede, err := v.check(m)
		if err != nil {
			return corrupt(off, "%v", err)
		}
		if fn != nil {
			if err := fn(off, m, supersede); err != nil {
				return info, nil, err
			}
		}
		v.accept(m)
		info.addRecord(m, r.off)
	}
	if info.size == headerSize {
		return corrupt(headerSize, "segment has no records")
	}
	return info, nil, nil
}

// errShort means fewer bytes than asked for remain before the reader's limit.
var errShort = errors.New("short read")

// segmentReader reads records sequentially from one segment file through a
// window buffer. It never reads at or past limit, and never allocates more
// than the bytes that exist below limit.
type segmentReader struct {
	f      vfs.File
	off    int64 // offset of the next byte to consume
	limit  int64 // bytes below limit may be read
	buf    []byte
	bufOff int64 // file offset of buf[0]
}

const readChunk = 256 << 10

func newSegmentReader(f vfs.File, off, limit int64) *segmentReader {
	return &segmentReader{f: f, off: off, limit: limit}
}

// read returns the n bytes at r.off without consuming them. The slice
// aliases r's buffer and is valid until the next call.
func (r *segmentReader) read(n int) ([]byte, error) {
	if int64(n) > r.limit-r.off {
		return nil, errShort
	}
	end := r.off + int64(n)
	if r.off >= r.bufOff && end <= r.bufOff+int64(len(r.buf)) {
		return r.buf[r.off-r.bufOff : end-r.bufOff], nil
	}
	want := max(int64(n), min(readChunk, r.limit-r.off))
	if int64(cap(r.buf)) < want {
		r.buf = make([]byte, want)
	}
	r.buf = r.buf[:want]
	got, err := r.f.ReadAt(r.buf, r.off)
	if int64(got) < want {
		r.buf = r.buf[:0]
		if err == nil || err == io.EOF {
			// The file is shorter than the limit says: someone truncated it
			// behind our back.
			return nil, fmt.Errorf("file ended at offset %d, before %d", r.off+int64(got), r.off+want)
		}
		return nil, err
	}
	r.bufOff = r.off
	return r.buf[:n], nil
}

// next consumes the record at r.off and returns its payload (aliasing r's
// buffer). A record that is torn or fails its checks is reported through
// reason, with r.off left at its start; err is for IO failures only.
func (r *segmentReader) next() (payload []byte, reason string, err error) {
	rest := r.limit - r.off
	fh, err := r.read(frameSize)
	if errors.Is(err, errShort) {
		return nil, fmt.Sprintf("torn frame header (%d bytes left)", rest), nil
	}
	if err != nil {
		return nil, "", err
	}
	n := binary.LittleEndian.Uint32(fh)
	sum := binary.LittleEndian.Uint32(fh[4:])
	switch {
	case n == 0:
		return nil, "zero record length", nil
	case n > maxRecordBytes:
		return nil, fmt.Sprintf("record length %d exceeds the limit %d", n, maxRecordBytes), nil
	case int64(n) > rest-frameSize:
		return nil, fmt.Sprintf("torn record: length %d but %d bytes left", n, rest-frameSize), nil
	}
	whole, err := r.read(frameSize + int(n))
	if err != nil {
		return nil, "", err
	}
	payload = whole[frameSize:]
	if got := crc32.Checksum(payload, crcTable); got != sum {
		return nil, fmt.Sprintf("checksum mismatch (stored %#08x, computed %#08x)", sum, got), nil
	}
	r.off += frameSize + int64(n)
	return payload, "", nil
}
