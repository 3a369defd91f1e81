package onebox

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	collectorembed "github.com/pegasus-go/pegasus/collector/embed"
	metaembed "github.com/pegasus-go/pegasus/metaserver/embed"
	replicaembed "github.com/pegasus-go/pegasus/replicaserver/embed"
	"github.com/pegasus-go/pegasus/shared/config"
)

// fakeBinDir returns a directory with executable files named like the
// daemons (never run by these tests).
func fakeBinDir(t *testing.T) string {
	dir := t.TempDir()
	for _, b := range []string{MetaBinary, ReplicaBinary} {
		if err := os.WriteFile(filepath.Join(dir, b), []byte("#!/bin/false\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// freeBase returns a base port whose whole plan is free.
func freeBase(t *testing.T, o Options) int {
	for base := 20000; base < 60000; base += 517 {
		o.BasePort = base
		if CheckPorts(Ports(o)) == nil {
			return base
		}
	}
	t.Fatal("no free base port")
	return 0
}

func TestStartRefusals(t *testing.T) {
	ctx := context.Background()
	t.Run("no binaries", func(t *testing.T) {
		_, err := Start(ctx, Options{Dir: t.TempDir(), BinDir: t.TempDir()})
		if !errors.Is(err, ErrNoBinaries) {
			t.Fatalf("Start = %v, want ErrNoBinaries", err)
		}
	})
	t.Run("bad shape", func(t *testing.T) {
		_, err := Start(ctx, Options{Dir: t.TempDir(), Metas: 20})
		if err == nil || !strings.Contains(err.Error(), "meta servers per cluster 20") {
			t.Fatalf("Start = %v", err)
		}
	})
	t.Run("port taken", func(t *testing.T) {
		o := Options{Dir: t.TempDir(), BinDir: fakeBinDir(t)}
		o.BasePort = freeBase(t, o)
		l, err := net.Listen("tcp", Ports(o)[3].Addr()) // onebox/replica1's HTTP port
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		_, err = Start(ctx, o)
		if err == nil || !strings.Contains(err.Error(), "onebox/replica1 http") {
			t.Fatalf("Start = %v", err)
		}
	})
	t.Run("already running", func(t *testing.T) {
		dir := t.TempDir()
		me := helperInstance(t, "onebox/meta1", "sleep")
		if err := spawn(me, true); err != nil {
			t.Fatal(err)
		}
		defer syscall.Kill(me.PID, syscall.SIGKILL)
		st := &State{Version: stateVersion, Dir: dir, Instances: []Instance{*me}}
		if err := st.save(); err != nil {
			t.Fatal(err)
		}
		_, err := Start(ctx, Options{Dir: dir, BinDir: fakeBinDir(t)})
		if err == nil || !strings.Contains(err.Error(), "already running") {
			t.Fatalf("Start = %v", err)
		}
		if err := StartInstance(ctx, Options{Dir: dir}, "onebox/meta1"); err == nil || !strings.Contains(err.Error(), "already running") {
			t.Fatalf("StartInstance = %v", err)
		}
		// Stop ends it and clears its pid.
		if err := Stop(ctx, Options{Dir: dir}); err != nil {
			t.Fatal(err)
		}
		back, _ := LoadState(dir)
		if back.Instances[0].PID != 0 || me.Alive() {
			t.Fatalf("after stop: %+v", back.Instances[0])
		}
		if err := StopInstance(ctx, Options{Dir: dir}, "onebox/meta1", syscall.SIGKILL); err == nil || !strings.Contains(err.Error(), "not running") {
			t.Fatalf("StopInstance of a stopped instance = %v", err)
		}
	})
	t.Run("other layout", func(t *testing.T) {
		dir := t.TempDir()
		st, _ := newState(&Options{Metas: 1, Replicas: 3, Clusters: 1, BasePort: 30001,
			ReplicaSettings: []string{"replication.plog_sync=pagecache"}}, dir, "bin", Ports(Options{BasePort: 30001}))
		if err := st.save(); err != nil {
			t.Fatal(err)
		}
		for _, o := range []Options{{Metas: 2}, {Replicas: 1}, {Clusters: 2}, {BasePort: 30101}, {ZooKeeper: true}} {
			o.Dir = dir
			if _, err := Start(ctx, o); err == nil || !strings.Contains(err.Error(), "onebox clean") {
				t.Errorf("Start(%+v) over another layout = %v", o, err)
			}
		}
		o := Options{Dir: dir}
		if err := o.sameLayout(st); err != nil || o.BasePort != 30001 || o.Metas != 1 || o.Replicas != 3 || o.Clusters != 1 || o.ZooKeeper {
			t.Fatalf("sameLayout filled %+v, %v", o, err)
		}
		// Settings left out keep the previous ones; given ones replace them.
		if !slices.Equal(o.ReplicaSettings, []string{"replication.plog_sync=pagecache"}) {
			t.Fatalf("restart dropped the replica settings: %q", o.ReplicaSettings)
		}
		o = Options{Dir: dir, ReplicaSettings: []string{"replication.plog_sync=fsync"}}
		if err := o.sameLayout(st); err != nil || !slices.Equal(o.ReplicaSettings, []string{"replication.plog_sync=fsync"}) {
			t.Fatalf("restart with new settings: %q, %v", o.ReplicaSettings, err)
		}
	})
}

// TestCollectorInstance checks the collector's place in the state and the
// configuration onebox writes for it: the collector daemon's own loader
// accepts it and derives every node's HTTP address from its RPC address.
func TestCollectorInstance(t *testing.T) {
	dir := t.TempDir()
	o := Options{Metas: 1, Replicas: 2, Clusters: 1, BasePort: 30001, Collector: true, CollectorSettings: []string{"collector.scrape_interval=1s"}}
	st, p := newState(&o, dir, "bin", Ports(o))
	in, err := st.Instance("onebox/collector1")
	if err != nil {
		t.Fatal(err)
	}
	if in.Role != RoleCollector || in.HTTPAddress != "127.0.0.1:30041" || in.RPCAddress != "" || st.Clusters[0].Collector != "http://127.0.0.1:30041/" {
		t.Fatalf("collector instance %+v, cluster %+v", in, st.Clusters[0])
	}
	if err := os.MkdirAll(in.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := p.collectorConfig(&o, &st.Clusters[0], in); err != nil {
		t.Fatal(err)
	}
	cfg := collectorembed.DefaultConfig()
	if _, err := config.Load([]string{"-c", in.Config}, &cfg); err != nil {
		t.Fatal(err)
	}
	c := cfg.Collector
	if c.ClusterName != "onebox" || c.MetaServers[0] != "127.0.0.1:30001" || c.ScrapeInterval.Std() != time.Second ||
		cfg.Probe.ReplicaCount != 2 {
		t.Errorf("collector config %+v probe %+v", c, cfg.Probe)
	}
	for _, node := range st.Instances {
		if node.Role != RoleMeta && node.Role != RoleReplica {
			continue
		}
		off := c.ReplicaHTTPPortOffset
		if node.Role == RoleMeta {
			off = c.MetaHTTPPortOffset
		}
		_, rpcPort, _ := net.SplitHostPort(node.RPCAddress)
		_, httpPort, _ := net.SplitHostPort(node.HTTPAddress)
		if r, _ := strconv.Atoi(rpcPort); strconv.Itoa(r+off) != httpPort {
			t.Errorf("%s: RPC %s + offset %d != HTTP %s", node.Name, node.RPCAddress, off, node.HTTPAddress)
		}
	}
	bad := o
	bad.CollectorSettings = []string{"collector.nosuch=1"}
	if err := p.collectorConfig(&bad, &st.Clusters[0], in); err == nil {
		t.Error("an unknown collector setting was accepted")
	}
}

func TestStopWithoutOnebox(t *testing.T) {
	if err := Stop(context.Background(), Options{Dir: t.TempDir()}); !errors.Is(err, ErrNoOnebox) {
		t.Fatalf("Stop = %v", err)
	}
	if _, _, err := Status(Options{Dir: t.TempDir()}); !errors.Is(err, ErrNoOnebox) {
		t.Fatalf("Status = %v", err)
	}
}

func TestCleanRefusesForeignDirectory(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "precious"), []byte("x"), 0o644)
	if err := Clean(context.Background(), Options{Dir: dir}); err == nil || !strings.Contains(err.Error(), "not removing") {
		t.Fatalf("Clean = %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "precious")); err != nil {
		t.Fatal(err)
	}
	// A onebox directory goes.
	box := filepath.Join(t.TempDir(), "box")
	st := &State{Version: stateVersion, Dir: box}
	os.MkdirAll(box, 0o755)
	if err := st.save(); err != nil {
		t.Fatal(err)
	}
	if err := Clean(context.Background(), Options{Dir: box}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(box); !os.IsNotExist(err) {
		t.Fatalf("%s still there: %v", box, err)
	}
}

// TestGeneratedConfigs writes the configurations of a two-cluster ZooKeeper
// onebox and loads them back through the daemons' own loaders.
func TestGeneratedConfigs(t *testing.T) {
	dir := t.TempDir()
	o := Options{Metas: 2, Replicas: 1, Clusters: 2, ZooKeeper: true, BasePort: 34601,
		MetaSettings: []string{"meta_server.lease=4s", "meta_server.grace=6s"}, ReplicaSettings: []string{"replication.plog_sync=pagecache"}}
	o.setDefaults()
	st, p := newState(&o, dir, "bin", Ports(o))
	wantClusters := map[string]string{"onebox": "127.0.0.1:34601,127.0.0.1:34602", "onebox2": "127.0.0.1:34701,127.0.0.1:34702"}
	wantGroup := map[string]int{"onebox": 1, "onebox2": 2}
	for i := range st.Instances {
		in := &st.Instances[i]
		if in.Role == RoleZooKeeper {
			if in.RPCAddress != "127.0.0.1:34691" {
				t.Fatalf("zookeeper at %s", in.RPCAddress)
			}
			continue
		}
		os.MkdirAll(in.Dir, 0o755)
		c := st.Cluster(in.Cluster)
		switch in.Role {
		case RoleMeta:
			if err := p.metaConfig(&o, c, in); err != nil {
				t.Fatal(err)
			}
			cfg := metaembed.DefaultConfig()
			if _, err := config.Load([]string{"-c", in.Config}, &cfg); err != nil {
				t.Fatal(err)
			}
			m := cfg.MetaServer
			if m.RPCAddress != in.RPCAddress || m.HTTPAddress != in.HTTPAddress || m.ClusterName != in.Cluster ||
				m.ClusterRoot != "/"+in.Cluster || m.Store != metaembed.StoreZooKeeper || m.Lease.String() != "4s" ||
				!reflect.DeepEqual(cfg.Zookeeper.Hosts, []string{"127.0.0.1:34691"}) || cfg.Logging.Output != in.Log {
				t.Fatalf("%s: %+v %+v", in.Name, m, cfg.Zookeeper)
			}
			if !reflect.DeepEqual(cfg.Pegasus.Clusters, wantClusters) || !reflect.DeepEqual(cfg.DuplicationGroup, wantGroup) {
				t.Fatalf("%s: clusters %v group %v", in.Name, cfg.Pegasus.Clusters, cfg.DuplicationGroup)
			}
		case RoleReplica:
			if err := p.replicaConfig(&o, c, in); err != nil {
				t.Fatal(err)
			}
			cfg := replicaembed.DefaultConfig()
			if _, err := config.Load([]string{"-c", in.Config}, &cfg); err != nil {
				t.Fatal(err)
			}
			r := cfg.ReplicaServer
			if r.RPCAddress != in.RPCAddress || !reflect.DeepEqual(r.MetaServers, c.MetaServers) ||
				cfg.Replication.ClusterName != in.Cluster || cfg.Replication.PlogSync != "pagecache" ||
				!reflect.DeepEqual(cfg.Replication.DataDirs, []string{filepath.Join(in.Dir, "data")}) {
				t.Fatalf("%s: %+v %+v", in.Name, r, cfg.Replication)
			}
			if !reflect.DeepEqual(cfg.Pegasus.Clusters, wantClusters) || !reflect.DeepEqual(cfg.DuplicationGroup, wantGroup) {
				t.Fatalf("%s: clusters %v group %v", in.Name, cfg.Pegasus.Clusters, cfg.DuplicationGroup)
			}
		}
	}
	// A setting the daemon rejects is reported with the instance.
	o.ReplicaSettings = []string{"replication.plog_sync=sometimes"}
	in, _ := st.Instance("onebox/replica1")
	if err := p.replicaConfig(&o, st.Cluster("onebox"), in); err == nil || !strings.Contains(err.Error(), "onebox/replica1") || !strings.Contains(err.Error(), "plog_sync") {
		t.Fatalf("bad setting: %v", err)
	}
	o.MetaSettings = []string{"meta_server.no_such_key=1"}
	in, _ = st.Instance("onebox/meta1")
	if err := p.metaConfig(&o, st.Cluster("onebox"), in); err == nil || !strings.Contains(err.Error(), "no_such_key") {
		t.Fatalf("unknown setting: %v", err)
	}
}

func TestLocalStoreConfig(t *testing.T) {
	dir := t.TempDir()
	o := Options{}
	o.setDefaults()
	st, p := newState(&o, dir, "bin", Ports(o))
	in, _ := st.Instance("onebox/meta1")
	os.MkdirAll(in.Dir, 0o755)
	if err := p.metaConfig(&o, st.Cluster("onebox"), in); err != nil {
		t.Fatal(err)
	}
	cfg := metaembed.DefaultConfig()
	if _, err := config.Load([]string{"-c", in.Config}, &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.MetaServer.Store != metaembed.StoreLocal || cfg.LocalStore.Dir != filepath.Join(dir, "onebox", "store") {
		t.Fatalf("store %q dir %q", cfg.MetaServer.Store, cfg.LocalStore.Dir)
	}
	if len(st.Instances) != 4 || st.Store != "local" {
		t.Fatalf("state %+v", st)
	}
}
