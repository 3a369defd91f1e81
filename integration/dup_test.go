package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pegasus-go/pegasus/client-go/pegasus"
	"github.com/pegasus-go/pegasus/integration/internal/harness"
	"github.com/pegasus-go/pegasus/shared/protocol"
	"github.com/pegasus-go/pegasus/tools/onebox"
)

// TestDuplication runs two real clusters (onebox and onebox2: one meta
// server and three replica servers each) on one real ZooKeeper and drives
// duplication between them with admincli as an operator would: `dup add`
// (incremental and full), `dup list`, `dup pause/start/remove` and
// `set_dup_fail_mode`. Data goes in and is read back through client-go; a
// table's content is compared across the clusters by a digest of every
// record (hashkey, sortkey, value, TTL or not) scanned through client-go.
// Each subtest uses tables of its own and leaves both clusters healthy.
//
// Sizes are small by default; PEGASUS_DUP_FULL=1 runs the sizes
// (50,000 writes per incremental run, 100,000 rows before a full
// duplication, a 60 s outage).
func TestDuplication(t *testing.T) {
	e := startDupClusters(t)
	sz := dupTestSizes()
	t.Logf("sizes: %+v", sz)
	t.Run("Incremental8To4", func(t *testing.T) { e.testIncremental(t, "inc84", 8, 4, sz.Writes) })
	t.Run("Incremental4To8", func(t *testing.T) { e.testIncremental(t, "inc48", 4, 8, sz.Writes) })
	t.Run("Full", func(t *testing.T) { e.testFull(t, "full", sz.FullRows) })
	t.Run("MultiMaster", func(t *testing.T) { e.testMultiMaster(t, "mm", sz.MultiMasterOps) })
	t.Run("KillSourcePrimary", func(t *testing.T) { e.testKillSourcePrimary(t, "kill") })
	t.Run("Operations", func(t *testing.T) { e.testOperations(t, "ops") })
	t.Run("RemoteDown", func(t *testing.T) { e.testRemoteDown(t, "outage", sz.Outage) })
}

// testIncremental duplicates a table of srcParts partitions on onebox to
// one of dstParts partitions on onebox2 and makes n mixed writes on the
// source from concurrent writers: after the duplication drained, both
// tables hold the same records.
func (e *dupEnv) testIncremental(t *testing.T, table string, srcParts, dstParts int32, n int) {
	phase := phaseTimer(t)
	src, dst := e.sides[0], e.sides[1]
	srcT := e.createTable(t, src, table, srcParts)
	dstT := e.createTable(t, dst, table, dstParts)
	phase("tables created (%d and %d partitions)", srcParts, dstParts)
	id := e.dupAdd(t, src, table, dst, false)
	e.waitDupStatus(t, src, table, id, "DS_LOG", 30*time.Second)
	e.waitStarted(t, src, table, id, 30*time.Second)
	phase("dup add -> DS_LOG, every primary started")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	start := time.Now()
	counts, err := mixedWrites(ctx, srcT, "k", n, 16)
	if err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	phase("%d writes on the source (%.0f/s): %v", n, float64(n)/stopped.Sub(start).Seconds(), counts)
	waited := e.waitDrained(t, src, table, id, stopped, 3*time.Minute)
	phase("drained (%v after the last write)", waited.Round(time.Millisecond))
	records := sameContent(t, srcT, dstT, fmt.Sprintf("%s@%s", table, src.name), fmt.Sprintf("%s@%s", table, dst.name))
	if records == 0 {
		t.Fatal("the tables are empty")
	}
	phase("digests compared")
}

