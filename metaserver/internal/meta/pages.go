package meta

import (
	"context"
	"net/http"
	"time"

	"github.com/pegasus-go/pegasus/shared/httpserver"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

// RegisterPages mounts the JSON status pages on h:
//
//	/meta/cluster         cluster summary (any meta server)
//	/meta/apps            every table with its status (leader)
//	/meta/app?name=<t>    one table and its partitions (leader)
//	/meta/nodes           replica servers with liveness and counts (leader)
//
// A follower answers the leader-only pages with 503 naming the leader.
func (s *Server) RegisterPages(h *httpserver.Server) error {
	pages := []struct {
		pattern string
		fn      httpserver.JSONFunc
	}{
		{"GET /meta/cluster", s.pageCluster},
		{"GET /meta/apps", s.pageApps},
		{"GET /meta/app", s.pageApp},
		{"GET /meta/nodes", s.pageNodes},
	}
	for _, p := range pages {
		if err := h.HandleJSON(p.pattern, p.fn); err != nil {
			return err
		}
	}
	return nil
}

// ClusterPage is the body of /meta/cluster.
type ClusterPage struct {
	ClusterName string   `json:"cluster_name"`
	ThisMeta    string   `json:"this_meta"`
	IsLeader    bool     `json:"is_leader"`
	Leader      string   `json:"leader"`
	MetaServers []string `json:"meta_servers,omitempty"`
	StoreHosts  string   `json:"store_hosts,omitempty"`
	StoreRoot   string   `json:"store_root"`
	AliveNodes  int32    `json:"alive_nodes"`
	DeadNodes   int32    `json:"dead_nodes"`
	AppCount    int32    `json:"app_count"`
}

// AppPage describes one table.
type AppPage struct {
	AppID          int32             `json:"app_id"`
	Name           string            `json:"name"`
	Status         string            `json:"status"`
	PartitionCount int32             `json:"partition_count"`
	ReplicaCount   int32             `json:"replica_count"`
	Envs           map[string]string `json:"envs,omitempty"`
	CreateTime     string            `json:"create_time,omitempty"`
	DropTime       string            `json:"drop_time,omitempty"`
	ExpireTime     string            `json:"expire_time,omitempty"`
	Partitions     []PartitionPage   `json:"partitions,omitempty"`
}

// PartitionPage describes one partition.
type PartitionPage struct {
	Gpid        string   `json:"gpid"`
	Ballot      int64    `json:"ballot"`
	Primary     string   `json:"primary"`
	Secondaries []string `json:"secondaries,omitempty"`
	LastDrops   []string `json:"last_drops,omitempty"`
}

// NodePage describes one replica server.
type NodePage struct {
	Address        string `json:"address"`
	Status         string `json:"status"`
	PrimaryCount   int32  `json:"primary_count"`
	SecondaryCount int32  `json:"secondary_count"`
}

func msTime(ms int64) string {
	if ms == 0 {
		return ""
	}
	return time.UnixMilli(ms).UTC().Format(time.RFC3339)
}

func appPage(a protocol.AppInfo) AppPage {
	return AppPage{
		AppID: a.AppID, Name: a.Name, Status: a.Status.String(), PartitionCount: a.PartitionCount,
		ReplicaCount: a.ReplicaCount, Envs: a.Envs, CreateTime: msTime(a.CreateTimeMs),
		DropTime: msTime(a.DropTimeMs), ExpireTime: msTime(a.ExpireTimeMs),
	}
}

// pageCall runs fn against the leader term, or answers 503 naming the
// leader.
func (s *Server) pageTerm(r *http.Request) (*term, error) {
	if t := s.term.Load(); t != nil && t.active() {
		return t, nil
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	return nil, httpserver.Errorf(http.StatusServiceUnavailable, "this meta server is not the leader; the leader is %q", s.Leader(ctx))
}

func (s *Server) pageCluster(r *http.Request) (any, error) {
	p := ClusterPage{
		ClusterName: s.opts.ClusterName, ThisMeta: s.opts.Address, MetaServers: s.opts.MetaServers,
		StoreHosts: s.opts.StoreHosts, StoreRoot: s.opts.StoreRoot,
	}
	if t := s.term.Load(); t != nil && t.active() {
		ci := t.clusterInfo()
		p.IsLeader, p.Leader = true, s.opts.Address
		p.AliveNodes, p.DeadNodes, p.AppCount = ci.AliveNodes, ci.DeadNodes, ci.AppCount
		return p, nil
	}
	p.Leader = s.Leader(r.Context())
	return p, nil
}

func (s *Server) pageApps(r *http.Request) (any, error) {
	t, err := s.pageTerm(r)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	out := []AppPage{}
	for _, a := range t.mu.view.SortedApps() {
		out = append(out, appPage(a.Info))
	}
	return out, nil
}

func (s *Server) pageApp(r *http.Request) (any, error) {
	name := r.URL.Query().Get("name")
	if name == "" {
		return nil, httpserver.Errorf(http.StatusBadRequest, "missing ?name=<table>")
	}
	t, err := s.pageTerm(r)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	a := t.mu.view.AppByName(name)
	if a == nil {
		return nil, httpserver.Errorf(http.StatusNotFound, "table %q does not exist", name)
	}
	p := appPage(a.Info)
	for _, c := range a.Configs() {
		p.Partitions = append(p.Partitions, PartitionPage{
			Gpid: c.Gpid.String(), Ballot: int64(c.Ballot), Primary: c.Primary,
			Secondaries: c.Secondaries, LastDrops: c.LastDrops,
		})
	}
	return p, nil
}

func (s *Server) pageNodes(r *http.Request) (any, error) {
	t, err := s.pageTerm(r)
	if err != nil {
		return nil, err
	}
	out := []NodePage{}
	for _, n := range t.nodeInfos() {
		out = append(out, NodePage{Address: n.Address, Status: n.Status.String(), PrimaryCount: n.PrimaryCount, SecondaryCount: n.SecondaryCount})
	}
	return out, nil
}
