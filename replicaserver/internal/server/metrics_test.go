package server

import (
	"bytes"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/vfs"

	"github.com/pegasus-go/pegasus/shared/metrics"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

func TestRequestMetrics(t *testing.T) {
	reg, err := metrics.New(metrics.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, vfs.NewMem(), newFakeFactory(), func(o *Options) { o.Scope = reg.Scope() })
	if err := h.srv.OpenTestReplica(testApp(1), 0); err != nil {
		t.Fatal(err)
	}
	hk := []byte("k")
	hdr := header(hk, 1)
	for range 3 {
		if err := h.call(protocol.MethodSet, &protocol.SetRequest{Header: hdr, HashKey: hk, Value: []byte("v")}, &protocol.SetResponse{}); err != nil {
			t.Fatal(err)
		}
	}
	_ = h.call(protocol.MethodGet, &protocol.GetRequest{Header: hdr, HashKey: hk}, &protocol.GetResponse{})
	_ = h.call(protocol.MethodGet, &protocol.GetRequest{Header: hdr}, &protocol.GetResponse{})                                                                // empty hashkey
	_ = h.call(protocol.MethodGet, &protocol.GetRequest{Header: protocol.RequestHeader{Gpid: protocol.Gpid{AppID: 5}}, HashKey: hk}, &protocol.GetResponse{}) // unknown
	h.close()
	if err := reg.Close(); err != nil { // flushes counters into the registry
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	reg.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{
		`put_qps_total{app_id="1",table="t"} 3`,
		`get_qps_total{app_id="1",table="t"} 2`,
		`get_latency_bucket{app_id="1",table="t",le="+Inf"} 2`,
		`rejected_requests_total{app_id="1",code="ERR_INVALID_PARAMETERS",op="get",table="t"} 1`,
		`rejected_requests_total{app_id="5",code="ERR_OBJECT_NOT_FOUND",op="get",table=""} 1`,
		`replica_count 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if t.Failed() {
		for _, l := range bytes.Split(rec.Body.Bytes(), []byte("\n")) {
			if bytes.Contains(l, []byte("qps")) || bytes.Contains(l, []byte("rejected")) || bytes.Contains(l, []byte("replica_count")) {
				t.Log(string(l))
			}
		}
	}
}
