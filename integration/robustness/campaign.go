package robustness

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/pegasus-go/pegasus/client-go/admin"
	"github.com/pegasus-go/pegasus/client-go/pegasus"
	"github.com/pegasus-go/pegasus/shared/keyschema"
)

// Options shape a campaign.
type Options struct {
	Seed     uint64
	Duration time.Duration // of the fault rounds; setup and checks come on top
	Metas    int
	Replicas int
	// Partitions of the table (replica count 3).
	Partitions int32
	Clients    int
	// Readers of the Clients only read (default 2).
	Readers int
	Keys    int
	// Lease and Grace of the meta servers.
	Lease, Grace time.Duration
	// Faults are the kinds drawn (every kind when empty).
	Faults []FaultKind
	// BinDir holds the daemon binaries; Dir the cluster's files; Artifacts
	// where the history, the nemesis log and the visualisations go.
	BinDir, Dir, Artifacts string
	// CheckTimeout bounds the linearizability check of one key.
	CheckTimeout time.Duration
	// HealTimeout bounds the wait for a healthy table after a heal.
	HealTimeout time.Duration
	// Plant, if set, runs after the table is healthy and before the
	// workload (the planted-bug test arms a failpoint with it).
	Plant  func(ctx context.Context, c *Cluster) error
	Logger *slog.Logger
}

func (o *Options) setDefaults() {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&o.Metas, 3)
	def(&o.Replicas, 5)
	def(&o.Clients, 12)
	def(&o.Keys, 256)
	def(&o.Readers, 2)
	if o.Partitions == 0 {
		o.Partitions = 8
	}
	if o.Lease == 0 {
		o.Lease = 3 * time.Second
	}
	if o.Grace == 0 {
		o.Grace = 4 * time.Second
	}
	if o.CheckTimeout == 0 {
		o.CheckTimeout = time.Minute
	}
	if o.HealTimeout == 0 {
		o.HealTimeout = 2 * time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Summary is what a campaign found.
type Summary struct {
	Seed                              uint64
	Duration                          time.Duration
	Metas, Replicas, Clients, Keys    int
	Readers                           int
	Partitions                        int32
	OpsChecked, Unknown               int
	OpsByKind                         map[string]int
	Faults                            map[FaultKind]int
	FaultErrors                       []string
	Violations, LostAcked, Mismatches int
	Unreadable                        int
	NotHealed                         int
	Attempts, Succeeded               [phases]int64
	HealTimes                         []time.Duration
	Failed                            []KeyResult
	Artifacts                         string
}

// FaultCount is the number of faults injected.
func (s *Summary) FaultCount() int {
	n := 0
	for _, v := range s.Faults {
		n += v
	}
	return n
}

// Clean reports whether the campaign found nothing wrong.
func (s *Summary) Clean() bool {
	return s.Violations == 0 && s.LostAcked == 0 && s.Mismatches == 0 && s.Unreadable == 0 && s.NotHealed == 0
}

// Print writes the summary as a table.
func (s *Summary) Print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "seed\t%d\n", s.Seed)
	fmt.Fprintf(tw, "fault rounds\t%v\n", s.Duration.Round(time.Second))
	fmt.Fprintf(tw, "cluster\t%d meta, %d replica servers; %d partitions x 3 replicas; %d clients (%d read-only) over %d keys\n", s.Metas, s.Replicas, s.Partitions, s.Clients, s.Readers, s.Keys)
	var kinds []string
	for _, k := range slices.Sorted(maps.Keys(s.OpsByKind)) {
		kinds = append(kinds, fmt.Sprintf("%s %d", k, s.OpsByKind[k]))
	}
	fmt.Fprintf(tw, "operations checked\t%d (%s; %d writes with unknown outcome)\n", s.OpsChecked, strings.Join(kinds, ", "), s.Unknown)
	var fs []string
	for _, k := range AllFaults {
		if n := s.Faults[k]; n > 0 {
			fs = append(fs, fmt.Sprintf("%s %d", k, n))
		}
	}
	fmt.Fprintf(tw, "faults injected\t%d (%s)\n", s.FaultCount(), strings.Join(fs, ", "))
	if len(s.FaultErrors) > 0 {
		fmt.Fprintf(tw, "faults not injected\t%d (%s)\n", len(s.FaultErrors), strings.Join(s.FaultErrors, "; "))
	}
	fmt.Fprintf(tw, "linearizability violations\t%d keys\n", s.Violations)
	fmt.Fprintf(tw, "acknowledged writes lost\t%d keys\n", s.LostAcked)
	fmt.Fprintf(tw, "digest mismatches\t%d partition checks\n", s.Mismatches)
	fmt.Fprintf(tw, "keys unreadable when healthy\t%d\n", s.Unreadable)
	fmt.Fprintf(tw, "rounds not healed in time\t%d\n", s.NotHealed)
	for p := range phases {
		a, ok := s.Attempts[p], s.Succeeded[p]
		pct := 0.0
		if a > 0 {
			pct = 100 * float64(ok) / float64(a)
		}
		fmt.Fprintf(tw, "availability %s faults\t%.1f%% (%d of %d calls)\n", Phase(p), pct, ok, a)
	}
	if len(s.HealTimes) > 0 {
		h := slices.Sorted(slices.Values(s.HealTimes))
		fmt.Fprintf(tw, "time to healthy after heal\tmedian %v, p90 %v, max %v (%d rounds)\n",
			h[len(h)/2].Round(100*time.Millisecond), h[len(h)*9/10].Round(100*time.Millisecond), h[len(h)-1].Round(100*time.Millisecond), len(h))
	}
	for _, f := range s.Failed {
		fmt.Fprintf(tw, "FAILED key %s\t%s over %d ops %s\n", f.Key, f.Result, f.Ops, f.Visualization)
	}
	if s.Artifacts != "" {
		fmt.Fprintf(tw, "artifacts\t%s\n", s.Artifacts)
	}
	tw.Flush()
}

