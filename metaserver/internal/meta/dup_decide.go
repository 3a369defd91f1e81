package meta

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/pegasus-go/pegasus/metaserver/internal/state"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

// The duplication status machine, as pure functions: decideDup says what
// the executor does next with one duplication, modifyDup applies an
// operator's ModifyDuplication, mergeProgress folds a primary's report
// into what the meta knows.
//
//	           incremental
//	DS_INIT ───────────────────────────────────────────┐
//	   │ full                                           ▼
//	   ▼        every partition        remote table    DS_LOG ◄──► DS_PAUSE
//	DS_PREPARE ──────────────────► DS_APP ──────────────┘   (dup start / pause)
//	           reported a checkpoint  created, every
//	           (confirmed = checkpoint) partition has
//	                                    a primary
//
//	any ──(dup remove)──► DS_REMOVED ──(retention)──► purged

// dupInput is what the executor knows about one duplication.
type dupInput struct {
	Dup state.Dup
	// Checkpoints are the highest checkpoint decrees the primaries
	// reported, by partition index (DS_PREPARE).
	Checkpoints []protocol.Decree
	// Remote is the remote table as its cluster describes it (DS_APP
	// only; nil when not asked).
	Remote *remoteTable
	// WantEnvs are the envs the remote table of a full duplication must
	// carry; PartitionCount and ReplicaCount are the source table's.
	WantEnvs       map[string]string
	PartitionCount int32
	// RemovedForMs is how long this leader has known the duplication as
	// removed; RetentionMs how long a removed record is kept.
	RemovedForMs int64
	RetentionMs  int64
}

// remoteTable is the executor's view of a remote table.
type remoteTable struct {
	// Err: the remote cluster could not be asked (its meta unreachable,
	// ...). Missing: it answered that the table does not exist.
	Err     error
	Missing bool
	Info    protocol.AppInfo
	// Primaries counts the table's partitions with a primary.
	Primaries int
}

// stepKind is what the executor does.
type stepKind uint8

const (
	stepWait         stepKind = iota // nothing to do now; Wait says what for
	stepSetStatus                    // store Status (with Progress) in one transaction
	stepCreateRemote                 // ask the remote meta to create the follower table
	stepPurge                        // delete the removed duplication's record
)

// dupStep is decideDup's answer.
type dupStep struct {
	Kind   stepKind
	Status protocol.DupStatus
	// Progress holds partition records to store with the status.
	Progress map[int32]state.DupProgress
	// Wait describes what the duplication waits for (shown on the page).
	Wait string
	// Err is a problem the operator must see (LastError); "" when none.
	Err string
}

// masterEnvs returns the envs a full duplication's follower table
// carries.
func masterEnvs(cluster string, metas []string, app string) map[string]string {
	return map[string]string{
		protocol.EnvDupMasterCluster: cluster,
		protocol.EnvDupMasterMetas:   strings.Join(metas, ","),
		protocol.EnvDupMasterApp:     app,
	}
}

