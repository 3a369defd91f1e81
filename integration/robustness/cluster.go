package robustness

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	metaembed "github.com/pegasus-go/pegasus/metaserver/embed"
	replicaembed "github.com/pegasus-go/pegasus/replicaserver/embed"
	"github.com/pegasus-go/pegasus/shared/config"
	"github.com/pegasus-go/pegasus/shared/failpoint"
	"github.com/pegasus-go/pegasus/shared/zktest"
)

// Node roles. The test process itself takes part in the links as
// ClientNode, ZooKeeper as ZKNode.
const (
	RoleMeta    = "meta"
	RoleReplica = "replica"
	ClientNode  = "client"
	ZKNode      = "zk"
)

// ClusterOptions shape a Cluster.
type ClusterOptions struct {
	// Metas (1..3) and Replicas (3..5) are the process counts.
	Metas, Replicas int
	// BinDir holds the metaserver and replicaserver binaries.
	BinDir string
	// Dir holds every process's configuration, output, log and data.
	Dir string
	// Lease and Grace are the meta servers' failure-detection timing.
	Lease, Grace time.Duration
	// Logger receives process start/stop messages.
	Logger *slog.Logger
}

// Node is one meta or replica server process.
type Node struct {
	Name string // meta1, replica2, ...
	Role string
	// Listen is the RPC address the process binds; Addr the one it
	// advertises (the proxy of the client's link to it), which is the name
	// the cluster knows it by.
	Listen, Addr string
	// HTTP is its HTTP address, reached directly (never proxied).
	HTTP string

	bin, dir, config, output string

	mu struct {
		sync.Mutex
		cmd    *exec.Cmd
		exited chan struct{}
		paused bool
	}
}

// Cluster is a cluster of real processes on a real ZooKeeper with every
// directed link through a proxy of Net.
type Cluster struct {
	opts  ClusterOptions
	log   *slog.Logger
	ZK    *zktest.Server
	Net   *Net
	Metas []*Node
	// Replicas are the replica servers.
	Replicas []*Node

	byName map[string]*Node
	byAddr map[string]*Node
	ports  *portAllocator
}

// portAllocator hands out free loopback ports from a random base in
// 20000..31000, below Linux's ephemeral range, so outgoing connections
// never hold a port a restarted process or a reopened proxy must bind.
type portAllocator struct{ next int }

func newPortAllocator() *portAllocator { return &portAllocator{next: 20000 + 10*rand.IntN(1000)} }

func (p *portAllocator) take() (int, error) {
	for ; p.next < 32000; p.next++ {
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p.next))
		if err != nil {
			continue
		}
		l.Close()
		p.next++
		return p.next - 1, nil
	}
	return 0, errors.New("no free port below 32000")
}

func (p *portAllocator) addr() (string, error) {
	port, err := p.take()
	if err != nil {
		return "", err
	}
	return "127.0.0.1:" + strconv.Itoa(port), nil
}

