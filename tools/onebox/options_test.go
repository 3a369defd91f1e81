package onebox

import (
	"net"
	"strings"
	"syscall"
	"testing"
)

func TestPortsLayout(t *testing.T) {
	got := map[string]int{}
	for _, p := range Ports(Options{Metas: 2, Clusters: 2, ZooKeeper: true}) {
		got[p.Instance+" "+p.Use] = p.Port
	}
	want := map[string]int{
		"zookeeper client":      34691,
		"onebox/meta1 rpc":      34601,
		"onebox/meta1 http":     34651,
		"onebox/meta2 rpc":      34602,
		"onebox/meta2 http":     34652,
		"onebox/replica1 rpc":   34801,
		"onebox/replica1 http":  34851,
		"onebox/replica3 rpc":   34803,
		"onebox/replica3 http":  34853,
		"onebox2/meta1 rpc":     34701,
		"onebox2/meta2 http":    34752,
		"onebox2/replica1 rpc":  34901,
		"onebox2/replica3 http": 34953,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %d, want %d", k, got[k], v)
		}
	}
	if len(got) != 1+2*(2*2+2*3) {
		t.Errorf("%d ports, want %d: %v", len(got), 1+2*(2*2+2*3), got)
	}
}

// TestPortsNeverCollide checks the largest layout: every port distinct and
// inside the valid range for the largest allowed base port.
func TestCollectorPorts(t *testing.T) {
	got := map[string]int{}
	for _, p := range Ports(Options{Clusters: 2, Collector: true}) {
		got[p.Instance+" "+p.Use] = p.Port
	}
	if got["onebox/collector1 http"] != 34641 || got["onebox2/collector1 http"] != 34741 || len(got) != 2*(2+2*3+1) {
		t.Errorf("ports with collectors: %v", got)
	}
}

func TestPortsNeverCollide(t *testing.T) {
	o := Options{Metas: MaxMetas, Replicas: MaxReplicas, Clusters: MaxClusters, ZooKeeper: true, Collector: true, BasePort: 65535 - maxPortSpan}
	if err := o.validate(); err != nil {
		t.Fatal(err)
	}
	seen := map[int]string{}
	for _, p := range Ports(o) {
		if p.Port > 65535 {
			t.Fatalf("%s %s port %d out of range", p.Instance, p.Use, p.Port)
		}
		if other, dup := seen[p.Port]; dup {
			t.Fatalf("port %d used by %s and %s %s", p.Port, other, p.Instance, p.Use)
		}
		seen[p.Port] = p.Instance + " " + p.Use
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		o    Options
		want string
	}{
		{Options{Metas: 10}, "meta servers per cluster 10"},
		{Options{Replicas: -1}, "replica servers per cluster -1"},
		{Options{Clusters: 10}, "clusters 10"},
		{Options{BasePort: 80}, "base port 80"},
		{Options{BasePort: 65000}, "base port 65000"},
		{Options{MetaSettings: []string{"lease=4s"}}, `setting "lease=4s"`},
		{Options{ReplicaSettings: []string{"replication.plog_sync"}}, `setting "replication.plog_sync"`},
		{Options{ReplicaSettings: []string{"--print-config=x.y"}}, `setting "--print-config=x.y"`},
	}
	for _, c := range cases {
		c.o.setDefaults()
		if err := c.o.validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("validate(%+v) = %v, want %q", c.o, err, c.want)
		}
	}
	var o Options
	o.setDefaults()
	if err := o.validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
}

func TestClusterNames(t *testing.T) {
	for c, want := range []string{"onebox", "onebox2", "onebox3"} {
		if got := ClusterName(c); got != want {
			t.Errorf("ClusterName(%d) = %q, want %q", c, got, want)
		}
	}
	for c, want := range []int{34601, 34701, 35601, 35701} {
		if got := ClusterBasePort(34601, c); got != want {
			t.Errorf("ClusterBasePort(34601, %d) = %d, want %d", c, got, want)
		}
	}
}

func TestCheckPortsNamesTheTakenPort(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	err = CheckPorts([]Port{{Instance: "onebox/meta1", Use: "rpc", Port: port}})
	if err == nil || !strings.Contains(err.Error(), "onebox/meta1 rpc") || !strings.Contains(err.Error(), "--base-port") {
		t.Fatalf("CheckPorts = %v", err)
	}
}

func TestParseSignal(t *testing.T) {
	for s, want := range map[string]syscall.Signal{
		"KILL": syscall.SIGKILL, "term": syscall.SIGTERM, "SIGSTOP": syscall.SIGSTOP, " cont ": syscall.SIGCONT,
	} {
		if got, err := ParseSignal(s); err != nil || got != want {
			t.Errorf("ParseSignal(%q) = %v, %v; want %v", s, got, err, want)
		}
	}
	for _, s := range []string{"", "HUP", "9"} {
		if _, err := ParseSignal(s); err == nil {
			t.Errorf("ParseSignal(%q) accepted", s)
		}
	}
}
