package coordtest

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pegasus-go/pegasus/shared/coord"
)

// isErr fails the test unless err wraps want.
func isErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: got error %v, want %v", what, err, want)
	}
}

func noErr(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func wantData(t *testing.T, s coord.Store, e *env, path, want string) coord.Stat {
	t.Helper()
	got, st, err := s.Get(e.ctx, path)
	noErr(t, "get "+path, err)
	if string(got) != want {
		t.Fatalf("get %s = %q, want %q", path, got, want)
	}
	if int(st.DataLength) != len(want) {
		t.Fatalf("get %s: DataLength %d, want %d", path, st.DataLength, len(want))
	}
	return st
}

func testCRUD(t *testing.T, e *env) {
	s := e.open()
	got, err := s.Create(e.ctx, "/a", []byte("v1"), coord.Persistent)
	noErr(t, "create", err)
	if got != "/a" {
		t.Fatalf("create returned %q", got)
	}
	st := wantData(t, s, e, "/a", "v1")
	if st.Version != 0 || st.NumChildren != 0 || st.EphemeralOwner != 0 || st.CVersion != 0 {
		t.Fatalf("fresh stat %+v", st)
	}
	if st.Ctime.IsZero() || st.CreateRevision == 0 || st.ModRevision != st.CreateRevision {
		t.Fatalf("fresh stat times/revisions %+v", st)
	}
	created := st.CreateRevision

	st1, err := s.Set(e.ctx, "/a", []byte("v2"), 0)
	noErr(t, "set v0", err)
	if st1.Version != 1 || st1.ModRevision <= st.ModRevision || st1.CreateRevision != created {
		t.Fatalf("stat after set %+v (before %+v)", st1, st)
	}
	_, err = s.Set(e.ctx, "/a", []byte("stale"), 0)
	isErr(t, "set with a stale version", err, coord.ErrBadVersion)
	st2, err := s.Set(e.ctx, "/a", []byte("v3"), coord.AnyVersion)
	noErr(t, "set any", err)
	if st2.Version != 2 {
		t.Fatalf("version after 2 sets = %d", st2.Version)
	}
	// Setting the same data still counts as a change.
	st3, err := s.Set(e.ctx, "/a", []byte("v3"), 2)
	noErr(t, "set same data", err)
	if st3.Version != 3 {
		t.Fatalf("version after same-data set = %d", st3.Version)
	}
	wantData(t, s, e, "/a", "v3")

	ex, ok, err := s.Exists(e.ctx, "/a")
	noErr(t, "exists", err)
	if !ok || ex.Version != 3 {
		t.Fatalf("exists = %v %+v", ok, ex)
	}
	_, ok, err = s.Exists(e.ctx, "/missing")
	noErr(t, "exists missing", err)
	if ok {
		t.Fatal("missing node exists")
	}

	err = s.Delete(e.ctx, "/a", 1)
	isErr(t, "delete with a stale version", err, coord.ErrBadVersion)
	_, err = s.Create(e.ctx, "/a/c", nil, coord.Persistent)
	noErr(t, "create child", err)
	err = s.Delete(e.ctx, "/a", coord.AnyVersion)
	isErr(t, "delete a parent", err, coord.ErrNotEmpty)
	noErr(t, "delete child", s.Delete(e.ctx, "/a/c", 0))
	noErr(t, "delete", s.Delete(e.ctx, "/a", 3))
	_, _, err = s.Get(e.ctx, "/a")
	isErr(t, "get deleted", err, coord.ErrNoNode)
	isErr(t, "delete again", s.Delete(e.ctx, "/a", coord.AnyVersion), coord.ErrNoNode)

	// A node created again starts over, with a new creation revision.
	_, err = s.Create(e.ctx, "/a", nil, coord.Persistent)
	noErr(t, "create again", err)
	st4 := wantData(t, s, e, "/a", "")
	if st4.Version != 0 || st4.CreateRevision <= created {
		t.Fatalf("recreated stat %+v, first creation revision %d", st4, created)
	}

	// The root exists and can hold data, but not be created or deleted.
	_, rs, err := s.Get(e.ctx, "/")
	noErr(t, "get root", err)
	if rs.NumChildren != 1 {
		t.Fatalf("root has %d children, want 1", rs.NumChildren)
	}
	big := bytes.Repeat([]byte("x"), 64<<10)
	_, err = s.Set(e.ctx, "/a", big, coord.AnyVersion)
	noErr(t, "set 64 KiB", err)
	got2, _, err := s.Get(e.ctx, "/a")
	noErr(t, "get 64 KiB", err)
	if !bytes.Equal(got2, big) {
		t.Fatal("64 KiB value came back different")
	}
}

func testErrors(t *testing.T, e *env) {
	s := e.open()
	ctx := e.ctx
	_, err := s.Create(ctx, "/p", []byte("x"), coord.Persistent)
	noErr(t, "create", err)
	_, err = s.Create(ctx, "/p", nil, coord.Persistent)
	isErr(t, "create existing", err, coord.ErrNodeExists)
	var pe *coord.PathError
	if !errors.As(err, &pe) || pe.Path != "/p" || pe.Op != "create" {
		t.Fatalf("error %v is not a PathError for create /p", err)
	}
	_, err = s.Create(ctx, "/no/parent", nil, coord.Persistent)
	isErr(t, "create without parent", err, coord.ErrNoNode)
	_, _, err = s.Get(ctx, "/none")
	isErr(t, "get missing", err, coord.ErrNoNode)
	_, err = s.Set(ctx, "/none", nil, coord.AnyVersion)
	isErr(t, "set missing", err, coord.ErrNoNode)
	_, _, err = s.Children(ctx, "/none")
	isErr(t, "children missing", err, coord.ErrNoNode)

	_, err = s.Create(ctx, "/eph", nil, coord.Ephemeral)
	noErr(t, "create ephemeral", err)
	_, err = s.Create(ctx, "/eph/child", nil, coord.Persistent)
	isErr(t, "create under ephemeral", err, coord.ErrNoChildrenForEphemerals)

	for _, p := range []string{"", "p", "/p/", "//p", "/p//q", "/p/./q", "/p/../q", "/p\x00", "/p\nq",
		"/" + strings.Repeat("n", coord.MaxNameLen+1), "/\ufff5"} {
		_, err = s.Create(ctx, p, nil, coord.Persistent)
		isErr(t, fmt.Sprintf("create %q", p), err, coord.ErrInvalidPath)
		_, _, err = s.Get(ctx, p)
		isErr(t, fmt.Sprintf("get %q", p), err, coord.ErrInvalidPath)
		_, err = s.Set(ctx, p, nil, coord.AnyVersion)
		isErr(t, fmt.Sprintf("set %q", p), err, coord.ErrInvalidPath)
		isErr(t, fmt.Sprintf("delete %q", p), s.Delete(ctx, p, coord.AnyVersion), coord.ErrInvalidPath)
		_, _, err = s.Exists(ctx, p)
		isErr(t, fmt.Sprintf("exists %q", p), err, coord.ErrInvalidPath)
		_, _, err = s.Children(ctx, p)
		isErr(t, fmt.Sprintf("children %q", p), err, coord.ErrInvalidPath)
		_, _, _, err = s.GetW(ctx, p)
		isErr(t, fmt.Sprintf("getw %q", p), err, coord.ErrInvalidPath)
	}
	_, err = s.Create(ctx, "/m", nil, coord.Mode(8))
	isErr(t, "unknown mode", err, coord.ErrInvalidArgument)
	_, err = s.Create(ctx, "/big", make([]byte, coord.MaxDataSize+1), coord.Persistent)
	isErr(t, "too much data", err, coord.ErrInvalidArgument)
	_, err = s.Set(ctx, "/p", nil, -2)
	isErr(t, "version -2", err, coord.ErrInvalidArgument)
	isErr(t, "delete root", s.Delete(ctx, "/", coord.AnyVersion), coord.ErrInvalidArgument)
	_, err = s.Create(ctx, "/", nil, coord.Persistent)
	isErr(t, "create root", err, coord.ErrInvalidArgument)

	noErr(t, "close", s.Close())
	noErr(t, "close twice", s.Close())
	isErr(t, "Err after close", s.Err(), coord.ErrClosed)
	_, _, err = s.Get(ctx, "/p")
	isErr(t, "get after close", err, coord.ErrClosed)
	_, err = s.Create(ctx, "/q", nil, coord.Persistent)
	isErr(t, "create after close", err, coord.ErrClosed)
	_, err = s.Campaign(ctx, "/elect", nil)
	isErr(t, "campaign after close", err, coord.ErrClosed)
	select {
	case <-s.Done():
	default:
		t.Fatal("Done not closed after Close")
	}
}

func testSequential(t *testing.T, e *env) {
	s := e.open()
	_, err := s.Create(e.ctx, "/q", nil, coord.Persistent)
	noErr(t, "create parent", err)
	var names []string
	var last int64 = -1
	for i := range 5 {
		mode := coord.Sequential
		if i%2 == 1 {
			mode |= coord.Ephemeral
		}
		p, err := s.Create(e.ctx, "/q/item-", []byte{byte(i)}, mode)
		noErr(t, "create sequential", err)
		name := coord.Base(p)
		if coord.Parent(p) != "/q" || !strings.HasPrefix(name, "item-") || len(name) != len("item-")+coord.SequenceDigits {
			t.Fatalf("sequential create returned %q", p)
		}
		seq, ok := coord.SequenceOf(name)
		if !ok || seq <= last {
			t.Fatalf("sequence of %q = %d (ok %v), previous %d", name, seq, ok, last)
		}
		last = seq
		names = append(names, name)
		_, st, err := s.Get(e.ctx, p)
		noErr(t, "get sequential", err)
		if (mode&coord.Ephemeral != 0) != (st.EphemeralOwner == s.SessionID()) {
			t.Fatalf("%s (mode %v) has owner %d, session %d", p, mode, st.EphemeralOwner, s.SessionID())
		}
	}
	children, _, err := s.Children(e.ctx, "/q")
	noErr(t, "children", err)
	if !slices.Equal(children, names) {
		t.Fatalf("children %v, created %v", children, names)
	}
	// The counter keeps growing after deletes: a name is never reused.
	noErr(t, "delete last", s.Delete(e.ctx, coord.Join("/q", names[4]), coord.AnyVersion))
	p, err := s.Create(e.ctx, "/q/item-", nil, coord.Sequential)
	noErr(t, "create after delete", err)
	if seq, _ := coord.SequenceOf(coord.Base(p)); seq <= last {
		t.Fatalf("sequence after delete %d, previous %d", seq, last)
	}
	// A sequential node in a multi gets its suffix too.
	res, err := s.Multi(e.ctx, coord.CreateOp("/q/m-", nil, coord.Sequential))
	noErr(t, "multi sequential", err)
	if _, ok := coord.SequenceOf(coord.Base(res[0].Path)); !ok || !strings.HasPrefix(coord.Base(res[0].Path), "m-") {
		t.Fatalf("multi sequential created %q", res[0].Path)
	}
}

func testChildren(t *testing.T, e *env) {
	s := e.open()
	_, err := s.Create(e.ctx, "/c", nil, coord.Persistent)
	noErr(t, "create", err)
	kids, st, err := s.Children(e.ctx, "/c")
	noErr(t, "children of empty", err)
	if len(kids) != 0 || st.NumChildren != 0 {
		t.Fatalf("empty node lists %v, %+v", kids, st)
	}
	for _, n := range []string{"b", "a1", "c", "a", "B"} {
		_, err := s.Create(e.ctx, "/c/"+n, nil, coord.Persistent)
		noErr(t, "create child", err)
	}
	_, err = s.Create(e.ctx, "/c/a/grandchild", nil, coord.Persistent)
	noErr(t, "create grandchild", err)
	kids, st, err = s.Children(e.ctx, "/c")
	noErr(t, "children", err)
	if want := []string{"B", "a", "a1", "b", "c"}; !slices.Equal(kids, want) {
		t.Fatalf("children %v, want %v", kids, want)
	}
	if st.NumChildren != 5 || st.CVersion != 5 {
		t.Fatalf("parent stat %+v, want 5 children and cversion 5", st)
	}
	noErr(t, "delete child", s.Delete(e.ctx, "/c/b", coord.AnyVersion))
	kids, st, err = s.Children(e.ctx, "/c")
	noErr(t, "children after delete", err)
	if want := []string{"B", "a", "a1", "c"}; !slices.Equal(kids, want) || st.CVersion != 6 || st.NumChildren != 4 {
		t.Fatalf("after delete: %v %+v", kids, st)
	}
	// Data changes of the parent do not touch the children version.
	_, err = s.Set(e.ctx, "/c", []byte("x"), coord.AnyVersion)
	noErr(t, "set parent", err)
	_, st, err = s.Children(e.ctx, "/c")
	noErr(t, "children after set", err)
	if st.CVersion != 6 || st.Version != 1 {
		t.Fatalf("after set: %+v", st)
	}
}

// testConcurrentCAS runs 8 goroutines on four sessions doing read-modify-
// write increments with compare-and-set; no increment may be lost.
func testConcurrentCAS(t *testing.T, e *env) {
	sessions := []coord.Store{e.open(), e.open(), e.open(), e.open()}
	_, err := sessions[0].Create(e.ctx, "/counter", []byte("0"), coord.Persistent)
	noErr(t, "create", err)
	const workers, perWorker = 8, 25
	var successes, conflicts atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		s := sessions[w%len(sessions)]
		wg.Go(func() {
			for done := 0; done < perWorker; {
				data, st, err := s.Get(e.ctx, "/counter")
				if err != nil {
					errs <- err
					return
				}
				var n int
				if _, err := fmt.Sscan(string(data), &n); err != nil {
					errs <- fmt.Errorf("counter holds %q: %v", data, err)
					return
				}
				_, err = s.Set(e.ctx, "/counter", fmt.Append(nil, n+1), st.Version)
				switch {
				case err == nil:
					successes.Add(1)
					done++
				case errors.Is(err, coord.ErrBadVersion):
					conflicts.Add(1)
				default:
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	data, st, err := sessions[1].Get(e.ctx, "/counter")
	noErr(t, "final get", err)
	if string(data) != fmt.Sprint(successes.Load()) || successes.Load() != workers*perWorker {
		t.Fatalf("counter = %s after %d successful increments", data, successes.Load())
	}
	if int64(st.Version) != successes.Load() {
		t.Fatalf("version %d after %d successful sets", st.Version, successes.Load())
	}
	t.Logf("%d increments, %d CAS conflicts", successes.Load(), conflicts.Load())
}

func testMulti(t *testing.T, e *env) {
	s := e.open()
	ctx := e.ctx
	for _, p := range []string{"/m", "/m/x", "/m/y", "/m/z"} {
		_, err := s.Create(ctx, p, []byte(p), coord.Persistent)
		noErr(t, "create "+p, err)
	}
	res, err := s.Multi(ctx,
		coord.CreateOp("/m/a", []byte("a"), coord.Persistent),
		coord.CreateOp("/m/a/b", []byte("b"), coord.Persistent), // under a node created just before
		coord.SetOp("/m/x", []byte("x1"), 0),
		coord.DeleteOp("/m/y", 0),
		coord.CheckOp("/m/z", 0),
		coord.CreateOp("/m/s-", nil, coord.Sequential|coord.Ephemeral),
	)
	noErr(t, "multi", err)
	if len(res) != 6 || res[0].Path != "/m/a" || res[1].Path != "/m/a/b" || res[2].Stat.Version != 1 ||
		res[3].Path != "/m/y" || !strings.HasPrefix(res[5].Path, "/m/s-") {
		t.Fatalf("multi results %+v", res)
	}
	wantData(t, s, e, "/m/a/b", "b")
	wantData(t, s, e, "/m/x", "x1")
	if _, ok, _ := s.Exists(ctx, "/m/y"); ok {
		t.Fatal("/m/y survived the multi")
	}

	// Failing transactions change nothing, whichever op fails.
	_, before, err := s.Children(ctx, "/m")
	noErr(t, "children", err)
	for i, ops := range [][]coord.Op{
		{coord.CreateOp("/m/new", nil, coord.Persistent), coord.SetOp("/m/x", []byte("no"), 0)},
		{coord.SetOp("/m/x", []byte("no"), 1), coord.CreateOp("/m/a", nil, coord.Persistent)},
		{coord.DeleteOp("/m/z", 0), coord.CheckOp("/m/none", coord.AnyVersion)},
		{coord.SetOp("/m/x", []byte("no"), 1), coord.DeleteOp("/m/a", coord.AnyVersion)},
		{coord.CreateOp("/m/new", nil, coord.Persistent), coord.CheckOp("/m/z", 3)},
	} {
		want := []error{coord.ErrBadVersion, coord.ErrNodeExists, coord.ErrNoNode, coord.ErrNotEmpty, coord.ErrBadVersion}[i]
		_, err := s.Multi(ctx, ops...)
		isErr(t, fmt.Sprintf("failing multi %d", i), err, want)
		var me *coord.MultiError
		if !errors.As(err, &me) || me.Index != 1 {
			t.Fatalf("failing multi %d: error %v does not name op 1", i, err)
		}
		wantData(t, s, e, "/m/x", "x1")
		if _, ok, _ := s.Exists(ctx, "/m/new"); ok {
			t.Fatalf("failing multi %d created /m/new", i)
		}
		if _, ok, _ := s.Exists(ctx, "/m/z"); !ok {
			t.Fatalf("failing multi %d deleted /m/z", i)
		}
		_, after, err := s.Children(ctx, "/m")
		noErr(t, "children", err)
		if after.CVersion != before.CVersion || after.Version != before.Version {
			t.Fatalf("failing multi %d changed /m: %+v -> %+v", i, before, after)
		}
	}
	// Deleting a child and then its parent in one transaction works.
	_, err = s.Multi(ctx, coord.DeleteOp("/m/a/b", coord.AnyVersion), coord.DeleteOp("/m/a", coord.AnyVersion))
	noErr(t, "multi delete child then parent", err)
	res, err = s.Multi(ctx)
	if err != nil || len(res) != 0 {
		t.Fatalf("empty multi = %v, %v", res, err)
	}
	_, err = s.Multi(ctx, coord.CheckOp("/m", coord.AnyVersion), coord.SetOp("bad", nil, 0))
	isErr(t, "multi with an invalid path", err, coord.ErrInvalidPath)
}

func testCreateAll(t *testing.T, e *env) {
	s := e.open()
	p, err := coord.CreateAll(e.ctx, s, "/x/y/z", []byte("deep"), coord.Persistent)
	noErr(t, "create all", err)
	if p != "/x/y/z" {
		t.Fatalf("created %q", p)
	}
	wantData(t, s, e, "/x/y/z", "deep")
	wantData(t, s, e, "/x/y", "")
	_, err = coord.CreateAll(e.ctx, s, "/x/y/z", nil, coord.Persistent)
	isErr(t, "create all existing", err, coord.ErrNodeExists)
	noErr(t, "ensure existing", coord.EnsurePath(e.ctx, s, "/x/y/z"))
	noErr(t, "ensure new", coord.EnsurePath(e.ctx, s, "/x/w/v"))
	wantData(t, s, e, "/x/w/v", "")
	wantData(t, s, e, "/x/y/z", "deep")
}

// recv waits for one event on w.
func recv(t *testing.T, what string, w <-chan coord.Event) coord.Event {
	t.Helper()
	select {
	case ev, ok := <-w:
		if !ok {
			t.Fatalf("%s: watch channel closed without an event", what)
		}
		return ev
	case <-time.After(waitLimit):
		t.Fatalf("%s: no event within %v", what, waitLimit)
	}
	panic("unreachable")
}

// expect waits for one event of type typ on path and checks the channel is
// closed after it (watches are one-shot).
func expect(t *testing.T, what string, w <-chan coord.Event, typ coord.EventType, path string) {
	t.Helper()
	ev := recv(t, what, w)
	if ev.Type != typ || ev.Path != path {
		t.Fatalf("%s: got %v on %q (err %v), want %v on %q", what, ev.Type, ev.Path, ev.Err, typ, path)
	}
	select {
	case ev, ok := <-w:
		if ok {
			t.Fatalf("%s: second event %v on a one-shot watch", what, ev.Type)
		}
	case <-time.After(waitLimit):
		t.Fatalf("%s: watch channel not closed after its event", what)
	}
}

// quiet fails if w has delivered an event. Callers first wait for a barrier
// watch set after w on the same change, so an event w should not have got
// would already be there.
func quiet(t *testing.T, what string, w <-chan coord.Event) {
	t.Helper()
	select {
	case ev := <-w:
		t.Fatalf("%s: unexpected %v event on %q", what, ev.Type, ev.Path)
	default:
	}
}

// testRoots checks that paths are relative to the root a store was opened
// with, in every direction: arguments, created paths, watch events.
func testRoots(t *testing.T, e *env) {
	outer := e.open()
	inner := e.openAt(e.root + "/sub/tree")
	_, st, err := outer.Get(e.ctx, "/sub/tree")
	noErr(t, "the inner root was created", err)
	if st.NumChildren != 0 {
		t.Fatalf("fresh inner root has %d children", st.NumChildren)
	}
	_, _, w, err := inner.ExistsW(e.ctx, "/x")
	noErr(t, "existsw", err)
	_, err = outer.Create(e.ctx, "/sub/tree/x", []byte("x"), coord.Persistent)
	noErr(t, "create through the outer root", err)
	expect(t, "inner watch", w, coord.EventCreated, "/x")
	wantData(t, inner, e, "/x", "x")
	p, err := inner.Create(e.ctx, "/s-", nil, coord.Sequential)
	noErr(t, "create sequential inside", err)
	if !strings.HasPrefix(p, "/s-") {
		t.Fatalf("inner create returned %q", p)
	}
	kids, _, err := outer.Children(e.ctx, "/sub/tree")
	noErr(t, "children", err)
	if len(kids) != 2 || kids[0] != "s-"+p[len("/s-"):] || kids[1] != "x" {
		t.Fatalf("outer sees %v", kids)
	}
	_, err = inner.Set(e.ctx, "/", []byte("root data"), coord.AnyVersion)
	noErr(t, "set the inner root", err)
	wantData(t, outer, e, "/sub/tree", "root data")
	_, _, err = inner.Get(e.ctx, "/sub")
	isErr(t, "inner store cannot see outside its root", err, coord.ErrNoNode)
}
