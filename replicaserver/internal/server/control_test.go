package server

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/vfs"

	"github.com/pegasus-go/pegasus/shared/protocol"
)

func (h *harness) propose(req *protocol.ConfigProposalRequest) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return h.client.Call(ctx, h.addr, protocol.ServiceReplicaControl, protocol.MethodConfigProposal, req, &protocol.ConfigProposalResponse{})
}

// nopCaller is a MetaCaller that is never reached.
type nopCaller struct{}

func (nopCaller) Call(context.Context, string, string, string, protocol.Message, protocol.Message) error {
	return protocol.Errorf(protocol.CodeNetworkFailure, "no meta")
}

func TestConfigProposal(t *testing.T) {
	fs := vfs.NewMem()
	h := newHarness(t, fs, newFakeFactory(), func(o *Options) { o.DataDirs = []string{"d0", "d1"} })
	app := testApp(4)
	g := protocol.Gpid{AppID: 1, PartitionIndex: 2}
	cfg := protocol.PartitionConfiguration{Gpid: g, Ballot: 3, Primary: h.addr, MaxReplicaCount: 3}
	req := &protocol.ConfigProposalRequest{Type: protocol.ConfigAssignPrimary, Node: h.addr, App: app, Config: cfg}

	// Opening, then the same proposal again: one replica, opened once.
	for range 2 {
		if err := h.propose(req); err != nil {
			t.Fatal(err)
		}
	}
	if n := h.fakes.openCount(); n != 1 {
		t.Fatalf("opened %d replicas, want 1", n)
	}
	f := h.fakes.replica(g)
	if f.opts.Config.Ballot != 3 || f.opts.App.PartitionCount != 4 || !strings.HasSuffix(f.opts.Dir, "/1.2") {
		t.Fatalf("opened with %+v", f.opts)
	}
	// A newer ballot goes to the replica.
	req.Config.Ballot = 4
	req.Config.Secondaries = []string{"other:1"}
	if err := h.propose(req); err != nil {
		t.Fatal(err)
	}
	if f.cfg.Ballot != 4 || len(f.cfg.Secondaries) != 1 {
		t.Fatalf("replica config %+v", f.cfg)
	}
	// An older one is refused with the replica's error.
	req.Config.Ballot = 2
	wantCode(t, h.propose(req), protocol.CodeStaleBallot)

	// A configuration that does not list this node cannot create a replica.
	g5 := protocol.Gpid{AppID: 1, PartitionIndex: 3}
	wantCode(t, h.propose(&protocol.ConfigProposalRequest{Type: protocol.ConfigAssignPrimary, Node: "other:1", App: app,
		Config: protocol.PartitionConfiguration{Gpid: g5, Ballot: 1, Primary: "other:1"}}), protocol.CodeInvalidArgument)
	// Nor can a partition outside the table, or mismatched table info.
	wantCode(t, h.propose(&protocol.ConfigProposalRequest{Type: protocol.ConfigAssignPrimary, Node: h.addr, App: app,
		Config: protocol.PartitionConfiguration{Gpid: protocol.Gpid{AppID: 1, PartitionIndex: 9}, Ballot: 1, Primary: h.addr}}), protocol.CodeInvalidArgument)
	wantCode(t, h.propose(&protocol.ConfigProposalRequest{Type: protocol.ConfigAssignPrimary, Node: h.addr, App: testApp(3),
		Config: protocol.PartitionConfiguration{Gpid: g5, Ballot: 1, Primary: h.addr}}), protocol.CodeInvalidArgument)
	if n := h.fakes.openCount(); n != 1 {
		t.Fatalf("opened %d replicas, want 1", n)
	}

	// Remove closes the replica and deletes its directory; twice is fine.
	rm := &protocol.ConfigProposalRequest{Type: protocol.ConfigRemove, Node: h.addr, App: app, Config: protocol.PartitionConfiguration{Gpid: g, Ballot: 5}}
	for range 2 {
		if err := h.propose(rm); err != nil {
			t.Fatal(err)
		}
	}
	if !f.closed {
		t.Fatal("replica not closed")
	}
	if _, err := fs.Stat(f.opts.Dir); err == nil {
		t.Fatalf("%s still exists", f.opts.Dir)
	}
	wantCode(t, h.call(protocol.MethodGet, &protocol.GetRequest{Header: protocol.RequestHeader{Gpid: g}, HashKey: []byte("k")}, &protocol.GetResponse{}), protocol.CodeObjectNotFound)
}

