package state

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/pegasus-go/pegasus/shared/coord"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

func TestDupRecords(t *testing.T) {
	d := Dup{ID: 1700000000, Remote: "other", Status: protocol.DupStatusApp, CreateTimestampMs: 1700000000123,
		FailMode: protocol.DupFailSkip, RemoteAppName: "t", Full: true}
	b := EncodeDup(d)
	want := `{"dupid":1700000000,"remote":"other","status":"DS_APP","create_timestamp_ms":1700000000123,"fail_mode":"FAIL_SKIP","remote_app_name":"t","full":true}`
	if string(b) != want {
		t.Fatalf("EncodeDup = %s\nwant %s", b, want)
	}
	got, err := DecodeDup(b)
	if err != nil || got != d {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	p := DupProgress{ConfirmedDecree: -1, CheckpointDecree: 7}
	if b := EncodeDupProgress(p); string(b) != `{"confirmed_decree":-1,"checkpoint_decree":7}` {
		t.Fatalf("EncodeDupProgress = %s", b)
	}
	if gp, err := DecodeDupProgress(EncodeDupProgress(p)); err != nil || gp != p {
		t.Fatalf("progress round trip: %+v, %v", gp, err)
	}
	for _, bad := range []string{`{`, `{"dupid":0,"remote":"x","status":"DS_LOG","fail_mode":"FAIL_SLOW"}`,
		`{"dupid":1,"remote":"","status":"DS_LOG","fail_mode":"FAIL_SLOW"}`,
		`{"dupid":1,"remote":"x","status":"DS_NOPE","fail_mode":"FAIL_SLOW"}`,
		`{"dupid":1,"remote":"x","status":"DS_LOG","fail_mode":"FAIL_FAST"}`,
		`{"dupid":1,"remote":"x","status":"DS_INVALID","fail_mode":"FAIL_SLOW"}`} {
		if _, err := DecodeDup([]byte(bad)); err == nil {
			t.Errorf("DecodeDup(%s) accepted", bad)
		}
	}
	for _, bad := range []string{`[]`, `{"confirmed_decree":-2}`, `{"checkpoint_decree":-1}`} {
		if _, err := DecodeDupProgress([]byte(bad)); err == nil {
			t.Errorf("DecodeDupProgress(%s) accepted", bad)
		}
	}
}

func TestDupWriterAndLoad(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, t.TempDir())
	l := Layout{Root: "/c"}
	if err := Init(ctx, s, l); err != nil {
		t.Fatal(err)
	}
	v, err := Load(ctx, s, l)
	if err != nil {
		t.Fatal(err)
	}
	w := &Writer{Store: s, Layout: l}
	info, parts := newApp(v, "a", 2)
	app, err := w.CreateApp(ctx, v, info, parts)
	if err != nil {
		t.Fatal(err)
	}
	fresh := []DupProgress{{ConfirmedDecree: -1}, {ConfirmedDecree: -1}}
	d1 := Dup{ID: 10, Remote: "r", Status: protocol.DupStatusInit, CreateTimestampMs: 5, RemoteAppName: "a"}
	d2 := Dup{ID: 11, Remote: "r2", Status: protocol.DupStatusInit, CreateTimestampMs: 6, RemoteAppName: "a", Full: true}
	if err := w.AddDup(ctx, app, d1, fresh); err != nil {
		t.Fatal(err)
	}
	if err := w.AddDup(ctx, app, d2, fresh); err != nil {
		t.Fatal(err)
	}
	if err := w.AddDup(ctx, app, d2, fresh); err == nil {
		t.Fatal("AddDup of a used dupid accepted")
	}
	if err := w.AddDup(ctx, app, Dup{ID: 12, Remote: "r", Status: protocol.DupStatusInit}, fresh[:1]); err == nil {
		t.Fatal("AddDup with too few progress records accepted")
	}
	d1.Status = protocol.DupStatusLog
	if err := w.UpdateDup(ctx, app, d1, map[int32]DupProgress{1: {ConfirmedDecree: 9}}); err != nil {
		t.Fatal(err)
	}
	if err := w.SetDupProgress(ctx, app, 10, map[int32]DupProgress{0: {ConfirmedDecree: 4}, 1: {ConfirmedDecree: 12}}); err != nil {
		t.Fatal(err)
	}
	if err := w.SetDupProgress(ctx, app, 10, map[int32]DupProgress{2: {}}); err == nil {
		t.Fatal("progress of a partition out of range accepted")
	}
	d2.Status = protocol.DupStatusRemoved
	if err := w.UpdateDup(ctx, app, d2, nil); err != nil {
		t.Fatal(err)
	}
	if got := app.Dups[11]; got.Partitions != nil || got.Dup.Status != protocol.DupStatusRemoved {
		t.Fatalf("removed dup in view: %+v", got)
	}
	if err := w.SetDupProgress(ctx, app, 11, map[int32]DupProgress{0: {}}); err == nil {
		t.Fatal("progress of a removed duplication accepted")
	}

	loaded, err := Load(ctx, s, l)
	if err != nil {
		t.Fatal(err)
	}
	la := loaded.Apps[app.Info.AppID]
	if !reflect.DeepEqual(la.Dups, app.Dups) || !la.DupDirStored {
		t.Fatalf("reloaded duplications differ:\n%+v\n%+v", la.Dups[10], app.Dups[10])
	}
	if got := la.Dups[10].Partitions; got[0].ConfirmedDecree != 4 || got[1].ConfirmedDecree != 12 {
		t.Fatalf("reloaded progress %+v", got)
	}
	if ok, _ := exists(ctx, s, l.DupPartition(app.Info.AppID, 11, 0)); ok {
		t.Fatal("progress records of a removed duplication survive")
	}

	// A stale writer is refused.
	if err := (&Writer{Store: s, Layout: l}).SetDupProgress(ctx, la, 10, map[int32]DupProgress{0: {ConfirmedDecree: 5}}); err != nil {
		t.Fatal(err)
	}
	err = w.SetDupProgress(ctx, app, 10, map[int32]DupProgress{0: {ConfirmedDecree: 6}})
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("stale progress write: %v, want ErrConflict", err)
	}

	// Dropping the table deletes its duplications with it.
	v2, err := Load(ctx, s, l)
	if err != nil {
		t.Fatal(err)
	}
	app2 := v2.Apps[app.Info.AppID]
	dropped := CloneApp(app2.Info)
	dropped.Status = protocol.AppDropped
	if err := w.SetAppDeletingDups(ctx, app2, dropped); err != nil {
		t.Fatal(err)
	}
	if app2.Dups != nil {
		t.Fatalf("dups remain in the view: %+v", app2.Dups)
	}
	if ok, _ := exists(ctx, s, l.Duplication(app.Info.AppID, 10)); ok {
		t.Fatal("duplication record survives the drop")
	}
	// DeleteApp removes the (now empty) duplication node as well.
	if err := w.DeleteApp(ctx, v2, app2); err != nil {
		t.Fatal(err)
	}
	if ok, _ := exists(ctx, s, l.App(app.Info.AppID)); ok {
		t.Fatal("app node survived DeleteApp")
	}
}

