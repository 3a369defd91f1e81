package cli

import (
	"context"
	"fmt"
	"io"
	"math"

	"github.com/pegasus-go/pegasus/shared/protocol"
)

const groupDup = "duplication (dup works on the used table, or -a <table>)"

// Actions of the dup command.
const (
	dupAdd    = "add"
	dupList   = "list"
	dupPause  = "pause"
	dupStart  = "start"
	dupRemove = "remove"
)

func dupCommands() []*command {
	return []*command{
		{
			name: "dup", group: groupDup, help: "add, list, pause, start or remove duplications of a table to other clusters",
			long: "dup add -c <cluster> [-p]    duplicate the table to <cluster> (a name of the meta servers' [pegasus.clusters]);\n" +
				"                             without -p the table must exist there, with -p (full) its data is copied first\n" +
				"                             and the remote table is created\n" +
				"dup list                     every duplication with its status and per-partition progress, as JSON\n" +
				"dup pause -d <dupid>         stop shipping (only in DS_LOG); the backlog is kept\n" +
				"dup start -d <dupid>         resume a paused duplication\n" +
				"dup remove -d <dupid>        remove the duplication; its backlog is released\n" +
				"Every command is idempotent: asking for the state a duplication is in succeeds.",
			args: []argSpec{{name: "action", help: "add | list | pause | start | remove"}},
			flags: []flagSpec{
				{short: "c", long: "cluster", kind: flagString, value: "cluster", help: "add: the remote cluster"},
				{short: "p", long: "full", kind: flagBool, help: "add: full duplication (copy the existing data, create the remote table)"},
				{short: "d", long: "dupid", kind: flagInt, value: "dupid", help: "pause, start, remove: the duplication (see 'dup list')"},
				appFlag,
			},
			run: runDup,
		},
		{
			name: "set_dup_fail_mode", group: groupDup, help: "set what a duplication does when shipping keeps failing",
			long: "slow: retry forever (the default); skip: after bounded retries skip the batch and count it.",
			args: []argSpec{
				{name: "table", help: "the duplicated table", table: true},
				{name: "dupid", help: "the duplication (see 'dup list')"},
				{name: "mode", help: "slow | skip"},
			},
			run: runSetDupFailMode,
		},
	}
}

// jsonDup is one duplication in dup list and modify output.
type jsonDup struct {
	DupID         int32              `json:"dupid"`
	Status        string             `json:"status"`
	Remote        string             `json:"remote"`
	RemoteAppName string             `json:"remote_app_name"`
	CreateTs      string             `json:"create_ts"`
	FailMode      string             `json:"fail_mode"`
	Full          bool               `json:"full"`
	Partitions    []jsonDupPartition `json:"partitions,omitempty"`
}

// jsonDupPartition is one partition's progress: everything up to
// confirmed_decree reached the remote cluster; pending_mutations (the lag)
// is how many committed mutations had not at the primary's last report.
type jsonDupPartition struct {
	Index            int32  `json:"pidx"`
	ConfirmedDecree  int64  `json:"confirmed_decree"`
	CheckpointDecree int64  `json:"checkpoint_decree,omitempty"`
	LastCommitted    int64  `json:"last_committed_decree"`
	PendingMutations int64  `json:"pending_mutations"`
	SkippedMutations int64  `json:"skipped_mutations,omitempty"`
	LastError        string `json:"last_error,omitempty"`
	ReportTime       string `json:"report_time"`
}

func dupJSON(e *protocol.DuplicationEntry) jsonDup {
	j := jsonDup{DupID: e.DupID, Status: e.Status.String(), Remote: e.RemoteCluster, RemoteAppName: e.RemoteAppName,
		CreateTs: formatTimeMs(e.CreateTimestampMs), FailMode: e.FailMode.String(), Full: e.Full}
	for _, p := range e.Partitions {
		j.Partitions = append(j.Partitions, jsonDupPartition{
			Index: p.PartitionIndex, ConfirmedDecree: int64(p.ConfirmedDecree), CheckpointDecree: int64(p.CheckpointDecree),
			LastCommitted: int64(p.LastCommitted), PendingMutations: p.PendingMutations, SkippedMutations: p.SkippedMutations,
			LastError: p.LastError, ReportTime: formatTimeMs(p.ReportTimeMs),
		})
	}
	return j
}

