package pegasus_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/pegasus-go/pegasus/client-go/internal/fakecluster"
	"github.com/pegasus-go/pegasus/client-go/pegasus"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

func TestRoutingByPartitionHash(t *testing.T) {
	e := newEnv(t, envOpts{partitions: 16})
	ctx := context.Background()
	want := make([]int, 16)
	for i := range 200 {
		hk := b(fmt.Sprintf("key-%d", i))
		want[partitionOf(t, hk, 16)]++
		if err := e.t.Set(ctx, hk, b("s"), b("v"), nil); err != nil {
			t.Fatal(err)
		}
	}
	for p := range 16 {
		if got := e.fc.PartitionCalls(tableName, p); got != want[p] {
			t.Errorf("partition %d served %d requests, want %d", p, got, want[p])
		}
		// Every request reached the partition's primary directly.
		if got := e.fc.NodeCalls(e.fc.Primary(tableName, p), protocol.MethodSet); got == 0 && want[p] > 0 {
			t.Errorf("primary of partition %d got no Set", p)
		}
	}
	if got := e.fc.Calls(protocol.MethodSet); got != 200 {
		t.Fatalf("%d Set calls for 200 writes", got)
	}
}

func TestRefreshAfterPrimaryMove(t *testing.T) {
	e := newEnv(t, envOpts{})
	ctx := context.Background()
	hk := b("moving")
	p := partitionOf(t, hk, 8)
	if err := e.t.Set(ctx, hk, b("s"), b("v1"), nil); err != nil {
		t.Fatal(err)
	}
	old := e.fc.Primary(tableName, p)
	to := (e.nodeIndex(t, old) + 1) % 3
	e.fc.MovePrimary(tableName, p, to)
	e.fc.ResetCounters()

	v, err := e.t.Get(ctx, hk, b("s"))
	if err != nil || string(v) != "v1" {
		t.Fatalf("get after move = %q, %v", v, err)
	}
	if n := e.fc.NodeCalls(old, protocol.MethodGet); n != 1 {
		t.Fatalf("old primary got %d Gets, want 1 (answered not primary)", n)
	}
	if n := e.fc.NodeCalls(e.fc.NodeAddrs()[to], protocol.MethodGet); n != 1 {
		t.Fatalf("new primary got %d Gets, want 1", n)
	}
	if n := e.fc.MetaCalls(0); n != 1 {
		t.Fatalf("%d configuration queries, want 1", n)
	}
	// The refreshed configuration sticks: no further detours.
	if err := e.t.Set(ctx, hk, b("s"), b("v2"), nil); err != nil {
		t.Fatal(err)
	}
	if n := e.fc.NodeCalls(old, ""); n != 1 {
		t.Fatalf("old primary got %d requests", n)
	}
}

func TestRetryOnConfigErrors(t *testing.T) {
	for _, code := range []protocol.ErrorCode{protocol.CodeInvalidState, protocol.CodeObjectNotFound,
		protocol.CodeWrongPartition, protocol.CodeStaleBallot, protocol.CodeBusy, protocol.CodeNotEnoughMember} {
		t.Run(code.String(), func(t *testing.T) {
			e := newEnv(t, envOpts{})
			ctx := context.Background()
			if err := e.t.Set(ctx, b("h"), b("s"), b("v"), nil); err != nil {
				t.Fatal(err)
			}
			e.fc.Inject(fakecluster.Fault{Method: protocol.MethodGet, Code: code, Times: 2})
			if v, err := e.t.Get(ctx, b("h"), b("s")); err != nil || string(v) != "v" {
				t.Fatalf("get = %q, %v", v, err)
			}
			if n := e.fc.Calls(protocol.MethodGet); n != 3 {
				t.Fatalf("%d Get calls, want 3", n)
			}
		})
	}
}