// testFull loads rows into a table of 8 partitions with multi_set, then
// runs `dup add -p` while a client keeps writing: the follower table is
// created on onebox2 and copies the checkpoints, shipping starts, and
// after the drain both tables hold the same records and every
// acknowledged write is on the follower.
func (e *dupEnv) testFull(t *testing.T, table string, rows int) {
	phase := phaseTimer(t)
	src, dst := e.sides[0], e.sides[1]
	srcT := e.createTable(t, src, table, 8)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	const perHashKey = 100
	err := runN(ctx, (rows+perHashKey-1)/perHashKey, 8, func(ctx context.Context, h int) error {
		var sks, vals [][]byte
		for i := h * perHashKey; i < min(rows, (h+1)*perHashKey); i++ {
			sks = append(sks, fmt.Appendf(nil, "%03d", i%perHashKey))
			vals = append(vals, fmt.Appendf(nil, "row-%d-%x", i, i*2654435761))
		}
		return srcT.MultiSet(ctx, fmt.Appendf(nil, "row%05d", h), sks, vals, nil)
	})
	if err != nil {
		t.Fatal(err)
	}
	phase("%d rows loaded with multi_set", rows)

	load := harness.StartLoad(srcT, harness.LoadOptions{Prefix: "fl", Workers: 4, PartitionCount: 8, WriteTimeout: 5 * time.Second})
	defer load.Stop()
	if err := load.WaitAcked(ctx, func(a []harness.Record) bool { return len(a) >= 100 }); err != nil {
		t.Fatal(err)
	}
	id := e.dupAdd(t, src, table, dst, true)
	var seen []string
	waitFor(t, "the full duplication in DS_LOG", 5*time.Minute, func() string {
		d := findDup(e.dupList(t, src, table), id)
		if d == nil {
			return "not listed"
		}
		if len(seen) == 0 || seen[len(seen)-1] != d.Status {
			seen = append(seen, d.Status)
			phase("status %s", d.Status)
		}
		if d.Status != "DS_LOG" {
			return fmt.Sprintf("status %s: %+v", d.Status, d.Partitions)
		}
		return ""
	})
	t.Logf("statuses seen: %v", seen)
	acked := load.Acked()
	if err := load.WaitAcked(ctx, func(a []harness.Record) bool { return len(a) >= acked+200 }); err != nil {
		t.Fatal(err)
	}
	res := load.Stop()
	stopped := time.Now()
	phase("load stopped: %s", res)
	waited := e.waitDrained(t, src, table, id, stopped, 3*time.Minute)
	phase("drained (%v after the last write)", waited.Round(time.Millisecond))

	dstT, err := dst.client.OpenTable(ctx, table)
	if err != nil {
		t.Fatal(err)
	}
	if dstT.PartitionCount() != 8 {
		t.Errorf("the follower table has %d partitions, want 8", dstT.PartitionCount())
	}
	if err := res.Verify(ctx, dstT, 16); err != nil {
		t.Fatalf("on the follower: %v", err)
	}
	phase("every acknowledged write of the load is on the follower")
	n := sameContent(t, srcT, dstT, table+"@"+src.name, table+"@"+dst.name)
	if n < rows+len(res.Acked) {
		t.Errorf("%d records, want at least %d rows + %d acknowledged writes", n, rows, len(res.Acked))
	}
	t.Logf("dup_load_file_failed_count on %s: %v", dst.name, e.metricSum(t, dst, "dup_load_file_failed_count_total"))
	phase("digests compared")
}

// testMultiMaster duplicates a table of 4 partitions on onebox and one of
// 8 on onebox2 to each other and has both clusters write, delete, incr
// and check_and_set overlapping keys at the same time: after both
// duplications drained, both tables hold the same records.
func (e *dupEnv) testMultiMaster(t *testing.T, table string, ops int) {
	phase := phaseTimer(t)
	a, b := e.sides[0], e.sides[1]
	ta := e.createTable(t, a, table, 4)
	tb := e.createTable(t, b, table, 8)
	idAB := e.dupAdd(t, a, table, b, false)
	idBA := e.dupAdd(t, b, table, a, false)
	e.waitStarted(t, a, table, idAB, 30*time.Second)
	e.waitStarted(t, b, table, idBA, 30*time.Second)
	phase("two duplications started")
	convertedBefore := e.metricSum(t, a, "dup_disabled_non_idempotent_write_count_total") +
		e.metricSum(t, b, "dup_disabled_non_idempotent_write_count_total")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	counts := make([]map[string]int, 2)
	errs := make([]error, 2)
	for i, tab := range []*pegasus.Table{ta, tb} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			counts[i], errs[i] = multiMasterWrites(ctx, tab, e.sides[i].name, ops, 8)
		}()
	}
	wg.Wait()
	stopped := time.Now()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	phase("%d operations on each cluster: %v / %v", ops, counts[0], counts[1])
	// Metrics are published every second.
	want := counts[0]["incr"] + counts[1]["incr"] + counts[0]["check_and_set"] + counts[1]["check_and_set"]
	waitFor(t, "the conversions counted", 10*time.Second, func() string {
		converted := e.metricSum(t, a, "dup_disabled_non_idempotent_write_count_total") +
			e.metricSum(t, b, "dup_disabled_non_idempotent_write_count_total") - convertedBefore
		if converted < float64(want) {
			return fmt.Sprintf("dup_disabled_non_idempotent_write_count grew by %v, want at least the %d incrs and successful check_and_sets", converted, want)
		}
		return ""
	})
	e.waitDrained(t, a, table, idAB, stopped, 3*time.Minute)
	e.waitDrained(t, b, table, idBA, stopped, 3*time.Minute)
	phase("both duplications drained")
	sameContent(t, ta, tb, table+"@"+a.name, table+"@"+b.name)
	phase("digests compared")
}

