package plog

import (
	"errors"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/vfs"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

func TestRoundTripAcrossRotations(t *testing.T) {
	fs := vfs.NewMem()
	l := mustOpen(t, testOpts(fs, nil))
	all := muts(1, 200, 3)
	for i := 0; i < len(all); {
		n := min(1+i%7, len(all)-i) // batches of 1..7
		mustAppend(t, l, all[i:i+n]...)
		i += n
	}
	wantSame(t, replayAll(t, l, 0), all)
	st := l.Stats()
	if st.Segments < 10 || st.MinDecree != 1 || st.MaxDecree != 200 || st.MaxBallot != 3 || st.LastCommitted != 199 {
		t.Fatalf("stats %+v", st)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	names := segmentNames(t, fs)
	if len(names) != st.Segments {
		t.Fatalf("%d files, stats say %d segments", len(names), st.Segments)
	}
	var total int64
	for i, n := range names {
		seq, first, ok := parseSegmentName(n)
		if !ok || seq != uint64(i+1) {
			t.Fatalf("segment %d named %q", i, n)
		}
		size := int64(len(readFile(t, fs, n)))
		if size > 1024 {
			t.Fatalf("segment %s is %d bytes, over the rotation size", n, size)
		}
		total += size
		if offs := recordOffsets(t, fs, n); len(offs) == 0 || offs[0] != headerSize {
			t.Fatalf("segment %s record offsets %v", n, offs)
		}
		if want := recordsOf(t, fs, n); want[0].Decree != first {
			t.Fatalf("segment %s starts with decree %d", n, want[0].Decree)
		}
	}
	if total != st.TotalBytes {
		t.Fatalf("files hold %d bytes, stats say %d", total, st.TotalBytes)
	}

	l = mustOpen(t, testOpts(fs, nil))
	defer l.Close()
	wantSame(t, replayAll(t, l, 0), all)
	if got := l.Stats(); got != st {
		t.Fatalf("stats after reopen %+v, before %+v", got, st)
	}
	// Appending after reopen starts a new segment and continues the log.
	mustAppend(t, l, mut(201, 3))
	if got := l.Stats(); got.Segments != st.Segments+1 || got.MaxDecree != 201 {
		t.Fatalf("stats after append %+v", got)
	}
	wantSame(t, replayAll(t, l, 0), muts(1, 201, 3))
}

func TestReplayFrom(t *testing.T) {
	fs := vfs.NewMem()
	l := mustOpen(t, testOpts(fs, nil))
	defer l.Close()
	mustAppend(t, l, muts(10, 120, 1)...)
	for _, tc := range []struct {
		from     protocol.Decree
		wantFrom protocol.Decree
	}{{0, 10}, {1, 10}, {10, 10}, {57, 57}, {64, 64}, {120, 120}, {121, 0}, {500, 0}} {
		got := replayAll(t, l, tc.from)
		if tc.wantFrom == 0 {
			if len(got) != 0 {
				t.Fatalf("Replay(%d) yielded %v", tc.from, decreesBallots(got))
			}
			continue
		}
		wantSame(t, got, muts(tc.wantFrom, 120, 1))
	}
	if err := l.Replay(5, func(*protocol.Mutation) error { return nil }); !errors.Is(err, ErrGarbageCollected) {
		t.Fatalf("Replay below the first decree: %v", err)
	}
	stop := errors.New("stop")
	n := 0
	if err := l.Replay(0, func(*protocol.Mutation) error {
		n++
		if n == 3 {
			return stop
		}
		return nil
	}); err != stop || n != 3 {
		t.Fatalf("Replay did not stop at the callback error: %v after %d", err, n)
	}
}

func TestReappendHigherBallot(t *testing.T) {
	fs := vfs.NewMem()
	l := mustOpen(t, testOpts(fs, nil))
	mustAppend(t, l, muts(1, 30, 1)...)
	// A new primary with ballot 2 re-prepares from decree 8 on: 9..30 of
	// ballot 1 are superseded, even those in earlier segments.
	mustAppend(t, l, mut(8, 2))
	want := append(muts(1, 7, 1), mut(8, 2))
	wantSame(t, replayAll(t, l, 0), want)
	if st := l.Stats(); st.MaxDecree != 8 || st.MaxBallot != 2 {
		t.Fatalf("stats %+v", st)
	}
	// Same decree, same ballot: rejected. Lower ballot: rejected. Nothing
	// is written.
	before := l.Stats()
	for _, bad := range [][]*protocol.Mutation{
		{mut(8, 2)},
		{mut(7, 2)},
		{mut(9, 1)},
		{mut(9, 2), mut(10, 2), mut(10, 2)},
		{mut(0, 2)},
		{nil},
	} {
		if err := l.Append(bad); !errors.Is(err, ErrInvalidOrder) {
			t.Fatalf("Append(%v) = %v, want ErrInvalidOrder", decreesBallots(bad[:0]), err)
		}
	}
	if got := l.Stats(); got != before {
		t.Fatalf("rejected appends changed the log: %+v -> %+v", before, got)
	}
	// The same decree re-appended once more, in the middle of a batch.
	mustAppend(t, l, mut(9, 2), mut(9, 3), mut(10, 3))
	want = append(want, mut(9, 3), mut(10, 3))
	wantSame(t, replayAll(t, l, 0), want)
	wantSame(t, replayAll(t, l, 9), want[8:])
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = mustOpen(t, testOpts(fs, nil))
	defer l.Close()
	wantSame(t, replayAll(t, l, 0), want)
	// Ordering continues from the reopened state.
	if err := l.Append([]*protocol.Mutation{mut(11, 2)}); !errors.Is(err, ErrInvalidOrder) {
		t.Fatalf("lower ballot after reopen: %v", err)
	}
	mustAppend(t, l, mut(11, 3))
}

func TestCorruption(t *testing.T) {
	// Build a log of three segments, then damage it.
	type damage func(t *testing.T, fs vfs.FS, segs []string) (seg string, off int64)
	middle := func(t *testing.T, fs vfs.FS, seg string) int64 {
		offs := recordOffsets(t, fs, seg)
		return offs[len(offs)/2]
	}
	rewrite := func(t *testing.T, fs vfs.FS, seg string, f func([]byte) []byte) {
		writeFile(t, fs, seg, f(readFile(t, fs, seg)))
	}
	cases := []struct {
		name   string
		damage damage
		reason string
	}{
		{"flip byte in middle record", func(t *testing.T, fs vfs.FS, segs []string) (string, int64) {
			off := middle(t, fs, segs[1])
			rewrite(t, fs, segs[1], func(b []byte) []byte { b[off+frameSize+5] ^= 0x40; return b })
			return segs[1], off
		}, "checksum mismatch"},
		{"truncate mid record", func(t *testing.T, fs vfs.FS, segs []string) (string, int64) {
			off := middle(t, fs, segs[2])
			rewrite(t, fs, segs[2], func(b []byte) []byte { return b[:off+frameSize+10] })
			return segs[2], off
		}, "torn record"},
		{"truncate mid frame header", func(t *testing.T, fs vfs.FS, segs []string) (string, int64) {
			off := middle(t, fs, segs[2])
			rewrite(t, fs, segs[2], func(b []byte) []byte { return b[:off+3] })
			return segs[2], off
		}, "torn frame header"},
		{"garbage tail", func(t *testing.T, fs vfs.FS, segs []string) (string, int64) {
			b := readFile(t, fs, segs[2])
			rewrite(t, fs, segs[2], func(b []byte) []byte { return append(b, "\x00\x10\x00\x00garbage garbage garbage"...) })
			return segs[2], int64(len(b))
		}, "torn record"},
		{"zero filled tail", func(t *testing.T, fs vfs.FS, segs []string) (string, int64) {
			b := readFile(t, fs, segs[2])
			rewrite(t, fs, segs[2], func(b []byte) []byte { return append(b, make([]byte, 4096)...) })
			return segs[2], int64(len(b))
		}, "zero record length"},
		{"corrupt segment header", func(t *testing.T, fs vfs.FS, segs []string) (string, int64) {
			rewrite(t, fs, segs[1], func(b []byte) []byte { b[9] ^= 1; return b })
			return segs[1], 0
		}, "header checksum mismatch"},
		{"empty segment", func(t *testing.T, fs vfs.FS, segs []string) (string, int64) {
			rewrite(t, fs, segs[1], func(b []byte) []byte { return nil })
			return segs[1], 0
		}, "segment header torn"},
		{"header only", func(t *testing.T, fs vfs.FS, segs []string) (string, int64) {
			rewrite(t, fs, segs[2], func(b []byte) []byte { return b[:headerSize] })
			return segs[2], headerSize
		}, "segment has no records"},
		{"valid frame with bad mutation", func(t *testing.T, fs vfs.FS, segs []string) (string, int64) {
			b := readFile(t, fs, segs[2])
			bad := []byte{9, 9, 9}
			frame := appendFrame(nil, bad)
			rewrite(t, fs, segs[2], func(b []byte) []byte { return append(b, frame...) })
			return segs[2], int64(len(b))
		}, "undecodable mutation"},
		{"decree out of order", func(t *testing.T, fs vfs.FS, segs []string) (string, int64) {
			b := readFile(t, fs, segs[2])
			rec, err := appendRecord(nil, mut(3, 1))
			if err != nil {
				t.Fatal(err)
			}
			rewrite(t, fs, segs[2], func(b []byte) []byte { return append(b, rec...) })
			return segs[2], int64(len(b))
		}, "does not follow"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fs := vfs.NewMem()
			l := mustOpen(t, testOpts(fs, nil))
			all := muts(1, 36, 1)
			mustAppend(t, l, all...)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			segs := segmentNames(t, fs)
			if len(segs) != 3 {
				t.Fatalf("setup made %d segments", len(segs))
			}
			// The mutations that must survive: every record before the damage.
			var keep []*protocol.Mutation
			seg, off := tc.damage(t, fs, segs)
			if err := Scan(fs, testDir, func(r Record) error {
				if r.Segment < seg || (r.Segment == seg && r.Offset < off) {
					keep = append(keep, r.Mutation)
				}
				return nil
			}); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Scan of damaged log: %v", err)
			} else if ce := (*CorruptionError)(nil); !errors.As(err, &ce) || ce.Segment != seg || ce.Offset != off || !strings.Contains(ce.Reason, tc.reason) {
				t.Fatalf("Scan reported %v, want %s offset %d (%s)", err, seg, off, tc.reason)
			}

			var logs logBuffer
			l = mustOpen(t, testOpts(fs, &logs))
			wantSame(t, replayAll(t, l, 0), keep)
			out := logs.String()
			if strings.Count(out, "truncating log") != 1 || !strings.Contains(out, "segment="+seg) ||
				!strings.Contains(out, "reason=") || !strings.Contains(out, tc.reason) {
				t.Fatalf("log output %q", out)
			}
			if !strings.Contains(out, "offset="+itoa(off)) {
				t.Fatalf("log output %q lacks offset %d", out, off)
			}
			for _, n := range segmentNames(t, fs) {
				if n > seg {
					t.Fatalf("segment %s after the damage survived", n)
				}
			}
			// The log takes appends again and reopens cleanly.
			next := keep[len(keep)-1].Decree + 1
			mustAppend(t, l, muts(next, next+20, 1)...)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			if err := Scan(fs, testDir, func(Record) error { return nil }); err != nil {
				t.Fatalf("Scan after repair: %v", err)
			}
			var logs2 logBuffer
			l = mustOpen(t, testOpts(fs, &logs2))
			defer l.Close()
			wantSame(t, replayAll(t, l, 0), append(keep, muts(next, next+20, 1)...))
			if logs2.String() != "" {
				t.Fatalf("second open logged %q", logs2.String())
			}
		})
	}
}