func TestRetryStopsAtDeadline(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.fc.Inject(fakecluster.Fault{Method: protocol.MethodGet, Code: protocol.CodeBusy, Times: 1 << 30})
	_, err := e.t.Get(ctxTimeout(t, 200*time.Millisecond), b("h"), b("s"))
	// Either the last attempt failed busy and no time was left for
	// another, or the deadline struck during an attempt.
	if !errors.Is(err, protocol.CodeBusy) || !(errors.Is(err, pegasus.ErrBusy) || errors.Is(err, pegasus.ErrTimeout)) {
		t.Fatalf("get: %v", err)
	}
	if n := e.fc.Calls(protocol.MethodGet); n < 2 {
		t.Fatalf("%d Get calls: no retry", n)
	}
}

func TestFinalErrorsAreNotRetried(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.fc.Inject(fakecluster.Fault{Method: protocol.MethodSet, Code: protocol.CodeInvalidArgument, Times: 5})
	err := e.t.Set(context.Background(), b("h"), b("s"), b("v"), nil)
	if !errors.Is(err, pegasus.ErrInvalidArgument) {
		t.Fatalf("set: %v", err)
	}
	if n := e.fc.Calls(protocol.MethodSet); n != 1 {
		t.Fatalf("%d Set calls, want 1", n)
	}
}

func TestNonIdempotentNotRetriedAfterSend(t *testing.T) {
	e := newEnv(t, envOpts{})
	ctx := context.Background()

	// The incr is applied, then the connection drops before the answer.
	e.fc.Inject(fakecluster.Fault{Method: protocol.MethodIncr, DropConnAfterApply: true})
	_, err := e.t.Incr(ctx, b("c"), b("n"), 1, nil)
	if !errors.Is(err, pegasus.ErrUnavailable) || !errors.Is(err, protocol.CodeNetworkFailure) {
		t.Fatalf("incr: %v", err)
	}
	if n := e.fc.Calls(protocol.MethodIncr); n != 1 {
		t.Fatalf("%d Incr calls, want exactly 1", n)
	}
	if v, err := e.t.Get(ctx, b("c"), b("n")); err != nil || string(v) != "1" {
		t.Fatalf("value = %q, %v: applied more or less than once", v, err)
	}

	// Not primary: still not retried (the server may have prepared it).
	e.fc.Inject(fakecluster.Fault{Method: protocol.MethodCheckAndSet, Code: protocol.CodeInvalidState})
	if _, err := e.t.CheckAndSet(ctx, b("c"), b("n"), pegasus.CheckNoCheck, nil, b("n"), b("5"), nil); !errors.Is(err, pegasus.ErrUnavailable) {
		t.Fatalf("cas: %v", err)
	}
	e.fc.Inject(fakecluster.Fault{Method: protocol.MethodCheckAndMutate, Code: protocol.CodeBusy})
	if _, err := e.t.CheckAndMutate(ctx, b("c"), b("n"), pegasus.CheckNoCheck, nil, new(pegasus.Mutations).Del(b("n")), nil); !errors.Is(err, pegasus.ErrBusy) {
		t.Fatalf("cam: %v", err)
	}
	if n := e.fc.Calls(protocol.MethodCheckAndSet) + e.fc.Calls(protocol.MethodCheckAndMutate); n != 2 {
		t.Fatalf("%d check calls, want 2", n)
	}

	// The same failure on an idempotent write is not retried either: the
	// first attempt may have been applied, and a retry could land after
	// another client's newer write (a retried Set re-applying its value
	// after a later Del is what the robustness harness caught).
	e.fc.Inject(fakecluster.Fault{Method: protocol.MethodSet, DropConnAfterApply: true})
	if err := e.t.Set(ctx, b("c"), b("s"), b("v"), nil); !errors.Is(err, protocol.CodeNetworkFailure) {
		t.Fatalf("set with the connection dropped after the apply: %v, want the network failure", err)
	}
	if n := e.fc.Calls(protocol.MethodSet); n != 1 {
		t.Fatalf("%d Set calls, want exactly 1", n)
	}
	if v, err := e.t.Get(ctx, b("c"), b("s")); err != nil || string(v) != "v" {
		t.Fatalf("value = %q, %v", v, err)
	}
}

