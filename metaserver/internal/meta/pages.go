package meta

import (
	"context"
	"net/http"
	"time"

	"github.com/pegasus-go/pegasus/metaserver/internal/membership"
	"github.com/pegasus-go/pegasus/metaserver/internal/placement"
	"github.com/pegasus-go/pegasus/metaserver/internal/state"

	"github.com/pegasus-go/pegasus/shared/httpserver"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

// RegisterPages mounts the JSON status pages on h:
//
//	/meta/cluster         cluster summary (any meta server)
//	/meta/apps            every table with its status (leader)
//	/meta/app?name=<t>    one table and its partitions (leader)
//	/meta/nodes           replica servers with liveness and counts (leader)
//	/meta/app/duplication?name=<t>  a table's duplications with their
//	                      status, step, last error and per-partition
//	                      progress (leader)
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
		{"GET /meta/app/duplication", s.pageDuplication},
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
	// LastCommittedDecree is the highest known: stored, or reported by a
	// member.
	LastCommittedDecree int64 `json:"last_committed_decree"`
	// Learner is the node learning the partition at this leader's request.
	Learner string `json:"learner,omitempty"`
	// DDD is the evidence for recovering a partition without a primary.
	DDD *DDDPage `json:"ddd,omitempty"`
}

// DDDPage is the evidence about a partition that has no primary: what the
// dropped replicas reported and whether automatic recovery is safe.
type DDDPage struct {
	// LastMembers are the members of the last configuration that had any.
	LastMembers []string `json:"last_members"`
	// Dropped are the removed replicas as last reported (stored record).
	Dropped []DroppedReplicaPage `json:"dropped_replicas"`
	// Reports are the replicas of the partition that alive nodes report
	// now, by node.
	Reports map[string]ReplicaReportPage `json:"reports"`
	// Safe: every last member reported back; Recommended is the replica the
	// guardian makes primary (it does so unless reconfiguration is frozen).
	Safe        bool   `json:"safe"`
	Recommended string `json:"recommended,omitempty"`
	// Waiting lists the last members that have not reported back.
	Waiting []string `json:"waiting,omitempty"`
}

// DroppedReplicaPage is one stored dropped replica.
type DroppedReplicaPage struct {
	Node          string `json:"node"`
	Ballot        int64  `json:"ballot"`
	LastCommitted int64  `json:"last_committed_decree"`
	LastPrepared  int64  `json:"last_prepared_decree"`
	DropTime      string `json:"drop_time,omitempty"`
	ReportTime    string `json:"report_time,omitempty"`
}

// ReplicaReportPage is one replica as its node reports it now.
type ReplicaReportPage struct {
	Ballot        int64  `json:"ballot"`
	Status        string `json:"status"`
	LastCommitted int64  `json:"last_committed_decree"`
	LastPrepared  int64  `json:"last_prepared_decree"`
	LastDurable   int64  `json:"last_durable_decree"`
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
	for i := range a.Partitions {
		p.Partitions = append(p.Partitions, t.partitionPageLocked(&a.Partitions[i]))
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

func (t *term) partitionPageLocked(part *state.Partition) PartitionPage {
	c := state.CloneConfig(part.Config)
	pp := PartitionPage{
		Gpid: c.Gpid.String(), Ballot: int64(c.Ballot), Primary: c.Primary,
		Secondaries: c.Secondaries, LastDrops: c.LastDrops,
		LastCommittedDecree: int64(t.committedLocked(c)),
		Learner:             t.mu.learners[c.Gpid].node,
	}
	if c.Primary != "" || (c.Ballot == 0 && len(c.LastDrops) == 0) {
		return pp
	}
	d := &DDDPage{LastMembers: part.Drops.LastMembers, Reports: map[string]ReplicaReportPage{}}
	if len(d.LastMembers) == 0 && len(c.LastDrops) > 0 {
		d.LastMembers = c.LastDrops[len(c.LastDrops)-1:]
	}
	for _, r := range part.Drops.Replicas {
		d.Dropped = append(d.Dropped, DroppedReplicaPage{Node: r.Node, Ballot: int64(r.Ballot),
			LastCommitted: int64(r.LastCommitted), LastPrepared: int64(r.LastPrepared),
			DropTime: msTime(r.DropTimeMs), ReportTime: msTime(r.ReportTimeMs)})
	}
	reports := t.reportsOfLocked(c.Gpid)
	for n, r := range reports {
		d.Reports[n] = ReplicaReportPage{Ballot: int64(r.Ballot), Status: r.Status.String(),
			LastCommitted: int64(r.LastCommitted), LastPrepared: int64(r.LastPrepared), LastDurable: int64(r.LastDurable)}
	}
	for _, n := range d.LastMembers {
		if _, ok := reports[n]; !ok {
			d.Waiting = append(d.Waiting, n)
		}
	}
	d.Recommended, d.Safe = placement.SafeRecovery(d.LastMembers, func(n string) (protocol.ReplicaInfo, bool) {
		if st, ok := t.det.State(n); !ok || st != membership.StateAlive {
			return protocol.ReplicaInfo{}, false
		}
		r, ok := reports[n]
		return r, ok
	})
	pp.DDD = d
	return pp
}
