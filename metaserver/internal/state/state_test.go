package state

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/pegasus-go/pegasus/shared/coord"
	"github.com/pegasus-go/pegasus/shared/coord/localstore"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

func openStore(t *testing.T, dir string) coord.Store {
	t.Helper()
	s, err := localstore.Open(context.Background(), localstore.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestRecordsRoundTrip(t *testing.T) {
	app := protocol.AppInfo{AppID: 7, Name: "t", Status: protocol.AppDropped, PartitionCount: 8, ReplicaCount: 3,
		Envs: map[string]string{"default_ttl": "5"}, CreateTimeMs: 1, DropTimeMs: 2, ExpireTimeMs: 3}
	got, err := DecodeApp(EncodeApp(app))
	if err != nil || !reflect.DeepEqual(got, app) {
		t.Fatalf("app round trip: %+v, %v", got, err)
	}
	pc := protocol.PartitionConfiguration{Gpid: protocol.Gpid{AppID: 7, PartitionIndex: 3}, Ballot: 9, Primary: "a:1",
		Secondaries: []string{"b:1"}, LastDrops: []string{"c:1"}, LastCommittedDecree: 42, MaxReplicaCount: 3}
	gotPC, err := DecodePartition(EncodePartition(pc))
	if err != nil || !reflect.DeepEqual(gotPC, pc) {
		t.Fatalf("partition round trip: %+v, %v", gotPC, err)
	}
	for _, bad := range []string{`{`, `{"app_id":1,"status":"AS_NOPE","partition_count":1}`, `{"app_id":1,"status":"AS_AVAILABLE","partition_count":0}`,
		`{"app_id":1,"status":"AS_AVAILABLE","partition_count":2000}`} {
		if _, err := DecodeApp([]byte(bad)); err == nil {
			t.Errorf("DecodeApp(%s) accepted", bad)
		}
	}
}

func newApp(v *View, name string, n int32) (protocol.AppInfo, []protocol.PartitionConfiguration) {
	info := protocol.AppInfo{AppID: v.NextAppID, Name: name, Status: protocol.AppAvailable, PartitionCount: n, ReplicaCount: 3}
	parts := make([]protocol.PartitionConfiguration, n)
	for i := range parts {
		parts[i] = protocol.PartitionConfiguration{Gpid: protocol.Gpid{AppID: info.AppID, PartitionIndex: int32(i)}, Ballot: 1, Primary: "n:1", MaxReplicaCount: 3}
	}
	return info, parts
}

func TestWriterAndLoad(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, t.TempDir())
	l := Layout{Root: "/c"}
	if err := Init(ctx, s, l); err != nil {
		t.Fatal(err)
	}
	if err := Init(ctx, s, l); err != nil { // idempotent
		t.Fatal(err)
	}
	v, err := Load(ctx, s, l)
	if err != nil {
		t.Fatal(err)
	}
	w := &Writer{Store: s, Layout: l}
	info, parts := newApp(v, "a", 4)
	app, err := w.CreateApp(ctx, v, info, parts)
	if err != nil {
		t.Fatal(err)
	}
	info2, parts2 := newApp(v, "b", 2)
	if _, err := w.CreateApp(ctx, v, info2, parts2); err != nil {
		t.Fatal(err)
	}
	next := parts[1]
	next.Ballot, next.Primary = 2, ""
	if err := w.SetPartitions(ctx, app, next); err != nil {
		t.Fatal(err)
	}
	info.Envs = map[string]string{"default_ttl": "1"}
	if err := w.SetApp(ctx, app, info); err != nil {
		t.Fatal(err)
	}
	if err := w.AddNode(ctx, v, "n:1", 5); err != nil {
		t.Fatal(err)
	}
	if err := w.AddNode(ctx, v, "bad/addr", 5); err == nil {
		t.Fatal("AddNode accepted a path separator")
	}

	loaded, err := Load(ctx, s, l)
	if err != nil {
		t.Fatal(err)
	}
	if loaded.NextAppID != 3 || !reflect.DeepEqual(loaded.Apps, v.Apps) || !reflect.DeepEqual(loaded.Nodes, v.Nodes) {
		t.Fatalf("reloaded view differs:\n%+v\n%+v", loaded, v)
	}

	// A stale view cannot overwrite: the version moved on.
	stale, _ := Load(ctx, s, l)
	if err := w.SetPartitions(ctx, app, parts[0]); err != nil {
		t.Fatal(err)
	}
	err = (&Writer{Store: s, Layout: l}).SetPartitions(ctx, stale.Apps[1], parts[0])
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("stale write: %v, want ErrConflict", err)
	}
	// A stale counter cannot allocate an id twice.
	info3, parts3 := newApp(v, "c", 1)
	if _, err := w.CreateApp(ctx, v, info3, parts3); err != nil {
		t.Fatal(err)
	}
	info4, parts4 := newApp(stale, "d", 1)
	if _, err := w.CreateApp(ctx, stale, info4, parts4); !errors.Is(err, ErrConflict) {
		t.Fatalf("create with a stale counter: %v, want ErrConflict", err)
	}

	if err := w.DeleteApp(ctx, v, v.Apps[2]); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.Exists(ctx, l.App(2)); ok {
		t.Fatal("app node survived DeleteApp")
	}
	if loaded, _ := Load(ctx, s, l); len(loaded.Apps) != 2 || loaded.NextAppID != 4 || loaded.Apps[2] != nil {
		t.Fatalf("after delete: %+v", loaded)
	}
}

func TestWriterFence(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openStore(t, dir)
	l := Layout{Root: "/c"}
	if err := Init(ctx, s, l); err != nil {
		t.Fatal(err)
	}
	lead, err := s.Campaign(ctx, l.Leader(), []byte("me"))
	if err != nil {
		t.Fatal(err)
	}
	v, err := Load(ctx, s, l)
	if err != nil {
		t.Fatal(err)
	}
	w := &Writer{Store: s, Layout: l, Fence: lead.Path()}
	info, parts := newApp(v, "a", 1)
	if _, err := w.CreateApp(ctx, v, info, parts); err != nil {
		t.Fatal(err)
	}
	// Someone else removes the leader's node: every later write is refused.
	other := openStore(t, dir)
	if err := other.Delete(ctx, lead.Path(), coord.AnyVersion); err != nil {
		t.Fatal(err)
	}
	info2, parts2 := newApp(v, "b", 1)
	if _, err := w.CreateApp(ctx, v, info2, parts2); !errors.Is(err, ErrFenced) {
		t.Fatalf("fenced write: %v, want ErrFenced", err)
	}
	if len(v.Apps) != 1 || v.NextAppID != 2 {
		t.Fatalf("view changed by a refused write: %+v", v)
	}
}