// carriesEnvs reports whether envs hold every key of want with its value.
func carriesEnvs(envs, want map[string]string) bool {
	for k, v := range want {
		if got, ok := envs[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// decideDup is the status machine's transition function.
func decideDup(in dupInput) dupStep {
	d := in.Dup
	switch d.Status {
	case protocol.DupStatusInit:
		if d.Full {
			return dupStep{Kind: stepSetStatus, Status: protocol.DupStatusPrepare}
		}
		return dupStep{Kind: stepSetStatus, Status: protocol.DupStatusLog}

	case protocol.DupStatusPrepare:
		var missing []int32
		for i, c := range in.Checkpoints {
			if c <= 0 {
				missing = append(missing, int32(i))
			}
		}
		if len(in.Checkpoints) == 0 || len(missing) > 0 {
			return dupStep{Kind: stepWait, Wait: fmt.Sprintf("waiting for the primaries of %d of %d partitions to report a checkpoint decree (partitions %s)",
				len(missing), len(in.Checkpoints), indexList(missing))}
		}
		progress := make(map[int32]state.DupProgress, len(in.Checkpoints))
		for i, c := range in.Checkpoints {
			progress[int32(i)] = state.DupProgress{ConfirmedDecree: c, CheckpointDecree: c}
		}
		return dupStep{Kind: stepSetStatus, Status: protocol.DupStatusApp, Progress: progress}

	case protocol.DupStatusApp:
		r := in.Remote
		where := fmt.Sprintf("remote table %s on cluster %s", d.RemoteAppName, d.Remote)
		switch {
		case r == nil:
			return dupStep{Kind: stepWait, Wait: "waiting to ask cluster " + d.Remote + " for the remote table"}
		case r.Err != nil:
			return dupStep{Kind: stepWait, Wait: "waiting for cluster " + d.Remote + " to answer",
				Err: fmt.Sprintf("cannot query %s: %v", where, r.Err)}
		case r.Missing:
			return dupStep{Kind: stepCreateRemote, Wait: "creating the " + where}
		case !carriesEnvs(r.Info.Envs, in.WantEnvs):
			return dupStep{Kind: stepWait, Wait: "waiting for the operator",
				Err: fmt.Sprintf("%s exists but is not this duplication's follower (envs %s do not name this table as its master): drop it or remove this duplication",
					where, envList(in.WantEnvs))}
		case r.Info.PartitionCount != in.PartitionCount:
			return dupStep{Kind: stepWait, Wait: "waiting for the operator",
				Err: fmt.Sprintf("%s has %d partitions, the source table %d: drop it or remove this duplication", where, r.Info.PartitionCount, in.PartitionCount)}
		case r.Primaries < int(r.Info.PartitionCount):
			return dupStep{Kind: stepWait, Wait: fmt.Sprintf("waiting for the %s: %d of %d partitions have a primary",
				where, r.Primaries, r.Info.PartitionCount)}
		}
		return dupStep{Kind: stepSetStatus, Status: protocol.DupStatusLog}

	case protocol.DupStatusRemoved:
		if in.RemovedForMs >= in.RetentionMs {
			return dupStep{Kind: stepPurge}
		}
		return dupStep{Kind: stepWait, Wait: "removed; the record is purged after the retention period"}
	}
	return dupStep{Kind: stepWait}
}

func indexList(idx []int32) string {
	const show = 8
	var b strings.Builder
	for i, x := range idx {
		if i == show {
			fmt.Fprintf(&b, ",... (%d more)", len(idx)-show)
			break
		}
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprint(&b, x)
	}
	return b.String()
}

func envList(envs map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(envs)) {
		parts = append(parts, k+"="+envs[k])
	}
	return strings.Join(parts, ",")
}

// modifyDup applies a ModifyDuplication request to a duplication's
// record. changed is false when the request asks for what already holds
// (the request succeeds without a write).
func modifyDup(cur state.Dup, app string, req *protocol.ModifyDuplicationRequest) (next state.Dup, changed bool, err error) {
	if !req.FailMode.Valid() {
		return cur, false, protocol.Errorf(protocol.CodeInvalidArgument, "unknown duplication fail mode %d: want slow (FAIL_SLOW) or skip (FAIL_SKIP)", req.FailMode)
	}
	if req.Status == protocol.DupStatusInvalid && !req.SetFailMode {
		return cur, false, protocol.Errorf(protocol.CodeInvalidArgument, "nothing to change: give a status or a fail mode")
	}
	name := fmt.Sprintf("duplication %d of table %s", cur.ID, app)
	if cur.Status == protocol.DupStatusRemoved {
		if req.Status == protocol.DupStatusRemoved && !req.SetFailMode {
			return cur, false, nil
		}
		return cur, false, protocol.Errorf(protocol.CodeInvalidState, "%s was removed", name)
	}
	next = cur
	switch req.Status {
	case protocol.DupStatusInvalid:
	case protocol.DupStatusPause:
		if cur.Status != protocol.DupStatusLog && cur.Status != protocol.DupStatusPause {
			return cur, false, protocol.Errorf(protocol.CodeInvalidState, "%s is in %v: only a duplication in DS_LOG can be paused", name, cur.Status)
		}
		next.Status = protocol.DupStatusPause
	case protocol.DupStatusLog:
		if cur.Status != protocol.DupStatusLog && cur.Status != protocol.DupStatusPause {
			return cur, false, protocol.Errorf(protocol.CodeInvalidState, "%s is in %v: only a paused duplication can be started (it reaches DS_LOG by itself)", name, cur.Status)
		}
		next.Status = protocol.DupStatusLog
	case protocol.DupStatusRemoved:
		next.Status = protocol.DupStatusRemoved
	default:
		return cur, false, protocol.Errorf(protocol.CodeInvalidArgument, "duplication status %v cannot be requested: want DS_LOG (start), DS_PAUSE (pause) or DS_REMOVED (remove)", req.Status)
	}
	if req.SetFailMode {
		next.FailMode = req.FailMode
	}
	return next, next != cur, nil
}

// partProgress is what the meta knows about one partition of one
// duplication beyond its stored record: the primaries' latest reports.
type partProgress struct {
	Confirmed  protocol.Decree // highest confirmed decree reported or stored
	Checkpoint protocol.Decree // highest checkpoint decree reported (DS_PREPARE) or stored

	Node             string // the reporting node
	LastCommitted    protocol.Decree
	PendingMutations int64
	SkippedMutations int64
	LastError        string
	ReportTimeMs     int64
}

// mergeProgress folds one report into p: decrees only move forward (a
// report from a former primary never takes progress back); the checkpoint
// decree counts only while the duplication is in DS_PREPARE (it is fixed
// once stored); the rest is the latest report's, unless the report comes
// from a node that is not the partition's primary (primary: the
// configured primary, "" when none).
func mergeProgress(p partProgress, status protocol.DupStatus, primary, node string, r *protocol.DupProgress, nowMs int64) partProgress {
	p.Confirmed = max(p.Confirmed, r.ConfirmedDecree)
	if status == protocol.DupStatusPrepare {
		p.Checkpoint = max(p.Checkpoint, r.CheckpointDecree)
	}
	if primary != "" && primary != node {
		return p
	}
	p.Node, p.LastCommitted, p.PendingMutations, p.SkippedMutations, p.LastError, p.ReportTimeMs =
		node, r.LastCommitted, r.PendingMutations, r.SkippedMutations, r.LastError, nowMs
	return p
}
