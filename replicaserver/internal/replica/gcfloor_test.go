package replica

import (
	"maps"
	"strconv"
	"testing"

	"github.com/cockroachdb/pebble/vfs"

	"github.com/pegasus-go/pegasus/shared/protocol"
)

func TestGCFloorsCombine(t *testing.T) {
	fs := vfs.NewMem()
	prepareFS(t, fs)
	r := mustOpen(t, testOptions(fs))
	defer mustClose(t, r)

	steps := []struct {
		owner string
		floor protocol.Decree
		want  protocol.Decree
		set   map[string]protocol.Decree
	}{
		{GCFloorLearn, 50, 50, map[string]protocol.Decree{GCFloorLearn: 50}},
		{GCFloorDup, 30, 30, map[string]protocol.Decree{GCFloorLearn: 50, GCFloorDup: 30}},
		{GCFloorLearn, 20, 20, map[string]protocol.Decree{GCFloorLearn: 20, GCFloorDup: 30}},
		// Learning ends: the duplication's floor stays.
		{GCFloorLearn, NoGCFloor, 30, map[string]protocol.Decree{GCFloorDup: 30}},
		{GCFloorDup, 40, 40, map[string]protocol.Decree{GCFloorDup: 40}},
		{GCFloorDup, NoGCFloor, NoGCFloor, map[string]protocol.Decree{}},
	}
	for i, s := range steps {
		r.SetGCFloor(s.owner, s.floor)
		if got := protocol.Decree(r.gcFloor.Load()); got != s.want {
			t.Fatalf("step %d: floor %d, want %d", i, got, s.want)
		}
		if got := r.GCFloors(); !maps.Equal(got, s.set) {
			t.Fatalf("step %d: floors %v, want %v", i, got, s.set)
		}
	}
}

// TestGCFloorsFromOpen: floors given in Options hold the plog from the
// start, across a reopen (a restarted server learns its duplication floor
// only at its next sync with the meta server), until they are lowered.
func TestGCFloorsFromOpen(t *testing.T) {
	fs := vfs.NewMem()
	prepareFS(t, fs)
	opts := testOptions(fs)
	opts.PlogSegmentSizeBytes = 1024
	r := mustOpen(t, opts)
	r.SetGCFloor(GCFloorDup, 1)
	for i := range 100 {
		doSet(t, r, "h", strconv.Itoa(i), "v")
	}
	r.syncEngine()
	mustClose(t, r)

	opts.GCFloors = map[string]protocol.Decree{GCFloorDup: 0}
	r = mustOpen(t, opts)
	defer mustClose(t, r)
	gc := func() { _ = r.call(func() error { r.maybeGC(); return nil }) }
	gc()
	if st := r.plog.Stats(); st.MinDecree > 1 {
		t.Fatalf("reopened with a floor at 0: the plog starts at %d", st.MinDecree)
	}
	if got := r.GCFloors(); !maps.Equal(got, map[string]protocol.Decree{GCFloorDup: 0}) {
		t.Fatalf("floors %v", got)
	}
	r.SetGCFloor(GCFloorDup, NoGCFloor)
	r.syncEngine()
	gc()
	if st := r.plog.Stats(); st.MinDecree <= 1 {
		t.Fatalf("without floor the plog still starts at %d", st.MinDecree)
	}
}
