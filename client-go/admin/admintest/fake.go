package admintest

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/pegasus-go/pegasus/shared/protocol"
	"github.com/pegasus-go/pegasus/shared/rpc"
)

// DefaultHold is how long a dropped table stays recallable when DropApp
// asks for the default.
const DefaultHold = 7 * 24 * time.Hour

// Options configure a Cluster.
type Options struct {
	// Name is the cluster name ClusterInfo reports (default "onebox").
	Name string
	// Nodes are replica server addresses, all alive at first.
	Nodes []string
	// Now is the clock for create, drop and expire times (default: a fixed
	// instant, 2024-01-01T00:00:00Z, so outputs are reproducible).
	Now func() time.Time
	// DupRemotes are the remote cluster names AddDuplication accepts
	// (the fake's [pegasus.clusters]); empty refuses every duplication.
	DupRemotes []string
}

// Cluster is the shared in-memory state of fake meta servers.
type Cluster struct {
	name       string
	now        func() time.Time
	dupRemotes []string

	mu struct {
		sync.Mutex
		apps     map[int32]*fakeApp
		nodes    map[string]protocol.NodeStatus
		nextID   int32
		metas    []*Meta
		calls    map[string]int
		data     map[int32]map[string]record // per app id, by storage key
		scans    map[int64]*scanContext
		nextScan int64
		dups     map[int32][]*protocol.DuplicationEntry // per app id, by creation
	}
}

type fakeApp struct {
	info  protocol.AppInfo
	parts []protocol.PartitionConfiguration
}

// NewCluster returns a cluster with no tables.
func NewCluster(o Options) *Cluster {
	if o.Name == "" {
		o.Name = "onebox"
	}
	if o.Now == nil {
		fixed := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
		o.Now = func() time.Time { return fixed }
	}
	c := &Cluster{name: o.Name, now: o.Now, dupRemotes: slices.Clone(o.DupRemotes)}
	c.mu.dups = make(map[int32][]*protocol.DuplicationEntry)
	c.mu.apps = make(map[int32]*fakeApp)
	c.mu.nodes = make(map[string]protocol.NodeStatus)
	c.mu.calls = make(map[string]int)
	c.mu.nextID = 1
	for _, n := range o.Nodes {
		c.mu.nodes[n] = protocol.NodeAlive
	}
	return c
}

// SetNodeStatus adds a node or changes its status.
func (c *Cluster) SetNodeStatus(addr string, s protocol.NodeStatus) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.mu.nodes[addr] = s
}

// SetPartition replaces one partition configuration of a live or dropped
// table, found by pc.Gpid. It fails for an unknown gpid.
func (c *Cluster) SetPartition(pc protocol.PartitionConfiguration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	a := c.mu.apps[pc.Gpid.AppID]
	if a == nil || pc.Gpid.PartitionIndex < 0 || int(pc.Gpid.PartitionIndex) >= len(a.parts) {
		return fmt.Errorf("admintest: no partition %v", pc.Gpid)
	}
	a.parts[pc.Gpid.PartitionIndex] = pc
	return nil
}

// App returns a copy of the table with the given id.
func (c *Cluster) App(id int32) (protocol.AppInfo, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	a := c.mu.apps[id]
	if a == nil {
		return protocol.AppInfo{}, false
	}
	return cloneInfo(a.info), true
}

// Calls returns how many requests of the method the cluster's metas
// served as leader (redirects not counted).
func (c *Cluster) Calls(method string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.calls[method]
}

// Meta is one fake meta server.
type Meta struct {
	cluster *Cluster
	srv     *rpc.Server
	addr    string

	mu struct {
		sync.Mutex
		forwardTo *string // nil: leader; else a follower naming *forwardTo
	}
}

