package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/vfs"
	"github.com/pegasus-go/pegasus/replicaserver/internal/plog"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

const ts = 1_700_000_000_000_000 // 2023-11-14T22:13:20Z

func writeLog(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	l, err := plog.Open(plog.Options{FS: vfs.Default, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	ms := []*protocol.Mutation{
		{Ballot: 2, Decree: 1, LastCommitted: 0, TimestampUs: ts, Updates: []protocol.Update{{Op: protocol.OpPut, Body: make([]byte, 100)}}},
		{Ballot: 2, Decree: 2, LastCommitted: 1, TimestampUs: ts + 1500, Updates: []protocol.Update{
			{Op: protocol.OpMultiPut, Body: make([]byte, 42)}, {Op: protocol.OpRemove, Body: make([]byte, 7)}}},
		{Ballot: 3, Decree: 3, LastCommitted: 2, TimestampUs: ts + 2_000_000, Updates: []protocol.Update{{Op: protocol.OpEmpty}}},
	}
	if err := l.Append(ms); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

func dump(t *testing.T, args ...string) (status int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	status = run(vfs.Default, args, &out, &errOut)
	return status, out.String(), errOut.String()
}

const wantText = `log.0000000001.1 offset=20 ballot=2 decree=1 last_committed=0 time=2023-11-14T22:13:20Z updates=1 [put:100]
log.0000000001.1 offset=\d+ ballot=2 decree=2 last_committed=1 time=2023-11-14T22:13:20.0015Z updates=2 [multi_put:42 remove:7]
log.0000000001.1 offset=\d+ ballot=3 decree=3 last_committed=2 time=2023-11-14T22:13:22Z updates=1 [empty:0]
3 records
`

func TestDumpText(t *testing.T) {
	dir := writeLog(t)
	status, out, errOut := dump(t, dir)
	if status != 0 || errOut != "" {
		t.Fatalf("status %d, stderr %q", status, errOut)
	}
	lines := strings.Split(out, "\n")
	wantLines := strings.Split(wantText, "\n")
	if len(lines) != len(wantLines) {
		t.Fatalf("output:\n%s", out)
	}
	for i, w := range wantLines {
		if w == lines[i] {
			continue
		}
		// Offsets after the first depend on the encoding; check the rest.
		pre, rest, _ := strings.Cut(w, `offset=\d+ `)
		if !strings.HasPrefix(lines[i], pre+"offset=") || !strings.HasSuffix(lines[i], " "+rest) {
			t.Fatalf("line %d:\n got %q\nwant %q", i, lines[i], w)
		}
	}

	status, out, _ = dump(t, "--from", "3", dir)
	if status != 0 || !strings.Contains(out, "decree=3 ") || strings.Contains(out, "decree=2 ") || !strings.HasSuffix(out, "1 records\n") {
		t.Fatalf("--from 3: status %d\n%s", status, out)
	}
}

func TestDumpJSON(t *testing.T) {
	dir := writeLog(t)
	status, out, errOut := dump(t, "--json", dir)
	if status != 0 || errOut != "" {
		t.Fatalf("status %d, stderr %q", status, errOut)
	}
	var recs []jsonRecord
	dec := json.NewDecoder(strings.NewReader(out))
	for dec.More() {
		var r jsonRecord
		if err := dec.Decode(&r); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	if len(recs) != 3 {
		t.Fatalf("%d records:\n%s", len(recs), out)
	}
	r := recs[1]
	if r.Segment != "log.0000000001.1" || r.Offset <= 20 || r.Ballot != 2 || r.Decree != 2 || r.LastCommitted != 1 ||
		r.Timestamp != "2023-11-14T22:13:20.0015Z" || len(r.Updates) != 2 ||
		r.Updates[0] != (jsonUpdate{"multi_put", 42}) || r.Updates[1] != (jsonUpdate{"remove", 7}) {
		t.Fatalf("record %+v", r)
	}
	if recs[0].Offset != 20 {
		t.Fatalf("first record at offset %d", recs[0].Offset)
	}
}

func TestDumpCorrupt(t *testing.T) {
	dir := writeLog(t)
	// Find the third record's offset, then flip a byte inside it.
	_, out, _ := dump(t, "--json", dir)
	var recs []jsonRecord
	dec := json.NewDecoder(strings.NewReader(out))
	for dec.More() {
		var r jsonRecord
		if err := dec.Decode(&r); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	path := filepath.Join(dir, recs[2].Segment)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[recs[2].Offset+10] ^= 0xff
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	before := append([]byte(nil), data...)

	status, out, errOut := dump(t, dir)
	if status != 1 {
		t.Fatalf("status %d", status)
	}
	wantTail := "corrupt record: segment log.0000000001.1 offset " + itoa(recs[2].Offset) + ": checksum mismatch"
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[2], wantTail) || !strings.Contains(errOut, "after 2 records") {
		t.Fatalf("output:\n%s\nstderr: %s", out, errOut)
	}
	status, out, _ = dump(t, "--json", dir)
	if status != 1 || !strings.Contains(out, `{"corrupt":{"segment":"log.0000000001.1","offset":`+itoa(recs[2].Offset)+`,"reason":"checksum mismatch`) {
		t.Fatalf("json output:\n%s", out)
	}
	// plogdump never repairs the log.
	after, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(before, after) {
		t.Fatalf("the segment changed: %v", err)
	}
}

func TestDumpUsage(t *testing.T) {
	if status, _, errOut := dump(t); status != 2 || !strings.Contains(errOut, "usage: plogdump") {
		t.Fatalf("no args: %d %q", status, errOut)
	}
	if status, _, _ := dump(t, "--bogus", "x"); status != 2 {
		t.Fatalf("bad flag: %d", status)
	}
	if status, _, _ := dump(t, "--help"); status != 0 {
		t.Fatalf("--help: %d", status)
	}
	if status, _, errOut := dump(t, filepath.Join(t.TempDir(), "missing")); status != 1 || errOut == "" {
		t.Fatalf("missing dir: %d %q", status, errOut)
	}
	// An empty directory is an empty log.
	if status, out, _ := dump(t, t.TempDir()); status != 0 || out != "0 records\n" {
		t.Fatalf("empty dir: %d %q", status, out)
	}
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }
