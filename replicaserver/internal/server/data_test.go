package server

import (
	"bytes"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/vfs"

	"github.com/pegasus-go/pegasus/shared/keyschema"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

const testPartitions = 4

func newDataHarness(t *testing.T) *harness {
	t.Helper()
	h := newHarness(t, vfs.NewMem(), newFakeFactory(), nil)
	if err := h.srv.OpenTestReplica(testApp(testPartitions), 0, 1, 2, 3); err != nil {
		t.Fatal(err)
	}
	return h
}

// totalWrites counts the writes that reached any replica.
func (h *harness) totalWrites() int {
	n := 0
	for p := range int32(testPartitions) {
		n += h.fakes.replica(protocol.Gpid{AppID: 1, PartitionIndex: p}).writeCount()
	}
	return n
}

// TestValidationRejectsBeforeWrite sends every kind of invalid request
// through a real RPC client and checks the code and that nothing reached a
// replica's Write.
func TestValidationRejectsBeforeWrite(t *testing.T) {
	h := newDataHarness(t)
	hk := keyFor(t, 1, testPartitions)
	hdr := header(hk, testPartitions)
	other := keyFor(t, 2, testPartitions) // hashes to another partition
	long := bytes.Repeat([]byte("h"), keyschema.MaxHashKeyLen+1)
	longHdr := header(long, testPartitions)
	maxOK := bytes.Repeat([]byte("h"), keyschema.MaxHashKeyLen)
	big := bytes.Repeat([]byte("v"), testMaxWriteBytes)
	unknown := hdr
	unknown.Gpid.AppID = 7
	outOfRange := hdr
	outOfRange.Gpid.PartitionIndex = testPartitions
	staleCount := hdr // the hash maps to another partition under the table's count
	staleCount.PartitionHash = keyschema.Hash(other, nil)
	lying := header(other, testPartitions) // header consistent, but the key is elsewhere
	lying.Gpid, lying.PartitionHash = hdr.Gpid, hdr.PartitionHash

	type tc struct {
		name    string
		method  string
		req     protocol.Message
		resp    protocol.Message
		code    protocol.ErrorCode
		message string // a substring of the error message
	}
	cases := []tc{
		{"get empty hashkey", protocol.MethodGet, &protocol.GetRequest{Header: hdr, SortKey: []byte("s")}, &protocol.GetResponse{}, protocol.CodeInvalidArgument, "empty hashkey"},
		{"set empty hashkey", protocol.MethodSet, &protocol.SetRequest{Header: hdr, SortKey: []byte("s"), Value: []byte("v")}, &protocol.SetResponse{}, protocol.CodeInvalidArgument, "empty hashkey"},
		{"multi_set empty hashkey", protocol.MethodMultiSet, &protocol.MultiSetRequest{Header: hdr, KVs: []protocol.KeyValue{{SortKey: []byte("s")}}}, &protocol.MultiSetResponse{}, protocol.CodeInvalidArgument, "empty hashkey"},
		{"incr empty hashkey", protocol.MethodIncr, &protocol.IncrRequest{Header: hdr, Increment: 1}, &protocol.IncrResponse{}, protocol.CodeInvalidArgument, "empty hashkey"},
		{"del_range empty hashkey", protocol.MethodDelRange, &protocol.DelRangeRequest{Header: hdr}, &protocol.DelRangeResponse{}, protocol.CodeInvalidArgument, "empty hashkey"},
		{"sortkey_count empty hashkey", protocol.MethodSortKeyCount, &protocol.SortKeyCountRequest{Header: hdr}, &protocol.SortKeyCountResponse{}, protocol.CodeInvalidArgument, "empty hashkey"},
		{"set 65535-byte hashkey", protocol.MethodSet, &protocol.SetRequest{Header: longHdr, HashKey: long, Value: []byte("v")}, &protocol.SetResponse{}, protocol.CodeInvalidArgument, "65534"},
		{"get 65535-byte hashkey", protocol.MethodGet, &protocol.GetRequest{Header: longHdr, HashKey: long}, &protocol.GetResponse{}, protocol.CodeInvalidArgument, "65534"},
		{"check_and_set 65535-byte hashkey", protocol.MethodCheckAndSet, &protocol.CheckAndSetRequest{Header: longHdr, HashKey: long}, &protocol.CheckAndSetResponse{}, protocol.CodeInvalidArgument, "65534"},
		{"set 65534-byte hashkey over the write limit", protocol.MethodSet, &protocol.SetRequest{Header: header(maxOK, testPartitions), HashKey: maxOK}, &protocol.SetResponse{}, protocol.CodeInvalidArgument, "max_write_bytes 1024"},
		{"set oversized value", protocol.MethodSet, &protocol.SetRequest{Header: hdr, HashKey: hk, SortKey: []byte("s"), Value: big}, &protocol.SetResponse{}, protocol.CodeInvalidArgument, "max_write_bytes 1024"},
		{"multi_set oversized", protocol.MethodMultiSet, &protocol.MultiSetRequest{Header: hdr, HashKey: hk, KVs: []protocol.KeyValue{{SortKey: []byte("a"), Value: big[:600]}, {SortKey: []byte("b"), Value: big[:600]}}}, &protocol.MultiSetResponse{}, protocol.CodeInvalidArgument, "max_write_bytes 1024"},
		{"multi_del oversized", protocol.MethodMultiDel, &protocol.MultiDelRequest{Header: hdr, HashKey: hk, SortKeys: [][]byte{big}}, &protocol.MultiDelResponse{}, protocol.CodeInvalidArgument, "max_write_bytes 1024"},
		{"check_and_set oversized", protocol.MethodCheckAndSet, &protocol.CheckAndSetRequest{Header: hdr, HashKey: hk, CheckOperand: big[:512], SetValue: big[:512]}, &protocol.CheckAndSetResponse{}, protocol.CodeInvalidArgument, "max_write_bytes 1024"},
		{"check_and_mutate oversized", protocol.MethodCheckAndMutate, &protocol.CheckAndMutateRequest{Header: hdr, HashKey: hk, Mutates: []protocol.Mutate{{SortKey: []byte("a"), Value: big}}}, &protocol.CheckAndMutateResponse{}, protocol.CodeInvalidArgument, "max_write_bytes 1024"},
		{"batch_set oversized", protocol.MethodBatchSet, &protocol.BatchSetRequest{Header: hdr, Items: []protocol.BatchSetItem{{HashKey: hk, Value: big[:700]}, {HashKey: hk, SortKey: []byte("b"), Value: big[:700]}}}, &protocol.BatchSetResponse{}, protocol.CodeInvalidArgument, "max_write_bytes 1024"},
		{"set stale partition count", protocol.MethodSet, &protocol.SetRequest{Header: staleCount, HashKey: hk, Value: []byte("v")}, &protocol.SetResponse{}, protocol.CodeWrongPartition, ""},
		{"set key of another partition", protocol.MethodSet, &protocol.SetRequest{Header: lying, HashKey: other, Value: []byte("v")}, &protocol.SetResponse{}, protocol.CodeWrongPartition, "not 1.1"},
		{"get key of another partition", protocol.MethodGet, &protocol.GetRequest{Header: lying, HashKey: other}, &protocol.GetResponse{}, protocol.CodeWrongPartition, ""},
		{"incr key of another partition", protocol.MethodIncr, &protocol.IncrRequest{Header: lying, HashKey: other}, &protocol.IncrResponse{}, protocol.CodeWrongPartition, ""},
		{"scan start hashkey of another partition", protocol.MethodScanOpen, &protocol.ScanOpenRequest{Header: lying, StartHashKey: other}, &protocol.ScanOpenResponse{}, protocol.CodeWrongPartition, ""},
		{"batch_get stale partition count", protocol.MethodBatchGet, &protocol.BatchGetRequest{Header: staleCount, Keys: []protocol.FullKey{{HashKey: hk}}}, &protocol.BatchGetResponse{}, protocol.CodeWrongPartition, ""},
		{"set unknown table", protocol.MethodSet, &protocol.SetRequest{Header: unknown, HashKey: hk, Value: []byte("v")}, &protocol.SetResponse{}, protocol.CodeObjectNotFound, "7.1"},
		{"get unknown table", protocol.MethodGet, &protocol.GetRequest{Header: unknown, HashKey: hk}, &protocol.GetResponse{}, protocol.CodeObjectNotFound, ""},
		{"set unknown partition", protocol.MethodSet, &protocol.SetRequest{Header: outOfRange, HashKey: hk, Value: []byte("v")}, &protocol.SetResponse{}, protocol.CodeObjectNotFound, ""},
		{"scan_next unknown partition", protocol.MethodScanNext, &protocol.ScanNextRequest{Header: outOfRange, ContextID: 1}, &protocol.ScanNextResponse{}, protocol.CodeObjectNotFound, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := h.call(c.method, c.req, c.resp)
			wantCode(t, err, c.code)
			if !strings.Contains(err.Error(), c.message) {
				t.Fatalf("error %q does not mention %q", err, c.message)
			}
			if n := h.totalWrites(); n != 0 {
				t.Fatalf("%d writes reached a replica", n)
			}
		})
	}
}