// StartMeta starts a fake meta server on a free loopback port. It leads
// until SetFollower.
func (c *Cluster) StartMeta() (*Meta, error) {
	srv, err := rpc.NewServer(rpc.ServerConfig{ShutdownTimeout: 5 * time.Second}, nil)
	if err != nil {
		return nil, err
	}
	m := &Meta{cluster: c, srv: srv}
	if err := srv.Register(protocol.ServiceMeta, &service{m}); err != nil {
		return nil, err
	}
	if err := srv.Start("127.0.0.1:0"); err != nil {
		return nil, err
	}
	m.addr = srv.Addr().String()
	c.mu.Lock()
	c.mu.metas = append(c.mu.metas, m)
	c.mu.Unlock()
	return m, nil
}

// Addr returns the server's "host:port".
func (m *Meta) Addr() string { return m.addr }

// SetFollower makes m a follower that answers every call with
// CodeForwardToOthers and leader as the message ("" = leader unknown).
func (m *Meta) SetFollower(leader string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.mu.forwardTo = &leader
}

// SetLeader makes m serve calls again.
func (m *Meta) SetLeader() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.mu.forwardTo = nil
}

// Close stops the server.
func (m *Meta) Close() error { return m.srv.Close() }

// service implements the Meta RPC methods.
type service struct{ m *Meta }

// enter checks leadership and locks the cluster state; the caller must
// call the returned unlock.
func (s *service) enter(method string) (*Cluster, error) {
	s.m.mu.Lock()
	fwd := s.m.mu.forwardTo
	s.m.mu.Unlock()
	if fwd != nil {
		return nil, protocol.Errorf(protocol.CodeForwardToOthers, "%s", *fwd)
	}
	c := s.m.cluster
	c.mu.Lock()
	c.mu.calls[method]++
	return c, nil
}

func (c *Cluster) findLocked(name string) *fakeApp {
	for _, a := range c.mu.apps {
		if a.info.Name == name && a.info.Status != protocol.AppDropped {
			return a
		}
	}
	return nil
}

func notExist(name string) error {
	return protocol.Errorf(protocol.CodeAppNotExist, "table %s does not exist", name)
}

