package duplag

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/pegasus-go/pegasus/client-go/admin"
	"github.com/pegasus-go/pegasus/client-go/pegasus"
	"github.com/pegasus-go/pegasus/shared/protocol"
	"github.com/pegasus-go/pegasus/tools/onebox"
)

// Cluster names of the onebox Run starts.
var (
	SourceCluster = onebox.ClusterName(0)
	TargetCluster = onebox.ClusterName(1)
)

// Report is the result of Run.
type Report struct {
	// Start and End bound the run; Machine describes the host.
	Start, End time.Time
	Machine    Machine
	// Options as run (defaults applied).
	Options Options
	// DupID is the duplication measured.
	DupID  int32
	Phases []*PhaseResult
}

// Run starts a two-cluster onebox, sets up an incremental duplication of
// one table from the source to the target, runs one phase per rate and
// stops the onebox. See the package documentation.
func Run(ctx context.Context, o Options) (rep *Report, err error) {
	o.setDefaults()
	if err := o.validate(); err != nil {
		return nil, fmt.Errorf("duplag: %w", err)
	}
	rep = &Report{Start: time.Now(), Options: o, Machine: ReadMachine()}
	dir := o.Dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "duplag-"); err != nil {
			return nil, fmt.Errorf("duplag: %w", err)
		}
	}
	ob := onebox.Options{
		Dir: dir, Clusters: 2, Metas: 1, Replicas: 3, ZooKeeper: o.ZooKeeper, BasePort: o.BasePort,
		BinDir: o.BinDir, MetaSettings: o.MetaSettings, ReplicaSettings: o.ReplicaSettings,
		DieWithParent: true, Logger: o.Logger,
	}
	fmt.Fprintf(o.Progress, "starting two onebox clusters in %s\n", dir)
	st, err := onebox.Start(ctx, ob)
	if err != nil {
		return nil, fmt.Errorf("duplag: %w", err)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		serr := onebox.Stop(sctx, ob)
		if serr == nil && !o.Keep {
			serr = os.RemoveAll(dir)
		}
		if serr != nil {
			err = errors.Join(err, fmt.Errorf("duplag: stopping the onebox: %w", serr))
		}
	}()
	b, err := setup(ctx, &o, st)
	if err != nil {
		return nil, fmt.Errorf("duplag: %w", err)
	}
	defer b.close()
	rep.DupID = b.dupID
	for i, r := range o.Rates {
		pr, err := b.phase(ctx, i+1, r)
		if err != nil {
			return nil, fmt.Errorf("duplag: phase %d (%d writes/s): %w", i+1, r, err)
		}
		rep.Phases = append(rep.Phases, pr)
	}
	rep.End = time.Now()
	rep.Machine.LoadEnd = readLoad()
	return rep, nil
}

// bench is a set-up onebox: clients of both clusters and the duplication.
type bench struct {
	o            *Options
	srcAdmin     *admin.Client
	srcClient    *pegasus.Client
	dstClient    *pegasus.Client
	src, dst     *pegasus.Table
	dstAppID     int32
	dupID        int32
	targetHTTP   []string
	pollInterval time.Duration
}

func (b *bench) close() {
	if b.srcClient != nil {
		_ = b.srcClient.Close()
	}
	if b.dstClient != nil {
		_ = b.dstClient.Close()
	}
	if b.srcAdmin != nil {
		_ = b.srcAdmin.Close()
	}
}

