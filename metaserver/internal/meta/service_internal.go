package meta

import (
	"context"
	"maps"
	"net"
	"slices"

	"github.com/pegasus-go/pegasus/metaserver/internal/membership"
	"github.com/pegasus-go/pegasus/metaserver/internal/state"
	"github.com/pegasus-go/pegasus/shared/logging"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

// InternalService implements protocol.ServiceMetaInternal (called by
// replica servers); register it with
// rpc.Server.Register(protocol.ServiceMetaInternal, s.InternalService()).
type InternalService struct{ s *Server }

// InternalService returns the MetaInternal RPC receiver.
func (s *Server) InternalService() *InternalService { return &InternalService{s} }

// maxReportedReplicas bounds one ConfigSync request's replica list.
const maxReportedReplicas = 1 << 20

func validateNode(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" || port == "" || len(addr) > 255 {
		return protocol.Errorf(protocol.CodeInvalidArgument, "node address %q: want host:port", addr)
	}
	return nil
}

// Beacon renews a node's liveness and grants it a lease.
func (m *InternalService) Beacon(ctx context.Context, req *protocol.BeaconRequest, resp *protocol.BeaconResponse) error {
	t, err := m.s.serving(ctx)
	if err != nil {
		return err
	}
	if err := validateNode(req.Node); err != nil {
		return err
	}
	r := t.det.Beacon(req.Node, req.StartTimeMs)
	m.s.met.beacons.Inc(1)
	if r.BecameAlive {
		t.log.Info("replica server alive", logging.Node(req.Node), "returned", r.Returned, "restarted", r.Restarted)
		if err := t.recordNode(ctx, req.Node); err != nil {
			return err
		}
	} else if r.Restarted {
		t.log.Info("replica server restarted", logging.Node(req.Node))
	}
	if r.Returned || r.Restarted {
		t.nodeBack(req.Node)
	}
	if r.BecameAlive || r.Restarted {
		t.poke()
	}
	resp.SendTimeMs = req.SendTimeMs
	resp.LeaseMs = t.det.Lease().Milliseconds()
	resp.MetaLeader = m.s.opts.Address
	return nil
}

// nodeBack forgets what a node reported before it restarted or died, and
// marks its primaries for a new ballot.
func (t *term) nodeBack(addr string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.mu.reports, addr)
	t.mu.restarted[addr] = true
}

// recordNode persists a node seen for the first time.
func (t *term) recordNode(ctx context.Context, addr string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.active() {
		return t.s.forward(ctx)
	}
	if t.mu.view.Nodes[addr] {
		return nil
	}
	if err := t.mu.w.AddNode(ctx, t.mu.view, addr, t.nowMs()); err != nil {
		return t.writeErr(ctx, "record node "+addr, err)
	}
	return nil
}

// ConfigSync records the replicas a node reports and tells it what it
// should serve and which of its replicas are garbage.
func (m *InternalService) ConfigSync(ctx context.Context, req *protocol.ConfigSyncRequest, resp *protocol.ConfigSyncResponse) error {
	t, err := m.s.serving(ctx)
	if err != nil {
		return err
	}
	if err := validateNode(req.Node); err != nil {
		return err
	}
	if len(req.Replicas) > maxReportedReplicas {
		return protocol.Errorf(protocol.CodeInvalidArgument, "%d replicas reported: at most %d", len(req.Replicas), maxReportedReplicas)
	}
	m.s.met.configSyncs.Inc(1)
	return t.configSync(ctx, req, resp)
}