func TestBatchSetPerItemCodes(t *testing.T) {
	h := newDataHarness(t)
	hk := keyFor(t, 1, testPartitions)
	other := keyFor(t, 2, testPartitions)
	req := &protocol.BatchSetRequest{Header: header(hk, testPartitions), Items: []protocol.BatchSetItem{
		{HashKey: hk, SortKey: []byte("a"), Value: []byte("1")},
		{HashKey: other, SortKey: []byte("b"), Value: []byte("2")},
		{HashKey: nil, SortKey: []byte("c"), Value: []byte("3")},
		{HashKey: []byte{}, SortKey: []byte("e")},
		{HashKey: hk, SortKey: []byte("d"), Value: []byte("4")},
	}}
	var resp protocol.BatchSetResponse
	if err := h.call(protocol.MethodBatchSet, req, &resp); err != nil {
		t.Fatal(err)
	}
	want := []protocol.ErrorCode{protocol.CodeOK, protocol.CodeWrongPartition, protocol.CodeInvalidArgument, protocol.CodeInvalidArgument, protocol.CodeOK}
	if len(resp.Codes) != len(want) {
		t.Fatalf("codes %v, want %v", resp.Codes, want)
	}
	for i := range want {
		if resp.Codes[i] != want[i] {
			t.Fatalf("codes %v, want %v", resp.Codes, want)
		}
	}
	f := h.fakes.replica(protocol.Gpid{AppID: 1, PartitionIndex: 1})
	if f.writeCount() != 1 {
		t.Fatalf("%d writes, want 1", f.writeCount())
	}
	got := f.writes[0].(*protocol.BatchSetRequest)
	if len(got.Items) != 2 || string(got.Items[0].SortKey) != "a" || string(got.Items[1].SortKey) != "d" {
		t.Fatalf("replica got items %+v, want a and d only", got.Items)
	}
	if resp.Decree == 0 {
		t.Fatal("no decree in the response")
	}

	// A batch where no item is valid never reaches the replica.
	var resp2 protocol.BatchSetResponse
	req2 := &protocol.BatchSetRequest{Header: header(hk, testPartitions), Items: []protocol.BatchSetItem{{HashKey: other}}}
	if err := h.call(protocol.MethodBatchSet, req2, &resp2); err != nil {
		t.Fatal(err)
	}
	if len(resp2.Codes) != 1 || resp2.Codes[0] != protocol.CodeWrongPartition || f.writeCount() != 1 {
		t.Fatalf("codes %v, writes %d", resp2.Codes, f.writeCount())
	}

	// BatchGet answers per key too.
	var gr protocol.BatchGetResponse
	breq := &protocol.BatchGetRequest{Header: header(hk, testPartitions), Keys: []protocol.FullKey{
		{HashKey: hk, SortKey: []byte("a")}, {HashKey: other, SortKey: []byte("b")}, {HashKey: hk, SortKey: []byte("zz")},
		{HashKey: nil, SortKey: []byte("x")}, {HashKey: hk, SortKey: []byte("d")}, {HashKey: hk, SortKey: []byte("a")},
	}}
	if err := h.call(protocol.MethodBatchGet, breq, &gr); err != nil {
		t.Fatal(err)
	}
	type res struct {
		code  protocol.ErrorCode
		value string
	}
	wantRes := []res{{protocol.CodeOK, "1"}, {protocol.CodeWrongPartition, ""}, {protocol.CodeNotFound, ""},
		{protocol.CodeInvalidArgument, ""}, {protocol.CodeOK, "4"}, {protocol.CodeOK, "1"}}
	if len(gr.Results) != len(wantRes) {
		t.Fatalf("results %+v", gr.Results)
	}
	for i, w := range wantRes {
		if gr.Results[i].Code != w.code || string(gr.Results[i].Value) != w.value {
			t.Fatalf("result %d = %v %q, want %v %q", i, gr.Results[i].Code, gr.Results[i].Value, w.code, w.value)
		}
	}
}

