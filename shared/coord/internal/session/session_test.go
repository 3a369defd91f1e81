package session

import (
	"errors"
	"testing"

	"github.com/pegasus-go/pegasus/shared/coord"
)

func TestLostIsAlwaysDelivered(t *testing.T) {
	l := New()
	l.SetID(7)
	for range 3 * eventBuffer {
		l.Emit(coord.SessionDisconnected) // nobody reads: the oldest are dropped
	}
	if !l.End(coord.ErrSessionLost) || l.End(coord.ErrClosed) {
		t.Fatal("End must take effect exactly once")
	}
	var got []coord.SessionEvent
	for ev := range l.Events() {
		got = append(got, ev)
	}
	if len(got) != eventBuffer || got[len(got)-1] != (coord.SessionEvent{State: coord.SessionLost, SessionID: 7}) {
		t.Fatalf("events after a full buffer: %d, last %+v", len(got), got[len(got)-1])
	}
	if !errors.Is(l.Err(), coord.ErrSessionLost) {
		t.Fatalf("Err = %v", l.Err())
	}
	l.Emit(coord.SessionConnected) // after End: ignored, no panic
	select {
	case <-l.Done():
	default:
		t.Fatal("Done open after End")
	}
}

func TestCloseSendsNoEvent(t *testing.T) {
	l := New()
	l.Emit(coord.SessionConnected)
	if l.Err() != nil {
		t.Fatal("live session has an error")
	}
	l.End(coord.ErrClosed)
	var states []coord.SessionState
	for ev := range l.Events() {
		states = append(states, ev.State)
	}
	if len(states) != 1 || states[0] != coord.SessionConnected {
		t.Fatalf("events %v", states)
	}
}
