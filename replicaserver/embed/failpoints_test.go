package embed

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/vfs/errorfs"

	"github.com/pegasus-go/pegasus/shared/failpoint"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

// With failpoints enabled, /debug/failpoints switches plog write errors on
// in a running server: a write fails with an IO error while a plog write
// fails, and the clock offset shows in the server's clock.
func TestFailpoints(t *testing.T) {
	reg := failpoint.New()
	cfg := testConfig(t.TempDir())
	cfg.Failpoints = reg
	s, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tb := newTable(1)
	if err := s.srv.OpenTestReplica(tb.app, tb.partitions()...); err != nil {
		t.Fatal(err)
	}
	c := newClient(t)
	hk := []byte("k")
	set := func() error {
		return call(t, c, s.RPCAddr(), protocol.MethodSet, &protocol.SetRequest{Header: tb.header(hk), HashKey: hk, SortKey: []byte("s"), Value: []byte("v")}, &protocol.SetResponse{})
	}
	if err := set(); err != nil {
		t.Fatalf("set without failpoints: %v", err)
	}

	url := "http://" + s.HTTPAddr() + "/debug/failpoints"
	req, _ := http.NewRequest(http.MethodPut, url+"?name="+failpoint.PlogWriteError+"&value=1", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT failpoint: %s", resp.Status)
	}
	if err := set(); !errors.Is(err, protocol.CodeIOError) {
		t.Fatalf("set with plog writes failing: %v, want an IO error", err)
	}
	var states []failpoint.State
	getJSON(t, url, &states)
	for _, st := range states {
		if st.Name == failpoint.PlogWriteError && st.Fired == 0 {
			t.Fatalf("the plog write failpoint never fired: %+v", states)
		}
	}

	_ = reg.Set(failpoint.ClockOffset, "-1h")
	if d := time.Until(s.cfg.Clock()); d > -59*time.Minute {
		t.Fatalf("clock %v from now with a -1h offset", d)
	}
}

// The plog injector fails plog files only, and only the operations of its
// failpoints.
func TestPlogInjector(t *testing.T) {
	reg := failpoint.New()
	inj := plogInjector{reg}
	_ = reg.SetSpec("plog-sync-error=1")
	plogFile := "/data/1.0/plog/log.1"
	if err := inj.MaybeError(errorfs.OpFileSync, plogFile); !errors.Is(err, failpoint.ErrInjected) {
		t.Fatalf("plog sync: %v", err)
	}
	if err := inj.MaybeError(errorfs.OpFileWrite, plogFile); err != nil {
		t.Fatalf("plog write with only sync errors on: %v", err)
	}
	if err := inj.MaybeError(errorfs.OpFileSync, "/data/1.0/db/000001.log"); err != nil {
		t.Fatalf("engine sync: %v", err)
	}
	if strings.Contains("/data/1.0/db/000001.log", plogPathPart) {
		t.Fatal("path test")
	}
}