// TestReadsThroughEngine covers the read path on the fake's real engine.
func TestReadsThroughEngine(t *testing.T) {
	h := newDataHarness(t)
	hk := keyFor(t, 3, testPartitions)
	hdr := header(hk, testPartitions)
	for _, sk := range []string{"a", "b", "c"} {
		var r protocol.SetResponse
		if err := h.call(protocol.MethodSet, &protocol.SetRequest{Header: hdr, HashKey: hk, SortKey: []byte(sk), Value: []byte("v" + sk)}, &r); err != nil {
			t.Fatal(err)
		}
	}
	var g protocol.GetResponse
	if err := h.call(protocol.MethodGet, &protocol.GetRequest{Header: hdr, HashKey: hk, SortKey: []byte("b")}, &g); err != nil || string(g.Value) != "vb" {
		t.Fatalf("get: %q %v", g.Value, err)
	}
	wantCode(t, h.call(protocol.MethodGet, &protocol.GetRequest{Header: hdr, HashKey: hk, SortKey: []byte("zz")}, &g), protocol.CodeNotFound)
	var ex protocol.ExistResponse
	if err := h.call(protocol.MethodExist, &protocol.ExistRequest{Header: hdr, HashKey: hk, SortKey: []byte("a")}, &ex); err != nil || !ex.Exists {
		t.Fatalf("exist: %v %v", ex.Exists, err)
	}
	var ttl protocol.TTLResponse
	if err := h.call(protocol.MethodTTL, &protocol.TTLRequest{Header: hdr, HashKey: hk, SortKey: []byte("a")}, &ttl); err != nil || ttl.TTLSeconds != -1 {
		t.Fatalf("ttl: %v %v", ttl.TTLSeconds, err)
	}
	if err := h.call(protocol.MethodTTL, &protocol.TTLRequest{Header: hdr, HashKey: hk, SortKey: []byte("zz")}, &ttl); err != nil || ttl.TTLSeconds != protocol.TTLMissing {
		t.Fatalf("ttl of a missing record: %d, %v; want %d, nil", ttl.TTLSeconds, err, protocol.TTLMissing)
	}
	var cnt protocol.SortKeyCountResponse
	if err := h.call(protocol.MethodSortKeyCount, &protocol.SortKeyCountRequest{Header: hdr, HashKey: hk}, &cnt); err != nil || cnt.Count != 3 {
		t.Fatalf("count: %v %v", cnt.Count, err)
	}
	var mg protocol.MultiGetResponse
	if err := h.call(protocol.MethodMultiGet, &protocol.MultiGetRequest{Header: hdr, HashKey: hk, StartSortKey: []byte("b"), StartInclusive: true}, &mg); err != nil {
		t.Fatal(err)
	}
	if len(mg.KVs) != 2 || string(mg.KVs[0].SortKey) != "b" || string(mg.KVs[1].Value) != "vc" || !mg.Complete {
		t.Fatalf("multi_get: %+v", mg)
	}

	// A scan of the hashkey in batches of 2, then of the whole partition.
	var so protocol.ScanOpenResponse
	if err := h.call(protocol.MethodScanOpen, &protocol.ScanOpenRequest{Header: hdr, StartHashKey: hk, StopHashKey: hk, StartInclusive: true, BatchSize: 2}, &so); err != nil {
		t.Fatal(err)
	}
	if len(so.Items) != 2 || so.Done || string(so.Items[0].SortKey) != "a" {
		t.Fatalf("scan open: %+v", so)
	}
	var sn protocol.ScanNextResponse
	if err := h.call(protocol.MethodScanNext, &protocol.ScanNextRequest{Header: hdr, ContextID: so.ContextID}, &sn); err != nil {
		t.Fatal(err)
	}
	if len(sn.Items) != 1 || !sn.Done || string(sn.Items[0].Value) != "vc" {
		t.Fatalf("scan next: %+v", sn)
	}
	wantCode(t, h.call(protocol.MethodScanNext, &protocol.ScanNextRequest{Header: hdr, ContextID: so.ContextID}, &sn), protocol.CodeObjectNotFound)
	if err := h.call(protocol.MethodScanClose, &protocol.ScanCloseRequest{Header: hdr, ContextID: so.ContextID}, &protocol.ScanCloseResponse{}); err != nil {
		t.Fatalf("closing a finished scan: %v", err)
	}
	full := protocol.RequestHeader{Gpid: hdr.Gpid}
	if err := h.call(protocol.MethodScanOpen, &protocol.ScanOpenRequest{Header: full, FullPartition: true}, &so); err != nil {
		t.Fatal(err)
	}
	if len(so.Items) != 3 || !so.Done {
		t.Fatalf("full scan: %+v", so)
	}
}

