package embed_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pegasus-go/pegasus/metaserver/embed"
	"github.com/pegasus-go/pegasus/shared/config"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

// dupGroup is the [duplication-group] of the test clusters.
var dupGroup = map[string]int{"src": 1, "dst": 2}

// dupConfig is a local-store meta server of cluster name that knows the
// given remote clusters.
func dupConfig(dir, name string, clusters map[string]string) embed.Config {
	cfg := localConfig(dir)
	cfg.MetaServer.ClusterName = name
	cfg.Pegasus.Clusters = clusters
	cfg.DuplicationGroup = dupGroup
	cfg.MetaServer.DupProgressPersistInterval = config.Duration(time.Millisecond)
	return cfg
}

// dupPair starts a destination cluster and a source cluster that knows it
// as "dst".
func dupPair(t *testing.T) (src, dst *embed.Server, srcDir string) {
	t.Helper()
	dst = start(t, dupConfig(t.TempDir(), "dst", nil))
	srcDir = t.TempDir()
	src = start(t, dupConfig(srcDir, "src", map[string]string{"dst": dst.RPCAddr()}))
	waitFor(t, "leaders", func() bool { return src.IsLeader() && dst.IsLeader() })
	return src, dst, srcDir
}

func (m *metaCaller) addDup(ctx context.Context, app, remote string, full bool) (protocol.AddDuplicationResponse, error) {
	var resp protocol.AddDuplicationResponse
	err := m.meta(ctx, protocol.MethodAddDuplication, &protocol.AddDuplicationRequest{AppName: app, RemoteCluster: remote, Full: full}, &resp)
	return resp, err
}

func (m *metaCaller) queryDup(t *testing.T, app string) protocol.QueryDuplicationResponse {
	t.Helper()
	var resp protocol.QueryDuplicationResponse
	if err := m.meta(ctxT(t), protocol.MethodQueryDuplication, &protocol.QueryDuplicationRequest{AppName: app}, &resp); err != nil {
		t.Fatalf("query duplications of %s: %v", app, err)
	}
	return resp
}

func (m *metaCaller) modifyDup(ctx context.Context, req protocol.ModifyDuplicationRequest) (protocol.DuplicationEntry, error) {
	var resp protocol.ModifyDuplicationResponse
	err := m.meta(ctx, protocol.MethodModifyDuplication, &req, &resp)
	return resp.Dup, err
}

func (m *metaCaller) dupSync(t *testing.T, node string, progress ...protocol.DupProgress) protocol.DuplicationSyncResponse {
	t.Helper()
	var resp protocol.DuplicationSyncResponse
	err := m.call(ctxT(t), protocol.ServiceMetaInternal, protocol.MethodDuplicationSync,
		&protocol.DuplicationSyncRequest{Node: node, Progress: progress}, &resp)
	if err != nil {
		t.Fatalf("duplication sync: %v", err)
	}
	return resp
}

// dupOf returns the duplication dupid of a query answer, or nil.
func dupOf(q protocol.QueryDuplicationResponse, dupid int32) *protocol.DuplicationEntry {
	for i := range q.Dups {
		if q.Dups[i].DupID == dupid {
			return &q.Dups[i]
		}
	}
	return nil
}

func syncDup(r protocol.DuplicationSyncResponse, dupid int32) *protocol.DuplicationEntry {
	for i := range r.Dups {
		if r.Dups[i].DupID == dupid {
			return &r.Dups[i]
		}
	}
	return nil
}

func wantErr(t *testing.T, what string, err error, code protocol.ErrorCode, msg string) {
	t.Helper()
	wantCode(t, what, err, code)
	if !strings.Contains(err.Error(), msg) {
		t.Fatalf("%s: %q does not say %q", what, err, msg)
	}
}

