package embed

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pegasus-go/pegasus/client-go/pegasus"
	"github.com/pegasus-go/pegasus/replicaserver/internal/replica"
	"github.com/pegasus-go/pegasus/shared/keyschema"
	"github.com/pegasus-go/pegasus/shared/protocol"
	"github.com/pegasus-go/pegasus/shared/rpc"
)

// queryMeta answers Meta.QueryConfig for one table served by one replica
// server, so a client-go client can route to it.
type queryMeta struct {
	app     protocol.AppInfo
	primary string
}

func (m *queryMeta) QueryConfig(_ context.Context, req *protocol.QueryConfigRequest, resp *protocol.QueryConfigResponse) error {
	if req.AppName != m.app.Name {
		return protocol.Errorf(protocol.CodeAppNotExist, "no table %q", req.AppName)
	}
	resp.App = m.app
	for p := range m.app.PartitionCount {
		resp.Partitions = append(resp.Partitions, protocol.PartitionConfiguration{
			Gpid: protocol.Gpid{AppID: m.app.AppID, PartitionIndex: p}, Ballot: 1, Primary: m.primary, MaxReplicaCount: 1})
	}
	return nil
}

func startQueryMeta(t *testing.T, app protocol.AppInfo, primary string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rs, err := rpc.NewServer(rpc.ServerConfig{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := rs.Register(protocol.ServiceMeta, &queryMeta{app: app, primary: primary}); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = rs.Serve(ln)
	}()
	t.Cleanup(func() { _ = rs.Close(); <-done })
	return ln.Addr().String()
}

// TestTableDuplicate ships entries with client-go's Table.Duplicate to an
// in-process replica server of cluster "b" and checks the last-writer-wins
// outcomes and the receiver's refusals.
func TestTableDuplicate(t *testing.T) {
	tb := newTable(4)
	cfg := testConfig(t.TempDir())
	cfg.Replication.ClusterName = "b"
	cfg.DuplicationGroup = map[string]int{"a": 1, "b": 2}
	s, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.srv.OpenTestReplica(tb.app, tb.partitions()...); err != nil {
		t.Fatal(err)
	}
	meta := startQueryMeta(t, tb.app, s.Node())
	client, err := pegasus.NewClient(pegasus.Config{MetaServers: []string{meta}, OperationTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	ctx := context.Background()
	table, err := client.OpenTable(ctx, tb.app.Name)
	if err != nil {
		t.Fatal(err)
	}

	hk := []byte("user1")
	pidx, _ := keyschema.PartitionIndex(keyschema.Hash(hk, nil), tb.app.PartitionCount)
	entry := func(ts int64, cluster uint8, op protocol.OpCode, req protocol.Message) protocol.DuplicateEntry {
		u, err := replica.EncodeUpdate(op, req)
		if err != nil {
			t.Fatal(err)
		}
		return protocol.DuplicateEntry{TimestampUs: ts, ClusterID: cluster, Op: op, Body: u.Body}
	}
	set := func(sk, v string) *protocol.SetRequest {
		return &protocol.SetRequest{HashKey: hk, SortKey: []byte(sk), Value: []byte(v)}
	}
	base := time.Now().UnixMicro()
	dup := func(want int32, es ...protocol.DuplicateEntry) {
		t.Helper()
		n, err := table.Duplicate(ctx, pidx, es)
		if err != nil || n != want {
			t.Fatalf("Duplicate applied %d, %v; want %d", n, err, want)
		}
	}
	value := func(sk string) (string, bool) {
		t.Helper()
		v, err := table.Get(ctx, hk, []byte(sk))
		if errors.Is(err, pegasus.ErrNotFound) {
			return "", false
		}
		if err != nil {
			t.Fatal(err)
		}
		return string(v), true
	}

	dup(2, entry(base, 1, protocol.OpPut, set("name", "alice")),
		entry(base, 1, protocol.OpMultiPut, &protocol.MultiSetRequest{HashKey: hk,
			KVs: []protocol.KeyValue{{SortKey: []byte("age"), Value: []byte("30")}}}))
	dup(2, entry(base, 1, protocol.OpPut, set("name", "alice")), entry(base, 1, protocol.OpPut, set("name", "alice"))) // shipped again
	dup(0, entry(base-1, 1, protocol.OpPut, set("name", "older")))
	if v, _ := value("name"); v != "alice" {
		t.Fatalf("name = %q, want alice", v)
	}
	// A local write made after the duplicated one wins over it.
	if err := table.Set(ctx, hk, []byte("name"), []byte("bob"), nil); err != nil {
		t.Fatal(err)
	}
	if v, _ := value("name"); v != "bob" {
		t.Fatalf("name = %q, want bob", v)
	}
	// A delete from the future beats everything so far and keeps a later
	// delivered older write out.
	dup(1, entry(base+60e6, 1, protocol.OpRemove, &protocol.DelRequest{HashKey: hk, SortKey: []byte("name")}))
	dup(0, entry(base+1, 1, protocol.OpPut, set("name", "late")))
	if _, ok := value("name"); ok {
		t.Fatal("name visible after a newer delete")
	}
	if v, _ := value("age"); v != "30" {
		t.Fatalf("age = %q, want 30", v)
	}

	// Refusals come back as the receiver's codes, without retrying forever.
	if _, err := table.Duplicate(ctx, pidx, []protocol.DuplicateEntry{entry(base, 2, protocol.OpPut, set("x", "own"))}); !errors.Is(err, protocol.CodeInvalidArgument) {
		t.Fatalf("own cluster id: %v", err)
	}
	if _, err := table.Duplicate(ctx, pidx, []protocol.DuplicateEntry{entry(base, 7, protocol.OpPut, set("x", "unknown"))}); !errors.Is(err, protocol.CodeInvalidArgument) {
		t.Fatalf("unknown cluster id: %v", err)
	}
	if _, err := table.Duplicate(ctx, pidx, []protocol.DuplicateEntry{entry(base, 1, protocol.OpIncr, &protocol.IncrRequest{HashKey: hk})}); !errors.Is(err, protocol.CodeInvalidArgument) {
		t.Fatalf("incr entry: %v", err)
	}
	wrong := (pidx + 1) % tb.app.PartitionCount
	sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := table.Duplicate(sctx, wrong, []protocol.DuplicateEntry{entry(base, 1, protocol.OpPut, set("x", "elsewhere"))}); !errors.Is(err, protocol.CodeWrongPartition) {
		t.Fatalf("entry of another partition: %v", err)
	}

	// The receiver's metrics keep their Pegasus names (no "replica_"
	// prefix): dup_time_lag_ms of the partition that applied entries.
	want := fmt.Sprintf("\ndup_time_lag_ms_count{app_id=\"%d\",partition=\"%d\"} ", tb.app.AppID, pidx)
	var body string
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(body, want); {
		if time.Now().After(deadline) {
			t.Fatalf("/metrics lacks %q:\n%s", strings.TrimSpace(want), body)
		}
		time.Sleep(50 * time.Millisecond) // metrics are published periodically
		resp, err := http.Get("http://" + s.HTTPAddr() + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body = string(b)
	}
	for _, name := range []string{replica.MetricDupTimeLag, replica.MetricDupConvertedWrites} {
		if strings.Contains(body, "replica_"+name) {
			t.Errorf("/metrics names %s with the replica_ prefix", name)
		}
	}
	if !strings.Contains(body, "\n"+replica.MetricDupConvertedWrites+"_total{") {
		t.Errorf("/metrics lacks %s_total", replica.MetricDupConvertedWrites)
	}
}
