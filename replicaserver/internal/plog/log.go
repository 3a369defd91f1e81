package plog

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/vfs"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

var (
	// ErrClosed is returned by every method of a closed Log or Reader.
	ErrClosed = errors.New("plog: log is closed")
	// ErrFailed is returned by Append and Flush after a write or sync
	// failed: the state of the tail on disk is unknown, so the log refuses
	// further appends. Close and Open the log again; Open truncates any torn
	// tail. Records whose Append returned nil before the failure are kept.
	ErrFailed = errors.New("plog: log failed after an IO error")
	// ErrInvalidOrder is returned by Append when a mutation breaks the
	// ordering rules (see the package documentation). Nothing of the batch
	// is written.
	ErrInvalidOrder = errors.New("plog: mutation out of order")
	// ErrRecordTooLarge is returned by Append when a mutation encodes to
	// more than 64 MiB. Nothing of the batch is written.
	ErrRecordTooLarge = errors.New("plog: mutation too large")
	// ErrGarbageCollected is returned by Replay and NewReader when from is
	// below MinDecree, and by Reader.Next when the segment it needs next was
	// removed by GC: the log no longer holds the mutations asked for.
	ErrGarbageCollected = errors.New("plog: mutations already garbage collected")
	// ErrCorrupt is wrapped by *CorruptionError (Scan, Reader.Next).
	ErrCorrupt = errors.New("plog: corrupt log")
)

// segment summarizes one segment file.
type segment struct {
	seq       uint64
	name      string
	first     protocol.Decree // from the header and the name
	minDecree protocol.Decree // smallest decree of any record
	maxDecree protocol.Decree // largest decree of any record
	size      int64           // header plus records whose Append returned
}

func (s *segment) addRecord(m *protocol.Mutation, end int64) {
	if s.minDecree == 0 || m.Decree < s.minDecree {
		s.minDecree = m.Decree
	}
	s.maxDecree = max(s.maxDecree, m.Decree)
	s.size = end
}

// position is a record's place in the log: segment sequence number and byte
// offset. Positions order the records as they were appended.
type position struct {
	seq uint64
	off int64
}

func (p position) less(q position) bool {
	return p.seq < q.seq || (p.seq == q.seq && p.off < q.off)
}

// event records a re-append: the record at pos has decree, which is not
// above the decree of the record before it. Every earlier record whose
// decree is >= decree is dead (superseded).
type event struct {
	pos    position
	decree protocol.Decree
}

// Stats describes the log's contents.
type Stats struct {
	// MinDecree is the smallest decree of any record still on disk (0 if the
	// log is empty). Replay and NewReader accept any from >= MinDecree.
	MinDecree protocol.Decree
	// MaxDecree is the decree of the last record appended (0 if empty):
	// the log's logical end. Records above it were superseded.
	MaxDecree protocol.Decree
	// MaxBallot is the ballot of the last record appended.
	MaxBallot protocol.Ballot
	// LastCommitted is the largest LastCommitted of any record: every decree
	// up to it is committed.
	LastCommitted protocol.Decree
	// Segments is the number of segment files.
	Segments int
	// TotalBytes is the size of all segments, headers included.
	TotalBytes int64
}

// Log is the private mutation log of one replica. See the package
// documentation for which goroutine may call what.
type Log struct {
	opts Options
	fs   vfs.FS
	dir  string
	lock io.Closer
	log  *slog.Logger

	// w is the appender's state, used only by the owner goroutine (Append,
	// GC, Close).
	w struct {
		v       validator
		cur     *segment // active segment incl. unpublished bytes; nil until the first Append after Open
		nextSeq uint64
		buf     []byte
		ends    []int
	}

	// flushMu guards file against being swapped or closed while Flush syncs
	// it. The appender writes to file without it.
	flushMu sync.Mutex
	file    vfs.File

	mu struct {
		sync.Mutex
		segs     []segment // ascending seq; the last one is never garbage collected
		events   []event   // re-appends in log order
		minAfter []protocol.Decree
		// minAfter[i] = min decree of events[i:]

		lastDecree    protocol.Decree
		lastBallot    protocol.Ballot
		lastCommitted protocol.Decree
		failed        error
		closed        bool
	}

	stopFlush chan struct{}
	flushDone chan struct{}
}

