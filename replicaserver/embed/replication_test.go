package embed

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/pegasus-go/pegasus/shared/protocol"
)

// TestReplicationThreeMembers: writes commit on all three replicas, a new
// ballot from the meta keeps them writing, and a prepare of the old ballot
// is refused over the wire with CodeStaleBallot.
func TestReplicationThreeMembers(t *testing.T) {
	cl := newCluster(t, 3)
	cl.create(0, 1, 2)
	primary := cl.node(0)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const n, size = 300, 100
	for i := range n {
		if err := cl.set(ctx, primary, i, size); err != nil {
			t.Fatalf("set %d: %v", i, err)
		}
	}
	d := cl.waitSameData(0, 1, 2)
	if d.Records != n || d.Decree < 1 {
		t.Fatalf("digest %+v, want %d records", d, n)
	}
	for i := range 3 {
		v, ok := cl.info(i)
		want := []string{"PS_PRIMARY", "PS_SECONDARY", "PS_SECONDARY"}[i]
		if !ok || v.Role != want || v.Ballot != 1 || v.LastCommitted < d.Decree {
			t.Fatalf("server %d reports %+v, want %s at ballot 1 committed >= %d", i, v, want, d.Decree)
		}
	}

	// The meta moves the partition to ballot 2 with the same members.
	pc := cl.meta.config(cl.gpid())
	pc.Ballot = 2
	cl.meta.mu.Lock()
	cl.meta.cfgs[pc.Gpid] = clonePC(pc)
	cl.meta.mu.Unlock()
	for i := range 3 {
		cl.meta.propose(cl.node(i), &protocol.ConfigProposalRequest{Type: protocol.ConfigPrimaryForceUpdateBallot, Node: primary,
			App: cl.tb.app, Config: clonePC(pc)})
	}
	for i := n; i < n+50; i++ {
		if err := cl.set(ctx, primary, i, size); err != nil {
			t.Fatalf("set %d under ballot 2: %v", i, err)
		}
	}
	d = cl.waitSameData(0, 1, 2)
	if d.Records != n+50 {
		t.Fatalf("digest %+v after ballot 2, want %d records", d, n+50)
	}

	// A prepare from the old primary configuration (ballot 1) is stale.
	old := pc
	old.Ballot = 1
	req := &protocol.PrepareRequest{Gpid: cl.gpid(), Config: old, Status: protocol.PartitionSecondary,
		Mutation: protocol.Mutation{Ballot: 1, Decree: d.Decree + 1, LastCommitted: d.Decree,
			Updates: []protocol.Update{{Op: protocol.OpEmpty}}}}
	var resp protocol.PrepareResponse
	if err := cl.c.Call(ctx, cl.node(1), protocol.ServicePeer, protocol.MethodPrepare, req, &resp); err != nil {
		t.Fatalf("stale prepare: %v", err)
	}
	if resp.Code != protocol.CodeStaleBallot || resp.Ballot != 2 {
		t.Fatalf("stale prepare answered %+v, want ERR_STALE_BALLOT at ballot 2", resp)
	}
	// A prepare for a partition the node does not hold.
	req.Gpid = protocol.Gpid{AppID: 9}
	req.Config.Gpid = req.Gpid
	err := cl.c.Call(ctx, cl.node(1), protocol.ServicePeer, protocol.MethodPrepare, req, &resp)
	if protocol.CodeOf(err) != protocol.CodeObjectNotFound {
		t.Fatalf("prepare of an unknown partition: %v", err)
	}
	// Nothing changed on the secondary.
	if d2, err := cl.digest(1); err != nil || d2.Decree != d.Decree || d2.Records != d.Records {
		t.Fatalf("secondary after stale prepare: %+v %v", d2, err)
	}
}

