package coordtest

import (
	"errors"
	"testing"

	"github.com/pegasus-go/pegasus/shared/coord"
)

func testWatchData(t *testing.T, e *env) {
	s := e.open()
	ctx := e.ctx
	_, err := s.Create(ctx, "/d", []byte("v0"), coord.Persistent)
	noErr(t, "create", err)
	_, _, _, err = s.GetW(ctx, "/none")
	isErr(t, "getw on a missing node", err, coord.ErrNoNode)

	data, st, w, err := s.GetW(ctx, "/d")
	noErr(t, "getw", err)
	if string(data) != "v0" || st.Version != 0 {
		t.Fatalf("getw returned %q %+v", data, st)
	}
	// A child appearing is not a data change.
	_, _, barrier, err := s.ChildrenW(ctx, "/d")
	noErr(t, "barrier", err)
	_, err = s.Create(ctx, "/d/kid", nil, coord.Persistent)
	noErr(t, "create child", err)
	expect(t, "children barrier", barrier, coord.EventChildrenChanged, "/d")
	quiet(t, "data watch after a child create", w)

	_, err = s.Set(ctx, "/d", []byte("v1"), coord.AnyVersion)
	noErr(t, "set", err)
	expect(t, "data watch on set", w, coord.EventDataChanged, "/d")

	// One-shot: a second change needs a new watch.
	_, _, w, err = s.GetW(ctx, "/d")
	noErr(t, "getw again", err)
	noErr(t, "delete child", s.Delete(ctx, "/d/kid", coord.AnyVersion))
	noErr(t, "delete", s.Delete(ctx, "/d", coord.AnyVersion))
	expect(t, "data watch on delete", w, coord.EventDeleted, "/d")
}

func testWatchExists(t *testing.T, e *env) {
	s := e.open()
	ctx := e.ctx
	_, ok, w, err := s.ExistsW(ctx, "/x")
	noErr(t, "existsw absent", err)
	if ok {
		t.Fatal("absent node exists")
	}
	_, err = s.Create(ctx, "/x", nil, coord.Persistent)
	noErr(t, "create", err)
	expect(t, "exists watch on create", w, coord.EventCreated, "/x")

	st, ok, w, err := s.ExistsW(ctx, "/x")
	noErr(t, "existsw present", err)
	if !ok || st.Version != 0 {
		t.Fatalf("existsw present = %v %+v", ok, st)
	}
	_, _, barrier, err := s.ChildrenW(ctx, "/x")
	noErr(t, "barrier", err)
	_, err = s.Create(ctx, "/x/kid", nil, coord.Persistent)
	noErr(t, "create child", err)
	expect(t, "children barrier", barrier, coord.EventChildrenChanged, "/x")
	quiet(t, "exists watch after a child create", w)
	_, err = s.Set(ctx, "/x", []byte("1"), coord.AnyVersion)
	noErr(t, "set", err)
	expect(t, "exists watch on set", w, coord.EventDataChanged, "/x")

	_, _, w, err = s.ExistsW(ctx, "/x")
	noErr(t, "existsw again", err)
	_, err = s.Multi(ctx, coord.DeleteOp("/x/kid", coord.AnyVersion), coord.DeleteOp("/x", coord.AnyVersion))
	noErr(t, "delete", err)
	expect(t, "exists watch on delete", w, coord.EventDeleted, "/x")

	// A node deleted and created again before anyone looked still counts
	// as deleted for a watch set on the first incarnation.
	_, err = s.Create(ctx, "/x", []byte("a"), coord.Persistent)
	noErr(t, "create", err)
	_, _, w, err = s.ExistsW(ctx, "/x")
	noErr(t, "existsw", err)
	_, err = s.Multi(ctx, coord.DeleteOp("/x", coord.AnyVersion), coord.CreateOp("/x", []byte("a"), coord.Persistent))
	noErr(t, "delete and recreate", err)
	expect(t, "exists watch on delete+create", w, coord.EventDeleted, "/x")
}

