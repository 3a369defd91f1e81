package replica

import (
	"maps"
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
