package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pegasus-go/pegasus/client-go/admin"
	"github.com/pegasus-go/pegasus/client-go/pegasus"
	"github.com/pegasus-go/pegasus/integration/internal/harness"
	"github.com/pegasus-go/pegasus/shared/zktest"
	"github.com/pegasus-go/pegasus/tools/onebox"
)

// TestMigrateTable moves a table between two real clusters with the real
// admincli `migrate_table`, while a client-go application that knows only
// a metaproxy writes and reads the table continuously. The application is
// never restarted nor reconfigured. Afterwards every write it got
// acknowledged (before, during and after the move) is on the target, its
// reads are served by the target and the source serves nothing; the write
// pause migrate_table reports stays under 5s.
func TestMigrateTable(t *testing.T) {
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
	dstReplica := c.State.Cluster("onebox2").Replicas[0]
	const table, root = "migrating", "/pegasus-proxy"
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	// The table exists on the source only: the full duplication creates
	// it on the target.
	sac, err := admin.New(admin.Config{MetaServers: src})
	if err != nil {
		t.Fatal(err)
	}
	defer sac.Close()
	if _, err := sac.CreateApp(ctx, table, admin.CreateAppOptions{PartitionCount: 8, ReplicaCount: 1}); err != nil {
		t.Fatal(err)
	}
	waitPrimaries(t, sac, table)
	srcCfg, err := sac.QueryConfig(ctx, table)
	if err != nil {
		t.Fatal(err)
	}
	admincli := func(args ...string) (stdout, stderr string, err error) {
		cmd := exec.CommandContext(ctx, filepath.Join(harness.Binaries(t), "admincli"), args...)
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		err = cmd.Run()
		return o.String(), e.String(), err
	}
	if out, errOut, err := admincli("--zk", zk, "proxy", "set", table, "-c", "onebox", "-m", strings.Join(src, ",")); err != nil {
		t.Fatalf("proxy set: %v\n%s%s", err, out, errOut)
	}
	p := harness.StartProxy(t, zk, root)
	phase("clusters, table on the source, route and proxy")

	// The application: writers (harness.Load) and readers of acknowledged
	// keys, all through the proxy.
	client, err := pegasus.NewClient(pegasus.Config{MetaProxy: []string{p.RPCAddr}, AttemptTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	tb, err := client.OpenTable(ctx, table)
	if err != nil {
		t.Fatal(err)
	}
	if tb.AppID() != srcCfg.App.AppID {
		t.Fatalf("opened through the proxy as app %d, want the source's %d", tb.AppID(), srcCfg.App.AppID)
	}
	// Data from before the duplication, which the full copy carries over.
	const preRows = 5000
	if err := harness.WriteRows(ctx, tb, preRows, 16); err != nil {
		t.Fatal(err)
	}
	phase("%d rows written before the move", preRows)
	load := harness.StartLoad(tb, harness.LoadOptions{Prefix: "mig", Workers: 4, PartitionCount: 8, WriteTimeout: 5 * time.Second})
	reads := startReader(tb, load)
	if err := load.WaitAcked(ctx, func(a []harness.Record) bool { return len(a) >= 300 }); err != nil {
		t.Fatal(err)
	}
	phase("300 writes through the proxy to the source")

	// migrate_table, the real binary, with the source replica servers'
	// HTTP endpoints from the onebox state.
	var httpAddrs []string
	for _, r := range c.State.Cluster("onebox").Replicas {
		httpAddrs = append(httpAddrs, r+"="+c.HTTPAddress(r))
	}
	migStart := time.Now()
	out, progress, err := admincli("-m", strings.Join(src, ","), "--json", "migrate_table", table, "-c", "onebox2",
		"--zk", zk, "--root", root, "--http_addresses", strings.Join(httpAddrs, ","), "--max_backlog", "200")
	migEnd := time.Now()
	t.Logf("migrate_table progress:\n%s", progress)
	if err != nil {
		t.Fatalf("migrate_table: %v\n%s", err, out)
	}
	var res struct {
		TargetCluster string   `json:"target_cluster"`
		TargetMetas   []string `json:"target_metas"`
		DupID         int32    `json:"dupid"`
		RouteVersion  int32    `json:"route_version"`
		WritePauseMs  int64    `json:"write_pause_ms"`
		Steps         []string `json:"steps"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("migrate_table output %q: %v", out, err)
	}
	phase("migrate_table")
	if res.TargetCluster != "onebox2" || len(res.Steps) != 8 || res.DupID == 0 || res.WritePauseMs <= 0 {
		t.Fatalf("migrate_table result %+v", res)
	}
	if !strings.Contains(progress, "write pause starts") || !strings.Contains(progress, "(deny -> route switched)") {
		t.Fatalf("the progress does not report the write pause:\n%s", progress)
	}
	pause := time.Duration(res.WritePauseMs) * time.Millisecond
	t.Logf("write pause reported by migrate_table (deny -> route switched): %v; migrate_table took %v", pause, migEnd.Sub(migStart).Round(time.Millisecond))
	if pause >= 5*time.Second {
		t.Errorf("write pause %v, want under 5s", pause)
	}

	// The application keeps going on the target: 300 more writes and 100
	// more reads, with no restart.
	if err := load.WaitAcked(ctx, func(a []harness.Record) bool { return countAfter(a, migEnd) >= 300 }); err != nil {
		t.Fatalf("the application did not follow the move: %v (%s)", err, load.Stop())
	}
	// Reads after the move: served by the target, none by the source.
	// (migrate_table saw the source's counters stand still, so they hold
	// every read the source served; counters reach /metrics on the
	// daemons' next report tick, hence the polling.)
	gets := func(replica string) float64 {
		t.Helper()
		v, err := c.MetricSum(ctx, replica, "get_qps_total")
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	srcGets0, dstGets0 := gets(srcReplica), gets(dstReplica)
	okBefore := reads.ok()
	if err := reads.waitOK(ctx, okBefore+100); err != nil {
		t.Fatal(err)
	}
	res2 := load.Stop()
	rs := reads.stop()
	okReads := rs.ok - okBefore
	phase("300 writes and %d reads after the move", okReads)
	t.Logf("load: %s; reads: %s", res2, rs)
	if len(rs.wrong) > 0 {
		t.Errorf("reads of acknowledged keys missed their value: %v", rs.wrong[:min(len(rs.wrong), 10)])
	}
	for gets(dstReplica)-dstGets0 < float64(okReads) {
		if ctx.Err() != nil {
			t.Fatalf("the target's get_qps_total grew by %v while the application completed %d reads", gets(dstReplica)-dstGets0, okReads)
		}
		time.Sleep(100 * time.Millisecond) // the target's next report tick
	}
	time.Sleep(1500 * time.Millisecond) // past the source's next report tick
	if d := gets(srcReplica) - srcGets0; d != 0 {
		t.Errorf("the source served %v reads after the move", d)
	}
	t.Logf("the target served the application's %d reads after the move, the source none", okReads)
	dac, err := admin.New(admin.Config{MetaServers: dst})
	if err != nil {
		t.Fatal(err)
	}
	defer dac.Close()
	dstCfg, err := dac.QueryConfig(ctx, table)
	if err != nil {
		t.Fatal(err)
	}
	if tb.AppID() != dstCfg.App.AppID || tb.PartitionCount() != 8 {
		t.Fatalf("the application's table is app %d with %d partitions, want the target's app %d", tb.AppID(), tb.PartitionCount(), dstCfg.App.AppID)
	}

	// Application-side view of the pause: the longest time without an
	// acknowledged write around the move.
	var gap time.Duration
	for pi := range int32(8) {
		gap = max(gap, res2.LongestGap(pi, migStart, migEnd))
	}
	t.Logf("longest gap between acknowledged writes of one partition during migrate_table: %v", gap.Round(time.Millisecond))

	// Every acknowledged write, before, during and after the move, is on
	// the target (read straight from the target cluster).
	target, err := pegasus.NewClient(pegasus.Config{MetaServers: dst})
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	ttb, err := target.OpenTable(ctx, table)
	if err != nil {
		t.Fatal(err)
	}
	if err := res2.Verify(ctx, ttb, 8); err != nil {
		t.Fatalf("on the target: %v", err)
	}
	if err := harness.CheckRows(ctx, ttb, preRows, 16); err != nil {
		t.Fatalf("rows written before the move, on the target: %v", err)
	}
	phase("%d acknowledged writes and %d earlier rows verified on the target", len(res2.Acked), preRows)

	// Rerunning finds the route switched and only verifies.
	out, progress, err = admincli("-m", strings.Join(src, ","), "migrate_table", table, "-c", "onebox2",
		"--zk", zk, "--root", root, "--http_addresses", strings.Join(httpAddrs, ","))
	if err != nil || !strings.Contains(progress+out, "resuming at step 7") || !strings.Contains(out, "done: onebox2 now serves") {
		t.Fatalf("rerun: %v\n%s%s", err, out, progress)
	}
	phase("rerun")
}

func countAfter(a []harness.Record, t time.Time) int {
	n := 0
	for _, r := range a {
		if r.Start.After(t) {
			n++
		}
	}
	return n
}

// reader reads acknowledged keys of a load continuously and checks each
// read returns the written value.
type reader struct {
	cancel context.CancelFunc
	done   chan struct{}
	mu     struct {
		sync.Mutex
		ok, failed int
		wrong      []string
		change     chan struct{}
	}
}

func startReader(tb *pegasus.Table, load *harness.Load) *reader {
	ctx, cancel := context.WithCancel(context.Background())
	r := &reader{cancel: cancel, done: make(chan struct{})}
	r.mu.change = make(chan struct{})
	go func() {
		defer close(r.done)
		for ctx.Err() == nil {
			acked := load.Snapshot()
			if len(acked) == 0 {
				time.Sleep(10 * time.Millisecond) // waiting for the first write
				continue
			}
			rec := acked[rand.IntN(len(acked))]
			rctx, rcancel := context.WithTimeout(ctx, 5*time.Second)
			v, err := tb.Get(rctx, rec.HashKey, rec.SortKey)
			rcancel()
			r.mu.Lock()
			switch {
			case err == nil && bytes.Equal(v, rec.Value):
				r.mu.ok++
				close(r.mu.change)
				r.mu.change = make(chan struct{})
			case err == nil || errors.Is(err, pegasus.ErrNotFound):
				r.mu.wrong = append(r.mu.wrong, string(rec.HashKey))
			case ctx.Err() == nil:
				r.mu.failed++
			}
			r.mu.Unlock()
		}
	}()
	return r
}

func (r *reader) ok() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.mu.ok
}

func (r *reader) waitOK(ctx context.Context, n int) error {
	for {
		r.mu.Lock()
		ok, ch := r.mu.ok, r.mu.change
		r.mu.Unlock()
		if ok >= n {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

type readStats struct {
	ok, failed int
	wrong      []string
}

func (s readStats) String() string {
	return fmt.Sprintf("%d ok, %d failed, %d wrong", s.ok, s.failed, len(s.wrong))
}

func (r *reader) stop() readStats {
	r.cancel()
	<-r.done
	r.mu.Lock()
	defer r.mu.Unlock()
	return readStats{ok: r.mu.ok, failed: r.mu.failed, wrong: r.mu.wrong}
}