// multiMasterWrites makes n operations on tb over a small key space shared
// with the other cluster: sets, multi_sets, dels, multi_dels, incrs and
// check_and_sets. Failed checks count as operations.
func multiMasterWrites(ctx context.Context, tb *pegasus.Table, who string, n, workers int) (map[string]int, error) {
	var mu sync.Mutex
	counts := map[string]int{}
	err := runN(ctx, n, workers, func(ctx context.Context, i int) error {
		hk := fmt.Appendf(nil, "mm%02d", i%48)
		sk := fmt.Appendf(nil, "s%d", (i/48)%4)
		val := fmt.Appendf(nil, "%s-%d", who, i)
		var op string
		var err error
		switch i % 10 {
		case 0, 1, 2:
			op = "set"
			err = tb.Set(ctx, hk, sk, val, nil)
		case 3:
			op = "multi_set"
			err = tb.MultiSet(ctx, hk, [][]byte{[]byte("s0"), []byte("s3")}, [][]byte{val, val}, nil)
		case 4:
			op = "del"
			err = tb.Del(ctx, hk, sk)
		case 5:
			op = "multi_del"
			_, err = tb.MultiDel(ctx, hk, [][]byte{[]byte("s1"), []byte("s2")})
		case 6, 7:
			op = "incr"
			_, err = tb.Incr(ctx, fmt.Appendf(nil, "ctr%d", i%8), []byte("n"), 1, nil)
		case 8:
			op = "check_and_set"
			_, err = tb.CheckAndSet(ctx, fmt.Appendf(nil, "cas%d", i%8), []byte("lock"), pegasus.CheckValueNotExist, nil,
				[]byte("lock"), val, nil)
			if errors.Is(err, pegasus.ErrCheckFailed) {
				op, err = "check_and_set_failed", nil
			}
		default:
			op = "del_lock"
			err = tb.Del(ctx, fmt.Appendf(nil, "cas%d", i%8), []byte("lock"))
		}
		if err != nil {
			return fmt.Errorf("%s: %s %s: %w", who, op, hk, err)
		}
		mu.Lock()
		counts[op]++
		mu.Unlock()
		return nil
	})
	return counts, err
}

// testKillSourcePrimary SIGKILLs the source primary of partition 0 while a
// load writes and the duplicators ship: a new primary takes over and
// resumes from the stored confirmed decree; after the restarted server is
// back and the duplication drained, every acknowledged write is on the
// target and both tables hold the same records.
func (e *dupEnv) testKillSourcePrimary(t *testing.T, table string) {
	phase := phaseTimer(t)
	src, dst := e.sides[0], e.sides[1]
	srcT := e.createTable(t, src, table, 4)
	dstT := e.createTable(t, dst, table, 8)
	id := e.dupAdd(t, src, table, dst, false)
	e.waitStarted(t, src, table, id, 30*time.Second)
	phase("duplication started")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	load := harness.StartLoad(srcT, harness.LoadOptions{Prefix: "kp", Workers: 6, PartitionCount: 4, WriteTimeout: 10 * time.Second})
	defer load.Stop()
	if err := load.WaitAcked(ctx, func(a []harness.Record) bool { return len(a) >= 500 }); err != nil {
		t.Fatal(err)
	}
	cfg, err := src.ac.QueryConfig(ctx, table)
	if err != nil {
		t.Fatal(err)
	}
	victim := cfg.Partitions[0].Primary
	name := e.c.InstanceByRPC(victim)
	shipped := e.metricSum(t, src, "dup_shipped_ops_total")
	t.Logf("killing %s (%s), primary of %s; %v entries shipped so far", name, victim, cfg.Partitions[0].Gpid, shipped)
	e.c.Kill(name)
	waitFor(t, "a new primary of partition 0", time.Minute, func() string {
		cfg, err := src.ac.QueryConfig(ctx, table)
		if err != nil {
			return err.Error()
		}
		if p := cfg.Partitions[0].Primary; p == "" || p == victim {
			return "primary " + p
		}
		return ""
	})
	phase("SIGKILL %s: partition 0 has a new primary", name)
	if err := load.WaitProgress(ctx, 100, 0, 1, 2, 3); err != nil {
		t.Fatal(err)
	}
	e.c.Restart(name)
	e.waitHealthy(t, src, table, 2*time.Minute)
	phase("%s restarted, table healthy", name)
	if err := load.WaitProgress(ctx, 50, 0, 1, 2, 3); err != nil {
		t.Fatal(err)
	}
	res := load.Stop()
	stopped := time.Now()
	phase("load stopped: %s", res)
	waited := e.waitDrained(t, src, table, id, stopped, 3*time.Minute)
	phase("drained (%v after the last write)", waited.Round(time.Millisecond))
	if err := res.Verify(ctx, dstT, 16); err != nil {
		t.Fatalf("on the target: %v", err)
	}
	phase("every acknowledged write is on the target")
	sameContent(t, srcT, dstT, table+"@"+src.name, table+"@"+dst.name)
}

