package aggregate

import (
	"cmp"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pegasus-go/pegasus/client-go/admin"
	"github.com/pegasus-go/pegasus/collector/internal/scrape"
)

// Node roles.
const (
	RoleMeta    = "meta"
	RoleReplica = "replica"
)

// View is the cluster as the meta server describes it, for one round.
type View struct {
	Cluster    string
	MetaLeader string
	Tables     []Table
	Nodes      []Node
}

// Table is one available table of the View.
type Table struct {
	AppID          int32
	Name           string
	PartitionCount int32
	ReplicaCount   int32
	Health         admin.HealthCounts
	// Primaries[i] is the primary of partition i ("" when none); it may be
	// shorter than PartitionCount when the configuration was incomplete.
	Primaries []string
}

// Node is one daemon to scrape.
type Node struct {
	// Address is the node's RPC address, the "node" label everywhere.
	Address     string
	Role        string
	HTTPAddress string
	// Alive is the meta server's verdict for a replica server (meta
	// servers listed by the cluster are reported alive).
	Alive                  bool
	Primaries, Secondaries int32
}

// Scrape is one node's scrape result in a round.
type Scrape struct {
	Node     string // Node.Address
	At       time.Time
	Duration time.Duration
	Err      error
	Page     scrape.Page
}

// Options configure an Aggregator.
type Options struct {
	// SlowScrape marks a node slow when its scrape took at least this
	// long; zero disables the check.
	SlowScrape time.Duration
}

// Aggregator computes Snapshots from successive rounds; see the package
// doc for how rates and totals are defined.
type Aggregator struct {
	opts   Options
	nodes  map[string]*nodeState
	totals map[key]float64 // accumulated counter increases, per table-level key
	tables map[string]bool // tables of the previous round, to prune totals
}

type nodeState struct {
	at       time.Time
	values   map[key]float64
	hists    map[key][]scrape.Bucket
	failures uint64
	lastOK   time.Time
	lastErr  string
}

// kind is what a key measures.
type kind uint8

const (
	kOpCount      kind = iota // <op>_qps_total per table
	kOpLatency                // <op>_latency histogram per table
	kPartWrites               // replica_updates_applied_total per partition
	kPartReads                // read-op counters that carry a partition label
	kDupShipped               // per table
	kDupFailed                // per table
	kDupRecv                  // duplicate_qps per table
	kDupLag                   // histogram per table
	kDupLagMs                 // gauge, max per table
	kDupPending               // gauge, sum per table
	kSSTMB                    // gauge per partition
	kReplicaCount             // gauge per node
)

type key struct {
	kind      kind
	table     string
	op        string
	partition int32
}

// New returns an Aggregator.
func New(opts Options) *Aggregator {
	return &Aggregator{opts: opts, nodes: map[string]*nodeState{}, totals: map[key]float64{}, tables: map[string]bool{}}
}

// Snapshot is the result of one round.
type Snapshot struct {
	Cluster    string       `json:"cluster"`
	MetaLeader string       `json:"meta_leader"`
	At         time.Time    `json:"at"`
	Tables     []TableStats `json:"tables"`
	Nodes      []NodeStats  `json:"nodes"`
}

// Table returns the stats of the named table.
func (s *Snapshot) Table(name string) (*TableStats, bool) {
	for i := range s.Tables {
		if s.Tables[i].Name == name {
			return &s.Tables[i], true
		}
	}
	return nil, false
}

// TableStats are one table's aggregates.
type TableStats struct {
	AppID          int32              `json:"app_id"`
	Name           string             `json:"name"`
	PartitionCount int32              `json:"partition_count"`
	ReplicaCount   int32              `json:"replica_count"`
	Health         admin.HealthCounts `json:"health"`
	ReadQPS        float64            `json:"read_qps"`
	WriteQPS       float64            `json:"write_qps"`
	ReadLatency    Percentiles        `json:"read_latency"`
	WriteLatency   Percentiles        `json:"write_latency"`
	// Ops has one entry per operation in Ops order.
	Ops []OpStats `json:"ops"`
	// StorageBytes is the SST size of the primaries, when reported.
	StorageBytes float64  `json:"storage_bytes"`
	HasStorage   bool     `json:"has_storage"`
	Dup          DupStats `json:"dup"`
	// PartitionQPS[i] is partition i's request rate: writes applied (the
	// busiest replica's rate) plus reads counted per partition, if any.
	PartitionQPS []float64 `json:"partition_qps"`
}