// StartCluster starts ZooKeeper, the proxies, the meta servers and the
// replica servers, and returns once every meta server answers HTTP. The
// caller must Close it.
func StartCluster(ctx context.Context, o ClusterOptions) (_ *Cluster, err error) {
	if o.Metas < 1 || o.Metas > 3 || o.Replicas < 3 || o.Replicas > 5 {
		return nil, fmt.Errorf("cluster of %d meta and %d replica servers: want 1..3 and 3..5", o.Metas, o.Replicas)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Cluster{opts: o, log: o.Logger, Net: NewNet(), byName: map[string]*Node{}, byAddr: map[string]*Node{}, ports: newPortAllocator()}
	defer func() {
		if err != nil {
			c.Close()
		}
	}()
	zkPort, err := c.ports.take()
	if err != nil {
		return nil, err
	}
	c.ZK, err = zktest.Run(ctx, zktest.Options{Dir: filepath.Join(o.Dir, "zookeeper"), Port: zkPort, Logger: o.Logger})
	if err != nil {
		return nil, err
	}
	for i := range o.Metas {
		if err := c.addNode(RoleMeta, i); err != nil {
			return nil, err
		}
	}
	for i := range o.Replicas {
		if err := c.addNode(RoleReplica, i); err != nil {
			return nil, err
		}
	}
	// Proxies: the client's link to every server (its advertised
	// address), every server's link to every other server, and every meta
	// server's link to ZooKeeper.
	all := append(append([]*Node(nil), c.Metas...), c.Replicas...)
	for _, n := range all {
		if _, err := c.Net.Add(ClientNode, n.Name, n.Addr, n.Listen); err != nil {
			return nil, err
		}
		for _, m := range all {
			if m == n {
				continue
			}
			a, err := c.ports.addr()
			if err != nil {
				return nil, err
			}
			if _, err := c.Net.Add(n.Name, m.Name, a, m.Listen); err != nil {
				return nil, err
			}
		}
	}
	for _, m := range c.Metas {
		a, err := c.ports.addr()
		if err != nil {
			return nil, err
		}
		if _, err := c.Net.Add(m.Name, ZKNode, a, c.ZK.Addr()); err != nil {
			return nil, err
		}
	}
	for _, n := range all {
		if err := c.writeConfig(n); err != nil {
			return nil, err
		}
	}
	for _, n := range c.Metas {
		if err := n.start(); err != nil {
			return nil, err
		}
	}
	for _, n := range c.Replicas {
		if err := n.start(); err != nil {
			return nil, err
		}
	}
	for _, n := range all {
		if err := c.WaitHTTP(ctx, n); err != nil {
			return nil, err
		}
	}
	c.log.Info("cluster started", "metas", o.Metas, "replicas", o.Replicas, "zookeeper", c.ZK.Addr())
	return c, nil
}

func (c *Cluster) addNode(role string, i int) error {
	name := role + strconv.Itoa(i+1)
	n := &Node{Name: name, Role: role, dir: filepath.Join(c.opts.Dir, name)}
	var err error
	for _, p := range []*string{&n.Listen, &n.Addr, &n.HTTP} {
		if *p, err = c.ports.addr(); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(n.dir, 0o755); err != nil {
		return err
	}
	n.config = filepath.Join(n.dir, name+".toml")
	n.output = filepath.Join(n.dir, "output.log")
	n.bin = filepath.Join(c.opts.BinDir, "metaserver")
	if role == RoleReplica {
		n.bin = filepath.Join(c.opts.BinDir, "replicaserver")
		c.Replicas = append(c.Replicas, n)
	} else {
		c.Metas = append(c.Metas, n)
	}
	c.byName[name] = n
	c.byAddr[n.Addr] = n
	return nil
}

// dialMap maps every other server's advertised and listen addresses to the
// proxy of n's link to it.
func (c *Cluster) dialMap(n *Node) map[string]string {
	m := map[string]string{}
	for _, l := range c.Net.Links(n.Name, "") {
		peer := c.byName[l.To]
		if peer == nil {
			continue // ZooKeeper
		}
		m[peer.Addr] = l.Addr()
		m[peer.Listen] = l.Addr()
	}
	return m
}

// MetaAddrs are the meta servers' advertised addresses.
func (c *Cluster) MetaAddrs() []string {
	out := make([]string, len(c.Metas))
	for i, m := range c.Metas {
		out[i] = m.Addr
	}
	return out
}

func (c *Cluster) writeConfig(n *Node) error {
	var cfg any
	switch n.Role {
	case RoleMeta:
		mc := metaembed.DefaultConfig()
		m := &mc.MetaServer
		m.RPCAddress, m.AdvertiseAddress, m.HTTPAddress = n.Listen, n.Addr, n.HTTP
		m.ClusterName, m.ClusterRoot = "robust", "/robust"
		m.MetaServers = c.MetaAddrs()
		m.Store = metaembed.StoreZooKeeper
		m.Lease, m.Grace = config.Duration(c.opts.Lease), config.Duration(c.opts.Grace)
		m.GuardianInterval = config.Duration(250 * time.Millisecond)
		m.ProposalTimeout = config.Duration(2 * time.Second)
		// A learner stuck on a node whose replica of the partition failed
		// (an injected plog error) is moved to another node after this
		// (docs/robustness.md, known issues).
		m.LearnTimeout = config.Duration(20 * time.Second)
		m.DialAddresses = c.dialMap(n)
		mc.Zookeeper.Hosts = []string{c.Net.Link(n.Name, ZKNode).Addr()}
		mc.Zookeeper.Root = "/pegasus"
		mc.Zookeeper.SessionTimeout = config.Duration(3 * time.Second)
		mc.Logging.Output = filepath.Join(n.dir, "meta.log")
		cfg = &mc
	case RoleReplica:
		rc := replicaembed.DefaultConfig()
		rc.Replication.ClusterName = "robust"
		rc.Replication.DataDirs = []string{filepath.Join(n.dir, "data")}
		// Process crashes (SIGKILL) are the crashes here: the page cache
		// survives them; machine crashes are the in-process suite's.
		rc.Replication.PlogSync = "pagecache"
		rc.Replication.ConfigSyncInterval = config.Duration(500 * time.Millisecond)
		rc.Replication.GroupCheckInterval = config.Duration(time.Second)
		rc.Replication.PrepareTimeout = config.Duration(2 * time.Second)
		r := &rc.ReplicaServer
		r.RPCAddress, r.AdvertiseAddress, r.HTTPAddress = n.Listen, n.Addr, n.HTTP
		r.MetaServers = c.MetaAddrs()
		r.BeaconInterval = config.Duration(300 * time.Millisecond)
		rc.RPC.DialTimeout = config.Duration(time.Second)
		rc.RPC.MetaCallTimeout = config.Duration(time.Second)
		rc.RPC.DialAddresses = c.dialMap(n)
		rc.Pegasus.Server.BlockCacheSize = 8 * config.MiB
		rc.Pegasus.Server.MemtableSize = 4 * config.MiB
		rc.Logging.Output = filepath.Join(n.dir, "replica.log")
		cfg = &rc
	}
	var b bytes.Buffer
	if err := config.WriteTemplate(&b, cfg); err != nil {
		return err
	}
	return os.WriteFile(n.config, b.Bytes(), 0o644)
}

// Node returns the node named name, or nil.
func (c *Cluster) Node(name string) *Node { return c.byName[name] }

// NodeByAddr returns the node advertising addr, or nil.
func (c *Cluster) NodeByAddr(addr string) *Node { return c.byAddr[addr] }

// Nodes returns every meta and replica server.
func (c *Cluster) Nodes() []*Node { return append(append([]*Node(nil), c.Metas...), c.Replicas...) }

// start spawns the node's process with failpoints enabled; it dies with
// the test process.
func (n *Node) start() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.mu.cmd != nil {
		return fmt.Errorf("%s is running", n.Name)
	}
	out, err := os.OpenFile(n.output, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer out.Close()
	fmt.Fprintf(out, "==== starting %s at %s\n", n.Name, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(n.bin, "-c", n.config)
	cmd.Dir = n.dir
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Env = append(os.Environ(), failpoint.EnvVar+"=")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", n.Name, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	n.mu.cmd, n.mu.exited, n.mu.paused = cmd, exited, false
	return nil
}

// Running reports whether the node's process exists (running or paused).
func (n *Node) Running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.mu.cmd == nil {
		return false
	}
	select {
	case <-n.mu.exited:
		return false
	default:
		return true
	}
}

// Kill SIGKILLs the process and waits until it is gone.
func (n *Node) Kill() {
	n.mu.Lock()
	cmd, exited := n.mu.cmd, n.mu.exited
	n.mu.cmd = nil
	n.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-exited
}

// Restart starts a killed (or exited) process again.
func (n *Node) Restart() error {
	n.mu.Lock()
	if n.mu.cmd != nil {
		select {
		case <-n.mu.exited:
			n.mu.cmd = nil
		default:
		}
	}
	n.mu.Unlock()
	return n.start()
}

// Pause SIGSTOPs the process; Resume SIGCONTs it.
func (n *Node) Pause() error { return n.signal(syscall.SIGSTOP, true) }

// Resume continues a paused process.
func (n *Node) Resume() error { return n.signal(syscall.SIGCONT, false) }

func (n *Node) signal(sig syscall.Signal, paused bool) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.mu.cmd == nil {
		return fmt.Errorf("%s is not running", n.Name)
	}
	if err := n.mu.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("%v to %s: %w", sig, n.Name, err)
	}
	n.mu.paused = paused
	return nil
}

