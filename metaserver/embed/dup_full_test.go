package embed_test

import (
	"fmt"
	"maps"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/pegasus-go/pegasus/metaserver/embed"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

// freeAddr returns a loopback address that was free a moment ago (the meta
// servers of a cluster must know each other's addresses before they start).
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// dupPage fetches a table's duplication page entry for dupid.
func dupPage(t *testing.T, srv *embed.Server, table string, dupid int32) map[string]any {
	t.Helper()
	page := getJSON[map[string]any](t, "http://"+srv.HTTPAddr()+"/meta/app/duplication?name="+table, http.StatusOK)
	for _, d := range page["duplications"].([]any) {
		if e := d.(map[string]any); e["dupid"] == float64(dupid) {
			return e
		}
	}
	t.Fatalf("page of %s lacks duplication %d: %v", table, dupid, page)
	return nil
}

func leaderOf(servers []*embed.Server) *embed.Server {
	if l := leaders(servers); len(l) == 1 {
		return l[0]
	}
	return nil
}

// TestFullDuplication takes a full duplication from DS_INIT to DS_LOG
// across two in-process clusters, with the source meta leader replaced in
// DS_PREPARE and in DS_APP: the follower table is created once on the
// destination with the master's envs, and the duplication reaches DS_LOG
// once the destination's partitions have primaries.
func TestFullDuplication(t *testing.T) {
	dst := start(t, dupConfig(t.TempDir(), "dst", nil))
	dstCaller := &metaCaller{c: newClient(t), metas: []string{dst.RPCAddr()}}
	srcDir := t.TempDir()
	addrs := []string{freeAddr(t), freeAddr(t)}
	srcConfig := func(i int) embed.Config {
		cfg := dupConfig(srcDir, "src", map[string]string{"dst": dst.RPCAddr()})
		cfg.MetaServer.RPCAddress = addrs[i]
		cfg.MetaServer.MetaServers = addrs
		return cfg
	}
	servers := []*embed.Server{start(t, srcConfig(0)), start(t, srcConfig(1))}
	waitFor(t, "a source leader", func() bool { return leaderOf(servers) != nil })
	m := &metaCaller{c: newClient(t), metas: addrs}
	appID := m.createApp(t, "full", 4)
	ctx := ctxT(t)

	// A full duplication to a table that exists without the master's envs
	// is refused.
	dstCaller.createApp(t, "plain", 2)
	m.createApp(t, "plain", 2)
	_, err := m.addDup(ctx, "plain", "dst", true)
	wantErr(t, "full to an existing table", err, protocol.CodeAppExist, "already exists: a full duplication creates it")

	add, err := m.addDup(ctx, "full", "dst", true)
	if err != nil {
		t.Fatal(err)
	}
	status := func() protocol.DupStatus { return dupOf(m.queryDup(t, "full"), add.DupID).Status }
	waitFor(t, "DS_PREPARE", func() bool { return status() == protocol.DupStatusPrepare })

	// Three of four primaries report a checkpoint decree: it waits for the
	// fourth, and says so.
	report := func(pidx ...int32) {
		var ps []protocol.DupProgress
		for _, i := range pidx {
			ps = append(ps, protocol.DupProgress{Gpid: protocol.Gpid{AppID: appID, PartitionIndex: i}, DupID: add.DupID,
				ConfirmedDecree: -1, CheckpointDecree: protocol.Decree(100 + i), LastCommitted: protocol.Decree(100 + i)})
		}
		m.dupSync(t, "127.0.0.1:34801", ps...)
	}
	report(0, 1, 2)
	waitFor(t, "the step to name partition 3", func() bool {
		step, _ := dupPage(t, leaderOf(servers), "full", add.DupID)["step"].(string)
		return strings.Contains(step, "1 of 4 partitions to report a checkpoint decree (partitions 3)")
	})
	if q := dupOf(m.queryDup(t, "full"), add.DupID); q.Partitions[1].CheckpointDecree != 101 || q.Status != protocol.DupStatusPrepare {
		t.Fatalf("query in DS_PREPARE: %+v", q)
	}

	// Failover in DS_PREPARE: the new leader has not seen the reports and
	// waits for them again; the replicas keep reporting.
	old := leaderOf(servers)
	old.Close()
	waitFor(t, "a new source leader", func() bool { l := leaderOf(servers); return l != nil && l != old })
	report(3)
	waitFor(t, "the new leader to wait for partitions 0-2", func() bool {
		step, _ := dupPage(t, leaderOf(servers), "full", add.DupID)["step"].(string)
		return strings.Contains(step, "3 of 4 partitions")
	})
	report(0, 1, 2, 3)
	waitFor(t, "DS_APP", func() bool { return status() == protocol.DupStatusApp })

	// DS_APP: the follower table is created on the destination with the
	// master's location; with no replica server there it waits for
	// primaries, and says so.
	wantEnvs := map[string]string{
		protocol.EnvDupMasterCluster: "src",
		protocol.EnvDupMasterMetas:   strings.Join(addrs, ","),
		protocol.EnvDupMasterApp:     "full",
	}
	waitFor(t, "the step to count remote primaries", func() bool {
		step, _ := dupPage(t, leaderOf(servers), "full", add.DupID)["step"].(string)
		return strings.Contains(step, "0 of 4 partitions have a primary")
	})
	qc := dstCaller.queryConfig(t, "full")
	if qc.App.PartitionCount != 4 || qc.App.ReplicaCount != 3 || !maps.Equal(qc.App.Envs, wantEnvs) {
		t.Fatalf("follower table: %+v", qc.App)
	}
	sd := syncDup(m.dupSync(t, "127.0.0.1:34801"), add.DupID)
	for i, p := range sd.Partitions {
		if want := protocol.Decree(100 + i); p.ConfirmedDecree != want || p.CheckpointDecree != want {
			t.Fatalf("stored progress of partition %d: %+v, want confirmed = checkpoint = %d", i, p, want)
		}
	}

	// Failover in DS_APP: the next leader finds the follower table it did
	// not create and counts it as created.
	servers = append(servers, start(t, srcConfig(0)))
	old = leaderOf(servers)
	old.Close()
	waitFor(t, "a third source leader", func() bool { l := leaderOf(servers); return l != nil && l != old })
	waitFor(t, "the new leader to wait for remote primaries", func() bool {
		p := dupPage(t, leaderOf(servers), "full", add.DupID)
		step, _ := p["step"].(string)
		return strings.Contains(step, "0 of 4 partitions have a primary") && p["last_error"] == nil
	})

	// A replica server joins the destination: its partitions get primaries
	// and the duplication starts shipping.
	startNode(t, []string{dst.RPCAddr()})
	waitFor(t, "DS_LOG", func() bool { return status() == protocol.DupStatusLog })
	var apps []string
	for _, a := range dstCaller.listApps(t) {
		apps = append(apps, fmt.Sprintf("%s/%d", a.Name, a.AppID))
	}
	if strings.Join(apps, ",") != "plain/1,full/2" {
		t.Fatalf("destination tables %v: want plain and one follower", apps)
	}
}

// TestFullDuplicationClash: a table with the follower's name that appears
// on the destination before DS_APP is an error the operator sees in the
// query and on the page; the duplication waits in DS_APP until removed.
func TestFullDuplicationClash(t *testing.T) {
	src, dst, _ := dupPair(t)
	m := &metaCaller{c: newClient(t), metas: []string{src.RPCAddr()}}
	dstCaller := &metaCaller{c: newClient(t), metas: []string{dst.RPCAddr()}}
	appID := m.createApp(t, "clash", 1)
	ctx := ctxT(t)
	add, err := m.addDup(ctx, "clash", "dst", true)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "DS_PREPARE", func() bool { return dupOf(m.queryDup(t, "clash"), add.DupID).Status == protocol.DupStatusPrepare })
	dstCaller.createApp(t, "clash", 1)
	m.dupSync(t, "127.0.0.1:34801", protocol.DupProgress{Gpid: protocol.Gpid{AppID: appID}, DupID: add.DupID, ConfirmedDecree: -1, CheckpointDecree: 5})
	waitFor(t, "the clash in the query", func() bool {
		e := dupOf(m.queryDup(t, "clash"), add.DupID)
		return e.Status == protocol.DupStatusApp && strings.Contains(e.Partitions[0].LastError, "meta: remote table clash on cluster dst exists but is not this duplication's follower")
	})
	if p := dupPage(t, src, "clash", add.DupID); !strings.Contains(p["last_error"].(string), "drop it or remove this duplication") {
		t.Fatalf("page: %v", p)
	}
	if _, err := m.modifyDup(ctx, protocol.ModifyDuplicationRequest{AppName: "clash", DupID: add.DupID, Status: protocol.DupStatusRemoved}); err != nil {
		t.Fatal(err)
	}
	if p := dupPage(t, src, "clash", add.DupID); p["status"] != "DS_REMOVED" || p["partitions"] != nil {
		t.Fatalf("page after remove: %v", p)
	}
}
