package server

import (
	"net/http"
	"strconv"
	"time"

	"github.com/pegasus-go/pegasus/replicaserver/internal/replica"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

// DuplicationPage is the body of /replica/duplication?appid=<id>: the
// duplications of one table as this node sees them.
type DuplicationPage struct {
	Node    string `json:"node"`
	AppID   int32  `json:"app_id"`
	Enabled bool   `json:"enabled"`
	// ClusterID is this cluster's id in [duplication-group] (0: none).
	ClusterID uint8 `json:"cluster_id"`
	// LastSync is when the last DuplicationSync with the meta ended, and
	// LastSyncError its error ("" when it succeeded).
	LastSync      time.Time          `json:"last_sync"`
	LastSyncError string             `json:"last_sync_error,omitempty"`
	Partitions    []DupPartitionView `json:"partitions"`
}

// DupPartitionView is one replica of the table on this node.
type DupPartitionView struct {
	Gpid          string          `json:"gpid"`
	Role          string          `json:"role"`
	LastCommitted protocol.Decree `json:"last_committed"`
	// GCFloor is the plog GC floor duplication sets (-1: none);
	// PlogMinDecree the first decree the plog still holds.
	GCFloor       protocol.Decree `json:"gc_floor"`
	PlogMinDecree protocol.Decree `json:"plog_min_decree"`
	// FromPrimary: on a secondary, the confirmed decrees the primary's last
	// group check carried.
	FromPrimary []protocol.DuplicationConfirm `json:"from_primary,omitempty"`
	Dups        []DupView                     `json:"dups"`
}

// DupView is one duplication of one partition.
type DupView struct {
	DupID     int32                `json:"dupid"`
	Remote    string               `json:"remote"`
	RemoteApp string               `json:"remote_app"`
	Status    protocol.DupStatus   `json:"status"`
	FailMode  protocol.DupFailMode `json:"fail_mode"`
	// MetaConfirmed and MetaCheckpoint are the meta's persisted decrees.
	MetaConfirmed  protocol.Decree `json:"meta_confirmed_decree"`
	MetaCheckpoint protocol.Decree `json:"meta_checkpoint_decree"`
	// The rest is this primary's duplicator (zero on secondaries).
	Running          bool            `json:"running"`
	Confirmed        protocol.Decree `json:"confirmed_decree"`
	Checkpoint       protocol.Decree `json:"checkpoint_decree"`
	PendingMutations int64           `json:"pending_mutations"`
	LagMs            int64           `json:"lag_ms"`
	ShippedOps       int64           `json:"shipped_ops"`
	FailedOps        int64           `json:"failed_shipping_ops"`
	SkippedMutations int64           `json:"skipped_mutations"`
	LastError        string          `json:"last_error,omitempty"`
}

// Duplication returns the duplication page of table appID.
func (s *Server) Duplication(appID int32) DuplicationPage {
	p := DuplicationPage{Node: s.opts.Node, AppID: appID, Enabled: s.dups != nil, ClusterID: s.opts.Dup.ClusterID,
		Partitions: []DupPartitionView{}}
	m := s.dups
	for _, e := range s.entries() {
		if e.gpid.AppID != appID {
			continue
		}
		info := e.r.Info()
		v := DupPartitionView{Gpid: e.gpid.String(), Role: info.Status.String(), LastCommitted: info.LastCommitted,
			GCFloor: -1, Dups: []DupView{}}
		if u, ok := e.r.(underlying); ok {
			r := u.Underlying()
			v.PlogMinDecree = r.PlogStats().MinDecree
			if f, ok := r.GCFloors()[replica.GCFloorDup]; ok {
				v.GCFloor = f
			}
		}
		if m != nil {
			m.view(e, &v)
		}
		p.Partitions = append(p.Partitions, v)
	}
	if m != nil {
		m.mu.Lock()
		p.LastSync, p.LastSyncError = m.mu.lastSync, m.mu.lastErr
		m.mu.Unlock()
	}
	return p
}

// view fills v's duplications of e.
func (m *dupManager) view(e *entry, v *DupPartitionView) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v.FromPrimary = append(v.FromPrimary, m.mu.fromPrimary[e.gpid]...)
	for _, d := range m.mu.live[e.gpid.AppID] {
		part := partitionOf(&d, e.gpid.PartitionIndex)
		dv := DupView{DupID: d.DupID, Remote: d.RemoteCluster, RemoteApp: d.RemoteAppName, Status: d.Status, FailMode: d.FailMode,
			MetaConfirmed: part.ConfirmedDecree, MetaCheckpoint: part.CheckpointDecree, Confirmed: -1}
		if st := m.mu.states[dupKey{e.gpid, d.DupID}]; st != nil && st.e == e {
			dv.Confirmed, dv.Checkpoint, dv.LastError = st.confirmed, st.checkpoint, st.startErr
			dv.ShippedOps, dv.FailedOps, dv.SkippedMutations = st.shippedBefore, st.failedBefore, st.skippedBefore
			if st.d != nil {
				pr := st.d.Progress()
				dv.Running = true
				dv.Confirmed, dv.PendingMutations, dv.LagMs = pr.Confirmed, pr.Pending, pr.LagMs
				dv.ShippedOps += pr.ShippedOps
				dv.FailedOps += pr.FailedOps
				dv.SkippedMutations += pr.Skipped
				if pr.LastError != "" {
					dv.LastError = pr.LastError
				}
			} else if st.confirmed >= 0 {
				dv.PendingMutations = max(int64(v.LastCommitted-st.confirmed), 0)
			}
		}
		v.Dups = append(v.Dups, dv)
	}
}

// DuplicationJSON serves /replica/duplication?appid=<id> (an
// httpserver.JSONFunc).
func (s *Server) DuplicationJSON(req *http.Request) (any, error) {
	id, err := strconv.ParseInt(req.URL.Query().Get("appid"), 10, 32)
	if err != nil || id <= 0 {
		return nil, protocol.Errorf(protocol.CodeInvalidArgument, "want appid=<positive table id>")
	}
	return s.Duplication(int32(id)), nil
}
