package admin_test

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/pegasus-go/pegasus/client-go/admin"
	"github.com/pegasus-go/pegasus/client-go/admin/admintest"
	"github.com/pegasus-go/pegasus/shared/protocol"
	"github.com/pegasus-go/pegasus/shared/rpc"
)

func TestMain(m *testing.M) {
	rpc.SetFrameworkLogger(slog.New(slog.DiscardHandler))
	goleak.VerifyTestMain(m)
}

var nodes = []string{"127.0.0.1:34801", "127.0.0.1:34802"}

func setup(t *testing.T) (*admintest.Cluster, *admintest.Meta, *admin.Client) {
	t.Helper()
	c := admintest.NewCluster(admintest.Options{Name: "test", Nodes: nodes})
	m, err := c.StartMeta()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	cl, err := admin.New(admin.Config{MetaServers: []string{m.Addr()}}, admin.WithPollInterval(time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.Close() })
	return c, m, cl
}

func TestTableLifecycle(t *testing.T) {
	ctx := context.Background()
	_, _, cl := setup(t)
	id, err := cl.CreateApp(ctx, "t1", admin.CreateAppOptions{PartitionCount: 4, Envs: map[string]string{"a": "1"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.CreateApp(ctx, "t1", admin.CreateAppOptions{PartitionCount: 4}); !errors.Is(err, admin.ErrAppExists) {
		t.Fatalf("second create: %v, want ErrAppExists", err)
	}
	qc, err := cl.WaitForPrimaries(ctx, "t1")
	if err != nil {
		t.Fatal(err)
	}
	if qc.App.AppID != id || qc.App.ReplicaCount != admin.DefaultReplicas || len(qc.Partitions) != 4 {
		t.Fatalf("query config: %+v", qc)
	}
	apps, err := cl.ListApps(ctx, protocol.AppAvailable)
	if err != nil || len(apps) != 1 || apps[0].Name != "t1" {
		t.Fatalf("ListApps = %+v, %v", apps, err)
	}
	if err := cl.DropApp(ctx, "t1", time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.QueryConfig(ctx, "t1"); !errors.Is(err, admin.ErrAppNotFound) || !errors.Is(err, protocol.CodeAppNotExist) {
		t.Fatalf("query dropped table: %v, want ErrAppNotFound", err)
	}
	all, err := cl.ListApps(ctx, protocol.AppInvalid)
	if err != nil || len(all) != 1 || all[0].Status != protocol.AppDropped || all[0].ExpireTimeMs-all[0].DropTimeMs != time.Hour.Milliseconds() {
		t.Fatalf("ListApps(all) = %+v, %v", all, err)
	}
	info, err := cl.RecallApp(ctx, id, "t2")
	if err != nil || info.Name != "t2" || info.Status != protocol.AppAvailable {
		t.Fatalf("RecallApp = %+v, %v", info, err)
	}
	if _, err := cl.QueryConfigByID(ctx, id); err != nil {
		t.Fatal(err)
	}
}

func TestEnvs(t *testing.T) {
	ctx := context.Background()
	_, _, cl := setup(t)
	if _, err := cl.CreateApp(ctx, "t", admin.CreateAppOptions{PartitionCount: 1}); err != nil {
		t.Fatal(err)
	}
	if err := cl.SetAppEnvs(ctx, "t", map[string]string{"x.a": "1", "x.b": "2", "y": "3"}); err != nil {
		t.Fatal(err)
	}
	deleted, err := cl.DelAppEnvs(ctx, "t", []string{"y", "missing"})
	if err != nil || !slices.Equal(deleted, []string{"y"}) {
		t.Fatalf("DelAppEnvs = %q, %v", deleted, err)
	}
	deleted, err = cl.ClearAppEnvs(ctx, "t", "x.")
	if err != nil || !slices.Equal(deleted, []string{"x.a", "x.b"}) {
		t.Fatalf("ClearAppEnvs = %q, %v", deleted, err)
	}
	envs, err := cl.GetAppEnvs(ctx, "t")
	if err != nil || envs == nil || len(envs) != 0 {
		t.Fatalf("GetAppEnvs = %v, %v", envs, err)
	}
	if err := cl.SetAppEnvs(ctx, "nope", map[string]string{"a": "b"}); !errors.Is(err, admin.ErrAppNotFound) {
		t.Fatalf("SetAppEnvs on missing table: %v", err)
	}
}

func TestNodesAndClusterInfo(t *testing.T) {
	ctx := context.Background()
	c, m, cl := setup(t)
	if _, err := cl.CreateApp(ctx, "t", admin.CreateAppOptions{PartitionCount: 4}); err != nil {
		t.Fatal(err)
	}
	c.SetNodeStatus("127.0.0.1:34803", protocol.NodeDead)
	ns, err := cl.ListNodes(ctx, protocol.NodeInvalid)
	if err != nil {
		t.Fatal(err)
	}
	want := []protocol.NodeInfo{
		{Address: nodes[0], Status: protocol.NodeAlive, PrimaryCount: 2},
		{Address: nodes[1], Status: protocol.NodeAlive, PrimaryCount: 2},
		{Address: "127.0.0.1:34803", Status: protocol.NodeDead},
	}
	if !slices.Equal(ns, want) {
		t.Fatalf("ListNodes = %+v, want %+v", ns, want)
	}
	ci, err := cl.ClusterInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ci.ClusterName != "test" || ci.MetaLeader != m.Addr() || ci.AliveNodes != 2 || ci.DeadNodes != 1 || ci.AppCount != 1 {
		t.Fatalf("ClusterInfo = %+v", ci)
	}
}

func TestLocalValidationSendsNothing(t *testing.T) {
	ctx := context.Background()
	c, _, cl := setup(t)
	for name, err := range map[string]error{
		"bad partitions": func() error { _, err := cl.CreateApp(ctx, "t", admin.CreateAppOptions{PartitionCount: 3}); return err }(),
		"no partitions":  func() error { _, err := cl.CreateApp(ctx, "t", admin.CreateAppOptions{}); return err }(),
		"bad replicas": func() error {
			_, err := cl.CreateApp(ctx, "t", admin.CreateAppOptions{PartitionCount: 1, ReplicaCount: 10})
			return err
		}(),
		"bad name": func() error {
			_, err := cl.CreateApp(ctx, "a b", admin.CreateAppOptions{PartitionCount: 1})
			return err
		}(),
		"empty env key": func() error {
			_, err := cl.CreateApp(ctx, "t", admin.CreateAppOptions{PartitionCount: 1, Envs: map[string]string{"": "x"}})
			return err
		}(),
		"negative hold": cl.DropApp(ctx, "t", -time.Second),
		"empty name":    cl.DropApp(ctx, "", 0),
		"bad id":        func() error { _, err := cl.RecallApp(ctx, 0, ""); return err }(),
		"no envs":       cl.SetAppEnvs(ctx, "t", nil),
		"no keys":       func() error { _, err := cl.DelAppEnvs(ctx, "t", nil); return err }(),
		"bad status":    func() error { _, err := cl.ListApps(ctx, 99); return err }(),
	} {
		if !errors.Is(err, admin.ErrInvalidArgument) {
			t.Errorf("%s: err = %v, want ErrInvalidArgument", name, err)
		}
	}
	for _, method := range []string{protocol.MethodCreateApp, protocol.MethodDropApp, protocol.MethodRecallApp, protocol.MethodSetAppEnvs, protocol.MethodDelAppEnvs, protocol.MethodListApps} {
		if n := c.Calls(method); n != 0 {
			t.Errorf("%s sent %d times", method, n)
		}
	}
}

func TestLeaderRedirect(t *testing.T) {
	ctx := context.Background()
	c := admintest.NewCluster(admintest.Options{Nodes: nodes})
	var ms []*admintest.Meta
	for range 2 {
		m, err := c.StartMeta()
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		ms = append(ms, m)
	}
	ms[0].SetFollower(ms[1].Addr())
	cl, err := admin.New(admin.Config{MetaServers: []string{ms[0].Addr()}})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := cl.CreateApp(ctx, "t", admin.CreateAppOptions{PartitionCount: 2}); err != nil {
		t.Fatal(err)
	}
	if cl.Leader() != ms[1].Addr() {
		t.Fatalf("leader = %q, want %q", cl.Leader(), ms[1].Addr())
	}
	if n := c.Calls(protocol.MethodCreateApp); n != 1 {
		t.Fatalf("CreateApp applied %d times", n)
	}
}

func TestWaitForPrimariesTimesOut(t *testing.T) {
	c := admintest.NewCluster(admintest.Options{}) // no nodes: no primaries
	m, err := c.StartMeta()
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	cl, err := admin.New(admin.Config{MetaServers: []string{m.Addr()}}, admin.WithPollInterval(time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := cl.CreateApp(context.Background(), "t", admin.CreateAppOptions{PartitionCount: 2}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := cl.WaitForPrimaries(ctx, "t"); protocol.CodeOf(err) != protocol.CodeTimeout {
		t.Fatalf("err = %v, want CodeTimeout", err)
	}
	if _, err := cl.WaitForPrimaries(context.Background(), "nope"); !errors.Is(err, admin.ErrAppNotFound) {
		t.Fatalf("err = %v, want ErrAppNotFound", err)
	}
}

func TestNewValidates(t *testing.T) {
	if _, err := admin.New(admin.Config{}); err == nil {
		t.Fatal("New accepted an empty meta list")
	}
	if _, err := admin.New(admin.Config{MetaServers: []string{"x:1"}, Timeout: -1}); err == nil {
		t.Fatal("New accepted a negative timeout")
	}
}

func TestSharedRPCClientIsNotClosed(t *testing.T) {
	_, m, _ := setup(t)
	rc, err := rpc.NewClient(rpc.ClientConfig{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	cl, err := admin.New(admin.Config{MetaServers: []string{m.Addr()}}, admin.WithRPCClient(rc))
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.Close(); err != nil {
		t.Fatal(err)
	}
	var resp protocol.ClusterInfoResponse
	if err := rc.Call(context.Background(), m.Addr(), protocol.ServiceMeta, protocol.MethodClusterInfo, &protocol.ClusterInfoRequest{}, &resp); err != nil {
		t.Fatalf("shared client unusable after admin Close: %v", err)
	}
}