func TestNonIdempotentRetriedWhenNotSent(t *testing.T) {
	e := newEnv(t, envOpts{})
	ctx := context.Background()
	hk := b("counter")
	p := partitionOf(t, hk, 8)
	old := e.nodeIndex(t, e.fc.Primary(tableName, p))
	// The cached primary is down (connections refused) and the partition
	// moved: the incr never left the client, so it is retried there.
	e.fc.KillNode(old)
	e.fc.MovePrimary(tableName, p, (old+1)%3)
	v, err := e.t.Incr(ctx, hk, b("n"), 3, nil)
	if err != nil || v != 3 {
		t.Fatalf("incr = %d, %v", v, err)
	}
	if n := e.fc.Calls(protocol.MethodIncr); n != 1 {
		t.Fatalf("%d Incr calls reached servers, want 1", n)
	}

	// No primary at all: not sent either, retried until one appears or
	// the deadline passes.
	e.fc.MovePrimary(tableName, p, -1)
	e.fc.DropConnections((old + 1) % 3)
	_, err = e.t.Incr(ctxTimeout(t, 100*time.Millisecond), hk, b("n"), 1, nil)
	if !errors.Is(err, pegasus.ErrUnavailable) && !errors.Is(err, pegasus.ErrTimeout) {
		t.Fatalf("incr without primary: %v", err)
	}
	var opErr *pegasus.OpError
	if errors.As(err, &opErr) && opErr.Partition != int32(p) {
		t.Fatalf("partition in error = %d", opErr.Partition)
	}
}

func TestNoPrimaryRefreshesUntilAssigned(t *testing.T) {
	e := newEnv(t, envOpts{noOpen: true})
	hk := b("h")
	p := partitionOf(t, hk, 8)
	e.fc.MovePrimary(tableName, p, -1)
	tbl, err := e.c.OpenTable(context.Background(), tableName)
	if err != nil {
		t.Fatal(err)
	}
	_, err = tbl.Get(ctxTimeout(t, 100*time.Millisecond), hk, b("s"))
	if !errors.Is(err, pegasus.ErrUnavailable) {
		t.Fatalf("get without primary: %v", err)
	}
	if n := e.fc.Calls(""); n != 0 {
		t.Fatalf("%d data requests sent without a primary", n)
	}
	if n := e.fc.MetaCalls(0); n < 2 {
		t.Fatalf("%d configuration queries: no refresh", n)
	}
	e.fc.MovePrimary(tableName, p, 2)
	if err := tbl.Set(context.Background(), hk, b("s"), b("v"), nil); err != nil {
		t.Fatal(err)
	}
}

