package plog

import (
	"errors"
	"io"
	"testing"

	"github.com/cockroachdb/pebble/vfs"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

func TestGC(t *testing.T) {
	fs := vfs.NewMem()
	l := mustOpen(t, testOpts(fs, nil))
	defer l.Close()
	mustAppend(t, l, muts(1, 100, 1)...)
	before := segmentNames(t, fs)
	st := l.Stats()
	if len(before) < 5 {
		t.Fatalf("setup made %d segments", len(before))
	}
	// A floor inside the first segment removes nothing.
	if n, err := l.GC(2); err != nil || n != 0 {
		t.Fatalf("GC(2) = %d, %v", n, err)
	}
	// A floor just above the end of segment 2 removes segments 1 and 2.
	last2 := recordsOf(t, fs, before[1])
	floor := last2[len(last2)-1].Decree + 1
	if n, err := l.GC(floor); err != nil || n != 2 {
		t.Fatalf("GC(%d) = %d, %v", floor, n, err)
	}
	after := segmentNames(t, fs)
	if len(after) != len(before)-2 || after[0] != before[2] {
		t.Fatalf("segments after GC %v, before %v", after, before)
	}
	st2 := l.Stats()
	if st2.MinDecree != floor || st2.MaxDecree != 100 || st2.Segments != len(after) || st2.TotalBytes >= st.TotalBytes {
		t.Fatalf("stats after GC %+v", st2)
	}
	wantSame(t, replayAll(t, l, floor), muts(floor, 100, 1))
	if err := l.Replay(floor-1, func(*protocol.Mutation) error { return nil }); !errors.Is(err, ErrGarbageCollected) {
		t.Fatalf("Replay below the GC floor: %v", err)
	}
	if _, err := l.NewReader(floor - 1); !errors.Is(err, ErrGarbageCollected) {
		t.Fatalf("NewReader below the GC floor: %v", err)
	}
	// A floor above everything keeps the newest segment.
	if _, err := l.GC(1000); err != nil {
		t.Fatal(err)
	}
	if n := segmentNames(t, fs); len(n) != 1 || n[0] != before[len(before)-1] {
		t.Fatalf("segments after GC(1000): %v", n)
	}
	if st := l.Stats(); st.MaxDecree != 100 || st.Segments != 1 {
		t.Fatalf("stats %+v", st)
	}
	// The log goes on.
	mustAppend(t, l, mut(101, 1))
	l.Close()
	l2 := mustOpen(t, testOpts(fs, nil))
	defer l2.Close()
	got := replayAll(t, l2, 0)
	if got[len(got)-1].Decree != 101 || l2.Stats().Segments != 1 {
		t.Fatalf("after reopen: %v, %+v", decreesBallots(got), l2.Stats())
	}
}

func TestGCWithReappend(t *testing.T) {
	fs := vfs.NewMem()
	l := mustOpen(t, testOpts(fs, nil))
	defer l.Close()
	mustAppend(t, l, muts(1, 40, 1)...)
	mustAppend(t, l, muts(20, 60, 2)...) // supersedes 20..40 of ballot 1
	segs := segmentNames(t, fs)
	records := map[string][]*protocol.Mutation{}
	for _, name := range segs {
		records[name] = recordsOf(t, fs, name)
	}
	// GC up to 30 removes only the oldest segments whose records are all
	// below 30; the first kept segment has a record at or above 30.
	n, err := l.GC(30)
	if err != nil {
		t.Fatal(err)
	}
	for i, name := range segs {
		maxD := protocol.Decree(0)
		for _, m := range records[name] {
			maxD = max(maxD, m.Decree)
		}
		if removed := i < n; removed != (maxD < 30) {
			t.Fatalf("segment %s (max decree %d) removed=%v", name, maxD, removed)
		}
		if maxD >= 30 {
			break
		}
	}
	min := l.Stats().MinDecree
	got := replayAll(t, l, min)
	var want []*protocol.Mutation
	for _, m := range append(muts(1, 19, 1), muts(20, 60, 2)...) {
		if m.Decree >= min {
			want = append(want, m)
		}
	}
	wantSame(t, got, want)
	l.Close()
	l = mustOpen(t, testOpts(fs, nil))
	wantSame(t, replayAll(t, l, min), want)
	if n == 0 || n >= len(segs) {
		t.Fatalf("GC removed %d of %d segments", n, len(segs))
	}
}

func TestReaderFollowsAppender(t *testing.T) {
	fs := vfs.NewMem()
	l := mustOpen(t, testOpts(fs, nil))
	defer l.Close()
	const n = 300
	appended := make(chan protocol.Decree, n)
	done := make(chan error, 1)
	r, err := l.NewReader(0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	go func() {
		// The reader yields committed mutations, each once and in order,
		// while the owner goroutine appends.
		want := protocol.Decree(1)
		for want < n { // decree n is never committed
			m, err := r.Next()
			if err == io.EOF {
				if _, ok := <-appended; !ok {
					break
				}
				continue
			}
			if err != nil {
				done <- err
				return
			}
			if m.Decree != want {
				done <- errors.New("out of order")
				return
			}
			if m.LastCommitted >= m.Decree {
				done <- errors.New("bad record")
				return
			}
			want++
		}
		if want != n {
			done <- errors.New("reader stopped early")
			return
		}
		done <- nil
	}()
	for d := protocol.Decree(1); d <= n; d += 3 {
		mustAppend(t, l, muts(d, d+2, 1)...)
		appended <- d
	}
	close(appended)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("reader past the commit point: %v", err)
	}
}

func TestReaderCommittedAndSuperseded(t *testing.T) {
	fs := vfs.NewMem()
	l := mustOpen(t, testOpts(fs, nil))
	defer l.Close()
	// Ballot 1 prepares 1..5 (committed up to 3 by the log's evidence at
	// decree 4, to 4 at decree 5).
	mustAppend(t, l, muts(1, 5, 1)...)
	r, err := l.NewReader(2)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var got []*protocol.Mutation
	next := func() error {
		for {
			m, err := r.Next()
			if err != nil {
				return err
			}
			got = append(got, m)
		}
	}
	if err := next(); err != io.EOF {
		t.Fatal(err)
	}
	wantSame(t, got, muts(2, 4, 1))
	// Ballot 2 re-prepares 5 with a different value, then 6 and 7.
	five := mut(5, 2)
	five.LastCommitted = 3
	mustAppend(t, l, five, mut(6, 2), mut(7, 2))
	if err := next(); err != io.EOF {
		t.Fatal(err)
	}
	wantSame(t, got, append(muts(2, 4, 1), five, mut(6, 2)))
}

func TestReaderAcrossGC(t *testing.T) {
	fs := vfs.NewMem()
	l := mustOpen(t, testOpts(fs, nil))
	defer l.Close()
	mustAppend(t, l, muts(1, 100, 1)...)
	segs := segmentNames(t, fs)
	inFirst := len(recordsOf(t, fs, segs[0]))
	r1, err := l.NewReader(0)
	if err != nil {
		t.Fatal(err)
	}
	defer r1.Close()
	if m, err := r1.Next(); err != nil || m.Decree != 1 {
		t.Fatalf("Next: %v, %v", m, err)
	}
	r2, err := l.NewReader(0)
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	// Remove the first three segments. r1 is inside segment 1: it finishes
	// it, then finds segment 2 gone. r2 had not opened anything yet.
	if n, err := l.GC(recordsOf(t, fs, segs[3])[0].Decree); err != nil || n != 3 {
		t.Fatalf("GC = %d, %v", n, err)
	}
	n := 1
	for {
		_, err := r1.Next()
		if errors.Is(err, ErrGarbageCollected) {
			break
		}
		if err != nil {
			t.Fatalf("r1: %v", err)
		}
		n++
	}
	if n != inFirst {
		t.Fatalf("r1 read %d mutations, segment 1 holds %d", n, inFirst)
	}
	if _, err := r2.Next(); !errors.Is(err, ErrGarbageCollected) {
		t.Fatalf("r2: %v", err)
	}
	if err := r1.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := r1.Next(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Next after Close: %v", err)
	}
}

func TestReaderOnEmptyLog(t *testing.T) {
	fs := vfs.NewMem()
	l := mustOpen(t, testOpts(fs, nil))
	defer l.Close()
	r, err := l.NewReader(0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("Next on empty log: %v", err)
	}
	mustAppend(t, l, muts(7, 9, 1)...)
	m, err := r.Next()
	if err != nil || m.Decree != 7 {
		t.Fatalf("Next: %v, %v", m, err)
	}
}
