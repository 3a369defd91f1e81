package meta

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/pegasus-go/pegasus/metaserver/internal/state"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

func TestDecideDup(t *testing.T) {
	want := masterEnvs("src", []string{"m:1", "m:2"}, "t1")
	dup := func(st protocol.DupStatus, full bool) state.Dup {
		return state.Dup{ID: 9, Remote: "dst", Status: st, RemoteAppName: "t1", Full: full}
	}
	remote := func(envs map[string]string, parts int32, primaries int) *remoteTable {
		return &remoteTable{Info: protocol.AppInfo{Name: "t1", PartitionCount: parts, Envs: envs}, Primaries: primaries}
	}
	otherEnvs := map[string]string{protocol.EnvDupMasterCluster: "src", protocol.EnvDupMasterMetas: "m:1,m:2", protocol.EnvDupMasterApp: "t2"}
	withExtra := map[string]string{"default_ttl": "10"}
	for k, v := range want {
		withExtra[k] = v
	}
	tests := []struct {
		name    string
		in      dupInput
		kind    stepKind
		status  protocol.DupStatus
		prog    map[int32]state.DupProgress
		errHas  string // substring of Err; "" = no error
		waitHas string
	}{
		{name: "incremental init goes to log", in: dupInput{Dup: dup(protocol.DupStatusInit, false)},
			kind: stepSetStatus, status: protocol.DupStatusLog},
		{name: "full init goes to prepare", in: dupInput{Dup: dup(protocol.DupStatusInit, true)},
			kind: stepSetStatus, status: protocol.DupStatusPrepare},
		{name: "prepare waits for every checkpoint", in: dupInput{Dup: dup(protocol.DupStatusPrepare, true), Checkpoints: []protocol.Decree{5, 0, 7, 0}},
			kind: stepWait, waitHas: "2 of 4 partitions to report a checkpoint decree (partitions 1,3)"},
		{name: "prepare with no partitions known waits", in: dupInput{Dup: dup(protocol.DupStatusPrepare, true)},
			kind: stepWait},
		{name: "prepare to app stores confirmed = checkpoint", in: dupInput{Dup: dup(protocol.DupStatusPrepare, true), Checkpoints: []protocol.Decree{5, 1}},
			kind: stepSetStatus, status: protocol.DupStatusApp,
			prog: map[int32]state.DupProgress{0: {ConfirmedDecree: 5, CheckpointDecree: 5}, 1: {ConfirmedDecree: 1, CheckpointDecree: 1}}},
		{name: "app without a remote answer waits", in: dupInput{Dup: dup(protocol.DupStatusApp, true), WantEnvs: want, PartitionCount: 4},
			kind: stepWait},
		{name: "app with the remote unreachable shows the error", in: dupInput{Dup: dup(protocol.DupStatusApp, true), WantEnvs: want, PartitionCount: 4,
			Remote: &remoteTable{Err: errors.New("connection refused")}},
			kind: stepWait, errHas: "cannot query remote table t1 on cluster dst: connection refused"},
		{name: "app with the remote table missing creates it", in: dupInput{Dup: dup(protocol.DupStatusApp, true), WantEnvs: want, PartitionCount: 4,
			Remote: &remoteTable{Missing: true}},
			kind: stepCreateRemote},
		{name: "app with a foreign remote table is an error", in: dupInput{Dup: dup(protocol.DupStatusApp, true), WantEnvs: want, PartitionCount: 4,
			Remote: remote(nil, 4, 4)},
			kind: stepWait, errHas: "exists but is not this duplication's follower"},
		{name: "app with another master's follower is an error", in: dupInput{Dup: dup(protocol.DupStatusApp, true), WantEnvs: want, PartitionCount: 4,
			Remote: remote(otherEnvs, 4, 4)},
			kind: stepWait, errHas: "drop it or remove this duplication"},
		{name: "app with a wrong partition count is an error", in: dupInput{Dup: dup(protocol.DupStatusApp, true), WantEnvs: want, PartitionCount: 4,
			Remote: remote(want, 8, 8)},
			kind: stepWait, errHas: "has 8 partitions, the source table 4"},
		{name: "app waits for remote primaries", in: dupInput{Dup: dup(protocol.DupStatusApp, true), WantEnvs: want, PartitionCount: 4,
			Remote: remote(want, 4, 3)},
			kind: stepWait, waitHas: "3 of 4 partitions have a primary"},
		{name: "app goes to log once every remote partition has a primary", in: dupInput{Dup: dup(protocol.DupStatusApp, true), WantEnvs: want, PartitionCount: 4,
			Remote: remote(withExtra, 4, 4)},
			kind: stepSetStatus, status: protocol.DupStatusLog},
		{name: "log stays", in: dupInput{Dup: dup(protocol.DupStatusLog, true)}, kind: stepWait},
		{name: "pause stays", in: dupInput{Dup: dup(protocol.DupStatusPause, false)}, kind: stepWait},
		{name: "removed is kept during retention", in: dupInput{Dup: dup(protocol.DupStatusRemoved, false), RemovedForMs: 10, RetentionMs: 11},
			kind: stepWait},
		{name: "removed is purged after retention", in: dupInput{Dup: dup(protocol.DupStatusRemoved, false), RemovedForMs: 11, RetentionMs: 11},
			kind: stepPurge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := decideDup(tt.in)
			if got.Kind != tt.kind || got.Status != tt.status {
				t.Fatalf("decideDup = %+v, want kind %d status %v", got, tt.kind, tt.status)
			}
			if tt.prog != nil && !reflect.DeepEqual(got.Progress, tt.prog) {
				t.Fatalf("progress %+v, want %+v", got.Progress, tt.prog)
			}
			if (tt.errHas == "") != (got.Err == "") || !strings.Contains(got.Err, tt.errHas) {
				t.Fatalf("Err %q, want one containing %q", got.Err, tt.errHas)
			}
			if !strings.Contains(got.Wait, tt.waitHas) {
				t.Fatalf("Wait %q, want one containing %q", got.Wait, tt.waitHas)
			}
		})
	}
}

