package pegasus_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/pegasus-go/pegasus/client-go/internal/fakecluster"
	"github.com/pegasus-go/pegasus/client-go/pegasus"
)

// A primary that stops answering (paused, cut off) while the meta moves the
// partition elsewhere costs one attempt: the attempt times out, the client
// refreshes the configuration and an idempotent operation is retried at the
// new primary within its deadline. A non-idempotent operation is not
// retried, but the next one goes to the new primary.
func TestHungPrimaryIsRoutedAround(t *testing.T) {
	attempt := func(c *pegasus.Config) { c.AttemptTimeout = 100 * time.Millisecond }
	e := newEnv(t, envOpts{partitions: 1, config: attempt})
	ctx := context.Background()
	if err := e.t.Set(ctx, b("h"), b("s"), b("v"), nil); err != nil {
		t.Fatal(err)
	}
	// A second client whose cached configuration still names the old primary.
	cfg := pegasus.Config{MetaServers: e.fc.MetaAddrs(), MinConfigRefreshInterval: time.Millisecond}
	attempt(&cfg)
	c2, err := pegasus.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	t2, err := c2.OpenTable(ctx, tableName)
	if err != nil {
		t.Fatal(err)
	}

	old := e.fc.Primary(tableName, 0)
	hung := make(chan struct{})
	defer close(hung)
	e.fc.Inject(fakecluster.Fault{Node: old, Block: hung, Times: 1 << 30})
	e.fc.MovePrimary(tableName, 0, (e.nodeIndex(t, old)+1)%3)

	gctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	v, err := e.t.Get(gctx, b("h"), b("s"))
	if err != nil || string(v) != "v" {
		t.Fatalf("get around the hung primary = %q, %v", v, err)
	}

	// The incr reaches the hung primary, times out after one attempt and is
	// not retried (it may or may not apply there) ...
	ictx, icancel := context.WithTimeout(ctx, 3*time.Second)
	defer icancel()
	if _, err := t2.Incr(ictx, b("h"), b("n"), 1, nil); !errors.Is(err, pegasus.ErrTimeout) {
		t.Fatalf("incr at the hung primary = %v, want ErrTimeout", err)
	}
	if n := e.fc.NodeCalls(old, "Incr"); n != 1 {
		t.Fatalf("the hung primary got %d incr requests, want 1 (no retry)", n)
	}
	// ... and the next incr goes to the new primary, which never saw the
	// first one.
	n, err := t2.Incr(ictx, b("h"), b("n"), 1, nil)
	if err != nil || n != 1 {
		t.Fatalf("incr after the refresh = %d, %v", n, err)
	}

	// A set whose attempt timed out at a hung primary is not retried
	// either (its first attempt may still be applied, after newer writes).
	c3, err := pegasus.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c3.Close()
	t3, err := c3.OpenTable(ctx, tableName)
	if err != nil {
		t.Fatal(err)
	}
	e.fc.MovePrimary(tableName, 0, e.nodeIndex(t, old))
	before := e.fc.NodeCalls(old, "Set")
	sctx, scancel := context.WithTimeout(ctx, time.Second)
	defer scancel()
	if err := t3.Set(sctx, b("h"), b("s"), b("w"), nil); !errors.Is(err, pegasus.ErrTimeout) {
		t.Fatalf("set at the hung primary = %v, want ErrTimeout", err)
	}
	if n := e.fc.NodeCalls(old, "Set") - before; n != 1 {
		t.Fatalf("the hung primary got %d set requests, want 1 (no retry)", n)
	}
}
