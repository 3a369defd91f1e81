package onebox

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pegasus-go/pegasus/client-go/admin"
	"github.com/pegasus-go/pegasus/shared/protocol"
	"github.com/pegasus-go/pegasus/shared/zktest"
)

// instanceName names instance i (0-based) of a role in cluster c.
func instanceName(c int, role string, i int) string {
	return ClusterName(c) + "/" + role + strconv.Itoa(i+1)
}

// absDir returns o.Dir made absolute.
func absDir(o *Options) (string, error) {
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return "", fmt.Errorf("onebox: %w", err)
	}
	return dir, nil
}

// Start starts a onebox in o.Dir and returns its state once every meta
// server answers and every replica server is alive in its cluster's node
// list. A onebox already running there is an error; a stopped one is
// started again over its data (tables survive onebox stop), with the same
// layout: zero layout fields of o (BasePort, Clusters, Metas, Replicas)
// take the previous values, and ZooKeeper follows the previous store. On failure
// every process Start started is stopped again and the error carries the
// tail of the failing instance's output; the directory is kept for
// inspection.
func Start(ctx context.Context, o Options) (*State, error) {
	if o.Dir == "" {
		o.Dir = DefaultDir
	}
	dir, err := absDir(&o)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("onebox: %w", err)
	}
	unlock, err := lock(dir)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if old, err := LoadState(dir); err == nil {
		var alive []string
		for _, in := range old.Instances {
			if in.Alive() {
				alive = append(alive, fmt.Sprintf("%s (pid %d)", in.Name, in.PID))
			}
		}
		if len(alive) > 0 {
			return nil, fmt.Errorf("onebox: a onebox is already running in %s: %s; run onebox stop (or onebox clean) first",
				dir, strings.Join(alive, ", "))
		}
		if err := o.sameLayout(old); err != nil {
			return nil, err
		}
	} else if !errors.Is(err, ErrNoOnebox) {
		return nil, err
	}
	o.setDefaults()
	if err := o.validate(); err != nil {
		return nil, fmt.Errorf("onebox: %w", err)
	}
	binDir := o.BinDir
	if binDir == "" {
		if binDir, err = FindBinDir(); err != nil {
			return nil, err
		}
	} else if !hasBinaries(binDir) {
		return nil, fmt.Errorf("%w in %s: run `make build` there or pass the directory holding them", ErrNoBinaries, binDir)
	}
	if binDir, err = filepath.Abs(binDir); err != nil {
		return nil, fmt.Errorf("onebox: %w", err)
	}
	if _, err := os.Stat(filepath.Join(binDir, CollectorBinary)); o.Collector && err != nil {
		return nil, fmt.Errorf("%w: no %s binary in %s (run `make build`)", ErrNoBinaries, CollectorBinary, binDir)
	}
	ports := Ports(o)
	if err := CheckPorts(ports); err != nil {
		return nil, fmt.Errorf("onebox: %w", err)
	}

	ctx, cancel := context.WithTimeout(ctx, o.StartTimeout)
	defer cancel()
	st, p := newState(&o, dir, binDir, ports)
	if err := st.save(); err != nil {
		return nil, err
	}
	fail := func(err error) (*State, error) {
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), o.StopTimeout+10*time.Second)
		defer cancel()
		if serr := stopAll(stopCtx, st, o.StopTimeout); serr != nil {
			err = errors.Join(err, serr)
		}
		return nil, err
	}
	if o.ZooKeeper {
		if err := startZooKeeper(ctx, &o, st); err != nil {
			return fail(err)
		}
	}
	for i := range st.Instances {
		in := &st.Instances[i]
		if in.Role == RoleZooKeeper {
			continue
		}
		if err := os.MkdirAll(in.Dir, 0o755); err != nil {
			return fail(fmt.Errorf("onebox: %w", err))
		}
		c := st.Cluster(in.Cluster)
		switch in.Role {
		case RoleMeta:
			err = p.metaConfig(&o, c, in)
		case RoleReplica:
			err = p.replicaConfig(&o, c, in)
		case RoleCollector:
			err = p.collectorConfig(&o, c, in)
		}
		if err != nil {
			return fail(err)
		}
	}
	// Meta servers first, each cluster's leader elected, then the
	// replica servers, which beacon to them, then the collectors.
	for _, role := range []string{RoleMeta, RoleReplica, RoleCollector} {
		var started []*Instance
		for i := range st.Instances {
			in := &st.Instances[i]
			if in.Role != role {
				continue
			}
			err := spawn(in, o.DieWithParent)
			if serr := st.save(); err == nil {
				err = serr
			}
			if err != nil {
				return fail(withOutput(err, in))
			}
			o.Logger.Info("started", "instance", in.Name, "pid", in.PID, "rpc", in.RPCAddress)
			started = append(started, in)
		}
		var err error
		switch role {
		case RoleMeta:
			err = waitMetas(ctx, st, started)
		case RoleReplica:
			err = waitReplicas(ctx, st)
		case RoleCollector:
			err = waitHealthy(ctx, started)
		}
		if err != nil {
			return fail(err)
		}
	}
	return st, nil
}