// campaign is one run.
type campaign struct {
	o       Options
	log     *slog.Logger
	c       *Cluster
	ac      *admin.Client
	w       *Workload
	start   time.Time
	table   string
	sum     *Summary
	events  []porcupine.Annotation
	nemLog  *os.File
	keys    []string
	readers *pegasus.Client
	reader  *pegasus.Table
}

// Run runs a campaign: it starts a cluster, creates a table, runs the
// workload through rounds of faults for o.Duration, then checks the
// history. A setup failure is an error; what the checks find is in the
// Summary.
func Run(ctx context.Context, o Options) (_ *Summary, err error) {
	o.setDefaults()
	if err := os.MkdirAll(o.Artifacts, 0o755); err != nil {
		return nil, err
	}
	k := &campaign{o: o, log: o.Logger, table: "robust", start: time.Now(),
		sum: &Summary{Seed: o.Seed, Metas: o.Metas, Replicas: o.Replicas, Clients: o.Clients, Readers: o.Readers, Keys: o.Keys,
			Partitions: o.Partitions, Faults: map[FaultKind]int{}, OpsByKind: map[string]int{}, Artifacts: o.Artifacts}}
	if k.nemLog, err = os.Create(filepath.Join(o.Artifacts, "nemesis.log")); err != nil {
		return nil, err
	}
	defer k.nemLog.Close()
	k.note("campaign seed=%d duration=%v metas=%d replicas=%d partitions=%d clients=%d keys=%d",
		o.Seed, o.Duration, o.Metas, o.Replicas, o.Partitions, o.Clients, o.Keys)
	if k.c, err = StartCluster(ctx, ClusterOptions{Metas: o.Metas, Replicas: o.Replicas, BinDir: o.BinDir, Dir: o.Dir,
		Lease: o.Lease, Grace: o.Grace, Logger: o.Logger}); err != nil {
		return nil, err
	}
	defer func() {
		if bad := k.c.CheckOutputs(); bad != "" && err == nil {
			err = errors.New(bad)
		}
		k.copyLogs()
		k.c.Close()
	}()
	if err := k.setup(ctx); err != nil {
		return nil, err
	}
	defer k.readers.Close()
	defer k.ac.Close()
	k.sum.Duration = k.o.Duration
	err = k.rounds(ctx)
	k.w.Stop()
	if err == nil {
		err = k.readBack(ctx)
	}
	// Check what was recorded even when a round failed.
	k.check()
	return k.sum, err
}

// note writes a line to the nemesis log, stamped with campaign time.
func (k *campaign) note(format string, args ...any) {
	line := fmt.Sprintf("%9.3fs ", time.Since(k.start).Seconds()) + fmt.Sprintf(format, args...)
	fmt.Fprintln(k.nemLog, line)
	k.log.Info(line)
}

