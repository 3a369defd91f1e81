package core

import (
	"fmt"

	"github.com/pegasus-go/pegasus/shared/protocol"
)

// entry is one mutation in the in-memory log with the tokens of the writes
// it carries (primary only; nil elsewhere).
type entry struct {
	m      *protocol.Mutation
	tokens []Token
}

// memLog holds the mutations above the applied decree: a contiguous run of
// decrees [first, last]. Mutations are never modified once stored; a
// replacement under a higher ballot is a new *protocol.Mutation.
type memLog struct {
	first protocol.Decree // decree of ents[0], or the next decree when empty
	ents  []entry
}

func newMemLog(applied protocol.Decree) memLog { return memLog{first: applied + 1} }

// last returns the highest decree held, or first-1 when empty.
func (l *memLog) last() protocol.Decree { return l.first + protocol.Decree(len(l.ents)) - 1 }

func (l *memLog) get(d protocol.Decree) *entry {
	if d < l.first || d > l.last() {
		return nil
	}
	return &l.ents[d-l.first]
}

// put stores e at its decree, replacing what is there, or appends it right
// after the last decree. Anything else breaks the contiguity invariant.
func (l *memLog) put(e entry) {
	d := e.m.Decree
	switch {
	case d >= l.first && d <= l.last():
		l.ents[d-l.first] = e
	case d == l.last()+1:
		l.ents = append(l.ents, e)
	default:
		panic(fmt.Sprintf("core: log put of decree %d outside [%d, %d]", d, l.first, l.last()+1))
	}
}

// compact forgets every decree up to and including d.
func (l *memLog) compact(d protocol.Decree) {
	if d < l.first {
		return
	}
	if d > l.last() {
		l.first = d + 1
		l.ents = nil
		return
	}
	n := int(d - l.first + 1)
	clear(l.ents[:n])
	l.ents = l.ents[n:]
	l.first = d + 1
}

// logPos orders plog records in the order the core hands them out: by
// ballot, then by decree. Within one ballot decrees are handed out in
// increasing order, and a new ballot only ever follows an older one, so a
// later record always has a greater position.
type logPos struct {
	ballot protocol.Ballot
	decree protocol.Decree
}

func (p logPos) less(o logPos) bool {
	return p.ballot < o.ballot || (p.ballot == o.ballot && p.decree < o.decree)
}

func posOf(m *protocol.Mutation) logPos { return logPos{m.Ballot, m.Decree} }

// restoreLog builds the in-memory log from plog records: the highest ballot
// wins per decree, and the run stops at the first gap above applied. It
// returns the log and the position of the greatest record kept.
func restoreLog(applied protocol.Decree, recs []*protocol.Mutation) (memLog, logPos, error) {
	best := make(map[protocol.Decree]*protocol.Mutation, len(recs))
	for _, m := range recs {
		if m == nil {
			return memLog{}, logPos{}, protocol.Errorf(protocol.CodeInvalidArgument, "core: nil record in restored log")
		}
		if m.Decree <= protocol.InvalidDecree || m.Ballot <= protocol.InvalidBallot {
			return memLog{}, logPos{}, protocol.Errorf(protocol.CodeInvalidArgument,
				"core: restored record has ballot %d decree %d", m.Ballot, m.Decree)
		}
		if m.Decree <= applied {
			continue
		}
		if cur, ok := best[m.Decree]; !ok || cur.Ballot <= m.Ballot {
			best[m.Decree] = m
		}
	}
	l := newMemLog(applied)
	var top logPos
	for d := applied + 1; ; d++ {
		m, ok := best[d]
		if !ok {
			break
		}
		l.put(entry{m: m})
		if top.less(posOf(m)) {
			top = posOf(m)
		}
	}
	return l, top, nil
}