// sameLayout fills the zero layout fields of o from the state of a
// stopped onebox, and refuses a different layout: the instances' data and
// the store's records are tied to their addresses.
func (o *Options) sameLayout(old *State) error {
	if len(old.Clusters) == 0 {
		return nil // a start that failed before anything was laid out
	}
	// Settings left out keep the previous ones (e.g. a plog_sync choice).
	if o.MetaSettings == nil {
		o.MetaSettings = old.MetaSettings
	}
	if o.ReplicaSettings == nil {
		o.ReplicaSettings = old.ReplicaSettings
	}
	if o.CollectorSettings == nil {
		o.CollectorSettings = old.CollectorSettings
	}
	prev := Options{
		BasePort: old.BasePort, Clusters: len(old.Clusters),
		Metas: len(old.Clusters[0].MetaServers), Replicas: len(old.Clusters[0].Replicas),
		ZooKeeper: old.Store == "zookeeper",
	}
	fill := func(field *int, prevVal int, name string) error {
		if *field == 0 {
			*field = prevVal
		} else if *field != prevVal {
			return fmt.Errorf("onebox: the stopped onebox in %s has %s %d, not %d: start it with the same layout, or remove it first (onebox clean)",
				old.Dir, name, prevVal, *field)
		}
		return nil
	}
	return errors.Join(
		fill(&o.BasePort, prev.BasePort, "base port"),
		fill(&o.Clusters, prev.Clusters, "clusters"),
		fill(&o.Metas, prev.Metas, "meta servers per cluster"),
		fill(&o.Replicas, prev.Replicas, "replica servers per cluster"),
		func() error {
			if o.ZooKeeper && !prev.ZooKeeper {
				return fmt.Errorf("onebox: the stopped onebox in %s uses the local store, not ZooKeeper: remove it first (onebox clean)", old.Dir)
			}
			o.ZooKeeper = prev.ZooKeeper
			return nil
		}(),
	)
}

