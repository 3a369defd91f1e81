package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/vfs"
	"github.com/uber-go/tally/v4"

	"github.com/pegasus-go/pegasus/replicaserver/internal/learn"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

// router delivers calls between in-process replica servers and fake meta
// servers, through the wire codecs, standing for the network between two
// clusters.
type router struct {
	mu       sync.Mutex
	servers  map[string]*Server
	metas    map[string]*fakeMasterMeta
	served   map[string]int64 // CopyFile bytes answered, per file
	copyHook func(ctx context.Context, req *protocol.CopyFileRequest, resp *protocol.CopyFileResponse) error
}

func newRouter() *router {
	return &router{servers: map[string]*Server{}, metas: map[string]*fakeMasterMeta{}, served: map[string]int64{}}
}

func (r *router) setServer(addr string, s *Server) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.servers[addr] = s
}

func (r *router) setHook(h func(context.Context, *protocol.CopyFileRequest, *protocol.CopyFileResponse) error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.copyHook = h
}

func (r *router) servedBytes() map[string]int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.served
	r.served = map[string]int64{}
	return out
}

func recode(from, to protocol.Message) error {
	b, err := from.AppendBinary(nil)
	if err != nil {
		return err
	}
	return to.UnmarshalBinary(b)
}

func (r *router) Call(ctx context.Context, addr, service, method string, req, resp protocol.Message) error {
	mi, ok := protocol.LookupMethod(service, method)
	if !ok {
		return protocol.Errorf(protocol.CodeUnknownMethod, "%s.%s", service, method)
	}
	in, out := mi.NewRequest(), mi.NewResponse()
	if err := recode(req, in); err != nil {
		return err
	}
	r.mu.Lock()
	srv, meta, hook := r.servers[addr], r.metas[addr], r.copyHook
	r.mu.Unlock()
	var err error
	switch {
	case service == protocol.ServicePeer && srv != nil:
		p := &peerService{s: srv}
		switch method {
		case protocol.MethodDupCheckpoint:
			err = p.DupCheckpoint(ctx, in.(*protocol.DupCheckpointRequest), out.(*protocol.DupCheckpointResponse))
		case protocol.MethodCopyFile:
			creq, cresp := in.(*protocol.CopyFileRequest), out.(*protocol.CopyFileResponse)
			if err = p.CopyFile(ctx, creq, cresp); err == nil {
				r.mu.Lock()
				r.served[creq.Path] += int64(len(cresp.Data))
				r.mu.Unlock()
				if hook != nil {
					err = hook(ctx, creq, cresp)
				}
			}
		default:
			err = protocol.Errorf(protocol.CodeUnknownMethod, "%s.%s", service, method)
		}
	case service == protocol.ServiceMeta && meta != nil:
		err = meta.call(method, in, out)
	default:
		err = protocol.Errorf(protocol.CodeNetworkFailure, "nothing listens on %s", addr)
	}
	if err != nil {
		return err
	}
	return recode(out, resp)
}

// fakeMasterMeta answers QueryConfig and QueryDuplication for the master
// table, or redirects to the leader.
type fakeMasterMeta struct {
	leader string // set on a follower meta: every call is redirected there
	config protocol.QueryConfigResponse
	dups   []protocol.DuplicationEntry // nil: QueryDuplication is unknown

	mu    sync.Mutex
	calls int
}

func (m *fakeMasterMeta) call(method string, in, out protocol.Message) error {
	m.mu.Lock()
	m.calls++
	m.mu.Unlock()
	if m.leader != "" {
		return protocol.Errorf(protocol.CodeForwardToOthers, "%s", m.leader)
	}
	switch method {
	case protocol.MethodQueryConfig:
		if in.(*protocol.QueryConfigRequest).AppName != m.config.App.Name {
			return protocol.Errorf(protocol.CodeAppNotExist, "no table %q", in.(*protocol.QueryConfigRequest).AppName)
		}
		return recode(&m.config, out)
	case protocol.MethodQueryDuplication:
		if m.dups == nil {
			return protocol.Errorf(protocol.CodeUnknownMethod, "no duplication support")
		}
		return recode(&protocol.QueryDuplicationResponse{AppID: m.config.App.AppID, Dups: m.dups}, out)
	}
	return protocol.Errorf(protocol.CodeUnknownMethod, "Meta.%s", method)
}

