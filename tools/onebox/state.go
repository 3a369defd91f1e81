package onebox

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Roles of instances.
const (
	RoleMeta      = "meta"
	RoleReplica   = "replica"
	RoleZooKeeper = "zookeeper"
	RoleCollector = "collector"

	roleMeta    = RoleMeta
	roleReplica = RoleReplica
)

// zookeeperName is the instance name of the shared ZooKeeper.
const zookeeperName = "zookeeper"

// Files in the onebox directory.
const (
	StateFile = "state.json"
	lockFile  = "onebox.lock"
)

// stateVersion is the version of the state file's format.
const stateVersion = 1

// State is the content of <dir>/state.json: what was started and where.
// Every path in it is absolute.
type State struct {
	Version int    `json:"version"`
	Dir     string `json:"dir"`
	// Store is the coordination store: "local" or "zookeeper".
	Store    string `json:"store"`
	BasePort int    `json:"base_port"`
	BinDir   string `json:"bin_dir"`
	// Clusters in start order.
	Clusters []Cluster `json:"clusters"`
	// Instances in start order: the ZooKeeper (if any), then every meta
	// server, then every replica server.
	Instances []Instance `json:"instances"`
	// The "section.key=value" settings the onebox was started with; a
	// restart that gives none keeps them.
	MetaSettings      []string `json:"meta_settings,omitempty"`
	ReplicaSettings   []string `json:"replica_settings,omitempty"`
	CollectorSettings []string `json:"collector_settings,omitempty"`
}

// Cluster is one cluster of a onebox.
type Cluster struct {
	Name string `json:"name"`
	// ID is the cluster's id in [duplication-group].
	ID          int      `json:"id"`
	MetaServers []string `json:"meta_servers"`
	Replicas    []string `json:"replica_servers"`
	// Collector is the URL of the cluster's collector dashboard ("" when
	// started without collectors).
	Collector string `json:"collector,omitempty"`
}

// Instance is one process of a onebox.
type Instance struct {
	// Name is "<cluster>/meta<i>", "<cluster>/replica<j>" or "zookeeper".
	Name    string `json:"name"`
	Role    string `json:"role"`
	Cluster string `json:"cluster,omitempty"`
	// RPCAddress is the RPC (or ZooKeeper client) address; HTTPAddress
	// the HTTP endpoint (none for ZooKeeper).
	RPCAddress  string `json:"rpc_address"`
	HTTPAddress string `json:"http_address,omitempty"`
	// Dir is the instance's directory; Config its configuration file;
	// Log its own log; Output the file its stdout and stderr go to.
	Dir    string `json:"dir"`
	Config string `json:"config,omitempty"`
	Log    string `json:"log"`
	Output string `json:"output,omitempty"`
	// Binary and Args start the instance (none for ZooKeeper, which is
	// started through shared/zktest).
	Binary string   `json:"binary,omitempty"`
	Args   []string `json:"args,omitempty"`
	// PID is the process id of the last start (0: never started or
	// stopped by onebox); StartTicks its start time in clock ticks since
	// boot (/proc/<pid>/stat), which tells a reused pid apart.
	PID        int    `json:"pid"`
	StartTicks uint64 `json:"start_ticks"`
}

// Instance returns the instance named name.
func (s *State) Instance(name string) (*Instance, error) {
	for i := range s.Instances {
		if s.Instances[i].Name == name {
			return &s.Instances[i], nil
		}
	}
	names := make([]string, len(s.Instances))
	for i, in := range s.Instances {
		names[i] = in.Name
	}
	return nil, fmt.Errorf("onebox: no instance %q in %s (instances: %v)", name, s.Dir, names)
}

// Cluster returns the cluster named name, or nil.
func (s *State) Cluster(name string) *Cluster {
	for i := range s.Clusters {
		if s.Clusters[i].Name == name {
			return &s.Clusters[i]
		}
	}
	return nil
}

// ErrNoOnebox means the directory holds no state file.
var ErrNoOnebox = errors.New("onebox: no onebox here")

// LoadState reads <dir>/state.json.
func LoadState(dir string) (*State, error) {
	p := filepath.Join(dir, StateFile)
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s does not exist (start one with onebox start)", ErrNoOnebox, p)
	}
	if err != nil {
		return nil, fmt.Errorf("onebox: %w", err)
	}
	if len(b) > 16<<20 {
		return nil, fmt.Errorf("onebox: %s is %d bytes, not a state file", p, len(b))
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("onebox: %s: %w", p, err)
	}
	if s.Version != stateVersion {
		return nil, fmt.Errorf("onebox: %s: state version %d, want %d (remove the directory with onebox clean)", p, s.Version, stateVersion)
	}
	return &s, nil
}

// save writes the state file atomically.
func (s *State) save() error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("onebox: %w", err)
	}
	p := filepath.Join(s.Dir, StateFile)
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("onebox: %w", err)
	}
	if err := os.Rename(tmp, p); err != nil {
		return fmt.Errorf("onebox: %w", err)
	}
	return nil
}

// lock takes the directory's lock, so two onebox commands never change
// the same onebox at once. The lock is released by the returned function
// (or when the process exits).
func lock(dir string) (func(), error) {
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("%w: directory %s does not exist (start one with onebox start)", ErrNoOnebox, dir)
	}
	f, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("onebox: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := os.ReadFile(f.Name())
		f.Close()
		return nil, fmt.Errorf("onebox: another onebox command (pid %q) is working on %s: %w", strings.TrimSpace(string(holder)), dir, err)
	}
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())), 0)
	}
	return func() {
		f.Truncate(0)
		f.Close() // releases the lock
	}, nil
}
