package embed

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/pegasus-go/pegasus/replicaserver/internal/server"
	"github.com/pegasus-go/pegasus/shared/protocol"
	"github.com/pegasus-go/pegasus/shared/rpc"
)

// masterMeta answers QueryConfig for the master table, as the master
// cluster's meta leader does. It has no QueryDuplication: the follower then
// asks for a checkpoint of whatever the master primary applied.
type masterMeta struct{ cfg protocol.QueryConfigResponse }

func (m *masterMeta) QueryConfig(_ context.Context, req *protocol.QueryConfigRequest, resp *protocol.QueryConfigResponse) error {
	if req.AppName != m.cfg.App.Name {
		return protocol.Errorf(protocol.CodeAppNotExist, "no table %q", req.AppName)
	}
	*resp = m.cfg
	return nil
}

// TestFollowerReplicaCopiesMasterOverRPC runs the full-duplication copy
// between two replica servers standing for two clusters over real RPC: a
// replica created for a follower table copies the master partition's
// checkpoint, rate limited, then opens with the master's data.
func TestFollowerReplicaCopiesMasterOverRPC(t *testing.T) {
	tb := newTable(2)
	master, err := Start(testConfig(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer master.Close()
	if err := master.srv.OpenTestReplica(tb.app, tb.partitions()...); err != nil {
		t.Fatal(err)
	}
	c := newClient(t)
	var keys [][]byte
	values := map[string]string{}
	for i := range 200 {
		hk := []byte(fmt.Sprintf("user%d", i))
		mustCall(t, c, master.RPCAddr(), protocol.MethodSet, &protocol.SetRequest{Header: tb.header(hk), HashKey: hk, SortKey: []byte("s"),
			Value: []byte(fmt.Sprintf("value-%d", i))}, &protocol.SetResponse{})
		if tb.header(hk).Gpid.PartitionIndex == 1 {
			keys = append(keys, hk)
			values[string(hk)] = fmt.Sprintf("value-%d", i)
		}
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	meta := &masterMeta{cfg: protocol.QueryConfigResponse{App: tb.app}}
	for _, p := range tb.partitions() {
		meta.cfg.Partitions = append(meta.cfg.Partitions, protocol.PartitionConfiguration{Gpid: protocol.Gpid{AppID: tb.app.AppID, PartitionIndex: p},
			Ballot: 1, Primary: master.Node(), MaxReplicaCount: 1})
	}
	rs, err := rpc.NewServer(rpc.ServerConfig{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := rs.Register(protocol.ServiceMeta, meta); err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = rs.Serve(ln)
	}()
	defer func() {
		_ = rs.Close()
		<-served
	}()

	follower, err := Start(testConfig(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer follower.Close()
	follower.SetLearnRateLimit(256 << 10)
	fapp := protocol.AppInfo{AppID: 5, Name: tb.app.Name, Status: protocol.AppAvailable, PartitionCount: 2, ReplicaCount: 1,
		Envs: map[string]string{protocol.EnvDupMasterCluster: "master", protocol.EnvDupMasterApp: tb.app.Name,
			protocol.EnvDupMasterMetas: ln.Addr().String()}}
	fg := protocol.Gpid{AppID: 5, PartitionIndex: 1}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	prop := &protocol.ConfigProposalRequest{Type: protocol.ConfigAssignPrimary, Node: follower.Node(), App: fapp,
		Config: protocol.PartitionConfiguration{Gpid: fg, Ballot: 1, Primary: follower.Node(), MaxReplicaCount: 1}}
	if err := c.Call(ctx, follower.RPCAddr(), protocol.ServiceReplicaControl, protocol.MethodConfigProposal, prop, &protocol.ConfigProposalResponse{}); err != nil {
		t.Fatal(err)
	}

	// Wait for the copy on the learning page.
	var page server.LearningPage
	for deadline := time.Now().Add(30 * time.Second); ; {
		resp, err := http.Get("http://" + follower.HTTPAddr() + "/replica/learning")
		if err != nil {
			t.Fatal(err)
		}
		page = server.LearningPage{}
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(page.FollowerCopies) == 1 && page.FollowerCopies[0].Phase == "done" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("follower copy not done: %+v", page.FollowerCopies)
		}
		time.Sleep(20 * time.Millisecond)
	}
	fc := page.FollowerCopies[0]
	if fc.MasterPrimary != master.Node() || fc.MasterGpid != "1.1" || fc.Copy.FetchedBytes != fc.Copy.TotalBytes || fc.Copy.TotalBytes == 0 {
		t.Fatalf("follower copy %+v", fc)
	}

	for _, hk := range keys {
		h := tb.header(hk)
		h.Gpid = fg
		var g protocol.GetResponse
		mustCall(t, c, follower.RPCAddr(), protocol.MethodGet, &protocol.GetRequest{Header: h, HashKey: hk, SortKey: []byte("s")}, &g)
		if string(g.Value) != values[string(hk)] {
			t.Fatalf("%s: %q, want %q", hk, g.Value, values[string(hk)])
		}
	}
	md, err := master.srv.Digest(protocol.Gpid{AppID: 1, PartitionIndex: 1})
	if err != nil {
		t.Fatal(err)
	}
	fd, err := follower.srv.Digest(fg)
	if err != nil {
		t.Fatal(err)
	}
	if fd.Records != int64(len(keys)) || fd.SHA256 != md.SHA256 || fd.Decree != 0 {
		t.Fatalf("follower digest %+v, master %+v", fd, md)
	}
	mp := master.srv.Learning()
	if len(mp.DupCheckpoints) != 1 || mp.DupCheckpoints[0].ServedBytes != fc.Copy.TotalBytes {
		t.Fatalf("master checkpoints %+v", mp.DupCheckpoints)
	}
}
