package zktest

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// fakeTB records how Start ends a test instead of ending this one.
type fakeTB struct {
	testing.TB
	mu      sync.Mutex
	fatal   string
	skipped string
}

func (f *fakeTB) Helper()        {}
func (f *fakeTB) Cleanup(func()) {}
func (f *fakeTB) Fatal(args ...any) {
	f.mu.Lock()
	f.fatal = fmt.Sprint(args...)
	f.mu.Unlock()
	runtime.Goexit()
}
func (f *fakeTB) Fatalf(format string, args ...any) { f.Fatal(fmt.Sprintf(format, args...)) }
func (f *fakeTB) Skip(args ...any) {
	f.mu.Lock()
	f.skipped = fmt.Sprint(args...)
	f.mu.Unlock()
	runtime.Goexit()
}

// run calls fn in its own goroutine, as the testing package would, so a
// Goexit ends only that goroutine.
func run(fn func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	<-done
}

func TestStartNotInstalled(t *testing.T) {
	t.Setenv(SkipEnv, "")
	f := &fakeTB{TB: t}
	run(func() { StartWith(f, Options{JarDir: t.TempDir()}) })
	if f.fatal == "" || strings.Contains(f.fatal, "\n") || !strings.Contains(f.fatal, "make deps") {
		t.Fatalf("Start without ZooKeeper failed with %q, want one line naming make deps", f.fatal)
	}
}

func TestStartSkips(t *testing.T) {
	t.Setenv(SkipEnv, "1")
	f := &fakeTB{TB: t}
	run(func() { StartWith(f, Options{JarDir: t.TempDir()}) })
	if !strings.Contains(f.skipped, SkipEnv) || f.fatal != "" {
		t.Fatalf("Start with %s=1: skipped %q, fatal %q", SkipEnv, f.skipped, f.fatal)
	}
}