// TestDuplicationCommands drives add, query, modify, the sync of replica
// servers, the page, a restart and the drop of a table on two in-process
// clusters.
func TestDuplicationCommands(t *testing.T) {
	src, dst, srcDir := dupPair(t)
	ctx := ctxT(t)
	client := newClient(t)
	m := &metaCaller{c: client, metas: []string{src.RPCAddr()}}
	remote := &metaCaller{c: client, metas: []string{dst.RPCAddr()}}
	appID := m.createApp(t, "t", 4)

	// Refusals.
	_, err := m.addDup(ctx, "t", "dst", false)
	wantErr(t, "incremental to a missing remote table", err, protocol.CodeAppNotExist, "table t on remote cluster dst does not exist: create it first")
	_, err = m.addDup(ctx, "t", "elsewhere", false)
	wantErr(t, "unknown remote", err, protocol.CodeInvalidArgument, `unknown remote cluster "elsewhere"`)
	_, err = m.addDup(ctx, "t", "src", false)
	wantErr(t, "to itself", err, protocol.CodeInvalidArgument, "cannot duplicate to itself")
	_, err = m.addDup(ctx, "nope", "dst", false)
	wantCode(t, "unknown table", err, protocol.CodeAppNotExist)

	// An incremental duplication reaches DS_LOG by itself; partition
	// counts may differ.
	remote.createApp(t, "t", 8)
	add, err := m.addDup(ctx, "t", "dst", false)
	if err != nil {
		t.Fatal(err)
	}
	if add.AppID != appID || add.DupID <= 0 || add.RemoteAppName != "t" {
		t.Fatalf("add: %+v", add)
	}
	_, err = m.addDup(ctx, "t", "dst", false)
	wantErr(t, "second duplication to the same table", err, protocol.CodeAppExist, "[dupid: ")
	_, err = m.addDup(ctx, "t", "dst", true)
	wantCode(t, "second (full) duplication to the same table", err, protocol.CodeAppExist)
	waitFor(t, "DS_LOG", func() bool { return dupOf(m.queryDup(t, "t"), add.DupID).Status == protocol.DupStatusLog })
	e := dupOf(m.queryDup(t, "t"), add.DupID)
	if e.RemoteCluster != "dst" || e.FailMode != protocol.DupFailSlow || e.Full || len(e.Partitions) != 4 ||
		!slices.Equal(e.RemoteMetas, []string{dst.RPCAddr()}) || e.CreateTimestampMs <= 0 {
		t.Fatalf("query: %+v", e)
	}
	for i, p := range e.Partitions {
		if p.PartitionIndex != int32(i) || p.ConfirmedDecree != -1 {
			t.Fatalf("partition %d: %+v", i, p)
		}
	}

	// Pause, start and the fail mode; each idempotent.
	for range 2 {
		d, err := m.modifyDup(ctx, protocol.ModifyDuplicationRequest{AppName: "t", DupID: add.DupID, Status: protocol.DupStatusPause})
		if err != nil || d.Status != protocol.DupStatusPause {
			t.Fatalf("pause: %+v, %v", d, err)
		}
	}
	for range 2 {
		d, err := m.modifyDup(ctx, protocol.ModifyDuplicationRequest{AppName: "t", DupID: add.DupID, Status: protocol.DupStatusLog, SetFailMode: true, FailMode: protocol.DupFailSkip})
		if err != nil || d.Status != protocol.DupStatusLog || d.FailMode != protocol.DupFailSkip {
			t.Fatalf("start with fail mode: %+v, %v", d, err)
		}
	}
	_, err = m.modifyDup(ctx, protocol.ModifyDuplicationRequest{AppName: "t", DupID: add.DupID + 1000, Status: protocol.DupStatusPause})
	wantErr(t, "unknown dupid", err, protocol.CodeObjectNotFound, "has no duplication")
	_, err = m.modifyDup(ctx, protocol.ModifyDuplicationRequest{AppName: "nope", DupID: add.DupID, Status: protocol.DupStatusPause})
	wantCode(t, "unknown table", err, protocol.CodeAppNotExist)

	// A primary's progress: monotonic, stored, and given to every replica
	// server with the remote meta list.
	g := func(i int32) protocol.Gpid { return protocol.Gpid{AppID: appID, PartitionIndex: i} }
	resp := m.dupSync(t, "127.0.0.1:34801",
		protocol.DupProgress{Gpid: g(0), DupID: add.DupID, ConfirmedDecree: 10, LastCommitted: 12, PendingMutations: 2, LastError: "remote busy"},
		protocol.DupProgress{Gpid: g(9), DupID: add.DupID, ConfirmedDecree: 99},     // no such partition
		protocol.DupProgress{Gpid: g(1), DupID: add.DupID + 7, ConfirmedDecree: 99}) // no such duplication
	if sd := syncDup(resp, add.DupID); sd == nil || !slices.Equal(sd.RemoteMetas, []string{dst.RPCAddr()}) || sd.AppID != appID || len(sd.Partitions) != 4 {
		t.Fatalf("sync answer: %+v", resp)
	}
	m.dupSync(t, "127.0.0.1:34802", protocol.DupProgress{Gpid: g(0), DupID: add.DupID, ConfirmedDecree: 5}) // a former primary
	e = dupOf(m.queryDup(t, "t"), add.DupID)
	if p := e.Partitions[0]; p.ConfirmedDecree != 10 || p.LastCommitted != 0 || p.ReportTimeMs == 0 {
		t.Fatalf("partition 0 after a stale report: %+v", p)
	}
	m.dupSync(t, "127.0.0.1:34801", protocol.DupProgress{Gpid: g(0), DupID: add.DupID, ConfirmedDecree: 10, LastCommitted: 12, PendingMutations: 2, LastError: "remote busy"})
	waitFor(t, "the confirmed decree stored", func() bool {
		sd := syncDup(m.dupSync(t, "127.0.0.1:34801"), add.DupID)
		return sd != nil && sd.Partitions[0].ConfirmedDecree == 10
	})
	e = dupOf(m.queryDup(t, "t"), add.DupID)
	if p := e.Partitions[0]; p.ConfirmedDecree != 10 || p.LastCommitted != 12 || p.PendingMutations != 2 || p.LastError != "remote busy" {
		t.Fatalf("partition 0: %+v", p)
	}

	// The page.
	page := getJSON[map[string]any](t, "http://"+src.HTTPAddr()+"/meta/app/duplication?name=t", http.StatusOK)
	dups, _ := page["duplications"].([]any)
	if len(dups) != 1 {
		t.Fatalf("page: %v", page)
	}
	d0 := dups[0].(map[string]any)
	if d0["status"] != "DS_LOG" || d0["remote"] != "dst" || d0["fail_mode"] != "FAIL_SKIP" || d0["dupid"] != float64(add.DupID) {
		t.Fatalf("page entry: %v", d0)
	}
	p0 := d0["partitions"].([]any)[0].(map[string]any)
	if p0["confirmed_decree"] != float64(10) || p0["stored_confirmed_decree"] != float64(10) || p0["last_error"] != "remote busy" {
		t.Fatalf("page partition: %v", p0)
	}
	getJSON[map[string]any](t, "http://"+src.HTTPAddr()+"/meta/app/duplication?name=nope", http.StatusNotFound)
	getJSON[map[string]any](t, "http://"+src.HTTPAddr()+"/meta/app/duplication", http.StatusBadRequest)

	// A restarted meta server resumes from the store.
	src.Close()
	src = start(t, dupConfig(srcDir, "src", map[string]string{"dst": dst.RPCAddr()}))
	m.metas = []string{src.RPCAddr()}
	e = dupOf(m.queryDup(t, "t"), add.DupID)
	if e == nil || e.Status != protocol.DupStatusLog || e.FailMode != protocol.DupFailSkip || e.Partitions[0].ConfirmedDecree != 10 || e.Partitions[1].ConfirmedDecree != -1 {
		t.Fatalf("after restart: %+v", e)
	}

	// Remove: idempotent; a removed duplication is gone from queries and
	// syncs and frees the remote table for a new one.
	for range 2 {
		d, err := m.modifyDup(ctx, protocol.ModifyDuplicationRequest{AppName: "t", DupID: add.DupID, Status: protocol.DupStatusRemoved})
		if err != nil || d.Status != protocol.DupStatusRemoved {
			t.Fatalf("remove: %+v, %v", d, err)
		}
	}
	_, err = m.modifyDup(ctx, protocol.ModifyDuplicationRequest{AppName: "t", DupID: add.DupID, Status: protocol.DupStatusLog})
	wantErr(t, "start a removed duplication", err, protocol.CodeInvalidState, "was removed")
	if q := m.queryDup(t, "t"); len(q.Dups) != 0 {
		t.Fatalf("query after remove: %+v", q)
	}
	if sd := syncDup(m.dupSync(t, "127.0.0.1:34801"), add.DupID); sd != nil {
		t.Fatalf("sync still lists the removed duplication: %+v", sd)
	}
	add2, err := m.addDup(ctx, "t", "dst", false)
	if err != nil || add2.DupID == add.DupID {
		t.Fatalf("add after remove: %+v, %v", add2, err)
	}

	// Dropping the table removes its duplications; a recalled table has
	// none.
	if err := m.meta(ctx, protocol.MethodDropApp, &protocol.DropAppRequest{Name: "t"}, &protocol.DropAppResponse{}); err != nil {
		t.Fatal(err)
	}
	if sd := syncDup(m.dupSync(t, "127.0.0.1:34801"), add2.DupID); sd != nil {
		t.Fatalf("sync lists a duplication of a dropped table: %+v", sd)
	}
	if err := m.meta(ctx, protocol.MethodRecallApp, &protocol.RecallAppRequest{AppID: appID}, &protocol.RecallAppResponse{}); err != nil {
		t.Fatal(err)
	}
	if q := m.queryDup(t, "t"); len(q.Dups) != 0 {
		t.Fatalf("recalled table has duplications: %+v", q)
	}
}