func TestCorruptFirstHeaderEmptiesLog(t *testing.T) {
	fs := vfs.NewMem()
	l := mustOpen(t, testOpts(fs, nil))
	mustAppend(t, l, muts(5, 40, 2)...)
	l.Close()
	segs := segmentNames(t, fs)
	b := readFile(t, fs, segs[0])
	b[0] = 'X'
	writeFile(t, fs, segs[0], b)
	l = mustOpen(t, testOpts(fs, nil))
	defer l.Close()
	if st := l.Stats(); st != (Stats{}) {
		t.Fatalf("stats %+v", st)
	}
	if n := segmentNames(t, fs); len(n) != 0 {
		t.Fatalf("segments left: %v", n)
	}
	// Any decree may start the log again; the sequence restarts at 1.
	mustAppend(t, l, mut(100, 1))
	if n := segmentNames(t, fs); len(n) != 1 || n[0] != segmentName(1, 100) {
		t.Fatalf("segments %v", n)
	}
}

func TestLeftoverFiles(t *testing.T) {
	fs := vfs.NewMem()
	l := mustOpen(t, testOpts(fs, nil))
	mustAppend(t, l, muts(1, 80, 1)...)
	l.Close()
	segs := segmentNames(t, fs)
	// An interrupted GC removed segment 2 but not segment 1; a truncation
	// left its temporary file; someone dropped an unrelated file.
	if err := fs.Remove(fs.PathJoin(testDir, segs[1])); err != nil {
		t.Fatal(err)
	}
	writeFile(t, fs, segs[3]+tempSuffix, []byte("partial copy"))
	writeFile(t, fs, "notes.txt", []byte("hello"))
	var logs logBuffer
	l = mustOpen(t, testOpts(fs, &logs))
	defer l.Close()
	got := replayAll(t, l, 0)
	var first protocol.Decree
	if err := Scan(fs, testDir, func(r Record) error {
		if first == 0 {
			first = r.Mutation.Decree
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	wantSame(t, got, muts(first, 80, 1))
	if n := segmentNames(t, fs); n[0] != segs[2] {
		t.Fatalf("segments %v, want to start at %s", n, segs[2])
	}
	if _, err := fs.Stat(fs.PathJoin(testDir, segs[3]+tempSuffix)); err == nil {
		t.Fatal("temporary file survived")
	}
	out := logs.String()
	if !strings.Contains(out, "left over from garbage collection") || !strings.Contains(out, "notes.txt") {
		t.Fatalf("log output %q", out)
	}
}

func TestOptionsAndLock(t *testing.T) {
	fs := vfs.NewMem()
	if _, err := Open(Options{FS: fs}); err == nil {
		t.Fatal("Open without Dir succeeded")
	}
	if _, err := Open(Options{FS: fs, Dir: testDir, SegmentSizeBytes: 10}); err == nil {
		t.Fatal("tiny segment size accepted")
	}
	if _, err := Open(Options{FS: fs, Dir: testDir, Sync: SyncPolicy(7)}); err == nil {
		t.Fatal("unknown sync policy accepted")
	}
	l := mustOpen(t, testOpts(fs, nil))
	if _, err := Open(testOpts(fs, nil)); err == nil {
		t.Fatal("second Open of a locked directory succeeded")
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := l.Append(muts(1, 1, 1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close: %v", err)
	}
	if _, err := l.NewReader(0); !errors.Is(err, ErrClosed) {
		t.Fatalf("NewReader after Close: %v", err)
	}
	l = mustOpen(t, testOpts(fs, nil))
	l.Close()
	if SyncFsync.String() != "fsync" || SyncPageCache.String() != "pagecache" {
		t.Fatal("SyncPolicy names")
	}
}

func TestRecordTooLarge(t *testing.T) {
	fs := vfs.NewMem()
	l := mustOpen(t, testOpts(fs, nil))
	defer l.Close()
	big := mut(2, 1)
	big.Updates[0].Body = make([]byte, maxRecordBytes)
	if err := l.Append([]*protocol.Mutation{mut(1, 1), big}); !errors.Is(err, ErrRecordTooLarge) {
		t.Fatalf("Append of a huge mutation: %v", err)
	}
	if st := l.Stats(); st.MaxDecree != 0 {
		t.Fatalf("rejected batch was partly written: %+v", st)
	}
	// A record larger than the segment size gets a segment of its own.
	large := mut(3, 1)
	large.Updates[0].Body = make([]byte, 5000)
	mustAppend(t, l, mut(1, 1), mut(2, 1), large, mut(4, 1))
	if st := l.Stats(); st.Segments != 3 || st.MaxDecree != 4 {
		t.Fatalf("stats %+v", st)
	}
	wantSame(t, replayAll(t, l, 0), []*protocol.Mutation{mut(1, 1), mut(2, 1), large, mut(4, 1)})
}
