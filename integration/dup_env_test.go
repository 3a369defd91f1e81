package integration

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pegasus-go/pegasus/client-go/admin"
	"github.com/pegasus-go/pegasus/client-go/pegasus"
	"github.com/pegasus-go/pegasus/integration/internal/harness"
	"github.com/pegasus-go/pegasus/shared/zktest"
	"github.com/pegasus-go/pegasus/tools/onebox"
)

// dupSizes are the sizes of the duplication tests: the sizes with
// PEGASUS_DUP_FULL=1, smaller ones by default so the suite stays fast
// under -race on two cores.
type dupSizes struct {
	// Writes is the number of write operations of each incremental run.
	Writes int
	// FullRows is how many rows the table holds before a full duplication.
	FullRows int
	// Outage is how long the remote cluster is down.
	Outage time.Duration
	// MultiMasterOps is the number of operations each cluster makes in
	// the multi-master run.
	MultiMasterOps int
}

func dupTestSizes() dupSizes {
	if os.Getenv("PEGASUS_DUP_FULL") == "1" {
		return dupSizes{Writes: 50_000, FullRows: 100_000, Outage: 60 * time.Second, MultiMasterOps: 10_000}
	}
	return dupSizes{Writes: 3_000, FullRows: 10_000, Outage: 8 * time.Second, MultiMasterOps: 1_500}
}

// dupSide is one of the two clusters.
type dupSide struct {
	name     string
	metas    []string
	replicas []string // RPC addresses
	ac       *admin.Client
	client   *pegasus.Client
}

// dupEnv is two clusters (onebox and onebox2: one meta server and three
// replica servers each) on one real ZooKeeper, each knowing the other in
// [pegasus.clusters] and [duplication-group].
type dupEnv struct {
	c     *harness.Cluster
	bin   string // the harness's binaries
	sides [2]*dupSide
}

// Failure-detection timing of the duplication clusters (as the failover
// tests): a replica server's lease runs dupLease past each beacon; the
// meta declares it dead after dupGrace without one.
const (
	dupLease = 3 * time.Second
	dupGrace = 4 * time.Second
)

func startDupClusters(t *testing.T) *dupEnv {
	t.Helper()
	harness.SkipExternal(t)
	if err := zktest.Available(zktest.Options{}); err != nil {
		t.Fatal(err)
	}
	c := harness.Start(t, onebox.Options{
		Clusters: 2, Metas: 1, Replicas: 3, ZooKeeper: true,
		MetaSettings: []string{
			"meta_server.lease=" + dupLease.String(), "meta_server.grace=" + dupGrace.String(),
			"meta_server.guardian_interval=250ms", "zookeeper.session_timeout=3s",
			"meta_server.dup_progress_persist_interval=1s",
		},
		ReplicaSettings: []string{
			"replica_server.beacon_interval=300ms", "replication.config_sync_interval=500ms",
			"replication.group_check_interval=1s", "replication.prepare_timeout=2s",
			"replication.dup_sync_interval=500ms",
			// Small plog segments and frequent engine syncs: the plog is
			// collected within seconds unless duplication holds it.
			"replication.plog_segment_size=64KiB", "pegasus.server.engine_sync_interval=1s",
		},
	})
	if keep := os.Getenv("PEGASUS_DUP_KEEP_LOGS"); keep != "" {
		// Runs before the harness stops the clusters and removes them.
		t.Cleanup(func() {
			if t.Failed() {
				out, err := exec.Command("cp", "-r", c.Dir(), keep).CombinedOutput()
				t.Logf("onebox directory copied to %s: %v %s", keep, err, out)
			}
		})
	}
	e := &dupEnv{c: c, bin: harness.Binaries(t)}
	for i, name := range []string{"onebox", "onebox2"} {
		s := &dupSide{name: name, metas: c.MetaServers(name), replicas: c.State.Cluster(name).Replicas}
		var err error
		if s.ac, err = admin.New(admin.Config{MetaServers: s.metas, AttemptTimeout: 2 * time.Second}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.ac.Close() })
		if s.client, err = pegasus.NewClient(pegasus.Config{MetaServers: s.metas, MaxRetryBackoff: 200 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.client.Close() })
		e.sides[i] = s
	}
	return e
}

// admincli runs the admincli binary against side's meta servers and
// returns its standard output; it fails t when the command fails.
func (e *dupEnv) admincli(t *testing.T, side *dupSide, args ...string) string {
	t.Helper()
	out, err := e.admincliErr(side, args...)
	if err != nil {
		t.Fatalf("admincli %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// admincliErr runs admincli and returns its standard output, or an error
// carrying its standard error.
func (e *dupEnv) admincliErr(side *dupSide, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(e.bin, "admincli"),
		append([]string{"-m", strings.Join(side.metas, ",")}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%w: %s%s", err, strings.TrimSpace(stderr.String()), strings.TrimSpace(stdout.String()))
	}
	return stdout.String(), nil
}

// createTable creates a 3-replica table on side, waits until every
// partition has its three members and opens it.
func (e *dupEnv) createTable(t *testing.T, side *dupSide, name string, partitions int32) *pegasus.Table {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := side.ac.CreateApp(ctx, name, admin.CreateAppOptions{PartitionCount: partitions, ReplicaCount: 3}); err != nil {
		t.Fatalf("create %s on %s: %v", name, side.name, err)
	}
	e.waitHealthy(t, side, name, time.Minute)
	tb, err := side.client.OpenTable(ctx, name)
	if err != nil {
		t.Fatalf("open %s on %s: %v", name, side.name, err)
	}
	return tb
}

// waitHealthy waits until every partition of table on side has a primary
// and two secondaries.
func (e *dupEnv) waitHealthy(t *testing.T, side *dupSide, table string, timeout time.Duration) {
	t.Helper()
	waitFor(t, fmt.Sprintf("table %s on %s fully replicated", table, side.name), timeout, func() string {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		cfg, err := side.ac.QueryConfig(ctx, table)
		if err != nil {
			return err.Error()
		}
		return harness.Unhealthy(cfg, 3)
	})
}

// waitFor polls cond (which returns why it does not hold yet, or "")
// until it holds, failing t with the last reason after timeout.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		why := cond()
		if why == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s: %s", timeout, what, why)
		}
		time.Sleep(200 * time.Millisecond) // polling other processes
	}
}

var dupAddOutput = regexp.MustCompile(`^successfully add duplication \[dupid: (\d+)\]\n$`)

// dupAdd runs `dup add` on from for table towards to and returns the
// dupid it printed.
func (e *dupEnv) dupAdd(t *testing.T, from *dupSide, table string, to *dupSide, full bool) int32 {
	t.Helper()
	args := []string{"dup", "add", "-a", table, "-c", to.name}
	if full {
		args = append(args, "-p")
	}
	out := e.admincli(t, from, args...)
	m := dupAddOutput.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("dup add printed %q", out)
	}
	id, err := strconv.ParseInt(m[1], 10, 32)
	if err != nil || id <= 0 {
		t.Fatalf("dup add printed dupid %q", m[1])
	}
	t.Logf("%s: %s -> %s: dupid %d (full %v)", table, from.name, to.name, id, full)
	return int32(id)
}

// listedDup is one duplication of `admincli --json dup list`.
type listedDup struct {
	DupID         int32  `json:"dupid"`
	Status        string `json:"status"`
	Remote        string `json:"remote"`
	RemoteAppName string `json:"remote_app_name"`
	CreateTs      string `json:"create_ts"`
	FailMode      string `json:"fail_mode"`
	Full          bool   `json:"full"`
	Partitions    []struct {
		Index            int32  `json:"pidx"`
		ConfirmedDecree  int64  `json:"confirmed_decree"`
		CheckpointDecree int64  `json:"checkpoint_decree"`
		LastCommitted    int64  `json:"last_committed_decree"`
		PendingMutations int64  `json:"pending_mutations"`
		SkippedMutations int64  `json:"skipped_mutations"`
		LastError        string `json:"last_error"`
		ReportTime       string `json:"report_time"`
	} `json:"partitions"`
}

// dupList runs `dup list` on side for table (JSON output).
func (e *dupEnv) dupList(t *testing.T, side *dupSide, table string) []listedDup {
	t.Helper()
	out := e.admincli(t, side, "--json", "dup", "list", "-a", table)
	var v struct {
		Table        string      `json:"table"`
		Duplications []listedDup `json:"duplications"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("dup list printed %q: %v", out, err)
	}
	if v.Table != table {
		t.Fatalf("dup list printed table %q, want %q", v.Table, table)
	}
	return v.Duplications
}

// findDup returns duplication id of the list, or nil.
func findDup(dups []listedDup, id int32) *listedDup {
	for i := range dups {
		if dups[i].DupID == id {
			return &dups[i]
		}
	}
	return nil
}

// waitDupStatus waits until `dup list` shows duplication id of table on
// side in status.
func (e *dupEnv) waitDupStatus(t *testing.T, side *dupSide, table string, id int32, status string, timeout time.Duration) {
	t.Helper()
	waitFor(t, fmt.Sprintf("duplication %d of %s in %s", id, table, status), timeout, func() string {
		d := findDup(e.dupList(t, side, table), id)
		switch {
		case d == nil:
			return "not listed"
		case d.Status != status:
			return fmt.Sprintf("status %s, partitions %+v", d.Status, d.Partitions)
		}
		return ""
	})
}

// waitStarted waits until `dup list` on side shows every partition of
// duplication id of table started (confirmed decree >= 0): an incremental
// duplication ships what is written from then on.
func (e *dupEnv) waitStarted(t *testing.T, side *dupSide, table string, id int32, timeout time.Duration) {
	t.Helper()
	waitFor(t, fmt.Sprintf("duplication %d of %s started on every partition", id, table), timeout, func() string {
		d := findDup(e.dupList(t, side, table), id)
		if d == nil {
			return "not listed"
		}
		var waiting []string
		for _, p := range d.Partitions {
			if p.ConfirmedDecree < 0 {
				waiting = append(waiting, fmt.Sprintf("p%d", p.Index))
			}
		}
		if len(waiting) > 0 {
			return fmt.Sprintf("status %s; not started: %s", d.Status, strings.Join(waiting, ","))
		}
		return ""
	})
}

// waitDrained waits until `dup list` on side shows, for duplication id of
// table, every partition's confirmed decree at the primary's last
// committed decree in a report made after since (when the writes to the
// table stopped): everything written before since reached the remote
// cluster. It returns how long it waited.
func (e *dupEnv) waitDrained(t *testing.T, side *dupSide, table string, id int32, since time.Time, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	// report_time has a resolution of a second: a report shown in the
	// second after since's was made after since.
	after := since.Truncate(time.Second).Add(time.Second)
	waitFor(t, fmt.Sprintf("duplication %d of %s drained", id, table), timeout, func() string {
		d := findDup(e.dupList(t, side, table), id)
		if d == nil {
			return "not listed"
		}
		if d.Status != "DS_LOG" {
			return "status " + d.Status
		}
		var behind []string
		for _, p := range d.Partitions {
			rt, err := time.Parse(time.RFC3339, p.ReportTime)
			if err != nil || rt.Before(after) || p.ConfirmedDecree < p.LastCommitted {
				behind = append(behind, fmt.Sprintf("p%d confirmed %d/%d at %s %s", p.Index, p.ConfirmedDecree, p.LastCommitted, p.ReportTime, p.LastError))
			}
		}
		return strings.Join(behind, "; ")
	})
	return time.Since(start)
}

// dupRecord is one record as the digest sees it.
type dupRecord struct {
	hashKey, sortKey, value string
	ttl                     bool
}

func (r dupRecord) String() string {
	return fmt.Sprintf("%q/%q=%q(ttl %v)", r.hashKey, r.sortKey, r.value, r.ttl)
}

// tableDigest is every record of a table, sorted, and their hash.
type tableDigest struct {
	records []dupRecord
	sum     string
}

// digestTable scans every record of tb through client-go's unordered
// scanners and hashes hashkey, sortkey, value and whether it has a TTL,
// in key order.
func digestTable(ctx context.Context, tb *pegasus.Table) (tableDigest, error) {
	scanners, err := tb.GetUnorderedScanners(4, &pegasus.ScanOptions{BatchSize: 1000})
	if err != nil {
		return tableDigest{}, err
	}
	var mu sync.Mutex
	var all []dupRecord
	errs := make([]error, len(scanners))
	var wg sync.WaitGroup
	for i, s := range scanners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer s.Close()
			var local []dupRecord
			for kv, err := range s.All(ctx) {
				if err != nil {
					errs[i] = err
					return
				}
				local = append(local, dupRecord{string(kv.HashKey), string(kv.SortKey), string(kv.Value), !kv.Expire.IsZero()})
			}
			mu.Lock()
			all = append(all, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return tableDigest{}, err
	}
	slices.SortFunc(all, func(a, b dupRecord) int {
		if c := strings.Compare(a.hashKey, b.hashKey); c != 0 {
			return c
		}
		return strings.Compare(a.sortKey, b.sortKey)
	})
	h := sha256.New()
	for _, r := range all {
		for _, f := range []string{r.hashKey, r.sortKey, r.value} {
			h.Write(binary.AppendUvarint(nil, uint64(len(f))))
			io.WriteString(h, f)
		}
		if r.ttl {
			h.Write([]byte{1})
		} else {
			h.Write([]byte{0})
		}
	}
	return tableDigest{records: all, sum: hex.EncodeToString(h.Sum(nil))}, nil
}

// diff describes up to 10 differences between two digests.
func (d tableDigest) diff(o tableDigest) string {
	var out []string
	i, j := 0, 0
	key := func(r dupRecord) string { return r.hashKey + "\x00" + r.sortKey }
	for (i < len(d.records) || j < len(o.records)) && len(out) < 10 {
		switch {
		case j >= len(o.records) || (i < len(d.records) && key(d.records[i]) < key(o.records[j])):
			out = append(out, "only on the source: "+d.records[i].String())
			i++
		case i >= len(d.records) || key(o.records[j]) < key(d.records[i]):
			out = append(out, "only on the target: "+o.records[j].String())
			j++
		default:
			if d.records[i] != o.records[j] {
				out = append(out, fmt.Sprintf("source %v, target %v", d.records[i], o.records[j]))
			}
			i++
			j++
		}
	}
	return strings.Join(out, "\n")
}

// sameContent digests a and b and fails t unless they hold the same
// records; it returns the record count.
func sameContent(t *testing.T, a, b *pegasus.Table, aName, bName string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	start := time.Now()
	da, err := digestTable(ctx, a)
	if err != nil {
		t.Fatalf("digest of %s: %v", aName, err)
	}
	db, err := digestTable(ctx, b)
	if err != nil {
		t.Fatalf("digest of %s: %v", bName, err)
	}
	if da.sum != db.sum {
		t.Fatalf("%s holds %d records (digest %.12s), %s %d (digest %.12s); first differences (source = %s):\n%s",
			aName, len(da.records), da.sum, bName, len(db.records), db.sum, aName, da.diff(db))
	}
	t.Logf("%s and %s hold the same %d records (digest %.12s; both scanned in %v)", aName, bName, len(da.records), da.sum,
		time.Since(start).Round(time.Millisecond))
	return len(da.records)
}

// getJSONPage GETs http://addr+path and decodes a 200 answer into v.
func getJSONPage(ctx context.Context, addr, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s%s: %s: %s", addr, path, resp.Status, strings.TrimSpace(string(b)))
	}
	return json.Unmarshal(b, v)
}

// getText GETs http://addr+path into *body (200 answers only).
func getText(ctx context.Context, addr, path string, body *string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s%s: %s", addr, path, resp.Status)
	}
	*body = string(b)
	return nil
}

// replicaDupPage is the part of /replica/duplication?appid= the tests
// read.
type replicaDupPage struct {
	Node       string    `json:"node"`
	AppID      int32     `json:"app_id"`
	Enabled    bool      `json:"enabled"`
	ClusterID  uint8     `json:"cluster_id"`
	LastSync   time.Time `json:"last_sync"`
	Partitions []struct {
		Gpid          string           `json:"gpid"`
		Role          string           `json:"role"`
		LastCommitted int64            `json:"last_committed"`
		GCFloor       int64            `json:"gc_floor"`
		PlogMinDecree int64            `json:"plog_min_decree"`
		Dups          []replicaDupView `json:"dups"`
	} `json:"partitions"`
}

// replicaDupView is one duplication of one partition on a replica page.
type replicaDupView struct {
	DupID            int32  `json:"dupid"`
	Remote           string `json:"remote"`
	Status           string `json:"status"`
	FailMode         string `json:"fail_mode"`
	MetaConfirmed    int64  `json:"meta_confirmed_decree"`
	Running          bool   `json:"running"`
	Confirmed        int64  `json:"confirmed_decree"`
	PendingMutations int64  `json:"pending_mutations"`
	ShippedOps       int64  `json:"shipped_ops"`
	FailedOps        int64  `json:"failed_shipping_ops"`
	SkippedMutations int64  `json:"skipped_mutations"`
	LastError        string `json:"last_error"`
}

// replicaDupPages fetches /replica/duplication?appid= from every replica
// server of side.
func (e *dupEnv) replicaDupPages(t *testing.T, side *dupSide, appID int32) []replicaDupPage {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out []replicaDupPage
	for _, r := range side.replicas {
		var p replicaDupPage
		if err := getJSONPage(ctx, e.c.HTTPAddress(r), "/replica/duplication?appid="+strconv.Itoa(int(appID)), &p); err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

// metricSum sums a metric over every replica server of side.
func (e *dupEnv) metricSum(t *testing.T, side *dupSide, name string) float64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var sum float64
	for _, r := range side.replicas {
		v, err := e.c.MetricSum(ctx, r, name)
		if err != nil {
			t.Fatal(err)
		}
		sum += v
	}
	return sum
}

// appID returns the app id of table on side.
func (s *dupSide) appID(t *testing.T, table string) int32 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cfg, err := s.ac.QueryConfig(ctx, table)
	if err != nil {
		t.Fatal(err)
	}
	return cfg.App.AppID
}

// mixedWrites makes n write operations on tb from workers goroutines over
// a key space small enough for operations to overlap: mostly sets (one
// in seven with a TTL), with multi_set, del, multi_del and del_range
// mixed in. Every operation must succeed. It returns the count per kind.
func mixedWrites(ctx context.Context, tb *pegasus.Table, prefix string, n, workers int) (map[string]int, error) {
	hashKeys := max(n/8, 16)
	var mu sync.Mutex
	counts := map[string]int{}
	err := runN(ctx, n, workers, func(ctx context.Context, i int) error {
		hk := fmt.Appendf(nil, "%s%05d", prefix, i%hashKeys)
		round := i / hashKeys
		sk := fmt.Appendf(nil, "s%d", round%5)
		val := fmt.Appendf(nil, "v%d-%d", i, round)
		op := "set"
		var err error
		switch k := i % 20; {
		case k < 14:
			var opts *pegasus.SetOptions
			if i%7 == 0 {
				op, opts = "set_ttl", &pegasus.SetOptions{TTL: time.Hour}
			}
			err = tb.Set(ctx, hk, sk, val, opts)
		case k < 16:
			op = "multi_set"
			err = tb.MultiSet(ctx, hk, [][]byte{[]byte("m0"), []byte("m1"), []byte("m2")}, [][]byte{val, val, val}, nil)
		case k < 18:
			op = "del"
			err = tb.Del(ctx, hk, fmt.Appendf(nil, "s%d", (round+1)%5))
		case i%100 == 19:
			op = "del_range"
			_, err = tb.DelRange(ctx, hk, []byte("m"), []byte("n"), nil)
		default:
			op = "multi_del"
			_, err = tb.MultiDel(ctx, hk, [][]byte{fmt.Appendf(nil, "s%d", (round+2)%5), []byte("m1")})
		}
		if err != nil {
			return fmt.Errorf("%s %s: %w", op, hk, err)
		}
		mu.Lock()
		counts[op]++
		mu.Unlock()
		return nil
	})
	return counts, err
}

// runN runs fn for 0..n-1 on workers goroutines and returns the first
// error (after which no new operation starts).
func runN(ctx context.Context, n, workers int, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next sync.Mutex
	i := 0
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				next.Lock()
				j := i
				i++
				next.Unlock()
				if j >= n {
					return
				}
				if err := fn(ctx, j); err != nil {
					cancel(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	return context.Cause(ctx)
}
