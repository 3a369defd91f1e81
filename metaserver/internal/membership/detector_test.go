package membership

import (
	"testing"
	"time"
)

type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time          { return c.now }
func (c *fakeClock) Advance(d time.Duration) { c.now = c.now.Add(d) }

func newDetector(t *testing.T, clk *fakeClock, known ...string) *Detector {
	t.Helper()
	d, err := New(Config{Lease: 9 * time.Second, Grace: 12 * time.Second}, clk.Now, known)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func wantState(t *testing.T, d *Detector, addr string, want State) {
	t.Helper()
	got, ok := d.State(addr)
	if !ok || got != want {
		t.Fatalf("%s: state %v (known %v), want %v", addr, got, ok, want)
	}
}

func TestDeadOnlyAfterGrace(t *testing.T) {
	clk := &fakeClock{now: time.Unix(1000, 0)}
	d := newDetector(t, clk)
	if r := d.Beacon("n1:1", 5); r != (BeaconResult{BecameAlive: true}) {
		t.Fatalf("first beacon: %+v, want only BecameAlive", r)
	}
	if r := d.Beacon("n1:1", 5); r != (BeaconResult{}) {
		t.Fatalf("second beacon: %+v, want nothing new", r)
	}
	clk.Advance(9 * time.Second) // the lease ran out, the grace period did not
	wantState(t, d, "n1:1", StateAlive)
	clk.Advance(3 * time.Second) // exactly the grace period
	wantState(t, d, "n1:1", StateAlive)
	clk.Advance(time.Millisecond)
	wantState(t, d, "n1:1", StateDead)
	if r := d.Beacon("n1:1", 6); r != (BeaconResult{BecameAlive: true, Returned: true, Restarted: true}) {
		t.Fatalf("beacon after death and restart: %+v, want all three", r)
	}
	wantState(t, d, "n1:1", StateAlive)
	if r := d.Beacon("n1:1", 7); r != (BeaconResult{Restarted: true}) {
		t.Fatalf("beacon after a quick restart: %+v, want only Restarted", r)
	}
}

func TestPendingAfterFailover(t *testing.T) {
	clk := &fakeClock{now: time.Unix(1000, 0)}
	d := newDetector(t, clk, "a:1", "b:1")
	wantState(t, d, "a:1", StatePending)
	clk.Advance(5 * time.Second)
	if r := d.Beacon("a:1", 1); r != (BeaconResult{BecameAlive: true}) {
		t.Fatalf("first beacon of a pending node: %+v, want only BecameAlive", r)
	}
	wantState(t, d, "a:1", StateAlive)
	wantState(t, d, "b:1", StatePending)
	clk.Advance(7 * time.Second) // 12s since the term started
	wantState(t, d, "b:1", StatePending)
	clk.Advance(time.Millisecond)
	wantState(t, d, "b:1", StateDead)
	wantState(t, d, "a:1", StateAlive)
	nodes := d.Nodes()
	if len(nodes) != 2 || nodes[0].Address != "a:1" || !nodes[0].Alive() || nodes[1].Alive() {
		t.Fatalf("Nodes() = %+v", nodes)
	}
	if _, ok := d.State("c:1"); ok {
		t.Fatal("unknown node reported as known")
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []Config{{0, time.Second}, {time.Second, time.Second}, {2 * time.Second, time.Second}} {
		if c.Validate() == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}
