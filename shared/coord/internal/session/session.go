// Package session holds the session lifecycle shared by the coord
// implementations: the Done channel, the terminal error and the buffered
// session event channel. It owns no goroutines; every method is safe for
// concurrent use.
package session

import (
	"errors"
	"sync"
	"sync/atomic"

	"github.com/pegasus-go/pegasus/shared/coord"
)

// eventBuffer is how many session events wait for a slow reader before the
// oldest is dropped.
const eventBuffer = 16

// Life is the lifecycle of one store session.
type Life struct {
	id   atomic.Int64
	done chan struct{}

	mu struct {
		sync.Mutex
		err    error
		events chan coord.SessionEvent // closed by End
	}
}

// New returns a live session.
func New() *Life {
	l := &Life{done: make(chan struct{})}
	l.mu.events = make(chan coord.SessionEvent, eventBuffer)
	return l
}

// SetID records the session id reported in events.
func (l *Life) SetID(id int64) { l.id.Store(id) }

// ID returns the session id.
func (l *Life) ID() int64 { return l.id.Load() }

// Emit publishes a non-terminal state change. When the buffer is full the
// oldest event is dropped. It does nothing after End.
func (l *Life) Emit(state coord.SessionState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.mu.err != nil {
		return
	}
	l.pushLocked(coord.SessionEvent{State: state, SessionID: l.ID()})
}

func (l *Life) pushLocked(ev coord.SessionEvent) {
	for {
		select {
		case l.mu.events <- ev:
			return
		default:
		}
		select {
		case <-l.mu.events: // drop the oldest; a reader may have beaten us
		default:
		}
	}
}

// End makes the session terminal with err (coord.ErrSessionLost or
// coord.ErrClosed): Done is closed, a SessionLost event is delivered for
// ErrSessionLost, and the event channel is closed. Only the first call has
// an effect; it reports whether it was the one.
func (l *Life) End(err error) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.mu.err != nil {
		return false
	}
	l.mu.err = err
	if errors.Is(err, coord.ErrSessionLost) {
		l.pushLocked(coord.SessionEvent{State: coord.SessionLost, SessionID: l.ID()})
	}
	close(l.mu.events)
	close(l.done)
	return true
}

// Done is closed by End.
func (l *Life) Done() <-chan struct{} { return l.done }

// Err returns the terminal error, or nil while the session is alive.
func (l *Life) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.mu.err
}

// Events returns the session event channel.
func (l *Life) Events() <-chan coord.SessionEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.mu.events
}
