package meta

import (
	"net/http"

	"github.com/pegasus-go/pegasus/shared/httpserver"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

// DupTablePage is the body of /meta/app/duplication?name=<t>.
type DupTablePage struct {
	AppID        int32     `json:"app_id"`
	AppName      string    `json:"app_name"`
	Duplications []DupPage `json:"duplications"`
}

// DupPage describes one duplication, removed ones included until purged.
type DupPage struct {
	DupID         int32    `json:"dupid"`
	Status        string   `json:"status"`
	Remote        string   `json:"remote"`
	RemoteAppName string   `json:"remote_app_name"`
	RemoteMetas   []string `json:"remote_metas,omitempty"`
	CreateTs      string   `json:"create_ts"`
	CreateTsMs    int64    `json:"create_timestamp_ms"`
	FailMode      string   `json:"fail_mode"`
	Full          bool     `json:"full"`
	// Step says what the duplication waits for ("" when nothing).
	Step string `json:"step,omitempty"`
	// LastError is the meta's last problem advancing it (e.g. the remote
	// table cannot be created); "" when none.
	LastError  string             `json:"last_error,omitempty"`
	Partitions []DupPartitionPage `json:"partitions,omitempty"`
}

// DupPartitionPage is one partition's duplication progress.
type DupPartitionPage struct {
	PartitionIndex int32 `json:"pidx"`
	// ConfirmedDecree is the highest reported; StoredConfirmedDecree the
	// one in the store (what a new primary starts after).
	ConfirmedDecree       int64  `json:"confirmed_decree"`
	StoredConfirmedDecree int64  `json:"stored_confirmed_decree"`
	CheckpointDecree      int64  `json:"checkpoint_decree"`
	LastCommittedDecree   int64  `json:"last_committed_decree"`
	PendingMutations      int64  `json:"pending_mutations"`
	SkippedMutations      int64  `json:"skipped_mutations"`
	LastError             string `json:"last_error,omitempty"`
	ReportedBy            string `json:"reported_by,omitempty"`
	ReportTime            string `json:"report_time,omitempty"`
}

func (s *Server) pageDuplication(r *http.Request) (any, error) {
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
	p := DupTablePage{AppID: a.Info.AppID, AppName: a.Info.Name, Duplications: []DupPage{}}
	for _, d := range a.SortedDups() {
		dp := DupPage{
			DupID: d.Dup.ID, Status: d.Dup.Status.String(), Remote: d.Dup.Remote, RemoteAppName: d.Dup.RemoteAppName,
			RemoteMetas: s.opts.Clusters[d.Dup.Remote], CreateTs: msTime(d.Dup.CreateTimestampMs), CreateTsMs: d.Dup.CreateTimestampMs,
			FailMode: d.Dup.FailMode.String(), Full: d.Dup.Full,
		}
		mem := t.dupMemLocked(a, d)
		dp.Step, dp.LastError = mem.step, mem.lastError
		if d.Dup.Status != protocol.DupStatusRemoved {
			for i, sp := range d.Partitions {
				mp := mem.parts[i]
				dp.Partitions = append(dp.Partitions, DupPartitionPage{
					PartitionIndex: int32(i), ConfirmedDecree: int64(max(sp.ConfirmedDecree, mp.Confirmed)),
					StoredConfirmedDecree: int64(sp.ConfirmedDecree), CheckpointDecree: int64(max(sp.CheckpointDecree, mp.Checkpoint)),
					LastCommittedDecree: int64(mp.LastCommitted), PendingMutations: mp.PendingMutations,
					SkippedMutations: mp.SkippedMutations, LastError: mp.LastError, ReportedBy: mp.Node, ReportTime: msTime(mp.ReportTimeMs),
				})
			}
		}
		p.Duplications = append(p.Duplications, dp)
	}
	return p, nil
}