// OpStats are one operation's figures for a table.
type OpStats struct {
	Op      string      `json:"op"`
	Write   bool        `json:"write"`
	QPS     float64     `json:"qps"`
	Total   float64     `json:"total"`
	Latency Percentiles `json:"latency"`
}

// DupStats are a table's duplication figures.
type DupStats struct {
	ShippedTotal float64 `json:"shipped_total"`
	FailedTotal  float64 `json:"failed_total"`
	// DuplicateTotal counts writes this cluster received through
	// duplication (duplicate_qps).
	DuplicateTotal float64 `json:"duplicate_total"`
	ShippedRate    float64 `json:"shipped_rate"`
	FailedRate     float64 `json:"failed_rate"`
	DuplicateQPS   float64 `json:"duplicate_qps"`
	// LagP99 is the p99 of the shipping time lag in seconds.
	LagP99     float64 `json:"lag_p99"`
	HasLag     bool    `json:"has_lag"`
	Pending    float64 `json:"pending"`
	HasPending bool    `json:"has_pending"`
}

// NodeStats are one node's figures.
type NodeStats struct {
	Address     string `json:"address"`
	Role        string `json:"role"`
	HTTPAddress string `json:"http_address"`
	Alive       bool   `json:"alive"`
	// Up reports whether this round's scrape succeeded; Slow whether it
	// took Options.SlowScrape or more.
	Up             bool      `json:"up"`
	Slow           bool      `json:"slow"`
	ScrapeSeconds  float64   `json:"scrape_seconds"`
	Error          string    `json:"error,omitempty"`
	LastSuccess    time.Time `json:"last_success"`
	ScrapeFailures uint64    `json:"scrape_failures"`
	ReadQPS        float64   `json:"read_qps"`
	WriteQPS       float64   `json:"write_qps"`
	Replicas       float64   `json:"replicas"`
	HasReplicas    bool      `json:"has_replicas"`
	Primaries      int32     `json:"primaries"`
	Secondaries    int32     `json:"secondaries"`
}

// round accumulates one round's per-table figures.
type round struct {
	rates   map[key]float64 // table-level rates summed over nodes
	maxRate map[key]float64 // per-partition write rates, max over replicas
	hists   map[key]buckets // interval bucket increases summed over nodes
	gauges  map[key]float64 // summed gauges
	maxG    map[key]float64 // max gauges
	seen    map[key]bool    // gauge keys reported by some node
}

// Add aggregates one round: the view and every node's scrape (a node of
// the view without a scrape counts as failed). now is the round's time.
func (a *Aggregator) Add(now time.Time, view View, scrapes []Scrape) *Snapshot {
	byNode := make(map[string]*Scrape, len(scrapes))
	for i := range scrapes {
		byNode[scrapes[i].Node] = &scrapes[i]
	}
	names := make(map[int32]string, len(view.Tables))
	primaryOf := map[string]map[int32]string{}
	for _, t := range view.Tables {
		names[t.AppID] = t.Name
		p := map[int32]string{}
		for i, addr := range t.Primaries {
			p[int32(i)] = addr
		}
		primaryOf[t.Name] = p
	}
	r := round{
		rates: map[key]float64{}, maxRate: map[key]float64{}, hists: map[key]buckets{},
		gauges: map[key]float64{}, maxG: map[key]float64{}, seen: map[key]bool{},
	}
	snap := &Snapshot{Cluster: view.Cluster, MetaLeader: view.MetaLeader, At: now}
	inView := map[string]bool{}
	for _, n := range view.Nodes {
		inView[n.Address] = true
		ns := a.nodes[n.Address]
		if ns == nil {
			ns = &nodeState{}
			a.nodes[n.Address] = ns
		}
		st := NodeStats{
			Address: n.Address, Role: n.Role, HTTPAddress: n.HTTPAddress, Alive: n.Alive,
			Primaries: n.Primaries, Secondaries: n.Secondaries,
		}
		sc := byNode[n.Address]
		switch {
		case sc == nil:
			ns.failures++
			ns.lastErr = "not scraped"
		case sc.Err != nil:
			ns.failures++
			ns.lastErr = sc.Err.Error()
			st.ScrapeSeconds = sc.Duration.Seconds()
			st.Slow = a.opts.SlowScrape > 0 && sc.Duration >= a.opts.SlowScrape
		default:
			st.Up = true
			st.ScrapeSeconds = sc.Duration.Seconds()
			st.Slow = a.opts.SlowScrape > 0 && sc.Duration >= a.opts.SlowScrape
			ns.lastErr = ""
			if n.Role == RoleReplica {
				a.addReplica(&r, &st, ns, sc, names, primaryOf)
			}
			ns.lastOK = sc.At
		}
		st.Error = ns.lastErr
		st.LastSuccess = ns.lastOK
		st.ScrapeFailures = ns.failures
		snap.Nodes = append(snap.Nodes, st)
	}
	for addr := range a.nodes {
		if !inView[addr] {
			delete(a.nodes, addr)
		}
	}
	slices.SortFunc(snap.Nodes, func(x, y NodeStats) int {
		return cmp.Or(cmp.Compare(x.Role, y.Role), cmp.Compare(x.Address, y.Address))
	})

	tables := map[string]bool{}
	for _, t := range view.Tables {
		tables[t.Name] = true
		snap.Tables = append(snap.Tables, a.table(&r, t))
	}
	for k := range a.totals {
		if !tables[k.table] {
			delete(a.totals, k)
		}
	}
	a.tables = tables
	slices.SortFunc(snap.Tables, func(x, y TableStats) int { return cmp.Compare(x.Name, y.Name) })
	return snap
}

// addReplica folds one replica server's successful scrape into r and st,
// and makes it the node's latest state.
func (a *Aggregator) addReplica(r *round, st *NodeStats, ns *nodeState, sc *Scrape,
	names map[int32]string, primaryOf map[string]map[int32]string) {
	values, hists := extract(sc.Page, names)
	dt := sc.At.Sub(ns.at).Seconds()
	havePrev := ns.values != nil && dt > 0
	for k, v := range values {
		switch k.kind {
		case kDupLagMs:
			r.seen[k] = true
			r.maxG[k] = max(r.maxG[k], v)
			continue
		case kDupPending:
			r.seen[k] = true
			r.gauges[k] += v
			continue
		case kSSTMB:
			if primaryOf[k.table][k.partition] == st.Address {
				tk := key{kind: kSSTMB, table: k.table}
				r.seen[tk] = true
				r.gauges[tk] += v
			}
			continue
		case kReplicaCount:
			st.Replicas, st.HasReplicas = v, true
			continue
		}
		prev, ok := ns.values[k]
		delta := v
		if ok && v >= prev {
			delta = v - prev
		}
		if k.kind != kPartWrites && k.kind != kPartReads {
			a.totals[k] += delta
		}
		if !havePrev {
			continue
		}
		rate := delta / dt
		switch k.kind {
		case kPartWrites:
			r.maxRate[k] = max(r.maxRate[k], rate)
		case kOpCount:
			r.rates[k] += rate
			if isWrite(k.op) {
				st.WriteQPS += rate
			} else {
				st.ReadQPS += rate
			}
		default:
			r.rates[k] += rate
		}
	}
	if havePrev {
		for k, cur := range hists {
			b := r.hists[k]
			if b == nil {
				b = buckets{}
				r.hists[k] = b
			}
			b.addDelta(cur, ns.hists[k])
		}
	}
	ns.at, ns.values, ns.hists = sc.At, values, hists
}

