package pegasus_test

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/pegasus-go/pegasus/client-go/internal/fakecluster"
	"github.com/pegasus-go/pegasus/client-go/pegasus"
	"github.com/pegasus-go/pegasus/shared/keyschema"
	"github.com/pegasus-go/pegasus/shared/rpc"
)

func TestMain(m *testing.M) {
	// rpcx logs to stdout by default; keep test and example output clean.
	rpc.SetFrameworkLogger(slog.New(slog.DiscardHandler))
	goleak.VerifyTestMain(m)
}

// fakeClock is a settable clock for the fake cluster's TTLs.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// env is a fake cluster with one table and a client on it.
type env struct {
	fc    *fakecluster.Cluster
	c     *pegasus.Client
	t     *pegasus.Table
	clock *fakeClock
}

const tableName = "test"

type envOpts struct {
	partitions int
	cluster    fakecluster.Options
	config     func(*pegasus.Config)
	clientOpts []pegasus.Option
	noOpen     bool
}

func newEnv(t *testing.T, o envOpts) *env {
	t.Helper()
	if o.partitions == 0 {
		o.partitions = 8
	}
	clock := &fakeClock{now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	if o.cluster.Now == nil {
		o.cluster.Now = clock.Now
	}
	fc, err := fakecluster.Start(o.cluster)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fc.Close)
	if _, err := fc.CreateTable(tableName, o.partitions); err != nil {
		t.Fatal(err)
	}
	cfg := pegasus.Config{
		MetaServers:              fc.MetaAddrs(),
		OperationTimeout:         5 * time.Second,
		InitialRetryBackoff:      time.Millisecond,
		MaxRetryBackoff:          20 * time.Millisecond,
		MinConfigRefreshInterval: time.Millisecond,
	}
	if o.config != nil {
		o.config(&cfg)
	}
	c, err := pegasus.NewClient(cfg, o.clientOpts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	e := &env{fc: fc, c: c, clock: clock}
	if !o.noOpen {
		tbl, err := c.OpenTable(context.Background(), tableName)
		if err != nil {
			t.Fatal(err)
		}
		e.t = tbl
	}
	return e
}

// partitionOf is the partition a hashkey maps to.
func partitionOf(t *testing.T, hk []byte, count int) int {
	t.Helper()
	p, err := keyschema.PartitionIndex(keyschema.Hash(hk, nil), int32(count))
	if err != nil {
		t.Fatal(err)
	}
	return int(p)
}

// nodeIndex returns the index of a node address.
func (e *env) nodeIndex(t *testing.T, addr string) int {
	t.Helper()
	for i, a := range e.fc.NodeAddrs() {
		if a == addr {
			return i
		}
	}
	t.Fatalf("no node %q", addr)
	return -1
}

// hashKeyIn returns a hashkey "<prefix><n>" that maps to partition p.
func hashKeyIn(t *testing.T, prefix string, p, count int) []byte {
	t.Helper()
	for n := 0; n < 10000; n++ {
		hk := []byte(prefix + strconv.Itoa(n))
		if partitionOf(t, hk, count) == p {
			return hk
		}
	}
	t.Fatalf("no hashkey for partition %d", p)
	return nil
}

func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
