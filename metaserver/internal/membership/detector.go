package membership

import (
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"
)

// State is a node's liveness.
type State uint8

const (
	// StatePending: known from the store but has not beaconed to this
	// leader yet, and the grace period since the term started has not run
	// out. Reported alive; not eligible for new assignments.
	StatePending State = iota + 1
	// StateAlive: beaconed within the grace period.
	StateAlive
	// StateDead: no beacon for longer than the grace period.
	StateDead
)

// String returns the state's name.
func (s State) String() string {
	switch s {
	case StatePending:
		return "pending"
	case StateAlive:
		return "alive"
	case StateDead:
		return "dead"
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// Node is a snapshot of one node.
type Node struct {
	Address string
	State   State
	// LastBeacon is when this leader last heard from the node (the term's
	// start for a pending node), on the meta's clock.
	LastBeacon time.Time
	// StartTimeMs is the node's process start time from its last beacon.
	StartTimeMs int64
}

// Alive reports whether the node counts as alive (pending or alive).
func (n Node) Alive() bool { return n.State == StatePending || n.State == StateAlive }

// Config sets the detector's timing.
type Config struct {
	// Lease is the lease granted by each beacon.
	Lease time.Duration
	// Grace is how long after the last beacon a node is declared dead. It
	// must be longer than Lease.
	Grace time.Duration
}

// Validate checks that both durations are positive and Grace > Lease.
func (c Config) Validate() error {
	if c.Lease <= 0 {
		return fmt.Errorf("membership: lease %v must be positive", c.Lease)
	}
	if c.Grace <= c.Lease {
		return fmt.Errorf("membership: grace period %v must be longer than the lease %v", c.Grace, c.Lease)
	}
	return nil
}

type node struct {
	last      time.Time
	confirmed bool
	startMs   int64
}

// Detector tracks node liveness for one leader term.
type Detector struct {
	cfg   Config
	clock func() time.Time

	mu struct {
		sync.Mutex
		nodes map[string]*node
	}
}

// New returns a detector whose known nodes start pending at the clock's
// current time. cfg must be valid.
func New(cfg Config, clock func() time.Time, known []string) (*Detector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if clock == nil {
		clock = time.Now
	}
	d := &Detector{cfg: cfg, clock: clock}
	d.mu.nodes = make(map[string]*node, len(known))
	now := clock()
	for _, k := range known {
		d.mu.nodes[k] = &node{last: now}
	}
	return d, nil
}

// Lease returns the lease every beacon grants.
func (d *Detector) Lease() time.Duration { return d.cfg.Lease }

// BeaconResult says how a beacon changed a node.
type BeaconResult struct {
	// BecameAlive: the node was unknown, pending or dead before, so it just
	// became eligible for assignments.
	BecameAlive bool
	// Returned: the node had been declared dead and beacons again.
	Returned bool
	// Restarted: the node's process start time changed since its last
	// beacon to this leader.
	Restarted bool
}

// Beacon records a beacon from addr carrying the node's process start time.
func (d *Detector) Beacon(addr string, startTimeMs int64) BeaconResult {
	now := d.clock()
	d.mu.Lock()
	defer d.mu.Unlock()
	n, ok := d.mu.nodes[addr]
	if !ok {
		n = &node{}
		d.mu.nodes[addr] = n
	}
	var r BeaconResult
	r.Returned = ok && d.stateLocked(n, now) == StateDead
	r.BecameAlive = !n.confirmed || r.Returned
	r.Restarted = ok && n.confirmed && n.startMs != 0 && n.startMs != startTimeMs
	n.last, n.confirmed, n.startMs = now, true, startTimeMs
	return r
}

func (d *Detector) stateLocked(n *node, now time.Time) State {
	if now.Sub(n.last) > d.cfg.Grace {
		return StateDead
	}
	if !n.confirmed {
		return StatePending
	}
	return StateAlive
}

// State returns addr's state and whether the node is known.
func (d *Detector) State(addr string) (State, bool) {
	now := d.clock()
	d.mu.Lock()
	defer d.mu.Unlock()
	n, ok := d.mu.nodes[addr]
	if !ok {
		return 0, false
	}
	return d.stateLocked(n, now), true
}

// Nodes returns a snapshot of every known node, ordered by address.
func (d *Detector) Nodes() []Node {
	now := d.clock()
	d.mu.Lock()
	defer d.mu.Unlock()
	addrs := slices.Sorted(maps.Keys(d.mu.nodes))
	out := make([]Node, len(addrs))
	for i, a := range addrs {
		n := d.mu.nodes[a]
		out[i] = Node{Address: a, State: d.stateLocked(n, now), LastBeacon: n.last, StartTimeMs: n.startMs}
	}
	return out
}

// Add makes addr known (pending from now) if it is not already.
func (d *Detector) Add(addr string) {
	now := d.clock()
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.mu.nodes[addr]; !ok {
		d.mu.nodes[addr] = &node{last: now}
	}
}
