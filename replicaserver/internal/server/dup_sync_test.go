package server

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/vfs"

	"github.com/pegasus-go/pegasus/replicaserver/internal/dup"
	"github.com/pegasus-go/pegasus/replicaserver/internal/replica"
	"github.com/pegasus-go/pegasus/replicaserver/internal/replica/core"
	"github.com/pegasus-go/pegasus/shared/keyschema"
	"github.com/pegasus-go/pegasus/shared/protocol"
	"github.com/pegasus-go/pegasus/shared/rpc"
)

// dupMeta is a meta leader for duplication tests: it grants leases,
// assigns the source table's partitions to one node (single replica),
// and answers DuplicationSync with its duplications, keeping per
// partition the largest confirmed and checkpoint decrees reported, as
// the real meta persists them.
type dupMeta struct {
	addr string
	app  protocol.AppInfo
	node string

	mu        sync.Mutex
	dups      []protocol.DuplicationEntry // partitions filled from confirmed at answer time
	confirmed map[protocol.Gpid]protocol.Decree
	ckpt      map[protocol.Gpid]protocol.Decree
	syncs     int
	synced    chan struct{} // receives (non-blocking) after every DuplicationSync
	refuse    bool          // answer DuplicationSync with an error (counted in refused)
	refused   int
}

func (m *dupMeta) Beacon(_ context.Context, req *protocol.BeaconRequest, resp *protocol.BeaconResponse) error {
	*resp = protocol.BeaconResponse{SendTimeMs: req.SendTimeMs, LeaseMs: 60_000, MetaLeader: m.addr}
	return nil
}

func (m *dupMeta) ConfigSync(_ context.Context, req *protocol.ConfigSyncRequest, resp *protocol.ConfigSyncResponse) error {
	resp.Apps = []protocol.AppInfo{m.app}
	for i := range m.app.PartitionCount {
		resp.Partitions = append(resp.Partitions, protocol.PartitionConfiguration{
			Gpid: protocol.Gpid{AppID: m.app.AppID, PartitionIndex: i}, Ballot: 1, Primary: m.node, MaxReplicaCount: 1})
	}
	return nil
}

func (m *dupMeta) DuplicationSync(_ context.Context, req *protocol.DuplicationSyncRequest, resp *protocol.DuplicationSyncResponse) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.refuse {
		m.refused++
		return protocol.Errorf(protocol.CodeBusy, "test meta refuses duplication syncs")
	}
	for _, p := range req.Progress {
		if c, ok := m.confirmed[p.Gpid]; !ok || p.ConfirmedDecree > c {
			m.confirmed[p.Gpid] = p.ConfirmedDecree
		}
		if p.CheckpointDecree > m.ckpt[p.Gpid] {
			m.ckpt[p.Gpid] = p.CheckpointDecree
		}
	}
	for _, d := range m.dups {
		d.Partitions = nil
		for i := range m.app.PartitionCount {
			g := protocol.Gpid{AppID: m.app.AppID, PartitionIndex: i}
			c, ok := m.confirmed[g]
			if !ok {
				c = -1
			}
			d.Partitions = append(d.Partitions, protocol.DupPartition{PartitionIndex: i, ConfirmedDecree: c, CheckpointDecree: m.ckpt[g]})
		}
		resp.Dups = append(resp.Dups, d)
	}
	m.syncs++
	select {
	case m.synced <- struct{}{}:
	default:
	}
	return nil
}

func (m *dupMeta) setDups(dups ...protocol.DuplicationEntry) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.dups = dups
}

func (m *dupMeta) confirmedOf(g protocol.Gpid) protocol.Decree {
	m.mu.Lock()
	defer m.mu.Unlock()
	if c, ok := m.confirmed[g]; ok {
		return c
	}
	return -1
}

func (m *dupMeta) syncCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.syncs
}

// waitSyncs waits until n more syncs than now were answered: the server
// applied every answer before the last one.
func (m *dupMeta) waitSyncs(t *testing.T, n int) {
	t.Helper()
	target := m.syncCount() + n
	deadline := time.After(30 * time.Second)
	for m.syncCount() < target {
		select {
		case <-m.synced:
		case <-deadline:
			t.Fatalf("only %d of %d duplication syncs", m.syncCount(), target)
		}
	}
}

