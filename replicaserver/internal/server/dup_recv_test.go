package server

import (
	"bytes"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/vfs"

	"github.com/pegasus-go/pegasus/replicaserver/internal/replica"
	"github.com/pegasus-go/pegasus/shared/metrics"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

// newDupHarness runs a server of cluster "b" (id 2) in the group a=1,
// b=2, c=3 on real replicas of a 4-partition table.
func newDupHarness(t *testing.T, mutate func(*Options)) *harness {
	t.Helper()
	h := newHarness(t, vfs.NewMem(), newFakeFactory(), func(o *Options) {
		o.OpenReplica = openReplica
		o.ReapInterval = -1
		o.ClusterName = "b"
		o.DuplicationGroup = map[string]uint8{"a": 1, "b": 2, "c": 3}
		if mutate != nil {
			mutate(o)
		}
	})
	if err := h.srv.OpenTestReplica(testApp(testPartitions), 0, 1, 2, 3); err != nil {
		t.Fatal(err)
	}
	return h
}

func dupEntry(t *testing.T, ts int64, cluster uint8, op protocol.OpCode, req protocol.Message) protocol.DuplicateEntry {
	t.Helper()
	u, err := replica.EncodeUpdate(op, req)
	if err != nil {
		t.Fatal(err)
	}
	return protocol.DuplicateEntry{TimestampUs: ts, ClusterID: cluster, Op: op, Body: u.Body}
}

// partitionHeader is the header client-go's Table.Duplicate sends.
func partitionHeader(pidx int32) protocol.RequestHeader {
	return protocol.RequestHeader{Gpid: protocol.Gpid{AppID: 1, PartitionIndex: pidx}, PartitionHash: uint64(pidx)}
}

func (h *harness) get(hk, sk []byte) (string, bool) {
	h.t.Helper()
	var resp protocol.GetResponse
	err := h.call(protocol.MethodGet, &protocol.GetRequest{Header: header(hk, testPartitions), HashKey: hk, SortKey: sk}, &resp)
	if protocol.CodeOf(err) == protocol.CodeNotFound {
		return "", false
	}
	if err != nil {
		h.t.Fatal(err)
	}
	return string(resp.Value), true
}

func TestDuplicateAppliesLastWriterWins(t *testing.T) {
	h := newDupHarness(t, nil)
	hk := keyFor(t, 1, testPartitions)
	now := h.clock.Now().UnixMicro()
	set := func(v string) *protocol.SetRequest {
		return &protocol.SetRequest{HashKey: hk, SortKey: []byte("s"), Value: []byte(v)}
	}
	send := func(es ...protocol.DuplicateEntry) int32 {
		t.Helper()
		var resp protocol.DuplicateResponse
		if err := h.call(protocol.MethodDuplicate, &protocol.DuplicateRequest{Header: partitionHeader(1), Entries: es}, &resp); err != nil {
			t.Fatal(err)
		}
		return resp.Applied
	}
	if n := send(dupEntry(t, now, 1, protocol.OpPut, set("from-a")), dupEntry(t, now-10, 3, protocol.OpPut, set("older-c"))); n != 1 {
		t.Fatalf("applied %d, want 1", n)
	}
	if v, _ := h.get(hk, []byte("s")); v != "from-a" {
		t.Fatalf("value %q", v)
	}
	if n := send(dupEntry(t, now, 3, protocol.OpPut, set("tie-c"))); n != 1 { // same time, larger cluster id
		t.Fatalf("applied %d, want 1", n)
	}
	if n := send(dupEntry(t, now+5, 1, protocol.OpRemove, &protocol.DelRequest{HashKey: hk, SortKey: []byte("s")})); n != 1 {
		t.Fatalf("applied %d, want 1", n)
	}
	if n := send(dupEntry(t, now+1, 3, protocol.OpPut, set("late"))); n != 0 {
		t.Fatalf("applied %d, want 0", n)
	}
	if _, ok := h.get(hk, []byte("s")); ok {
		t.Fatal("record visible after a newer delete")
	}
}

func TestDuplicateRefusals(t *testing.T) {
	h := newDupHarness(t, nil)
	hk := keyFor(t, 1, testPartitions)
	other := keyFor(t, 2, testPartitions)
	now := h.clock.Now().UnixMicro()
	put := func(hk []byte) *protocol.SetRequest {
		return &protocol.SetRequest{HashKey: hk, SortKey: []byte("s"), Value: []byte("v")}
	}
	big := &protocol.SetRequest{HashKey: hk, Value: bytes.Repeat([]byte("v"), testMaxWriteBytes)}
	for _, c := range []struct {
		name    string
		hdr     protocol.RequestHeader
		entries []protocol.DuplicateEntry
		code    protocol.ErrorCode
		msg     string
	}{
		{"own cluster id", partitionHeader(1), []protocol.DuplicateEntry{dupEntry(t, now, 2, protocol.OpPut, put(hk))},
			protocol.CodeInvalidArgument, "cluster id 2 is this cluster's own"},
		{"unknown cluster id", partitionHeader(1), []protocol.DuplicateEntry{dupEntry(t, now, 1, protocol.OpPut, put(hk)), dupEntry(t, now, 9, protocol.OpPut, put(hk))},
			protocol.CodeInvalidArgument, "entry 1: cluster id 9 is not in [duplication-group] {a=1, b=2, c=3}"},
		{"key of another partition", partitionHeader(1), []protocol.DuplicateEntry{dupEntry(t, now, 1, protocol.OpPut, put(other))},
			protocol.CodeWrongPartition, "entry 0"},
		{"batch_set item of another partition", partitionHeader(1), []protocol.DuplicateEntry{dupEntry(t, now, 1, protocol.OpMultiPut,
			&protocol.BatchSetRequest{Items: []protocol.BatchSetItem{{HashKey: hk}, {HashKey: other}}})},
			protocol.CodeWrongPartition, "entry 0"},
		{"header of another partition", partitionHeader(2), []protocol.DuplicateEntry{dupEntry(t, now, 1, protocol.OpPut, put(hk))},
			protocol.CodeWrongPartition, ""},
		{"incr", partitionHeader(1), []protocol.DuplicateEntry{dupEntry(t, now, 1, protocol.OpIncr, &protocol.IncrRequest{HashKey: hk})},
			protocol.CodeInvalidArgument, "op incr cannot be duplicated"},
		{"check_and_set", partitionHeader(1), []protocol.DuplicateEntry{dupEntry(t, now, 1, protocol.OpCheckAndSet, &protocol.CheckAndSetRequest{HashKey: hk})},
			protocol.CodeInvalidArgument, "op check_and_set cannot be duplicated"},
		{"check_and_mutate", partitionHeader(1), []protocol.DuplicateEntry{dupEntry(t, now, 1, protocol.OpCheckAndMutate,
			&protocol.CheckAndMutateRequest{HashKey: hk, Mutates: []protocol.Mutate{{SortKey: []byte("s")}}})},
			protocol.CodeInvalidArgument, "op check_and_mutate cannot be duplicated"},
		{"nested duplicate", partitionHeader(1), []protocol.DuplicateEntry{{TimestampUs: now, ClusterID: 1, Op: protocol.OpDuplicate}},
			protocol.CodeInvalidArgument, "op duplicate cannot be duplicated"},
		{"empty write", partitionHeader(1), []protocol.DuplicateEntry{{TimestampUs: now, ClusterID: 1, Op: protocol.OpEmpty}},
			protocol.CodeInvalidArgument, "op empty cannot be duplicated"},
		{"garbage body", partitionHeader(1), []protocol.DuplicateEntry{{TimestampUs: now, ClusterID: 1, Op: protocol.OpPut, Body: []byte{1, 2, 3}}},
			protocol.CodeInvalidArgument, "entry 0"},
		{"empty hashkey", partitionHeader(1), []protocol.DuplicateEntry{dupEntry(t, now, 1, protocol.OpRemove, &protocol.DelRequest{SortKey: []byte("s")})},
			protocol.CodeInvalidArgument, "empty hashkey"},
		{"no entries", partitionHeader(1), nil, protocol.CodeInvalidArgument, "without entries"},
		{"too large", partitionHeader(1), []protocol.DuplicateEntry{dupEntry(t, now, 1, protocol.OpPut, big)},
			protocol.CodeInvalidArgument, "max_write_bytes"},
	} {
		err := h.call(protocol.MethodDuplicate, &protocol.DuplicateRequest{Header: c.hdr, Entries: c.entries}, &protocol.DuplicateResponse{})
		if protocol.CodeOf(err) != c.code || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: %v, want %v containing %q", c.name, err, c.code, c.msg)
		}
	}
	if _, ok := h.get(hk, []byte("s")); ok {
		t.Fatal("a refused entry was applied")
	}
}

