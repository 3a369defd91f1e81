package cli

import (
	"context"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pegasus-go/pegasus/client-go/admin"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

// jsonTable is a table in JSON output.
type jsonTable struct {
	AppID          int32               `json:"app_id"`
	Name           string              `json:"name"`
	Status         string              `json:"status"`
	PartitionCount int32               `json:"partition_count"`
	ReplicaCount   int32               `json:"replica_count"`
	CreateTime     string              `json:"create_time,omitempty"`
	DropTime       string              `json:"drop_time,omitempty"`
	ExpireTime     string              `json:"expire_time,omitempty"`
	Envs           map[string]string   `json:"envs,omitempty"`
	Health         *admin.HealthCounts `json:"health,omitempty"`
}

func tableJSON(a *protocol.AppInfo) jsonTable {
	t := jsonTable{AppID: a.AppID, Name: a.Name, Status: a.Status.String(), PartitionCount: a.PartitionCount,
		ReplicaCount: a.ReplicaCount, Envs: a.Envs}
	if a.CreateTimeMs > 0 {
		t.CreateTime = formatTimeMs(a.CreateTimeMs)
	}
	if a.DropTimeMs > 0 {
		t.DropTime = formatTimeMs(a.DropTimeMs)
	}
	if a.ExpireTimeMs > 0 {
		t.ExpireTime = formatTimeMs(a.ExpireTimeMs)
	}
	return t
}

func runClusterInfo(ctx context.Context, s *session, _ *input) error {
	ci, err := s.admin.ClusterInfo(ctx)
	if err != nil {
		return failf(err, "cluster_info")
	}
	v := struct {
		ClusterName    string   `json:"cluster_name"`
		MetaLeader     string   `json:"meta_leader"`
		MetaServers    []string `json:"meta_servers"`
		ZookeeperHosts string   `json:"zookeeper_hosts"`
		ZookeeperRoot  string   `json:"zookeeper_root"`
		AliveNodes     int32    `json:"alive_nodes"`
		DeadNodes      int32    `json:"dead_nodes"`
		TableCount     int32    `json:"table_count"`
	}{ci.ClusterName, ci.MetaLeader, ci.MetaServers, ci.ZookeeperHosts, ci.ZookeeperRoot, ci.AliveNodes, ci.DeadNodes, ci.AppCount}
	if v.MetaServers == nil {
		v.MetaServers = []string{}
	}
	return s.emit(v, func(w io.Writer) error {
		return renderPairs(w, [][2]string{
			{"cluster_name", v.ClusterName},
			{"meta_leader", v.MetaLeader},
			{"meta_servers", strings.Join(v.MetaServers, ",")},
			{"zookeeper_hosts", v.ZookeeperHosts},
			{"zookeeper_root", v.ZookeeperRoot},
			{"alive_nodes", strconv.Itoa(int(v.AliveNodes))},
			{"dead_nodes", strconv.Itoa(int(v.DeadNodes))},
			{"table_count", strconv.Itoa(int(v.TableCount))},
		})
	})
}

func runNodes(ctx context.Context, s *session, _ *input) error {
	nodes, err := s.admin.ListNodes(ctx, protocol.NodeInvalid)
	if err != nil {
		return failf(err, "nodes")
	}
	type jsonNode struct {
		Address        string `json:"address"`
		Status         string `json:"status"`
		PrimaryCount   int32  `json:"primary_count"`
		SecondaryCount int32  `json:"secondary_count"`
		ReplicaCount   int32  `json:"replica_count"`
	}
	out := make([]jsonNode, 0, len(nodes))
	var rows [][]any
	for _, n := range nodes {
		j := jsonNode{n.Address, n.Status.String(), n.PrimaryCount, n.SecondaryCount, n.PrimaryCount + n.SecondaryCount}
		out = append(out, j)
		rows = append(rows, []any{j.Address, j.Status, j.PrimaryCount, j.SecondaryCount, j.ReplicaCount})
	}
	return s.emit(map[string]any{"nodes": out}, func(w io.Writer) error {
		return renderTable(w, []string{"address", "status", "primary_count", "secondary_count", "replica_count"}, rows)
	})
}

func runLs(ctx context.Context, s *session, in *input) error {
	status := protocol.AppAvailable
	if in.boolean("all") {
		status = protocol.AppInvalid
	}
	apps, err := s.admin.ListApps(ctx, status)
	if err != nil {
		return failf(err, "ls")
	}
	detailed := in.boolean("detailed")
	var alive func(string) bool
	if detailed {
		nodes, err := s.admin.ListNodes(ctx, protocol.NodeInvalid)
		if err != nil {
			return failf(err, "ls: list nodes")
		}
		alive = admin.AliveSet(nodes)
	}
	tables := make([]jsonTable, 0, len(apps))
	for i := range apps {
		a := &apps[i]
		t := tableJSON(a)
		t.Envs = nil
		if detailed && a.Status == protocol.AppAvailable {
			qc, err := s.admin.QueryConfig(ctx, a.Name)
			if err != nil {
				return failf(err, "ls: query table %s", a.Name)
			}
			h := admin.DefaultHealthRules.App(&qc.App, qc.Partitions, alive)
			t.Health = &h
		}
		tables = append(tables, t)
	}
	return s.emit(map[string]any{"tables": tables}, func(w io.Writer) error {
		header := []string{"app_id", "status", "app_name", "partition_count", "replica_count"}
		if in.boolean("all") {
			header = append(header, "drop_time", "expire_time")
		}
		if detailed {
			header = append(header, "healthy", "unhealthy", "write_unhealthy", "read_unhealthy")
		}
		var rows [][]any
		for _, t := range tables {
			row := []any{t.AppID, t.Status, t.Name, t.PartitionCount, t.ReplicaCount}
			if in.boolean("all") {
				row = append(row, orDash(t.DropTime), orDash(t.ExpireTime))
			}
			if detailed {
				if h := t.Health; h != nil {
					row = append(row, h.Healthy, h.Unhealthy, h.WriteUnhealthy, h.ReadUnhealthy)
				} else {
					row = append(row, "-", "-", "-", "-")
				}
			}
			rows = append(rows, row)
		}
		return renderTable(w, header, rows)
	})
}

func runCreate(ctx context.Context, s *session, in *input) error {
	name := in.arg(0)
	if err := admin.CheckAppName(name); err != nil {
		return usagef("create: %v", err)
	}
	p := in.integer("partition_count", 0)
	r := in.integer("replica_count", admin.DefaultReplicas)
	if p <= 0 || p > admin.MaxPartitionCount || p&(p-1) != 0 {
		return usagef("create: -p %d: partition count must be a power of two in 1..%d", p, admin.MaxPartitionCount)
	}
	if r < 1 || r > admin.MaxReplicaCount {
		return usagef("create: -r %d: replica count must be in 1..%d", r, admin.MaxReplicaCount)
	}
	var envs map[string]string
	if in.has("envs") {
		var err error
		if envs, err = parseKVList("create", "-e", in.str("envs")); err != nil {
			return err
		}
	}
	id, err := s.admin.CreateApp(ctx, name, admin.CreateAppOptions{PartitionCount: int32(p), ReplicaCount: int32(r), Envs: envs})
	if err != nil {
		return failf(err, "create %s", name)
	}
	ready := false
	if !in.boolean("no_wait") {
		if _, err := s.admin.WaitForPrimaries(ctx, name); err != nil {
			return failf(err, "create %s: created as app_id %d, but not every partition has a primary", name, id)
		}
		ready = true
	}
	v := struct {
		AppID          int32  `json:"app_id"`
		Name           string `json:"name"`
		PartitionCount int64  `json:"partition_count"`
		ReplicaCount   int64  `json:"replica_count"`
		Ready          bool   `json:"ready"`
	}{id, name, p, r, ready}
	return s.emit(v, func(w io.Writer) error {
		suffix := ""
		if ready {
			suffix = "; every partition has a primary"
		}
		_, err := fmt.Fprintf(w, "table %s created: app_id %d, %d partitions, %d replicas%s\n", name, id, p, r, suffix)
		return err
	})
}

func runDrop(ctx context.Context, s *session, in *input) error {
	name := in.arg(0)
	reserve := in.integer("reserve_seconds", 0)
	if reserve < 0 || reserve > math.MaxInt64/int64(time.Second) {
		return usagef("drop: --reserve_seconds %d out of range", reserve)
	}
	qc, err := s.admin.QueryConfig(ctx, name)
	if err != nil {
		return failf(err, "drop %s", name)
	}
	if err := s.admin.DropApp(ctx, name, time.Duration(reserve)*time.Second); err != nil {
		return failf(err, "drop %s", name)
	}
	if s.table == name {
		s.table = ""
		s.app.SetDefaultPrompt()
	}
	v := struct {
		AppID int32  `json:"app_id"`
		Name  string `json:"name"`
	}{qc.App.AppID, name}
	return s.emit(v, func(w io.Writer) error {
		_, err := fmt.Fprintf(w, "table %s dropped (app_id %d); 'recall %d' restores it until its hold time ends\n", name, v.AppID, v.AppID)
		return err
	})
}

func runRecall(ctx context.Context, s *session, in *input) error {
	id, err := in.intArg(0, 1, math.MaxInt32)
	if err != nil {
		return err
	}
	newName := in.arg(1)
	if newName != "" {
		if err := admin.CheckAppName(newName); err != nil {
			return usagef("recall: %v", err)
		}
	}
	info, err := s.admin.RecallApp(ctx, int32(id), newName)
	if err != nil {
		return failf(err, "recall %d", id)
	}
	t := tableJSON(&info)
	return s.emit(t, func(w io.Writer) error {
		_, err := fmt.Fprintf(w, "table %s recalled: app_id %d, %d partitions\n", info.Name, info.AppID, info.PartitionCount)
		return err
	})
}

func runUse(ctx context.Context, s *session, in *input) error {
	name := in.arg(0)
	qc, err := s.admin.QueryConfig(ctx, name)
	if err != nil {
		return failf(err, "use %s", name)
	}
	s.setTable(name)
	v := struct {
		Table string `json:"table"`
		AppID int32  `json:"app_id"`
	}{name, qc.App.AppID}
	return s.emit(v, func(w io.Writer) error {
		_, err := fmt.Fprintf(w, "using table %s (app_id %d)\n", name, qc.App.AppID)
		return err
	})
}

// partitionHealthName names a partition's classification.
func partitionHealthName(h admin.PartitionHealth) string {
	switch {
	case h.Healthy:
		return "healthy"
	case !h.ReadHealthy:
		return "read_unhealthy"
	case !h.WriteHealthy:
		return "write_unhealthy"
	default:
		return "unhealthy"
	}
}

func runApp(ctx context.Context, s *session, in *input) error {
	name := in.arg(0)
	if name == "" {
		if s.table == "" {
			return usagef("app: no table: pass <table> or run 'use <table>' first")
		}
		name = s.table
	}
	qc, err := s.admin.QueryConfig(ctx, name)
	if err != nil {
		return failf(err, "app %s", name)
	}
	nodes, err := s.admin.ListNodes(ctx, protocol.NodeInvalid)
	if err != nil {
		return failf(err, "app %s: list nodes", name)
	}
	alive := admin.AliveSet(nodes)
	rules := admin.DefaultHealthRules
	health := rules.App(&qc.App, qc.Partitions, alive)
	t := tableJSON(&qc.App)
	t.Health = &health
	type jsonPartition struct {
		Index         int32    `json:"pidx"`
		Ballot        int64    `json:"ballot"`
		Primary       string   `json:"primary"`
		Secondaries   []string `json:"secondaries"`
		Learner       string   `json:"learner,omitempty"`
		LastCommitted int64    `json:"last_committed_decree"`
		Health        string   `json:"health"`
	}
	var parts []jsonPartition
	if in.boolean("detailed") {
		parts = make([]jsonPartition, 0, len(qc.Partitions))
		for i := range qc.Partitions {
			pc := &qc.Partitions[i]
			h := rules.Partition(pc, qc.App.ReplicaCount, alive)
			secs := pc.Secondaries
			if secs == nil {
				secs = []string{}
			}
			learner := ""
			if i < len(qc.Learners) {
				learner = qc.Learners[i]
			}
			parts = append(parts, jsonPartition{pc.Gpid.PartitionIndex, int64(pc.Ballot), pc.Primary, secs, learner, int64(pc.LastCommittedDecree), partitionHealthName(h)})
		}
	}
	v := struct {
		Table      jsonTable       `json:"table"`
		Partitions []jsonPartition `json:"partitions,omitempty"`
	}{t, parts}
	return s.emit(v, func(w io.Writer) error {
		envs := make([]string, 0, len(t.Envs))
		for _, k := range slices.Sorted(maps.Keys(t.Envs)) {
			envs = append(envs, k+"="+t.Envs[k])
		}
		err := renderPairs(w, [][2]string{
			{"app_id", strconv.Itoa(int(t.AppID))},
			{"app_name", t.Name},
			{"status", t.Status},
			{"partition_count", strconv.Itoa(int(t.PartitionCount))},
			{"replica_count", strconv.Itoa(int(t.ReplicaCount))},
			{"create_time", orDash(t.CreateTime)},
			{"envs", orDash(strings.Join(envs, ","))},
			{"health", fmt.Sprintf("healthy %d, unhealthy %d, write_unhealthy %d, read_unhealthy %d",
				health.Healthy, health.Unhealthy, health.WriteUnhealthy, health.ReadUnhealthy)},
		})
		if err != nil || parts == nil {
			return err
		}
		if _, err := fmt.Fprintln(w); err != nil {
			return err
		}
		rows := make([][]any, 0, len(parts))
		for _, p := range parts {
			rows = append(rows, []any{p.Index, p.Ballot, orDash(p.Primary), orDash(strings.Join(p.Secondaries, ",")), orDash(p.Learner), p.LastCommitted, p.Health})
		}
		return renderTable(w, []string{"pidx", "ballot", "primary", "secondaries", "learner", "last_committed", "health"}, rows)
	})
}

func runSetAppEnvs(ctx context.Context, s *session, in *input) error {
	table, err := s.tableFor(in)
	if err != nil {
		return err
	}
	envs, err := parseKVList("set_app_envs", "-e", in.str("envs"))
	if err != nil {
		return err
	}
	if err := s.admin.SetAppEnvs(ctx, table, envs); err != nil {
		return failf(err, "set_app_envs on %s", table)
	}
	keys := slices.Sorted(maps.Keys(envs))
	v := struct {
		Table string   `json:"table"`
		Set   []string `json:"set"`
	}{table, keys}
	return s.emit(v, func(w io.Writer) error {
		_, err := fmt.Fprintf(w, "set %d env(s) on %s: %s\n", len(keys), table, strings.Join(keys, ","))
		return err
	})
}

func runGetAppEnvs(ctx context.Context, s *session, in *input) error {
	table, err := s.tableFor(in)
	if err != nil {
		return err
	}
	envs, err := s.admin.GetAppEnvs(ctx, table)
	if err != nil {
		return failf(err, "get_app_envs on %s", table)
	}
	v := struct {
		Table string            `json:"table"`
		Envs  map[string]string `json:"envs"`
	}{table, envs}
	return s.emit(v, func(w io.Writer) error {
		var rows [][]any
		for _, k := range slices.Sorted(maps.Keys(envs)) {
			rows = append(rows, []any{k, envs[k]})
		}
		return renderTable(w, []string{"key", "value"}, rows)
	})
}

func runDelAppEnvs(ctx context.Context, s *session, in *input) error {
	table, err := s.tableFor(in)
	if err != nil {
		return err
	}
	modes := 0
	for _, f := range []string{"keys", "prefix", "all"} {
		if in.has(f) && in.vals[f] != "false" {
			modes++
		}
	}
	if modes != 1 {
		return usagef("del_app_envs: give exactly one of -k <k1,k2,...>, --prefix <P>, --all")
	}
	var deleted []string
	switch {
	case in.has("keys"):
		keys := parseList(in.str("keys"))
		if len(keys) == 0 {
			return usagef("del_app_envs: -k: no keys")
		}
		deleted, err = s.admin.DelAppEnvs(ctx, table, keys)
	case in.has("prefix"):
		if in.str("prefix") == "" {
			return usagef("del_app_envs: --prefix: empty prefix (use --all to delete every env)")
		}
		deleted, err = s.admin.ClearAppEnvs(ctx, table, in.str("prefix"))
	default:
		deleted, err = s.admin.ClearAppEnvs(ctx, table, "")
	}
	if err != nil {
		return failf(err, "del_app_envs on %s", table)
	}
	if deleted == nil {
		deleted = []string{}
	}
	v := struct {
		Table   string   `json:"table"`
		Deleted []string `json:"deleted"`
	}{table, deleted}
	return s.emit(v, func(w io.Writer) error {
		_, err := fmt.Fprintf(w, "deleted %d env(s) from %s: %s\n", len(deleted), table, orDash(strings.Join(deleted, ",")))
		return err
	})
}