func startDupMeta(t *testing.T, app protocol.AppInfo, node string) *dupMeta {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := &dupMeta{addr: ln.Addr().String(), app: app, node: node, confirmed: map[protocol.Gpid]protocol.Decree{},
		ckpt: map[protocol.Gpid]protocol.Decree{}, synced: make(chan struct{}, 1)}
	rs, err := rpc.NewServer(rpc.ServerConfig{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := rs.Register(protocol.ServiceMetaInternal, m); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = rs.Serve(ln)
	}()
	t.Cleanup(func() {
		_ = rs.Close()
		<-done
	})
	return m
}

// serverRemote is the remote table a test's duplicators ship to: a
// second replica server (no meta, test partitions) whose replicas get
// every entry as the write it encodes. It checks that each entry hashes
// to the partition it was sent to.
type serverRemote struct {
	t   *testing.T
	srv *Server
	app protocol.AppInfo

	mu      sync.Mutex
	entries int
	seen    chan struct{}
}

func (r *serverRemote) Remote(cluster string, metas []string, table string) (dup.Remote, error) {
	if cluster != "target" || len(metas) != 1 || table != r.app.Name {
		r.t.Errorf("remote %q %v %q", cluster, metas, table)
	}
	return r, nil
}

func (r *serverRemote) PartitionCount(context.Context) (int32, error) {
	return r.app.PartitionCount, nil
}

func (r *serverRemote) Duplicate(ctx context.Context, p int32, entries []protocol.DuplicateEntry) (int32, error) {
	e, err := r.srv.lookup(protocol.Gpid{AppID: r.app.AppID, PartitionIndex: p})
	if err != nil {
		return 0, err
	}
	for _, de := range entries {
		if de.ClusterID != 1 {
			r.t.Errorf("entry of cluster %d", de.ClusterID)
		}
		req, err := replica.DecodeUpdate(protocol.Update{Op: de.Op, Body: de.Body})
		if err != nil {
			return 0, err
		}
		if sr, ok := req.(*protocol.SetRequest); ok {
			if err := checkKeyPartition(e, sr.HashKey, sr.SortKey); err != nil {
				r.t.Errorf("entry sent to the wrong partition: %v", err)
			}
		}
		if _, err := e.r.Write(ctx, de.Op, req); err != nil {
			return 0, err
		}
	}
	r.mu.Lock()
	r.entries += len(entries)
	r.mu.Unlock()
	select {
	case r.seen <- struct{}{}:
	default:
	}
	return int32(len(entries)), nil
}

func (r *serverRemote) shipped() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.entries
}

func (r *serverRemote) has(t *testing.T, hk string) bool {
	t.Helper()
	hash := keyschema.Hash([]byte(hk), nil)
	p, _ := keyschema.PartitionIndex(hash, r.app.PartitionCount)
	e, err := r.srv.lookup(protocol.Gpid{AppID: r.app.AppID, PartitionIndex: p})
	if err != nil {
		t.Fatal(err)
	}
	eng, err := e.r.Engine()
	if err != nil {
		t.Fatal(err)
	}
	_, err = eng.Get([]byte(hk), []byte("s"))
	if err != nil && protocol.CodeOf(err) != protocol.CodeNotFound {
		t.Fatal(err)
	}
	return err == nil
}

// waitFor polls cond (the servers work on their own goroutines) until it
// holds or a generous deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type dupSource struct {
	srv *Server
	rpc *rpc.Client
}