// TestReplicaErrorsPassThrough checks that a replica's refusal reaches the
// client unchanged.
func TestReplicaErrorsPassThrough(t *testing.T) {
	h := newDataHarness(t)
	hk := keyFor(t, 0, testPartitions)
	hdr := header(hk, testPartitions)
	f := h.fakes.replica(hdr.Gpid)
	f.mu.Lock()
	f.readErr = protocol.Errorf(protocol.CodeLeaseExpired, "no lease")
	f.writeErr = protocol.Errorf(protocol.CodeInvalidState, "not primary")
	f.mu.Unlock()
	wantCode(t, h.call(protocol.MethodGet, &protocol.GetRequest{Header: hdr, HashKey: hk}, &protocol.GetResponse{}), protocol.CodeLeaseExpired)
	wantCode(t, h.call(protocol.MethodScanOpen, &protocol.ScanOpenRequest{Header: hdr, StartHashKey: hk}, &protocol.ScanOpenResponse{}), protocol.CodeLeaseExpired)
	wantCode(t, h.call(protocol.MethodSet, &protocol.SetRequest{Header: hdr, HashKey: hk, Value: []byte("v")}, &protocol.SetResponse{}), protocol.CodeInvalidState)
	if f.writeCount() != 1 {
		t.Fatalf("%d writes, want 1", f.writeCount())
	}
}
