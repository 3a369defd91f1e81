package state

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/pegasus-go/pegasus/shared/protocol"
)

func TestDropsRecord(t *testing.T) {
	d := Drops{LastMembers: []string{"a:1", "b:1"}}
	d.Put(DroppedReplica{Node: "a:1", Ballot: 3, LastCommitted: 10, LastPrepared: 12, DropTimeMs: 5})
	d.Put(DroppedReplica{Node: "b:1", Ballot: 2, LastCommitted: 9, LastPrepared: 9, DropTimeMs: 6, ReportTimeMs: 7})
	d.Put(DroppedReplica{Node: "a:1", Ballot: 4, LastCommitted: 11, LastPrepared: 12, DropTimeMs: 8})
	if len(d.Replicas) != 2 || d.Replicas[1].Node != "a:1" || d.Replicas[1].Ballot != 4 {
		t.Fatalf("Put did not replace: %+v", d.Replicas)
	}
	got, err := DecodeDrops(EncodeDrops(d))
	if err != nil || !reflect.DeepEqual(got, d) {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	if r, ok := got.Replica("b:1"); !ok || r.ReportTimeMs != 7 {
		t.Fatalf("Replica(b:1) = %+v, %v", r, ok)
	}
	d.Forget("a:1")
	d.Forget("b:1")
	if d.Replicas != nil || d.Empty() {
		t.Fatalf("after Forget: %+v (empty %v)", d, d.Empty())
	}
	for i := range 2 * MaxDropRecords {
		d.Put(DroppedReplica{Node: fmt.Sprintf("n:%d", i)})
	}
	if len(d.Replicas) != MaxDropRecords || d.Replicas[0].Node != fmt.Sprintf("n:%d", MaxDropRecords) {
		t.Fatalf("Put does not bound the records: %d, first %s", len(d.Replicas), d.Replicas[0].Node)
	}
	many := `{"replicas":[` + strings.Repeat(`{"node":"x"},`, MaxDropRecords) + `{"node":"y"}]}`
	for _, bad := range []string{`{`, `{"replicas":{}}`, many} {
		if _, err := DecodeDrops([]byte(bad)); err == nil {
			t.Errorf("DecodeDrops(%.40s) accepted", bad)
		}
	}
}

func TestUpdatePartitionsWithDrops(t *testing.T) {
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
	cfg := app.Partitions[1].Config
	cfg.Ballot, cfg.LastDrops = 5, []string{"x:1"}
	d := Drops{LastMembers: []string{"x:1"}, Replicas: []DroppedReplica{{Node: "x:1", Ballot: 4, LastCommitted: 3, LastPrepared: 4}}}
	if err := w.UpdatePartitions(ctx, app, PartitionUpdate{Config: cfg, Drops: &d}); err != nil {
		t.Fatal(err)
	}
	d.LastMembers = nil // a second write sets the existing node
	cfg.Ballot = 6
	if err := w.UpdatePartitions(ctx, app, PartitionUpdate{Config: cfg, Drops: &d}, PartitionUpdate{Config: app.Partitions[0].Config}); err != nil {
		t.Fatal(err)
	}
	loaded, err := Load(ctx, s, l)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(loaded.Apps[app.Info.AppID].Partitions, app.Partitions) {
		t.Fatalf("reloaded partitions differ:\n%+v\n%+v", loaded.Apps[app.Info.AppID].Partitions, app.Partitions)
	}
	if p := app.Partitions[1]; !p.DropsStored || p.DropsVersion != 1 || p.Drops.LastMembers != nil || p.Config.Ballot != 6 {
		t.Fatalf("partition 1: %+v", p)
	}
	// A stale drops version is refused.
	stale, _ := Load(ctx, s, l)
	if err := w.UpdatePartitions(ctx, app, PartitionUpdate{Config: cfg, Drops: &d}); err != nil {
		t.Fatal(err)
	}
	err = (&Writer{Store: s, Layout: l}).UpdatePartitions(ctx, stale.Apps[app.Info.AppID], PartitionUpdate{Config: cfg, Drops: &d})
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("stale write: %v, want ErrConflict", err)
	}
	// DeleteApp removes the drops record with the partition.
	if err := w.DeleteApp(ctx, v, app); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.Exists(ctx, l.App(app.Info.AppID)); ok {
		t.Fatal("app node survived DeleteApp")
	}
	if err := w.UpdatePartitions(ctx, app, PartitionUpdate{Config: protocol.PartitionConfiguration{Gpid: protocol.Gpid{AppID: 99}}}); err == nil {
		t.Fatal("update of a partition of another app accepted")
	}
}
