package meta

import (
	"context"
	"net"
	"slices"

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
	becameAlive, restarted := t.det.Beacon(req.Node, req.StartTimeMs)
	m.s.met.beacons.Inc(1)
	if becameAlive {
		t.log.Info("replica server alive", logging.Node(req.Node))
		if err := t.recordNode(ctx, req.Node); err != nil {
			return err
		}
		t.poke()
	} else if restarted {
		t.log.Info("replica server restarted", logging.Node(req.Node))
	}
	resp.SendTimeMs = req.SendTimeMs
	resp.LeaseMs = t.det.Lease().Milliseconds()
	resp.MetaLeader = m.s.opts.Address
	return nil
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

// ConfigSync tells a node what it should serve and which of its replicas
// are garbage.
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
	*resp = t.configSync(req)
	return nil
}

func (t *term) configSync(req *protocol.ConfigSyncRequest) protocol.ConfigSyncResponse {
	node := req.Node
	var resp protocol.ConfigSyncResponse
	t.mu.Lock()
	defer t.mu.Unlock()
	v := t.mu.view
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
		if garbage(v, r.Gpid, node) && !slices.Contains(resp.GarbageReplicas, r.Gpid) {
			resp.GarbageReplicas = append(resp.GarbageReplicas, r.Gpid)
		}
	}
	return resp
}

func isMember(c protocol.PartitionConfiguration, node string) bool {
	return c.Primary == node || slices.Contains(c.Secondaries, node)
}

// garbage reports whether node's replica g may be deleted: its table was
// purged, or the table is served and the partition neither lists the node
// nor remembers it as the last holder of its data. Replicas of dropped
// tables in their hold period are kept.
func garbage(v *state.View, g protocol.Gpid, node string) bool {
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
	return !isMember(c, node) && !slices.Contains(c.LastDrops, node)
}

// UpdateConfiguration persists a configuration change proposed by a
// primary: the new configuration must carry the stored ballot + 1.
func (m *InternalService) UpdateConfiguration(ctx context.Context, req *protocol.UpdateConfigurationRequest, resp *protocol.UpdateConfigurationResponse) error {
	t, err := m.s.serving(ctx)
	if err != nil {
		return err
	}
	switch req.Type {
	case protocol.ConfigPrimaryForceUpdateBallot, protocol.ConfigUpgradeToSecondary, protocol.ConfigDowngradeToInactive:
	default:
		return protocol.Errorf(protocol.CodeInvalidArgument, "configuration change %v is not accepted from a replica server", req.Type)
	}
	g := req.Config.Gpid
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.active() {
		return m.s.forward(ctx)
	}
	app := t.mu.view.Apps[g.AppID]
	if app == nil || app.Info.Status != protocol.AppAvailable {
		return protocol.Errorf(protocol.CodeAppNotExist, "no served table with app id %d", g.AppID)
	}
	if g.PartitionIndex < 0 || int(g.PartitionIndex) >= len(app.Partitions) {
		return protocol.Errorf(protocol.CodeObjectNotFound, "partition %v does not exist", g)
	}
	cur := app.Partitions[g.PartitionIndex].Config
	if req.Config.Ballot != cur.Ballot+1 {
		return protocol.Errorf(protocol.CodeStaleBallot, "partition %v: proposed ballot %d, stored ballot %d", g, req.Config.Ballot, cur.Ballot)
	}
	if req.Type == protocol.ConfigPrimaryForceUpdateBallot && (req.Config.Primary != cur.Primary || req.Node != cur.Primary) {
		return protocol.Errorf(protocol.CodeInvalidState, "partition %v: %s is not its primary (%q)", g, req.Node, cur.Primary)
	}
	next := state.CloneConfig(req.Config)
	next.MaxReplicaCount = cur.MaxReplicaCount
	if err := t.mu.w.SetPartitions(ctx, app, next); err != nil {
		return t.writeErr(ctx, "update configuration of "+g.String(), err)
	}
	t.log.Info("configuration updated by replica", logging.Gpid(g), "type", req.Type, logging.Node(req.Node), logging.Ballot(next.Ballot))
	resp.Config = state.CloneConfig(next)
	return nil
}
