package robustness

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/pegasus-go/pegasus/client-go/admin"
	"github.com/pegasus-go/pegasus/integration/internal/harness"
	"github.com/pegasus-go/pegasus/shared/failpoint"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

// FaultKind names one kind of fault the nemesis injects.
type FaultKind string

// The fault kinds (docs/robustness.md describes each).
const (
	KillPrimary     FaultKind = "kill-primary"
	KillSecondary   FaultKind = "kill-secondary"
	KillMetaLeader  FaultKind = "kill-meta-leader"
	KillAllReplicas FaultKind = "kill-all-replicas"
	PausePrimary    FaultKind = "pause-primary"
	IsolatePrimary  FaultKind = "isolate-primary"
	OneWayPartition FaultKind = "one-way-partition"
	SlowLatency     FaultKind = "slow-latency"
	SlowBandwidth   FaultKind = "slow-bandwidth"
	LinkReset       FaultKind = "link-reset"
	ZKKill          FaultKind = "zk-kill"
	ZKCut           FaultKind = "zk-cut"
	PlogWriteErrors FaultKind = "plog-write-error"
	PlogSyncErrors  FaultKind = "plog-sync-error"
	ClockOffset     FaultKind = "clock-offset"
)

// PlantedStaleLease is not a fault but a planted bug, for the test that
// proves the checker can fail: the primary is isolated like
// IsolatePrimary, then its clock (the one its lease is checked against)
// steps back a minute, so it goes on serving reads long after its lease
// ran out in real time and another primary took over. It is not in
// AllFaults.
const PlantedStaleLease FaultKind = "planted-stale-lease"

// AllFaults lists every fault kind in a fixed order.
var AllFaults = []FaultKind{
	KillPrimary, KillSecondary, KillMetaLeader, KillAllReplicas, PausePrimary, IsolatePrimary,
	OneWayPartition, SlowLatency, SlowBandwidth, LinkReset, ZKKill, ZKCut,
	PlogWriteErrors, PlogSyncErrors, ClockOffset,
}

// Fault is one injected fault.
type Fault struct {
	Kind   FaultKind
	Target string        // what it hit, for the log
	Hold   time.Duration // how long it stays before the heal
	// Start and End are when it was injected and healed (campaign time).
	Start, End time.Duration
	heal       func(ctx context.Context) error
	// restart lists nodes whose process is restarted by the heal.
	restart []*Node
}

// Nemesis injects and heals faults on a Cluster, drawing every choice from
// its seeded random source, so a seed replays the same schedule of kinds,
// targets and durations (targets follow the cluster's configuration at the
// time, which the faults before shaped).
type Nemesis struct {
	c     *Cluster
	admin *admin.Client
	table string
	rng   *rand.Rand
	lease time.Duration
	grace time.Duration
	// MaxClockOffset bounds the clock-offset fault.
	MaxClockOffset time.Duration
	deck           []FaultKind
	kinds          []FaultKind
}

// NewNemesis returns a nemesis drawing from kinds (AllFaults when empty).
func NewNemesis(c *Cluster, ac *admin.Client, table string, seed uint64, lease, grace time.Duration, kinds []FaultKind) *Nemesis {
	if len(kinds) == 0 {
		kinds = AllFaults
	}
	return &Nemesis{c: c, admin: ac, table: table, rng: rand.New(rand.NewPCG(seed, 0x6e656d65)), lease: lease, grace: grace,
		MaxClockOffset: grace - lease, kinds: kinds}
}

// Next draws the next fault kind: every kind once, in a random order,
// then again.
func (n *Nemesis) Next() FaultKind {
	if len(n.deck) == 0 {
		n.deck = slices.Clone(n.kinds)
		n.rng.Shuffle(len(n.deck), func(i, j int) { n.deck[i], n.deck[j] = n.deck[j], n.deck[i] })
	}
	k := n.deck[0]
	n.deck = n.deck[1:]
	return k
}

func (n *Nemesis) between(lo, hi time.Duration) time.Duration {
	return lo + time.Duration(n.rng.Int64N(int64(hi-lo)+1))
}

func (n *Nemesis) pick(nodes []*Node) *Node { return nodes[n.rng.IntN(len(nodes))] }

// config returns the table's configuration.
func (n *Nemesis) config(ctx context.Context) (*protocol.QueryConfigResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return n.admin.QueryConfig(ctx, n.table)
}