func TestDuplicateWithoutGroupRefusesEveryone(t *testing.T) {
	h := newDupHarness(t, func(o *Options) { o.DuplicationGroup = nil })
	hk := keyFor(t, 0, testPartitions)
	err := h.call(protocol.MethodDuplicate, &protocol.DuplicateRequest{Header: partitionHeader(0),
		Entries: []protocol.DuplicateEntry{dupEntry(t, 1, 1, protocol.OpPut, &protocol.SetRequest{HashKey: hk})}}, &protocol.DuplicateResponse{})
	wantCode(t, err, protocol.CodeInvalidArgument)
}

func TestDuplicateOptionsValidation(t *testing.T) {
	o := Options{Node: "n:1", DataDirs: []string{"d"}, DuplicationGroup: map[string]uint8{"x": 0}}
	if err := o.ensureDefaults(); err == nil || !strings.Contains(err.Error(), "duplication-group.x = 0") {
		t.Fatalf("ensureDefaults = %v", err)
	}
	o.DuplicationGroup = map[string]uint8{"x": 128}
	if err := o.ensureDefaults(); err == nil {
		t.Fatal("cluster id 128 accepted")
	}
}

func TestDuplicateMetrics(t *testing.T) {
	reg, err := metrics.New(metrics.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h := newDupHarness(t, func(o *Options) { o.Scope = reg.Scope() })
	hk := keyFor(t, 3, testPartitions)
	req := &protocol.DuplicateRequest{Header: partitionHeader(3),
		Entries: []protocol.DuplicateEntry{dupEntry(t, h.clock.Now().UnixMicro()-2000, 1, protocol.OpPut, &protocol.SetRequest{HashKey: hk, Value: []byte("v")})}}
	for range 2 {
		if err := h.call(protocol.MethodDuplicate, req, &protocol.DuplicateResponse{}); err != nil {
			t.Fatal(err)
		}
	}
	h.close()
	if err := reg.Close(); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	reg.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{
		`duplicate_qps_total{app_id="1",table="t"} 2`,
		`duplicate_requests_total{app_id="1",table="t"} 2`,
		"\n" + `dup_time_lag_ms_count{app_id="1",partition="3"} 2`, // the Pegasus name, without the replica_ prefix
		"\n" + `dup_time_lag_ms_sum{app_id="1",partition="3"} 4`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if t.Failed() {
		for _, l := range strings.Split(body, "\n") {
			if strings.Contains(l, "dup") {
				t.Log(l)
			}
		}
	}
}
