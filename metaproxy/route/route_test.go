package route_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/pegasus-go/pegasus/metaproxy/route"
	"github.com/pegasus-go/pegasus/shared/coord"
	"github.com/pegasus-go/pegasus/shared/coord/localstore"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestRouteValidateAndCodec(t *testing.T) {
	good := route.New(" c2 ", []string{"127.0.0.1:1", " 127.0.0.1:2 ", ""})
	if good.MetaAddrs != "127.0.0.1:1,127.0.0.1:2" || good.ClusterName != "c2" {
		t.Fatalf("New = %+v", good)
	}
	data, err := good.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"cluster_name":"c2","meta_addrs":"127.0.0.1:1,127.0.0.1:2"}`; string(data) != want {
		t.Fatalf("Encode = %s, want %s", data, want)
	}
	back, err := route.Decode([]byte(`{"cluster_name":"c2","meta_addrs":" 127.0.0.1:1, 127.0.0.1:2","future":1}`))
	if err != nil || back.Key() != good.Key() || back.ClusterName != "c2" {
		t.Fatalf("Decode = %+v, %v", back, err)
	}

	bad := []struct {
		data, want string
	}{
		{``, "empty node"},
		{`[1]`, "not a JSON object"},
		{`{"cluster_name":"","meta_addrs":"a:1"}`, "cluster_name is empty"},
		{`{"cluster_name":"a b","meta_addrs":"a:1"}`, "spaces"},
		{`{"cluster_name":"c","meta_addrs":" , "}`, "meta_addrs is empty"},
		{`{"cluster_name":"c","meta_addrs":"nohost"}`, `"nohost" is not host:port`},
		{`{"cluster_name":"c","meta_addrs":"a:1,a:1"}`, "listed twice"},
		{`{"cluster_name":"c","meta_addrs":` + `"` + strings.Repeat("a:1,", route.MaxRouteBytes/4) + `"}`, "at most"},
	}
	for _, b := range bad {
		_, err := route.Decode([]byte(b.data))
		if !errors.Is(err, route.ErrInvalidRoute) || !strings.Contains(err.Error(), b.want) {
			t.Errorf("Decode(%.40q) = %v, want ErrInvalidRoute containing %q", b.data, err, b.want)
		}
	}
	if _, err := (route.Route{ClusterName: "c"}).Encode(); !errors.Is(err, route.ErrInvalidRoute) {
		t.Errorf("Encode of an invalid route = %v", err)
	}
}

func TestCheckTable(t *testing.T) {
	for _, ok := range []string{"t", "temp_1", "a.b-c:d"} {
		if err := route.CheckTable(ok); err != nil {
			t.Errorf("CheckTable(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", ".", "..", "a/b", "a b", strings.Repeat("x", route.MaxTableNameLen+1)} {
		if err := route.CheckTable(bad); !errors.Is(err, route.ErrInvalidTable) {
			t.Errorf("CheckTable(%q) = %v, want ErrInvalidTable", bad, err)
		}
	}
}

func newRegistry(t *testing.T) (*route.Registry, coord.Store) {
	t.Helper()
	s, err := localstore.Open(context.Background(), localstore.Options{Dir: t.TempDir(), PollInterval: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	g, err := route.NewRegistry(s, "/proxy/routes")
	if err != nil {
		t.Fatal(err)
	}
	return g, s
}

func TestRegistryCRUD(t *testing.T) {
	ctx := context.Background()
	g, s := newRegistry(t)
	if names, err := g.Tables(ctx); err != nil || len(names) != 0 {
		t.Fatalf("Tables on a missing root = %v, %v", names, err)
	}
	if _, _, err := g.Get(ctx, "t1"); !errors.Is(err, route.ErrNoRoute) || !strings.Contains(err.Error(), "/proxy/routes/t1") {
		t.Fatalf("Get of a missing route = %v", err)
	}
	r1 := route.New("c1", []string{"127.0.0.1:1"})
	r2 := route.New("c2", []string{"127.0.0.1:2", "127.0.0.1:3"})
	st, err := g.Set(ctx, "t1", r1, coord.AnyVersion)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Create(ctx, "t1", r2); !errors.Is(err, coord.ErrNodeExists) {
		t.Fatalf("Create over an existing route = %v", err)
	}
	if _, err := g.Create(ctx, "t2", r2); err != nil {
		t.Fatal(err)
	}
	got, gst, err := g.Get(ctx, "t1")
	if err != nil || got != r1 || gst.Version != st.Version {
		t.Fatalf("Get = %+v %+v %v", got, gst, err)
	}
	// Compare-and-set: the right version wins once, a stale one loses.
	st2, err := g.Set(ctx, "t1", r2, st.Version)
	if err != nil || st2.Version != st.Version+1 {
		t.Fatalf("CAS Set = %+v, %v", st2, err)
	}
	if _, err := g.Set(ctx, "t1", r1, st.Version); !errors.Is(err, coord.ErrBadVersion) {
		t.Fatalf("stale CAS Set = %v", err)
	}
	if _, err := g.Set(ctx, "t3", r1, 0); !errors.Is(err, route.ErrNoRoute) {
		t.Fatalf("CAS Set of a missing route = %v", err)
	}
	if _, err := g.Set(ctx, "bad/name", r1, coord.AnyVersion); !errors.Is(err, route.ErrInvalidTable) {
		t.Fatalf("Set with a bad table = %v", err)
	}
	// A node written by hand with bad data is reported, not guessed at.
	if _, err := s.Create(ctx, "/proxy/routes/junk", []byte("{"), coord.Persistent); err != nil {
		t.Fatal(err)
	}
	if _, _, err := g.Get(ctx, "junk"); !errors.Is(err, route.ErrInvalidRoute) || !strings.Contains(err.Error(), "/proxy/routes/junk") {
		t.Fatalf("Get of a junk node = %v", err)
	}
	list, err := g.List(ctx)
	if err != nil || len(list) != 3 {
		t.Fatalf("List = %+v, %v", list, err)
	}
	if list[0].Table != "junk" || list[0].Invalid == nil || list[1].Route != r2 || list[2].Route != r2 {
		t.Fatalf("List = %+v", list)
	}
	if err := g.Delete(ctx, "t2", coord.AnyVersion); err != nil {
		t.Fatal(err)
	}
	if err := g.Delete(ctx, "t2", coord.AnyVersion); !errors.Is(err, route.ErrNoRoute) {
		t.Fatalf("second Delete = %v", err)
	}
}

func waitEvent(t *testing.T, w <-chan coord.Event) coord.Event {
	t.Helper()
	select {
	case ev := <-w:
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no watch event")
		return coord.Event{}
	}
}

func TestRegistryWatch(t *testing.T) {
	ctx := context.Background()
	g, _ := newRegistry(t)
	l, w, err := g.Watch(ctx, "t")
	if err != nil || l.Found {
		t.Fatalf("Watch of a missing route = %+v, %v", l, err)
	}
	if !errors.Is(l.Err(g.Root()), route.ErrNoRoute) {
		t.Fatalf("Lookup.Err = %v", l.Err(g.Root()))
	}
	r := route.New("c", []string{"127.0.0.1:1"})
	if _, err := g.Set(ctx, "t", r, coord.AnyVersion); err != nil {
		t.Fatal(err)
	}
	if ev := waitEvent(t, w); ev.Type != coord.EventCreated {
		t.Fatalf("event = %v", ev)
	}
	l, w, err = g.Watch(ctx, "t")
	if err != nil || !l.Found || l.Route != r || l.Err(g.Root()) != nil {
		t.Fatalf("Watch = %+v, %v", l, err)
	}
	if _, err := g.Set(ctx, "t", route.New("c2", []string{"127.0.0.1:2"}), l.Stat.Version); err != nil {
		t.Fatal(err)
	}
	if ev := waitEvent(t, w); ev.Type != coord.EventDataChanged {
		t.Fatalf("event = %v", ev)
	}
}
