package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/pegasus-go/pegasus/shared/coord"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

// ErrFenced is returned by a Writer with a Fence when the fence node is
// gone: this meta server is no longer the leader and must stop writing.
var ErrFenced = errors.New("state: leadership lost; write refused")

// ErrConflict is returned when a node changed since the View read it (the
// View is stale and must be reloaded).
var ErrConflict = errors.New("state: concurrent change in the store")

// Writer applies changes to the store and, once the store accepted them, to
// a View.
type Writer struct {
	Store  coord.Store
	Layout Layout
	// Fence, if not empty, is a node every transaction checks first (the
	// leader's election node).
	Fence string
}

func (w *Writer) multi(ctx context.Context, ops ...coord.Op) error {
	off := 0
	if w.Fence != "" {
		ops = append([]coord.Op{coord.CheckOp(w.Fence, coord.AnyVersion)}, ops...)
		off = 1
	}
	_, err := w.Store.Multi(ctx, ops...)
	if err == nil {
		return nil
	}
	var me *coord.MultiError
	if errors.As(err, &me) {
		if me.Index < off {
			return fmt.Errorf("%w: %v", ErrFenced, err)
		}
		if errors.Is(err, coord.ErrBadVersion) || errors.Is(err, coord.ErrNodeExists) || errors.Is(err, coord.ErrNoNode) {
			return fmt.Errorf("%w: %v", ErrConflict, err)
		}
	}
	if errors.Is(err, coord.ErrSessionLost) || errors.Is(err, coord.ErrClosed) {
		return fmt.Errorf("%w: %v", ErrFenced, err)
	}
	return err
}

// CreateApp stores a new table with id v.NextAppID (info.AppID must be
// that id) and its partitions, advancing the counter in the same
// transaction, then adds it to v.
func (w *Writer) CreateApp(ctx context.Context, v *View, info protocol.AppInfo, parts []protocol.PartitionConfiguration) (*App, error) {
	if info.AppID != v.NextAppID {
		return nil, fmt.Errorf("state: create app with id %d, counter at %d", info.AppID, v.NextAppID)
	}
	if int(info.PartitionCount) != len(parts) {
		return nil, fmt.Errorf("state: create app with %d partitions, %d configurations", info.PartitionCount, len(parts))
	}
	ops := make([]coord.Op, 0, len(parts)+2)
	ops = append(ops,
		coord.SetOp(w.Layout.NextAppID(), []byte(strconv.Itoa(int(info.AppID)+1)), v.counterVersion),
		coord.CreateOp(w.Layout.App(info.AppID), EncodeApp(info), coord.Persistent))
	for i, c := range parts {
		ops = append(ops, coord.CreateOp(w.Layout.Partition(info.AppID, int32(i)), EncodePartition(c), coord.Persistent))
	}
	if err := w.multi(ctx, ops...); err != nil {
		return nil, err
	}
	v.NextAppID++
	v.counterVersion++
	app := &App{Info: CloneApp(info), Partitions: make([]Partition, len(parts))}
	for i, c := range parts {
		app.Partitions[i] = Partition{Config: CloneConfig(c)}
	}
	v.Apps[info.AppID] = app
	return app, nil
}

// SetApp replaces a table's info (same id and partition count).
func (w *Writer) SetApp(ctx context.Context, app *App, info protocol.AppInfo) error {
	if info.AppID != app.Info.AppID || info.PartitionCount != app.Info.PartitionCount {
		return fmt.Errorf("state: set app %d: id or partition count changed", app.Info.AppID)
	}
	if err := w.multi(ctx, coord.SetOp(w.Layout.App(info.AppID), EncodeApp(info), app.Version)); err != nil {
		return err
	}
	app.Info = CloneApp(info)
	app.Version++
	return nil
}

// SetPartitions replaces the configurations of some partitions of a table
// in one transaction. Each configuration's Gpid says which.
func (w *Writer) SetPartitions(ctx context.Context, app *App, cfgs ...protocol.PartitionConfiguration) error {
	ops := make([]coord.Op, 0, len(cfgs))
	for _, c := range cfgs {
		i := c.Gpid.PartitionIndex
		if c.Gpid.AppID != app.Info.AppID || i < 0 || int(i) >= len(app.Partitions) {
			return fmt.Errorf("state: set partition %v of app %d: no such partition", c.Gpid, app.Info.AppID)
		}
		ops = append(ops, coord.SetOp(w.Layout.Partition(c.Gpid.AppID, i), EncodePartition(c), app.Partitions[i].Version))
	}
	if err := w.multi(ctx, ops...); err != nil {
		return err
	}
	for _, c := range cfgs {
		p := &app.Partitions[c.Gpid.PartitionIndex]
		p.Config = CloneConfig(c)
		p.Version++
	}
	return nil
}

// PartitionUpdate is one partition's new configuration and, when Drops is
// not nil, its new drops record.
type PartitionUpdate struct {
	Config protocol.PartitionConfiguration
	Drops  *Drops
}