// Open opens (creating if needed) the log in opts.Dir. It verifies every
// segment; at the first torn or corrupt record it truncates the log there,
// deleting any later segments, and logs one warning naming the segment,
// offset and reason. Truncation is made durable before Open returns. IO
// errors (as opposed to bad contents) make Open fail without changing
// anything. The first Append after Open starts a new segment.
func Open(opts Options) (*Log, error) {
	if err := opts.ensureDefaults(); err != nil {
		return nil, err
	}
	fs := opts.FS
	if err := fs.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("plog: create %s: %w", opts.Dir, err)
	}
	if err := syncDir(fs, fs.PathDir(opts.Dir)); err != nil {
		return nil, err
	}
	lock, err := fs.Lock(fs.PathJoin(opts.Dir, lockFileName))
	if err != nil {
		return nil, fmt.Errorf("plog: lock %s: %w", opts.Dir, err)
	}
	l := &Log{opts: opts, fs: fs, dir: opts.Dir, lock: lock, log: opts.Logger}
	if err := l.recover(); err != nil {
		lock.Close()
		return nil, err
	}
	if opts.Sync == SyncPageCache && (opts.FlushInterval > 0 || opts.flushTicks != nil) {
		ticks := opts.flushTicks
		var ticker *time.Ticker
		if ticks == nil {
			ticker = time.NewTicker(opts.FlushInterval)
			ticks = ticker.C
		}
		l.stopFlush = make(chan struct{})
		l.flushDone = make(chan struct{})
		go l.runFlusher(ticks, ticker)
	}
	return l, nil
}

// recover scans the directory, truncates at the first bad record and loads
// the summary state.
func (l *Log) recover() error {
	segs, temps, others, err := listDir(l.fs, l.dir)
	if err != nil {
		return err
	}
	dirty := false
	for _, t := range temps {
		l.log.Info("plog: removing leftover temporary file", "file", t)
		if err := l.fs.Remove(l.fs.PathJoin(l.dir, t)); err != nil {
			return fmt.Errorf("plog: remove %s: %w", t, err)
		}
		dirty = true
	}
	for _, o := range others {
		l.log.Warn("plog: ignoring unexpected file in log directory", "file", o)
	}
	// GC removes a prefix of the segments; if a crash let some of those
	// removals persist and not others, the survivors sit before a gap in the
	// sequence numbers. The log is the run after the last gap.
	start := 0
	for i := 1; i < len(segs); i++ {
		if segs[i].seq != segs[i-1].seq+1 {
			start = i
		}
	}
	for _, e := range segs[:start] {
		l.log.Warn("plog: removing segment left over from garbage collection", "segment", e.name)
		if err := l.fs.Remove(l.fs.PathJoin(l.dir, e.name)); err != nil {
			return fmt.Errorf("plog: remove %s: %w", e.name, err)
		}
		dirty = true
	}
	segs = segs[start:]

	var (
		v             validator
		infos         []segment
		events        []event
		lastCommitted protocol.Decree
	)
	for i, e := range segs {
		info, cerr, err := scanSegment(l.fs, l.dir, e, &v, func(off int64, m *protocol.Mutation, supersede bool) error {
			if supersede {
				events = append(events, event{pos: position{e.seq, off}, decree: m.Decree})
			}
			lastCommitted = max(lastCommitted, m.LastCommitted)
			return nil
		})
		if err != nil {
			return err
		}
		if cerr == nil {
			infos = append(infos, info)
			continue
		}
		later := segs[i+1:]
		l.log.Warn("plog: truncating log at corrupt record",
			"segment", cerr.Segment, "offset", cerr.Offset, "reason", cerr.Reason,
			"kept_bytes", info.size, "removed_segments", len(later))
		if err := l.truncate(e, info, later); err != nil {
			return err
		}
		dirty = false // truncate synced the directory
		if info.size > headerSize {
			infos = append(infos, info)
		}
		break
	}
	if dirty {
		if err := syncDir(l.fs, l.dir); err != nil {
			return err
		}
	}

	l.w.v = v
	l.w.nextSeq = 1
	if len(infos) > 0 {
		l.w.nextSeq = infos[len(infos)-1].seq + 1
	} else if len(segs) > 0 {
		l.w.nextSeq = segs[0].seq
	}
	l.mu.segs = infos
	l.mu.lastDecree = v.last
	l.mu.lastBallot = v.lastBallot
	l.mu.lastCommitted = lastCommitted
	for _, ev := range events {
		l.addEventLocked(ev)
	}
	return nil
}

