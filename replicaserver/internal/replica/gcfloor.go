package replica

import (
	"math"
	"sync"

	"github.com/pegasus-go/pegasus/shared/protocol"
)

// Owners of plog GC floors. Several parts of the server need the plog kept
// from some decree on, each for its own reasons; each sets its own named
// floor and the lowest one wins, so they never overwrite each other.
const (
	// GCFloorLearn is the floor of the primary's learning sessions.
	GCFloorLearn = "learn"
	// GCFloorDup is the floor of the table's duplications: the smallest
	// confirmed decree + 1 over its live duplications.
	GCFloorDup = "dup"
)

// NoGCFloor removes a floor (SetGCFloor(owner, NoGCFloor)).
const NoGCFloor = protocol.Decree(math.MaxInt64)

// gcFloors holds the named floors; the replica's gcFloor is their minimum.
type gcFloors struct {
	mu     sync.Mutex
	floors map[string]protocol.Decree
}

// set records owner's floor (NoGCFloor removes it) and returns the
// minimum over every owner.
func (f *gcFloors) set(owner string, floor protocol.Decree) protocol.Decree {
	f.mu.Lock()
	defer f.mu.Unlock()
	if floor >= NoGCFloor {
		delete(f.floors, owner)
	} else {
		if f.floors == nil {
			f.floors = make(map[string]protocol.Decree)
		}
		f.floors[owner] = floor
	}
	low := NoGCFloor
	for _, d := range f.floors {
		low = min(low, d)
	}
	return low
}

// SetGCFloor sets owner's lowest decree the plog must keep (for a learner,
// a duplication, ...): the plog is garbage collected below min(every
// owner's floor, last durable decree + 1), on top of everything the engine
// has not made durable. NoGCFloor removes owner's floor; the default is no
// floor. A floor only holds back future collection: what was collected
// before it was set is gone. Safe for concurrent use.
func (r *Replica) SetGCFloor(owner string, floor protocol.Decree) {
	low := r.floors.set(owner, floor)
	r.gcFloor.Store(int64(low))
	r.wake()
}

// GCFloors returns a copy of the floors set, by owner.
func (r *Replica) GCFloors() map[string]protocol.Decree {
	r.floors.mu.Lock()
	defer r.floors.mu.Unlock()
	out := make(map[string]protocol.Decree, len(r.floors.floors))
	for k, v := range r.floors.floors {
		out[k] = v
	}
	return out
}