// setup creates the table on both clusters, adds the duplication and
// waits until every source primary ships.
func setup(ctx context.Context, o *Options, st *onebox.State) (b *bench, err error) {
	srcC, dstC := st.Cluster(SourceCluster), st.Cluster(TargetCluster)
	if srcC == nil || dstC == nil {
		return nil, fmt.Errorf("the onebox lacks cluster %s or %s", SourceCluster, TargetCluster)
	}
	b = &bench{o: o, pollInterval: 200 * time.Millisecond}
	defer func() {
		if err != nil {
			b.close()
		}
	}()
	for _, in := range st.Instances {
		if in.Cluster == TargetCluster && in.Role == onebox.RoleReplica {
			b.targetHTTP = append(b.targetHTTP, in.HTTPAddress)
		}
	}
	dstAdmin, err := admin.New(admin.Config{MetaServers: dstC.MetaServers})
	if err != nil {
		return nil, err
	}
	defer dstAdmin.Close()
	if b.srcAdmin, err = admin.New(admin.Config{MetaServers: srcC.MetaServers}); err != nil {
		return nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	create := func(ac *admin.Client, cluster string) (int32, error) {
		id, err := ac.CreateApp(cctx, o.Table, admin.CreateAppOptions{PartitionCount: int32(o.Partitions), ReplicaCount: 3})
		if err != nil {
			return 0, fmt.Errorf("create %s on %s: %w", o.Table, cluster, err)
		}
		if _, err := ac.WaitForPrimaries(cctx, o.Table); err != nil {
			return 0, fmt.Errorf("%s on %s: %w", o.Table, cluster, err)
		}
		return id, nil
	}
	// The target table first: an incremental duplication needs it.
	if b.dstAppID, err = create(dstAdmin, TargetCluster); err != nil {
		return nil, err
	}
	if _, err = create(b.srcAdmin, SourceCluster); err != nil {
		return nil, err
	}
	resp, err := b.srcAdmin.AddDuplication(cctx, o.Table, TargetCluster, false)
	if err != nil {
		return nil, fmt.Errorf("dup add -c %s: %w", TargetCluster, err)
	}
	b.dupID = resp.DupID
	fmt.Fprintf(o.Progress, "duplication %d of %s from %s to %s added\n", b.dupID, o.Table, SourceCluster, TargetCluster)
	if err := b.waitShipping(cctx); err != nil {
		return nil, err
	}
	if b.srcClient, err = pegasus.NewClient(pegasus.Config{MetaServers: srcC.MetaServers}); err != nil {
		return nil, err
	}
	if b.dstClient, err = pegasus.NewClient(pegasus.Config{MetaServers: dstC.MetaServers}); err != nil {
		return nil, err
	}
	if b.src, err = b.srcClient.OpenTable(cctx, o.Table); err != nil {
		return nil, err
	}
	if b.dst, err = b.dstClient.OpenTable(cctx, o.Table); err != nil {
		return nil, err
	}
	// One write through, so clients, connections and duplicators are warm.
	warm := &writeStats{}
	hk, sk := key(0, 0)
	v := value(0, 0, o.ValueSize)
	if err := b.src.Set(cctx, hk, sk, v, nil); err != nil {
		return nil, fmt.Errorf("first write: %w", err)
	}
	probe(cctx, o, b.dst, hk, sk, v, time.Now(), warm)
	if len(warm.lags) != 1 {
		return nil, fmt.Errorf("the first write did not reach %s within %v", TargetCluster, o.VisibilityTimeout)
	}
	return b, nil
}

// progress returns the duplication's partitions as the source meta leader
// last heard of them.
func (b *bench) progress(ctx context.Context) (*protocol.DuplicationEntry, error) {
	resp, err := b.srcAdmin.QueryDuplication(ctx, b.o.Table)
	if err != nil {
		return nil, err
	}
	for i := range resp.Dups {
		if resp.Dups[i].DupID == b.dupID {
			return &resp.Dups[i], nil
		}
	}
	return nil, fmt.Errorf("duplication %d of %s is gone", b.dupID, b.o.Table)
}

// waitShipping waits until the duplication is in DS_LOG and every
// partition's primary has fixed its start decree: an incremental
// duplication ships only writes committed after that.
func (b *bench) waitShipping(ctx context.Context) error {
	return b.poll(ctx, "every primary shipping", func(e *protocol.DuplicationEntry) bool {
		if e.Status != protocol.DupStatusLog || len(e.Partitions) != b.o.Partitions {
			return false
		}
		for _, p := range e.Partitions {
			if p.ConfirmedDecree < 0 || p.ReportTimeMs == 0 {
				return false
			}
		}
		return true
	})
}

// poll queries the duplication every pollInterval until cond holds.
func (b *bench) poll(ctx context.Context, what string, cond func(*protocol.DuplicationEntry) bool) error {
	t := time.NewTicker(b.pollInterval)
	defer t.Stop()
	var last string
	for {
		e, err := b.progress(ctx)
		if err == nil && cond(e) {
			return nil
		}
		if err != nil {
			last = err.Error()
		} else {
			last = fmt.Sprintf("status %s, partitions %+v", e.Status, e.Partitions)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w (last: %s)", what, ctx.Err(), last)
		case <-t.C:
		}
	}
}

// phase runs one phase: load, then drain, with the receiver's histogram
// read before and after and the pending mutations watched throughout.
func (b *bench) phase(ctx context.Context, n, r int) (*PhaseResult, error) {
	o := b.o
	before, err := scrapeLag(ctx, b.targetHTTP, b.dstAppID)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(o.Progress, "phase %d: %d writes/s for %v, following every %d-th write on %s\n",
		n, r, o.Duration, o.sampleEvery(r), TargetCluster)
	mctx, stopMonitor := context.WithCancel(ctx)
	var maxPending int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		maxPending = b.watchPending(mctx)
	}()
	res, err := load(ctx, o, n, r, b.src, b.dst)
	if err != nil {
		stopMonitor()
		wg.Wait()
		return nil, err
	}
	loadEnd := time.Now()
	dctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	err = b.poll(dctx, "the backlog to drain", func(e *protocol.DuplicationEntry) bool {
		for _, p := range e.Partitions {
			if p.PendingMutations > 0 || p.ReportTimeMs < loadEnd.UnixMilli() {
				return false
			}
		}
		return true
	})
	cancel()
	stopMonitor()
	wg.Wait()
	if err != nil {
		return nil, err
	}
	res.Drain = time.Since(loadEnd)
	res.MaxPending = maxPending
	after, err := scrapeLag(ctx, b.targetHTTP, b.dstAppID)
	if err != nil {
		return nil, err
	}
	res.Hist = SubBuckets(after, before)
	res.HistP50, _, _ = HistQuantile(0.50, res.Hist)
	res.HistP99, res.HistP99Inf, _ = HistQuantile(0.99, res.Hist)
	fmt.Fprintf(o.Progress, "phase %d: %s\n", n, res.Line())
	return res, nil
}