func TestSlowResponseAndTimeout(t *testing.T) {
	e := newEnv(t, envOpts{})
	release := make(chan struct{})
	e.fc.Inject(fakecluster.Fault{Method: protocol.MethodGet, Block: release})
	_, err := e.t.Get(ctxTimeout(t, 50*time.Millisecond), b("h"), b("s"))
	// The client's deadline or the server's (it gets the time left) ends
	// the call first; both are ErrTimeout.
	if !errors.Is(err, pegasus.ErrTimeout) {
		t.Fatalf("get: %v", err)
	}
	close(release)

	// A slow answer within the deadline is fine.
	release2 := make(chan struct{})
	e.fc.Inject(fakecluster.Fault{Method: protocol.MethodSet, Block: release2})
	done := make(chan error, 1)
	go func() { done <- e.t.Set(ctxTimeout(t, 5*time.Second), b("h"), b("s"), b("v"), nil) }()
	close(release2)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestMetaRedirect(t *testing.T) {
	e := newEnv(t, envOpts{noOpen: true, cluster: fakecluster.Options{Metas: 3}})
	e.fc.SetMetaLeader(2)
	tbl, err := e.c.OpenTable(context.Background(), tableName)
	if err != nil {
		t.Fatal(err)
	}
	leader := e.fc.MetaAddrs()[2]
	if got := e.c.MetaLeader(); got != leader {
		t.Fatalf("leader = %q, want %q", got, leader)
	}
	if a, b := e.fc.MetaCalls(0), e.fc.MetaCalls(2); a != 1 || b != 1 {
		t.Fatalf("meta calls: follower %d, leader %d", a, b)
	}
	// A refresh goes straight to the remembered leader.
	hk := []byte("h")
	p := partitionOf(t, hk, 8)
	e.fc.MovePrimary(tableName, p, (e.nodeIndex(t, e.fc.Primary(tableName, p))+1)%3)
	if err := tbl.Set(context.Background(), hk, b("s"), b("v"), nil); err != nil {
		t.Fatal(err)
	}
	if a, b := e.fc.MetaCalls(0), e.fc.MetaCalls(2); a != 1 || b != 2 {
		t.Fatalf("meta calls after refresh: follower %d, leader %d", a, b)
	}
}

func TestMetaRedirectOutsideList(t *testing.T) {
	fc, err := fakecluster.Start(fakecluster.Options{Metas: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer fc.Close()
	if _, err := fc.CreateTable(tableName, 4); err != nil {
		t.Fatal(err)
	}
	fc.SetMetaLeader(1)
	// Only the follower is configured; its redirect names the leader.
	c, err := pegasus.NewClient(pegasus.Config{MetaServers: fc.MetaAddrs()[:1]})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.OpenTable(context.Background(), tableName); err != nil {
		t.Fatal(err)
	}
	if c.MetaLeader() != fc.MetaAddrs()[1] {
		t.Fatalf("leader = %q", c.MetaLeader())
	}
}

func TestMetaUnreachableFallsBack(t *testing.T) {
	e := newEnv(t, envOpts{noOpen: true, config: func(c *pegasus.Config) {
		// The first meta address refuses connections.
		c.MetaServers = append([]string{"127.0.0.1:1"}, c.MetaServers...)
	}})
	if _, err := e.c.OpenTable(context.Background(), tableName); err != nil {
		t.Fatal(err)
	}
}

func TestTableNotFound(t *testing.T) {
	e := newEnv(t, envOpts{})
	ctx := context.Background()
	_, err := e.c.OpenTable(ctx, "nope")
	if !errors.Is(err, pegasus.ErrTableNotFound) || !errors.Is(err, protocol.CodeAppNotExist) {
		t.Fatalf("open: %v", err)
	}
	// A table dropped after it was opened: the replica no longer serves
	// it, the refresh finds it gone.
	e.fc.DropTable(tableName)
	_, err = e.t.Get(ctx, b("h"), b("s"))
	if !errors.Is(err, pegasus.ErrTableNotFound) {
		t.Fatalf("get on dropped table: %v", err)
	}
	if n := e.fc.Calls(protocol.MethodGet); n != 1 {
		t.Fatalf("%d Get calls, want 1", n)
	}
}

func TestOpenTableIsCached(t *testing.T) {
	e := newEnv(t, envOpts{})
	tbl, err := e.c.OpenTable(context.Background(), tableName)
	if err != nil || tbl != e.t {
		t.Fatalf("second open = %p, %v; want %p", tbl, err, e.t)
	}
	if n := e.fc.MetaCalls(0); n != 1 {
		t.Fatalf("%d configuration queries", n)
	}
	if tbl.Name() != tableName || tbl.PartitionCount() != 8 || tbl.AppID() != 1 {
		t.Fatalf("table info: %s %d %d", tbl.Name(), tbl.PartitionCount(), tbl.AppID())
	}
}
