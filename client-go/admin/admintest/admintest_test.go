package admintest

import (
	"context"
	"errors"
	"log/slog"
	"testing"

	"go.uber.org/goleak"

	"github.com/pegasus-go/pegasus/shared/keyschema"
	"github.com/pegasus-go/pegasus/shared/protocol"
	"github.com/pegasus-go/pegasus/shared/rpc"
)

func TestMain(m *testing.M) {
	rpc.SetFrameworkLogger(slog.New(slog.DiscardHandler))
	goleak.VerifyTestMain(m)
}

// TestReplicaRouting checks that a node serves only the partitions it is
// primary of, and only keys that hash there.
func TestReplicaRouting(t *testing.T) {
	ctx := context.Background()
	c := NewCluster(Options{})
	var nodes []*Node
	for range 2 {
		n, err := c.StartNode()
		if err != nil {
			t.Fatal(err)
		}
		defer n.Close()
		nodes = append(nodes, n)
	}
	m, err := c.StartMeta()
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	rc, err := rpc.NewClient(rpc.ClientConfig{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()

	var created protocol.CreateAppResponse
	if err := rc.Call(ctx, m.Addr(), protocol.ServiceMeta, protocol.MethodCreateApp,
		&protocol.CreateAppRequest{Name: "t", PartitionCount: 2, ReplicaCount: 1}, &created); err != nil {
		t.Fatal(err)
	}
	var qc protocol.QueryConfigResponse
	if err := rc.Call(ctx, m.Addr(), protocol.ServiceMeta, protocol.MethodQueryConfig,
		&protocol.QueryConfigRequest{AppName: "t"}, &qc); err != nil {
		t.Fatal(err)
	}
	hk := []byte("k")
	hash := keyschema.Hash(hk, nil)
	pidx, err := keyschema.PartitionIndex(hash, 2)
	if err != nil {
		t.Fatal(err)
	}
	primary := qc.Partitions[pidx].Primary
	other := nodes[0].Addr()
	if other == primary {
		other = nodes[1].Addr()
	}
	set := func(addr string, gpid protocol.Gpid, h uint64) error {
		return rc.Call(ctx, addr, protocol.ServiceReplica, protocol.MethodSet, &protocol.SetRequest{
			Header: protocol.RequestHeader{Gpid: gpid, PartitionHash: h}, HashKey: hk, Value: []byte("v")}, &protocol.SetResponse{})
	}
	gpid := protocol.Gpid{AppID: created.AppID, PartitionIndex: pidx}
	if err := set(primary, gpid, hash); err != nil {
		t.Fatalf("set on the primary: %v", err)
	}
	if err := set(other, gpid, hash); !errors.Is(err, protocol.CodeInvalidState) {
		t.Fatalf("set on a non-primary: %v, want CodeInvalidState", err)
	}
	if err := set(primary, gpid, hash+1); !errors.Is(err, protocol.CodeWrongPartition) {
		t.Fatalf("misrouted set: %v, want CodeWrongPartition", err)
	}
	if err := set(primary, protocol.Gpid{AppID: 99}, hash); !errors.Is(err, protocol.CodeObjectNotFound) {
		t.Fatalf("set on an unknown table: %v, want CodeObjectNotFound", err)
	}
	var got protocol.GetResponse
	if err := rc.Call(ctx, primary, protocol.ServiceReplica, protocol.MethodGet, &protocol.GetRequest{
		Header: protocol.RequestHeader{Gpid: gpid, PartitionHash: hash}, HashKey: hk}, &got); err != nil || string(got.Value) != "v" {
		t.Fatalf("get = %q, %v", got.Value, err)
	}
}
