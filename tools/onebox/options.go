package onebox

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Defaults of Options.
const (
	DefaultDir          = ".onebox"
	DefaultBasePort     = 34601
	DefaultMetas        = 1
	DefaultReplicas     = 3
	DefaultClusters     = 1
	DefaultStartTimeout = 90 * time.Second
	DefaultStopTimeout  = 20 * time.Second
)

// Limits of Options.
const (
	MaxMetas    = 9
	MaxReplicas = 49
	MaxClusters = 9
)

// Port layout, relative to a cluster's first port (see ClusterBasePort).
const (
	metaRPCOffset     = 0   // meta i: base+i
	metaHTTPOffset    = 50  // its HTTP endpoint: base+50+i
	replicaRPCOffset  = 200 // replica j: base+200+j
	replicaHTTPOffset = 250 // its HTTP endpoint: base+250+j
	collectorOffset   = 40  // the cluster's collector (HTTP only): base+40
	zookeeperOffset   = 90  // the shared ZooKeeper (--zk): first base+90
	maxPortSpan       = 4*1000 + 100 + replicaHTTPOffset + MaxReplicas
)

// Options describe a onebox and how to run its commands. Start uses every
// field; the other operations use Dir, the timeouts, DieWithParent and
// Logger, and take the rest from the state file.
type Options struct {
	// Dir holds the state file, every instance's config, logs and data,
	// and the coordination store. Default DefaultDir (relative to the
	// working directory).
	Dir string
	// Metas, Replicas: meta servers and replica servers per cluster
	// (defaults 1 and 3).
	Metas, Replicas int
	// Clusters is the number of independent clusters, named onebox,
	// onebox2, ... (default 1).
	Clusters int
	// ZooKeeper runs Debian's ZooKeeper (through shared/zktest) as the
	// coordination store instead of the local-directory store.
	ZooKeeper bool
	// BasePort is the first meta server's RPC port; every other port
	// derives from it (see Ports). Default DefaultBasePort.
	BasePort int
	// BinDir holds the metaserver and replicaserver binaries. Empty:
	// FindBinDir.
	BinDir string
	// MetaSettings and ReplicaSettings are "section.key=value" settings
	// applied to every meta / replica server configuration over what
	// onebox generates (e.g. "meta_server.lease=4s").
	MetaSettings, ReplicaSettings []string
	// Collector starts a collector per cluster (HTTP only: dashboard,
	// /api/, /metrics); CollectorSettings are "section.key=value" settings
	// over its generated configuration (e.g. "collector.scrape_interval=1s").
	Collector         bool
	CollectorSettings []string
	// StartTimeout bounds Start and StartInstance (default 90s);
	// StopTimeout is how long Stop waits after SIGTERM before it sends
	// SIGKILL (default 20s).
	StartTimeout, StopTimeout time.Duration
	// DieWithParent makes the kernel kill every process this call starts
	// when the calling thread's process exits (tests). Otherwise the
	// processes are detached and outlive the caller.
	DieWithParent bool
	// Logger receives progress messages (default: discard).
	Logger *slog.Logger
}

func (o *Options) setDefaults() {
	if o.Dir == "" {
		o.Dir = DefaultDir
	}
	if o.Metas == 0 {
		o.Metas = DefaultMetas
	}
	if o.Replicas == 0 {
		o.Replicas = DefaultReplicas
	}
	if o.Clusters == 0 {
		o.Clusters = DefaultClusters
	}
	if o.BasePort == 0 {
		o.BasePort = DefaultBasePort
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = DefaultStartTimeout
	}
	if o.StopTimeout <= 0 {
		o.StopTimeout = DefaultStopTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// validate checks the shape of a onebox to start.
func (o *Options) validate() error {
	var errs []error
	if o.Metas < 1 || o.Metas > MaxMetas {
		errs = append(errs, fmt.Errorf("meta servers per cluster %d: want 1..%d", o.Metas, MaxMetas))
	}
	if o.Replicas < 1 || o.Replicas > MaxReplicas {
		errs = append(errs, fmt.Errorf("replica servers per cluster %d: want 1..%d", o.Replicas, MaxReplicas))
	}
	if o.Clusters < 1 || o.Clusters > MaxClusters {
		errs = append(errs, fmt.Errorf("clusters %d: want 1..%d", o.Clusters, MaxClusters))
	}
	if o.BasePort < 1024 || o.BasePort+maxPortSpan > 65535 {
		errs = append(errs, fmt.Errorf("base port %d: want 1024..%d", o.BasePort, 65535-maxPortSpan))
	}
	for _, s := range slices.Concat(o.MetaSettings, o.ReplicaSettings, o.CollectorSettings) {
		if k, _, ok := strings.Cut(s, "="); !ok || !strings.Contains(k, ".") || strings.HasPrefix(k, "-") {
			errs = append(errs, fmt.Errorf("setting %q: want section.key=value", s))
		}
	}
	return errors.Join(errs...)
}

// ClusterName is the name of cluster c (0-based): onebox, onebox2, ...
func ClusterName(c int) string {
	if c == 0 {
		return "onebox"
	}
	return "onebox" + strconv.Itoa(c+1)
}

// ClusterBasePort is the first port of cluster c (0-based): base, base+100,
// base+1000, base+1100, ... so the first two clusters sit next to each
// other (metas 34601.. and 34701.., replicas 34801.. and 34901..).
func ClusterBasePort(base, c int) int { return base + 100*(c%2) + 1000*(c/2) }

// Port is one TCP port a onebox listens on.
type Port struct {
	Instance string // instance name, e.g. "onebox/meta1"
	Use      string // "rpc", "http" or "client"
	Port     int
}

// Addr is the port's loopback address.
func (p Port) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(p.Port)) }

