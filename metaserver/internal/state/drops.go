package state

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/pegasus-go/pegasus/shared/protocol"
)

// MaxDropRecords bounds Drops.Replicas (and MaxLastMembers LastMembers);
// a stored record with more entries is refused as corrupt.
const (
	MaxDropRecords = 16
	MaxLastMembers = 16
)

// Drops is a partition's evidence for recovering from the death of every
// replica (DDD), kept at <root>/apps/<app_id>/<pidx>/drops next to the
// partition configuration.
type Drops struct {
	// LastMembers are the members (primary first) of the last configuration
	// that had any, recorded when the partition lost its last member;
	// empty while the partition has a member.
	LastMembers []string
	// Replicas describe the replicas removed from the partition, one per
	// node, as their servers last reported them.
	Replicas []DroppedReplica
}

// DroppedReplica is what the meta knows of one removed replica.
type DroppedReplica struct {
	Node          string
	Ballot        protocol.Ballot
	LastCommitted protocol.Decree
	LastPrepared  protocol.Decree
	// DropTimeMs is when the meta removed it; ReportTimeMs when its server
	// last reported it (0: never since the drop). Meta clock, Unix ms.
	DropTimeMs   int64
	ReportTimeMs int64
}

// Empty reports whether d holds no evidence.
func (d Drops) Empty() bool { return len(d.LastMembers) == 0 && len(d.Replicas) == 0 }

// Replica returns the record of node's dropped replica.
func (d Drops) Replica(node string) (DroppedReplica, bool) {
	for _, r := range d.Replicas {
		if r.Node == node {
			return r, true
		}
	}
	return DroppedReplica{}, false
}

// Clone returns a deep copy of d.
func (d Drops) Clone() Drops {
	return Drops{LastMembers: slices.Clone(d.LastMembers), Replicas: slices.Clone(d.Replicas)}
}

// Put replaces or appends node's record, forgetting the oldest records
// beyond MaxDropRecords.
func (d *Drops) Put(r DroppedReplica) {
	d.Replicas = slices.DeleteFunc(d.Replicas, func(x DroppedReplica) bool { return x.Node == r.Node })
	d.Replicas = append(d.Replicas, r)
	if len(d.Replicas) > MaxDropRecords {
		d.Replicas = slices.Clone(d.Replicas[len(d.Replicas)-MaxDropRecords:])
	}
}

// Forget removes node's record.
func (d *Drops) Forget(node string) {
	d.Replicas = slices.DeleteFunc(d.Replicas, func(x DroppedReplica) bool { return x.Node == node })
	if len(d.Replicas) == 0 {
		d.Replicas = nil
	}
}

type dropsRecord struct {
	LastMembers []string         `json:"last_members,omitempty"`
	Replicas    []droppedReplica `json:"replicas,omitempty"`
}

type droppedReplica struct {
	Node          string `json:"node"`
	Ballot        int64  `json:"ballot"`
	LastCommitted int64  `json:"last_committed_decree"`
	LastPrepared  int64  `json:"last_prepared_decree"`
	DropTimeMs    int64  `json:"drop_time_ms"`
	ReportTimeMs  int64  `json:"report_time_ms,omitempty"`
}

// EncodeDrops returns the stored form of d.
func EncodeDrops(d Drops) []byte {
	r := dropsRecord{LastMembers: d.LastMembers}
	for _, x := range d.Replicas {
		r.Replicas = append(r.Replicas, droppedReplica{
			Node: x.Node, Ballot: int64(x.Ballot), LastCommitted: int64(x.LastCommitted),
			LastPrepared: int64(x.LastPrepared), DropTimeMs: x.DropTimeMs, ReportTimeMs: x.ReportTimeMs,
		})
	}
	b, err := json.Marshal(r)
	if err != nil {
		panic(fmt.Sprintf("state: encoding a drops record cannot fail: %v", err))
	}
	return b
}

// DecodeDrops parses a stored drops record.
func DecodeDrops(data []byte) (Drops, error) {
	var r dropsRecord
	if err := json.Unmarshal(data, &r); err != nil {
		return Drops{}, fmt.Errorf("state: drops record: %w", err)
	}
	if len(r.LastMembers) > MaxLastMembers || len(r.Replicas) > MaxDropRecords {
		return Drops{}, fmt.Errorf("state: drops record lists %d members and %d replicas: too many", len(r.LastMembers), len(r.Replicas))
	}
	d := Drops{LastMembers: r.LastMembers}
	for _, x := range r.Replicas {
		d.Replicas = append(d.Replicas, DroppedReplica{
			Node: x.Node, Ballot: protocol.Ballot(x.Ballot), LastCommitted: protocol.Decree(x.LastCommitted),
			LastPrepared: protocol.Decree(x.LastPrepared), DropTimeMs: x.DropTimeMs, ReportTimeMs: x.ReportTimeMs,
		})
	}
	return d, nil
}