func TestDataDirsLeastLoaded(t *testing.T) {
	fs := vfs.NewMem()
	h := newHarness(t, fs, newFakeFactory(), func(o *Options) { o.DataDirs = []string{"d0", "d1", "d2"} })
	if err := h.srv.OpenTestReplica(testApp(8), 0, 1, 2, 3, 4, 5); err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, e := range h.srv.entries() {
		count[e.dir[:2]]++
	}
	if count["d0"] != 2 || count["d1"] != 2 || count["d2"] != 2 {
		t.Fatalf("replicas per dir: %v", count)
	}
	// After removing two replicas of d1, the next two new ones go there.
	var inD1 []protocol.Gpid
	for _, e := range h.srv.entries() {
		if e.dataDir == 1 {
			inD1 = append(inD1, e.gpid)
		}
	}
	for _, g := range inD1 {
		if err := h.srv.removeReplica(g); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.srv.OpenTestReplica(testApp(8), 6, 7); err != nil {
		t.Fatal(err)
	}
	for _, e := range h.srv.entries() {
		if e.gpid.PartitionIndex >= 6 && e.dataDir != 1 {
			t.Fatalf("replica %s went to %s, want d1", e.gpid, e.dir)
		}
	}
}

func TestReopenAtStart(t *testing.T) {
	fs := vfs.NewMem()
	fakes := newFakeFactory()
	h := newHarness(t, fs, fakes, func(o *Options) { o.DataDirs = []string{"d0", "d1"} })
	if err := h.srv.OpenTestReplica(testApp(4), 0, 1, 2); err != nil {
		t.Fatal(err)
	}
	e11, err := h.srv.lookup(protocol.Gpid{AppID: 1, PartitionIndex: 1})
	if err != nil {
		t.Fatal(err)
	}
	h.close()
	// Things that are not replica directories are ignored.
	for _, junk := range []string{"d0/junk", "d0/1.x", "d1/01.3", "d1/1.3.gar", "d0/-1.2"} {
		if err := fs.MkdirAll(junk, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	f, _ := fs.Create("d1/2.0")
	f.Close()
	// 1.1 fails to open: it is reported and the others are served.
	fakes.failDir = e11.dir
	h2 := newHarness(t, fs, fakes, func(o *Options) { o.DataDirs = []string{"d0", "d1"} })
	var got []string
	for _, e := range h2.srv.entries() {
		got = append(got, e.gpid.String())
		if e.appInfo().PartitionCount != 4 || e.appInfo().Name != "t" {
			t.Fatalf("reopened %s with table info %+v", e.gpid, e.appInfo())
		}
	}
	if strings.Join(got, ",") != "1.0,1.2" {
		t.Fatalf("reopened %v, want 1.0,1.2", got)
	}
	fails := h2.srv.OpenFailures()
	if len(fails) != 1 || !strings.HasSuffix(fails[0].Dir, "1.1") {
		t.Fatalf("open failures %+v", fails)
	}
	// The reopened replicas serve (no meta: lease forever).
	hk := keyFor(t, 2, 4)
	hdr := header(hk, 4)
	if err := h2.call(protocol.MethodSet, &protocol.SetRequest{Header: hdr, HashKey: hk, Value: []byte("v")}, &protocol.SetResponse{}); err != nil {
		t.Fatal(err)
	}
	if !fakes.replica(hdr.Gpid).lease().Equal(foreverLease) {
		t.Fatalf("lease %v", fakes.replica(hdr.Gpid).lease())
	}

	// The same gpid in two data dirs refuses to start.
	if err := fs.MkdirAll("d1/1.0", 0o755); err != nil {
		t.Fatal(err)
	}
	h2.close()
	_, err = New(Options{Node: "n:1", DataDirs: []string{"d0", "d1"}, FS: fs, OpenReplica: fakes.open})
	if err == nil || !strings.Contains(err.Error(), "found twice") {
		t.Fatalf("New with a duplicate replica: %v", err)
	}
}

func TestOpenTestReplicaRefusedWithMeta(t *testing.T) {
	h := newHarness(t, vfs.NewMem(), newFakeFactory(), func(o *Options) {
		o.MetaServers = []string{"127.0.0.1:1"}
		o.Meta = nopCaller{}
	})
	wantCode(t, h.srv.OpenTestReplica(testApp(1), 0), protocol.CodeInvalidState)
}

func TestParseReplicaDir(t *testing.T) {
	for name, ok := range map[string]bool{
		"1.0": true, "12.345": true, "0.1": false, "1": false, "1.": false, ".1": false, "a.1": false,
		"1.-1": false, "01.1": false, "1.01": false, "1.2.3": false, "99999999999.1": false, "+1.2": false,
	} {
		g, got := parseReplicaDir(name)
		if got != ok {
			t.Errorf("parseReplicaDir(%q) = %v, %v", name, g, got)
		}
		if ok && replicaDirName(g) != name {
			t.Errorf("round trip of %q gives %q", name, replicaDirName(g))
		}
	}
}