// table builds one table's stats from the round.
func (a *Aggregator) table(r *round, t Table) TableStats {
	ts := TableStats{
		AppID: t.AppID, Name: t.Name, PartitionCount: t.PartitionCount, ReplicaCount: t.ReplicaCount,
		Health: t.Health, PartitionQPS: make([]float64, max(t.PartitionCount, 0)),
	}
	read, write := buckets{}, buckets{}
	for _, op := range Ops {
		ck := key{kind: kOpCount, table: t.Name, op: op.Name}
		lk := key{kind: kOpLatency, table: t.Name, op: op.Name}
		o := OpStats{Op: op.Name, Write: op.Write, QPS: r.rates[ck], Total: a.totals[ck]}
		if b := r.hists[lk]; b != nil {
			o.Latency = b.percentiles()
			if op.Write {
				write.merge(b)
			} else {
				read.merge(b)
			}
		}
		if op.Write {
			ts.WriteQPS += o.QPS
		} else {
			ts.ReadQPS += o.QPS
		}
		ts.Ops = append(ts.Ops, o)
	}
	ts.ReadLatency, ts.WriteLatency = read.percentiles(), write.percentiles()
	for i := range ts.PartitionQPS {
		p := int32(i)
		ts.PartitionQPS[i] = r.maxRate[key{kind: kPartWrites, table: t.Name, partition: p}] +
			r.rates[key{kind: kPartReads, table: t.Name, partition: p}]
	}
	sk := key{kind: kSSTMB, table: t.Name}
	ts.StorageBytes, ts.HasStorage = r.gauges[sk]*(1<<20), r.seen[sk]
	d := &ts.Dup
	d.ShippedTotal = a.totals[key{kind: kDupShipped, table: t.Name}]
	d.FailedTotal = a.totals[key{kind: kDupFailed, table: t.Name}]
	d.DuplicateTotal = a.totals[key{kind: kDupRecv, table: t.Name}]
	d.ShippedRate = r.rates[key{kind: kDupShipped, table: t.Name}]
	d.FailedRate = r.rates[key{kind: kDupFailed, table: t.Name}]
	d.DuplicateQPS = r.rates[key{kind: kDupRecv, table: t.Name}]
	pk := key{kind: kDupPending, table: t.Name}
	d.Pending, d.HasPending = r.gauges[pk], r.seen[pk]
	if b := r.hists[key{kind: kDupLag, table: t.Name}]; b != nil && b.percentiles().Valid() {
		d.LagP99, d.HasLag = b.percentiles().P99, true
	} else if mk := (key{kind: kDupLagMs, table: t.Name}); r.seen[mk] {
		d.LagP99, d.HasLag = r.maxG[mk]/1000, true
	}
	return ts
}

var writeOps = func() map[string]bool {
	m := map[string]bool{}
	for _, op := range Ops {
		if op.Write {
			m[op.Name] = true
		}
	}
	return m
}()

func isWrite(op string) bool { return writeOps[op] }

// family returns the family called name, or "pegasus_"+name.
func family(p scrape.Page, name string) *scrape.Family {
	if f := p.Family(name); f != nil {
		return f
	}
	return p.Family("pegasus_" + name)
}

// counterFamily returns the counter called name (exposed as name_total).
func counterFamily(p scrape.Page, name string) *scrape.Family {
	if f := family(p, name+"_total"); f != nil {
		return f
	}
	return family(p, name)
}

// tableOf names the table a sample belongs to: its table label, else the
// table of its app_id label.
func tableOf(labels map[string]string, names map[int32]string) (string, bool) {
	if t := labels["table"]; t != "" {
		return t, true
	}
	if id, err := strconv.ParseInt(labels["app_id"], 10, 32); err == nil {
		t, ok := names[int32(id)]
		return t, ok
	}
	return "", false
}

func partitionOf(labels map[string]string) (int32, bool) {
	s, ok := labels["partition"]
	if !ok {
		s, ok = labels["partition_index"]
	}
	if !ok {
		return 0, false
	}
	p, err := strconv.ParseInt(strings.TrimSpace(s), 10, 32)
	if err != nil || p < 0 {
		return 0, false
	}
	return int32(p), true
}

// extract reads the source metrics of one replica server's page into
// values (counters and gauges, summed over series with the same key) and
// histograms (cumulative buckets, summed by bound over series).
func extract(p scrape.Page, names map[int32]string) (map[key]float64, map[key][]scrape.Bucket) {
	values := map[key]float64{}
	hists := map[key][]scrape.Bucket{}
	scalar := func(f *scrape.Family, k kind, op string, perPartition bool, useMax bool) {
		if f == nil || f.Kind == scrape.Histogram || f.Kind == scrape.Summary {
			return
		}
		for _, s := range f.Samples {
			if math.IsNaN(s.Value) || math.IsInf(s.Value, 0) {
				continue
			}
			t, ok := tableOf(s.Labels, names)
			if !ok {
				continue
			}
			kk := key{kind: k, table: t, op: op}
			if perPartition {
				if kk.partition, ok = partitionOf(s.Labels); !ok {
					continue
				}
			}
			if useMax {
				values[kk] = max(values[kk], s.Value)
			} else {
				values[kk] += s.Value
			}
		}
	}
	// hist reads histogram f; its bounds are multiplied by scale (to
	// seconds).
	hist := func(f *scrape.Family, k kind, op string, scale float64) {
		if f == nil || f.Kind != scrape.Histogram {
			return
		}
		for _, s := range f.Samples {
			t, ok := tableOf(s.Labels, names)
			if !ok {
				continue
			}
			kk := key{kind: k, table: t, op: op}
			hists[kk] = addBuckets(hists[kk], scaleBuckets(s.Buckets, scale))
		}
	}
	for _, op := range Ops {
		f := counterFamily(p, op.Name+"_qps")
		scalar(f, kOpCount, op.Name, false, false)
		if !op.Write {
			scalar(f, kPartReads, "", true, false)
		}
		hist(family(p, op.Name+"_latency"), kOpLatency, op.Name, 1)
	}
	scalar(family(p, metricUpdatesApplied), kPartWrites, "", true, false)
	scalar(counterFamily(p, metricDupShipped), kDupShipped, "", false, false)
	scalar(counterFamily(p, metricDupFailed), kDupFailed, "", false, false)
	scalar(counterFamily(p, metricDuplicateQPS), kDupRecv, "", false, false)
	hist(family(p, metricDupLag), kDupLag, "", 1)
	hist(family(p, metricDupLag+"_seconds"), kDupLag, "", 1)
	// dup_time_lag_ms: the replica server's histogram in milliseconds, or
	// a gauge.
	hist(family(p, metricDupLagMs), kDupLag, "", 1e-3)
	scalar(family(p, metricDupLagMs), kDupLagMs, "", false, true)
	scalar(family(p, metricDupPending), kDupPending, "", false, false)
	scalar(family(p, metricSSTSizeMB), kSSTMB, "", true, false)
	if f := family(p, metricReplicaCount); f != nil && f.Kind != scrape.Histogram {
		var n float64
		for _, s := range f.Samples {
			n += s.Value
		}
		values[key{kind: kReplicaCount}] = n
	}
	return values, hists
}

// scaleBuckets returns b with every bound multiplied by scale (b itself
// when scale is 1).
func scaleBuckets(b []scrape.Bucket, scale float64) []scrape.Bucket {
	if scale == 1 {
		return b
	}
	out := slices.Clone(b)
	for i := range out {
		out[i].UpperBound *= scale
	}
	return out
}

// addBuckets adds the cumulative buckets b to acc bound by bound. Series
// of one histogram share their bounds (one registry, one bucket layout); a
// series with other bounds cannot be merged and is left out.
func addBuckets(acc, b []scrape.Bucket) []scrape.Bucket {
	if acc == nil {
		return slices.Clone(b)
	}
	if len(acc) != len(b) {
		return acc
	}
	for i := range acc {
		if acc[i].UpperBound != b[i].UpperBound {
			return acc
		}
	}
	for i := range acc {
		acc[i].Count += b[i].Count
	}
	return acc
}