// primaryOf returns the primary of a random partition.
func (n *Nemesis) primaryOf(cfg *protocol.QueryConfigResponse) (*Node, protocol.Gpid, error) {
	pc := cfg.Partitions[n.rng.IntN(len(cfg.Partitions))]
	node := n.c.NodeByAddr(pc.Primary)
	if node == nil {
		return nil, pc.Gpid, fmt.Errorf("%s has no known primary (%q)", pc.Gpid, pc.Primary)
	}
	return node, pc.Gpid, nil
}

// Inject injects a fault of kind k and returns it; the caller holds it for
// f.Hold and then calls Heal.
func (n *Nemesis) Inject(ctx context.Context, k FaultKind) (*Fault, error) {
	f := &Fault{Kind: k, Hold: n.between(3*time.Second, 6*time.Second)}
	cfg, err := n.config(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: query the configuration: %w", k, err)
	}
	switch k {
	case KillPrimary, PausePrimary, IsolatePrimary, PlantedStaleLease:
		x, g, err := n.primaryOf(cfg)
		if err != nil {
			return nil, err
		}
		f.Target = fmt.Sprintf("%s (primary of %s)", x.Name, g)
		switch k {
		case KillPrimary:
			x.Kill()
			f.restart = []*Node{x}
		case PausePrimary:
			// Past the grace period, so the meta replaces it meanwhile.
			f.Hold = n.grace + n.between(time.Second, 3*time.Second)
			if err := x.Pause(); err != nil {
				return nil, err
			}
			f.heal = func(context.Context) error { return x.Resume() }
		case IsolatePrimary, PlantedStaleLease:
			// Cut from the meta servers and the other replica servers
			// both ways, not from the clients, past lease and grace, so
			// the meta replaces it.
			f.Hold = n.grace + n.lease/2 + n.between(time.Second, 3*time.Second)
			if k == PlantedStaleLease {
				f.Hold = n.lease + n.grace + 8*time.Second
			}
			var links []*Link
			for _, o := range n.c.Nodes() {
				if o != x {
					links = append(links, n.c.Net.Link(x.Name, o.Name), n.c.Net.Link(o.Name, x.Name))
				}
			}
			blackhole := n.rng.IntN(2) == 0
			for _, l := range links {
				if blackhole {
					if err := l.Toxic("timeout", "upstream", map[string]any{"timeout": 2000}); err != nil {
						return nil, err
					}
				} else {
					l.Cut()
				}
			}
			if blackhole {
				f.Target += " blackholed"
			} else {
				f.Target += " refused"
			}
			f.heal = healLinks(links)
			if k == PlantedStaleLease {
				if err := x.SetFailpoint(ctx, failpoint.ClockOffset, "-1m"); err != nil {
					return nil, err
				}
				f.Target += ", its clock a minute back"
				healNet := f.heal
				f.heal = func(ctx context.Context) error {
					if err := x.SetFailpoint(ctx, failpoint.ClockOffset, ""); err != nil {
						return err
					}
					return healNet(ctx)
				}
			}
		}
	case KillSecondary:
		pc := cfg.Partitions[n.rng.IntN(len(cfg.Partitions))]
		if len(pc.Secondaries) == 0 {
			return nil, fmt.Errorf("%s has no secondary", pc.Gpid)
		}
		// Prefer a secondary that leads no partition.
		cands := slices.Clone(pc.Secondaries)
		slices.SortFunc(cands, func(a, b string) int { return leads(cfg, a) - leads(cfg, b) })
		x := n.c.NodeByAddr(cands[0])
		if x == nil {
			return nil, fmt.Errorf("unknown secondary %s", cands[0])
		}
		f.Target = fmt.Sprintf("%s (secondary of %s, primary of %d)", x.Name, pc.Gpid, leads(cfg, cands[0]))
		x.Kill()
		f.restart = []*Node{x}
	case KillMetaLeader:
		x, err := n.metaLeader(ctx)
		if err != nil {
			return nil, err
		}
		f.Target = x.Name
		x.Kill()
		f.restart = []*Node{x}
	case KillAllReplicas:
		f.Target = "every replica server"
		for _, x := range n.c.Replicas {
			x.Kill()
		}
		f.restart = n.c.Replicas
	case OneWayPartition:
		// One server cannot send to one peer, or to every peer; what the
		// peers send to it still arrives.
		x := n.pick(n.c.Nodes())
		var links []*Link
		if n.rng.IntN(2) == 0 {
			var peers []*Node
			for _, o := range n.c.Nodes() {
				if o != x && (o.Role == RoleReplica || x.Role == RoleReplica) {
					peers = append(peers, o)
				}
			}
			y := n.pick(peers)
			links = []*Link{n.c.Net.Link(x.Name, y.Name)}
			f.Target = x.Name + " -/-> " + y.Name
		} else {
			for _, o := range n.c.Nodes() {
				if o != x {
					links = append(links, n.c.Net.Link(x.Name, o.Name))
				}
			}
			f.Target = x.Name + " -/-> every server"
		}
		f.Hold = n.between(2*time.Second, n.grace+2*time.Second)
		for _, l := range links {
			if err := l.Toxic("timeout", "upstream", map[string]any{"timeout": 1500}); err != nil {
				return nil, err
			}
		}
		f.heal = healLinks(links)
	case SlowLatency, SlowBandwidth, LinkReset:
		x := n.pick(n.c.Nodes())
		links := append(n.c.Net.Links(x.Name, ""), n.c.Net.Links("", x.Name)...)
		var typ string
		var attrs map[string]any
		switch k {
		case SlowLatency:
			lat := n.between(50*time.Millisecond, 400*time.Millisecond).Milliseconds()
			typ, attrs = "latency", map[string]any{"latency": lat, "jitter": lat / 2}
			f.Target = fmt.Sprintf("every link of %s +%dms±%dms", x.Name, lat, lat/2)
		case SlowBandwidth:
			kb := 8 + n.rng.IntN(56)
			typ, attrs = "bandwidth", map[string]any{"rate": kb}
			f.Target = fmt.Sprintf("every link of %s at %dKB/s", x.Name, kb)
		case LinkReset:
			ms := n.between(100*time.Millisecond, time.Second).Milliseconds()
			typ, attrs = "reset_peer", map[string]any{"timeout": ms}
			f.Target = fmt.Sprintf("every link of %s reset after %dms", x.Name, ms)
		}
		for _, l := range links {
			for _, s := range []string{"upstream", "downstream"} {
				if typ == "reset_peer" && s == "downstream" {
					continue
				}
				if err := l.Toxic(typ, s, attrs); err != nil {
					return nil, err
				}
			}
		}
		f.heal = healLinks(links)
	case ZKKill:
		f.Target = "zookeeper " + n.c.ZK.Addr()
		n.c.ZK.Kill()
		f.heal = func(ctx context.Context) error {
			ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
			defer cancel()
			return n.c.ZK.Restart(ctx)
		}
	case ZKCut:
		x, err := n.metaLeader(ctx)
		if err != nil {
			return nil, err
		}
		l := n.c.Net.Link(x.Name, ZKNode)
		f.Target = x.Name + " (meta leader) -/- zookeeper"
		f.Hold = n.between(2*time.Second, 6*time.Second)
		if n.rng.IntN(2) == 0 {
			l.Cut()
			f.Target += " refused"
		} else {
			if err := l.Toxic("timeout", "upstream", map[string]any{"timeout": 2000}); err != nil {
				return nil, err
			}
			if err := l.Toxic("timeout", "downstream", map[string]any{"timeout": 2000}); err != nil {
				return nil, err
			}
			f.Target += " blackholed"
		}
		f.heal = healLinks([]*Link{l})
	case PlogWriteErrors, PlogSyncErrors:
		x, g, err := n.primaryOf(cfg)
		if err != nil {
			return nil, err
		}
		name := failpoint.PlogWriteError
		if k == PlogSyncErrors {
			name = failpoint.PlogSyncError
		}
		p := []string{"0.05", "0.3", "1"}[n.rng.IntN(3)]
		f.Target = fmt.Sprintf("%s (primary of %s) %s=%s", x.Name, g, name, p)
		if err := x.SetFailpoint(ctx, name, p); err != nil {
			return nil, err
		}
		f.heal = func(ctx context.Context) error { return x.SetFailpoint(ctx, name, "") }
	case ClockOffset:
		x := n.pick(n.c.Nodes())
		off := n.between(n.MaxClockOffset/4, n.MaxClockOffset)
		if n.rng.IntN(2) == 0 {
			off = -off
		}
		f.Target = fmt.Sprintf("%s clock %+v", x.Name, off)
		if err := x.SetFailpoint(ctx, failpoint.ClockOffset, off.String()); err != nil {
			return nil, err
		}
		f.heal = func(ctx context.Context) error { return x.SetFailpoint(ctx, failpoint.ClockOffset, "") }
	default:
		return nil, fmt.Errorf("unknown fault kind %q", k)
	}
	return f, nil
}