func testWatchChildren(t *testing.T, e *env) {
	s := e.open()
	ctx := e.ctx
	_, err := s.Create(ctx, "/p", nil, coord.Persistent)
	noErr(t, "create", err)
	_, err = s.Create(ctx, "/p/a", nil, coord.Persistent)
	noErr(t, "create child", err)
	_, _, _, err = s.ChildrenW(ctx, "/none")
	isErr(t, "childrenw on a missing node", err, coord.ErrNoNode)

	kids, _, w, err := s.ChildrenW(ctx, "/p")
	noErr(t, "childrenw", err)
	if len(kids) != 1 || kids[0] != "a" {
		t.Fatalf("children %v", kids)
	}
	// Data changes of the node itself or of a child do not fire it.
	_, _, barrier, err := s.GetW(ctx, "/p")
	noErr(t, "barrier", err)
	_, err = s.Set(ctx, "/p", []byte("1"), coord.AnyVersion)
	noErr(t, "set parent", err)
	expect(t, "parent data barrier", barrier, coord.EventDataChanged, "/p")
	quiet(t, "children watch after a parent set", w)
	_, _, barrier, err = s.GetW(ctx, "/p/a")
	noErr(t, "child barrier", err)
	_, err = s.Set(ctx, "/p/a", []byte("1"), coord.AnyVersion)
	noErr(t, "set child", err)
	expect(t, "child data barrier", barrier, coord.EventDataChanged, "/p/a")
	quiet(t, "children watch after a child set", w)
	// Neither does a grandchild.
	_, _, barrier, err = s.ChildrenW(ctx, "/p/a")
	noErr(t, "grandchild barrier", err)
	_, err = s.Create(ctx, "/p/a/g", nil, coord.Persistent)
	noErr(t, "create grandchild", err)
	expect(t, "grandchild barrier", barrier, coord.EventChildrenChanged, "/p/a")
	quiet(t, "children watch after a grandchild create", w)

	_, err = s.Create(ctx, "/p/b", nil, coord.Persistent)
	noErr(t, "create second child", err)
	expect(t, "children watch on create", w, coord.EventChildrenChanged, "/p")

	_, _, w, err = s.ChildrenW(ctx, "/p")
	noErr(t, "childrenw again", err)
	noErr(t, "delete child", s.Delete(ctx, "/p/b", coord.AnyVersion))
	expect(t, "children watch on child delete", w, coord.EventChildrenChanged, "/p")

	_, err = s.Create(ctx, "/q", nil, coord.Persistent)
	noErr(t, "create", err)
	_, _, w, err = s.ChildrenW(ctx, "/q")
	noErr(t, "childrenw", err)
	noErr(t, "delete", s.Delete(ctx, "/q", coord.AnyVersion))
	expect(t, "children watch on node delete", w, coord.EventDeleted, "/q")
}

func testWatchAcrossSessions(t *testing.T, e *env) {
	a, b := e.open(), e.open()
	ctx := e.ctx
	_, _, wc, err := b.ExistsW(ctx, "/shared")
	noErr(t, "existsw", err)
	_, err = a.Create(ctx, "/shared", []byte("a"), coord.Persistent)
	noErr(t, "create", err)
	expect(t, "other session's create", wc, coord.EventCreated, "/shared")
	_, _, wd, err := b.GetW(ctx, "/shared")
	noErr(t, "getw", err)
	_, err = a.Set(ctx, "/shared", []byte("b"), 0)
	noErr(t, "set", err)
	expect(t, "other session's set", wd, coord.EventDataChanged, "/shared")
}

func testWatchClosed(t *testing.T, e *env) {
	s := e.open()
	_, _, w, err := s.ExistsW(e.ctx, "/never")
	noErr(t, "existsw", err)
	noErr(t, "close", s.Close())
	ev := recv(t, "watch of a closed store", w)
	if ev.Type != coord.EventNotWatching || !errors.Is(ev.Err, coord.ErrClosed) {
		t.Fatalf("watch of a closed store got %v (%v), want not-watching with ErrClosed", ev.Type, ev.Err)
	}
}

func testSessionEvents(t *testing.T, e *env) {
	s := e.open()
	select {
	case ev := <-s.Events():
		if ev.State != coord.SessionConnected || ev.SessionID != s.SessionID() {
			t.Fatalf("first session event %+v, session %d", ev, s.SessionID())
		}
	default:
		t.Fatal("no SessionConnected event after open")
	}
	if s.SessionID() == 0 || s.Err() != nil {
		t.Fatalf("session id %d, err %v", s.SessionID(), s.Err())
	}
	other := e.open()
	if other.SessionID() == s.SessionID() {
		t.Fatal("two stores share a session id")
	}
	noErr(t, "close", s.Close())
	for range s.Events() {
	}
}

func testEphemeralClose(t *testing.T, e *env) {
	a, b := e.open(), e.open()
	ctx := e.ctx
	_, err := a.Create(ctx, "/keep", nil, coord.Persistent)
	noErr(t, "create persistent", err)
	_, err = a.Create(ctx, "/eph", []byte("a"), coord.Ephemeral)
	noErr(t, "create ephemeral", err)
	st, ok, w, err := b.ExistsW(ctx, "/eph")
	noErr(t, "existsw", err)
	if !ok || st.EphemeralOwner != a.SessionID() {
		t.Fatalf("ephemeral seen as %v %+v, owner should be %d", ok, st, a.SessionID())
	}
	noErr(t, "close owner", a.Close())
	expect(t, "ephemeral after its session closed", w, coord.EventDeleted, "/eph")
	if _, ok, _ := b.Exists(ctx, "/keep"); !ok {
		t.Fatal("persistent node went with its creator's session")
	}
	// The name is free again.
	_, err = b.Create(ctx, "/eph", []byte("b"), coord.Ephemeral)
	noErr(t, "create ephemeral again", err)
}

func testEphemeralKilled(t *testing.T, e *env) {
	s := e.open()
	c := e.startChild("ephemeral", "/procs/child", "alive")
	st, ok, w, err := s.ExistsW(e.ctx, "/procs/child")
	noErr(t, "existsw", err)
	if !ok || st.EphemeralOwner != c.session {
		t.Fatalf("child's node: %v %+v, child session %d", ok, st, c.session)
	}
	c.kill(t)
	select {
	case ev := <-w:
		if ev.Type != coord.EventDeleted {
			t.Fatalf("child's node: %v event", ev.Type)
		}
	case <-afterDeath(e):
		t.Fatalf("ephemeral node of a SIGKILLed process still there after %v", e.s.b.DeathTimeout)
	}
}
