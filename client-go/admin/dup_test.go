package admin_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/pegasus-go/pegasus/client-go/admin"
	"github.com/pegasus-go/pegasus/client-go/admin/admintest"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

func TestDuplicationCalls(t *testing.T) {
	ctx := context.Background()
	c := admintest.NewCluster(admintest.Options{Name: "here", Nodes: nodes, DupRemotes: []string{"there"}})
	leader, err := c.StartMeta()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = leader.Close() })
	follower, err := c.StartMeta()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = follower.Close() })
	follower.SetFollower(leader.Addr())
	// Start at the follower: every call follows the redirect.
	cl, err := admin.New(admin.Config{MetaServers: []string{follower.Addr(), leader.Addr()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.Close() })
	if _, err := cl.CreateApp(ctx, "t1", admin.CreateAppOptions{PartitionCount: 2}); err != nil {
		t.Fatal(err)
	}

	add, err := cl.AddDuplication(ctx, "t1", "there", false)
	if err != nil {
		t.Fatal(err)
	}
	if add.DupID <= 0 || add.RemoteAppName != "t1" || add.AppID != 1 {
		t.Fatalf("add: %+v", add)
	}
	if _, err := cl.AddDuplication(ctx, "t1", "there", true); !errors.Is(err, admin.ErrAppExists) {
		t.Fatalf("second add: %v, want ErrAppExists", err)
	}
	if _, err := cl.AddDuplication(ctx, "t1", "nowhere", false); !errors.Is(err, admin.ErrInvalidArgument) {
		t.Fatalf("unknown remote: %v", err)
	}
	q, err := cl.QueryDuplication(ctx, "t1")
	if err != nil {
		t.Fatal(err)
	}
	if len(q.Dups) != 1 || q.Dups[0].DupID != add.DupID || q.Dups[0].Status != protocol.DupStatusLog || len(q.Dups[0].Partitions) != 2 {
		t.Fatalf("query: %+v", q)
	}
	for range 2 { // idempotent
		m, err := cl.ModifyDuplication(ctx, &protocol.ModifyDuplicationRequest{AppName: "t1", DupID: add.DupID, Status: protocol.DupStatusPause})
		if err != nil || m.Dup.Status != protocol.DupStatusPause {
			t.Fatalf("pause: %+v, %v", m, err)
		}
	}
	m, err := cl.ModifyDuplication(ctx, &protocol.ModifyDuplicationRequest{AppName: "t1", DupID: add.DupID, SetFailMode: true, FailMode: protocol.DupFailSkip})
	if err != nil || m.Dup.FailMode != protocol.DupFailSkip || m.Dup.Status != protocol.DupStatusPause {
		t.Fatalf("fail mode: %+v, %v", m, err)
	}
	if _, err := cl.QueryDuplication(ctx, "nope"); !errors.Is(err, admin.ErrAppNotFound) {
		t.Fatalf("query unknown table: %v", err)
	}
	if c.Calls(protocol.MethodModifyDuplication) != 3 {
		t.Fatalf("%d modify calls reached the leader", c.Calls(protocol.MethodModifyDuplication))
	}
}

func TestDuplicationLocalChecks(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	c, _, cl := setup(t)
	for _, req := range []*protocol.ModifyDuplicationRequest{
		nil,
		{AppName: "", DupID: 1, Status: protocol.DupStatusPause},
		{AppName: "t", DupID: 0, Status: protocol.DupStatusPause},
		{AppName: "t", DupID: 1},
		{AppName: "t", DupID: 1, Status: protocol.DupStatusApp},
		{AppName: "t", DupID: 1, Status: protocol.DupStatus(99)},
		{AppName: "t", DupID: 1, SetFailMode: true, FailMode: protocol.DupFailMode(7)},
	} {
		if _, err := cl.ModifyDuplication(ctx, req); !errors.Is(err, admin.ErrInvalidArgument) {
			t.Errorf("ModifyDuplication(%+v) = %v, want ErrInvalidArgument", req, err)
		}
	}
	if _, err := cl.AddDuplication(ctx, "t", "", false); !errors.Is(err, admin.ErrInvalidArgument) {
		t.Errorf("empty remote: %v", err)
	}
	if _, err := cl.AddDuplication(ctx, "", "r", false); !errors.Is(err, admin.ErrInvalidArgument) {
		t.Errorf("empty table: %v", err)
	}
	if _, err := cl.QueryDuplication(ctx, ""); !errors.Is(err, admin.ErrInvalidArgument) {
		t.Errorf("empty table: %v", err)
	}
	for _, m := range []string{protocol.MethodAddDuplication, protocol.MethodQueryDuplication, protocol.MethodModifyDuplication} {
		if n := c.Calls(m); n != 0 {
			t.Errorf("%s sent %d times despite the local check", m, n)
		}
	}
}