// Heal undoes f: restarts what it killed, continues what it paused,
// reopens links, turns failpoints off.
func (n *Nemesis) Heal(ctx context.Context, f *Fault) error {
	if f.heal != nil {
		if err := f.heal(ctx); err != nil {
			return fmt.Errorf("heal %s: %w", f.Kind, err)
		}
	}
	for _, x := range f.restart {
		if err := x.Restart(); err != nil {
			return fmt.Errorf("heal %s: %w", f.Kind, err)
		}
	}
	return nil
}

// metaLeader returns the meta leader.
func (n *Nemesis) metaLeader(ctx context.Context) (*Node, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	info, err := n.admin.ClusterInfo(ctx)
	if err != nil {
		return nil, fmt.Errorf("cluster info: %w", err)
	}
	x := n.c.NodeByAddr(info.MetaLeader)
	if x == nil {
		return nil, fmt.Errorf("unknown meta leader %q", info.MetaLeader)
	}
	return x, nil
}

func healLinks(links []*Link) func(context.Context) error {
	return func(context.Context) error {
		var errs []string
		for _, l := range links {
			if err := l.Heal(); err != nil {
				errs = append(errs, err.Error())
			}
		}
		if len(errs) > 0 {
			return fmt.Errorf("%s", strings.Join(errs, "; "))
		}
		return nil
	}
}

