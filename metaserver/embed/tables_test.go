package embed_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/pegasus-go/pegasus/shared/logging"
	"github.com/pegasus-go/pegasus/shared/protocol"
	"github.com/pegasus-go/pegasus/shared/rpc"
	"github.com/pegasus-go/pegasus/shared/zktest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	rpc.SetFrameworkLogger(logging.Discard())
	childMain()
	goleak.VerifyTestMain(m)
}

func wantCode(t *testing.T, what string, err error, code protocol.ErrorCode) {
	t.Helper()
	if !errors.Is(err, code) {
		t.Fatalf("%s: got %v, want %v", what, err, code)
	}
}

// testTables drives the table API of a running cluster through a real
// rpc.Client.
func testTables(t *testing.T, m *metaCaller) {
	ctx := ctxT(t)
	id1 := m.createApp(t, "temp", 8)
	id2 := m.createApp(t, "stat", 4)
	if id1 < 1 || id2 != id1+1 {
		t.Fatalf("app ids %d, %d: want consecutive ids from 1", id1, id2)
	}

	// Errors.
	err := m.meta(ctx, protocol.MethodCreateApp, &protocol.CreateAppRequest{Name: "temp", PartitionCount: 8}, &protocol.CreateAppResponse{})
	wantCode(t, "duplicate name", err, protocol.CodeAppExist)
	for _, pc := range []int32{0, 3, 2048, -4} {
		err = m.meta(ctx, protocol.MethodCreateApp, &protocol.CreateAppRequest{Name: "bad", PartitionCount: pc}, &protocol.CreateAppResponse{})
		wantCode(t, "partition count", err, protocol.CodeInvalidArgument)
	}
	err = m.meta(ctx, protocol.MethodCreateApp, &protocol.CreateAppRequest{Name: "bad", PartitionCount: 4, ReplicaCount: 6}, &protocol.CreateAppResponse{})
	wantCode(t, "replica count", err, protocol.CodeInvalidArgument)
	err = m.meta(ctx, protocol.MethodCreateApp, &protocol.CreateAppRequest{Name: "bad name!", PartitionCount: 4}, &protocol.CreateAppResponse{})
	wantCode(t, "table name", err, protocol.CodeInvalidArgument)
	err = m.meta(ctx, protocol.MethodCreateApp, &protocol.CreateAppRequest{Name: "bad", PartitionCount: 4,
		Envs: map[string]string{"rocksdb.no_such_option": "1"}}, &protocol.CreateAppResponse{})
	wantCode(t, "unknown env key", err, protocol.CodeInvalidArgument)
	if !strings.Contains(err.Error(), "rocksdb.no_such_option") {
		t.Fatalf("unknown env key error %q does not name the key", err)
	}
	err = m.meta(ctx, protocol.MethodQueryConfig, &protocol.QueryConfigRequest{AppName: "nope"}, &protocol.QueryConfigResponse{})
	wantCode(t, "query unknown table", err, protocol.CodeAppNotExist)
	err = m.meta(ctx, protocol.MethodDropApp, &protocol.DropAppRequest{Name: "nope"}, &protocol.DropAppResponse{})
	wantCode(t, "drop unknown table", err, protocol.CodeAppNotExist)
	err = m.meta(ctx, protocol.MethodSetAppEnvs, &protocol.SetAppEnvsRequest{AppName: "nope", Envs: map[string]string{"default_ttl": "1"}}, &protocol.SetAppEnvsResponse{})
	wantCode(t, "set envs of unknown table", err, protocol.CodeAppNotExist)

	// Configuration and defaults.
	qc := m.queryConfig(t, "temp")
	if qc.App.AppID != id1 || qc.App.PartitionCount != 8 || qc.App.ReplicaCount != 3 || qc.App.Status != protocol.AppAvailable || len(qc.Partitions) != 8 {
		t.Fatalf("query config: %+v", qc.App)
	}
	for i, p := range qc.Partitions {
		if p.Gpid != (protocol.Gpid{AppID: id1, PartitionIndex: int32(i)}) || p.MaxReplicaCount != 3 {
			t.Fatalf("partition %d: %+v", i, p)
		}
	}

	// Envs.
	err = m.meta(ctx, protocol.MethodSetAppEnvs, &protocol.SetAppEnvsRequest{AppName: "temp",
		Envs: map[string]string{"default_ttl": "86400", "replica.deny_client_request": "reconfig*all"}}, &protocol.SetAppEnvsResponse{})
	if err != nil {
		t.Fatal(err)
	}
	err = m.meta(ctx, protocol.MethodSetAppEnvs, &protocol.SetAppEnvsRequest{AppName: "temp",
		Envs: map[string]string{"rocksdb.usage_scenario": "fast"}}, &protocol.SetAppEnvsResponse{})
	wantCode(t, "bad env value", err, protocol.CodeInvalidArgument)
	var envs protocol.GetAppEnvsResponse
	if err := m.meta(ctx, protocol.MethodGetAppEnvs, &protocol.GetAppEnvsRequest{AppName: "temp"}, &envs); err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"default_ttl": "86400", "replica.deny_client_request": "reconfig*all"}; !reflect.DeepEqual(envs.Envs, want) {
		t.Fatalf("envs %v, want %v", envs.Envs, want)
	}
	var del protocol.DelAppEnvsResponse
	if err := m.meta(ctx, protocol.MethodDelAppEnvs, &protocol.DelAppEnvsRequest{AppName: "temp", ClearPrefix: "replica."}, &del); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(del.Deleted, []string{"replica.deny_client_request"}) {
		t.Fatalf("deleted %v", del.Deleted)
	}
	if qc := m.queryConfig(t, "temp"); !reflect.DeepEqual(qc.App.Envs, map[string]string{"default_ttl": "86400"}) {
		t.Fatalf("envs after delete: %v", qc.App.Envs)
	}

	// Drop, list, recall.
	if err := m.meta(ctx, protocol.MethodDropApp, &protocol.DropAppRequest{Name: "stat", ReserveSeconds: 3600}, &protocol.DropAppResponse{}); err != nil {
		t.Fatal(err)
	}
	err = m.meta(ctx, protocol.MethodQueryConfig, &protocol.QueryConfigRequest{AppName: "stat"}, &protocol.QueryConfigResponse{})
	wantCode(t, "query dropped table", err, protocol.CodeAppNotExist)
	apps := m.listApps(t)
	if len(apps) != 2 || apps[0].Name != "temp" || apps[0].Status != protocol.AppAvailable ||
		apps[1].Name != "stat" || apps[1].Status != protocol.AppDropped || apps[1].ExpireTimeMs-apps[1].DropTimeMs != 3600_000 {
		t.Fatalf("list apps after drop: %+v", apps)
	}
	var dropped protocol.ListAppsResponse
	if err := m.meta(ctx, protocol.MethodListApps, &protocol.ListAppsRequest{Status: protocol.AppDropped}, &dropped); err != nil {
		t.Fatal(err)
	}
	if len(dropped.Apps) != 1 || dropped.Apps[0].AppID != id2 {
		t.Fatalf("list dropped apps: %+v", dropped.Apps)
	}
	// The name is free again; a recall under the old name then collides.
	id3 := m.createApp(t, "stat", 2)
	err = m.meta(ctx, protocol.MethodRecallApp, &protocol.RecallAppRequest{AppID: id2}, &protocol.RecallAppResponse{})
	wantCode(t, "recall onto a taken name", err, protocol.CodeAppExist)
	var rec protocol.RecallAppResponse
	if err := m.meta(ctx, protocol.MethodRecallApp, &protocol.RecallAppRequest{AppID: id2, NewName: "stat_old"}, &rec); err != nil {
		t.Fatal(err)
	}
	if rec.App.AppID != id2 || rec.App.Name != "stat_old" || rec.App.Status != protocol.AppAvailable || rec.App.PartitionCount != 4 {
		t.Fatalf("recalled %+v", rec.App)
	}
	err = m.meta(ctx, protocol.MethodRecallApp, &protocol.RecallAppRequest{AppID: id2}, &protocol.RecallAppResponse{})
	wantCode(t, "recall an available table", err, protocol.CodeAppExist)
	err = m.meta(ctx, protocol.MethodRecallApp, &protocol.RecallAppRequest{AppID: 999}, &protocol.RecallAppResponse{})
	wantCode(t, "recall an unknown id", err, protocol.CodeAppNotExist)
	if qc := m.queryConfig(t, "stat_old"); qc.App.AppID != id2 || len(qc.Partitions) != 4 {
		t.Fatalf("recalled table config: %+v", qc.App)
	}
	if qc := m.queryConfig(t, "stat"); qc.App.AppID != id3 {
		t.Fatalf("new table config: %+v", qc.App)
	}
	var ci protocol.ClusterInfoResponse
	if err := m.meta(ctx, protocol.MethodClusterInfo, &protocol.ClusterInfoRequest{}, &ci); err != nil {
		t.Fatal(err)
	}
	if ci.AppCount != 3 || ci.MetaLeader == "" || ci.ClusterName != "onebox" {
		t.Fatalf("cluster info %+v", ci)
	}
}

func TestTablesLocalStore(t *testing.T) {
	srv := start(t, localConfig(t.TempDir()))
	testTables(t, &metaCaller{c: newClient(t), metas: []string{srv.RPCAddr()}})
}

func TestTablesZooKeeper(t *testing.T) {
	zk := zktest.Start(t)
	srv := start(t, zkConfig(zk.Addr(), "/pegasus"))
	m := &metaCaller{c: newClient(t), metas: []string{srv.RPCAddr()}}
	testTables(t, m)

	// A second meta server on the same ZooKeeper follows and takes over
	// when the leader closes, without losing a table.
	follower := start(t, zkConfig(zk.Addr(), "/pegasus"))
	waitFor(t, "first leader", srv.IsLeader)
	if follower.IsLeader() {
		t.Fatal("two leaders")
	}
	before := m.listApps(t)
	srv.Close()
	waitFor(t, "takeover", follower.IsLeader)
	m2 := &metaCaller{c: newClient(t), metas: []string{follower.RPCAddr()}}
	if after := m2.listApps(t); !reflect.DeepEqual(before, after) {
		t.Fatalf("tables after failover:\n%+v\nwant\n%+v", after, before)
	}
}