func (m *fakeMasterMeta) callCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.calls
}

// newRealServer is a Server on package replica's replicas without meta
// servers (every replica holds a lease that never ends).
func newRealServer(t *testing.T, fs vfs.FS, node, dir string, peers MetaCaller, scope tally.Scope, clock func() time.Time) *Server {
	t.Helper()
	s, err := New(Options{Node: node, DataDirs: []string{dir}, FS: fs, Peers: peers, Scope: scope, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

const masterNode, followerNode = "master:1", "follower:1"

// fillPartition writes rounds*perRound records (hashkey hk, 300-byte
// values) into s's partition of app 1, flushing the engine after each round
// so the checkpoint holds several sstables.
func fillPartition(t *testing.T, s *Server, g protocol.Gpid, partitions int32, hk []byte, rounds, perRound int) {
	t.Helper()
	d := &dataService{s: s}
	h := header(hk, partitions)
	if h.Gpid != g {
		t.Fatalf("hashkey %q maps to %s, want %s", hk, h.Gpid, g)
	}
	for r := range rounds {
		for i := range perRound {
			v := bytes.Repeat([]byte{byte(r*perRound + i)}, 300)
			sk := []byte(fmt.Sprintf("sk%05d", r*perRound+i))
			if err := d.Set(context.Background(), &protocol.SetRequest{Header: h, HashKey: hk, SortKey: sk, Value: v}, &protocol.SetResponse{}); err != nil {
				t.Fatal(err)
			}
		}
		e, err := s.lookup(g)
		if err != nil {
			t.Fatal(err)
		}
		eng, err := e.r.Engine()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := eng.Flush(); err != nil {
			t.Fatal(err)
		}
	}
}

func applied(t *testing.T, s *Server, g protocol.Gpid) protocol.Decree {
	t.Helper()
	_, r, err := s.peerReplica(g)
	if err != nil {
		t.Fatal(err)
	}
	return r.Status().LastApplied
}

func TestDupCheckpointServedAndReused(t *testing.T) {
	fs := vfs.NewMem()
	clock := newFakeClock()
	m := newRealServer(t, fs, masterNode, "m", nil, nil, clock.Now)
	defer m.Close()
	app := testApp(4)
	app.ReplicaCount = 1
	g := protocol.Gpid{AppID: 1, PartitionIndex: 2}
	if err := m.OpenTestReplica(app, 2); err != nil {
		t.Fatal(err)
	}
	hk := keyFor(t, 2, 4)
	fillPartition(t, m, g, 4, hk, 2, 20)
	ds := m.dupSource

	for _, bad := range []*protocol.DupCheckpointRequest{
		{Gpid: g, MinDecree: -1, Follower: "f"}, {Gpid: g},
	} {
		wantCode(t, ds.serve(bad, &protocol.DupCheckpointResponse{}), protocol.CodeInvalidArgument)
	}
	wantCode(t, ds.serve(&protocol.DupCheckpointRequest{Gpid: protocol.Gpid{AppID: 1, PartitionIndex: 1}, Follower: "f"},
		&protocol.DupCheckpointResponse{}), protocol.CodeObjectNotFound)
	// More than the primary applied: retry later.
	wantCode(t, ds.serve(&protocol.DupCheckpointRequest{Gpid: g, MinDecree: applied(t, m, g) + 1, Follower: "f"},
		&protocol.DupCheckpointResponse{}), protocol.CodeBusy)

	var first protocol.DupCheckpointResponse
	if err := ds.serve(&protocol.DupCheckpointRequest{Gpid: g, MinDecree: 30, Follower: "f1"}, &first); err != nil {
		t.Fatal(err)
	}
	if first.Gpid != g || first.PartitionCount != 4 || first.BaseDecree != 40 || !isDupCheckpointDir(first.Dir) || len(first.Files) < 3 {
		t.Fatalf("checkpoint %+v", first)
	}
	if err := checkDupCheckpoint(&first, g, 4, 30); err != nil {
		t.Fatal(err)
	}
	// Another follower replica and a retry get the same checkpoint, even
	// after the primary applied more.
	fillPartition(t, m, g, 4, hk, 1, 5)
	for _, f := range []string{"f2", "f1"} {
		var again protocol.DupCheckpointResponse
		if err := ds.serve(&protocol.DupCheckpointRequest{Gpid: g, MinDecree: 40, Follower: f}, &again); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(again, first) {
			t.Fatalf("follower %s got %+v, want %+v", f, again, first)
		}
	}

	// CopyFile serves listed files of the current checkpoint only.
	pc := &peerService{s: m}
	var chunk protocol.CopyFileResponse
	f0 := first.Files[0]
	if err := pc.CopyFile(context.Background(), &protocol.CopyFileRequest{Gpid: g, Dir: first.Dir, Path: f0.Name, MaxBytes: 1 << 20}, &chunk); err != nil {
		t.Fatal(err)
	}
	if int64(len(chunk.Data)) != f0.Size || learn.CRC32C(chunk.Data) != f0.CRC32C || !chunk.EOF {
		t.Fatalf("chunk of %s: %d bytes", f0.Name, len(chunk.Data))
	}
	for _, bad := range []struct {
		req  protocol.CopyFileRequest
		code protocol.ErrorCode
	}{
		{protocol.CopyFileRequest{Gpid: g, Dir: dupCheckpointPrefix + "999", Path: f0.Name, MaxBytes: 10}, protocol.CodeObjectNotFound},
		{protocol.CopyFileRequest{Gpid: g, Dir: first.Dir, Path: "data/none", MaxBytes: 10}, protocol.CodeObjectNotFound},
		{protocol.CopyFileRequest{Gpid: g, Dir: first.Dir, Path: "../../replica.json", MaxBytes: 10}, protocol.CodeInvalidArgument},
		{protocol.CopyFileRequest{Gpid: protocol.Gpid{AppID: 1, PartitionIndex: 3}, Dir: first.Dir, Path: f0.Name, MaxBytes: 10}, protocol.CodeObjectNotFound},
	} {
		wantCode(t, pc.CopyFile(context.Background(), &bad.req, &protocol.CopyFileResponse{}), bad.code)
	}
	v := ds.views()
	if len(v) != 1 || v[0].Dir != first.Dir || !reflect.DeepEqual(v[0].Followers, []string{"f1", "f2"}) || v[0].ServedBytes != f0.Size {
		t.Fatalf("views %+v", v)
	}

	// A higher minimum than the checkpoint holds replaces it.
	var second protocol.DupCheckpointResponse
	if err := ds.serve(&protocol.DupCheckpointRequest{Gpid: g, MinDecree: 45, Follower: "f3"}, &second); err != nil {
		t.Fatal(err)
	}
	if second.Dir == first.Dir || second.BaseDecree != 45 {
		t.Fatalf("replacement %+v", second)
	}
	e, _ := m.lookup(g)
	if _, err := fs.Stat(fs.PathJoin(e.dir, learnDirName, first.Dir)); err == nil {
		t.Fatal("the replaced checkpoint's directory is still there")
	}
	wantCode(t, pc.CopyFile(context.Background(), &protocol.CopyFileRequest{Gpid: g, Dir: first.Dir, Path: f0.Name, MaxBytes: 10},
		&protocol.CopyFileResponse{}), protocol.CodeObjectNotFound)

	// Idle checkpoints go after the timeout, not before.
	ds.tick(clock.Now().Add(DefaultDupCheckpointIdleTimeout - time.Second))
	if len(ds.views()) != 1 {
		t.Fatal("checkpoint removed before its idle timeout")
	}
	clock.Advance(DefaultDupCheckpointIdleTimeout)
	ds.tick(clock.Now())
	if len(ds.views()) != 0 {
		t.Fatal("idle checkpoint kept")
	}
	if _, err := fs.Stat(fs.PathJoin(e.dir, learnDirName, second.Dir)); err == nil {
		t.Fatal("the idle checkpoint's directory is still there")
	}

	// retain drops what the duplication no longer needs.
	if err := ds.serve(&protocol.DupCheckpointRequest{Gpid: g, Follower: "f1"}, &first); err != nil {
		t.Fatal(err)
	}
	ds.retain(func(x protocol.Gpid) bool { return x != g }, "duplication removed")
	if len(ds.views()) != 0 {
		t.Fatal("retain kept a checkpoint it was told to drop")
	}

	// Only a primary serves; a checkpoint of a replica that stepped down
	// goes at the next tick.
	if err := ds.serve(&protocol.DupCheckpointRequest{Gpid: g, Follower: "f1"}, &first); err != nil {
		t.Fatal(err)
	}
	cfg := protocol.PartitionConfiguration{Gpid: g, Ballot: 5, Primary: "other:1", Secondaries: []string{masterNode}, MaxReplicaCount: 1}
	if err := m.ensureReplica(app, cfg); err != nil {
		t.Fatal(err)
	}
	wantCode(t, ds.serve(&protocol.DupCheckpointRequest{Gpid: g, Follower: "f1"}, &protocol.DupCheckpointResponse{}), protocol.CodeInvalidState)
	wantCode(t, pc.CopyFile(context.Background(), &protocol.CopyFileRequest{Gpid: g, Dir: first.Dir, Path: f0.Name, MaxBytes: 10},
		&protocol.CopyFileResponse{}), protocol.CodeInvalidState)
	ds.tick(clock.Now())
	if len(ds.views()) != 0 {
		t.Fatal("checkpoint of a secondary kept")
	}
}

func TestDupCheckpointDecreeChoice(t *testing.T) {
	dups := []protocol.DuplicationEntry{
		{DupID: 1, Full: true, Status: protocol.DupStatusApp, RemoteAppName: "t", Partitions: []protocol.DupPartition{{PartitionIndex: 0, CheckpointDecree: 5}, {PartitionIndex: 1, CheckpointDecree: 9}}},
		{DupID: 2, Full: false, Status: protocol.DupStatusLog, RemoteAppName: "t", Partitions: []protocol.DupPartition{{PartitionIndex: 1, CheckpointDecree: 50}}},
		{DupID: 3, Full: true, Status: protocol.DupStatusRemoved, RemoteAppName: "t", Partitions: []protocol.DupPartition{{PartitionIndex: 1, CheckpointDecree: 60}}},
		{DupID: 4, Full: true, Status: protocol.DupStatusLog, RemoteAppName: "other", Partitions: []protocol.DupPartition{{PartitionIndex: 1, CheckpointDecree: 70}}},
		{DupID: 5, Full: true, Status: protocol.DupStatusLog, RemoteAppName: "t", Partitions: []protocol.DupPartition{{PartitionIndex: 1, CheckpointDecree: 12}}},
	}
	if d := dupCheckpointDecree(dups, "t", 1); d != 12 {
		t.Fatalf("checkpoint decree %d, want 12", d)
	}
	if d := dupCheckpointDecree(dups, "t", 3); d != 0 {
		t.Fatalf("checkpoint decree of an unknown partition %d", d)
	}
}

func TestFollowerMasterEnvs(t *testing.T) {
	app := protocol.AppInfo{Name: "t"}
	if _, _, ok, err := followerMaster(app); ok || err != nil {
		t.Fatalf("plain table: %v %v", ok, err)
	}
	app.Envs = map[string]string{protocol.EnvDupMasterApp: "m", protocol.EnvDupMasterMetas: " a:1, b:2 ,"}
	name, metas, ok, err := followerMaster(app)
	if !ok || err != nil || name != "m" || !reflect.DeepEqual(metas, []string{"a:1", "b:2"}) {
		t.Fatalf("follower table: %q %v %v %v", name, metas, ok, err)
	}
	app.Envs = map[string]string{protocol.EnvDupMasterApp: "m", protocol.EnvDupMasterMetas: " , "}
	if _, _, ok, err := followerMaster(app); !ok || !errors.Is(err, protocol.CodeInvalidArgument) {
		t.Fatalf("follower table without metas: %v %v", ok, err)
	}
}

// TestFollowerCopiesMasterCheckpoint runs two replica servers standing for
// two clusters: a follower replica copies the master partition's
// checkpoint, is interrupted and restarted, keeps the files it completed,
// detects a corrupted chunk, and opens with the master's data at its own
// decree 0.
func TestFollowerCopiesMasterCheckpoint(t *testing.T) {
	fs := vfs.NewMem()
	clock := newFakeClock()
	net := newRouter()
	m := newRealServer(t, fs, masterNode, "m", net, nil, clock.Now)
	defer m.Close()
	net.setServer(masterNode, m)
	mapp := testApp(4)
	mapp.ReplicaCount = 1
	mg := protocol.Gpid{AppID: 1, PartitionIndex: 2}
	if err := m.OpenTestReplica(mapp, 0, 1, 2, 3); err != nil {
		t.Fatal(err)
	}
	fillPartition(t, m, mg, 4, keyFor(t, 2, 4), 3, 30)
	masterDecree := applied(t, m, mg)

	// The master cluster's metas: a follower that redirects, and the leader.
	qc := protocol.QueryConfigResponse{App: mapp}
	for i := range int32(4) {
		qc.Partitions = append(qc.Partitions, protocol.PartitionConfiguration{Gpid: protocol.Gpid{AppID: 1, PartitionIndex: i},
			Ballot: 1, Primary: masterNode, MaxReplicaCount: 1})
	}
	leader := &fakeMasterMeta{config: qc, dups: []protocol.DuplicationEntry{{DupID: 1, Full: true, Status: protocol.DupStatusApp,
		RemoteAppName: "t", Partitions: []protocol.DupPartition{{PartitionIndex: 2, CheckpointDecree: masterDecree - 10}}}}}
	net.metas["meta-a:1"] = &fakeMasterMeta{leader: "meta-b:1"}
	net.metas["meta-b:1"] = leader

	// The follower table has its own app id and the master's location.
	fapp := protocol.AppInfo{AppID: 7, Name: "t", Status: protocol.AppAvailable, PartitionCount: 4, ReplicaCount: 1,
		Envs: map[string]string{protocol.EnvDupMasterCluster: "c1", protocol.EnvDupMasterApp: "t", protocol.EnvDupMasterMetas: "meta-a:1,meta-b:1"}}
	fg := protocol.Gpid{AppID: 7, PartitionIndex: 2}
	prop := &protocol.ConfigProposalRequest{Type: protocol.ConfigAssignPrimary, Node: followerNode, App: fapp,
		Config: protocol.PartitionConfiguration{Gpid: fg, Ballot: 1, Primary: followerNode, MaxReplicaCount: 1}}

	scope := tally.NewTestScope("", nil)
	f := newRealServer(t, fs, followerNode, "f", net, scope, clock.Now)
	f.follower.retryMin, f.follower.retryMax = time.Millisecond, time.Millisecond
	net.setServer(followerNode, f)

	// The copy stops at the fourth file: the first three are complete.
	var cp protocol.DupCheckpointResponse
	if err := m.dupSource.serve(&protocol.DupCheckpointRequest{Gpid: mg, Follower: "probe"}, &cp); err != nil {
		t.Fatal(err)
	}
	if len(cp.Files) < 5 {
		t.Fatalf("checkpoint of %d files; the test wants at least 5", len(cp.Files))
	}
	stopAt := cp.Files[3].Name
	reached := make(chan struct{}, 1)
	net.setHook(func(ctx context.Context, req *protocol.CopyFileRequest, _ *protocol.CopyFileResponse) error {
		if req.Path != stopAt {
			return nil
		}
		select {
		case reached <- struct{}{}:
		default:
		}
		<-ctx.Done()
		return protocol.Errorf(protocol.CodeTimeout, "connection lost")
	})
	ctl := &controlService{s: f}
	if err := ctl.ConfigProposal(context.Background(), prop, &protocol.ConfigProposalResponse{}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-reached:
	case <-time.After(30 * time.Second):
		t.Fatalf("the copy never reached %s: %+v", stopAt, f.follower.views())
	}
	// Not open yet: requests fail with a retryable code.
	hk := keyFor(t, 2, 4)
	fh := protocol.RequestHeader{Gpid: fg, PartitionHash: header(hk, 4).PartitionHash}
	err := (&dataService{s: f}).Get(context.Background(), &protocol.GetRequest{Header: fh, HashKey: hk, SortKey: []byte("sk00000")}, &protocol.GetResponse{})
	wantCode(t, err, protocol.CodeObjectNotFound)
	page := f.Learning()
	if len(page.FollowerCopies) != 1 || page.FollowerCopies[0].Phase != "copying" || page.FollowerCopies[0].Copy.DoneFiles != 3 ||
		page.FollowerCopies[0].MasterPrimary != masterNode || page.FollowerCopies[0].MasterGpid != mg.String() ||
		page.FollowerCopies[0].MinDecree != masterDecree-10 {
		t.Fatalf("follower copy view %+v", page.FollowerCopies)
	}
	if leader.callCount() == 0 {
		t.Fatal("the redirect to the meta leader was not followed")
	}

	// The follower's process restarts in the middle of the copy.
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	firstRun := net.servedBytes()
	f = newRealServer(t, fs, followerNode, "f", net, scope, clock.Now)
	defer f.Close()
	f.follower.retryMin, f.follower.retryMax = time.Millisecond, time.Millisecond
	net.setServer(followerNode, f)
	if got := f.Replicas().Replicas; len(got) != 0 {
		t.Fatalf("a half-copied follower replica was opened at restart: %+v", got)
	}

	// After the restart one chunk arrives corrupted.
	corrupted := false
	net.setHook(func(_ context.Context, req *protocol.CopyFileRequest, resp *protocol.CopyFileResponse) error {
		if req.Path == stopAt && !corrupted && len(resp.Data) > 0 {
			corrupted = true
			resp.Data[len(resp.Data)/2] ^= 0x40
		}
		return nil
	})
	if err := (&controlService{s: f}).ConfigProposal(context.Background(), prop, &protocol.ConfigProposalResponse{}); err != nil {
		t.Fatal(err)
	}
	f.follower.mu.Lock()
	task := f.follower.tasks[fg]
	f.follower.mu.Unlock()
	select {
	case <-task.done:
	case <-time.After(60 * time.Second):
		t.Fatalf("follower copy did not finish: %+v", f.follower.views())
	}
	secondRun := net.servedBytes()

	view := task.viewCopy()
	if view.Phase != "done" || view.Failures < 1 || view.Copy.ResumedFiles != 3 || view.Copy.DoneFiles != len(cp.Files) {
		t.Fatalf("follower copy view %+v", view)
	}
	for _, file := range cp.Files[:3] {
		if firstRun[file.Name] != file.Size || secondRun[file.Name] != 0 {
			t.Fatalf("%s (%d bytes): served %d before the restart and %d after; complete files must not be fetched again",
				file.Name, file.Size, firstRun[file.Name], secondRun[file.Name])
		}
	}
	if !corrupted || secondRun[stopAt] != 2*cp.Files[3].Size {
		t.Fatalf("corrupted=%v; %s served %d bytes after the restart, want twice %d", corrupted, stopAt, secondRun[stopAt], cp.Files[3].Size)
	}
	failed := int64(0)
	for _, c := range scope.Snapshot().Counters() {
		if c.Name() == "dup_load_file_failed_count" && c.Tags()["partition"] == "2" && c.Tags()["app_id"] == "7" {
			failed += c.Value()
		}
	}
	if failed < 1 {
		t.Fatal("dup_load_file_failed_count did not count the corrupted chunk")
	}
	if v := m.dupSource.views(); len(v) != 1 || v[0].Dir != cp.Dir {
		t.Fatalf("the master made another checkpoint: %+v (first %s)", v, cp.Dir)
	}

	// The follower replica holds the master's data at its own decree 0.
	mdig, err := m.Digest(mg)
	if err != nil {
		t.Fatal(err)
	}
	fdig, err := f.Digest(fg)
	if err != nil {
		t.Fatal(err)
	}
	if fdig.Decree != 0 || fdig.Records != 90 || fdig.Records != mdig.Records || fdig.SHA256 != mdig.SHA256 {
		t.Fatalf("follower digest %+v, master %+v", fdig, mdig)
	}
	var get protocol.GetResponse
	if err := (&dataService{s: f}).Get(context.Background(), &protocol.GetRequest{Header: fh, HashKey: hk, SortKey: []byte("sk00042")}, &get); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(get.Value, bytes.Repeat([]byte{42}, 300)) {
		t.Fatalf("copied value %q", get.Value[:min(len(get.Value), 8)])
	}
	var set protocol.SetResponse
	if err := (&dataService{s: f}).Set(context.Background(), &protocol.SetRequest{Header: fh, HashKey: hk, SortKey: []byte("new"), Value: []byte("v")}, &set); err != nil {
		t.Fatal(err)
	}
	if set.Decree != 1 {
		t.Fatalf("first follower write at decree %d, want 1", set.Decree)
	}
	if _, err := fs.Stat(view.StagingDir); err == nil {
		t.Fatal("staging dir kept after the install")
	}
	names, _ := fs.List("f")
	for _, n := range names {
		if strings.HasSuffix(n, followerStagingSuffix) {
			t.Fatalf("data dir holds %v", names)
		}
	}
}

// TestFollowerCopyCancelledOrSuperseded covers a copy whose replica is
// removed (the staging goes), one whose replica is created meanwhile by
// learning (the copy is dropped), and a staging dir left next to an open
// replica (removed at start).
func TestFollowerCopyCancelledOrSuperseded(t *testing.T) {
	fs := vfs.NewMem()
	clock := newFakeClock()
	net := newRouter()
	m := newRealServer(t, fs, masterNode, "m", net, nil, clock.Now)
	defer m.Close()
	net.setServer(masterNode, m)
	mapp := testApp(1)
	mapp.ReplicaCount = 1
	mg := protocol.Gpid{AppID: 1, PartitionIndex: 0}
	if err := m.OpenTestReplica(mapp, 0); err != nil {
		t.Fatal(err)
	}
	fillPartition(t, m, mg, 1, []byte("hk"), 2, 10)
	qc := protocol.QueryConfigResponse{App: mapp, Partitions: []protocol.PartitionConfiguration{{Gpid: mg, Ballot: 1, Primary: masterNode, MaxReplicaCount: 1}}}
	net.metas["meta:1"] = &fakeMasterMeta{config: qc} // no QueryDuplication: minimum decree 0

	fapp := protocol.AppInfo{AppID: 9, Name: "t", Status: protocol.AppAvailable, PartitionCount: 1, ReplicaCount: 1,
		Envs: map[string]string{protocol.EnvDupMasterApp: "t", protocol.EnvDupMasterMetas: "meta:1"}}
	fg := protocol.Gpid{AppID: 9, PartitionIndex: 0}
	cfg := protocol.PartitionConfiguration{Gpid: fg, Ballot: 1, Primary: followerNode, MaxReplicaCount: 1}
	prop := &protocol.ConfigProposalRequest{Type: protocol.ConfigAssignPrimary, Node: followerNode, App: fapp, Config: cfg}
	f := newRealServer(t, fs, followerNode, "f", net, nil, clock.Now)
	defer func() { f.Close() }()
	f.follower.retryMin, f.follower.retryMax = time.Millisecond, time.Millisecond
	net.setServer(followerNode, f)

	reached := make(chan struct{}, 1)
	release := make(chan struct{})
	net.setHook(func(ctx context.Context, req *protocol.CopyFileRequest, _ *protocol.CopyFileResponse) error {
		select {
		case reached <- struct{}{}:
		default:
		}
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return protocol.Errorf(protocol.CodeTimeout, "connection lost")
		}
	})
	start := func() *followerTask {
		t.Helper()
		if err := f.applyProposal(prop); err != nil {
			t.Fatal(err)
		}
		select {
		case <-reached:
		case <-time.After(30 * time.Second):
			t.Fatalf("copy did not start: %+v", f.follower.views())
		}
		f.follower.mu.Lock()
		defer f.follower.mu.Unlock()
		return f.follower.tasks[fg]
	}
	wait := func(task *followerTask, phase string) FollowerCopyView {
		t.Helper()
		select {
		case <-task.done:
		case <-time.After(30 * time.Second):
			t.Fatalf("copy did not end: %+v", task.viewCopy())
		}
		v := task.viewCopy()
		if v.Phase != phase {
			t.Fatalf("copy ended in phase %q, want %q: %+v", v.Phase, phase, v)
		}
		return v
	}

	// Removed while copying: the task stops and its staging goes.
	task := start()
	if err := f.applyProposal(&protocol.ConfigProposalRequest{Type: protocol.ConfigRemove, Node: followerNode, App: fapp, Config: cfg}); err != nil {
		t.Fatal(err)
	}
	v := wait(task, "cancelled")
	if _, err := fs.Stat(v.StagingDir); err == nil {
		t.Fatal("staging of a removed follower replica kept")
	}

	// Created as a learner while copying: the copy is dropped.
	task = start()
	if err := f.openLearner(fg, cfg); err != nil {
		t.Fatal(err)
	}
	close(release)
	v = wait(task, "superseded")
	if _, err := fs.Stat(v.StagingDir); err == nil {
		t.Fatal("staging of a superseded copy kept")
	}
	if _, err := f.lookup(fg); err != nil {
		t.Fatal(err)
	}

	// A staging dir next to an open replica goes at start.
	if err := fs.MkdirAll(v.StagingDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	f = newRealServer(t, fs, followerNode, "f", net, nil, clock.Now)
	if _, err := fs.Stat(v.StagingDir); err == nil {
		t.Fatal("stale staging dir kept at start")
	}
}