// TestReplicationSecondaryFailure: a secondary's server is closed under
// load; the primary proposes its removal, the meta accepts, writes go on
// with two members and no acknowledged write is lost. With the last
// secondary gone too, the lone primary of the 3-replica table refuses
// writes with CodeNotEnoughMember and still serves reads.
func TestReplicationSecondaryFailure(t *testing.T) {
	cl := newCluster(t, 3)
	cl.create(0, 1, 2)
	primary := cl.node(0)
	const size = 64
	w := cl.startWriter(primary, 0, size)
	waitFor(t, 30*time.Second, "100 acknowledged writes", func() (bool, string) {
		return w.ackedCount() >= 100, fmt.Sprint(w.ackedCount())
	})
	removed := cl.node(2)
	cl.stop(2)
	waitFor(t, 30*time.Second, "removal of the closed secondary", func() (bool, string) {
		pc := cl.meta.config(cl.gpid())
		return pc.Ballot == 2 && slices.Equal(pc.Secondaries, []string{cl.node(1)}), fmt.Sprintf("%+v", pc)
	})
	before := w.ackedCount()
	waitFor(t, 30*time.Second, "100 more writes with two members", func() (bool, string) {
		return w.ackedCount() >= before+100, fmt.Sprint(w.ackedCount())
	})
	acked := w.halt()
	pc := cl.meta.config(cl.gpid())
	if !slices.Equal(pc.LastDrops, []string{removed}) {
		t.Fatalf("last drops %v, want [%s]", pc.LastDrops, removed)
	}
	cl.meta.mu.Lock()
	updates := slices.Clone(cl.meta.updates)
	cl.meta.mu.Unlock()
	if len(updates) != 1 || updates[0].Type != protocol.ConfigDowngradeToInactive || updates[0].Node != removed {
		t.Fatalf("meta updates %+v, want one downgrade of %s", updates, removed)
	}
	cl.readAll(primary, acked, size)
	d := cl.waitSameData(0, 1)
	if d.Records < int64(len(acked)) {
		t.Fatalf("replicas hold %d records, %d writes were acknowledged", d.Records, len(acked))
	}
	if v, _ := cl.info(0); v.Ballot != 2 || v.Role != "PS_PRIMARY" {
		t.Fatalf("primary reports %+v", v)
	}

	// The last secondary goes too. An idle primary does not notice (the
	// meta's failure detector would); the next write times out on it and
	// makes the primary propose its removal. That write was prepared while
	// two members remained, so it may commit on the primary alone.
	cl.stop(1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.set(ctx, primary, 999_999, size); err != nil && protocol.CodeOf(err) != protocol.CodeTimeout {
		t.Logf("write while the last secondary is removed: %v", err)
	}
	waitFor(t, 30*time.Second, "removal of the last secondary", func() (bool, string) {
		pc := cl.meta.config(cl.gpid())
		return pc.Ballot == 3 && len(pc.Secondaries) == 0, fmt.Sprintf("%+v", pc)
	})
	waitFor(t, 30*time.Second, "the primary installing ballot 3", func() (bool, string) {
		v, _ := cl.info(0)
		return v.Ballot == 3, fmt.Sprintf("%+v", v)
	})
	err := cl.set(ctx, primary, 1_000_000, size)
	if protocol.CodeOf(err) != protocol.CodeNotEnoughMember {
		t.Fatalf("write to a lone primary of a 3-replica table: %v, want ERR_NOT_ENOUGH_MEMBER", err)
	}
	cl.readAll(primary, acked[:10], size)
}

// preload writes n records of size bytes through MultiSet, 50 per call.
func (cl *cluster) preload(addr string, n, size int) {
	cl.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for b := 0; b*50 < n; b++ {
		hk := fmt.Appendf(nil, "bulk%05d", b)
		req := &protocol.MultiSetRequest{Header: cl.tb.header(hk), HashKey: hk}
		for i := b * 50; i < min(n, (b+1)*50); i++ {
			req.KVs = append(req.KVs, protocol.KeyValue{SortKey: key(i), Value: value(i, size)})
		}
		if err := cl.c.Call(ctx, addr, protocol.ServiceReplica, protocol.MethodMultiSet, req, &protocol.MultiSetResponse{}); err != nil {
			cl.t.Fatalf("preload batch %d: %v", b, err)
		}
	}
}

// TestLearnerCatchesUp: a node added with ConfigAddSecondary while a writer
// keeps writing copies the primary's checkpoint (rate limited) and the plog
// tail, is upgraded to secondary through the meta, and ends with the same
// data. Its server is restarted in the middle of the copy: the files it had
// completed are not fetched again.
func TestLearnerCatchesUp(t *testing.T) {
	cl := newCluster(t, 2)
	// The learner copies at 1 MiB/s, so the copy of several MiB is still
	// running when its server restarts.
	cl.dirs = append(cl.dirs, t.TempDir())
	cl.servers = append(cl.servers, nil)
	cl.addrs = append(cl.addrs, "127.0.0.1:0")
	learnerCfg := func() Config {
		c := cl.config(2)
		c.Replication.LearnRateLimit = 1 << 20
		return c
	}
	startLearner := func() {
		t.Helper()
		var err error
		for deadline := time.Now().Add(10 * time.Second); ; {
			cl.servers[2], err = Start(learnerCfg())
			if err == nil || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err != nil {
			t.Fatalf("start learner: %v", err)
		}
		cl.addrs[2] = cl.servers[2].RPCAddr()
	}
	startLearner()
	cl.create(0, 1)
	primary, learner := cl.node(0), cl.node(2)
	const preloaded, bulkSize, size = 6000, 1000, 64
	cl.preload(primary, preloaded, bulkSize)

	w := cl.startWriter(primary, 0, size)
	waitFor(t, 30*time.Second, "the writer running", func() (bool, string) { return w.ackedCount() >= 20, "" })
	cl.meta.propose(primary, &protocol.ConfigProposalRequest{Type: protocol.ConfigAddSecondary, Node: learner, App: cl.tb.app,
		Config: cl.meta.config(cl.gpid())})

	// Wait until the learner has completed some files but not all.
	var doneBefore []string
	waitFor(t, 60*time.Second, "a partial copy", func() (bool, string) {
		status := "no learner task"
		for _, v := range cl.servers[2].srv.Learning().Learners {
			c := v.Copy
			if v.Phase == "copying" && c.DoneFiles >= 2 && c.FetchedBytes >= 256<<10 && c.DoneFiles < c.Files-2 {
				doneBefore = c.Done
				return true, ""
			}
			status = fmt.Sprintf("%+v", v)
		}
		return false, status
	})
	cl.stop(2)
	servedBefore := cl.servers[0].srv.Learning().ServedBytes
	startLearner()

	waitFor(t, 90*time.Second, "the learner upgraded to secondary", func() (bool, string) {
		pc := cl.meta.config(cl.gpid())
		return pc.Ballot == 2 && slices.Equal(pc.Secondaries, []string{cl.node(1), learner}), fmt.Sprintf("%+v", pc)
	})
	before := w.ackedCount()
	waitFor(t, 30*time.Second, "writes with three members", func() (bool, string) {
		return w.ackedCount() >= before+50, fmt.Sprint(w.ackedCount())
	})
	acked := w.halt()
	d := cl.waitSameData(0, 1, 2)
	if d.Records < int64(preloaded+len(acked)) {
		t.Fatalf("replicas hold %d records, want at least %d", d.Records, preloaded+len(acked))
	}
	cl.readAll(primary, acked, size)
	if v, _ := cl.info(2); v.Role != "PS_SECONDARY" || v.Ballot != 2 {
		t.Fatalf("learner reports %+v", v)
	}

	// The restarted learner kept what it had completed.
	views := cl.servers[2].srv.Learning().Learners
	if len(views) != 1 {
		t.Fatalf("learner tasks after the restart: %+v", views)
	}
	lv := views[0]
	c := lv.Copy
	served := cl.servers[0].srv.Learning().ServedBytes - servedBefore
	t.Logf("copy before restart: %d files %v; after: %+v; served after restart %d bytes", len(doneBefore), doneBefore, c, served)
	if lv.Phase != "done" || lv.Installs != 1 {
		t.Fatalf("learner task %+v", lv)
	}
	if c.ResumedFiles < len(doneBefore) || c.ResumedBytes == 0 || c.ResumedBytes+c.FetchedBytes != c.TotalBytes {
		t.Fatalf("resumed copy %+v; %d files were complete before the restart", c, len(doneBefore))
	}
	if served != c.FetchedBytes {
		t.Fatalf("primary served %d bytes after the restart, the learner fetched %d", served, c.FetchedBytes)
	}
}

// TestReplicationFailover: the primary's server dies under load; the meta
// (here by hand) promotes a secondary with a higher ballot. The new primary
// re-prepares what its predecessor left uncommitted, takes writes with the
// remaining secondary, and every write acknowledged by either primary is
// there.
func TestReplicationFailover(t *testing.T) {
	cl := newCluster(t, 3)
	cl.create(0, 1, 2)
	const size = 64
	w := cl.startWriter(cl.node(0), 0, size)
	waitFor(t, 30*time.Second, "100 acknowledged writes", func() (bool, string) {
		return w.ackedCount() >= 100, fmt.Sprint(w.ackedCount())
	})
	cl.stop(0)
	acked := w.halt()

	pc := cl.meta.config(cl.gpid())
	pc = protocol.PartitionConfiguration{Gpid: pc.Gpid, Ballot: pc.Ballot + 1, Primary: cl.node(1), Secondaries: []string{cl.node(2)},
		LastDrops: []string{cl.node(0)}, MaxReplicaCount: pc.MaxReplicaCount}
	cl.meta.mu.Lock()
	cl.meta.cfgs[pc.Gpid] = clonePC(pc)
	cl.meta.mu.Unlock()
	for _, i := range []int{1, 2} {
		cl.meta.propose(cl.node(i), &protocol.ConfigProposalRequest{Type: protocol.ConfigUpgradeToPrimary, Node: cl.node(1),
			App: cl.tb.app, Config: clonePC(pc)})
	}
	w2 := cl.startWriter(cl.node(1), 1_000_000, size)
	waitFor(t, 30*time.Second, "50 writes on the new primary", func() (bool, string) {
		return w2.ackedCount() >= 50, fmt.Sprint(w2.ackedCount())
	})
	acked2 := w2.halt()
	cl.readAll(cl.node(1), acked, size)
	cl.readAll(cl.node(1), acked2, size)
	d := cl.waitSameData(1, 2)
	if d.Records < int64(len(acked)+len(acked2)) {
		t.Fatalf("replicas hold %d records, %d writes were acknowledged", d.Records, len(acked)+len(acked2))
	}
}

// TestLearnerOfEmptyPartition: a node added to a partition that holds no
// write yet (decree 0) learns the primary's checkpoint (it carries the
// table info) and is upgraded to secondary. The checkpoint of an empty
// partition has base decree 0, so the learner's decree stays 0 after
// installing it: the primary must not answer that learner with the same
// checkpoint again and again.
func TestLearnerOfEmptyPartition(t *testing.T) {
	cl := newCluster(t, 3)
	cl.create(0, 1)
	primary, learner := cl.node(0), cl.node(2)
	cl.meta.propose(primary, &protocol.ConfigProposalRequest{Type: protocol.ConfigAddSecondary, Node: learner, App: cl.tb.app,
		Config: cl.meta.config(cl.gpid())})
	waitFor(t, 30*time.Second, "the learner upgraded to secondary", func() (bool, string) {
		pc := cl.meta.config(cl.gpid())
		return pc.Ballot == 2 && slices.Equal(pc.Secondaries, []string{cl.node(1), learner}),
			fmt.Sprintf("%+v; learner tasks %+v", pc, cl.servers[2].srv.Learning().Learners)
	})
	views := cl.servers[2].srv.Learning().Learners
	if len(views) != 1 || views[0].Phase != "done" || views[0].Installs != 1 {
		t.Fatalf("learner tasks %+v, want one done after one install", views)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range 20 {
		if err := cl.set(ctx, primary, i, 64); err != nil {
			t.Fatalf("set %d: %v", i, err)
		}
	}
	if d := cl.waitSameData(0, 1, 2); d.Records != 20 {
		t.Fatalf("digest %+v, want 20 records", d)
	}
}
