package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pegasus-go/pegasus/integration/internal/harness"
	"github.com/pegasus-go/pegasus/tools/onebox"
)

// TestOneboxUserPath follows the quick start: onebox start (local store),
// admincli with the printed command line (create, set, get, script mode
// with use), onebox status and onebox stop, after which no process of
// the onebox may remain.
func TestOneboxUserPath(t *testing.T) {
	harness.SkipExternal(t)
	bin := harness.Binaries(t)
	dir := filepath.Join(t.TempDir(), "box")
	base := harness.FreeBasePort(t, onebox.Options{})
	run := func(stdin string, name string, args ...string) (string, error) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, filepath.Join(bin, name), args...)
		cmd.Stdin = strings.NewReader(stdin)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Logf("%s %s: %v\nstdout:\n%s\nstderr:\n%s", name, strings.Join(args, " "), err, out, stderr.String())
		}
		return string(out), err
	}
	// Whatever happens, leave no process behind.
	t.Cleanup(func() { harness.StopAndCheck(t, dir) })

	start := time.Now()
	out, err := run("", "onebox", "start", "--dir", dir, "--base-port", strconv.Itoa(base))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("onebox start took %v:\n%s", time.Since(start).Round(time.Millisecond), out)
	m := regexp.MustCompile(`connect:\s+(\S*admincli) -m (\S+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("onebox start printed no admincli command line:\n%s", out)
	}
	if filepath.Base(m[1]) != "admincli" {
		t.Fatalf("printed admincli path %q", m[1])
	}
	meta := m[2]
	if want := "127.0.0.1:" + strconv.Itoa(base); meta != want {
		t.Fatalf("printed meta list %q, want %q", meta, want)
	}

	// The printed collector URL serves the dashboard.
	cm := regexp.MustCompile(`collector:\s+(http://\S+/)`).FindStringSubmatch(out)
	if cm == nil {
		t.Fatalf("onebox start printed no collector URL:\n%s", out)
	}
	if body, err := httpBody(strings.TrimSuffix(strings.TrimPrefix(cm[1], "http://"), "/"), "/"); err != nil || !strings.Contains(string(body), "uPlot") {
		t.Fatalf("collector dashboard at %s: %v", cm[1], err)
	}

	admincli := func(stdin string, args ...string) string {
		t.Helper()
		out, err := run(stdin, "admincli", append([]string{"-m", meta}, args...)...)
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(out)
	}
	if out := admincli("", "create", "t1", "-p", "8"); !strings.Contains(out, "table t1 created") || !strings.Contains(out, "8 partitions") {
		t.Fatalf("create: %q", out)
	}
	if out := admincli("", "set", "-a", "t1", "hello", "world", "value one"); out != "OK" {
		t.Fatalf("set: %q", out)
	}
	if out := admincli("", "get", "-a", "t1", "hello", "world"); out != "value one" {
		t.Fatalf("get: %q, want %q", out, "value one")
	}
	script := "use t1\nset h2 s2 v2\nget h2 s2\nget hello world\n"
	if out := admincli(script); !strings.HasSuffix(out, "OK\nv2\nvalue one") {
		t.Fatalf("script output %q", out)
	}
	if _, err := run("", "admincli", "-m", meta, "get", "-a", "t1", "nosuch", "key"); err == nil {
		t.Fatal("get of a missing record succeeded")
	}

	out, err = run("", "onebox", "status", "--json", "--dir", dir)
	if err != nil {
		t.Fatal(err)
	}
	var status struct {
		Instances []onebox.InstanceStatus `json:"instances"`
	}
	if err := json.Unmarshal([]byte(out), &status); err != nil {
		t.Fatalf("status --json: %v\n%s", err, out)
	}
	if len(status.Instances) != 5 {
		t.Fatalf("status lists %d instances, want 5 (1 meta, 3 replicas, 1 collector): %+v", len(status.Instances), status.Instances)
	}
	for _, in := range status.Instances {
		if !in.Alive || in.PID <= 0 || in.State != onebox.ProcRunning {
			t.Fatalf("instance not running: %+v", in)
		}
	}

	// The processes as recorded before the stop (pid and start time), to
	// check them after it: stop clears the pids in the state file.
	before, err := onebox.LoadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	if out, err = run("", "onebox", "stop", "--dir", dir); err != nil {
		t.Fatal(err)
	}
	t.Log(strings.TrimSpace(out))
	harness.AssertNoProcess(t, dir)
	for _, in := range before.Instances {
		if in.PID <= 0 {
			t.Fatalf("%s had no pid before the stop", in.Name)
		}
		if in.Alive() {
			t.Errorf("%s (pid %d) still exists after onebox stop", in.Name, in.PID)
		}
	}
	out, err = run("", "onebox", "status", "--dir", dir)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, string(onebox.ProcRunning)) {
		t.Fatalf("status after stop:\n%s", out)
	}
}
