package server

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/pegasus-go/pegasus/shared/protocol"
)

func TestParseDeny(t *testing.T) {
	for _, c := range []struct {
		v    string
		want denyPolicy
		ok   bool
	}{
		{"timeout*read", denyPolicy{silent: true, reads: true}, true},
		{"timeout*write", denyPolicy{silent: true, writes: true}, true},
		{"timeout*all", denyPolicy{silent: true, reads: true, writes: true}, true},
		{"reconfig*read", denyPolicy{reads: true}, true},
		{"reconfig*all", denyPolicy{reads: true, writes: true}, true},
		{"reconfig", denyPolicy{}, false},
		{"reconfig*", denyPolicy{}, false},
		{"never*all", denyPolicy{}, false},
		{"timeout*scan", denyPolicy{}, false},
		{"", denyPolicy{}, false},
	} {
		got, err := parseDeny(c.v)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("parseDeny(%q) = %+v, %v; want %+v ok=%v", c.v, got, err, c.want, c.ok)
		}
	}
	for o := range numOps {
		want := o == opPut || o == opRemove || o == opMultiPut || o == opMultiRemove || o == opDelRange ||
			o == opIncr || o == opCheckAndSet || o == opCheckAndMutate || o == opBatchSet
		if isWrite(o) != want {
			t.Errorf("isWrite(%s) = %v", o, isWrite(o))
		}
	}
}

// setDeny installs the table info with the env (empty: removed) on every
// partition, the way a config sync from the meta does.
func (h *harness) setDeny(value string) {
	h.t.Helper()
	app := testApp(testPartitions)
	if value != "" {
		app.Envs = map[string]string{EnvDenyClientRequest: value}
	}
	for p := range int32(testPartitions) {
		cfg := protocol.PartitionConfiguration{Gpid: protocol.Gpid{AppID: 1, PartitionIndex: p}, Ballot: 1, Primary: h.addr, MaxReplicaCount: 1}
		if err := h.srv.ensureReplica(app, cfg); err != nil {
			h.t.Fatal(err)
		}
	}
}

// TestDenyClientRequest sends reads and writes under every policy through
// a real RPC client.
func TestDenyClientRequest(t *testing.T) {
	h := newDataHarness(t)
	hk := keyFor(t, 1, testPartitions)
	hdr := header(hk, testPartitions)
	set := func(ctx context.Context) error {
		return h.client.Call(ctx, h.addr, protocol.ServiceReplica, protocol.MethodSet,
			&protocol.SetRequest{Header: hdr, HashKey: hk, SortKey: []byte("s"), Value: []byte("v")}, &protocol.SetResponse{})
	}
	get := func(ctx context.Context) error {
		return h.client.Call(ctx, h.addr, protocol.ServiceReplica, protocol.MethodGet,
			&protocol.GetRequest{Header: hdr, HashKey: hk, SortKey: []byte("s")}, &protocol.GetResponse{})
	}
	scan := func(ctx context.Context) error {
		return h.client.Call(ctx, h.addr, protocol.ServiceReplica, protocol.MethodScanOpen,
			&protocol.ScanOpenRequest{Header: hdr, BatchSize: 10}, &protocol.ScanOpenResponse{})
	}
	// outcome runs fn with a short deadline and names what happened.
	outcome := func(fn func(context.Context) error) string {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		err := fn(ctx)
		switch {
		case err == nil, errors.Is(err, protocol.CodeNotFound):
			return "served"
		case errors.Is(err, protocol.CodeInvalidState):
			return "reconfig"
		case errors.Is(err, context.DeadlineExceeded):
			return "no answer"
		}
		return err.Error()
	}
	for _, c := range []struct {
		env                   string
		write, read, scanning string
	}{
		{"", "served", "served", "served"},
		{"reconfig*write", "reconfig", "served", "served"},
		{"reconfig*read", "served", "reconfig", "reconfig"},
		{"reconfig*all", "reconfig", "reconfig", "reconfig"},
		{"timeout*write", "no answer", "served", "served"},
		{"timeout*read", "served", "no answer", "no answer"},
		{"timeout*all", "no answer", "no answer", "no answer"},
		{"bogus", "served", "served", "served"}, // the meta refuses it; a replica that gets it denies nothing
		{"", "served", "served", "served"},      // cleared: service is back
	} {
		h.setDeny(c.env)
		before := h.totalWrites()
		w, r, s := outcome(set), outcome(get), outcome(scan)
		if w != c.write || r != c.read || s != c.scanning {
			t.Errorf("%q: write %s, read %s, scan %s; want %s, %s, %s", c.env, w, r, s, c.write, c.read, c.scanning)
		}
		if wrote := h.totalWrites() > before; wrote != (c.write == "served") {
			t.Errorf("%q: write reached the replica = %v", c.env, wrote)
		}
	}
}
