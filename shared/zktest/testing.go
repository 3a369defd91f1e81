package zktest

import (
	"context"
	"errors"
	"os"
	"testing"
)

// SkipEnv is the environment variable that turns a missing ZooKeeper into a
// skipped test instead of a failure (`make unit` sets it to 1).
const SkipEnv = "PEGASUS_SKIP_EXTERNAL"

// Start runs a ZooKeeper for a test with default options and stops it in
// tb.Cleanup. With SkipEnv=1 the test is skipped instead of started. When
// ZooKeeper is not installed the test fails with a one-line message saying
// how to install it.
func Start(tb testing.TB) *Server {
	tb.Helper()
	return StartWith(tb, Options{})
}

// StartWith is Start with options.
func StartWith(tb testing.TB, opts Options) *Server {
	tb.Helper()
	if os.Getenv(SkipEnv) == "1" {
		tb.Skip("real ZooKeeper test skipped: " + SkipEnv + "=1")
	}
	s, err := Run(context.Background(), opts)
	if errors.Is(err, ErrNotInstalled) {
		tb.Fatal(err.Error())
	}
	if err != nil {
		tb.Fatalf("zktest: %v", err)
	}
	tb.Cleanup(func() {
		if err := s.Stop(); err != nil {
			tb.Errorf("zktest: stop: %v", err)
		}
	})
	return s
}