func (c *Cluster) aliveNodesLocked() []string {
	var out []string
	for n, st := range c.mu.nodes {
		if st == protocol.NodeAlive {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// CreateApp implements Meta.CreateApp.
func (s *service) CreateApp(_ context.Context, req *protocol.CreateAppRequest, resp *protocol.CreateAppResponse) error {
	c, err := s.enter(protocol.MethodCreateApp)
	if err != nil {
		return err
	}
	defer c.mu.Unlock()
	if req.Name == "" || req.PartitionCount <= 0 || req.PartitionCount&(req.PartitionCount-1) != 0 || req.PartitionCount > 1<<16 || req.ReplicaCount <= 0 {
		return protocol.Errorf(protocol.CodeInvalidArgument, "invalid table %q: %d partitions, %d replicas", req.Name, req.PartitionCount, req.ReplicaCount)
	}
	if c.findLocked(req.Name) != nil {
		return protocol.Errorf(protocol.CodeAppExist, "table %s already exists", req.Name)
	}
	id := c.mu.nextID
	c.mu.nextID++
	a := &fakeApp{info: protocol.AppInfo{
		AppID: id, Name: req.Name, Status: protocol.AppAvailable,
		PartitionCount: req.PartitionCount, ReplicaCount: req.ReplicaCount,
		Envs: cloneEnvs(req.Envs), CreateTimeMs: c.now().UnixMilli(),
	}}
	alive := c.aliveNodesLocked()
	for i := range req.PartitionCount {
		pc := protocol.PartitionConfiguration{Gpid: protocol.Gpid{AppID: id, PartitionIndex: i}, MaxReplicaCount: req.ReplicaCount}
		if len(alive) > 0 {
			pc.Primary = alive[int(i)%len(alive)]
			pc.Ballot = 1
		}
		a.parts = append(a.parts, pc)
	}
	c.mu.apps[id] = a
	resp.AppID = id
	return nil
}

// DropApp implements Meta.DropApp.
func (s *service) DropApp(_ context.Context, req *protocol.DropAppRequest, _ *protocol.DropAppResponse) error {
	c, err := s.enter(protocol.MethodDropApp)
	if err != nil {
		return err
	}
	defer c.mu.Unlock()
	a := c.findLocked(req.Name)
	if a == nil {
		return notExist(req.Name)
	}
	hold := DefaultHold
	if req.ReserveSeconds > 0 {
		hold = time.Duration(req.ReserveSeconds) * time.Second
	}
	now := c.now()
	a.info.Status = protocol.AppDropped
	a.info.DropTimeMs = now.UnixMilli()
	a.info.ExpireTimeMs = now.Add(hold).UnixMilli()
	return nil
}

// RecallApp implements Meta.RecallApp.
func (s *service) RecallApp(_ context.Context, req *protocol.RecallAppRequest, resp *protocol.RecallAppResponse) error {
	c, err := s.enter(protocol.MethodRecallApp)
	if err != nil {
		return err
	}
	defer c.mu.Unlock()
	a := c.mu.apps[req.AppID]
	if a == nil || a.info.Status != protocol.AppDropped {
		return protocol.Errorf(protocol.CodeAppNotExist, "no dropped table with app id %d", req.AppID)
	}
	name := a.info.Name
	if req.NewName != "" {
		name = req.NewName
	}
	if c.findLocked(name) != nil {
		return protocol.Errorf(protocol.CodeAppExist, "table %s already exists", name)
	}
	a.info.Name = name
	a.info.Status = protocol.AppAvailable
	a.info.DropTimeMs, a.info.ExpireTimeMs = 0, 0
	resp.App = cloneInfo(a.info)
	return nil
}

// ListApps implements Meta.ListApps.
func (s *service) ListApps(_ context.Context, req *protocol.ListAppsRequest, resp *protocol.ListAppsResponse) error {
	c, err := s.enter(protocol.MethodListApps)
	if err != nil {
		return err
	}
	defer c.mu.Unlock()
	for _, a := range c.mu.apps {
		if req.Status == protocol.AppInvalid || req.Status == a.info.Status {
			resp.Apps = append(resp.Apps, cloneInfo(a.info))
		}
	}
	slices.SortFunc(resp.Apps, func(x, y protocol.AppInfo) int { return int(x.AppID - y.AppID) })
	return nil
}

// QueryConfig implements Meta.QueryConfig.
func (s *service) QueryConfig(_ context.Context, req *protocol.QueryConfigRequest, resp *protocol.QueryConfigResponse) error {
	c, err := s.enter(protocol.MethodQueryConfig)
	if err != nil {
		return err
	}
	defer c.mu.Unlock()
	var a *fakeApp
	if req.AppName != "" {
		a = c.findLocked(req.AppName)
	} else if x := c.mu.apps[req.AppID]; x != nil && x.info.Status != protocol.AppDropped {
		a = x
	}
	if a == nil {
		if req.AppName == "" {
			return protocol.Errorf(protocol.CodeAppNotExist, "table with app id %d does not exist", req.AppID)
		}
		return notExist(req.AppName)
	}
	resp.App = cloneInfo(a.info)
	for _, pc := range a.parts {
		pc.Secondaries = slices.Clone(pc.Secondaries)
		pc.LastDrops = slices.Clone(pc.LastDrops)
		resp.Partitions = append(resp.Partitions, pc)
	}
	return nil
}

// ListNodes implements Meta.ListNodes.
func (s *service) ListNodes(_ context.Context, req *protocol.ListNodesRequest, resp *protocol.ListNodesResponse) error {
	c, err := s.enter(protocol.MethodListNodes)
	if err != nil {
		return err
	}
	defer c.mu.Unlock()
	counts := make(map[string]*protocol.NodeInfo)
	for addr, st := range c.mu.nodes {
		counts[addr] = &protocol.NodeInfo{Address: addr, Status: st}
	}
	for _, a := range c.mu.apps {
		if a.info.Status == protocol.AppDropped {
			continue
		}
		for _, pc := range a.parts {
			if n := counts[pc.Primary]; n != nil {
				n.PrimaryCount++
			}
			for _, sec := range pc.Secondaries {
				if n := counts[sec]; n != nil {
					n.SecondaryCount++
				}
			}
		}
	}
	for _, n := range counts {
		if req.Status == protocol.NodeInvalid || req.Status == n.Status {
			resp.Nodes = append(resp.Nodes, *n)
		}
	}
	slices.SortFunc(resp.Nodes, func(x, y protocol.NodeInfo) int { return strings.Compare(x.Address, y.Address) })
	return nil
}

// SetAppEnvs implements Meta.SetAppEnvs.
func (s *service) SetAppEnvs(_ context.Context, req *protocol.SetAppEnvsRequest, _ *protocol.SetAppEnvsResponse) error {
	c, err := s.enter(protocol.MethodSetAppEnvs)
	if err != nil {
		return err
	}
	defer c.mu.Unlock()
	a := c.findLocked(req.AppName)
	if a == nil {
		return notExist(req.AppName)
	}
	if a.info.Envs == nil {
		a.info.Envs = make(map[string]string)
	}
	for k, v := range req.Envs {
		a.info.Envs[k] = v
	}
	return nil
}

// GetAppEnvs implements Meta.GetAppEnvs.
func (s *service) GetAppEnvs(_ context.Context, req *protocol.GetAppEnvsRequest, resp *protocol.GetAppEnvsResponse) error {
	c, err := s.enter(protocol.MethodGetAppEnvs)
	if err != nil {
		return err
	}
	defer c.mu.Unlock()
	a := c.findLocked(req.AppName)
	if a == nil {
		return notExist(req.AppName)
	}
	resp.Envs = cloneEnvs(a.info.Envs)
	return nil
}

// DelAppEnvs implements Meta.DelAppEnvs.
func (s *service) DelAppEnvs(_ context.Context, req *protocol.DelAppEnvsRequest, resp *protocol.DelAppEnvsResponse) error {
	c, err := s.enter(protocol.MethodDelAppEnvs)
	if err != nil {
		return err
	}
	defer c.mu.Unlock()
	a := c.findLocked(req.AppName)
	if a == nil {
		return notExist(req.AppName)
	}
	for k := range a.info.Envs {
		if req.ClearAll || (req.ClearPrefix != "" && strings.HasPrefix(k, req.ClearPrefix)) || slices.Contains(req.Keys, k) {
			delete(a.info.Envs, k)
			resp.Deleted = append(resp.Deleted, k)
		}
	}
	sort.Strings(resp.Deleted)
	return nil
}

// ClusterInfo implements Meta.ClusterInfo.
func (s *service) ClusterInfo(_ context.Context, _ *protocol.ClusterInfoRequest, resp *protocol.ClusterInfoResponse) error {
	c, err := s.enter(protocol.MethodClusterInfo)
	if err != nil {
		return err
	}
	defer c.mu.Unlock()
	resp.ClusterName = c.name
	resp.MetaLeader = s.m.addr
	for _, m := range c.mu.metas {
		resp.MetaServers = append(resp.MetaServers, m.addr)
	}
	resp.ZookeeperHosts = "127.0.0.1:2181"
	resp.ZookeeperRoot = "/pegasus/" + c.name
	for _, st := range c.mu.nodes {
		if st == protocol.NodeAlive {
			resp.AliveNodes++
		} else {
			resp.DeadNodes++
		}
	}
	for _, a := range c.mu.apps {
		if a.info.Status == protocol.AppAvailable {
			resp.AppCount++
		}
	}
	return nil
}

func cloneEnvs(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func cloneInfo(a protocol.AppInfo) protocol.AppInfo {
	a.Envs = cloneEnvs(a.Envs)
	return a
}
