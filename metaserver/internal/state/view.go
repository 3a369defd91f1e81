package state

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"

	"github.com/pegasus-go/pegasus/shared/coord"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

// MaxPartitionCount is the largest partition count of a table.
const MaxPartitionCount = 1024

// App is one table in the View: its info, its partitions (index = partition
// index) and the store versions they were read at.
type App struct {
	Info       protocol.AppInfo
	Version    int32
	Partitions []Partition
	// Dups holds the table's duplications by dupid (nil when none);
	// DupDirStored says whether its duplication node exists.
	Dups         map[int32]*AppDup
	DupDirStored bool
}

// Partition is one partition's configuration, its DDD evidence and the
// versions of their nodes.
type Partition struct {
	Config  protocol.PartitionConfiguration
	Version int32
	// Drops is the partition's drops record; DropsStored says whether its
	// node exists (at DropsVersion).
	Drops        Drops
	DropsVersion int32
	DropsStored  bool
}

// View is the in-memory copy of a cluster's state. The maps and the App
// values belong to the View; readers outside the owner's lock must copy.
type View struct {
	// Apps holds every table, dropped ones included, by app id.
	Apps map[int32]*App
	// NextAppID is the id the next created table gets.
	NextAppID int32
	// Nodes holds every replica server ever recorded.
	Nodes map[string]bool

	counterVersion int32
}

// AppByName returns the table named name that is not dropped, or nil.
// Names are unique among tables that are not dropped.
func (v *View) AppByName(name string) *App {
	for _, a := range v.Apps {
		if a.Info.Name == name && a.Info.Status != protocol.AppDropped {
			return a
		}
	}
	return nil
}

// SortedApps returns the tables ordered by app id.
func (v *View) SortedApps() []*App {
	ids := slices.Sorted(maps.Keys(v.Apps))
	out := make([]*App, len(ids))
	for i, id := range ids {
		out[i] = v.Apps[id]
	}
	return out
}

// Configs returns a copy of the table's partition configurations.
func (a *App) Configs() []protocol.PartitionConfiguration {
	out := make([]protocol.PartitionConfiguration, len(a.Partitions))
	for i := range a.Partitions {
		out[i] = CloneConfig(a.Partitions[i].Config)
	}
	return out
}

// CloneConfig returns a deep copy of c.
func CloneConfig(c protocol.PartitionConfiguration) protocol.PartitionConfiguration {
	c.Secondaries = slices.Clone(c.Secondaries)
	c.LastDrops = slices.Clone(c.LastDrops)
	return c
}

// CloneApp returns a deep copy of a.
func CloneApp(a protocol.AppInfo) protocol.AppInfo {
	a.Envs = maps.Clone(a.Envs)
	return a
}

// Init creates the cluster's skeleton nodes if they are missing. It is
// idempotent and safe to run from several meta servers at once.
func Init(ctx context.Context, s coord.Store, l Layout) error {
	for _, p := range []string{l.Apps(), l.Meta(), l.Nodes()} {
		if err := coord.EnsurePath(ctx, s, p); err != nil {
			return fmt.Errorf("state: init %s: %w", p, err)
		}
	}
	_, err := s.Create(ctx, l.NextAppID(), []byte("1"), coord.Persistent)
	if err != nil && !errors.Is(err, coord.ErrNodeExists) {
		return fmt.Errorf("state: init app id counter: %w", err)
	}
	return nil
}

// Load reads the whole cluster state. Init must have run.
func Load(ctx context.Context, s coord.Store, l Layout) (*View, error) {
	v := &View{Apps: map[int32]*App{}, Nodes: map[string]bool{}}
	data, st, err := s.Get(ctx, l.NextAppID())
	if err != nil {
		return nil, fmt.Errorf("state: load app id counter: %w", err)
	}
	next, err := strconv.ParseInt(string(data), 10, 32)
	if err != nil || next < 1 {
		return nil, fmt.Errorf("state: app id counter holds %q", data)
	}
	v.NextAppID, v.counterVersion = int32(next), st.Version

	ids, _, err := s.Children(ctx, l.Apps())
	if err != nil {
		return nil, fmt.Errorf("state: list apps: %w", err)
	}
	for _, name := range ids {
		id, err := strconv.ParseInt(name, 10, 32)
		if err != nil {
			continue
		}
		app, err := loadApp(ctx, s, l, int32(id))
		if errors.Is(err, coord.ErrNoNode) {
			continue // purged while we read
		}
		if err != nil {
			return nil, err
		}
		v.Apps[app.Info.AppID] = app
	}
	nodes, _, err := s.Children(ctx, l.Nodes())
	if err != nil {
		return nil, fmt.Errorf("state: list nodes: %w", err)
	}
	for _, n := range nodes {
		v.Nodes[n] = true
	}
	return v, nil
}

func loadApp(ctx context.Context, s coord.Store, l Layout, id int32) (*App, error) {
	data, st, err := s.Get(ctx, l.App(id))
	if err != nil {
		return nil, fmt.Errorf("state: load app %d: %w", id, err)
	}
	info, err := DecodeApp(data)
	if err != nil {
		return nil, err
	}
	if info.AppID != id {
		return nil, fmt.Errorf("state: app node %d holds app id %d", id, info.AppID)
	}
	app := &App{Info: info, Version: st.Version, Partitions: make([]Partition, info.PartitionCount)}
	for i := range app.Partitions {
		data, st, err := s.Get(ctx, l.Partition(id, int32(i)))
		if err != nil {
			return nil, fmt.Errorf("state: load partition %d.%d: %w", id, i, err)
		}
		cfg, err := DecodePartition(data)
		if err != nil {
			return nil, err
		}
		if cfg.Gpid != (protocol.Gpid{AppID: id, PartitionIndex: int32(i)}) {
			return nil, fmt.Errorf("state: partition node %d.%d holds %v", id, i, cfg.Gpid)
		}
		app.Partitions[i] = Partition{Config: cfg, Version: st.Version}
		data, st, err = s.Get(ctx, l.PartitionDrops(id, int32(i)))
		switch {
		case errors.Is(err, coord.ErrNoNode):
		case err != nil:
			return nil, fmt.Errorf("state: load drops of partition %d.%d: %w", id, i, err)
		default:
			d, err := DecodeDrops(data)
			if err != nil {
				return nil, fmt.Errorf("state: partition %d.%d: %w", id, i, err)
			}
			p := &app.Partitions[i]
			p.Drops, p.DropsVersion, p.DropsStored = d, st.Version, true
		}
	}
	if err := loadDups(ctx, s, l, app); err != nil {
		return nil, err
	}
	return app, nil
}