// testOperations drives one duplication through the admincli commands and
// checks what they are documented to do: dup add's refusals, pause (the
// backlog stays, nothing arrives), start (it arrives), set_dup_fail_mode
// (reaches the primaries), remove (the duplicators and their GC floors are
// gone, nothing arrives any more), every command idempotent; and that the
// metrics and both HTTP pages show the duplication.
func (e *dupEnv) testOperations(t *testing.T, table string) {
	phase := phaseTimer(t)
	src, dst := e.sides[0], e.sides[1]
	srcT := e.createTable(t, src, table, 4)
	dstT := e.createTable(t, dst, table, 4)
	appID := src.appID(t, table)

	for _, c := range []struct{ args, want []string }{
		{[]string{"dup", "add", "-a", table, "-c", "nowhere"}, []string{"ERR_INVALID_PARAMETERS", `unknown remote cluster "nowhere"`}},
		{[]string{"dup", "add", "-a", table, "-c", src.name}, []string{"cannot duplicate to itself"}},
		{[]string{"dup", "add", "-a", "nosuch", "-c", dst.name}, []string{"ERR_APP_NOT_EXIST"}},
	} {
		out, err := e.admincliErr(src, c.args...)
		if err == nil {
			t.Fatalf("admincli %s succeeded: %q", strings.Join(c.args, " "), out)
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("admincli %s: %v; want it to say %q", strings.Join(c.args, " "), err, w)
			}
		}
	}
	id := e.dupAdd(t, src, table, dst, false)
	if _, err := e.admincliErr(src, "dup", "add", "-a", table, "-c", dst.name); err == nil ||
		!strings.Contains(err.Error(), "ERR_APP_EXIST") || !strings.Contains(err.Error(), strconv.Itoa(int(id))) {
		t.Errorf("a second dup add to the same remote table: %v; want ERR_APP_EXIST naming dupid %d", err, id)
	}
	e.waitStarted(t, src, table, id, 30*time.Second)
	phase("dup add refusals, dup add, started")

	writeKeys(t, srcT, "a", 200)
	e.waitDrained(t, src, table, id, time.Now(), time.Minute)
	checkKeys(t, dstT, "a", 200, true)
	phase("200 rows duplicated")

	// Pause: the duplicators stop, the backlog stays, nothing arrives.
	idArg := strconv.Itoa(int(id))
	for range 2 {
		if out := e.admincli(t, src, "dup", "pause", "-a", table, "-d", idArg); !strings.Contains(out, "status DS_PAUSE") {
			t.Fatalf("dup pause printed %q", out)
		}
	}
	e.waitPrimaries(t, src, appID, "the duplicators paused", func(d replicaDupView) string {
		if d.Status != "DS_PAUSE" || d.Running {
			return fmt.Sprintf("status %s running %v", d.Status, d.Running)
		}
		return ""
	})
	writeKeys(t, srcT, "b", 200)
	written := time.Now()
	waitFor(t, "dup list to show the paused backlog", 30*time.Second, func() string {
		d := findDup(e.dupList(t, src, table), id)
		var pending int64
		for _, p := range d.Partitions {
			rt, err := time.Parse(time.RFC3339, p.ReportTime)
			if err != nil || !rt.After(written) {
				return "no report after the writes yet"
			}
			pending += p.PendingMutations
		}
		if d.Status != "DS_PAUSE" || pending == 0 {
			return fmt.Sprintf("status %s, %d pending", d.Status, pending)
		}
		t.Logf("paused: %d mutations pending", pending)
		return ""
	})
	checkKeys(t, dstT, "b", 200, false)
	phase("paused: backlog listed, nothing shipped")

	// Start: the backlog arrives.
	for range 2 {
		if out := e.admincli(t, src, "dup", "start", "-a", table, "-d", idArg); !strings.Contains(out, "status DS_LOG") {
			t.Fatalf("dup start printed %q", out)
		}
	}
	e.waitDrained(t, src, table, id, written, time.Minute)
	checkKeys(t, dstT, "b", 200, true)
	phase("started: the backlog arrived")

	// The fail mode reaches the primaries, both ways.
	for _, mode := range []string{"FAIL_SKIP", "FAIL_SLOW"} {
		arg := strings.ToLower(strings.TrimPrefix(mode, "FAIL_"))
		for range 2 {
			if out := e.admincli(t, src, "set_dup_fail_mode", table, idArg, arg); !strings.Contains(out, "fail mode "+mode) {
				t.Fatalf("set_dup_fail_mode %s printed %q", arg, out)
			}
		}
		if d := findDup(e.dupList(t, src, table), id); d == nil || d.FailMode != mode {
			t.Fatalf("dup list after set_dup_fail_mode %s: %+v", arg, d)
		}
		e.waitPrimaries(t, src, appID, "the primaries in "+mode, func(d replicaDupView) string {
			if d.FailMode != mode {
				return "fail mode " + d.FailMode
			}
			return ""
		})
	}
	phase("set_dup_fail_mode skip, slow")

	e.checkPagesAndMetrics(t, table, appID, id)
	phase("pages and metrics")

	// Remove: the duplicators and the GC floors go, nothing ships any more.
	for range 2 {
		if out := e.admincli(t, src, "dup", "remove", "-a", table, "-d", idArg); !strings.Contains(out, "status DS_REMOVED") {
			t.Fatalf("dup remove printed %q", out)
		}
	}
	if d := findDup(e.dupList(t, src, table), id); d != nil {
		t.Fatalf("dup list still shows the removed duplication: %+v", d)
	}
	waitFor(t, "every replica without duplication", 30*time.Second, func() string {
		for _, p := range e.replicaDupPages(t, src, appID) {
			for _, part := range p.Partitions {
				if len(part.Dups) > 0 || part.GCFloor != -1 {
					return fmt.Sprintf("%s on %s: %d dups, GC floor %d", part.Gpid, p.Node, len(part.Dups), part.GCFloor)
				}
			}
		}
		return ""
	})
	writeKeys(t, srcT, "c", 100)
	written = time.Now()
	// Two syncs of every replica server with the meta after the writes:
	// a duplicator would have been started again by then.
	waitFor(t, "two duplication syncs after the writes", 30*time.Second, func() string {
		for _, p := range e.replicaDupPages(t, src, appID) {
			if p.LastSync.Before(written.Add(time.Second)) {
				return fmt.Sprintf("%s last synced at %v", p.Node, p.LastSync)
			}
		}
		return ""
	})
	checkKeys(t, dstT, "c", 100, false)
	phase("removed: GC floors released, nothing shipped")
}

