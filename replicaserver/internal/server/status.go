package server

import (
	"net/http"
	"time"

	"github.com/pegasus-go/pegasus/shared/protocol"
)

// ReplicasPage is the body of /replica/replicas.
type ReplicasPage struct {
	Node string `json:"node"`
	// LeaseUntil is when the node's lease runs out (zero: none; far in the
	// future without a meta server).
	LeaseUntil   time.Time     `json:"lease_until"`
	MetaLeader   string        `json:"meta_leader,omitempty"`
	Replicas     []ReplicaView `json:"replicas"`
	OpenFailures []OpenFailure `json:"open_failures,omitempty"`
}

// ReplicaView is one replica on /replica/replicas.
type ReplicaView struct {
	Gpid           string          `json:"gpid"`
	AppID          int32           `json:"app_id"`
	PartitionIndex int32           `json:"partition_index"`
	Table          string          `json:"table"`
	PartitionCount int32           `json:"partition_count"`
	Dir            string          `json:"dir"`
	Role           string          `json:"role"`
	Ballot         protocol.Ballot `json:"ballot"`
	LastCommitted  protocol.Decree `json:"last_committed"`
	LastPrepared   protocol.Decree `json:"last_prepared"`
	LastDurable    protocol.Decree `json:"last_durable"`
	// Detail is the replica's own status snapshot: applied decree, plog
	// stats, queued writes, lease and errors.
	Detail any `json:"detail"`
}

// Replicas returns a view of every replica, ordered by gpid.
func (s *Server) Replicas() ReplicasPage {
	p := ReplicasPage{Node: s.opts.Node, LeaseUntil: s.LeaseUntil(), OpenFailures: s.OpenFailures(), Replicas: []ReplicaView{}}
	if s.meta != nil {
		p.MetaLeader = s.meta.leader()
	}
	for _, e := range s.entries() {
		info := e.r.Info()
		app := e.appInfo()
		p.Replicas = append(p.Replicas, ReplicaView{
			Gpid: e.gpid.String(), AppID: e.gpid.AppID, PartitionIndex: e.gpid.PartitionIndex,
			Table: app.Name, PartitionCount: app.PartitionCount, Dir: e.dir,
			Role: info.Status.String(), Ballot: info.Ballot,
			LastCommitted: info.LastCommitted, LastPrepared: info.LastPrepared, LastDurable: info.LastDurable,
			Detail: e.r.Status(),
		})
	}
	return p
}

// ReplicasJSON serves /replica/replicas (an httpserver.JSONFunc).
func (s *Server) ReplicasJSON(*http.Request) (any, error) { return s.Replicas(), nil }
