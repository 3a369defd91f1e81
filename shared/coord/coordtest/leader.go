package coordtest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/pegasus-go/pegasus/shared/coord"
)

const election = "/election"

func afterDeath(e *env) <-chan time.Time {
	d := e.s.b.DeathTimeout
	if d <= 0 {
		d = waitLimit
	}
	return time.After(d)
}

type win struct {
	id  int
	l   coord.Leadership
	err error
}

// campaign starts s campaigning with value in the background.
func campaign(ctx context.Context, s coord.Store, id int, value string, out chan<- win) {
	go func() {
		l, err := s.Campaign(ctx, election, []byte(value))
		out <- win{id, l, err}
	}()
}

func waitWin(t *testing.T, what string, wins <-chan win, limit <-chan time.Time) win {
	t.Helper()
	select {
	case w := <-wins:
		if w.err != nil {
			t.Fatalf("%s: campaign %d failed: %v", what, w.id, w.err)
		}
		return w
	case <-limit:
		t.Fatalf("%s: nobody won", what)
	}
	panic("unreachable")
}

func noWin(t *testing.T, what string, wins <-chan win) {
	t.Helper()
	select {
	case w := <-wins:
		t.Fatalf("%s: campaign %d returned (%v) while another session leads", what, w.id, w.err)
	default:
	}
}

func wantLeader(t *testing.T, e *env, s coord.Store, want string) {
	t.Helper()
	v, ok, err := coord.Leader(e.ctx, s, election)
	noErr(t, "leader", err)
	if want == "" {
		if ok {
			t.Fatalf("leader %q, want none", v)
		}
		return
	}
	if !ok || string(v) != want {
		t.Fatalf("leader %q (ok %v), want %q", v, ok, want)
	}
}

func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func waitClosed(t *testing.T, what string, ch <-chan struct{}, limit <-chan time.Time) {
	t.Helper()
	select {
	case <-ch:
	case <-limit:
		t.Fatalf("%s: not closed in time", what)
	}
}

func testLeaderExactlyOne(t *testing.T, e *env) {
	const n = 3
	obs := e.open()
	wantLeader(t, e, obs, "")
	wins := make(chan win, n)
	for i := range n {
		campaign(e.ctx, e.open(), i, fmt.Sprint("candidate-", i), wins)
	}
	seen := map[int]bool{}
	for round := range n {
		w := waitWin(t, fmt.Sprint("round ", round), wins, time.After(waitLimit))
		if seen[w.id] {
			t.Fatalf("candidate %d won twice", w.id)
		}
		seen[w.id] = true
		wantLeader(t, e, obs, fmt.Sprint("candidate-", w.id))
		noWin(t, fmt.Sprint("round ", round), wins)
		if closed(w.l.Lost()) {
			t.Fatalf("round %d: fresh leadership already lost", round)
		}
		_, _, lw, err := coord.LeaderW(e.ctx, obs, election)
		noErr(t, "leaderw", err)
		noErr(t, "resign", w.l.Resign(e.ctx))
		noErr(t, "resign twice", w.l.Resign(e.ctx))
		if !closed(w.l.Lost()) {
			t.Fatalf("round %d: Lost open after Resign", round)
		}
		recv(t, "leader watch on resign", lw)
	}
	wantLeader(t, e, obs, "")
}

func testLeaderFailoverClose(t *testing.T, e *env) {
	a, b, obs := e.open(), e.open(), e.open()
	la, err := a.Campaign(e.ctx, election, []byte("a"))
	noErr(t, "campaign a", err)
	wins := make(chan win, 1)
	campaign(e.ctx, b, 1, "b", wins)
	v, ok, lw, err := coord.LeaderW(e.ctx, obs, election)
	noErr(t, "leaderw", err)
	if !ok || string(v) != "a" {
		t.Fatalf("leader %q %v, want a", v, ok)
	}
	noWin(t, "while a leads", wins)
	noErr(t, "close a", a.Close())
	waitClosed(t, "a's Lost after Close", la.Lost(), time.After(waitLimit))
	w := waitWin(t, "after a closed", wins, time.After(waitLimit))
	recv(t, "leader watch", lw)
	wantLeader(t, e, obs, "b")
	noErr(t, "resign b", w.l.Resign(e.ctx))
}