// truncate cuts segment e to info.size bytes (removing it if no record is
// left) and removes the later segments, newest first, syncing the
// directory after each removal so a crash never leaves a gap.
func (l *Log) truncate(e dirEntry, info segment, later []dirEntry) error {
	for j := len(later) - 1; j >= 0; j-- {
		if err := l.fs.Remove(l.fs.PathJoin(l.dir, later[j].name)); err != nil {
			return fmt.Errorf("plog: remove %s: %w", later[j].name, err)
		}
		if err := syncDir(l.fs, l.dir); err != nil {
			return err
		}
	}
	path := l.fs.PathJoin(l.dir, e.name)
	if info.size <= headerSize {
		if err := l.fs.Remove(path); err != nil {
			return fmt.Errorf("plog: remove %s: %w", e.name, err)
		}
		return syncDir(l.fs, l.dir)
	}
	// vfs has no truncate: copy the valid prefix to a temporary file and
	// rename it over the segment.
	tmp := path + tempSuffix
	if err := copyPrefix(l.fs, path, tmp, info.size); err != nil {
		return err
	}
	if err := l.fs.Rename(tmp, path); err != nil {
		return fmt.Errorf("plog: rename %s: %w", tmp, err)
	}
	return syncDir(l.fs, l.dir)
}

// copyPrefix writes the first n bytes of src to a new synced file dst.
func copyPrefix(fs vfs.FS, src, dst string, n int64) (err error) {
	in, err := fs.Open(src)
	if err != nil {
		return fmt.Errorf("plog: open %s: %w", src, err)
	}
	defer in.Close()
	out, err := fs.Create(dst)
	if err != nil {
		return fmt.Errorf("plog: create %s: %w", dst, err)
	}
	defer func() {
		if cerr := out.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("plog: close %s: %w", dst, cerr)
		}
	}()
	buf := make([]byte, min(n, 1<<20))
	for off := int64(0); off < n; {
		chunk := buf[:min(int64(len(buf)), n-off)]
		if _, err := in.ReadAt(chunk, off); err != nil {
			return fmt.Errorf("plog: read %s: %w", src, err)
		}
		if _, err := out.Write(chunk); err != nil {
			return fmt.Errorf("plog: write %s: %w", dst, err)
		}
		off += int64(len(chunk))
	}
	if err := out.Sync(); err != nil {
		return fmt.Errorf("plog: sync %s: %w", dst, err)
	}
	return nil
}

func syncDir(fs vfs.FS, dir string) error {
	d, err := fs.OpenDir(dir)
	if err != nil {
		return fmt.Errorf("plog: open directory %s: %w", dir, err)
	}
	serr := d.Sync()
	cerr := d.Close()
	if serr != nil {
		return fmt.Errorf("plog: sync directory %s: %w", dir, serr)
	}
	if cerr != nil {
		return fmt.Errorf("plog: close directory %s: %w", dir, cerr)
	}
	return nil
}

// addEventLocked appends a re-append event and maintains minAfter.
func (l *Log) addEventLocked(ev event) {
	l.mu.events = append(l.mu.events, ev)
	l.mu.minAfter = append(l.mu.minAfter, ev.decree)
	for j := len(l.mu.minAfter) - 2; j >= 0 && l.mu.minAfter[j] > ev.decree; j-- {
		l.mu.minAfter[j] = ev.decree
	}
}

// deadLocked reports whether the record at pos with decree d was superseded
// by a later re-append.
func (l *Log) deadLocked(pos position, d protocol.Decree) bool {
	i, _ := slices.BinarySearchFunc(l.mu.events, pos, func(ev event, p position) int {
		if p.less(ev.pos) {
			return 1
		}
		return -1
	})
	return i < len(l.mu.events) && l.mu.minAfter[i] <= d
}

