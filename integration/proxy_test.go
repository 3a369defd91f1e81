package integration

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pegasus-go/pegasus/client-go/admin"
	"github.com/pegasus-go/pegasus/client-go/pegasus"
	"github.com/pegasus-go/pegasus/integration/internal/harness"
	"github.com/pegasus-go/pegasus/shared/zktest"
	"github.com/pegasus-go/pegasus/tools/onebox"
)

// TestProxyRouteSwitch runs two real clusters on one real ZooKeeper with
// two real metaproxy processes in front of them (the first stopped midway). A client-go application writes
// continuously through the proxy; the operator denies writes on the source
// (timeout*write), switches the table's route with `admincli proxy set` and
// sets reconfig*all on the source. The application, never restarted nor
// reconfigured, follows the table to the target cluster (another app id
// and partition count) and keeps writing and reading there. Clearing the
// env restores the source's service. (No data is copied: moving the data
// is duplication's job, driven by migrate_table.)
func TestProxyRouteSwitch(t *testing.T) {
	harness.SkipExternal(t)
	if err := zktest.Available(zktest.Options{}); err != nil {
		t.Fatal(err)
	}
	c := harness.Start(t, onebox.Options{
		Clusters: 2, Metas: 1, Replicas: 1, ZooKeeper: true,
		ReplicaSettings: []string{"replica_server.beacon_interval=500ms", "replication.config_sync_interval=300ms"},
	})
	phase := phaseTimer(t)
	zkIn, err := c.State.Instance("zookeeper")
	if err != nil {
		t.Fatal(err)
	}
	zk := zkIn.RPCAddress
	src, dst := c.MetaServers("onebox"), c.MetaServers("onebox2")
	srcReplica := c.State.Cluster("onebox").Replicas[0]
	const table = "moving"
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	// The table on both clusters: 8 partitions on the source, 4 on the target.
	for i, metas := range [][]string{src, dst} {
		ac, err := admin.New(admin.Config{MetaServers: metas})
		if err != nil {
			t.Fatal(err)
		}
		defer ac.Close()
		if _, err := ac.CreateApp(ctx, table, admin.CreateAppOptions{PartitionCount: int32(8 >> i), ReplicaCount: 1}); err != nil {
			t.Fatal(err)
		}
		waitPrimaries(t, ac, table)
	}
	admincli := func(args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, filepath.Join(harness.Binaries(t), "admincli"), args...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("admincli %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	const root = "/pegasus-proxy"
	out := admincli("--zk", zk, "proxy", "set", table, "-c", "onebox", "-m", strings.Join(src, ","))
	t.Log(out)
	// Two proxies side by side: the first is stopped before the switch, so
	// the application re-resolves through the second.
	p1 := harness.StartProxy(t, zk, root)
	p := harness.StartProxy(t, zk, root)
	phase("clusters, tables, route and two proxies")

	client, err := pegasus.NewClient(pegasus.Config{MetaProxy: []string{p1.RPCAddr, p.RPCAddr}, AttemptTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	tb, err := client.OpenTable(ctx, table)
	if err != nil {
		t.Fatal(err)
	}
	if tb.PartitionCount() != 8 {
		t.Fatalf("opened through the proxy with %d partitions, want the source's 8", tb.PartitionCount())
	}
	load := harness.StartLoad(tb, harness.LoadOptions{Prefix: "mv", Workers: 4, PartitionCount: 8, WriteTimeout: 5 * time.Second})
	if err := load.WaitAcked(ctx, func(a []harness.Record) bool { return len(a) >= 200 }); err != nil {
		t.Fatal(err)
	}
	phase("200 writes through the proxy to the source")

	p1.Stop(t)

	// Deny writes on the source and wait until its replica drops them
	// (rejections with code ERR_TIMEOUT: other rejections, such as
	// ERR_OBJECT_NOT_FOUND while partitions open, do not count).
	rejected := func() float64 {
		v, err := metricSum(ctx, c.HTTPAddress(srcReplica), "rejected_requests_total", `code="ERR_TIMEOUT"`)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	base := rejected()
	admincli("-m", strings.Join(src, ","), "set_app_envs", "-a", table, "-e", "replica.deny_client_request=timeout*write")
	for rejected() < base+4 {
		if ctx.Err() != nil {
			t.Fatal("the source never started dropping writes")
		}
		time.Sleep(50 * time.Millisecond)
	}
	denied := time.Now()
	phase("source drops writes (timeout*write)")

	// Switch the route, then turn every request on the source away.
	out = admincli("--zk", zk, "--root", root, "proxy", "set", table, "-c", "onebox2", "-m", strings.Join(dst, ","))
	if !strings.Contains(out, "was cluster onebox,") {
		t.Fatalf("proxy set printed %q", out)
	}
	admincli("-m", strings.Join(src, ","), "set_app_envs", "-a", table, "-e", "replica.deny_client_request=reconfig*all")
	switched := time.Now()
	phase("route switched, source reconfig*all")

	// The application follows without a restart: 300 writes acknowledged
	// by the target, and the table now has the target's layout.
	after := func(a []harness.Record) int {
		n := 0
		for _, r := range a {
			if r.Start.After(switched) {
				n++
			}
		}
		return n
	}
	if err := load.WaitAcked(ctx, func(a []harness.Record) bool { return after(a) >= 300 }); err != nil {
		t.Fatalf("the application did not follow the switch: %v (%s)", err, load.Stop())
	}
	res := load.Stop()
	phase("300 writes after the switch")
	t.Logf("load: %s", res)
	if tb.PartitionCount() != 4 {
		t.Fatalf("after the switch the table has %d partitions, want the target's 4", tb.PartitionCount())
	}
	lastBefore, firstAfter := time.Time{}, time.Time{}
	for _, r := range res.Acked {
		if r.Done.Before(denied) && r.Done.After(lastBefore) {
			lastBefore = r.Done
		}
		if r.Done.After(denied) && (firstAfter.IsZero() || r.Done.Before(firstAfter)) {
			firstAfter = r.Done
		}
	}
	pause := firstAfter.Sub(lastBefore)
	t.Logf("write pause (last acknowledgement before the denial to the first after it): %v; route switched %v after the denial",
		pause.Round(time.Millisecond), switched.Sub(denied).Round(time.Millisecond))

	// Every write acknowledged after the switch is on the target, and reads
	// through the proxy are served there.
	target, err := pegasus.NewClient(pegasus.Config{MetaServers: dst})
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	ttb, err := target.OpenTable(ctx, table)
	if err != nil {
		t.Fatal(err)
	}
	var late harness.LoadResult
	for _, r := range res.Acked {
		if r.Start.After(switched) {
			late.Acked = append(late.Acked, r)
		}
	}
	if err := late.Verify(ctx, ttb, 8); err != nil {
		t.Fatalf("writes acknowledged after the switch, on the target: %v", err)
	}
	if err := late.Verify(ctx, tb, 8); err != nil {
		t.Fatalf("writes acknowledged after the switch, read through the proxy: %v", err)
	}
	phase("%d late writes verified on the target and through the proxy", len(late.Acked))

	// Every acknowledged write is on one of the clusters; the source
	// serves again once the env is cleared.
	admincli("-m", strings.Join(src, ","), "del_app_envs", "-a", table, "-k", "replica.deny_client_request")
	source, err := pegasus.NewClient(pegasus.Config{MetaServers: src})
	if err != nil {
		t.Fatal(err)
	}
	defer source.Close()
	stb, err := source.OpenTable(ctx, table)
	if err != nil {
		t.Fatal(err)
	}
	var early harness.LoadResult
	for _, r := range res.Acked {
		if !r.Start.After(switched) {
			if _, err := ttb.Get(ctx, r.HashKey, r.SortKey); errors.Is(err, pegasus.ErrNotFound) {
				early.Acked = append(early.Acked, r)
			} else if err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := early.Verify(ctx, stb, 8); err != nil {
		t.Fatalf("writes acknowledged before the switch (and not on the target), on the source after clearing the env: %v", err)
	}
	phase("%d early writes verified on the source", len(early.Acked))

	// The proxy's own view.
	routes, err := p.Get(ctx, "/metaproxy/routes")
	if err != nil || !strings.Contains(routes, `"cluster_name":"onebox2"`) {
		t.Fatalf("/metaproxy/routes = %s, %v", routes, err)
	}
	// Counters reach /metrics on the registry's next report tick.
	for {
		metrics, err := p.Get(ctx, "/metrics")
		if err == nil && strings.Contains(metrics, `pegasus_metaproxy_client_query_config_count_total{table="moving"}`) {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("proxy metrics lack the query count: %v\n%s", err, metrics)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// metricSum sums the series of the metric name whose labels contain
// label on the /metrics page at httpAddr.
func metricSum(ctx context.Context, httpAddr, name, label string) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+httpAddr+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return 0, err
	}
	var sum float64
	for line := range strings.Lines(string(b)) {
		rest, ok := strings.CutPrefix(line, name+"{")
		if !ok || !strings.Contains(rest, label) {
			continue
		}
		fields := strings.Fields(rest[strings.LastIndexByte(rest, '}')+1:])
		if len(fields) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			return 0, fmt.Errorf("%s/metrics: %q: %w", httpAddr, strings.TrimSpace(line), err)
		}
		sum += v
	}
	return sum, nil
}