func testLeaderFailoverKill(t *testing.T, e *env) {
	b := e.open()
	c := e.startChild("leader", election, "child")
	wantLeader(t, e, b, "child")
	wins := make(chan win, 1)
	campaign(e.ctx, b, 1, "b", wins)
	noWin(t, "while the child leads", wins)
	c.kill(t)
	w := waitWin(t, "after the leader was SIGKILLed", wins, afterDeath(e))
	wantLeader(t, e, b, "b")
	noErr(t, "resign", w.l.Resign(e.ctx))
}

func testLeaderNodeDeleted(t *testing.T, e *env) {
	a, b := e.open(), e.open()
	l, err := a.Campaign(e.ctx, election, []byte("a"))
	noErr(t, "campaign", err)
	noErr(t, "delete the leader's node", b.Delete(e.ctx, l.Path(), coord.AnyVersion))
	waitClosed(t, "Lost after the leader node was deleted", l.Lost(), time.After(waitLimit))
	// The election goes on: someone else can lead now.
	lb, err := b.Campaign(e.ctx, election, []byte("b"))
	noErr(t, "campaign b", err)
	wantLeader(t, e, a, "b")
	noErr(t, "resign", lb.Resign(e.ctx))
	noErr(t, "resign the lost leadership", l.Resign(e.ctx))
}

func testCampaignCanceled(t *testing.T, e *env) {
	a, b, c := e.open(), e.open(), e.open()
	la, err := a.Campaign(e.ctx, election, []byte("a"))
	noErr(t, "campaign a", err)
	ctx, cancel := context.WithCancel(e.ctx)
	wins := make(chan win, 1)
	campaign(ctx, b, 1, "b", wins)
	cancel()
	select {
	case w := <-wins:
		if !errors.Is(w.err, context.Canceled) {
			t.Fatalf("canceled campaign returned %v", w.err)
		}
	case <-time.After(waitLimit):
		t.Fatal("canceled campaign did not return")
	}
	// The abandoned candidate must not stand in the way of c.
	noErr(t, "resign a", la.Resign(e.ctx))
	lc, err := c.Campaign(e.ctx, election, []byte("c"))
	noErr(t, "campaign c", err)
	wantLeader(t, e, a, "c")
	noErr(t, "resign c", lc.Resign(e.ctx))
	if b.Err() != nil {
		t.Fatalf("canceling a campaign ended the session: %v", b.Err())
	}
}

func testLeaderSessionLoss(t *testing.T, e *env) {
	if e.s.b.LoseSession == nil {
		t.Skip("backend cannot lose a session on demand")
	}
	a := e.open()
	l, err := a.Campaign(e.ctx, election, []byte("a"))
	noErr(t, "campaign", err)
	_, _, w, err := a.ExistsW(e.ctx, "/never")
	noErr(t, "existsw", err)
	e.s.b.LoseSession(t, a)
	waitClosed(t, "Lost after session loss", l.Lost(), time.After(waitLimit))
	waitClosed(t, "Done after session loss", a.Done(), time.After(waitLimit))
	isErr(t, "Err after session loss", a.Err(), coord.ErrSessionLost)
	_, _, err = a.Get(e.ctx, "/")
	isErr(t, "get after session loss", err, coord.ErrSessionLost)
	_, err = a.Campaign(e.ctx, election, nil)
	isErr(t, "campaign after session loss", err, coord.ErrSessionLost)
	ev := recv(t, "watch after session loss", w)
	if ev.Type != coord.EventNotWatching || !errors.Is(ev.Err, coord.ErrSessionLost) {
		t.Fatalf("watch after session loss: %v (%v)", ev.Type, ev.Err)
	}
	var last coord.SessionEvent
	for ev := range a.Events() {
		last = ev
	}
	if last.State != coord.SessionLost {
		t.Fatalf("last session event %v, want lost", last.State)
	}
	noErr(t, "close a lost store", a.Close())
	isErr(t, "Err after closing a lost store", a.Err(), coord.ErrSessionLost)

	// A new session can lead once the old one's node is gone.
	b := e.open()
	lb, err := b.Campaign(e.ctx, election, []byte("b"))
	noErr(t, "campaign after the loss", err)
	wantLeader(t, e, b, "b")
	noErr(t, "resign", lb.Resign(e.ctx))
}