func runDup(ctx context.Context, s *session, in *input) error {
	action := in.arg(0)
	switch action {
	case dupAdd, dupList, dupPause, dupStart, dupRemove:
	default:
		return usagef("dup: unknown action %q: want add, list, pause, start or remove", action)
	}
	table, err := s.tableFor(in)
	if err != nil {
		return err
	}
	if action != dupAdd && (in.has("cluster") || in.boolean("full")) {
		return usagef("dup %s: -c and -p belong to dup add", action)
	}
	if (action == dupAdd || action == dupList) && in.has("dupid") {
		return usagef("dup %s: -d belongs to dup pause, start and remove", action)
	}
	switch action {
	case dupAdd:
		return runDupAdd(ctx, s, in, table)
	case dupList:
		return runDupList(ctx, s, table)
	}
	if !in.has("dupid") {
		return usagef("dup %s: missing flag -d <dupid> (see 'dup list')", action)
	}
	id := in.integer("dupid", 0)
	if id <= 0 || id > math.MaxInt32 {
		return usagef("dup %s: -d %d: want a positive dupid", action, id)
	}
	status := map[string]protocol.DupStatus{dupPause: protocol.DupStatusPause, dupStart: protocol.DupStatusLog, dupRemove: protocol.DupStatusRemoved}[action]
	return modifyDup(ctx, s, "dup "+action, &protocol.ModifyDuplicationRequest{AppName: table, DupID: int32(id), Status: status})
}

func runDupAdd(ctx context.Context, s *session, in *input, table string) error {
	remote := in.str("cluster")
	if remote == "" {
		return usagef("dup add: missing flag -c <cluster> (usage: dup add -c <cluster> [-p])")
	}
	full := in.boolean("full")
	resp, err := s.admin.AddDuplication(ctx, table, remote, full)
	if err != nil {
		return failf(err, "dup add on %s", table)
	}
	v := struct {
		Table         string `json:"table"`
		AppID         int32  `json:"app_id"`
		DupID         int32  `json:"dupid"`
		Remote        string `json:"remote"`
		RemoteAppName string `json:"remote_app_name"`
		Full          bool   `json:"full"`
	}{table, resp.AppID, resp.DupID, remote, resp.RemoteAppName, full}
	return s.emit(v, func(w io.Writer) error {
		_, err := fmt.Fprintf(w, "successfully add duplication [dupid: %d]\n", resp.DupID)
		return err
	})
}

func runDupList(ctx context.Context, s *session, table string) error {
	q, err := s.admin.QueryDuplication(ctx, table)
	if err != nil {
		return failf(err, "dup list on %s", table)
	}
	dups := make([]jsonDup, 0, len(q.Dups))
	for i := range q.Dups {
		dups = append(dups, dupJSON(&q.Dups[i]))
	}
	v := struct {
		Table        string    `json:"table"`
		AppID        int32     `json:"app_id"`
		Duplications []jsonDup `json:"duplications"`
	}{table, q.AppID, dups}
	return s.emit(v, func(w io.Writer) error {
		if len(dups) == 0 {
			_, err := fmt.Fprintf(w, "table %s has no duplications\n", table)
			return err
		}
		for _, d := range dups {
			if err := writeJSON(w, d); err != nil {
				return err
			}
		}
		return nil
	})
}

// modifyDup sends req and prints the duplication as it is afterwards.
func modifyDup(ctx context.Context, s *session, what string, req *protocol.ModifyDuplicationRequest) error {
	resp, err := s.admin.ModifyDuplication(ctx, req)
	if err != nil {
		return failf(err, "%s %d on %s", what, req.DupID, req.AppName)
	}
	j := dupJSON(&resp.Dup)
	return s.emit(j, func(w io.Writer) error {
		_, err := fmt.Fprintf(w, "duplication %d of table %s: status %s, fail mode %s\n", j.DupID, req.AppName, j.Status, j.FailMode)
		return err
	})
}

func runSetDupFailMode(ctx context.Context, s *session, in *input) error {
	id, err := in.intArg(1, 1, math.MaxInt32)
	if err != nil {
		return err
	}
	var mode protocol.DupFailMode
	if err := mode.UnmarshalText([]byte(in.arg(2))); err != nil {
		return usagef("set_dup_fail_mode: %v", err)
	}
	return modifyDup(ctx, s, "set_dup_fail_mode", &protocol.ModifyDuplicationRequest{
		AppName: in.arg(0), DupID: int32(id), SetFailMode: true, FailMode: mode,
	})
}
