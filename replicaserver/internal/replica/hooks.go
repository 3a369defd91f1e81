package replica

import (
	"errors"
	"time"
)

// crashPoint names a spot in the handling of a Ready where tests may stop
// the loop as if the process died there.
type crashPoint int

const (
	crashAfterState    crashPoint = iota // metadata persisted, entries not yet logged
	crashAfterAppend                     // entries logged, nothing applied
	crashAfterApply                      // one committed mutation applied, its callers not answered
	crashBeforeAdvance                   // everything handled, Advance not called
)

// testHooks lets tests in this package inject faults and time. Production
// code never sets Options.hooks.
type testHooks struct {
	// crashAt, if set, is asked at every crash point; returning true makes
	// the loop stop at once, leaving files open and callers unanswered.
	crashAt func(crashPoint) bool
	// tickC replaces the TickInterval ticker.
	tickC <-chan time.Time
	// reapC replaces the ReapInterval ticker.
	reapC <-chan time.Time
}

// errKilled stops the loop at a crash point; it never reaches callers as
// the replica's failure.
var errKilled = errors.New("replica: killed at a crash point")

func (r *Replica) crashAt(p crashPoint) bool {
	return r.hooks != nil && r.hooks.crashAt != nil && r.hooks.crashAt(p)
}