// leads counts the partitions node leads.
func leads(cfg *protocol.QueryConfigResponse, node string) int {
	n := 0
	for _, pc := range cfg.Partitions {
		if pc.Primary == node {
			n++
		}
	}
	return n
}

// Unhealthy says why the table is not healthy, or "": every partition has a
// primary and replicas-1 secondaries on distinct live nodes, and every
// member reports that role at the configuration's ballot without a
// failure.
func (c *Cluster) Unhealthy(ctx context.Context, cfg *protocol.QueryConfigResponse, replicas int) string {
	if why := harness.Unhealthy(cfg, replicas); why != "" {
		return why
	}
	pages := map[string]*replicasPage{}
	for _, pc := range cfg.Partitions {
		for i, m := range harness.Members(pc) {
			node := c.NodeByAddr(m)
			if node == nil {
				return fmt.Sprintf("%s: unknown member %s", pc.Gpid, m)
			}
			if pages[m] == nil {
				var p replicasPage
				if err := getJSON(ctx, node.HTTP, "/replica/replicas", &p); err != nil {
					return err.Error()
				}
				pages[m] = &p
			}
			want := protocol.PartitionSecondary.String()
			if i == 0 {
				want = protocol.PartitionPrimary.String()
			}
			r, ok := pages[m].replica(pc.Gpid)
			if !ok || r.Role != want || r.Ballot != pc.Ballot || r.Error != "" {
				return fmt.Sprintf("%s on %s: %+v (present %v), want %s at ballot %d", pc.Gpid, node.Name, r, ok, want, pc.Ballot)
			}
		}
	}
	return ""
}

type replicaView struct {
	Gpid   string          `json:"gpid"`
	Role   string          `json:"role"`
	Ballot protocol.Ballot `json:"ballot"`
	Error  string          `json:"error"`
}

type replicasPage struct {
	Replicas []replicaView `json:"replicas"`
}

func (p *replicasPage) replica(g protocol.Gpid) (replicaView, bool) {
	i := slices.IndexFunc(p.Replicas, func(r replicaView) bool { return r.Gpid == g.String() })
	if i < 0 {
		return replicaView{}, false
	}
	return p.Replicas[i], true
}

// Digests returns the digest of replica g on each member of pc.
func (c *Cluster) Digests(ctx context.Context, pc protocol.PartitionConfiguration) (map[string]harness.Digest, error) {
	out := map[string]harness.Digest{}
	for _, m := range harness.Members(pc) {
		node := c.NodeByAddr(m)
		if node == nil {
			return nil, fmt.Errorf("unknown member %s", m)
		}
		var d harness.Digest
		if err := getJSON(ctx, node.HTTP, "/replica/digest?gpid="+pc.Gpid.String(), &d); err != nil {
			return nil, err
		}
		out[node.Name] = d
	}
	return out, nil
}