// Ports lists every port the onebox o describes, in start order:
// for cluster c with first port B = ClusterBasePort(BasePort, c), meta i
// (1-based) listens on B+i-1 (RPC) and B+49+i (HTTP), replica j on
// B+199+j (RPC) and B+249+j (HTTP); with ZooKeeper its client port is
// BasePort+90; with Collector, the cluster's collector serves HTTP on
// B+40. Zero fields of o take their defaults.
func Ports(o Options) []Port {
	o.setDefaults()
	var out []Port
	if o.ZooKeeper {
		out = append(out, Port{Instance: zookeeperName, Use: "client", Port: o.BasePort + zookeeperOffset})
	}
	for c := range o.Clusters {
		b := ClusterBasePort(o.BasePort, c)
		for i := range o.Metas {
			name := instanceName(c, roleMeta, i)
			out = append(out, Port{name, "rpc", b + metaRPCOffset + i}, Port{name, "http", b + metaHTTPOffset + i})
		}
		for j := range o.Replicas {
			name := instanceName(c, roleReplica, j)
			out = append(out, Port{name, "rpc", b + replicaRPCOffset + j}, Port{name, "http", b + replicaHTTPOffset + j})
		}
		if o.Collector {
			out = append(out, Port{instanceName(c, RoleCollector, 0), "http", b + collectorOffset})
		}
	}
	return out
}

// CheckPorts reports every port of ports that cannot be bound on
// 127.0.0.1 now, naming its instance.
func CheckPorts(ports []Port) error {
	var errs []error
	for _, p := range ports {
		l, err := net.Listen("tcp", p.Addr())
		if err != nil {
			errs = append(errs, fmt.Errorf("port %d (%s %s) is not free: %v", p.Port, p.Instance, p.Use, err))
			continue
		}
		l.Close()
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w; stop whatever holds them (an old onebox: onebox stop) or choose another --base-port", errors.Join(errs...))
	}
	return nil
}

// Binary names onebox starts.
const (
	MetaBinary      = "metaserver"
	CollectorBinary = "collector"
	ReplicaBinary   = "replicaserver"
)

// ErrNoBinaries means the daemon binaries were not found.
var ErrNoBinaries = errors.New("onebox: metaserver and replicaserver binaries not found")

// FindBinDir returns the directory holding the metaserver and
// replicaserver binaries: the directory of the running executable when it
// holds both (bin/onebox next to bin/metaserver), else ./bin.
func FindBinDir() (string, error) {
	var tried []string
	if exe, err := os.Executable(); err == nil {
		if exe, err = filepath.EvalSymlinks(exe); err == nil {
			dir := filepath.Dir(exe)
			if hasBinaries(dir) {
				return dir, nil
			}
			tried = append(tried, dir)
		}
	}
	if abs, err := filepath.Abs("bin"); err == nil {
		if hasBinaries(abs) {
			return abs, nil
		}
		tried = append(tried, abs)
	}
	return "", fmt.Errorf("%w in %s: run `make build`, or pass the directory holding them (--bin-dir)", ErrNoBinaries, strings.Join(tried, " or "))
}

func hasBinaries(dir string) bool {
	for _, b := range []string{MetaBinary, ReplicaBinary} {
		st, err := os.Stat(filepath.Join(dir, b))
		if err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
			return false
		}
	}
	return true
}
