package plog

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/cockroachdb/pebble/vfs"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

const testDir = "/plog"

// mut builds a mutation with one put update whose body depends on decree
// and ballot, so versions of one decree differ.
func mut(d protocol.Decree, b protocol.Ballot) *protocol.Mutation {
	return &protocol.Mutation{
		Ballot:        b,
		Decree:        d,
		LastCommitted: max(d-1, 0),
		TimestampUs:   1_700_000_000_000_000 + int64(d),
		Updates: []protocol.Update{{
			Op:   protocol.OpPut,
			Body: []byte(fmt.Sprintf("decree=%d ballot=%d %s", d, b, bytes.Repeat([]byte{'x'}, 40))),
		}},
	}
}

func muts(from, to protocol.Decree, b protocol.Ballot) []*protocol.Mutation {
	var out []*protocol.Mutation
	for d := from; d <= to; d++ {
		out = append(out, mut(d, b))
	}
	return out
}

// logBuffer is a concurrency-safe writer for a test slog handler.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func testOpts(fs vfs.FS, logs io.Writer) Options {
	o := Options{FS: fs, Dir: testDir, SegmentSizeBytes: 1024}
	if logs != nil {
		o.Logger = slog.New(slog.NewTextHandler(logs, nil))
	}
	return o
}

func mustOpen(t testing.TB, opts Options) *Log {
	t.Helper()
	l, err := Open(opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return l
}

func mustAppend(t testing.TB, l *Log, ms ...*protocol.Mutation) {
	t.Helper()
	if err := l.Append(ms); err != nil {
		t.Fatalf("Append: %v", err)
	}
}

func replayAll(t testing.TB, l *Log, from protocol.Decree) []*protocol.Mutation {
	t.Helper()
	var out []*protocol.Mutation
	if err := l.Replay(from, func(m *protocol.Mutation) error {
		out = append(out, m)
		return nil
	}); err != nil {
		t.Fatalf("Replay(%d): %v", from, err)
	}
	return out
}

// decreesBallots renders mutations as "d@b" for compact comparisons.
func decreesBallots(ms []*protocol.Mutation) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = fmt.Sprintf("%d@%d", m.Decree, m.Ballot)
	}
	return out
}

func wantSame(t testing.TB, got, want []*protocol.Mutation) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d mutations %v, want %d %v", len(got), decreesBallots(got), len(want), decreesBallots(want))
	}
	for i := range got {
		g, err := got[i].AppendBinary(nil)
		if err != nil {
			t.Fatal(err)
		}
		w, err := want[i].AppendBinary(nil)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(g, w) {
			t.Fatalf("mutation %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
}

func segmentNames(t testing.TB, fs vfs.FS) []string {
	t.Helper()
	segs, _, _, err := listDir(fs, testDir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range segs {
		names = append(names, s.name)
	}
	return names
}

func readFile(t testing.TB, fs vfs.FS, name string) []byte {
	t.Helper()
	f, err := fs.Open(fs.PathJoin(testDir, name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeFile(t testing.TB, fs vfs.FS, name string, data []byte) {
	t.Helper()
	f, err := fs.Create(fs.PathJoin(testDir, name))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(slices.Clone(data)); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// recordOffsets returns the frame offsets of every record in a segment file.
func recordOffsets(t testing.TB, fs vfs.FS, name string) []int64 {
	t.Helper()
	var offs []int64
	if err := Scan(fs, testDir, func(r Record) error {
		if r.Segment == name {
			offs = append(offs, r.Offset)
		}
		return nil
	}); err != nil {
		t.Fatalf("Scan: %v", err)
	}
	return offs
}

// recordsOf returns the mutations stored in one segment file.
func recordsOf(t testing.TB, fs vfs.FS, name string) []*protocol.Mutation {
	t.Helper()
	var out []*protocol.Mutation
	if err := Scan(fs, testDir, func(r Record) error {
		if r.Segment == name {
			out = append(out, r.Mutation)
		}
		return nil
	}); err != nil {
		t.Fatalf("Scan: %v", err)
	}
	return out
}

// appendFrame frames an arbitrary payload the way appendRecord does.
func appendFrame(b, payload []byte) []byte {
	b = binary.LittleEndian.AppendUint32(b, uint32(len(payload)))
	b = binary.LittleEndian.AppendUint32(b, crc32.Checksum(payload, crcTable))
	return append(b, payload...)
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }
