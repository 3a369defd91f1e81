package integration

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pegasus-go/pegasus/client-go/admin"
	"github.com/pegasus-go/pegasus/client-go/pegasus"
	"github.com/pegasus-go/pegasus/integration/internal/harness"
	"github.com/pegasus-go/pegasus/shared/keyschema"
	"github.com/pegasus-go/pegasus/shared/protocol"
	"github.com/pegasus-go/pegasus/shared/rpc"
	"github.com/pegasus-go/pegasus/shared/zktest"
	"github.com/pegasus-go/pegasus/tools/onebox"
)

// Failure-detection timing of the failover clusters: a replica server's
// lease runs lease past each beacon it sends; the meta declares it dead
// after grace without a beacon.
const (
	foLease = 3 * time.Second
	foGrace = 4 * time.Second
	// foTakeover bounds how long after a primary's death a new primary may
	// take: the primary's lease, the grace period, and room for the
	// guardian, the proposal and a loaded machine (-race, two cores).
	foTakeover = foLease + foGrace + 10*time.Second
	// foHeal bounds how long a partition may take to have all its members
	// again after the failed server came back (learning included).
	foHeal = 90 * time.Second
)

// failoverSettings are the meta and replica settings of the failover
// clusters: short leases, fast beacons, syncs and group checks.
func failoverSettings(o onebox.Options) onebox.Options {
	o.ZooKeeper = true
	o.MetaSettings = append(o.MetaSettings,
		"meta_server.lease="+foLease.String(), "meta_server.grace="+foGrace.String(),
		"meta_server.guardian_interval=250ms", "zookeeper.session_timeout=3s")
	o.ReplicaSettings = append(o.ReplicaSettings,
		"replica_server.beacon_interval=300ms", "replication.config_sync_interval=500ms",
		"replication.group_check_interval=1s", "replication.prepare_timeout=2s")
	return o
}

// foEnv is one failover cluster with one 3-replica table.
type foEnv struct {
	c          *harness.Cluster
	ac         *admin.Client
	client     *pegasus.Client
	table      *pegasus.Table
	name       string
	partitions int32
	rpc        *rpc.Client
}

func startFailoverCluster(t *testing.T, o onebox.Options, name string, partitions int32) *foEnv {
	t.Helper()
	harness.SkipExternal(t)
	if err := zktest.Available(zktest.Options{}); err != nil {
		t.Fatal(err)
	}
	c := harness.Start(t, failoverSettings(o))
	metas := c.MetaServers("onebox")
	ac, err := admin.New(admin.Config{MetaServers: metas, AttemptTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ac.Close() })
	client, err := pegasus.NewClient(pegasus.Config{MetaServers: metas, MaxRetryBackoff: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	rc, err := rpc.NewClient(rpc.ClientConfig{DialTimeout: time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rc.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := ac.CreateApp(ctx, name, admin.CreateAppOptions{PartitionCount: partitions, ReplicaCount: 3}); err != nil {
		t.Fatal(err)
	}
	e := &foEnv{c: c, ac: ac, client: client, name: name, partitions: partitions, rpc: rc}
	e.waitHealthy(t, time.Minute)
	if e.table, err = client.OpenTable(ctx, name); err != nil {
		t.Fatal(err)
	}
	return e
}

// TestPausedPrimaryServesNothing SIGSTOPs a primary longer than the grace
// period in a cluster of four replica servers (1 meta server, a 3-replica
// table of 2 partitions): while it is stopped a new primary takes over and
// the fourth server is added in its place. After SIGCONT, reads (and, under
// load, writes) sent straight to the old primary for the partitions it led
// must all be refused: no stale read, no write accepted.
//
// Known failure (replica server): it serves stale reads for up to a group
// check interval after SIGCONT. Its lease ran out while it was stopped, but
// the first beacon after SIGCONT renews it (metaserver
// internal/meta/service_internal.go Beacon grants a lease to a node that
// was declared dead and "returned"; replicaserver internal/server/meta.go
// beacon calls grantLease for every replica), and its replica still holds
// the old configuration in which it is primary: nothing tells it the group
// moved on until one of its own group checks or prepares is answered with
// a newer ballot (core/follower.go stepFromPrimary -> "peer has a newer
// ballot; going inactive"), or the new primary adds it as a learner. With
// three servers the returning node is the only learner candidate, so the
// new primary's group check usually closes the window within milliseconds;
// with a fourth server already in its place only the old primary's own
// group check (every replication.group_check_interval, 5s by default) does.
// Pegasus makes every primary inactive when its server loses the meta
// (lease expiry) and lets it serve again only with a configuration from the
// meta; here that would be a lapsed lease making a multi-member primary
// inactive until a higher ballot, which the meta already sends to primaries
// that come back (guardian rule 4).
func TestPausedPrimaryServesNothing(t *testing.T) {
	e := startFailoverCluster(t, onebox.Options{Metas: 1, Replicas: 4}, "paused", 2)
	t.Run("Idle", e.testStopIdlePrimaryPastGrace)
	t.Run("UnderLoad", e.testStopPrimaryPastGrace)
}

// TestReplicaFailover runs one cluster of real processes on a real
// ZooKeeper (2 meta servers, 3 replica servers, a 3-replica table of 2
// partitions) through failures of its replica servers and of the meta
// leader, each under a steady write load through client-go. After each,
// every acknowledged write is read back, every partition has its 3 members
// again and the three replicas of each partition hold identical data.
// Each subtest starts from a healthy cluster and leaves one behind.
func TestReplicaFailover(t *testing.T) {
	e := startFailoverCluster(t, onebox.Options{Metas: 2, Replicas: 3}, "failover", 2)
	t.Run("KillPrimary", e.testKillPrimary)
	t.Run("KillSecondary", e.testKillSecondary)
	t.Run("KillAllReplicaServers", e.testKillAllReplicaServers)
	t.Run("KillMetaLeader", e.testKillMetaLeader)
}

// testKillPrimary SIGKILLs the primary of partition 0: a new primary takes
// over within the lease, the grace period and a few seconds; writes go on;
// the restarted server learns its way back into every group.
func (e *foEnv) testKillPrimary(t *testing.T) {
	e.waitHealthy(t, foHeal)
	load := e.startLoad(t, "killprimary")
	e.progress(t, load, e.allPartitions()...)

	cfg := e.config(t)
	p0 := cfg.Partitions[0]
	victim := p0.Primary
	name := e.c.InstanceByRPC(victim)
	learnBefore := e.learnSessions(t, victim)
	t.Logf("killing %s (%s), primary of %v", name, victim, primariesOf(cfg, victim))
	killed := time.Now()
	e.c.Kill(name)
	after, took := e.waitConfig(t, "a new primary of "+p0.Gpid.String(), foTakeover, func(cfg *protocol.QueryConfigResponse) string {
		pc := cfg.Partitions[0]
		if pc.Primary == "" || pc.Primary == victim {
			return fmt.Sprintf("primary %q at ballot %d", pc.Primary, pc.Ballot)
		}
		return ""
	})
	np := after.Partitions[0]
	t.Logf("TIMING kill primary: %s primary of %s at ballot %d %v after SIGKILL (lease %v, grace %v)",
		np.Primary, np.Gpid, np.Ballot, took.Round(time.Millisecond), foLease, foGrace)
	e.progress(t, load, 0)
	writable := time.Since(killed)

	e.c.Restart(name)
	restarted := time.Now()
	e.waitHealthy(t, foHeal)
	t.Logf("TIMING %s restarted: every group has its 3 members again after %v", name, time.Since(restarted).Round(time.Millisecond))
	// Metrics are published every second: give the counter time to show.
	for deadline := time.Now().Add(5 * time.Second); ; {
		n := e.learnSessions(t, victim)
		if n > learnBefore {
			t.Logf("learn sessions served by the other servers: %v before the kill, %v after the rejoin", learnBefore, n)
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("learn sessions served by the other servers: %v before the kill, %v after the rejoin: the restarted server did not learn", learnBefore, n)
			break
		}
		time.Sleep(200 * time.Millisecond) // polling other processes
	}
	e.progress(t, load, e.allPartitions()...)
	res := load.Stop()
	t.Logf("load: %s; partition 0 went %v without an acknowledged write (partition 0 writable again %v after SIGKILL)",
		res, res.LongestGap(0, killed.Add(-time.Second), killed.Add(writable)).Round(time.Millisecond), writable.Round(time.Millisecond))
	e.verify(t, res)
	e.checkDigests(t)
}

// testKillSecondary SIGKILLs a server that is secondary only: it is removed
// from its groups, writes go on with two members, and after a restart it
// is added back by learning.
func (e *foEnv) testKillSecondary(t *testing.T) {
	e.waitHealthy(t, foHeal)
	load := e.startLoad(t, "killsecondary")
	e.progress(t, load, e.allPartitions()...)

	cfg := e.config(t)
	var victim string
	for _, addr := range e.c.State.Cluster("onebox").Replicas {
		if len(primariesOf(cfg, addr)) == 0 {
			victim = addr
			break
		}
	}
	if victim == "" {
		t.Fatalf("every replica server is a primary of the %d partitions: %+v", e.partitions, cfg.Partitions)
	}
	name := e.c.InstanceByRPC(victim)
	t.Logf("killing %s (%s), secondary of every partition and primary of none", name, victim)
	killed := time.Now()
	e.c.Kill(name)
	_, took := e.waitConfig(t, victim+" removed from every partition", foTakeover, func(cfg *protocol.QueryConfigResponse) string {
		var in []string
		for _, pc := range cfg.Partitions {
			if slices.Contains(harness.Members(pc), victim) {
				in = append(in, pc.Gpid.String())
			}
		}
		if len(in) > 0 {
			return "still a member of " + strings.Join(in, ", ")
		}
		return ""
	})
	t.Logf("TIMING kill secondary: removed from every group %v after SIGKILL", took.Round(time.Millisecond))
	// Writes go on with two members per partition.
	e.progress(t, load, e.allPartitions()...)
	during := load.Acked()

	e.c.Restart(name)
	restarted := time.Now()
	e.waitHealthy(t, foHeal)
	t.Logf("TIMING %s restarted: every group has its 3 members again after %v", name, time.Since(restarted).Round(time.Millisecond))
	e.progress(t, load, e.allPartitions()...)
	res := load.Stop()
	t.Logf("load: %s (%d acknowledged before the restart); longest write gap around the kill: %v",
		res, during, maxGap(res, e.allPartitions(), killed.Add(-time.Second), restarted).Round(time.Millisecond))
	e.verify(t, res)
	e.checkDigests(t)
}

// probeResult tallies the answers of an old primary to direct requests.
type probeResult struct {
	mu         sync.Mutex
	codes      map[string]int // "get CODE" / "set CODE" -> count
	violations []string
	written    [][]byte // hashkeys of probe writes with an unknown outcome or accepted
	// first and last are when the first and the last violation happened.
	first, last time.Time
}

func (p *probeResult) add(op string, code protocol.ErrorCode, violation string, hashKey []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.codes[op+" "+code.String()]++
	if violation != "" {
		now := time.Now()
		if p.first.IsZero() {
			p.first = now
		}
		p.last = now
		if len(p.violations) < 10 {
			p.violations = append(p.violations, violation)
		}
	}
	if hashKey != nil {
		p.written = append(p.written, hashKey)
	}
}

// refused reports whether an old primary's answer is a refusal that
// proves it did not serve the request.
func refused(code protocol.ErrorCode) bool {
	switch code {
	case protocol.CodeLeaseExpired, protocol.CodeInvalidState, protocol.CodeStaleBallot,
		protocol.CodeObjectNotFound, protocol.CodeNotEnoughMember:
		return true
	}
	return false
}

// foProbeWindow is how long the old primary is probed after SIGCONT: past
// its first beacon, a group check and a config sync.
const foProbeWindow = 3 * time.Second

// testStopPrimaryPastGrace SIGSTOPs the primary of partition 0 longer than
// the grace period: a new primary takes over while it is stopped. After
// SIGCONT, reads and writes sent straight to the old primary (shared/rpc,
// no client rerouting) for the partitions it led must all be refused: no
// stale read, no write accepted.
func (e *foEnv) testStopPrimaryPastGrace(t *testing.T) { e.stopPrimaryPastGrace(t, false) }

// testStopIdlePrimaryPastGrace is testStopPrimaryPastGrace without client
// writes reaching the old primary: the load stops before SIGSTOP and the
// old primary is probed with reads only, so no prepare of its own tells it
// that its group moved on; only its lease and the meta can.
func (e *foEnv) testStopIdlePrimaryPastGrace(t *testing.T) { e.stopPrimaryPastGrace(t, true) }

func (e *foEnv) stopPrimaryPastGrace(t *testing.T, idle bool) {
	e.waitHealthy(t, foHeal)
	prefix := "stopprimary"
	if idle {
		prefix = "stopidle"
	}
	load := e.startLoad(t, prefix)
	e.progress(t, load, e.allPartitions()...)
	var res harness.LoadResult
	if idle {
		res = load.Stop()
	}

	cfg := e.config(t)
	old := cfg.Partitions[0].Primary
	led := primariesOf(cfg, old)
	name := e.c.InstanceByRPC(old)
	t.Logf("stopping %s (%s), primary of %v", name, old, led)
	stopped := time.Now()
	e.c.Signal(name, syscall.SIGSTOP)
	continued := false
	defer func() {
		if !continued {
			e.c.Signal(name, syscall.SIGCONT)
		}
	}()
	_, took := e.waitConfig(t, "new primaries for "+fmt.Sprint(led), foTakeover, func(cfg *protocol.QueryConfigResponse) string {
		var bad []string
		for _, g := range led {
			pc := cfg.Partitions[g.PartitionIndex]
			if pc.Primary == "" || pc.Primary == old {
				bad = append(bad, fmt.Sprintf("%s primary %q", g, pc.Primary))
			}
		}
		return strings.Join(bad, ", ")
	})
	t.Logf("TIMING stop primary: new primaries %v after SIGSTOP", took.Round(time.Millisecond))
	tookOver := time.Now()
	parts := make([]int32, len(led))
	for i, g := range led {
		parts[i] = g.PartitionIndex
	}
	// The new primaries take writes while the old one is still stopped,
	// checked through a fresh client with the acknowledged keys recorded
	// (TestClientReroutesAroundStoppedPrimary covers the load's own client
	// moving over).
	fresh := e.freshWrites(t, prefix+"-fresh", parts, 20)
	// The meta counts the grace period from the last beacon, which came
	// before SIGSTOP: hold the process stopped a grace period past the
	// signal too (the fault's duration, not a wait for an effect).
	if d := foGrace + 500*time.Millisecond - time.Since(stopped); d > 0 {
		time.Sleep(d)
	}

	// Keys to read from the old primary: acknowledged by the new primaries
	// (a stale read would miss them) and before (any answer is a read
	// served).
	keys := map[int32][]harness.Record{}
	for _, r := range append(load.Snapshot(), fresh.Acked...) {
		if slices.Contains(parts, r.Partition) {
			keys[r.Partition] = append(keys[r.Partition], r)
		}
	}
	for p, rs := range keys {
		slices.SortFunc(rs, func(a, b harness.Record) int { return b.Done.Compare(a.Done) })
		keys[p] = rs[:min(len(rs), 200)]
		newer := 0
		for _, r := range keys[p] {
			if r.Start.After(tookOver) {
				newer++
			}
		}
		t.Logf("partition %d: probing with %d acknowledged keys, %d written after the takeover", p, len(keys[p]), newer)
	}

	e.c.Signal(name, syscall.SIGCONT)
	continued = true
	contAt := time.Now()
	probes := &probeResult{codes: map[string]int{}}
	var wg sync.WaitGroup
	for _, g := range led {
		for w := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				e.probe(old, g, w, keys[g.PartitionIndex], contAt.Add(foProbeWindow), !idle, probes)
			}()
		}
	}
	wg.Wait()
	t.Logf("old primary %s after SIGCONT, %v of probes: %v", old, foProbeWindow, probes.codes)
	if len(probes.violations) > 0 {
		t.Errorf("the old primary served requests after its lease expired and a new primary took over, from %v to %v after SIGCONT; e.g.\n%s",
			probes.first.Sub(contAt).Round(time.Millisecond), probes.last.Sub(contAt).Round(time.Millisecond), strings.Join(probes.violations, "\n"))
	}

	e.waitHealthy(t, foHeal)
	t.Logf("TIMING %s continued: every group has its 3 members again after %v", name, time.Since(contAt).Round(time.Millisecond))
	if !idle {
		e.progress(t, load, e.allPartitions()...)
		res = load.Stop()
	}
	t.Logf("load: %s", res)
	e.verify(t, res)
	e.verify(t, fresh)
	// A probe write whose outcome is unknown must not have been applied.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, hk := range probes.written {
		if v, err := e.table.Get(ctx, hk, []byte("s")); !errors.Is(err, pegasus.ErrNotFound) {
			t.Errorf("probe write %s sent to the old primary: read back %q, %v; want not found", hk, v, err)
		}
	}
	e.checkDigests(t)
}

// freshWrites writes n keys to each partition of parts through a new
// client (which routes by the current configuration) and returns them as
// acknowledged records.
func (e *foEnv) freshWrites(t *testing.T, prefix string, parts []int32, n int) harness.LoadResult {
	t.Helper()
	client, err := pegasus.NewClient(pegasus.Config{MetaServers: e.c.MetaServers("onebox")})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	table, err := client.OpenTable(ctx, e.name)
	if err != nil {
		t.Fatal(err)
	}
	var res harness.LoadResult
	want := map[int32]int{}
	for i := 0; len(res.Acked) < n*len(parts); i++ {
		r := harness.Record{HashKey: fmt.Appendf(nil, "%s-%d", prefix, i), SortKey: []byte("s"), Value: fmt.Appendf(nil, "v-%s-%d", prefix, i)}
		r.Partition, _ = keyschema.PartitionIndex(keyschema.Hash(r.HashKey, r.SortKey), e.partitions)
		if !slices.Contains(parts, r.Partition) || want[r.Partition] >= n {
			continue
		}
		r.Start = time.Now()
		if err := table.Set(ctx, r.HashKey, r.SortKey, r.Value, nil); err != nil {
			t.Fatalf("write %s to partition %d through a fresh client: %v", r.HashKey, r.Partition, err)
		}
		r.Done = time.Now()
		want[r.Partition]++
		res.Acked = append(res.Acked, r)
	}
	return res
}

// probe sends reads (of known acknowledged keys), alternating with writes
// (of fresh keys) when writes is set, for partition g straight to the old
// primary until the deadline, and records every answer.
func (e *foEnv) probe(addr string, g protocol.Gpid, w int, keys []harness.Record, deadline time.Time, writes bool, out *probeResult) {
	for i := 0; time.Now().Before(deadline); i++ {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		if (!writes || i%2 == 0) && len(keys) > 0 {
			r := keys[i%len(keys)]
			req := &protocol.GetRequest{Header: header(g, r.HashKey, r.SortKey), HashKey: r.HashKey, SortKey: r.SortKey}
			var resp protocol.GetResponse
			err := e.rpc.Call(ctx, addr, protocol.ServiceReplica, protocol.MethodGet, req, &resp)
			code := protocol.CodeOf(err)
			var violation string
			switch {
			case err == nil:
				violation = fmt.Sprintf("get %s on %s served %q (written %q)", r.HashKey, g, resp.Value, r.Value)
			case code == protocol.CodeNotFound:
				violation = fmt.Sprintf("get %s on %s answered not found: a stale read of a key acknowledged at %s", r.HashKey, g, r.Done.Format("15:04:05.000"))
			case !refused(code):
				violation = fmt.Sprintf("get %s on %s: unexpected answer %v", r.HashKey, g, err)
			}
			out.add("get", code, violation, nil)
		} else {
			hk := keyIn(g, e.partitions, fmt.Sprintf("probe-%s-w%d-%d", g, w, i))
			req := &protocol.SetRequest{Header: header(g, hk, []byte("s")), HashKey: hk, SortKey: []byte("s"), Value: []byte("must-not-be-written")}
			var resp protocol.SetResponse
			err := e.rpc.Call(ctx, addr, protocol.ServiceReplica, protocol.MethodSet, req, &resp)
			code := protocol.CodeOf(err)
			var violation string
			var written []byte
			switch {
			case err == nil:
				violation = fmt.Sprintf("set %s on %s accepted at decree %d", hk, g, resp.Decree)
				written = hk
			case !refused(code):
				// Not a refusal (a timeout): it must not show up later.
				written = hk
			}
			out.add("set", code, violation, written)
		}
		cancel()
	}
}

// keyIn returns the first hashkey prefix-0, prefix-1, ... that belongs to
// partition g of a table of partitions partitions.
func keyIn(g protocol.Gpid, partitions int32, prefix string) []byte {
	for i := 0; ; i++ {
		hk := fmt.Appendf(nil, "%s-%d", prefix, i)
		if p, _ := keyschema.PartitionIndex(keyschema.Hash(hk, []byte("s")), partitions); p == g.PartitionIndex {
			return hk
		}
	}
}

func header(g protocol.Gpid, hashKey, sortKey []byte) protocol.RequestHeader {
	return protocol.RequestHeader{Gpid: g, PartitionHash: keyschema.Hash(hashKey, sortKey), TimeoutMs: 1000}
}

// testKillAllReplicaServers SIGKILLs every replica server at once. With
// no server alive the meta freezes reconfiguration (no quorum of nodes), so
// the groups keep their members; after the restart each primary gets a new
// ballot and every acknowledged write is served again.
func (e *foEnv) testKillAllReplicaServers(t *testing.T) {
	e.waitHealthy(t, foHeal)
	load := e.startLoad(t, "killall")
	e.progress(t, load, e.allPartitions()...)

	replicas := e.c.Instances("onebox", onebox.RoleReplica)
	killed := time.Now()
	for _, r := range replicas {
		e.c.Kill(r)
	}
	waitNodes(t, e.ac, protocol.NodeDead, e.c.State.Cluster("onebox").Replicas)
	t.Logf("TIMING kill all: the meta declared all %d replica servers dead %v after SIGKILL", len(replicas), time.Since(killed).Round(time.Millisecond))
	restarted := time.Now()
	for _, r := range replicas {
		e.c.Restart(r)
	}
	e.waitHealthy(t, foHeal)
	t.Logf("TIMING kill all: every group has its 3 members again %v after the restart", time.Since(restarted).Round(time.Millisecond))
	e.progress(t, load, e.allPartitions()...)
	res := load.Stop()
	t.Logf("load: %s; longest write gap: %v", res, maxGap(res, e.allPartitions(), killed.Add(-time.Second), time.Now()).Round(time.Millisecond))
	e.verify(t, res)
	e.checkDigests(t)
}

// testKillMetaLeader SIGKILLs the meta leader: the other meta server takes
// over, writes go on, nothing acknowledged is lost; the killed meta server
// is restarted at the end.
func (e *foEnv) testKillMetaLeader(t *testing.T) {
	e.waitHealthy(t, foHeal)
	load := e.startLoad(t, "killmeta")
	e.progress(t, load, e.allPartitions()...)

	ctx := context.Background()
	info, err := e.ac.ClusterInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	old := info.MetaLeader
	name := e.c.InstanceByRPC(old)
	killed := time.Now()
	e.c.Kill(name)
	deadline := time.Now().Add(time.Minute)
	for {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		info, err = e.ac.ClusterInfo(cctx)
		cancel()
		if err == nil && info.MetaLeader != "" && info.MetaLeader != old {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no new meta leader a minute after killing %s: last answer %+v, %v", old, info, err)
		}
		time.Sleep(50 * time.Millisecond) // polling other processes
	}
	t.Logf("TIMING kill meta leader: %s leads %v after SIGKILL of %s", info.MetaLeader, time.Since(killed).Round(time.Millisecond), old)
	e.progress(t, load, e.allPartitions()...)
	e.waitHealthy(t, foHeal)
	res := load.Stop()
	t.Logf("load: %s; longest write gap: %v", res, maxGap(res, e.allPartitions(), killed.Add(-time.Second), time.Now()).Round(time.Millisecond))
	e.verify(t, res)
	e.checkDigests(t)
	e.c.Restart(name)
}

// TestDDDRecovery kills, at once, the three replica servers holding every
// replica of a partition in a cluster of four, under a write load: the
// meta loses every member of that partition (they all go to its drops)
// while the fourth server keeps the other partitions readable. After the
// three restart, the meta recovers the partition only once every last
// member reported back, choosing the most advanced one (the DDD safe
// path); learning restores the other replicas; nothing acknowledged is
// lost and the replicas agree.
func TestDDDRecovery(t *testing.T) {
	// One alive server of four must not freeze reconfiguration.
	e := startFailoverCluster(t, onebox.Options{Metas: 1, Replicas: 4,
		MetaSettings: []string{"meta_server.min_alive_nodes_ratio=0.2"}}, "ddd", 8)
	load := e.startLoad(t, "ddd")
	e.progress(t, load, e.allPartitions()...)

	cfg := e.config(t)
	victims := harness.Members(cfg.Partitions[0])
	var lost []int32 // partitions with every member among the victims
	for _, pc := range cfg.Partitions {
		if !slices.ContainsFunc(harness.Members(pc), func(m string) bool { return !slices.Contains(victims, m) }) {
			lost = append(lost, pc.Gpid.PartitionIndex)
		}
	}
	t.Logf("killing %v: every member of partitions %v", victims, lost)
	killed := time.Now()
	for _, v := range victims {
		e.c.Kill(e.c.InstanceByRPC(v))
	}
	ddd, took := e.waitConfig(t, "partitions "+fmt.Sprint(lost)+" without members", foTakeover, func(cfg *protocol.QueryConfigResponse) string {
		var bad []string
		for _, p := range lost {
			pc := cfg.Partitions[p]
			if pc.Primary != "" || len(pc.Secondaries) > 0 {
				bad = append(bad, fmt.Sprintf("%s primary %q secondaries %v", pc.Gpid, pc.Primary, pc.Secondaries))
			}
		}
		return strings.Join(bad, ", ")
	})
	for _, p := range lost {
		pc := ddd.Partitions[p]
		t.Logf("%s: no member at ballot %d, last drops %v", pc.Gpid, pc.Ballot, pc.LastDrops)
		for _, v := range victims {
			if !slices.Contains(pc.LastDrops, v) {
				t.Errorf("%s: last drops %v lack the dead member %s", pc.Gpid, pc.LastDrops, v)
			}
		}
	}
	t.Logf("TIMING ddd: partitions %v lost every member %v after SIGKILL", lost, took.Round(time.Millisecond))

	restarted := time.Now()
	for _, v := range victims {
		e.c.Restart(e.c.InstanceByRPC(v))
	}
	recovered, _ := e.waitConfig(t, "partitions "+fmt.Sprint(lost)+" served again", foHeal, func(cfg *protocol.QueryConfigResponse) string {
		var bad []string
		for _, p := range lost {
			if pc := cfg.Partitions[p]; pc.Primary == "" {
				bad = append(bad, pc.Gpid.String())
			}
		}
		return strings.Join(bad, ", ")
	})
	for _, p := range lost {
		pc := recovered.Partitions[p]
		t.Logf("%s recovered: primary %s at ballot %d", pc.Gpid, pc.Primary, pc.Ballot)
	}
	t.Logf("TIMING ddd: partitions %v have a primary again %v after the restart began (%d servers restarted one after the other)", lost, time.Since(restarted).Round(time.Millisecond), len(victims))
	e.waitHealthy(t, foHeal)
	t.Logf("TIMING ddd: every group has its 3 members again %v after the restart", time.Since(restarted).Round(time.Millisecond))
	e.progress(t, load, e.allPartitions()...)
	res := load.Stop()
	t.Logf("load: %s; longest write gap of partition %d: %v", res, lost[0], res.LongestGap(lost[0], killed.Add(-time.Second), time.Now()).Round(time.Millisecond))
	e.verify(t, res)
	e.checkDigests(t)
}

// startLoad starts a write load on the table, stopped at the end of the
// test whatever happens.
func (e *foEnv) startLoad(t *testing.T, prefix string) *harness.Load {
	l := harness.StartLoad(e.table, harness.LoadOptions{Prefix: prefix, Workers: 6, PartitionCount: e.partitions})
	t.Cleanup(func() { l.Stop() })
	return l
}

func (e *foEnv) allPartitions() []int32 {
	out := make([]int32, e.partitions)
	for i := range out {
		out[i] = int32(i)
	}
	return out
}

// progress waits until each of parts has acknowledged 10 more writes.
func (e *foEnv) progress(t *testing.T, l *harness.Load, parts ...int32) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	start := time.Now()
	if err := l.WaitProgress(ctx, 10, parts...); err != nil {
		t.Fatalf("partitions %v took no writes for %v: %v", parts, time.Since(start).Round(time.Millisecond), err)
	}
}

// verify reads every acknowledged write back.
func (e *foEnv) verify(t *testing.T, res harness.LoadResult) {
	t.Helper()
	if len(res.Acked) == 0 {
		t.Fatal("the load had no acknowledged write")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	start := time.Now()
	if err := res.Verify(ctx, e.table, 16); err != nil {
		t.Fatal(err)
	}
	t.Logf("read back %d acknowledged and %d maybe writes in %v", len(res.Acked), len(res.Maybe), time.Since(start).Round(time.Millisecond))
}

// config returns the table's current configuration.
func (e *foEnv) config(t *testing.T) *protocol.QueryConfigResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cfg, err := e.ac.QueryConfig(ctx, e.name)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// waitConfig polls the table's configuration until why returns "" and
// returns that configuration and how long it took; it fails t with the
// last reason after timeout.
func (e *foEnv) waitConfig(t *testing.T, what string, timeout time.Duration, why func(*protocol.QueryConfigResponse) string) (*protocol.QueryConfigResponse, time.Duration) {
	t.Helper()
	start := time.Now()
	last := "no answer"
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		cfg, err := e.ac.QueryConfig(ctx, e.name)
		cancel()
		if err == nil {
			if last = why(cfg); last == "" {
				return cfg, time.Since(start)
			}
		} else {
			last = err.Error()
		}
		if time.Since(start) > timeout {
			t.Fatalf("waited %v for %s: %s", timeout, what, last)
		}
		time.Sleep(50 * time.Millisecond) // polling other processes
	}
}

// waitHealthy waits until every partition has a primary and two
// secondaries on distinct nodes and every member reports that role at the
// configuration's ballot.
func (e *foEnv) waitHealthy(t *testing.T, timeout time.Duration) {
	t.Helper()
	e.waitConfig(t, "a healthy table", timeout, func(cfg *protocol.QueryConfigResponse) string {
		if why := harness.Unhealthy(cfg, 3); why != "" {
			return why
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		pages := map[string]*harness.ReplicasPage{}
		for _, pc := range cfg.Partitions {
			for i, m := range harness.Members(pc) {
				if pages[m] == nil {
					p, err := e.c.Replicas(ctx, m)
					if err != nil {
						return err.Error()
					}
					pages[m] = &p
				}
				want := protocol.PartitionSecondary.String()
				if i == 0 {
					want = protocol.PartitionPrimary.String()
				}
				r, ok := pages[m].Replica(pc.Gpid)
				if !ok || r.Role != want || r.Ballot != pc.Ballot {
					return fmt.Sprintf("%s on %s: %+v (present %v), want %s at ballot %d", pc.Gpid, m, r, ok, want, pc.Ballot)
				}
			}
		}
		return ""
	})
}

// checkDigests waits until the three replicas of every partition report
// the same digest (same applied decree, records and hash): with the load
// stopped, the secondaries catch up with the primary's commit point.
func (e *foEnv) checkDigests(t *testing.T) {
	t.Helper()
	cfg := e.config(t)
	var total int64
	for _, pc := range cfg.Partitions {
		deadline := time.Now().Add(30 * time.Second)
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			digests := map[string]harness.Digest{}
			var err error
			for _, m := range harness.Members(pc) {
				var d harness.Digest
				if d, err = e.c.Digest(ctx, m, pc.Gpid); err != nil {
					break
				}
				digests[m] = d
			}
			cancel()
			if err == nil && len(digests) == 3 && len(slices.Compact(slices.Collect(maps.Values(digests)))) == 1 {
				total += digests[pc.Primary].Records
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: the replicas' digests differ 30s after the load stopped: %+v, %v", pc.Gpid, digests, err)
			}
			time.Sleep(100 * time.Millisecond) // polling other processes
		}
	}
	t.Logf("the 3 replicas of each of %d partitions hold identical data (%d records in all)", len(cfg.Partitions), total)
}

// learnSessions sums the learning sessions the replica servers but except
// opened as a primary since they started.
func (e *foEnv) learnSessions(t *testing.T, except string) float64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var sum float64
	for _, addr := range e.c.State.Cluster("onebox").Replicas {
		if addr == except {
			continue
		}
		v, err := e.c.MetricSum(ctx, addr, "learn_sessions_total")
		if err != nil {
			t.Fatal(err)
		}
		sum += v
	}
	return sum
}

// primariesOf returns the partitions node leads.
func primariesOf(cfg *protocol.QueryConfigResponse, node string) []protocol.Gpid {
	var out []protocol.Gpid
	for _, pc := range cfg.Partitions {
		if pc.Primary == node {
			out = append(out, pc.Gpid)
		}
	}
	return out
}

// maxGap is the longest time any of parts went without an acknowledged
// write between from and to.
func maxGap(res harness.LoadResult, parts []int32, from, to time.Time) time.Duration {
	var gap time.Duration
	for _, p := range parts {
		gap = max(gap, res.LongestGap(p, from, to))
	}
	return gap
}

// TestClientReroutesAroundStoppedPrimary SIGSTOPs the primary of a
// one-partition table under a client-go write load and expects the load to
// go on once the meta has promoted another replica, while the old primary
// is still stopped. A hung primary accepts the connection and never
// answers: client-go bounds each attempt (Config.AttemptTimeout), treats
// the timeout as a reason to refresh the configuration, and retries
// idempotent operations at the new primary.
func TestClientReroutesAroundStoppedPrimary(t *testing.T) {
	e := startFailoverCluster(t, onebox.Options{Metas: 1, Replicas: 3}, "hung", 1)
	load := e.startLoad(t, "hung")
	e.progress(t, load, 0)
	old := e.config(t).Partitions[0].Primary
	name := e.c.InstanceByRPC(old)
	e.c.Signal(name, syscall.SIGSTOP)
	defer e.c.Signal(name, syscall.SIGCONT)
	_, took := e.waitConfig(t, "a new primary", foTakeover, func(cfg *protocol.QueryConfigResponse) string {
		if pc := cfg.Partitions[0]; pc.Primary == "" || pc.Primary == old {
			return fmt.Sprintf("primary %q", pc.Primary)
		}
		return ""
	})
	t.Logf("new primary %v after SIGSTOP of %s", took.Round(time.Millisecond), old)
	e.freshWrites(t, "hung-fresh", []int32{0}, 5) // the cluster takes writes
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	before := load.Acked()
	if err := load.WaitProgress(ctx, 10, 0); err != nil {
		t.Errorf("the client-go load acknowledged %d writes in the 15s after a new primary took over while the old one is stopped (a fresh client writes fine): %v",
			load.Acked()-before, err)
	}
}