// stop ends the process gracefully (SIGTERM, then SIGKILL after timeout).
func (n *Node) stop(timeout time.Duration) {
	n.mu.Lock()
	cmd, exited, paused := n.mu.cmd, n.mu.exited, n.mu.paused
	n.mu.cmd = nil
	n.mu.Unlock()
	if cmd == nil {
		return
	}
	if paused {
		_ = cmd.Process.Signal(syscall.SIGCONT)
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(timeout):
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-exited
	}
}

// Output returns the last n bytes of the node's standard output and error.
func (n *Node) Output(max int) string { return tailFile(n.output, max) }

// LogPath is the node's structured log file.
func (n *Node) LogPath() string {
	if n.Role == RoleMeta {
		return filepath.Join(n.dir, "meta.log")
	}
	return filepath.Join(n.dir, "replica.log")
}

func tailFile(path string, max int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return string(b)
}

// SetFailpoint sets a failpoint of the node through its /debug/failpoints
// endpoint ("" turns it off).
func (n *Node) SetFailpoint(ctx context.Context, name, value string) error {
	u := "http://" + n.HTTP + "/debug/failpoints?name=" + url.QueryEscape(name) + "&value=" + url.QueryEscape(value)
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, u, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("failpoint %s=%q on %s: %w", name, value, n.Name, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("failpoint %s=%q on %s: %s: %s", name, value, n.Name, resp.Status, strings.TrimSpace(string(b)))
	}
	return nil
}