// waitPrimaries waits until the duplication of every primary of table
// appID on side satisfies cond (which says why not, or "").
func (e *dupEnv) waitPrimaries(t *testing.T, side *dupSide, appID int32, what string, cond func(replicaDupView) string) {
	t.Helper()
	waitFor(t, what, 30*time.Second, func() string {
		primaries := 0
		for _, p := range e.replicaDupPages(t, side, appID) {
			for _, part := range p.Partitions {
				if part.Role != protocol.PartitionPrimary.String() {
					continue
				}
				primaries++
				if len(part.Dups) != 1 {
					return fmt.Sprintf("%s on %s: %d dups", part.Gpid, p.Node, len(part.Dups))
				}
				if why := cond(part.Dups[0]); why != "" {
					return fmt.Sprintf("%s on %s: %s", part.Gpid, p.Node, why)
				}
			}
		}
		if primaries == 0 {
			return "no primary listed"
		}
		return ""
	})
}

// checkPagesAndMetrics checks that the source meta's and replica servers'
// pages and both clusters' metrics show duplication id of table.
func (e *dupEnv) checkPagesAndMetrics(t *testing.T, table string, appID, id int32) {
	t.Helper()
	src, dst := e.sides[0], e.sides[1]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var page struct {
		AppID        int32  `json:"app_id"`
		AppName      string `json:"app_name"`
		Duplications []struct {
			DupID       int32    `json:"dupid"`
			Status      string   `json:"status"`
			Remote      string   `json:"remote"`
			RemoteMetas []string `json:"remote_metas"`
			CreateTs    string   `json:"create_ts"`
			FailMode    string   `json:"fail_mode"`
			Partitions  []struct {
				Index           int32  `json:"pidx"`
				Confirmed       int64  `json:"confirmed_decree"`
				StoredConfirmed int64  `json:"stored_confirmed_decree"`
				LastCommitted   int64  `json:"last_committed_decree"`
				ReportedBy      string `json:"reported_by"`
				ReportTime      string `json:"report_time"`
			} `json:"partitions"`
		} `json:"duplications"`
	}
	waitFor(t, "the meta page with the stored progress", 30*time.Second, func() string {
		if err := getJSONPage(ctx, e.c.HTTPAddress(src.metas[0]), "/meta/app/duplication?name="+table, &page); err != nil {
			return err.Error()
		}
		if page.AppID != appID || page.AppName != table || len(page.Duplications) != 1 {
			return fmt.Sprintf("page %+v", page)
		}
		d := page.Duplications[0]
		if d.DupID != id || d.Status != "DS_LOG" || d.Remote != dst.name || !slices.Equal(d.RemoteMetas, dst.metas) ||
			d.CreateTs == "" || d.FailMode != "FAIL_SLOW" || len(d.Partitions) != 4 {
			return fmt.Sprintf("duplication %+v", d)
		}
		for _, p := range d.Partitions {
			if p.StoredConfirmed < p.LastCommitted || p.Confirmed < p.StoredConfirmed || p.ReportedBy == "" || p.ReportTime == "" {
				return fmt.Sprintf("partition %+v", p)
			}
		}
		return ""
	})
	t.Logf("meta page: %+v", page)

	var shipped int64
	members := map[string]int{}
	for _, p := range e.replicaDupPages(t, src, appID) {
		if !p.Enabled || p.ClusterID != 1 || p.AppID != appID {
			t.Errorf("replica page of %s: enabled %v, cluster id %d, app id %d", p.Node, p.Enabled, p.ClusterID, p.AppID)
		}
		for _, part := range p.Partitions {
			members[part.Gpid]++
			if part.GCFloor < 0 || part.PlogMinDecree > part.GCFloor {
				t.Errorf("%s on %s (%s): GC floor %d, plog from %d", part.Gpid, p.Node, part.Role, part.GCFloor, part.PlogMinDecree)
			}
			if part.Role == protocol.PartitionPrimary.String() {
				d := part.Dups[0]
				if !d.Running || d.DupID != id || d.Remote != dst.name || d.Confirmed < d.MetaConfirmed || d.Confirmed < 0 {
					t.Errorf("%s on %s: %+v", part.Gpid, p.Node, d)
				}
				shipped += d.ShippedOps
			}
		}
	}
	if len(members) != 4 || shipped == 0 {
		t.Errorf("replica pages: members %v, %d entries shipped", members, shipped)
	}
	for _, m := range []struct {
		side *dupSide
		name string
	}{
		{src, "dup_shipped_ops_total"}, {src, "dup_shipped_bytes_total"}, {src, "dup_log_read_bytes_total"},
		{src, "dup_log_read_mutations_total"}, {dst, "duplicate_requests_total"}, {dst, "dup_time_lag_ms_count"},
	} {
		waitFor(t, m.name+" on "+m.side.name+" > 0", 10*time.Second, func() string {
			if v := e.metricSum(t, m.side, m.name); v <= 0 {
				return fmt.Sprint(v)
			}
			return ""
		})
	}
	for _, m := range []struct {
		side *dupSide
		name string
	}{
		{src, "dup_pending_mutations_count"}, {src, "dup_failed_shipping_ops_total"}, {src, "dup_lagging_writes_total"},
		{src, "dup_skipped_mutations_total"}, {dst, "dup_disabled_non_idempotent_write_count_total"},
	} {
		if !e.metricListed(t, m.side, m.name) {
			t.Errorf("%s is not on the /metrics pages of %s", m.name, m.side.name)
		}
	}
}