// Append writes muts, in order, as one batch and applies the sync policy
// once. With SyncFsync, the batch is durable when Append returns nil; with
// SyncPageCache it has reached the operating system. Append validates the
// whole batch before writing (ErrInvalidOrder, ErrRecordTooLarge: nothing
// written). A write or sync error fails the log (ErrFailed on later calls);
// after such an error the batch may or may not be found by a later Open.
// Append must be called from the owner goroutine only; muts are not
// retained.
func (l *Log) Append(muts []*protocol.Mutation) error {
	if err := l.checkUsable(); err != nil {
		return err
	}
	if len(muts) == 0 {
		return nil
	}
	v := l.w.v
	for _, m := range muts {
		if m == nil {
			return fmt.Errorf("%w: nil mutation", ErrInvalidOrder)
		}
		if _, err := v.check(m); err != nil {
			return err
		}
		v.accept(m)
	}
	buf, ends := l.w.buf[:0], l.w.ends[:0]
	for _, m := range muts {
		var err error
		if buf, err = appendRecord(buf, m); err != nil {
			return err
		}
		ends = append(ends, len(buf))
	}
	l.w.buf, l.w.ends = buf, ends

	var (
		touched   []segment // segments sealed during this batch
		evs       []event
		committed protocol.Decree
		cur       = l.w.cur
		pending   = 0 // index in buf of the first byte not yet written
		pv        = l.w.v
	)
	for i, m := range muts {
		start := 0
		if i > 0 {
			start = ends[i-1]
		}
		n := int64(ends[i] - start)
		if cur == nil || (cur.size > headerSize && cur.size+n > l.opts.SegmentSizeBytes) {
			if cur != nil {
				if err := l.write(buf[pending:start]); err != nil {
					return err
				}
				touched = append(touched, *cur)
			}
			next, err := l.rotate(m.Decree)
			if err != nil {
				return err
			}
			cur, pending = next, start
		}
		supersede, _ := pv.check(m)
		pv.accept(m)
		if supersede {
			evs = append(evs, event{pos: position{cur.seq, cur.size}, decree: m.Decree})
		}
		committed = max(committed, m.LastCommitted)
		cur.addRecord(m, cur.size+n)
	}
	if err := l.write(buf[pending:]); err != nil {
		return err
	}
	if l.opts.Sync == SyncFsync {
		if err := l.file.Sync(); err != nil {
			return l.fail(fmt.Errorf("plog: sync %s: %w", cur.name, err))
		}
	}
	l.w.v = v
	l.w.cur = cur
	touched = append(touched, *cur)

	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range touched {
		if k := len(l.mu.segs); k > 0 && l.mu.segs[k-1].seq == s.seq {
			l.mu.segs[k-1] = s
		} else {
			l.mu.segs = append(l.mu.segs, s)
		}
	}
	for _, ev := range evs {
		l.addEventLocked(ev)
	}
	last := muts[len(muts)-1]
	l.mu.lastDecree, l.mu.lastBallot = last.Decree, last.Ballot
	l.mu.lastCommitted = max(l.mu.lastCommitted, committed)
	return nil
}

func (l *Log) checkUsable() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.mu.closed {
		return ErrClosed
	}
	if l.mu.failed != nil {
		return fmt.Errorf("%w: %w", ErrFailed, l.mu.failed)
	}
	return nil
}

// fail makes err sticky and returns it wrapped in ErrFailed.
func (l *Log) fail(err error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.mu.failed == nil {
		l.mu.failed = err
	}
	return fmt.Errorf("%w: %w", ErrFailed, err)
}

func (l *Log) write(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	if _, err := l.file.Write(b); err != nil {
		return l.fail(fmt.Errorf("plog: write %s: %w", l.w.cur.name, err))
	}
	return nil
}

// rotate syncs and closes the active segment (if any) and starts a new one
// whose first record has decree first. Every segment but the active one is
// therefore fully synced, and so is the directory listing, under both sync
// policies.
func (l *Log) rotate(first protocol.Decree) (*segment, error) {
	if l.file != nil {
		if err := l.file.Sync(); err != nil {
			return nil, l.fail(fmt.Errorf("plog: sync %s: %w", l.w.cur.name, err))
		}
	}
	seq := l.w.nextSeq
	name := segmentName(seq, first)
	f, err := l.fs.Create(l.fs.PathJoin(l.dir, name))
	if err != nil {
		return nil, l.fail(fmt.Errorf("plog: create %s: %w", name, err))
	}
	l.flushMu.Lock()
	old := l.file
	l.file = f
	l.flushMu.Unlock()
	if old != nil {
		if err := old.Close(); err != nil {
			return nil, l.fail(fmt.Errorf("plog: close %s: %w", l.w.cur.name, err))
		}
	}
	l.w.nextSeq++
	l.w.cur = &segment{seq: seq, name: name, first: first, size: headerSize}
	if _, err := f.Write(appendHeader(nil, first)); err != nil {
		return nil, l.fail(fmt.Errorf("plog: write %s: %w", name, err))
	}
	if err := syncDir(l.fs, l.dir); err != nil {
		return nil, l.fail(err)
	}
	return l.w.cur, nil
}