// watchPending samples the duplication's pending mutations (summed over
// partitions) every second until ctx ends and returns the largest sum.
func (b *bench) watchPending(ctx context.Context) int64 {
	var peak int64
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		if e, err := b.progress(ctx); err == nil {
			var sum int64
			for _, p := range e.Partitions {
				sum += p.PendingMutations
			}
			peak = max(peak, sum)
		}
		select {
		case <-ctx.Done():
			return peak
		case <-t.C:
		}
	}
}

// Line is a one-line summary of the phase.
func (p *PhaseResult) Line() string {
	return fmt.Sprintf("%.0f writes/s acked (%d failed, %d late), write p99 %v; visibility p50 %v p99 %v max %v over %d samples (%d lost); receiver histogram p50 %.0f ms p99 %s over %.0f entries; peak pending %d, drained in %v",
		p.Achieved, p.Failed, p.Saturated, ms(p.Write.P99), ms(p.Visibility.P50), ms(p.Visibility.P99), ms(p.Visibility.Max),
		p.Visibility.N, p.Lost, p.HistP50, p.histP99String(), HistCount(p.Hist), p.MaxPending, ms(p.Drain))
}

func (p *PhaseResult) histP99String() string {
	if p.HistP99Inf {
		return fmt.Sprintf("> %.0f ms", p.HistP99)
	}
	return fmt.Sprintf("%.0f ms", p.HistP99)
}

// ms rounds d for display.
func ms(d time.Duration) time.Duration {
	if d >= 10*time.Millisecond {
		return d.Round(time.Millisecond)
	}
	return d.Round(100 * time.Microsecond)
}