// metricListed reports whether a replica server of side lists metric name.
func (e *dupEnv) metricListed(t *testing.T, side *dupSide, name string) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, r := range side.replicas {
		var body string
		if err := getText(ctx, e.c.HTTPAddress(r), "/metrics", &body); err != nil {
			t.Fatal(err)
		}
		for line := range strings.Lines(body) {
			if rest, ok := strings.CutPrefix(line, name); ok && rest != "" && (rest[0] == '{' || rest[0] == ' ') {
				return true
			}
		}
	}
	return false
}

// writeKeys sets rows prefix-0 .. prefix-(n-1) of tb.
func writeKeys(t *testing.T, tb *pegasus.Table, prefix string, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := runN(ctx, n, 8, func(ctx context.Context, i int) error {
		return tb.Set(ctx, rowKey(prefix, i), []byte("s"), rowValue(prefix, i, 0), nil)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// checkKeys fails t unless rows prefix-0 .. prefix-(n-1) of tb are all
// present with their values (present) or all absent.
func checkKeys(t *testing.T, tb *pegasus.Table, prefix string, n int, present bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	missing, wrong := countRows(ctx, t, tb, prefix, 0, n, 0)
	switch {
	case wrong > 0:
		t.Fatalf("%s: %d of rows %s-0..%d hold another value", tb.Name(), wrong, prefix, n-1)
	case present && missing > 0:
		t.Fatalf("%s: %d of rows %s-0..%d are missing", tb.Name(), missing, prefix, n-1)
	case !present && missing < n:
		t.Fatalf("%s: %d of rows %s-0..%d are present, want none", tb.Name(), n-missing, prefix, n-1)
	}
}

// countRows reads rows prefix-from .. prefix-(to-1) of tb (values of pad
// bytes, see rowValue) and counts the missing ones and those holding
// another value.
func countRows(ctx context.Context, t *testing.T, tb *pegasus.Table, prefix string, from, to, pad int) (missing, wrong int) {
	t.Helper()
	var mu sync.Mutex
	err := runN(ctx, to-from, 16, func(ctx context.Context, j int) error {
		i := from + j
		v, err := tb.Get(ctx, rowKey(prefix, i), []byte("s"))
		mu.Lock()
		defer mu.Unlock()
		switch {
		case errors.Is(err, pegasus.ErrNotFound):
			missing++
		case err != nil:
			return err
		case string(v) != string(rowValue(prefix, i, pad)):
			wrong++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return missing, wrong
}

func rowKey(prefix string, i int) []byte { return fmt.Appendf(nil, "%s-%06d", prefix, i) }

// rowValue is row i's value, padded with pad bytes.
func rowValue(prefix string, i, pad int) []byte {
	return append(fmt.Appendf(nil, "%s-%d-", prefix, i), bytes.Repeat([]byte{'x'}, pad)...)
}

// outagePad is the value size of the rows written during an outage: big
// enough to fill several plog segments (256 KiB here) per partition.
const outagePad = 1000

// testRemoteDown stops every replica server of onebox2 for outage while
// the source keeps taking writes. Under FAIL_SLOW the backlog is kept: the
// plog of every source replica stays above the confirmed decree (while a
// table without duplication, written the same way, has its plog
// collected), and after the remote returns everything arrives. Under
// FAIL_SKIP the duplicators skip what they cannot ship, dup list and the
// metrics count it, and what is written after the remote returned
// arrives.
func (e *dupEnv) testRemoteDown(t *testing.T, table string, outage time.Duration) {
	phase := phaseTimer(t)
	src, dst := e.sides[0], e.sides[1]
	srcT := e.createTable(t, src, table, 4)
	dstT := e.createTable(t, dst, table, 4)
	ctlT := e.createTable(t, src, table+"ctl", 4)
	appID, ctlID := src.appID(t, table), src.appID(t, table+"ctl")
	id := e.dupAdd(t, src, table, dst, false)
	idArg := strconv.Itoa(int(id))
	e.waitStarted(t, src, table, id, 30*time.Second)
	phase("tables and duplication ready")

	// FAIL_SLOW.
	down := e.stopReplicas(t, dst)
	downAt := time.Now()
	phase("every replica server of %s stopped", dst.name)
	// Write for the outage, and on until the control table's plog was
	// collected on every replica (a slow machine may need more data to
	// fill a segment); the duplicated table's is kept above the confirmed
	// decree on every replica.
	ctlCollected := func() string {
		for _, p := range e.replicaDupPages(t, src, ctlID) {
			for _, part := range p.Partitions {
				if part.PlogMinDecree <= 1 {
					return fmt.Sprintf("%s on %s: plog from decree %d (last committed %d)", part.Gpid, p.Node, part.PlogMinDecree, part.LastCommitted)
				}
			}
		}
		return ""
	}
	n := writeFor(t, outage, "slow", 0, outagePad, srcT, ctlT)
	for why := ctlCollected(); why != ""; why = ctlCollected() {
		if time.Since(downAt) > outage+3*time.Minute {
			t.Fatalf("the plog of the table without duplication is not collected: %s", why)
		}
		n += writeFor(t, time.Second, "slow", n, outagePad, srcT, ctlT)
	}
	phase("%d rows (%d bytes each) written to %s and %s during the outage", n, outagePad, table, table+"ctl")
	var pending int64
	for _, p := range e.replicaDupPages(t, src, appID) {
		for _, part := range p.Partitions {
			if part.GCFloor < 0 || part.PlogMinDecree > part.GCFloor || part.LastCommitted < part.GCFloor {
				t.Errorf("%s on %s (%s): plog from %d, GC floor %d, last committed %d: the backlog is not kept",
					part.Gpid, p.Node, part.Role, part.PlogMinDecree, part.GCFloor, part.LastCommitted)
			}
			if part.Role == protocol.PartitionPrimary.String() && len(part.Dups) == 1 {
				pending += part.Dups[0].PendingMutations
			}
		}
	}
	d := findDup(e.dupList(t, src, table), id)
	t.Logf("during the outage: %d mutations pending on the primaries; dup list: %+v", pending, d.Partitions)
	if pending == 0 {
		t.Errorf("no mutation pending during the outage")
	}
	phase("backlog kept, control table collected")
	// Source failovers while the backlog waits: SIGKILL the server holding
	// the primary of partition 0, restart it once another took over, twice
	// (the second time the restarted one may be promoted).
	for range 2 {
		e.killPrimary(t, src, table, 0)
	}
	phase("two source primaries of partition 0 killed and restarted")
	e.startReplicas(t, dst, down, table)
	back := time.Now()
	waited := e.waitDrained(t, src, table, id, back, 5*time.Minute)
	phase("%s back: drained %v after its replica servers were started", dst.name, waited.Round(time.Millisecond))
	sameContent(t, srcT, dstT, table+"@"+src.name, table+"@"+dst.name)

	// FAIL_SKIP.
	e.admincli(t, src, "set_dup_fail_mode", table, idArg, "skip")
	e.waitPrimaries(t, src, appID, "the primaries in FAIL_SKIP", func(d replicaDupView) string {
		if d.FailMode != "FAIL_SKIP" {
			return "fail mode " + d.FailMode
		}
		return ""
	})
	skippedMetric := e.metricSum(t, src, "dup_skipped_mutations_total")
	down = e.stopReplicas(t, dst)
	skipStart := time.Now()
	var skipped int64
	n = 0
	for {
		n += writeFor(t, 2*time.Second, "skip", n, 0, srcT)
		skipped = 0
		for _, p := range findDup(e.dupList(t, src, table), id).Partitions {
			skipped += p.SkippedMutations
		}
		if skipped > 0 && time.Since(skipStart) >= outage {
			break
		}
		if time.Since(skipStart) > 3*time.Minute {
			t.Fatalf("nothing skipped 3 minutes into the outage under FAIL_SKIP")
		}
	}
	phase("FAIL_SKIP outage: %d rows written, dup list reports %d mutations skipped", n, skipped)
	e.startReplicas(t, dst, down, table)
	writeKeys(t, srcT, "after", 300)
	e.waitDrained(t, src, table, id, time.Now(), 5*time.Minute)
	checkKeys(t, dstT, "after", 300, true)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	missing, wrong := countRows(ctx, t, dstT, "skip", 0, n, 0)
	// Batches may have been skipped after the count above, until the
	// remote was back: the drained duplication's count is final.
	skipped = 0
	for _, p := range findDup(e.dupList(t, src, table), id).Partitions {
		skipped += p.SkippedMutations
	}
	// A mutation may carry several rows (concurrent writes are batched),
	// so the rows lost are not bounded by the mutations skipped.
	t.Logf("of the %d rows written during the FAIL_SKIP outage, %d are missing on %s; %d mutations skipped", n, missing, dst.name, skipped)
	if wrong > 0 || skipped == 0 {
		t.Errorf("%d rows hold another value; %d mutations skipped", wrong, skipped)
	}
	waitFor(t, "dup_skipped_mutations_total to grow", 10*time.Second, func() string {
		if v := e.metricSum(t, src, "dup_skipped_mutations_total") - skippedMetric; v <= 0 {
			return fmt.Sprintf("grew by %v", v)
		}
		return ""
	})
	e.admincli(t, src, "set_dup_fail_mode", table, idArg, "slow")
	phase("remote back: rows written since arrived")
}

// killPrimary SIGKILLs the server holding the primary of partition pidx of
// table on side, waits for another primary, restarts the server and waits
// until the table is fully replicated again.
func (e *dupEnv) killPrimary(t *testing.T, side *dupSide, table string, pidx int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cfg, err := side.ac.QueryConfig(ctx, table)
	if err != nil {
		t.Fatal(err)
	}
	victim := cfg.Partitions[pidx].Primary
	name := e.c.InstanceByRPC(victim)
	e.c.Kill(name)
	waitFor(t, fmt.Sprintf("a new primary of partition %d", pidx), time.Minute, func() string {
		cfg, err := side.ac.QueryConfig(ctx, table)
		if err != nil {
			return err.Error()
		}
		if p := cfg.Partitions[pidx].Primary; p == "" || p == victim {
			return "primary " + p
		}
		return ""
	})
	e.c.Restart(name)
	e.waitHealthy(t, side, table, 2*time.Minute)
	t.Logf("%s (%s), primary of partition %d, killed and back", name, victim, pidx)
}

// stopReplicas SIGKILLs every replica server of side and returns their
// instance names.
func (e *dupEnv) stopReplicas(t *testing.T, side *dupSide) []string {
	t.Helper()
	names := e.c.Instances(side.name, onebox.RoleReplica)
	for _, n := range names {
		e.c.Kill(n)
	}
	return names
}

// startReplicas starts the named replica servers of side again and waits
// until table is healthy there.
func (e *dupEnv) startReplicas(t *testing.T, side *dupSide, names []string, table string) {
	t.Helper()
	for _, n := range names {
		e.c.Restart(n)
	}
	e.waitHealthy(t, side, table, 2*time.Minute)
}

// writeFor writes rows prefix-from, prefix-from+1, ... (values padded
// with pad bytes) to every table in tabs for d from 8 goroutines and
// returns how many rows it wrote: rows from .. from+n-1, all acknowledged.
func writeFor(t *testing.T, d time.Duration, prefix string, from, pad int, tabs ...*pegasus.Table) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d+2*time.Minute)
	defer cancel()
	end := time.Now().Add(d)
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for w := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(end) {
				i := from + int(next.Add(1)) - 1
				for _, tb := range tabs {
					if err := tb.Set(ctx, rowKey(prefix, i), []byte("s"), rowValue(prefix, i, pad), nil); err != nil {
						errs[w] = fmt.Errorf("set %s: %w", rowKey(prefix, i), err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	return int(next.Load())
}
