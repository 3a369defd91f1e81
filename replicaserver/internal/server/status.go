package server

import (
	"net/http"
	"time"

	"github.com/pegasus-go/pegasus/replicaserver/internal/replica"
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

// LearningPage is the body of /replica/learning: the learning sessions
// this node serves as a primary and the learning tasks it runs as a
// learner.
type LearningPage struct {
	Node string `json:"node"`
	// RateLimitBytes is the node's learning rate limit (0: unlimited).
	RateLimitBytes int64 `json:"rate_limit_bytes"`
	// ServedBytes counts the checkpoint bytes this node served to learners
	// since it started.
	ServedBytes int64         `json:"served_bytes"`
	Sessions    []SessionView `json:"sessions"`
	Learners    []LearnerView `json:"learners"`
	// DupCheckpoints are the full-duplication checkpoints this node serves
	// as a master primary; FollowerCopies the copies it makes of a master's
	// checkpoint as a follower.
	DupCheckpoints []DupCheckpointView `json:"dup_checkpoints"`
	FollowerCopies []FollowerCopyView  `json:"follower_copies"`
}

// Learning returns the learning page.
func (s *Server) Learning() LearningPage {
	return LearningPage{Node: s.opts.Node, RateLimitBytes: s.target.lim.Limit(), ServedBytes: s.source.servedBytes(), Sessions: s.source.views(), Learners: s.target.views(),
		DupCheckpoints: s.dupSource.views(), FollowerCopies: s.follower.views()}
}

// LearningJSON serves /replica/learning (an httpserver.JSONFunc).
func (s *Server) LearningJSON(*http.Request) (any, error) { return s.Learning(), nil }

// SetLearnRateLimit changes the learning rate limit of this node, in bytes
// per second (0: unlimited), at once.
func (s *Server) SetLearnRateLimit(bytesPerSec int64) { s.target.setLimit(bytesPerSec) }

// Digest returns the digest of replica g's data (see replica.Digest), for
// comparing replicas. CodeObjectNotFound when g is not served here.
func (s *Server) Digest(g protocol.Gpid) (replica.Digest, error) {
	_, r, err := s.peerReplica(g)
	if err != nil {
		return replica.Digest{}, err
	}
	return r.Digest()
}

// DigestJSON serves /replica/digest?gpid=<app_id>.<pidx>.
func (s *Server) DigestJSON(req *http.Request) (any, error) {
	g, ok := parseReplicaDir(req.URL.Query().Get("gpid"))
	if !ok {
		return nil, protocol.Errorf(protocol.CodeInvalidArgument, "want gpid=<app_id>.<partition_index>")
	}
	return s.Digest(g)
}
