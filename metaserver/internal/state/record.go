package state

import (
	"encoding/json"
	"fmt"

	"github.com/pegasus-go/pegasus/shared/protocol"
)

// appRecord is the JSON form of an app node.
type appRecord struct {
	AppID          int32             `json:"app_id"`
	Name           string            `json:"name"`
	Status         string            `json:"status"`
	PartitionCount int32             `json:"partition_count"`
	ReplicaCount   int32             `json:"replica_count"`
	Envs           map[string]string `json:"envs,omitempty"`
	CreateTimeMs   int64             `json:"create_time_ms"`
	DropTimeMs     int64             `json:"drop_time_ms,omitempty"`
	ExpireTimeMs   int64             `json:"expire_time_ms,omitempty"`
}

// partitionRecord is the JSON form of a partition node.
type partitionRecord struct {
	AppID               int32    `json:"app_id"`
	PartitionIndex      int32    `json:"partition_index"`
	Ballot              int64    `json:"ballot"`
	Primary             string   `json:"primary"`
	Secondaries         []string `json:"secondaries,omitempty"`
	LastDrops           []string `json:"last_drops,omitempty"`
	LastCommittedDecree int64    `json:"last_committed_decree"`
	MaxReplicaCount     int32    `json:"max_replica_count"`
}

// nodeRecord is the JSON form of a replica server record.
type nodeRecord struct {
	Address     string `json:"address"`
	FirstSeenMs int64  `json:"first_seen_ms"`
}

// EncodeApp returns the stored form of a.
func EncodeApp(a protocol.AppInfo) []byte {
	b, err := json.Marshal(appRecord{
		AppID: a.AppID, Name: a.Name, Status: a.Status.String(),
		PartitionCount: a.PartitionCount, ReplicaCount: a.ReplicaCount, Envs: a.Envs,
		CreateTimeMs: a.CreateTimeMs, DropTimeMs: a.DropTimeMs, ExpireTimeMs: a.ExpireTimeMs,
	})
	if err != nil {
		panic(fmt.Sprintf("state: encoding an app record cannot fail: %v", err))
	}
	return b
}

// DecodeApp parses a stored app record.
func DecodeApp(data []byte) (protocol.AppInfo, error) {
	var r appRecord
	if err := json.Unmarshal(data, &r); err != nil {
		return protocol.AppInfo{}, fmt.Errorf("state: app record: %w", err)
	}
	st, ok := parseAppStatus(r.Status)
	if !ok {
		return protocol.AppInfo{}, fmt.Errorf("state: app record %d: unknown status %q", r.AppID, r.Status)
	}
	if r.PartitionCount <= 0 || r.PartitionCount > MaxPartitionCount {
		return protocol.AppInfo{}, fmt.Errorf("state: app record %d: partition count %d", r.AppID, r.PartitionCount)
	}
	return protocol.AppInfo{
		AppID: r.AppID, Name: r.Name, Status: st,
		PartitionCount: r.PartitionCount, ReplicaCount: r.ReplicaCount, Envs: r.Envs,
		CreateTimeMs: r.CreateTimeMs, DropTimeMs: r.DropTimeMs, ExpireTimeMs: r.ExpireTimeMs,
	}, nil
}

func parseAppStatus(s string) (protocol.AppStatus, bool) {
	for st := protocol.AppInvalid; st.Valid(); st++ {
		if st.String() == s {
			return st, true
		}
	}
	return 0, false
}

// EncodePartition returns the stored form of c.
func EncodePartition(c protocol.PartitionConfiguration) []byte {
	b, err := json.Marshal(partitionRecord{
		AppID: c.Gpid.AppID, PartitionIndex: c.Gpid.PartitionIndex, Ballot: int64(c.Ballot),
		Primary: c.Primary, Secondaries: c.Secondaries, LastDrops: c.LastDrops,
		LastCommittedDecree: int64(c.LastCommittedDecree), MaxReplicaCount: c.MaxReplicaCount,
	})
	if err != nil {
		panic(fmt.Sprintf("state: encoding a partition record cannot fail: %v", err))
	}
	return b
}

// DecodePartition parses a stored partition record.
func DecodePartition(data []byte) (protocol.PartitionConfiguration, error) {
	var r partitionRecord
	if err := json.Unmarshal(data, &r); err != nil {
		return protocol.PartitionConfiguration{}, fmt.Errorf("state: partition record: %w", err)
	}
	return protocol.PartitionConfiguration{
		Gpid:   protocol.Gpid{AppID: r.AppID, PartitionIndex: r.PartitionIndex},
		Ballot: protocol.Ballot(r.Ballot), Primary: r.Primary,
		Secondaries: r.Secondaries, LastDrops: r.LastDrops,
		LastCommittedDecree: protocol.Decree(r.LastCommittedDecree), MaxReplicaCount: r.MaxReplicaCount,
	}, nil
}
