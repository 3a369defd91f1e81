package duplag

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestReplaceGenerated(t *testing.T) {
	doc := "# B\n\nintro\n" + BeginMarker + "\nold table\n" + EndMarker + "\n\nnarrative\n"
	out, err := ReplaceGenerated([]byte(doc), "\nnew table\n\n")
	if err != nil {
		t.Fatal(err)
	}
	want := "# B\n\nintro\n" + BeginMarker + "\nnew table\n" + EndMarker + "\n\nnarrative\n"
	if string(out) != want {
		t.Fatalf("got\n%s\nwant\n%s", out, want)
	}
	for name, bad := range map[string]string{
		"no markers":   "# B\n",
		"no end":       BeginMarker + "\nx\n",
		"reversed":     EndMarker + "\nx\n" + BeginMarker,
		"two sections": BeginMarker + EndMarker + BeginMarker + EndMarker,
	} {
		if _, err := ReplaceGenerated([]byte(bad), "x"); !errors.Is(err, ErrNoMarkers) {
			t.Errorf("%s: err %v, want ErrNoMarkers", name, err)
		}
	}
}

func TestUpdateDoc(t *testing.T) {
	path := filepath.Join(t.TempDir(), "benchmarks.md")
	if err := os.WriteFile(path, []byte("a\n"+BeginMarker+"\n"+EndMarker+"\nb\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := UpdateDoc(path, "rows"); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if !strings.Contains(string(b), BeginMarker+"\nrows\n"+EndMarker) {
		t.Fatalf("doc: %s", b)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", st.Mode())
	}
	if err := UpdateDoc(filepath.Join(t.TempDir(), "missing.md"), "x"); err == nil {
		t.Fatal("missing file updated")
	}
}

func TestMarkdown(t *testing.T) {
	o := Options{Duration: time.Minute, ReplicaSettings: []string{"replication.dup_sync_interval=1s"}}
	o.setDefaults()
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	r := &Report{
		Start: start, End: start.Add(3 * time.Minute), Options: o,
		Machine: Machine{CPUs: 2, CPUModel: "CPU X", MemoryGiB: 23.5, Go: "go1.x linux/amd64", LoadStart: "3.50", LoadEnd: "4.00"},
		Phases: []*PhaseResult{{
			Rate: 1000, Achieved: 999.4, Write: Summary{P50: 2 * time.Millisecond, P99: 30 * time.Millisecond},
			Visibility: Summary{N: 3000, P50: 20 * time.Millisecond, P99: 250 * time.Millisecond, Max: 400 * time.Millisecond},
			Hist:       []Bucket{{512, 10}, {math.Inf(1), 12}}, HistP50: 40, HistP99: 512, HistP99Inf: true,
			MaxPending: 77, Drain: 1200 * time.Millisecond, Saturated: 5,
		}},
	}
	md := r.Markdown("abc1234", "make bench-dup")
	for _, want := range []string{
		"2 cores, CPU X, 24 GiB", "load average 3.50 at the start, 4.00 at the end (the machine was shared",
		"2026-01-02, commit `abc1234`; the run took 3m0s", "`make bench-dup`", "`replication.dup_sync_interval=1s`",
		"| 1000 | 999 | 2ms / 30ms | 20ms | 250ms | 400ms | 3000 (0) | 40 ms | > 512 ms | 12 | 77 | 1.2s |",
		"5 were issued late",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}

func TestOptions(t *testing.T) {
	var o Options
	o.setDefaults()
	if err := o.validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	if o.sampleEvery(1000) != 20 || o.sampleEvery(10) != 1 {
		t.Fatalf("sampleEvery: %d %d", o.sampleEvery(1000), o.sampleEvery(10))
	}
	bad := Options{Rates: []int{0, MaxRate + 1}, Duration: time.Millisecond, Partitions: 6, ValueSize: -1,
		SamplesPerSecond: -1, PollInterval: 2 * time.Second, MaxInflight: -1, VisibilityTimeout: time.Millisecond}
	bad.setDefaults()
	err := bad.validate()
	if err == nil {
		t.Fatal("bad options accepted")
	}
	for _, want := range []string{"rate 0", "rate 1000001", "duration", "partitions 6", "value size -1", "samples", "poll interval", "max in flight", "visibility timeout"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
}

func TestKeysAndValues(t *testing.T) {
	h1, _ := key(1, 7)
	h2, _ := key(2, 7)
	h3, _ := key(1, 8)
	if string(h1) == string(h2) || string(h1) == string(h3) {
		t.Fatal("keys collide")
	}
	v := value(1, 7, 100)
	if len(v) != 100 || !strings.HasPrefix(string(v), "1/7:") || string(v) == string(value(1, 8, 100)) {
		t.Fatalf("value %q", v)
	}
	if len(value(1, 123456, 3)) != 3 {
		t.Fatal("short value not truncated")
	}
}
