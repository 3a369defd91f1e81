package embed

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/pegasus-go/pegasus/shared/keyschema"
	"github.com/pegasus-go/pegasus/shared/protocol"
	"github.com/pegasus-go/pegasus/shared/rpc"
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(runChild())
	}
	rpc.SetFrameworkLogger(slog.New(slog.DiscardHandler))
	goleak.VerifyTestMain(m)
}

// testConfig is a configuration for an in-process server on 127.0.0.1
// without meta servers.
func testConfig(dir string) Config {
	cfg := DefaultConfig()
	cfg.Replication.DataDirs = []string{dir}
	cfg.ReplicaServer.RPCAddress = "127.0.0.1:0"
	cfg.ReplicaServer.HTTPAddress = "127.0.0.1:0"
	cfg.ReplicaServer.MetaServers = nil
	cfg.Pegasus.Server.BlockCacheSize = 1 << 20
	cfg.Pegasus.Server.MemtableSize = 1 << 20
	cfg.Logger = slog.New(slog.DiscardHandler)
	return cfg
}

// table describes the test table the helpers address.
type table struct {
	app protocol.AppInfo
}

func newTable(partitions int32) table {
	return table{protocol.AppInfo{AppID: 1, Name: "t", Status: protocol.AppAvailable, PartitionCount: partitions, ReplicaCount: 3}}
}

func (tb table) header(hashKey []byte) protocol.RequestHeader {
	hash := keyschema.Hash(hashKey, nil)
	idx, err := keyschema.PartitionIndex(hash, tb.app.PartitionCount)
	if err != nil {
		panic(err)
	}
	return protocol.RequestHeader{Gpid: protocol.Gpid{AppID: tb.app.AppID, PartitionIndex: idx}, PartitionHash: hash}
}

func (tb table) partitions() []int32 {
	out := make([]int32, tb.app.PartitionCount)
	for i := range out {
		out[i] = int32(i)
	}
	return out
}

func newClient(t testing.TB) *rpc.Client {
	t.Helper()
	c, err := rpc.NewClient(rpc.ClientConfig{DialTimeout: time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func call(t testing.TB, c *rpc.Client, addr, method string, req, resp protocol.Message) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return c.Call(ctx, addr, protocol.ServiceReplica, method, req, resp)
}

// mustCall fails the test on an error.
func mustCall(t testing.TB, c *rpc.Client, addr, method string, req, resp protocol.Message) {
	t.Helper()
	if err := call(t, c, addr, method, req, resp); err != nil {
		t.Fatalf("%s: %v", method, err)
	}
}