func (t *term) configSync(ctx context.Context, req *protocol.ConfigSyncRequest, resp *protocol.ConfigSyncResponse) error {
	node := req.Node
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.active() {
		return t.s.forward(ctx)
	}
	v := t.mu.view
	if st, ok := t.det.State(node); ok && st == membership.StateAlive {
		// Reports count only from a node this leader holds alive: a dead
		// node's replicas are judged when it beacons again.
		if err := t.recordReportsLocked(ctx, node, req.Replicas); err != nil {
			return err
		}
	}
	for _, a := range v.SortedApps() {
		if a.Info.Status != protocol.AppAvailable {
			continue
		}
		member := false
		for _, p := range a.Partitions {
			if isMember(p.Config, node) {
				resp.Partitions = append(resp.Partitions, state.CloneConfig(p.Config))
				member = true
			}
		}
		if member {
			resp.Apps = append(resp.Apps, state.CloneApp(a.Info))
		}
	}
	for _, r := range req.Replicas {
		if garbage(v, r, node) && !slices.Contains(resp.GarbageReplicas, r.Gpid) {
			resp.GarbageReplicas = append(resp.GarbageReplicas, r.Gpid)
		}
	}
	return nil
}

// recordReportsLocked keeps node's reports of served partitions, refreshes
// the drops records of its dropped replicas, and wakes the guardian when a
// report calls for action (an inactive primary, a partition without one).
func (t *term) recordReportsLocked(ctx context.Context, node string, replicas []protocol.ReplicaInfo) error {
	reps := make(map[protocol.Gpid]protocol.ReplicaInfo, len(replicas))
	drops := map[int32][]state.PartitionUpdate{}
	wake := false
	now := t.nowMs()
	for _, r := range replicas {
		a := t.mu.view.Apps[r.Gpid.AppID]
		if a == nil || a.Info.Status != protocol.AppAvailable || r.Gpid.PartitionIndex < 0 || int(r.Gpid.PartitionIndex) >= len(a.Partitions) {
			continue
		}
		reps[r.Gpid] = r
		p := &a.Partitions[r.Gpid.PartitionIndex]
		c := p.Config
		if c.Primary == "" || (c.Primary == node && r.Ballot == c.Ballot && r.Status != protocol.PartitionPrimary) {
			wake = true
		}
		old, ok := p.Drops.Replica(node)
		if !ok || (old.ReportTimeMs != 0 && old.Ballot == r.Ballot && old.LastCommitted == r.LastCommitted && old.LastPrepared == r.LastPrepared) {
			continue
		}
		d := p.Drops.Clone()
		d.Put(state.DroppedReplica{Node: node, Ballot: r.Ballot, LastCommitted: r.LastCommitted, LastPrepared: r.LastPrepared,
			DropTimeMs: old.DropTimeMs, ReportTimeMs: now})
		drops[a.Info.AppID] = append(drops[a.Info.AppID], state.PartitionUpdate{Config: c, Drops: &d})
	}
	t.mu.reports[node] = reps
	for _, id := range slices.Sorted(maps.Keys(drops)) {
		if err := t.mu.w.UpdatePartitions(ctx, t.mu.view.Apps[id], drops[id]...); err != nil {
			return t.writeErr(ctx, "record dropped replicas reported by "+node, err)
		}
	}
	if wake {
		t.poke()
	}
	return nil
}

func isMember(c protocol.PartitionConfiguration, node string) bool {
	return c.Primary == node || slices.Contains(c.Secondaries, node)
}

// garbage reports whether node's replica r may be deleted: its table was
// purged, or the table is served and the partition neither lists the node
// nor remembers it in LastDrops, and the replica is not learning. Replicas
// of dropped tables in their hold period are kept.
func garbage(v *state.View, r protocol.ReplicaInfo, node string) bool {
	g := r.Gpid
	a := v.Apps[g.AppID]
	if a == nil {
		return g.AppID > 0 && g.AppID < v.NextAppID // allocated here, then purged
	}
	if a.Info.Status != protocol.AppAvailable {
		return false
	}
	if g.PartitionIndex < 0 || int(g.PartitionIndex) >= len(a.Partitions) {
		return true
	}
	c := a.Partitions[g.PartitionIndex].Config
	return !isMember(c, node) && !slices.Contains(c.LastDrops, node) && r.Status != protocol.PartitionLearner
}
