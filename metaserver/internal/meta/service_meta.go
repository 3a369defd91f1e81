package meta

import (
	"context"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/pegasus-go/pegasus/metaserver/internal/appenv"
	"github.com/pegasus-go/pegasus/metaserver/internal/placement"
	"github.com/pegasus-go/pegasus/metaserver/internal/state"
	"github.com/pegasus-go/pegasus/shared/logging"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

// MetaService implements protocol.ServiceMeta; register it with
// rpc.Server.Register(protocol.ServiceMeta, s.MetaService()).
type MetaService struct{ s *Server }

// MetaService returns the Meta RPC receiver.
func (s *Server) MetaService() *MetaService { return &MetaService{s} }

func appNotExist(name string) error {
	return protocol.Errorf(protocol.CodeAppNotExist, "table %q does not exist", name)
}

// CreateApp creates a table and assigns its partitions.
func (m *MetaService) CreateApp(ctx context.Context, req *protocol.CreateAppRequest, resp *protocol.CreateAppResponse) error {
	t, err := m.s.serving(ctx)
	if err != nil {
		return err
	}
	if err := validateAppName(req.Name); err != nil {
		return err
	}
	if err := validatePartitionCount(req.PartitionCount); err != nil {
		return err
	}
	rc, err := replicaCount(req.ReplicaCount)
	if err != nil {
		return err
	}
	if err := appenv.Validate(req.Envs); err != nil {
		return err
	}

	t.mu.Lock()
	if !t.active() {
		t.mu.Unlock()
		return m.s.forward(ctx)
	}
	v := t.mu.view
	if a := v.AppByName(req.Name); a != nil {
		t.mu.Unlock()
		return protocol.Errorf(protocol.CodeAppExist, "table %q already exists (app id %d)", req.Name, a.Info.AppID)
	}
	info := protocol.AppInfo{
		AppID: v.NextAppID, Name: req.Name, Status: protocol.AppAvailable,
		PartitionCount: req.PartitionCount, ReplicaCount: rc, Envs: maps.Clone(req.Envs),
		CreateTimeMs: t.nowMs(),
	}
	cfgs := placement.PlaceApp(t.clusterLocked(), info.AppID, info.PartitionCount, rc)
	if _, err := t.mu.w.CreateApp(ctx, v, info, cfgs); err != nil {
		t.mu.Unlock()
		return t.writeErr(ctx, "create table "+req.Name, err)
	}
	sends := t.assignProposals(info, cfgs)
	t.updateGaugesLocked()
	t.mu.Unlock()

	t.log.Info("created table", logging.AppID(info.AppID), logging.Table(info.Name),
		"partitions", info.PartitionCount, "replicas", rc)
	t.send(sends)
	t.poke() // partitions left without a primary get one as soon as a node is alive
	resp.AppID = info.AppID
	return nil
}

// DropApp marks a table dropped; it stays recallable for the hold period.
func (m *MetaService) DropApp(ctx context.Context, req *protocol.DropAppRequest, resp *protocol.DropAppResponse) error {
	t, err := m.s.serving(ctx)
	if err != nil {
		return err
	}
	t.mu.Lock()
	if !t.active() {
		t.mu.Unlock()
		return m.s.forward(ctx)
	}
	app := t.mu.view.AppByName(req.Name)
	if app == nil {
		t.mu.Unlock()
		return appNotExist(req.Name)
	}
	reserve := t.s.opts.DefaultReserve
	if req.ReserveSeconds > 0 {
		reserve = time.Duration(min(req.ReserveSeconds, int64(100*365*24*3600))) * time.Second
	}
	info := state.CloneApp(app.Info)
	now := t.nowMs()
	info.Status, info.DropTimeMs, info.ExpireTimeMs = protocol.AppDropped, now, now+reserve.Milliseconds()
	// The table's duplications go with it, in the same transaction.
	if err := t.mu.w.SetAppDeletingDups(ctx, app, info); err != nil {
		t.mu.Unlock()
		return t.writeErr(ctx, "drop table "+req.Name, err)
	}
	t.forgetDupsLocked()
	var sends []proposal
	for _, c := range app.Configs() {
		for _, n := range placement.Members(c) {
			sends = append(sends, t.pushes(info, protocol.ConfigDropPartition, n, c, n)...)
		}
	}
	t.updateGaugesLocked()
	t.mu.Unlock()
	t.log.Info("dropped table", logging.AppID(info.AppID), logging.Table(info.Name), "reserve", reserve)
	t.send(sends)
	return nil
}

// RecallApp restores a dropped table, optionally under a new name. Every
// partition with a primary gets a new ballot so its replicas serve again.
func (m *MetaService) RecallApp(ctx context.Context, req *protocol.RecallAppRequest, resp *protocol.RecallAppResponse) error {
	t, err := m.s.serving(ctx)
	if err != nil {
		return err
	}
	if req.NewName != "" {
		if err := validateAppName(req.NewName); err != nil {
			return err
		}
	}
	t.mu.Lock()
	if !t.active() {
		t.mu.Unlock()
		return m.s.forward(ctx)
	}
	app := t.mu.view.Apps[req.AppID]
	if app == nil {
		t.mu.Unlock()
		return protocol.Errorf(protocol.CodeAppNotExist, "no table with app id %d (never created, or purged)", req.AppID)
	}
	if app.Info.Status != protocol.AppDropped {
		t.mu.Unlock()
		return protocol.Errorf(protocol.CodeAppExist, "table %q (app id %d) is not dropped", app.Info.Name, req.AppID)
	}
	name := app.Info.Name
	if req.NewName != "" {
		name = req.NewName
	}
	if other := t.mu.view.AppByName(name); other != nil {
		t.mu.Unlock()
		return protocol.Errorf(protocol.CodeAppExist, "table %q already exists (app id %d); recall under another name", name, other.Info.AppID)
	}
	info := state.CloneApp(app.Info)
	info.Name, info.Status, info.DropTimeMs, info.ExpireTimeMs = name, protocol.AppAvailable, 0, 0
	var cfgs []protocol.PartitionConfiguration
	for _, c := range app.Configs() {
		if c.Primary != "" {
			c.Ballot++
			cfgs = append(cfgs, c)
		}
	}
	if err := t.mu.w.SetAppAndPartitions(ctx, app, info, cfgs...); err != nil {
		t.mu.Unlock()
		return t.writeErr(ctx, "recall table "+name, err)
	}
	sends := t.assignProposals(info, cfgs)
	t.updateGaugesLocked()
	t.mu.Unlock()
	t.log.Info("recalled table", logging.AppID(info.AppID), logging.Table(info.Name))
	t.send(sends)
	t.poke()
	resp.App = info
	return nil
}

// ListApps lists tables with the requested status (AppInvalid: all).
func (m *MetaService) ListApps(ctx context.Context, req *protocol.ListAppsRequest, resp *protocol.ListAppsResponse) error {
	t, err := m.s.serving(ctx)
	if err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, a := range t.mu.view.SortedApps() {
		if req.Status == protocol.AppInvalid || a.Info.Status == req.Status {
			resp.Apps = append(resp.Apps, state.CloneApp(a.Info))
		}
	}
	return nil
}

// QueryConfig returns a served table and its partition configurations.
func (m *MetaService) QueryConfig(ctx context.Context, req *protocol.QueryConfigRequest, resp *protocol.QueryConfigResponse) error {
	t, err := m.s.serving(ctx)
	if err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	var app *state.App
	if req.AppName != "" {
		app = t.mu.view.AppByName(req.AppName)
	} else if a := t.mu.view.Apps[req.AppID]; a != nil && a.Info.Status != protocol.AppDropped {
		app = a
	}
	if app == nil {
		if req.AppName != "" {
			return appNotExist(req.AppName)
		}
		return protocol.Errorf(protocol.CodeAppNotExist, "no table with app id %d", req.AppID)
	}
	resp.App = state.CloneApp(app.Info)
	resp.Partitions = app.Configs()
	for i := range resp.Partitions {
		resp.Partitions[i].LastCommittedDecree = t.committedLocked(resp.Partitions[i])
		if l, ok := t.mu.learners[resp.Partitions[i].Gpid]; ok {
			if resp.Learners == nil {
				resp.Learners = make([]string, len(resp.Partitions))
			}
			resp.Learners[i] = l.node
		}
	}
	return nil
}

// ListNodes lists replica servers with their liveness and partition counts.
func (m *MetaService) ListNodes(ctx context.Context, req *protocol.ListNodesRequest, resp *protocol.ListNodesResponse) error {
	t, err := m.s.serving(ctx)
	if err != nil {
		return err
	}
	for _, n := range t.nodeInfos() {
		if req.Status == protocol.NodeInvalid || n.Status == req.Status {
			resp.Nodes = append(resp.Nodes, n)
		}
	}
	return nil
}

// nodeInfos reports every known node, ordered by address.
func (t *term) nodeInfos() []protocol.NodeInfo {
	t.mu.Lock()
	prim, sec := map[string]int32{}, map[string]int32{}
	for _, a := range t.mu.view.Apps {
		if a.Info.Status != protocol.AppAvailable {
			continue
		}
		for _, p := range a.Partitions {
			if p.Config.Primary != "" {
				prim[p.Config.Primary]++
			}
			for _, s := range p.Config.Secondaries {
				sec[s]++
			}
		}
	}
	t.mu.Unlock()
	nodes := t.det.Nodes()
	out := make([]protocol.NodeInfo, len(nodes))
	for i, n := range nodes {
		st := protocol.NodeDead
		if n.Alive() {
			st = protocol.NodeAlive
		}
		out[i] = protocol.NodeInfo{Address: n.Address, Status: st, PrimaryCount: prim[n.Address], SecondaryCount: sec[n.Address]}
	}
	return out
}

// SetAppEnvs adds or overwrites table envs.
func (m *MetaService) SetAppEnvs(ctx context.Context, req *protocol.SetAppEnvsRequest, resp *protocol.SetAppEnvsResponse) error {
	t, err := m.s.serving(ctx)
	if err != nil {
		return err
	}
	if len(req.Envs) == 0 {
		return protocol.Errorf(protocol.CodeInvalidArgument, "no envs to set")
	}
	if err := appenv.Validate(req.Envs); err != nil {
		return err
	}
	return t.changeEnvs(ctx, req.AppName, func(envs map[string]string) (bool, error) {
		maps.Copy(envs, req.Envs)
		if len(envs) > appenv.MaxEnvs {
			return false, protocol.Errorf(protocol.CodeInvalidArgument, "table %q would have %d envs: at most %d allowed", req.AppName, len(envs), appenv.MaxEnvs)
		}
		return true, nil
	})
}

// GetAppEnvs returns a table's envs.
func (m *MetaService) GetAppEnvs(ctx context.Context, req *protocol.GetAppEnvsRequest, resp *protocol.GetAppEnvsResponse) error {
	t, err := m.s.serving(ctx)
	if err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	app := t.mu.view.AppByName(req.AppName)
	if app == nil {
		return appNotExist(req.AppName)
	}
	resp.Envs = maps.Clone(app.Info.Envs)
	return nil
}

// DelAppEnvs deletes table envs by key, by prefix, or all of them.
func (m *MetaService) DelAppEnvs(ctx context.Context, req *protocol.DelAppEnvsRequest, resp *protocol.DelAppEnvsResponse) error {
	t, err := m.s.serving(ctx)
	if err != nil {
		return err
	}
	if len(req.Keys) == 0 && req.ClearPrefix == "" && !req.ClearAll {
		return protocol.Errorf(protocol.CodeInvalidArgument, "nothing to delete: give keys, a prefix or clear_all")
	}
	return t.changeEnvs(ctx, req.AppName, func(envs map[string]string) (bool, error) {
		for _, k := range slices.Sorted(maps.Keys(envs)) {
			if req.ClearAll || slices.Contains(req.Keys, k) || (req.ClearPrefix != "" && strings.HasPrefix(k, req.ClearPrefix)) {
				delete(envs, k)
				resp.Deleted = append(resp.Deleted, k)
			}
		}
		return len(resp.Deleted) > 0, nil
	})
}

// changeEnvs applies fn to a copy of a table's envs and stores the result
// when fn reports a change.
func (t *term) changeEnvs(ctx context.Context, name string, fn func(map[string]string) (bool, error)) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.active() {
		return t.s.forward(ctx)
	}
	app := t.mu.view.AppByName(name)
	if app == nil {
		return appNotExist(name)
	}
	info := state.CloneApp(app.Info)
	if info.Envs == nil {
		info.Envs = map[string]string{}
	}
	changed, err := fn(info.Envs)
	if err != nil || !changed {
		return err
	}
	if len(info.Envs) == 0 {
		info.Envs = nil
	}
	if err := t.mu.w.SetApp(ctx, app, info); err != nil {
		return t.writeErr(ctx, "change envs of "+name, err)
	}
	t.log.Info("table envs changed", logging.AppID(info.AppID), logging.Table(name))
	return nil
}

// ClusterInfo summarizes the cluster.
func (m *MetaService) ClusterInfo(ctx context.Context, req *protocol.ClusterInfoRequest, resp *protocol.ClusterInfoResponse) error {
	t, err := m.s.serving(ctx)
	if err != nil {
		return err
	}
	*resp = t.clusterInfo()
	return nil
}

func (t *term) clusterInfo() protocol.ClusterInfoResponse {
	o := t.s.opts
	r := protocol.ClusterInfoResponse{
		ClusterName: o.ClusterName, MetaLeader: o.Address, MetaServers: slices.Clone(o.MetaServers),
		ZookeeperHosts: o.StoreHosts, ZookeeperRoot: o.StoreRoot,
	}
	for _, n := range t.det.Nodes() {
		if n.Alive() {
			r.AliveNodes++
		} else {
			r.DeadNodes++
		}
	}
	t.mu.Lock()
	for _, a := range t.mu.view.Apps {
		if a.Info.Status == protocol.AppAvailable {
			r.AppCount++
		}
	}
	t.mu.Unlock()
	return r
}