// Flush syncs the active segment to stable storage. With SyncPageCache it
// makes every Append that returned before Flush was called durable; with
// SyncFsync it is redundant. It may be called from any goroutine. A sync
// error fails the log.
func (l *Log) Flush() error {
	if err := l.checkUsable(); err != nil {
		return err
	}
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	if l.file == nil {
		return nil
	}
	if err := l.file.Sync(); err != nil {
		return l.fail(fmt.Errorf("plog: flush: %w", err))
	}
	return nil
}

func (l *Log) runFlusher(ticks <-chan time.Time, ticker *time.Ticker) {
	defer close(l.flushDone)
	if ticker != nil {
		defer ticker.Stop()
	}
	for {
		select {
		case <-l.stopFlush:
			return
		case <-ticks:
			err := l.Flush()
			if err != nil && !errors.Is(err, ErrClosed) {
				l.log.Error("plog: background flush failed", "err", err)
			}
			if l.opts.afterFlush != nil {
				l.opts.afterFlush(err)
			}
		}
	}
}

// GC removes the oldest segments whose every record has a decree below
// floor, stopping at the first segment that has one at or above it; the
// newest segment is never removed. It returns how many segments it removed.
// The caller computes floor (durable decree in pebble, duplication and
// learner needs). Readers positioned inside a removed segment finish it;
// Readers that need a removed segment get ErrGarbageCollected. GC must be
// called from the owner goroutine. If removing a file fails, the segment is
// already gone from the log's view; a later Open removes the file.
func (l *Log) GC(floor protocol.Decree) (int, error) {
	l.mu.Lock()
	if l.mu.closed {
		l.mu.Unlock()
		return 0, ErrClosed
	}
	n := 0
	for n < len(l.mu.segs)-1 && l.mu.segs[n].maxDecree < floor {
		n++
	}
	victims := slices.Clone(l.mu.segs[:n])
	l.mu.segs = slices.Clone(l.mu.segs[n:])
	if n > 0 {
		firstSeq := l.mu.segs[0].seq
		k := 0
		for k < len(l.mu.events) && l.mu.events[k].pos.seq < firstSeq {
			k++
		}
		l.mu.events = slices.Clone(l.mu.events[k:])
		l.mu.minAfter = slices.Clone(l.mu.minAfter[k:])
	}
	l.mu.Unlock()
	if n == 0 {
		return 0, nil
	}
	for _, s := range victims {
		if err := l.fs.Remove(l.fs.PathJoin(l.dir, s.name)); err != nil {
			return 0, fmt.Errorf("plog: remove %s: %w", s.name, err)
		}
	}
	if err := syncDir(l.fs, l.dir); err != nil {
		return 0, err
	}
	return n, nil
}

// Stats reports the log's contents as of the last Append that returned. It
// may be called from any goroutine.
func (l *Log) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := Stats{
		MaxDecree:     l.mu.lastDecree,
		MaxBallot:     l.mu.lastBallot,
		LastCommitted: l.mu.lastCommitted,
		Segments:      len(l.mu.segs),
	}
	for i, seg := range l.mu.segs {
		if i == 0 || seg.minDecree < s.MinDecree {
			s.MinDecree = seg.minDecree
		}
		s.TotalBytes += seg.size
	}
	return s
}

// Close stops the background flush, syncs and closes the active segment
// and releases the directory lock. Readers must be closed separately. Close
// must be called from the owner goroutine; a second Close returns nil.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.mu.closed {
		l.mu.Unlock()
		return nil
	}
	l.mu.closed = true
	failed := l.mu.failed
	l.mu.Unlock()
	if l.stopFlush != nil {
		close(l.stopFlush)
		<-l.flushDone
	}
	var errs []error
	l.flushMu.Lock()
	if l.file != nil {
		if failed == nil {
			if err := l.file.Sync(); err != nil {
				errs = append(errs, fmt.Errorf("plog: sync on close: %w", err))
			}
		}
		errs = append(errs, l.file.Close())
		l.file = nil
	}
	l.flushMu.Unlock()
	errs = append(errs, l.lock.Close())
	return errors.Join(errs...)
}