func startDupSource(t *testing.T, fs vfs.FS, node string, meta *dupMeta, remotes RemoteFactory) *dupSource {
	t.Helper()
	client, err := rpc.NewClient(rpc.ClientConfig{DialTimeout: time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(Options{
		Node: node, DataDirs: []string{"d0"}, FS: fs, MetaServers: []string{meta.addr}, Meta: client,
		BeaconInterval: 20 * time.Millisecond, ConfigSyncInterval: 20 * time.Millisecond,
		Dup: DupOptions{Enabled: true, ClusterID: 1, SyncInterval: 10 * time.Millisecond, LogBatchBytes: 512,
			PollInterval: time.Millisecond, Remotes: remotes},
		EngineSyncInterval: 10 * time.Millisecond, PlogSegmentSizeBytes: 4096,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	return &dupSource{srv: srv, rpc: client}
}

func (s *dupSource) close(t *testing.T) {
	t.Helper()
	if err := s.srv.Close(); err != nil {
		t.Error(err)
	}
	s.rpc.Close()
}

func (s *dupSource) write(t *testing.T, app protocol.AppInfo, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		hk := fmt.Sprintf("k%05d", i)
		p, _ := keyschema.PartitionIndex(keyschema.Hash([]byte(hk), nil), app.PartitionCount)
		var e *entry
		waitFor(t, "source partition", func() bool {
			var err error
			e, err = s.srv.lookup(protocol.Gpid{AppID: app.AppID, PartitionIndex: p})
			return err == nil
		})
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_, err := e.r.Write(ctx, protocol.OpPut, &protocol.SetRequest{HashKey: []byte(hk), SortKey: []byte("s"), Value: []byte("v")})
		cancel()
		if err != nil {
			t.Fatalf("write %s: %v", hk, err)
		}
	}
}

// caughtUp reports whether the meta holds, for every source partition,
// a confirmed decree at the partition's commit point.
func (s *dupSource) caughtUp(meta *dupMeta, app protocol.AppInfo) bool {
	for i := range app.PartitionCount {
		g := protocol.Gpid{AppID: app.AppID, PartitionIndex: i}
		e, err := s.srv.lookup(g)
		if err != nil || meta.confirmedOf(g) < e.r.Info().LastCommitted {
			return false
		}
	}
	return true
}

func TestDuplicationShipsPausesResumesAndRemoves(t *testing.T) {
	srcApp := protocol.AppInfo{AppID: 2, Name: "t", Status: protocol.AppAvailable, PartitionCount: 8, ReplicaCount: 1}
	dstApp := protocol.AppInfo{AppID: 9, Name: "t", Status: protocol.AppAvailable, PartitionCount: 4, ReplicaCount: 1}

	target, err := New(Options{Node: "target:1", DataDirs: []string{"d0"}, FS: vfs.NewMem()})
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	target.Start()
	if err := target.OpenTestReplica(dstApp, 0, 1, 2, 3); err != nil {
		t.Fatal(err)
	}
	remote := &serverRemote{t: t, srv: target, app: dstApp, seen: make(chan struct{}, 1)}

	fs := vfs.NewMem()
	const node = "source:1"
	meta := startDupMeta(t, srcApp, node)
	src := startDupSource(t, fs, node, meta, remote)
	defer func() { src.close(t) }()

	// Written before the duplication exists: an incremental duplication
	// does not ship them.
	src.write(t, srcApp, 0, 100)
	dupEntry := protocol.DuplicationEntry{DupID: 77, AppID: srcApp.AppID, Status: protocol.DupStatusLog,
		RemoteCluster: "target", RemoteAppName: "t", RemoteMetas: []string{"target-meta:1"}}
	meta.setDups(dupEntry)
	waitFor(t, "every partition to pick its start decree", func() bool {
		for i := range srcApp.PartitionCount {
			if meta.confirmedOf(protocol.Gpid{AppID: srcApp.AppID, PartitionIndex: i}) < 0 {
				return false
			}
		}
		return true
	})

	src.write(t, srcApp, 100, 300)
	waitFor(t, "the writes to reach the target", func() bool { return src.caughtUp(meta, srcApp) })
	for i := 100; i < 300; i++ {
		if !remote.has(t, fmt.Sprintf("k%05d", i)) {
			t.Fatalf("k%05d did not reach the target", i)
		}
	}
	for i := 0; i < 100; i++ {
		if remote.has(t, fmt.Sprintf("k%05d", i)) {
			t.Fatalf("k%05d, written before the duplication, was shipped", i)
		}
	}
	if n := remote.shipped(); n != 200 {
		t.Fatalf("%d entries shipped for 200 writes", n)
	}

	// The page and the GC floor follow the meta's confirmed decrees.
	page := src.srv.Duplication(srcApp.AppID)
	if len(page.Partitions) != 8 {
		t.Fatalf("page lists %d partitions", len(page.Partitions))
	}
	for _, p := range page.Partitions {
		if len(p.Dups) != 1 || !p.Dups[0].Running || p.Dups[0].Status != protocol.DupStatusLog || p.Dups[0].ShippedOps == 0 && p.LastCommitted > 0 {
			t.Fatalf("page partition %+v", p)
		}
		if p.GCFloor < 0 || p.GCFloor > p.Dups[0].MetaConfirmed+1 || p.PlogMinDecree > p.GCFloor {
			t.Fatalf("partition %s: gc floor %d, meta confirmed %d, plog from %d", p.Gpid, p.GCFloor, p.Dups[0].MetaConfirmed, p.PlogMinDecree)
		}
	}

	// Pause: nothing ships, the backlog stays in the plog.
	paused := dupEntry
	paused.Status = protocol.DupStatusPause
	meta.setDups(paused)
	meta.waitSyncs(t, 2)
	src.write(t, srcApp, 300, 350)
	meta.waitSyncs(t, 2)
	if n := remote.shipped(); n != 200 {
		t.Fatalf("%d entries shipped while paused", n)
	}
	for _, p := range src.srv.Duplication(srcApp.AppID).Partitions {
		if p.Dups[0].Running || p.Dups[0].PendingMutations == 0 && p.LastCommitted > p.Dups[0].Confirmed {
			t.Fatalf("paused partition %+v", p)
		}
	}

	// A restarted server resumes from the persisted confirmed decrees:
	// exactly the 50 writes made while paused ship, no gap, nothing again.
	src.close(t)
	meta.setDups(dupEntry)
	src = startDupSource(t, fs, node, meta, remote)
	waitFor(t, "the paused writes to reach the target", func() bool { return remote.shipped() >= 250 && src.caughtUp(meta, srcApp) })
	for i := 300; i < 350; i++ {
		if !remote.has(t, fmt.Sprintf("k%05d", i)) {
			t.Fatalf("k%05d did not reach the target after the restart", i)
		}
	}
	if n := remote.shipped(); n != 250 {
		t.Fatalf("%d entries shipped for 250 writes", n)
	}

	// Group checks carry the primary's confirmed decrees; a secondary's
	// floor takes the smallest it knows.
	g := protocol.Gpid{AppID: srcApp.AppID, PartitionIndex: 3}
	e, err := src.srv.lookup(g)
	if err != nil {
		t.Fatal(err)
	}
	cfg := core.Config{Ballot: 1, Primary: node, Secondaries: []string{"other:1"}}
	out, ok := (&replicaTransport{s: src.srv, gpid: g}).outbound(&core.Message{Type: core.MsgGroupCheck, To: "other:1", Config: &cfg})
	if !ok || len(out.groupCheck.ConfirmedDecrees) != 1 || out.groupCheck.ConfirmedDecrees[0].DupID != 77 ||
		out.groupCheck.ConfirmedDecrees[0].ConfirmedDecree != meta.confirmedOf(g) {
		t.Fatalf("group check carries %+v, meta confirmed %d", out.groupCheck.ConfirmedDecrees, meta.confirmedOf(g))
	}
	src.srv.dups.fromGroupCheck(g, []protocol.DuplicationConfirm{{DupID: 77, ConfirmedDecree: 1}})
	if f := e.r.(underlying).Underlying().GCFloors()[replica.GCFloorDup]; f != 2 {
		t.Fatalf("floor %d after a group check confirming decree 1", f)
	}
	src.srv.dups.fromGroupCheck(g, nil)

	// Remove: the duplicator stops and the floor is lifted.
	meta.setDups()
	meta.waitSyncs(t, 2)
	src.write(t, srcApp, 350, 360)
	meta.waitSyncs(t, 2)
	if n := remote.shipped(); n != 250 {
		t.Fatalf("%d entries shipped after the removal", n)
	}
	for _, p := range src.srv.Duplication(srcApp.AppID).Partitions {
		if len(p.Dups) != 0 || p.GCFloor != -1 {
			t.Fatalf("removed: partition %+v", p)
		}
	}
}

// persistCheckpoints does what the meta does on PREPARE -> APP: every
// partition's confirmed decree becomes its checkpoint decree.
func (m *dupMeta) persistCheckpoints() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for g, c := range m.ckpt {
		m.confirmed[g] = c
	}
}

func (m *dupMeta) checkpointOf(g protocol.Gpid) protocol.Decree {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.ckpt[g]
}

func TestFullDuplicationShipsAboveTheCheckpoint(t *testing.T) {
	srcApp := protocol.AppInfo{AppID: 3, Name: "full", Status: protocol.AppAvailable, PartitionCount: 4, ReplicaCount: 1}
	dstApp := protocol.AppInfo{AppID: 4, Name: "full", Status: protocol.AppAvailable, PartitionCount: 8, ReplicaCount: 1}
	target, err := New(Options{Node: "target:1", DataDirs: []string{"d0"}, FS: vfs.NewMem()})
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	target.Start()
	if err := target.OpenTestReplica(dstApp, 0, 1, 2, 3, 4, 5, 6, 7); err != nil {
		t.Fatal(err)
	}
	remote := &serverRemote{t: t, srv: target, app: dstApp, seen: make(chan struct{}, 1)}
	const node = "source:1"
	meta := startDupMeta(t, srcApp, node)
	src := startDupSource(t, vfs.NewMem(), node, meta, remote)
	defer src.close(t)

	src.write(t, srcApp, 0, 80) // the checkpoint's data (copied by the follower, not shipped)
	d := protocol.DuplicationEntry{DupID: 5, AppID: srcApp.AppID, Status: protocol.DupStatusPrepare, Full: true,
		RemoteCluster: "target", RemoteMetas: []string{"target-meta:1"}, FailMode: protocol.DupFailSkip}
	meta.setDups(d)
	gpids := make([]protocol.Gpid, srcApp.PartitionCount)
	for i := range gpids {
		gpids[i] = protocol.Gpid{AppID: srcApp.AppID, PartitionIndex: int32(i)}
	}
	waitFor(t, "every primary to fix its checkpoint decree", func() bool {
		for _, g := range gpids {
			if meta.checkpointOf(g) <= 0 {
				return false
			}
		}
		return true
	})
	for _, g := range gpids {
		e, err := src.srv.lookup(g)
		if err != nil {
			t.Fatal(err)
		}
		if c := meta.checkpointOf(g); c != e.r.Info().LastCommitted {
			t.Fatalf("%s: checkpoint %d, committed %d", g, c, e.r.Info().LastCommitted)
		}
	}
	// Writes go on during the copy; none is lost.
	src.write(t, srcApp, 80, 120)
	meta.waitSyncs(t, 2)
	for _, p := range src.srv.Duplication(srcApp.AppID).Partitions {
		ck := p.Dups[0].Checkpoint
		if p.Dups[0].Running || ck <= 0 || p.GCFloor != ck+1 || p.PlogMinDecree > ck+1 {
			t.Fatalf("prepare: partition %+v", p)
		}
	}
	if remote.shipped() != 0 {
		t.Fatal("shipped before DS_LOG")
	}

	meta.persistCheckpoints()
	d.Status = protocol.DupStatusLog
	meta.setDups(d)
	waitFor(t, "the writes after the checkpoint to reach the target", func() bool { return src.caughtUp(meta, srcApp) })
	for i := 0; i < 120; i++ {
		if got, want := remote.has(t, fmt.Sprintf("k%05d", i)), i >= 80; got != want {
			t.Fatalf("k%05d on the target: %v, want %v", i, got, want)
		}
	}
	if n := remote.shipped(); n != 40 {
		t.Fatalf("%d entries shipped for 40 writes after the checkpoint", n)
	}
	// The fail mode switches live.
	failModes := func() []protocol.DupFailMode {
		m := src.srv.dups
		m.mu.Lock()
		defer m.mu.Unlock()
		var out []protocol.DupFailMode
		for _, st := range m.mu.states {
			if st.d != nil {
				out = append(out, st.d.FailMode())
			}
		}
		return out
	}
	if fm := failModes(); len(fm) != 4 || fm[0] != protocol.DupFailSkip {
		t.Fatalf("fail modes %v", fm)
	}
	d.FailMode = protocol.DupFailSlow
	meta.setDups(d)
	meta.waitSyncs(t, 2)
	for _, fm := range failModes() {
		if fm != protocol.DupFailSlow {
			t.Fatalf("fail mode %v after the switch", fm)
		}
	}
}

// TestRestartKeepsBacklogUntilSync: a restarted source server holds every
// replica's plog until a duplication sync tells it the floors. The meta
// leader refuses the syncs after the restart and the engine is durable,
// and writes go on, yet nothing of the paused backlog is collected; once
// the syncs succeed the backlog ships.
func TestRestartKeepsBacklogUntilSync(t *testing.T) {
	srcApp := protocol.AppInfo{AppID: 2, Name: "t", Status: protocol.AppAvailable, PartitionCount: 4, ReplicaCount: 1}
	dstApp := protocol.AppInfo{AppID: 9, Name: "t", Status: protocol.AppAvailable, PartitionCount: 4, ReplicaCount: 1}
	target, err := New(Options{Node: "target:1", DataDirs: []string{"d0"}, FS: vfs.NewMem()})
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	target.Start()
	if err := target.OpenTestReplica(dstApp, 0, 1, 2, 3); err != nil {
		t.Fatal(err)
	}
	remote := &serverRemote{t: t, srv: target, app: dstApp, seen: make(chan struct{}, 1)}
	fs := vfs.NewMem()
	const node = "source:1"
	meta := startDupMeta(t, srcApp, node)
	src := startDupSource(t, fs, node, meta, remote)
	defer func() { src.close(t) }()

	dupEntry := protocol.DuplicationEntry{DupID: 5, AppID: srcApp.AppID, Status: protocol.DupStatusLog,
		RemoteCluster: "target", RemoteAppName: "t", RemoteMetas: []string{"target-meta:1"}}
	meta.setDups(dupEntry)
	src.write(t, srcApp, 0, 50)
	waitFor(t, "the first writes to reach the target", func() bool { return src.caughtUp(meta, srcApp) })
	paused := dupEntry
	paused.Status = protocol.DupStatusPause
	meta.setDups(paused)
	meta.waitSyncs(t, 2)
	src.write(t, srcApp, 50, 400) // the backlog: many plog segments
	src.close(t)

	meta.mu.Lock()
	meta.refuse = true
	meta.mu.Unlock()
	src = startDupSource(t, fs, node, meta, remote)
	refused := func() int {
		meta.mu.Lock()
		defer meta.mu.Unlock()
		return meta.refused
	}
	waitFor(t, "a lease after the restart", func() bool {
		e, err := src.srv.lookup(protocol.Gpid{AppID: srcApp.AppID})
		if err != nil {
			return false
		}
		_, err = e.r.Write(context.Background(), protocol.OpPut, &protocol.SetRequest{HashKey: []byte("lease"), SortKey: []byte("s")})
		return err == nil
	})
	src.write(t, srcApp, 400, 600) // writes go on: the engines sync and the plog would be collected
	waitFor(t, "the engines durable at their commit points", func() bool {
		for i := range srcApp.PartitionCount {
			e, err := src.srv.lookup(protocol.Gpid{AppID: srcApp.AppID, PartitionIndex: i})
			if err != nil {
				return false
			}
			if info := e.r.Info(); info.LastDurable < info.LastCommitted {
				return false
			}
		}
		return true
	})
	// Syncs are tried every 10ms and the replicas tick more often: many
	// chances to collect the plog.
	base := refused()
	waitFor(t, "20 refused syncs", func() bool { return refused() >= base+20 })
	for i := range srcApp.PartitionCount {
		g := protocol.Gpid{AppID: srcApp.AppID, PartitionIndex: i}
		e, err := src.srv.lookup(g)
		if err != nil {
			t.Fatal(err)
		}
		r := e.r.(underlying).Underlying()
		if min := r.PlogStats().MinDecree; min > meta.confirmedOf(g)+1 {
			t.Fatalf("%s: before any sync the plog starts at %d, the meta confirmed only %d", g, min, meta.confirmedOf(g))
		}
		if f := r.GCFloors()[replica.GCFloorDup]; f != 0 {
			t.Fatalf("%s: duplication floor %d before any sync, want 0", g, f)
		}
	}

	meta.mu.Lock()
	meta.refuse = false
	meta.mu.Unlock()
	meta.setDups(dupEntry)
	waitFor(t, "the backlog to reach the target", func() bool { return src.caughtUp(meta, srcApp) })
	for i := 50; i < 600; i++ {
		if !remote.has(t, fmt.Sprintf("k%05d", i)) {
			t.Fatalf("k%05d of the backlog did not reach the target", i)
		}
	}
}
