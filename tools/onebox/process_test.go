package onebox

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// helperEnv makes the test binary act as a child process: "sleep" runs
// until a signal ends it, "stubborn" ignores SIGTERM.
const helperEnv = "ONEBOX_TEST_HELPER"

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "sleep":
		for {
			time.Sleep(time.Hour) // until a signal's default action ends the process
		}
	case "stubborn":
		signal.Ignore(syscall.SIGTERM)
		os.Stdout.WriteString("ready\n")
		for {
			time.Sleep(time.Hour)
		}
	}
	os.Exit(m.Run())
}

// helperInstance returns an instance that runs the test binary as helper
// kind, with its files under a temporary directory.
func helperInstance(t *testing.T, name, kind string) *Instance {
	t.Helper()
	dir := t.TempDir()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(helperEnv, kind) // inherited by the child
	return &Instance{
		Name: name, Role: RoleReplica, Dir: dir, Binary: exe, Args: []string{"-test.run=^$"},
		Output: filepath.Join(dir, "output.log"), Log: filepath.Join(dir, "x.log"),
	}
}

func spawnHelper(t *testing.T, name, kind string) *Instance {
	t.Helper()
	in := helperInstance(t, name, kind)
	if err := spawn(in, true); err != nil {
		t.Fatal(err)
	}
	pid := in.PID
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
	return in
}

// waitState polls the external process's state with a deadline.
func waitState(t *testing.T, in *Instance, want ProcState) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for in.State() != want {
		if time.Now().After(deadline) {
			t.Fatalf("%s state %s, want %s", in.Name, in.State(), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestInstanceStates(t *testing.T) {
	in := spawnHelper(t, "onebox/replica1", "sleep")
	if in.State() != ProcRunning || !in.Alive() {
		t.Fatalf("fresh process: %s", in.State())
	}
	// Its own session: the child leads its process group.
	if pgid, err := syscall.Getpgid(in.PID); err != nil || pgid != in.PID {
		t.Fatalf("pgid %d (%v), want %d", pgid, err, in.PID)
	}
	if err := in.signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	waitState(t, in, ProcStopped)
	if !in.Alive() {
		t.Fatal("a stopped process is alive")
	}
	if err := in.signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	waitState(t, in, ProcRunning)

	// Another start time: the pid belongs to someone else.
	other := *in
	other.StartTicks++
	if other.Alive() {
		t.Fatal("a process with another start time counts as the instance")
	}
	if err := other.signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if !in.Alive() {
		t.Fatal("signal went to a process whose start time differs")
	}

	if err := in.signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitState(t, in, ProcDead) // the reaper goroutine collects it
	if err := in.signal(syscall.SIGTERM); err != nil {
		t.Fatalf("signal to a dead instance: %v", err)
	}
	if (&Instance{}).Alive() {
		t.Fatal("an instance without a pid is alive")
	}
}

func TestStopInstancesEscalates(t *testing.T) {
	polite := spawnHelper(t, "onebox/replica1", "sleep")
	stubborn := spawnHelper(t, "onebox/replica2", "stubborn")
	// SIGTERM must find it ignoring the signal: wait for its word.
	deadline := time.Now().Add(10 * time.Second)
	for b, _ := os.ReadFile(stubborn.Output); !strings.Contains(string(b), "ready\n"); b, _ = os.ReadFile(stubborn.Output) {
		if time.Now().After(deadline) {
			t.Fatalf("helper not ready: %s", b)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := stubborn.signal(syscall.SIGSTOP); err != nil { // stop must wake it
		t.Fatal(err)
	}
	start := time.Now()
	err := stopInstances(context.Background(), []*Instance{polite, stubborn}, 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if polite.PID != 0 || stubborn.PID != 0 {
		t.Fatalf("pids not cleared: %d %d", polite.PID, stubborn.PID)
	}
	if time.Since(start) < 300*time.Millisecond {
		b, _ := os.ReadFile(stubborn.Output)
		t.Fatalf("the stubborn process was gone before the SIGTERM timeout: %s", b)
	}
}

func TestSpawnMissingBinary(t *testing.T) {
	in := helperInstance(t, "onebox/meta1", "sleep")
	in.Binary = filepath.Join(in.Dir, "nosuch")
	if err := spawn(in, true); err == nil || !strings.Contains(err.Error(), "start onebox/meta1") {
		t.Fatalf("spawn = %v", err)
	}
}

func TestStateRoundTripAndLookup(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadState(dir); !errors.Is(err, ErrNoOnebox) {
		t.Fatalf("empty dir: %v", err)
	}
	st := &State{Version: stateVersion, Dir: dir, Store: "local", BasePort: 34601,
		Clusters:  []Cluster{{Name: "onebox", ID: 1, MetaServers: []string{"127.0.0.1:34601"}}},
		Instances: []Instance{{Name: "onebox/meta1", Role: RoleMeta, Cluster: "onebox", PID: 12, StartTicks: 34}}}
	if err := st.save(); err != nil {
		t.Fatal(err)
	}
	back, err := LoadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	if in, err := back.Instance("onebox/meta1"); err != nil || in.PID != 12 || in.StartTicks != 34 {
		t.Fatalf("instance %+v, %v", in, err)
	}
	if _, err := back.Instance("onebox/meta9"); err == nil || !strings.Contains(err.Error(), "onebox/meta1") {
		t.Fatalf("unknown instance: %v", err)
	}
	if back.Cluster("onebox") == nil || back.Cluster("onebox2") != nil {
		t.Fatal("Cluster lookup")
	}
	os.WriteFile(filepath.Join(dir, StateFile), []byte(`{"version": 99}`), 0o644)
	if _, err := LoadState(dir); err == nil || !strings.Contains(err.Error(), "state version 99") {
		t.Fatalf("future version: %v", err)
	}
	os.WriteFile(filepath.Join(dir, StateFile), []byte(`{`), 0o644)
	if _, err := LoadState(dir); err == nil {
		t.Fatal("truncated state accepted")
	}
}

func TestLockIsExclusive(t *testing.T) {
	dir := t.TempDir()
	unlock, err := lock(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lock(dir); err == nil || !strings.Contains(err.Error(), "another onebox command") {
		t.Fatalf("second lock: %v", err)
	}
	unlock()
	unlock2, err := lock(dir)
	if err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	unlock2()
}
