package plog

import (
	"fmt"
	"io"

	"github.com/cockroachdb/pebble/vfs"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

// Replay calls fn for every live mutation with decree >= from, in
// increasing decree order: for a decree that was re-appended with a higher
// ballot only the latest version is yielded, and records it superseded
// (including higher decrees appended before it) are skipped. from == 0
// means from the start. It returns ErrGarbageCollected if from is below
// MinDecree, and stops at the first error from fn, returning it. Replay is
// meant for the owner goroutine after Open; it sees what Append had
// returned when each record is reached.
func (l *Log) Replay(from protocol.Decree, fn func(*protocol.Mutation) error) error {
	r, err := l.newReader(from, false)
	if err != nil {
		return err
	}
	defer r.Close()
	for {
		m, err := r.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := fn(m); err != nil {
			return err
		}
	}
}

// NewReader returns a Reader over the committed mutations with decree >=
// from (0 means from the start). It returns ErrGarbageCollected if from is
// below MinDecree.
//
// A Reader may be used from any one goroutine, concurrently with the
// appender. It reads only bytes that a returned Append wrote, and yields a
// mutation only once it is committed by the log's own evidence: its decree
// is <= the largest LastCommitted of any record appended so far (see
// Stats.LastCommitted). Mutations are yielded in increasing decree order,
// each decree once, in the version that is live when it is yielded (a
// committed decree's content never changes, PacificA re-prepares it
// unchanged).
func (l *Log) NewReader(from protocol.Decree) (*Reader, error) {
	return l.newReader(from, true)
}

func (l *Log) newReader(from protocol.Decree, committedOnly bool) (*Reader, error) {
	from = max(from, 1)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.mu.closed {
		return nil, ErrClosed
	}
	r := &Reader{l: l, from: from, committedOnly: committedOnly}
	if len(l.mu.segs) == 0 {
		return r, nil // r.seq 0: start at the first segment to appear
	}
	minDecree := l.mu.segs[0].minDecree
	for _, s := range l.mu.segs {
		minDecree = min(minDecree, s.minDecree)
	}
	if from < minDecree && from > 1 {
		return nil, fmt.Errorf("%w: from %d, log starts at %d", ErrGarbageCollected, from, minDecree)
	}
	// Skip segments holding only decrees below from.
	i := 0
	for i < len(l.mu.segs)-1 && l.mu.segs[i].maxDecree < from {
		i++
	}
	r.seq = l.mu.segs[i].seq
	return r, nil
}

// Reader iterates committed mutations across segments; see NewReader.
type Reader struct {
	l             *Log
	from          protocol.Decree
	committedOnly bool
	lastYielded   protocol.Decree

	seq  uint64 // segment being read (or to open next); 0: the first one
	f    vfs.File
	name string
	sr   *segmentReader

	pending    *protocol.Mutation // read, not yet yielded: not committed yet
	pendingPos position
	closed     bool
}

// Next returns the next mutation. It returns io.EOF when it has caught up
// with the log; calling it again after more Appends yields more. The
// returned mutation is the caller's. Errors: ErrGarbageCollected (the next
// segment was removed), a *CorruptionError, IO errors, ErrClosed.
func (r *Reader) Next() (*protocol.Mutation, error) {
	if r.closed {
		return nil, ErrClosed
	}
	for {
		if r.pending == nil {
			m, pos, err := r.readRecord()
			if err != nil {
				return nil, err
			}
			r.pending, r.pendingPos = m, pos
		}
		m := r.pending
		r.l.mu.Lock()
		dead := r.l.deadLocked(r.pendingPos, m.Decree)
		committed := r.l.mu.lastCommitted
		r.l.mu.Unlock()
		if dead || m.Decree < r.from || m.Decree <= r.lastYielded {
			r.pending = nil
			continue
		}
		if r.committedOnly && m.Decree > committed {
			return nil, io.EOF
		}
		r.pending = nil
		r.lastYielded = m.Decree
		return m, nil
	}
}

// readRecord reads the next record of the log, moving across segments.
func (r *Reader) readRecord() (*protocol.Mutation, position, error) {
	for {
		limit, found, hasNext, err := r.segmentState()
		if err != nil {
			return nil, position{}, err
		}
		if !found {
			return nil, position{}, io.EOF
		}
		if r.f == nil {
			if err := r.open(limit); err != nil {
				return nil, position{}, err
			}
		}
		r.sr.limit = max(r.sr.limit, limit)
		if r.sr.off < r.sr.limit {
			off := r.sr.off
			payload, reason, err := r.sr.next()
			if err != nil {
				return nil, position{}, fmt.Errorf("plog: read %s: %w", r.name, err)
			}
			if reason != "" {
				return nil, position{}, &CorruptionError{Segment: r.name, Offset: off, Reason: reason}
			}
			m := new(protocol.Mutation)
			if err := m.UnmarshalBinary(payload); err != nil {
				return nil, position{}, &CorruptionError{Segment: r.name, Offset: off, Reason: "undecodable mutation: " + err.Error()}
			}
			return m, position{r.seq, off}, nil
		}
		if !hasNext {
			return nil, position{}, io.EOF
		}
		r.closeFile()
		r.seq++
	}
}

// segmentState looks up r.seq in the log: its published size, whether it
// exists yet, and whether a later segment exists (so r.seq is sealed).
func (r *Reader) segmentState() (limit int64, found, hasNext bool, err error) {
	l := r.l
	l.mu.Lock()
	defer l.mu.Unlock()
	segs := l.mu.segs
	if r.seq == 0 {
		if len(segs) == 0 {
			return 0, false, false, nil
		}
		r.seq = segs[0].seq
	}
	for i := range segs {
		if segs[i].seq == r.seq {
			return segs[i].size, true, i+1 < len(segs), nil
		}
	}
	if r.f != nil {
		// Our segment was garbage collected while we read it; it was sealed,
		// so the size we know is final.
		return r.sr.limit, true, true, nil
	}
	if len(segs) > 0 && segs[0].seq > r.seq {
		return 0, false, false, fmt.Errorf("%w: segment %d was removed", ErrGarbageCollected, r.seq)
	}
	return 0, false, false, nil
}

func (r *Reader) open(limit int64) error {
	l := r.l
	name, ok := r.segmentName()
	if !ok {
		return fmt.Errorf("%w: segment %d was removed", ErrGarbageCollected, r.seq)
	}
	f, err := l.fs.Open(l.fs.PathJoin(l.dir, name))
	if err != nil {
		if _, ok := r.segmentName(); !ok {
			return fmt.Errorf("%w: segment %s: %w", ErrGarbageCollected, name, err)
		}
		return fmt.Errorf("plog: open %s: %w", name, err)
	}
	r.f, r.name = f, name
	r.sr = newSegmentReader(f, headerSize, limit)
	return nil
}

// segmentName returns the file name of segment r.seq if the log still has it.
func (r *Reader) segmentName() (string, bool) {
	r.l.mu.Lock()
	defer r.l.mu.Unlock()
	for _, s := range r.l.mu.segs {
		if s.seq == r.seq {
			return s.name, true
		}
	}
	return "", false
}

func (r *Reader) closeFile() {
	if r.f != nil {
		r.f.Close()
		r.f, r.sr = nil, nil
	}
}

// Close releases the reader's file. It does not affect the log.
func (r *Reader) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	if r.f != nil {
		err := r.f.Close()
		r.f, r.sr = nil, nil
		return err
	}
	return nil
}