// TestDuplicationDisabled: duplication_enabled = false refuses dup add.
func TestDuplicationDisabled(t *testing.T) {
	for _, off := range []func(*embed.Config){
		func(c *embed.Config) { c.MetaServer.DuplicationEnabled = false },
		func(c *embed.Config) { c.Replication.DuplicationEnabled = false },
	} {
		cfg := dupConfig(t.TempDir(), "src", map[string]string{"dst": "127.0.0.1:1"})
		off(&cfg)
		srv := start(t, cfg)
		m := &metaCaller{c: newClient(t), metas: []string{srv.RPCAddr()}}
		m.createApp(t, "t", 1)
		_, err := m.addDup(ctxT(t), "t", "dst", false)
		wantErr(t, "disabled", err, protocol.CodeInvalidConfig, "duplication is disabled")
		srv.Close()
	}
}

// TestRemovedDuplicationPurged: a removed duplication's record stays (a
// repeated remove succeeds, the page shows it) until the retention period
// has passed on the meta clock, then the leader deletes it.
func TestRemovedDuplicationPurged(t *testing.T) {
	dst := start(t, dupConfig(t.TempDir(), "dst", nil))
	clock := newFakeClock()
	cfg := dupConfig(t.TempDir(), "src", map[string]string{"dst": dst.RPCAddr()})
	cfg.Clock = clock.Now
	src := start(t, cfg)
	client := newClient(t)
	m := &metaCaller{c: client, metas: []string{src.RPCAddr()}}
	(&metaCaller{c: client, metas: []string{dst.RPCAddr()}}).createApp(t, "t", 1)
	m.createApp(t, "t", 1)
	ctx := ctxT(t)
	add, err := m.addDup(ctx, "t", "dst", false)
	if err != nil {
		t.Fatal(err)
	}
	if add.DupID != int32(clock.Now().Unix()) {
		t.Fatalf("dupid %d, want the creation time in seconds %d", add.DupID, clock.Now().Unix())
	}
	remove := protocol.ModifyDuplicationRequest{AppName: "t", DupID: add.DupID, Status: protocol.DupStatusRemoved}
	if _, err := m.modifyDup(ctx, remove); err != nil {
		t.Fatal(err)
	}
	// Let the executor see the removal at the current time, then pass the
	// retention period.
	waitFor(t, "the removal noticed", func() bool {
		step, _ := dupPage(t, src, "t", add.DupID)["step"].(string)
		return strings.Contains(step, "purged after the retention period")
	})
	clock.Advance(59 * time.Minute)
	if _, err := m.modifyDup(ctx, remove); err != nil {
		t.Fatalf("repeated remove: %v", err)
	}
	if p := dupPage(t, src, "t", add.DupID); p["status"] != "DS_REMOVED" {
		t.Fatalf("page before the retention ends: %v", p)
	}
	clock.Advance(2 * time.Minute)
	waitFor(t, "the purge", func() bool {
		page := getJSON[map[string]any](t, "http://"+src.HTTPAddr()+"/meta/app/duplication?name=t", http.StatusOK)
		return len(page["duplications"].([]any)) == 0
	})
	_, err = m.modifyDup(ctx, remove)
	wantCode(t, "remove after the purge", err, protocol.CodeObjectNotFound)
}