// newState lays out the instances of a new start.
func newState(o *Options, dir, binDir string, ports []Port) (*State, *plan) {
	addr := map[string]map[string]string{}
	for _, pt := range ports {
		if addr[pt.Instance] == nil {
			addr[pt.Instance] = map[string]string{}
		}
		addr[pt.Instance][pt.Use] = pt.Addr()
	}
	st := &State{Version: stateVersion, Dir: dir, Store: "local", BasePort: o.BasePort, BinDir: binDir,
		MetaSettings: o.MetaSettings, ReplicaSettings: o.ReplicaSettings, CollectorSettings: o.CollectorSettings}
	p := &plan{}
	if o.ZooKeeper {
		st.Store = "zookeeper"
		p.zookeeper = addr[zookeeperName]["client"]
		zdir := filepath.Join(dir, zookeeperName)
		st.Instances = append(st.Instances, Instance{
			Name: zookeeperName, Role: RoleZooKeeper, RPCAddress: p.zookeeper,
			Dir: zdir, Log: filepath.Join(zdir, "zookeeper.log"),
		})
	}
	for c := range o.Clusters {
		cl := Cluster{Name: ClusterName(c), ID: c + 1}
		for _, role := range []string{RoleMeta, RoleReplica} {
			n, bin := o.Metas, MetaBinary
			if role == RoleReplica {
				n, bin = o.Replicas, ReplicaBinary
			}
			for i := range n {
				name := instanceName(c, role, i)
				idir := filepath.Join(dir, filepath.FromSlash(name))
				cfg := filepath.Join(idir, "config.toml")
				in := Instance{
					Name: name, Role: role, Cluster: cl.Name,
					RPCAddress: addr[name]["rpc"], HTTPAddress: addr[name]["http"],
					Dir: idir, Config: cfg,
					Log:    filepath.Join(idir, bin+".log"),
					Output: filepath.Join(idir, "output.log"),
					Binary: filepath.Join(binDir, bin), Args: []string{"-c", cfg},
				}
				if role == RoleMeta {
					cl.MetaServers = append(cl.MetaServers, in.RPCAddress)
				} else {
					cl.Replicas = append(cl.Replicas, in.RPCAddress)
				}
				st.Instances = append(st.Instances, in)
			}
		}
		if o.Collector {
			name := instanceName(c, RoleCollector, 0)
			idir := filepath.Join(dir, filepath.FromSlash(name))
			cfg := filepath.Join(idir, "config.toml")
			in := Instance{
				Name: name, Role: RoleCollector, Cluster: cl.Name, HTTPAddress: addr[name]["http"],
				Dir: idir, Config: cfg, Log: filepath.Join(idir, CollectorBinary+".log"),
				Output: filepath.Join(idir, "output.log"),
				Binary: filepath.Join(binDir, CollectorBinary), Args: []string{"-c", cfg},
			}
			cl.Collector = "http://" + in.HTTPAddress + "/"
			st.Instances = append(st.Instances, in)
		}
		st.Clusters = append(st.Clusters, cl)
	}
	p.clusters = st.Clusters
	return st, p
}

// startZooKeeper starts the ZooKeeper instance and records it.
func startZooKeeper(ctx context.Context, o *Options, st *State) error {
	in, err := st.Instance(zookeeperName)
	if err != nil {
		return err
	}
	port, _ := strconv.Atoi(in.RPCAddress[strings.LastIndexByte(in.RPCAddress, ':')+1:])
	deadline, _ := ctx.Deadline()
	zk, err := zktest.Run(ctx, zktest.Options{
		Dir: in.Dir, Port: port, Detached: !o.DieWithParent,
		StartTimeout: time.Until(deadline), Logger: o.Logger,
	})
	if err != nil {
		return fmt.Errorf("onebox: zookeeper: %w", err)
	}
	if err := recordPid(in, zk.Pid()); err != nil {
		zk.Kill()
		return err
	}
	o.Logger.Info("started", "instance", in.Name, "pid", in.PID, "addr", in.RPCAddress)
	return st.save()
}

// withOutput adds the tail of the instance's output and log to err.
func withOutput(err error, in *Instance) error {
	msg := fmt.Sprintf("%v\n--- %s (last lines):\n%s", err, in.Output, tail(in.Output, 15))
	if in.Log != "" {
		msg += fmt.Sprintf("\n--- %s (last lines):\n%s", in.Log, tail(in.Log, 15))
	}
	return errors.New(msg)
}

// checkAlive fails when one of ins has died, with its output.
func checkAlive(ins []*Instance) error {
	for _, in := range ins {
		if !in.Alive() {
			return withOutput(fmt.Errorf("onebox: %s (pid %d) exited", in.Name, in.PID), in)
		}
	}
	return nil
}

var httpClient = &http.Client{Timeout: 2 * time.Second}

