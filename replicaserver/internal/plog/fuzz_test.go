package plog

import (
	"bytes"
	"errors"
	"testing"

	"github.com/cockroachdb/pebble/vfs"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

// FuzzOpenSegment writes arbitrary bytes as the only segment of a log and
// checks that Open never panics and keeps a prefix of the file made of
// whole valid records, which Replay yields and Scan accepts.
func FuzzOpenSegment(f *testing.F) {
	valid := appendHeader(nil, 1)
	for d := protocol.Decree(1); d <= 4; d++ {
		var err error
		if valid, err = appendRecord(valid, mut(d, 1)); err != nil {
			f.Fatal(err)
		}
	}
	f.Add(valid)
	f.Add(valid[:len(valid)-3])
	f.Add(valid[:headerSize])
	f.Add(append(bytes.Clone(valid), make([]byte, 64)...))
	f.Add(append(bytes.Clone(valid), 0xff, 0xff, 0xff, 0x7f, 1, 2, 3, 4))
	f.Add([]byte{})
	f.Add(bytes.Repeat([]byte{0xa5}, 100))
	name := segmentName(1, 1)
	f.Fuzz(func(t *testing.T, data []byte) {
		fs := vfs.NewMem()
		if err := fs.MkdirAll(testDir, 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, fs, name, data)
		scanned := 0
		scanErr := Scan(fs, testDir, func(Record) error { scanned++; return nil })
		if scanErr != nil && !errors.Is(scanErr, ErrCorrupt) {
			t.Fatalf("Scan: %v", scanErr)
		}
		l, err := Open(Options{FS: fs, Dir: testDir})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		defer l.Close()
		got := replayAll(t, l, 0)
		if len(got) != scanned {
			t.Fatalf("Replay yielded %d records, Scan found %d", len(got), scanned)
		}
		names := segmentNames(t, fs)
		if len(got) == 0 {
			if len(names) != 0 {
				t.Fatalf("empty log kept segments %v", names)
			}
			return
		}
		kept := readFile(t, fs, name)
		if !bytes.HasPrefix(data, kept) {
			t.Fatalf("kept %d bytes that are not a prefix of the input", len(kept))
		}
		// The kept prefix is exactly the header and whole valid records.
		if err := Scan(fs, testDir, func(Record) error { return nil }); err != nil {
			t.Fatalf("Scan after Open: %v", err)
		}
		if st := l.Stats(); st.TotalBytes != int64(len(kept)) {
			t.Fatalf("stats %+v, file %d bytes", st, len(kept))
		}
	})
}