func (k *campaign) setup(ctx context.Context) error {
	var err error
	if k.ac, err = admin.New(admin.Config{MetaServers: k.c.MetaAddrs(), AttemptTimeout: time.Second}); err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for {
		_, err := k.ac.CreateApp(cctx, k.table, admin.CreateAppOptions{PartitionCount: k.o.Partitions, ReplicaCount: 3})
		if err == nil {
			break
		}
		if cctx.Err() != nil {
			return fmt.Errorf("create table: %w", err)
		}
		time.Sleep(200 * time.Millisecond) // the meta leader is being elected
	}
	if _, err := k.waitHealthy(ctx, 2*time.Minute); err != nil {
		return err
	}
	// Keys: hashkeys spread over every partition.
	seen := map[int32]int{}
	for i := 0; len(k.keys) < k.o.Keys; i++ {
		key := fmt.Sprintf("key-%04d", i)
		p, _ := keyschema.PartitionIndex(keyschema.Hash([]byte(key), sortKey), k.o.Partitions)
		seen[p]++
		k.keys = append(k.keys, key)
	}
	if len(seen) != int(k.o.Partitions) {
		return fmt.Errorf("%d keys cover %d of %d partitions", len(k.keys), len(seen), k.o.Partitions)
	}
	open := func(ctx context.Context) (*pegasus.Client, *pegasus.Table, error) {
		c, err := pegasus.NewClient(pegasus.Config{MetaServers: k.c.MetaAddrs(), AttemptTimeout: time.Second,
			MaxRetryBackoff: 200 * time.Millisecond})
		if err != nil {
			return nil, nil, err
		}
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		t, err := c.OpenTable(ctx, k.table)
		if err != nil {
			c.Close()
			return nil, nil, err
		}
		return c, t, nil
	}
	if k.readers, k.reader, err = open(ctx); err != nil {
		return err
	}
	if k.o.Plant != nil {
		if err := k.o.Plant(ctx, k.c); err != nil {
			return err
		}
	}
	k.w, err = StartWorkload(ctx, k.start, WorkloadOptions{Clients: k.o.Clients, Readers: k.o.Readers, Keys: k.keys, Seed: k.o.Seed, OpTimeout: 3 * time.Second, Open: open})
	return err
}

// waitHealthy polls until the table is healthy and returns how long it
// took.
func (k *campaign) waitHealthy(ctx context.Context, timeout time.Duration) (time.Duration, error) {
	start := time.Now()
	last := "no answer"
	for time.Since(start) < timeout {
		cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		cfg, err := k.ac.QueryConfig(cctx, k.table)
		if err == nil {
			last = k.c.Unhealthy(cctx, cfg, 3)
		} else {
			last = err.Error()
		}
		cancel()
		if last == "" {
			return time.Since(start), nil
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(100 * time.Millisecond): // polling the cluster
		}
	}
	return 0, fmt.Errorf("not healthy %v after the heal: %s", timeout, last)
}

func (k *campaign) rounds(ctx context.Context) error {
	nem := NewNemesis(k.c, k.ac, k.table, k.o.Seed, k.o.Lease, k.o.Grace, k.o.Faults)
	k.w.SetPhase(PhaseBefore)
	sleepCtx(ctx, 3*time.Second) // fault-free baseline
	end := time.Now().Add(k.o.Duration)
	for round := 1; time.Now().Before(end); round++ {
		kind := nem.Next()
		f, err := nem.Inject(ctx, kind)
		if err != nil {
			k.note("round %d: %s not injected: %v", round, kind, err)
			k.sum.FaultErrors = append(k.sum.FaultErrors, fmt.Sprintf("%s: %v", kind, err))
			sleepCtx(ctx, time.Second)
			continue
		}
		f.Start = time.Since(k.start)
		k.w.SetPhase(PhaseDuring)
		k.sum.Faults[kind]++
		k.note("round %d: inject %s: %s, hold %v", round, kind, f.Target, f.Hold.Round(time.Millisecond))
		sleepCtx(ctx, f.Hold) // the fault's duration
		if err := nem.Heal(ctx, f); err != nil {
			return err
		}
		f.End = time.Since(k.start)
		k.w.SetPhase(PhaseAfter)
		k.events = append(k.events, porcupine.Annotation{Tag: "nemesis", Start: int64(f.Start), End: int64(f.End),
			Description: string(f.Kind), Details: f.Target})
		k.note("round %d: healed %s", round, kind)
		took, err := k.waitHealthy(ctx, k.o.HealTimeout)
		if err != nil {
			k.sum.NotHealed++
			k.note("round %d: %v", round, err)
			return err
		}
		k.sum.HealTimes = append(k.sum.HealTimes, took)
		k.note("round %d: healthy %v after the heal", round, took.Round(time.Millisecond))
		k.w.SetPhase(PhaseBefore)
		if err := k.between(ctx, round); err != nil {
			return err
		}
		sleepCtx(ctx, 2*time.Second) // fault-free traffic before the next fault
	}
	return nil
}

// between pauses the workload, reads every key back and compares the
// replicas' digests, then resumes it.
func (k *campaign) between(ctx context.Context, round int) error {
	k.w.Pause()
	defer k.w.Resume()
	if err := k.readBackLocked(ctx); err != nil {
		return err
	}
	k.compareDigests(ctx, round)
	return nil
}

// readBack reads every key once more at the end.
func (k *campaign) readBack(ctx context.Context) error {
	if _, err := k.waitHealthy(ctx, k.o.HealTimeout); err != nil {
		k.sum.NotHealed++
		return err
	}
	if err := k.readBackLocked(ctx); err != nil {
		return err
	}
	k.compareDigests(ctx, 0)
	return nil
}

