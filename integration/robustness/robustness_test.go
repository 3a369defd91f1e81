package robustness

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pegasus-go/pegasus/integration/internal/harness"
	"github.com/pegasus-go/pegasus/shared/zktest"
)

func TestMain(m *testing.M) { os.Exit(harness.Main(m)) }

// Environment knobs of TestCampaign (make robustness sets them).
const (
	envDuration  = "ROBUSTNESS_DURATION"  // fault rounds, e.g. 10m
	envSeed      = "ROBUSTNESS_SEED"      // default: a fixed seed
	envArtifacts = "ROBUSTNESS_ARTIFACTS" // kept; default a temporary dir kept only on failure
	envShape     = "ROBUSTNESS_SHAPE"     // metas/replicas/clients, e.g. 3/5/12
	envFaults    = "ROBUSTNESS_FAULTS"    // comma-separated fault kinds (default: every kind)
)

// campaignOptions builds the options of a campaign test from the
// environment, with the given defaults.
func campaignOptions(t *testing.T, dur time.Duration, seed uint64) (Options, func()) {
	t.Helper()
	harness.SkipExternal(t)
	if err := zktest.Available(zktest.Options{}); err != nil {
		t.Fatal(err)
	}
	if v := os.Getenv(envDuration); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("%s=%q: %v", envDuration, v, err)
		}
		dur = d
	}
	if v := os.Getenv(envSeed); v != "" {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: %v", envSeed, v, err)
		}
		seed = s
	}
	o := Options{Seed: seed, Duration: dur, BinDir: harness.Binaries(t), Dir: t.TempDir()}
	if v := os.Getenv(envShape); v != "" {
		if _, err := fmt.Sscanf(v, "%d/%d/%d", &o.Metas, &o.Replicas, &o.Clients); err != nil {
			t.Fatalf("%s=%q: want metas/replicas/clients: %v", envShape, v, err)
		}
	}
	if v := os.Getenv(envFaults); v != "" {
		for k := range strings.SplitSeq(v, ",") {
			if !slices.Contains(AllFaults, FaultKind(k)) {
				t.Fatalf("%s: unknown fault kind %q (known: %v)", envFaults, k, AllFaults)
			}
			o.Faults = append(o.Faults, FaultKind(k))
		}
	}
	keep := os.Getenv(envArtifacts)
	o.Artifacts = keep
	if keep == "" {
		dir, err := os.MkdirTemp("", fmt.Sprintf("pegasus-robustness-%s-", t.Name()))
		if err != nil {
			t.Fatal(err)
		}
		o.Artifacts = dir
	}
	o.Logger = testLogger(t)
	cleanup := func() {
		if keep == "" && !t.Failed() {
			os.RemoveAll(o.Artifacts)
		} else {
			t.Logf("artifacts kept in %s", o.Artifacts)
		}
	}
	return o, cleanup
}

// TestCampaign runs a seeded campaign with every fault kind against 2 meta
// and 4 replica servers (make robustness: 3 and 5, for longer) and
// requires a clean result: no linearizability violation, no acknowledged
// write lost, no digest mismatch, every fault kind injected, and a table
// that heals after every round.
func TestCampaign(t *testing.T) {
	dur := 75 * time.Second
	o, cleanup := campaignOptions(t, dur, 20240611)
	defer cleanup()
	if os.Getenv(envShape) == "" && os.Getenv(envDuration) == "" {
		o.Metas, o.Replicas, o.Clients = 2, 4, 8
	}
	ctx := context.Background()
	sum, err := Run(ctx, o)
	var b bytes.Buffer
	if sum != nil {
		sum.Print(&b)
		_ = os.WriteFile(filepath.Join(o.Artifacts, "summary.txt"), b.Bytes(), 0o644)
		t.Logf("summary:\n%s", b.String())
		fmt.Print(b.String())
	}
	if err != nil {
		t.Fatal(err)
	}
	if !sum.Clean() {
		t.Errorf("the campaign found problems (see the summary and %s)", o.Artifacts)
	}
	if sum.OpsChecked == 0 {
		t.Error("no operation checked")
	}
	if os.Getenv(envDuration) == "" {
		return
	}
	// A long campaign must cover every fault kind it draws from.
	kinds := o.Faults
	if len(kinds) == 0 {
		kinds = AllFaults
	}
	for _, k := range kinds {
		if sum.Faults[k] == 0 {
			t.Errorf("fault %s never injected", k)
		}
	}
}

// testLogger sends the campaign's progress to the test log.
func testLogger(t *testing.T) *slogLogger { return newTestLogger(t) }

// TestPlantedBugIsCaught proves the checker can fail: with a planted bug
// (an isolated primary whose lease clock steps back a minute, so it serves
// reads after its lease ran out while a new primary takes writes), the
// campaign must report linearizability violations.
func TestPlantedBugIsCaught(t *testing.T) {
	o, cleanup := campaignOptions(t, 30*time.Second, 7)
	defer cleanup()
	o.Metas, o.Replicas, o.Clients, o.Partitions = 1, 3, 12, 2
	o.Keys = 32   // few keys: each is read and written often
	o.Readers = 4 // read-only clients keep reading from the replaced primary
	o.Faults = []FaultKind{PlantedStaleLease}
	sum, err := Run(context.Background(), o)
	if sum != nil {
		var b bytes.Buffer
		sum.Print(&b)
		t.Logf("summary:\n%s", b.String())
	}
	if err != nil {
		t.Fatal(err)
	}
	if sum.Faults[PlantedStaleLease] == 0 {
		t.Fatal("the planted bug was never armed")
	}
	if sum.Violations == 0 {
		t.Fatalf("the checker missed the stale reads of the planted bug (%d operations checked)", sum.OpsChecked)
	}
	for _, f := range sum.Failed {
		if f.Visualization == "" {
			t.Errorf("no visualisation written for key %s", f.Key)
		}
	}
	t.Logf("caught: %d keys with violations", sum.Violations)
}