// UpdatePartitions replaces the configurations (and drops records) of some
// partitions of a table in one transaction. Each configuration's Gpid says
// which.
func (w *Writer) UpdatePartitions(ctx context.Context, app *App, ups ...PartitionUpdate) error {
	ops := make([]coord.Op, 0, 2*len(ups))
	for _, u := range ups {
		c := u.Config
		i := c.Gpid.PartitionIndex
		if c.Gpid.AppID != app.Info.AppID || i < 0 || int(i) >= len(app.Partitions) {
			return fmt.Errorf("state: set partition %v of app %d: no such partition", c.Gpid, app.Info.AppID)
		}
		p := &app.Partitions[i]
		ops = append(ops, coord.SetOp(w.Layout.Partition(c.Gpid.AppID, i), EncodePartition(c), p.Version))
		if u.Drops == nil {
			continue
		}
		if len(u.Drops.LastMembers) > MaxLastMembers || len(u.Drops.Replicas) > MaxDropRecords {
			return fmt.Errorf("state: drops record of %v too large", c.Gpid)
		}
		path := w.Layout.PartitionDrops(c.Gpid.AppID, i)
		if p.DropsStored {
			ops = append(ops, coord.SetOp(path, EncodeDrops(*u.Drops), p.DropsVersion))
		} else {
			ops = append(ops, coord.CreateOp(path, EncodeDrops(*u.Drops), coord.Persistent))
		}
	}
	if err := w.multi(ctx, ops...); err != nil {
		return err
	}
	for _, u := range ups {
		p := &app.Partitions[u.Config.Gpid.PartitionIndex]
		p.Config = CloneConfig(u.Config)
		p.Version++
		if u.Drops == nil {
			continue
		}
		p.Drops = u.Drops.Clone()
		if p.DropsStored {
			p.DropsVersion++
		} else {
			p.DropsStored, p.DropsVersion = true, 0
		}
	}
	return nil
}

// SetAppAndPartitions replaces a table's info and some of its partitions in
// one transaction.
func (w *Writer) SetAppAndPartitions(ctx context.Context, app *App, info protocol.AppInfo, cfgs ...protocol.PartitionConfiguration) error {
	if info.AppID != app.Info.AppID || info.PartitionCount != app.Info.PartitionCount {
		return fmt.Errorf("state: set app %d: id or partition count changed", app.Info.AppID)
	}
	ops := []coord.Op{coord.SetOp(w.Layout.App(info.AppID), EncodeApp(info), app.Version)}
	for _, c := range cfgs {
		i := c.Gpid.PartitionIndex
		if c.Gpid.AppID != app.Info.AppID || i < 0 || int(i) >= len(app.Partitions) {
			return fmt.Errorf("state: set partition %v of app %d: no such partition", c.Gpid, app.Info.AppID)
		}
		ops = append(ops, coord.SetOp(w.Layout.Partition(c.Gpid.AppID, i), EncodePartition(c), app.Partitions[i].Version))
	}
	if err := w.multi(ctx, ops...); err != nil {
		return err
	}
	app.Info = CloneApp(info)
	app.Version++
	for _, c := range cfgs {
		p := &app.Partitions[c.Gpid.PartitionIndex]
		p.Config = CloneConfig(c)
		p.Version++
	}
	return nil
}

// DeleteApp removes a table and its partitions from the store and from v.
// Other children of the app node (later features) are removed too.
func (w *Writer) DeleteApp(ctx context.Context, v *View, app *App) error {
	id := app.Info.AppID
	children, _, err := w.Store.Children(ctx, w.Layout.App(id))
	if err != nil {
		return fmt.Errorf("state: delete app %d: %w", id, err)
	}
	var ops []coord.Op
	for i, p := range app.Partitions {
		if p.DropsStored {
			ops = append(ops, coord.DeleteOp(w.Layout.PartitionDrops(id, int32(i)), p.DropsVersion))
		}
		ops = append(ops, coord.DeleteOp(w.Layout.Partition(id, int32(i)), p.Version))
	}
	for _, c := range children {
		if n, err := strconv.Atoi(c); err == nil && n >= 0 && n < len(app.Partitions) {
			continue
		}
		extra, err := w.subtreeDeletes(ctx, coord.Join(w.Layout.App(id), c))
		if err != nil {
			return err
		}
		ops = append(ops, extra...)
	}
	ops = append(ops, coord.DeleteOp(w.Layout.App(id), app.Version))
	if err := w.multi(ctx, ops...); err != nil {
		return err
	}
	delete(v.Apps, id)
	return nil
}

// subtreeDeletes returns delete ops for p and everything below it,
// children first.
func (w *Writer) subtreeDeletes(ctx context.Context, p string) ([]coord.Op, error) {
	children, _, err := w.Store.Children(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("state: list %s: %w", p, err)
	}
	var ops []coord.Op
	for _, c := range children {
		sub, err := w.subtreeDeletes(ctx, coord.Join(p, c))
		if err != nil {
			return nil, err
		}
		ops = append(ops, sub...)
	}
	return append(ops, coord.DeleteOp(p, coord.AnyVersion)), nil
}

// AddNode records a replica server seen for the first time. Recording a
// known node is a no-op.
func (w *Writer) AddNode(ctx context.Context, v *View, addr string, nowMs int64) error {
	if v.Nodes[addr] {
		return nil
	}
	if err := coord.ValidatePath(w.Layout.Node(addr)); err != nil || addr == "" || strings.Contains(addr, "/") {
		return fmt.Errorf("state: node address %q is not a valid node name", addr)
	}
	data, _ := json.Marshal(nodeRecord{Address: addr, FirstSeenMs: nowMs})
	err := w.multi(ctx, coord.CreateOp(w.Layout.Node(addr), data, coord.Persistent))
	if err != nil && !errors.Is(err, ErrConflict) { // ErrConflict: already recorded
		return err
	}
	v.Nodes[addr] = true
	return nil
}