// Failpoints returns the node's failpoint states.
func (n *Node) Failpoints(ctx context.Context) ([]failpoint.State, error) {
	var st []failpoint.State
	err := getJSON(ctx, n.HTTP, "/debug/failpoints", &st)
	return st, err
}

// WaitHTTP polls the node's /healthz until it answers or ctx ends.
func (c *Cluster) WaitHTTP(ctx context.Context, n *Node) error {
	for {
		if !n.Running() {
			return fmt.Errorf("%s exited: %s", n.Name, n.Output(4000))
		}
		var s string
		if err := getText(ctx, n.HTTP, "/healthz", &s); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s does not answer on %s: %w", n.Name, n.HTTP, ctx.Err())
		case <-time.After(50 * time.Millisecond): // polling another process
		}
	}
}

// Close stops every process and proxy. ZooKeeper is stopped last.
func (c *Cluster) Close() {
	var wg sync.WaitGroup
	for _, n := range c.Nodes() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n.stop(10 * time.Second)
		}()
	}
	wg.Wait()
	c.Net.Close()
	if c.ZK != nil {
		_ = c.ZK.Stop()
	}
}

// CheckOutputs returns the first data race, panic or fatal error a daemon
// printed, or "".
func (c *Cluster) CheckOutputs() string {
	for _, n := range c.Nodes() {
		b, err := os.ReadFile(n.output)
		if err != nil {
			continue
		}
		for _, bad := range []string{"WARNING: DATA RACE", "panic: ", "fatal error: "} {
			if i := bytes.Index(b, []byte(bad)); i >= 0 {
				return fmt.Sprintf("%s reported %q:\n%s", n.Name, bad, b[i:min(len(b), i+4000)])
			}
		}
	}
	return ""
}

// getJSON GETs http://addr+path and decodes a 200 answer into v.
func getJSON(ctx context.Context, addr, path string, v any) error {
	var s string
	if err := getText(ctx, addr, path, &s); err != nil {
		return err
	}
	if err := json.Unmarshal([]byte(s), v); err != nil {
		return fmt.Errorf("GET %s%s: %w", addr, path, err)
	}
	return nil
}

func getText(ctx context.Context, addr, path string, out *string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s%s: %s: %s", addr, path, resp.Status, strings.TrimSpace(string(b)))
	}
	*out = string(b)
	return nil
}
