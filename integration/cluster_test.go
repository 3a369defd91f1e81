package integration

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/pegasus-go/pegasus/client-go/admin"
	"github.com/pegasus-go/pegasus/client-go/pegasus"
	"github.com/pegasus-go/pegasus/integration/internal/harness"
	"github.com/pegasus-go/pegasus/shared/protocol"
	"github.com/pegasus-go/pegasus/shared/zktest"
	"github.com/pegasus-go/pegasus/tools/onebox"
)

func TestMain(m *testing.M) { os.Exit(harness.Main(m)) }

const (
	rows       = 10000
	workers    = 32
	partitions = 8
)

// TestClusterOnZooKeeper runs a cluster of real processes on a real
// ZooKeeper (2 meta servers, 3 replica servers) through kills of every
// replica server, a drop and recall, and the loss of the meta leader, and
// checks after each that every acknowledged row is still there.
func TestClusterOnZooKeeper(t *testing.T) {
	harness.SkipExternal(t)
	if err := zktest.Available(zktest.Options{}); err != nil {
		t.Fatal(err)
	}
	c := harness.Start(t, onebox.Options{
		Metas: 2, Replicas: 3, ZooKeeper: true,
		MetaSettings: []string{
			"meta_server.lease=4s", "meta_server.grace=6s", "meta_server.guardian_interval=500ms",
			"zookeeper.session_timeout=3s",
		},
		ReplicaSettings: []string{
			"replica_server.beacon_interval=500ms", "replication.config_sync_interval=1s",
		},
	})
	metas := c.MetaServers("onebox")
	ac, err := admin.New(admin.Config{MetaServers: metas, AttemptTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer ac.Close()
	client, err := pegasus.NewClient(pegasus.Config{MetaServers: metas})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	ctx := context.Background()
	phase := phaseTimer(t)

	// A table of 8 partitions, 10,000 rows written concurrently.
	const name = "survivor"
	appID, err := ac.CreateApp(ctx, name, admin.CreateAppOptions{PartitionCount: partitions})
	if err != nil {
		t.Fatal(err)
	}
	waitPrimaries(t, ac, name)
	table, err := client.OpenTable(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := harness.WriteRows(wctx, table, rows, workers); err != nil {
		t.Fatal(err)
	}
	phase("write %d rows", rows)
	checkRows(t, table, "after the writes")
	phase("read %d rows", rows)

	// SIGKILL every replica server, wait until the meta leader has
	// declared them dead (their partitions lose their primaries), start
	// them again, read everything.
	for _, r := range c.Instances("onebox", onebox.RoleReplica) {
		c.Kill(r)
	}
	waitNodes(t, ac, protocol.NodeDead, c.State.Cluster("onebox").Replicas)
	phase("kill every replica server, meta declares them dead")
	for _, r := range c.Instances("onebox", onebox.RoleReplica) {
		c.Restart(r)
	}
	checkRows(t, table, "after SIGKILL and restart of every replica server")
	phase("restart every replica server, read all")

	// Drop: gone from ls; recall: every row back.
	if err := ac.DropApp(ctx, name, 0); err != nil {
		t.Fatal(err)
	}
	apps, err := ac.ListApps(ctx, protocol.AppAvailable)
	if err != nil {
		t.Fatal(err)
	}
	if slices.ContainsFunc(apps, func(a protocol.AppInfo) bool { return a.Name == name }) {
		t.Fatalf("dropped table %s still listed: %+v", name, apps)
	}
	if _, err := ac.QueryConfig(ctx, name); !errors.Is(err, admin.ErrAppNotFound) {
		t.Fatalf("query config of the dropped table: %v, want ErrAppNotFound", err)
	}
	if _, err := ac.RecallApp(ctx, appID, ""); err != nil {
		t.Fatal(err)
	}
	waitPrimaries(t, ac, name)
	checkRows(t, table, "after drop and recall")
	phase("drop, recall, read all")

	// SIGKILL the meta leader: the other meta server takes over and still
	// has the table and its data.
	info, err := ac.ClusterInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	old := info.MetaLeader
	c.Kill(c.InstanceByRPC(old))
	deadline := time.Now().Add(time.Minute)
	for {
		cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		info, err = ac.ClusterInfo(cctx)
		cancel()
		if err == nil && info.MetaLeader != "" && info.MetaLeader != old {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no new meta leader a minute after killing %s: last answer %+v, %v", old, info, err)
		}
		time.Sleep(100 * time.Millisecond) // polling other processes
	}
	t.Logf("meta leader %s killed; %s leads now", old, info.MetaLeader)
	apps, err = ac.ListApps(ctx, protocol.AppAvailable)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(apps, func(a protocol.AppInfo) bool { return a.Name == name && a.AppID == appID }) {
		t.Fatalf("table %s (app id %d) missing after the failover: %+v", name, appID, apps)
	}
	waitPrimaries(t, ac, name)
	checkRows(t, table, "after the meta leader's SIGKILL")
	phase("meta failover, read all")
}

// checkRows reads every row back, giving the cluster a minute to serve
// every partition again.
func checkRows(t *testing.T, table *pegasus.Table, when string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := harness.CheckRows(ctx, table, rows, workers); err != nil {
		t.Fatalf("%s: %v", when, err)
	}
}

// waitNodes polls the node list until every address in addrs has status.
func waitNodes(t *testing.T, ac *admin.Client, status protocol.NodeStatus, addrs []string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		nodes, err := ac.ListNodes(ctx, status)
		cancel()
		if err == nil && !slices.ContainsFunc(addrs, func(a string) bool {
			return !slices.ContainsFunc(nodes, func(n protocol.NodeInfo) bool { return n.Address == a })
		}) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nodes %v not all %v within a minute: %+v, %v", addrs, status, nodes, err)
		}
		time.Sleep(100 * time.Millisecond) // polling other processes
	}
}

func waitPrimaries(t *testing.T, ac *admin.Client, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := ac.WaitForPrimaries(ctx, name); err != nil {
		t.Fatalf("table %s: %v", name, err)
	}
}

// phaseTimer logs how long each phase of a test took.
func phaseTimer(t *testing.T) func(format string, args ...any) {
	last := time.Now()
	return func(format string, args ...any) {
		t.Helper()
		now := time.Now()
		t.Logf("%-50s %v", fmt.Sprintf(format, args...), now.Sub(last).Round(time.Millisecond))
		last = now
	}
}
