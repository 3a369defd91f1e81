package embed

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/pegasus-go/pegasus/shared/protocol"
)

// TestEveryDataOp runs every data method through an RPC client against an
// in-process server whose partitions are real replicas opened through the
// test hook, then restarts the server on the same data dir and reads back.
func TestEveryDataOp(t *testing.T) {
	dir := t.TempDir()
	tb := newTable(4)
	s, err := Start(testConfig(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.srv.OpenTestReplica(tb.app, tb.partitions()...); err != nil {
		t.Fatal(err)
	}
	c := newClient(t)
	addr := s.RPCAddr()
	hk := []byte("user1")
	h := tb.header(hk)

	// Set / Get / Exist / TTL / Del.
	var setResp protocol.SetResponse
	mustCall(t, c, addr, protocol.MethodSet, &protocol.SetRequest{Header: h, HashKey: hk, SortKey: []byte("name"), Value: []byte("ann")}, &setResp)
	if setResp.Decree <= 0 {
		t.Fatalf("set decree %d", setResp.Decree)
	}
	mustCall(t, c, addr, protocol.MethodSet, &protocol.SetRequest{Header: h, HashKey: hk, SortKey: []byte("tmp"), Value: []byte("x"), TTLSeconds: 3600}, &setResp)
	var g protocol.GetResponse
	mustCall(t, c, addr, protocol.MethodGet, &protocol.GetRequest{Header: h, HashKey: hk, SortKey: []byte("name")}, &g)
	if string(g.Value) != "ann" {
		t.Fatalf("get %q", g.Value)
	}
	var ex protocol.ExistResponse
	mustCall(t, c, addr, protocol.MethodExist, &protocol.ExistRequest{Header: h, HashKey: hk, SortKey: []byte("name")}, &ex)
	if !ex.Exists {
		t.Fatal("exist: false")
	}
	var ttl protocol.TTLResponse
	mustCall(t, c, addr, protocol.MethodTTL, &protocol.TTLRequest{Header: h, HashKey: hk, SortKey: []byte("tmp")}, &ttl)
	if ttl.TTLSeconds <= 3500 || ttl.TTLSeconds > 3600 {
		t.Fatalf("ttl %d", ttl.TTLSeconds)
	}
	mustCall(t, c, addr, protocol.MethodDel, &protocol.DelRequest{Header: h, HashKey: hk, SortKey: []byte("tmp")}, &protocol.DelResponse{})
	if err := call(t, c, addr, protocol.MethodGet, &protocol.GetRequest{Header: h, HashKey: hk, SortKey: []byte("tmp")}, &g); !errors.Is(err, protocol.CodeNotFound) {
		t.Fatalf("get after del: %v", err)
	}

	// MultiSet / MultiGet / SortKeyCount / MultiDel / DelRange.
	var kvs []protocol.KeyValue
	for _, sk := range []string{"a1", "a2", "a3", "b1", "b2"} {
		kvs = append(kvs, protocol.KeyValue{SortKey: []byte(sk), Value: []byte("v-" + sk)})
	}
	mustCall(t, c, addr, protocol.MethodMultiSet, &protocol.MultiSetRequest{Header: h, HashKey: hk, KVs: kvs}, &protocol.MultiSetResponse{})
	var mg protocol.MultiGetResponse
	mustCall(t, c, addr, protocol.MethodMultiGet, &protocol.MultiGetRequest{Header: h, HashKey: hk, StartSortKey: []byte("a"), StopSortKey: []byte("b"), StartInclusive: true}, &mg)
	if len(mg.KVs) != 3 || string(mg.KVs[2].Value) != "v-a3" || !mg.Complete {
		t.Fatalf("multi_get %+v", mg)
	}
	var cnt protocol.SortKeyCountResponse
	mustCall(t, c, addr, protocol.MethodSortKeyCount, &protocol.SortKeyCountRequest{Header: h, HashKey: hk}, &cnt)
	if cnt.Count != 6 {
		t.Fatalf("sortkey_count %d, want 6", cnt.Count)
	}
	var md protocol.MultiDelResponse
	mustCall(t, c, addr, protocol.MethodMultiDel, &protocol.MultiDelRequest{Header: h, HashKey: hk, SortKeys: [][]byte{[]byte("a1"), []byte("zz")}}, &md)
	if md.Deleted != 1 {
		t.Fatalf("multi_del deleted %d", md.Deleted)
	}
	var dr protocol.DelRangeResponse
	mustCall(t, c, addr, protocol.MethodDelRange, &protocol.DelRangeRequest{Header: h, HashKey: hk, StartSortKey: []byte("b"), StopSortKey: []byte("c"), StartInclusive: true}, &dr)
	if dr.Deleted != 2 {
		t.Fatalf("del_range deleted %d", dr.Deleted)
	}

	// Incr, CheckAndSet (passing and failing), CheckAndMutate.
	var inc protocol.IncrResponse
	mustCall(t, c, addr, protocol.MethodIncr, &protocol.IncrRequest{Header: h, HashKey: hk, SortKey: []byte("n"), Increment: 5}, &inc)
	mustCall(t, c, addr, protocol.MethodIncr, &protocol.IncrRequest{Header: h, HashKey: hk, SortKey: []byte("n"), Increment: -2}, &inc)
	if inc.NewValue != 3 {
		t.Fatalf("incr %d", inc.NewValue)
	}
	var cas protocol.CheckAndSetResponse
	mustCall(t, c, addr, protocol.MethodCheckAndSet, &protocol.CheckAndSetRequest{Header: h, HashKey: hk, CheckSortKey: []byte("name"),
		CheckType: protocol.CheckBytesEqual, CheckOperand: []byte("ann"), SetValue: []byte("bob")}, &cas)
	if !cas.CheckPassed {
		t.Fatal("check_and_set did not pass")
	}
	mustCall(t, c, addr, protocol.MethodCheckAndSet, &protocol.CheckAndSetRequest{Header: h, HashKey: hk, CheckSortKey: []byte("name"),
		CheckType: protocol.CheckBytesEqual, CheckOperand: []byte("ann"), SetValue: []byte("eve"), ReturnCheckValue: true}, &cas)
	if cas.CheckPassed || !cas.CheckValueReturned || string(cas.CheckValue) != "bob" {
		t.Fatalf("failing check_and_set %+v", cas)
	}
	var cam protocol.CheckAndMutateResponse
	mustCall(t, c, addr, protocol.MethodCheckAndMutate, &protocol.CheckAndMutateRequest{Header: h, HashKey: hk, CheckSortKey: []byte("gone"),
		CheckType: protocol.CheckValueNotExist, Mutates: []protocol.Mutate{
			{Operation: protocol.MutatePut, SortKey: []byte("m1"), Value: []byte("1")},
			{Operation: protocol.MutateDel, SortKey: []byte("n")},
		}}, &cam)
	if !cam.CheckPassed {
		t.Fatal("check_and_mutate did not pass")
	}

	// Scans: the hashkey in batches, then a whole partition.
	var so protocol.ScanOpenResponse
	mustCall(t, c, addr, protocol.MethodScanOpen, &protocol.ScanOpenRequest{Header: h, StartHashKey: hk, StopHashKey: hk, StartInclusive: true, BatchSize: 2}, &so)
	got := scanned(so.Items)
	for done := so.Done; !done; {
		var sn protocol.ScanNextResponse
		mustCall(t, c, addr, protocol.MethodScanNext, &protocol.ScanNextRequest{Header: h, ContextID: so.ContextID}, &sn)
		got = append(got, scanned(sn.Items)...)
		done = sn.Done
	}
	if strings.Join(got, ",") != "a2=v-a2,a3=v-a3,m1=1,name=bob" {
		t.Fatalf("scan %v", got)
	}
	mustCall(t, c, addr, protocol.MethodScanOpen, &protocol.ScanOpenRequest{Header: protocol.RequestHeader{Gpid: h.Gpid}, FullPartition: true, BatchSize: 1}, &so)
	if so.Done || len(so.Items) != 1 {
		t.Fatalf("full scan open %+v", so)
	}
	mustCall(t, c, addr, protocol.MethodScanClose, &protocol.ScanCloseRequest{Header: h, ContextID: so.ContextID}, &protocol.ScanCloseResponse{})
	err = call(t, c, addr, protocol.MethodScanNext, &protocol.ScanNextRequest{Header: h, ContextID: so.ContextID}, &protocol.ScanNextResponse{})
	if protocol.CodeOf(err) != protocol.CodeObjectNotFound {
		t.Fatalf("scan_next after close: %v", err)
	}

	// BatchSet / BatchGet on keys of one partition.
	var same [][]byte
	for i := 0; len(same) < 3; i++ {
		k := []byte("bk" + string(rune('a'+i)))
		if tb.header(k).Gpid == h.Gpid {
			same = append(same, k)
		}
	}
	var bs protocol.BatchSetResponse
	mustCall(t, c, addr, protocol.MethodBatchSet, &protocol.BatchSetRequest{Header: tb.header(same[0]), Items: []protocol.BatchSetItem{
		{HashKey: same[0], SortKey: []byte("s"), Value: []byte("0")},
		{HashKey: same[1], SortKey: []byte("s"), Value: []byte("1")},
	}}, &bs)
	if len(bs.Codes) != 2 || bs.Codes[0] != protocol.CodeOK || bs.Codes[1] != protocol.CodeOK || bs.Decree <= 0 {
		t.Fatalf("batch_set %+v", bs)
	}
	var bg protocol.BatchGetResponse
	mustCall(t, c, addr, protocol.MethodBatchGet, &protocol.BatchGetRequest{Header: tb.header(same[0]), Keys: []protocol.FullKey{
		{HashKey: same[0], SortKey: []byte("s")}, {HashKey: same[2], SortKey: []byte("s")}, {HashKey: same[1], SortKey: []byte("s")},
	}}, &bg)
	if len(bg.Results) != 3 || string(bg.Results[0].Value) != "0" || bg.Results[1].Code != protocol.CodeNotFound || string(bg.Results[2].Value) != "1" {
		t.Fatalf("batch_get %+v", bg)
	}

	// Validation happens in front of the real replica too.
	err = call(t, c, addr, protocol.MethodSet, &protocol.SetRequest{Header: h, HashKey: hk, Value: make([]byte, 1<<20)}, &setResp)
	if protocol.CodeOf(err) != protocol.CodeInvalidArgument || !strings.Contains(err.Error(), "max_write_bytes 1048576") {
		t.Fatalf("oversized set: %v", err)
	}

	// Status pages.
	var page struct {
		Node     string `json:"node"`
		Replicas []struct {
			Gpid          string `json:"gpid"`
			Table         string `json:"table"`
			Role          string `json:"role"`
			Ballot        int64  `json:"ballot"`
			LastCommitted int64  `json:"last_committed"`
			Detail        struct {
				LastApplied int64 `json:"last_applied"`
				Plog        struct {
					Segments int `json:"segments"`
				} `json:"plog"`
			} `json:"detail"`
		} `json:"replicas"`
	}
	getJSON(t, "http://"+s.HTTPAddr()+"/replica/replicas", &page)
	if page.Node != s.Node() || len(page.Replicas) != 4 {
		t.Fatalf("replicas page %+v", page)
	}
	r := page.Replicas[h.Gpid.PartitionIndex]
	if r.Gpid != h.Gpid.String() || r.Table != "t" || r.Role != "PS_PRIMARY" || r.Ballot != 1 || r.LastCommitted < 10 ||
		r.Detail.LastApplied != r.LastCommitted || r.Detail.Plog.Segments == 0 {
		t.Fatalf("replica %+v", r)
	}
	var cfgPage map[string]map[string]any
	getJSON(t, "http://"+s.HTTPAddr()+"/replica/config", &cfgPage)
	if cfgPage["replication"]["plog_sync"] != "fsync" || cfgPage["replication"]["max_write_bytes"] != "1MiB" {
		t.Fatalf("config page %v", cfgPage)
	}
	resp, err := http.Get("http://" + s.HTTPAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `get_latency_bucket{app_id="1",table="t"`) {
		t.Fatalf("metrics lack get_latency:\n%.2000s", body)
	}
	// The duplication lag appears only where duplicated writes arrive.
	if strings.Contains(string(body), "dup_time_lag_ms") {
		t.Fatalf("metrics show dup_time_lag_ms without duplication")
	}

	// Restart on the same data dir: the replicas come back and serve.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Start(testConfig(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	// It listens on another port: the test hook makes it primary again.
	if err := s2.srv.OpenTestReplica(tb.app, tb.partitions()...); err != nil {
		t.Fatal(err)
	}
	mustCall(t, c, s2.RPCAddr(), protocol.MethodGet, &protocol.GetRequest{Header: h, HashKey: hk, SortKey: []byte("m1")}, &g)
	if string(g.Value) != "1" {
		t.Fatalf("after restart: %q", g.Value)
	}
}

func scanned(items []protocol.ScanItem) []string {
	var out []string
	for _, it := range items {
		out = append(out, string(it.SortKey)+"="+string(it.Value))
	}
	return out
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %s %s", url, resp.Status, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}