func TestDeleteDupAndDeleteAppWithDups(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, t.TempDir())
	l := Layout{Root: "/c"}
	if err := Init(ctx, s, l); err != nil {
		t.Fatal(err)
	}
	v, _ := Load(ctx, s, l)
	w := &Writer{Store: s, Layout: l}
	info, parts := newApp(v, "a", 1)
	app, err := w.CreateApp(ctx, v, info, parts)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []int32{1, 2} {
		if err := w.AddDup(ctx, app, Dup{ID: id, Remote: "r", Status: protocol.DupStatusLog}, []DupProgress{{ConfirmedDecree: 3}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.DeleteDup(ctx, app, 1); err != nil {
		t.Fatal(err)
	}
	if err := w.DeleteDup(ctx, app, 1); err != nil {
		t.Fatalf("deleting a missing dup: %v", err)
	}
	if ok, _ := exists(ctx, s, l.Duplication(app.Info.AppID, 1)); ok || len(app.Dups) != 1 {
		t.Fatal("DeleteDup left the record")
	}
	if err := w.DeleteApp(ctx, v, app); err != nil {
		t.Fatal(err)
	}
	if ok, _ := exists(ctx, s, l.App(app.Info.AppID)); ok {
		t.Fatal("DeleteApp left the app with a duplication")
	}
}

func exists(ctx context.Context, s coord.Store, p string) (bool, error) {
	_, ok, err := s.Exists(ctx, p)
	return ok, err
}