// readBackLocked reads every key through the reader client (retrying
// failed reads while the read-back is under 30s old) and records the reads in the history,
// where the checker holds them to every acknowledged write.
func (k *campaign) readBackLocked(ctx context.Context) error {
	deadline := time.Now().Add(30 * time.Second)
	for _, key := range k.keys {
		for {
			op, ok := k.w.Do(k.reader, k.o.Clients, Input{Kind: OpGet, Key: key})
			if ok {
				k.w.Record(op)
				break
			}
			if time.Now().After(deadline) {
				k.sum.Unreadable++
				k.note("read-back of %s failed with a healthy table, 30s into the read-back: %s", key, op.Err)
				break
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			sleepCtx(ctx, 100*time.Millisecond) // the partition is moving
		}
	}
	return nil
}

// compareDigests waits (up to 60s) until, in one healthy configuration,
// the replicas of every partition report the same digest; each partition
// that still differs (or cannot be read) then is a mismatch. The
// configuration is read again on every try: a membership change in
// between makes the try start over rather than count.
func (k *campaign) compareDigests(ctx context.Context, round int) {
	deadline := time.Now().Add(60 * time.Second)
	var bad []string
	for {
		bad = bad[:0]
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		cfg, err := k.ac.QueryConfig(cctx, k.table)
		if err == nil {
			if why := k.c.Unhealthy(cctx, cfg, 3); why != "" {
				err = fmt.Errorf("not healthy: %s", why)
			}
		}
		if err != nil {
			bad = append(bad, err.Error())
		} else {
			for _, pc := range cfg.Partitions {
				ds, err := k.c.Digests(cctx, pc)
				if err != nil || len(ds) != 3 || len(slices.Compact(slices.Collect(maps.Values(ds)))) != 1 {
					bad = append(bad, fmt.Sprintf("%s: %+v %v", pc.Gpid, ds, err))
				}
			}
		}
		cancel()
		if len(bad) == 0 {
			return
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		sleepCtx(ctx, 200*time.Millisecond) // polling the replicas
	}
	k.sum.Mismatches += len(bad)
	k.note("round %d: replicas differ 60s after the workload paused: %s", round, strings.Join(bad, "; "))
}

// check runs the linearizability check and fills the summary.
func (k *campaign) check() {
	ops := k.w.Ops()
	for _, op := range ops {
		k.sum.OpsByKind[op.In.Kind.String()]++
		if op.Out.Unknown {
			k.sum.Unknown++
		}
	}
	k.sum.Attempts, k.sum.Succeeded = k.w.Availability()
	res := Check(ops, k.o.CheckTimeout, k.o.Artifacts, k.events)
	k.sum.OpsChecked = res.Ops
	k.sum.Failed = res.Failed
	if len(res.Failed) == 0 {
		return
	}
	// A key that fails only with the read-backs lost an acknowledged
	// write (or grew an unwritten one); the others are violations.
	failed := map[string]bool{}
	for _, f := range res.Failed {
		failed[f.Key] = true
	}
	var without []Op
	for _, op := range ops {
		if failed[op.In.Key] && op.Client != k.o.Clients {
			without = append(without, op)
		}
	}
	again := Check(without, k.o.CheckTimeout, "", nil)
	still := map[string]bool{}
	for _, f := range again.Failed {
		still[f.Key] = true
	}
	for key := range failed {
		if still[key] {
			k.sum.Violations++
		} else {
			k.sum.LostAcked++
		}
	}
	k.saveHistory(ops)
}

// saveHistory writes the history as JSON lines into the artifacts.
func (k *campaign) saveHistory(ops []Op) {
	f, err := os.Create(filepath.Join(k.o.Artifacts, "history.jsonl"))
	if err != nil {
		return
	}
	defer f.Close()
	enc := json.NewEncoder(f)
	for _, op := range ops {
		_ = enc.Encode(op)
	}
}

// copyLogs copies every process's output and log into the artifacts.
func (k *campaign) copyLogs() {
	for _, n := range k.c.Nodes() {
		for _, p := range []string{n.output, n.LogPath()} {
			b, err := os.ReadFile(p)
			if err != nil {
				continue
			}
			_ = os.WriteFile(filepath.Join(k.o.Artifacts, n.Name+"-"+filepath.Base(p)), b, 0o644)
		}
	}
	if k.c.ZK != nil {
		if b, err := os.ReadFile(k.c.ZK.LogPath()); err == nil {
			_ = os.WriteFile(filepath.Join(k.o.Artifacts, "zookeeper.log"), b, 0o644)
		}
	}
}

// sleepCtx sleeps for d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