func TestModifyDup(t *testing.T) {
	d := func(st protocol.DupStatus) state.Dup {
		return state.Dup{ID: 3, Remote: "dst", Status: st, FailMode: protocol.DupFailSlow}
	}
	req := func(st protocol.DupStatus) *protocol.ModifyDuplicationRequest {
		return &protocol.ModifyDuplicationRequest{AppName: "t", DupID: 3, Status: st}
	}
	skip := &protocol.ModifyDuplicationRequest{AppName: "t", DupID: 3, SetFailMode: true, FailMode: protocol.DupFailSkip}
	tests := []struct {
		name    string
		cur     state.Dup
		req     *protocol.ModifyDuplicationRequest
		status  protocol.DupStatus
		fail    protocol.DupFailMode
		changed bool
		code    protocol.ErrorCode
	}{
		{"pause from log", d(protocol.DupStatusLog), req(protocol.DupStatusPause), protocol.DupStatusPause, 0, true, 0},
		{"pause again", d(protocol.DupStatusPause), req(protocol.DupStatusPause), protocol.DupStatusPause, 0, false, 0},
		{"pause in prepare", d(protocol.DupStatusPrepare), req(protocol.DupStatusPause), 0, 0, false, protocol.CodeInvalidState},
		{"pause in init", d(protocol.DupStatusInit), req(protocol.DupStatusPause), 0, 0, false, protocol.CodeInvalidState},
		{"start from pause", d(protocol.DupStatusPause), req(protocol.DupStatusLog), protocol.DupStatusLog, 0, true, 0},
		{"start again", d(protocol.DupStatusLog), req(protocol.DupStatusLog), protocol.DupStatusLog, 0, false, 0},
		{"start in app", d(protocol.DupStatusApp), req(protocol.DupStatusLog), 0, 0, false, protocol.CodeInvalidState},
		{"remove from app", d(protocol.DupStatusApp), req(protocol.DupStatusRemoved), protocol.DupStatusRemoved, 0, true, 0},
		{"remove again", d(protocol.DupStatusRemoved), req(protocol.DupStatusRemoved), protocol.DupStatusRemoved, 0, false, 0},
		{"pause a removed one", d(protocol.DupStatusRemoved), req(protocol.DupStatusPause), 0, 0, false, protocol.CodeInvalidState},
		{"fail mode of a removed one", d(protocol.DupStatusRemoved), skip, 0, 0, false, protocol.CodeInvalidState},
		{"fail mode in prepare", d(protocol.DupStatusPrepare), skip, protocol.DupStatusPrepare, protocol.DupFailSkip, true, 0},
		{"fail mode unchanged", d(protocol.DupStatusLog), &protocol.ModifyDuplicationRequest{SetFailMode: true, FailMode: protocol.DupFailSlow},
			protocol.DupStatusLog, protocol.DupFailSlow, false, 0},
		{"status and fail mode", d(protocol.DupStatusLog), &protocol.ModifyDuplicationRequest{Status: protocol.DupStatusPause, SetFailMode: true, FailMode: protocol.DupFailSkip},
			protocol.DupStatusPause, protocol.DupFailSkip, true, 0},
		{"bad fail mode", d(protocol.DupStatusLog), &protocol.ModifyDuplicationRequest{SetFailMode: true, FailMode: 9}, 0, 0, false, protocol.CodeInvalidArgument},
		{"nothing to change", d(protocol.DupStatusLog), &protocol.ModifyDuplicationRequest{}, 0, 0, false, protocol.CodeInvalidArgument},
		{"init cannot be requested", d(protocol.DupStatusLog), req(protocol.DupStatusInit), 0, 0, false, protocol.CodeInvalidArgument},
		{"app cannot be requested", d(protocol.DupStatusLog), req(protocol.DupStatusApp), 0, 0, false, protocol.CodeInvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next, changed, err := modifyDup(tt.cur, "t", tt.req)
			if tt.code != 0 {
				if !errors.Is(err, tt.code) {
					t.Fatalf("err %v, want %v", err, tt.code)
				}
				if next != tt.cur || changed {
					t.Fatalf("refused request changed the record: %+v", next)
				}
				return
			}
			if err != nil || next.Status != tt.status || next.FailMode != tt.fail || changed != tt.changed {
				t.Fatalf("modifyDup = %+v, %v, %v; want status %v fail %v changed %v", next, changed, err, tt.status, tt.fail, tt.changed)
			}
			if next.ID != tt.cur.ID || next.Remote != tt.cur.Remote {
				t.Fatalf("identity changed: %+v", next)
			}
		})
	}
	_, _, err := modifyDup(d(protocol.DupStatusInit), "t1", req(protocol.DupStatusPause))
	if err == nil || !strings.Contains(err.Error(), "duplication 3 of table t1 is in DS_INIT: only a duplication in DS_LOG can be paused") {
		t.Fatalf("message: %v", err)
	}
}