// healthy reports whether addr's /healthz answers 200.
func healthy(ctx context.Context, addr string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/healthz", nil)
	if err != nil {
		return false
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// poll calls check every interval until it returns true or an error, or
// ctx ends; last describes what was awaited for the timeout error.
func poll(ctx context.Context, what string, check func(ctx context.Context) (bool, string, error)) error {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	last := ""
	for {
		ok, state, err := check(ctx)
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		last = state
		select {
		case <-ctx.Done():
			return fmt.Errorf("onebox: timed out waiting for %s (%s): %w", what, last, ctx.Err())
		case <-t.C:
		}
	}
}

// waitMetas waits until every started meta server answers /healthz and
// every cluster has a leader answering ClusterInfo.
func waitMetas(ctx context.Context, st *State, metas []*Instance) error {
	err := poll(ctx, "the meta servers", func(ctx context.Context) (bool, string, error) {
		if err := checkAlive(metas); err != nil {
			return false, "", err
		}
		for _, in := range metas {
			if !healthy(ctx, in.HTTPAddress) {
				return false, in.Name + " does not answer " + in.HTTPAddress + "/healthz", nil
			}
		}
		return true, "", nil
	})
	if err != nil {
		return err
	}
	for _, c := range st.Clusters {
		err := withAdmin(c.MetaServers, func(ac *admin.Client) error {
			return poll(ctx, c.Name+"'s meta leader", func(ctx context.Context) (bool, string, error) {
				if err := checkAlive(metas); err != nil {
					return false, "", err
				}
				cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				defer cancel()
				info, err := ac.ClusterInfo(cctx)
				if err != nil {
					return false, err.Error(), nil
				}
				return info.MetaLeader != "", "no leader yet", nil
			})
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// waitHealthy waits until every instance of ins answers /healthz.
func waitHealthy(ctx context.Context, ins []*Instance) error {
	return poll(ctx, "the collectors", func(ctx context.Context) (bool, string, error) {
		if err := checkAlive(ins); err != nil {
			return false, "", err
		}
		for _, in := range ins {
			if !healthy(ctx, in.HTTPAddress) {
				return false, in.Name + " does not answer " + in.HTTPAddress + "/healthz", nil
			}
		}
		return true, "", nil
	})
}

// waitReplicas waits until every replica server of every cluster is alive
// in its cluster's node list.
func waitReplicas(ctx context.Context, st *State) error {
	var all []*Instance
	for i := range st.Instances {
		if r := st.Instances[i].Role; r == RoleMeta || r == RoleReplica {
			all = append(all, &st.Instances[i])
		}
	}
	for _, c := range st.Clusters {
		err := withAdmin(c.MetaServers, func(ac *admin.Client) error {
			return poll(ctx, c.Name+"'s replica servers", func(ctx context.Context) (bool, string, error) {
				if err := checkAlive(all); err != nil {
					return false, "", err
				}
				return nodesAlive(ctx, ac, c.Replicas)
			})
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// nodesAlive reports whether every address in want is NS_ALIVE.
func nodesAlive(ctx context.Context, ac *admin.Client, want []string) (bool, string, error) {
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	nodes, err := ac.ListNodes(cctx, protocol.NodeInvalid)
	if err != nil {
		return false, err.Error(), nil
	}
	alive := map[string]bool{}
	for _, n := range nodes {
		if n.Status == protocol.NodeAlive {
			alive[n.Address] = true
		}
	}
	var missing []string
	for _, a := range want {
		if !alive[a] {
			missing = append(missing, a)
		}
	}
	if len(missing) > 0 {
		return false, "not alive yet: " + strings.Join(missing, ","), nil
	}
	return true, "", nil
}

func withAdmin(metas []string, fn func(*admin.Client) error) error {
	ac, err := admin.New(admin.Config{MetaServers: metas, AttemptTimeout: time.Second})
	if err != nil {
		return fmt.Errorf("onebox: %w", err)
	}
	defer ac.Close()
	return fn(ac)
}

// Stop stops every process of the onebox in o.Dir: SIGTERM to all, then,
// after o.StopTimeout, SIGKILL to those still there. It returns an error
// naming any process that survived. Replica servers are signalled first,
// then meta servers, then ZooKeeper, so the daemons can still reach their
// store while they shut down.
func Stop(ctx context.Context, o Options) error {
	o.setDefaults()
	dir, err := absDir(&o)
	if err != nil {
		return err
	}
	unlock, err := lock(dir)
	if err != nil {
		return err
	}
	defer unlock()
	st, err := LoadState(dir)
	if err != nil {
		return err
	}
	return stopAll(ctx, st, o.StopTimeout)
}

// stopAll stops every instance of st by role and saves the state.
func stopAll(ctx context.Context, st *State, timeout time.Duration) error {
	var errs []error
	for _, role := range []string{RoleCollector, RoleReplica, RoleMeta, RoleZooKeeper} {
		var ins []*Instance
		for i := range st.Instances {
			if st.Instances[i].Role == role {
				ins = append(ins, &st.Instances[i])
			}
		}
		if err := stopInstances(ctx, ins, timeout); err != nil {
			errs = append(errs, err)
		}
	}
	if err := st.save(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// stopInstances sends SIGTERM (and SIGCONT, so a stopped process can act
// on it) to ins, waits up to timeout, SIGKILLs the rest and verifies that
// none is left. Stopped instances get PID 0.
func stopInstances(ctx context.Context, ins []*Instance, timeout time.Duration) error {
	var errs []error
	for _, in := range ins {
		if err := in.signal(syscall.SIGTERM); err != nil {
			errs = append(errs, err)
		}
		if err := in.signal(syscall.SIGCONT); err != nil {
			errs = append(errs, err)
		}
	}
	tctx, cancel := context.WithTimeout(ctx, timeout)
	left := waitGone(tctx, ins)
	cancel()
	for _, in := range left {
		if err := in.signal(syscall.SIGKILL); err != nil {
			errs = append(errs, err)
		}
	}
	if len(left) > 0 {
		kctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		left = waitGone(kctx, left)
		cancel()
	}
	for _, in := range ins {
		if !slices.Contains(left, in) {
			in.PID, in.StartTicks = 0, 0
		}
	}
	for _, in := range left {
		errs = append(errs, fmt.Errorf("onebox: %s (pid %d) is still running after SIGKILL", in.Name, in.PID))
	}
	return errors.Join(errs...)
}

// InstanceStatus is one line of Status.
type InstanceStatus struct {
	Name        string    `json:"name"`
	Role        string    `json:"role"`
	Cluster     string    `json:"cluster,omitempty"`
	RPCAddress  string    `json:"rpc_address"`
	HTTPAddress string    `json:"http_address,omitempty"`
	PID         int       `json:"pid"`
	Alive       bool      `json:"alive"`
	State       ProcState `json:"state"`
	Log         string    `json:"log"`
}

// Status lists every instance of the onebox in o.Dir with the state of its
// process. It reads the state file and /proc only.
func Status(o Options) (*State, []InstanceStatus, error) {
	o.setDefaults()
	dir, err := absDir(&o)
	if err != nil {
		return nil, nil, err
	}
	st, err := LoadState(dir)
	if err != nil {
		return nil, nil, err
	}
	out := make([]InstanceStatus, len(st.Instances))
	for i := range st.Instances {
		in := &st.Instances[i]
		ps := in.State()
		out[i] = InstanceStatus{
			Name: in.Name, Role: in.Role, Cluster: in.Cluster, RPCAddress: in.RPCAddress,
			HTTPAddress: in.HTTPAddress, PID: in.PID, Alive: ps != ProcDead, State: ps, Log: in.Log,
		}
	}
	return st, out, nil
}

// Clean stops the onebox in o.Dir (if any) and removes the directory.
func Clean(ctx context.Context, o Options) error {
	o.setDefaults()
	dir, err := absDir(&o)
	if err != nil {
		return err
	}
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err := Stop(ctx, o); err != nil && !errors.Is(err, ErrNoOnebox) {
		return fmt.Errorf("%w; %s kept", err, dir)
	}
	if _, err := os.Stat(filepath.Join(dir, StateFile)); errors.Is(err, os.ErrNotExist) {
		// Refuse to delete a directory that is not a onebox's.
		if entries, _ := os.ReadDir(dir); len(entries) > 1 || (len(entries) == 1 && entries[0].Name() != lockFile) {
			return fmt.Errorf("onebox: %s has no %s: not removing a directory onebox did not make", dir, StateFile)
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("onebox: %w", err)
	}
	return nil
}

// ParseSignal parses KILL, TERM, STOP or CONT (with or without SIG).
func ParseSignal(s string) (syscall.Signal, error) {
	switch strings.TrimPrefix(strings.ToUpper(strings.TrimSpace(s)), "SIG") {
	case "KILL":
		return syscall.SIGKILL, nil
	case "TERM":
		return syscall.SIGTERM, nil
	case "STOP":
		return syscall.SIGSTOP, nil
	case "CONT":
		return syscall.SIGCONT, nil
	}
	return 0, fmt.Errorf("onebox: signal %q: want KILL, TERM, STOP or CONT", s)
}

// StopInstance sends sig to one instance. After SIGKILL it waits until the
// process is gone; after SIGTERM it waits up to o.StopTimeout and then
// fails (the process keeps running; stop-instance with KILL ends it).
// SIGSTOP and SIGCONT return at once. An instance that is not running is
// an error for every signal.
func StopInstance(ctx context.Context, o Options, name string, sig syscall.Signal) error {
	return withInstance(&o, name, func(st *State, in *Instance) error {
		if !in.Alive() {
			return fmt.Errorf("onebox: %s is not running", name)
		}
		if err := in.signal(sig); err != nil {
			return err
		}
		if sig != syscall.SIGKILL && sig != syscall.SIGTERM {
			return nil
		}
		timeout := o.StopTimeout
		if sig == syscall.SIGKILL {
			timeout = 10 * time.Second
		} else if in.State() == ProcStopped {
			in.signal(syscall.SIGCONT) // let it act on SIGTERM
		}
		wctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		if left := waitGone(wctx, []*Instance{in}); len(left) > 0 {
			return fmt.Errorf("onebox: %s (pid %d) still runs %v after %v", name, in.PID, timeout, sig)
		}
		in.PID, in.StartTicks = 0, 0
		return st.save()
	})
}

// StartInstance starts one instance that is not running, with the
// configuration onebox start wrote, and waits until it answers (/healthz,
// or ruok for ZooKeeper). It does not wait for a replica server to be
// alive in the node list.
func StartInstance(ctx context.Context, o Options, name string) error {
	return withInstance(&o, name, func(st *State, in *Instance) error {
		if in.Alive() {
			return fmt.Errorf("onebox: %s is already running (pid %d)", name, in.PID)
		}
		ctx, cancel := context.WithTimeout(ctx, o.StartTimeout)
		defer cancel()
		if in.Role == RoleZooKeeper {
			return startZooKeeper(ctx, &o, st)
		}
		if err := spawn(in, o.DieWithParent); err != nil {
			return withOutput(err, in)
		}
		if err := st.save(); err != nil {
			return err
		}
		o.Logger.Info("started", "instance", in.Name, "pid", in.PID, "rpc", in.RPCAddress)
		return poll(ctx, name, func(ctx context.Context) (bool, string, error) {
			if err := checkAlive([]*Instance{in}); err != nil {
				return false, "", err
			}
			return healthy(ctx, in.HTTPAddress), "no answer from " + in.HTTPAddress + "/healthz", nil
		})
	})
}

// withInstance runs fn on the named instance of the onebox in o.Dir with the
// onebox lock held, after applying o's defaults.
func withInstance(o *Options, name string, fn func(st *State, in *Instance) error) error {
	o.setDefaults()
	dir, err := absDir(o)
	if err != nil {
		return err
	}
	unlock, err := lock(dir)
	if err != nil {
		return err
	}
	defer unlock()
	st, err := LoadState(dir)
	if err != nil {
		return err
	}
	in, err := st.Instance(name)
	if err != nil {
		return err
	}
	return fn(st, in)
}
