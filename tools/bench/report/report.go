package report

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	"github.com/pegasus-go/pegasus/tools/bench/ycsb"
)

// maxLineBytes bounds one JSON line of the results file.
const maxLineBytes = 1 << 20

// Load reads results, one JSON object per line; blank lines are skipped.
func Load(r io.Reader) ([]ycsb.Result, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLineBytes)
	var out []ycsb.Result
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var res ycsb.Result
		if err := json.Unmarshal([]byte(line), &res); err != nil {
			return nil, fmt.Errorf("results line %d: %w", n, err)
		}
		if res.System == "" || res.Workload == "" || res.Threads <= 0 {
			return nil, fmt.Errorf("results line %d: system, workload and threads are required", n)
		}
		out = append(out, res)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read results: %w", err)
	}
	return out, nil
}

// Row is the median of one configuration over its rounds.
type Row struct {
	System   string
	Binding  string
	Workload string
	Threads  int
	Rounds   int
	// Medians over the rounds.
	OpsPerSec float64
	P50Us     float64
	P99Us     float64
	P999Us    float64
	// Errors is the total over the rounds.
	Errors int64
}

// IsPegasus reports whether a system is a Pegasus-Go mode.
func IsPegasus(system string) bool { return strings.HasPrefix(system, "pegasus") }

// IsEcho reports whether a row measures an RPC echo.
func (r Row) IsEcho() bool { return strings.HasSuffix(r.Binding, "-echo") }

type rowKey struct {
	system, workload string
	threads          int
}

// Medians groups results by system, workload and thread count and returns
// one row per group, ordered by workload (load first), threads, then
// system in order of first appearance.
func Medians(results []ycsb.Result) []Row {
	groups := map[rowKey][]ycsb.Result{}
	firstSeen := map[string]int{}
	for _, r := range results {
		k := rowKey{r.System, r.Workload, r.Threads}
		groups[k] = append(groups[k], r)
		if _, ok := firstSeen[r.System]; !ok {
			firstSeen[r.System] = len(firstSeen)
		}
	}
	rows := make([]Row, 0, len(groups))
	for k, rs := range groups {
		row := Row{System: k.system, Binding: rs[0].Binding, Workload: k.workload, Threads: k.threads, Rounds: len(rs)}
		pick := func(f func(ycsb.Result) float64) float64 {
			vs := make([]float64, len(rs))
			for i, r := range rs {
				vs[i] = f(r)
			}
			return median(vs)
		}
		row.OpsPerSec = pick(func(r ycsb.Result) float64 { return r.OpsPerSec })
		row.P50Us = pick(func(r ycsb.Result) float64 { return r.Latency.P50Us })
		row.P99Us = pick(func(r ycsb.Result) float64 { return r.Latency.P99Us })
		row.P999Us = pick(func(r ycsb.Result) float64 { return r.Latency.P999Us })
		for _, r := range rs {
			row.Errors += r.Errors
		}
		rows = append(rows, row)
	}
	sort.Slice(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		if a.Workload != b.Workload {
			return workloadOrder(a.Workload) < workloadOrder(b.Workload)
		}
		if a.Threads != b.Threads {
			return a.Threads < b.Threads
		}
		return firstSeen[a.System] < firstSeen[b.System]
	})
	return rows
}

// workloadOrder sorts "load" before the lettered workloads.
func workloadOrder(w string) string {
	if w == ycsb.WorkloadLoad {
		return ""
	}
	return w
}

// median returns the middle value (the mean of the two middle values for
// an even count); 0 for none.
func median(vs []float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// Ratio is the throughput of a Pegasus-Go mode divided by a peer's in one
// workload and thread count.
type Ratio struct {
	Workload string
	Threads  int
	Pegasus  string
	Peer     string
	Value    float64
}

// Ratios returns every Pegasus-Go mode / peer ratio the rows allow.
func Ratios(rows []Row) []Ratio {
	var out []Ratio
	for _, p := range rows {
		if !IsPegasus(p.System) || p.IsEcho() || p.OpsPerSec <= 0 {
			continue
		}
		for _, q := range rows {
			if IsPegasus(q.System) || q.IsEcho() || q.Workload != p.Workload || q.Threads != p.Threads || q.OpsPerSec <= 0 {
				continue
			}
			out = append(out, Ratio{Workload: p.Workload, Threads: p.Threads, Pegasus: p.System, Peer: q.System, Value: p.OpsPerSec / q.OpsPerSec})
		}
	}
	return out
}

// Target is one goal of the comparison: the ratio of a Pegasus-Go mode to
// a peer in one workload, at the largest thread count measured.
type Target struct {
	Name     string
	Pegasus  string
	Peer     string
	Workload string
	Min      float64
}

// DefaultTargets are the goals of the peer comparison.
var DefaultTargets = []Target{
	{Name: "YCSB-A vs etcd", Pegasus: "pegasus-pagecache", Peer: "etcd", Workload: "a", Min: 3.5},
	{Name: "YCSB-C vs etcd", Pegasus: "pegasus-pagecache", Peer: "etcd", Workload: "c", Min: 4},
	{Name: "YCSB-C vs redis", Pegasus: "pegasus-pagecache", Peer: "redis", Workload: "c", Min: 0.8},
	{Name: "fsync-mode writes (load) vs etcd", Pegasus: "pegasus-fsync", Peer: "etcd", Workload: "load", Min: 2},
	{Name: "fsync-mode YCSB-A vs etcd", Pegasus: "pegasus-fsync", Peer: "etcd", Workload: "a", Min: 2},
}

// TargetResult is a target with its measured ratio; Threads is 0 when the
// runs did not cover it.
type TargetResult struct {
	Target
	Threads int
	Value   float64
}

// Met reports whether the target was measured and reached.
func (t TargetResult) Met() bool { return t.Threads > 0 && t.Value >= t.Min }

// EvalTargets evaluates targets at the largest thread count for which both
// systems ran the workload.
func EvalTargets(ratios []Ratio, targets []Target) []TargetResult {
	out := make([]TargetResult, 0, len(targets))
	for _, t := range targets {
		tr := TargetResult{Target: t}
		for _, r := range ratios {
			if r.Pegasus == t.Pegasus && r.Peer == t.Peer && r.Workload == t.Workload && r.Threads > tr.Threads {
				tr.Threads, tr.Value = r.Threads, r.Value
			}
		}
		out = append(out, tr)
	}
	return out
}