func TestMergeProgress(t *testing.T) {
	r := func(confirmed, checkpoint protocol.Decree) *protocol.DupProgress {
		return &protocol.DupProgress{ConfirmedDecree: confirmed, CheckpointDecree: checkpoint, LastCommitted: 50, PendingMutations: 3, LastError: "x"}
	}
	p := partProgress{Confirmed: -1}
	p = mergeProgress(p, protocol.DupStatusPrepare, "", "n:1", r(-1, 20), 7)
	if p.Confirmed != -1 || p.Checkpoint != 20 || p.Node != "n:1" || p.ReportTimeMs != 7 || p.LastCommitted != 50 || p.LastError != "x" {
		t.Fatalf("prepare report: %+v", p)
	}
	p = mergeProgress(p, protocol.DupStatusPrepare, "", "n:2", r(-1, 15), 8) // a lower checkpoint never wins
	if p.Checkpoint != 20 || p.Node != "n:2" {
		t.Fatalf("lower checkpoint: %+v", p)
	}
	p = mergeProgress(p, protocol.DupStatusLog, "n:2", "n:2", r(30, 99), 9) // checkpoint fixed outside DS_PREPARE
	if p.Checkpoint != 20 || p.Confirmed != 30 {
		t.Fatalf("log report: %+v", p)
	}
	p = mergeProgress(p, protocol.DupStatusLog, "n:2", "n:1", r(35, 0), 10) // a former primary's decrees count, not its report
	if p.Confirmed != 35 || p.ReportTimeMs != 9 || p.Node != "n:2" {
		t.Fatalf("report of a former primary: %+v", p)
	}
	p = mergeProgress(p, protocol.DupStatusLog, "", "n:1", r(25, 0), 11) // progress never goes back
	if p.Confirmed != 35 || p.ReportTimeMs != 11 {
		t.Fatalf("stale report: %+v", p)
	}
}
