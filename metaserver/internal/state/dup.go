package state

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"

	"github.com/pegasus-go/pegasus/shared/coord"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

// Duplication records, kept below the app node:
//
//	<root>/apps/<app_id>/duplication                   (empty)
//	<root>/apps/<app_id>/duplication/<dupid>           JSON Dup
//	<root>/apps/<app_id>/duplication/<dupid>/<pidx>    JSON DupProgress
//
// A duplication and its partition records are created in one transaction
// and deleted in one transaction; a removed duplication keeps its record
// (status DS_REMOVED, no partition records) until the meta purges it.

// Dup is a duplication's stored record.
type Dup struct {
	ID                int32
	Remote            string // remote cluster name
	Status            protocol.DupStatus
	CreateTimestampMs int64
	FailMode          protocol.DupFailMode
	RemoteAppName     string
	Full              bool
}

// DupProgress is one partition's stored duplication progress.
type DupProgress struct {
	// ConfirmedDecree: every mutation up to it reached the remote cluster;
	// -1 while the primary has not picked its start.
	ConfirmedDecree protocol.Decree
	// CheckpointDecree is a full duplication's checkpoint decree (0 before
	// DS_APP and for incremental ones).
	CheckpointDecree protocol.Decree
}

// AppDup is a duplication in the View: its record, its partitions'
// progress (index = partition index; empty once removed) and the store
// versions they were read at.
type AppDup struct {
	Dup        Dup
	Version    int32
	Partitions []DupProgress
	// PartVersions holds the version of each partition record.
	PartVersions []int32
}

type dupRecord struct {
	DupID             int32                `json:"dupid"`
	Remote            string               `json:"remote"`
	Status            protocol.DupStatus   `json:"status"`
	CreateTimestampMs int64                `json:"create_timestamp_ms"`
	FailMode          protocol.DupFailMode `json:"fail_mode"`
	RemoteAppName     string               `json:"remote_app_name"`
	Full              bool                 `json:"full"`
}

type dupProgressRecord struct {
	ConfirmedDecree  int64 `json:"confirmed_decree"`
	CheckpointDecree int64 `json:"checkpoint_decree"`
}

// EncodeDup returns the stored form of d.
func EncodeDup(d Dup) []byte {
	b, err := json.Marshal(dupRecord{
		DupID: d.ID, Remote: d.Remote, Status: d.Status, CreateTimestampMs: d.CreateTimestampMs,
		FailMode: d.FailMode, RemoteAppName: d.RemoteAppName, Full: d.Full,
	})
	if err != nil {
		panic(fmt.Sprintf("state: encoding a duplication record cannot fail: %v", err))
	}
	return b
}

// DecodeDup parses a stored duplication record.
func DecodeDup(data []byte) (Dup, error) {
	var r dupRecord
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&r); err != nil {
		return Dup{}, fmt.Errorf("state: duplication record: %w", err)
	}
	if r.DupID <= 0 || r.Remote == "" || r.Status == protocol.DupStatusInvalid || !r.Status.Valid() || !r.FailMode.Valid() {
		return Dup{}, fmt.Errorf("state: duplication record %d: missing or invalid fields (remote %q, status %v, fail mode %v)",
			r.DupID, r.Remote, r.Status, r.FailMode)
	}
	return Dup{ID: r.DupID, Remote: r.Remote, Status: r.Status, CreateTimestampMs: r.CreateTimestampMs,
		FailMode: r.FailMode, RemoteAppName: r.RemoteAppName, Full: r.Full}, nil
}

// EncodeDupProgress returns the stored form of p.
func EncodeDupProgress(p DupProgress) []byte {
	b, err := json.Marshal(dupProgressRecord{ConfirmedDecree: int64(p.ConfirmedDecree), CheckpointDecree: int64(p.CheckpointDecree)})
	if err != nil {
		panic(fmt.Sprintf("state: encoding a duplication progress record cannot fail: %v", err))
	}
	return b
}

// DecodeDupProgress parses a stored partition progress record.
func DecodeDupProgress(data []byte) (DupProgress, error) {
	var r dupProgressRecord
	if err := json.Unmarshal(data, &r); err != nil {
		return DupProgress{}, fmt.Errorf("state: duplication progress record: %w", err)
	}
	if r.ConfirmedDecree < -1 || r.CheckpointDecree < 0 {
		return DupProgress{}, fmt.Errorf("state: duplication progress record: confirmed %d, checkpoint %d out of range", r.ConfirmedDecree, r.CheckpointDecree)
	}
	return DupProgress{ConfirmedDecree: protocol.Decree(r.ConfirmedDecree), CheckpointDecree: protocol.Decree(r.CheckpointDecree)}, nil
}

// Clone returns a deep copy of d.
func (d *AppDup) Clone() *AppDup {
	c := *d
	c.Partitions = slices.Clone(d.Partitions)
	c.PartVersions = slices.Clone(d.PartVersions)
	return &c
}

// SortedDups returns the table's duplications ordered by dupid, removed
// ones included.
func (a *App) SortedDups() []*AppDup {
	out := make([]*AppDup, 0, len(a.Dups))
	for _, id := range slices.Sorted(maps.Keys(a.Dups)) {
		out = append(out, a.Dups[id])
	}
	return out
}

// loadDups reads the duplication records of app, if any.
func loadDups(ctx context.Context, s coord.Store, l Layout, app *App) error {
	id := app.Info.AppID
	ids, _, err := s.Children(ctx, l.Duplications(id))
	if errors.Is(err, coord.ErrNoNode) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("state: list duplications of app %d: %w", id, err)
	}
	app.DupDirStored = true
	for _, name := range ids {
		n, err := strconv.ParseInt(name, 10, 32)
		if err != nil || n <= 0 {
			continue
		}
		dupid := int32(n)
		data, st, err := s.Get(ctx, l.Duplication(id, dupid))
		if err != nil {
			return fmt.Errorf("state: load duplication %d of app %d: %w", dupid, id, err)
		}
		d, err := DecodeDup(data)
		if err != nil {
			return fmt.Errorf("state: app %d: %w", id, err)
		}
		if d.ID != dupid {
			return fmt.Errorf("state: duplication node %d of app %d holds dupid %d", dupid, id, d.ID)
		}
		ad := &AppDup{Dup: d, Version: st.Version}
		if d.Status != protocol.DupStatusRemoved {
			ad.Partitions = make([]DupProgress, len(app.Partitions))
			ad.PartVersions = make([]int32, len(app.Partitions))
			for i := range ad.Partitions {
				data, st, err := s.Get(ctx, l.DupPartition(id, dupid, int32(i)))
				if err != nil {
					return fmt.Errorf("state: load progress of duplication %d partition %d.%d: %w", dupid, id, i, err)
				}
				p, err := DecodeDupProgress(data)
				if err != nil {
					return fmt.Errorf("state: duplication %d partition %d.%d: %w", dupid, id, i, err)
				}
				ad.Partitions[i], ad.PartVersions[i] = p, st.Version
			}
		}
		if app.Dups == nil {
			app.Dups = map[int32]*AppDup{}
		}
		app.Dups[dupid] = ad
	}
	return nil
}

// AddDup stores a new duplication of app with one progress record per
// partition (parts, index = partition index) in one transaction, then adds
// it to app.
func (w *Writer) AddDup(ctx context.Context, app *App, d Dup, parts []DupProgress) error {
	id := app.Info.AppID
	if len(parts) != len(app.Partitions) {
		return fmt.Errorf("state: add duplication %d of app %d: %d progress records for %d partitions", d.ID, id, len(parts), len(app.Partitions))
	}
	if _, ok := app.Dups[d.ID]; ok {
		return fmt.Errorf("state: add duplication %d of app %d: dupid in use", d.ID, id)
	}
	ops := make([]coord.Op, 0, len(parts)+2)
	if !app.DupDirStored {
		ops = append(ops, coord.CreateOp(w.Layout.Duplications(id), nil, coord.Persistent))
	}
	ops = append(ops, coord.CreateOp(w.Layout.Duplication(id, d.ID), EncodeDup(d), coord.Persistent))
	for i, p := range parts {
		ops = append(ops, coord.CreateOp(w.Layout.DupPartition(id, d.ID, int32(i)), EncodeDupProgress(p), coord.Persistent))
	}
	if err := w.multi(ctx, ops...); err != nil {
		return err
	}
	app.DupDirStored = true
	if app.Dups == nil {
		app.Dups = map[int32]*AppDup{}
	}
	app.Dups[d.ID] = &AppDup{Dup: d, Partitions: slices.Clone(parts), PartVersions: make([]int32, len(parts))}
	return nil
}

// UpdateDup replaces a duplication's record and, for each partition index
// in parts, its progress record, in one transaction. Setting the status to
// DS_REMOVED deletes every progress record instead (parts must be empty).
func (w *Writer) UpdateDup(ctx context.Context, app *App, d Dup, parts map[int32]DupProgress) error {
	id := app.Info.AppID
	cur := app.Dups[d.ID]
	if cur == nil {
		return fmt.Errorf("state: update duplication %d of app %d: no such duplication", d.ID, id)
	}
	removing := d.Status == protocol.DupStatusRemoved && cur.Dup.Status != protocol.DupStatusRemoved
	if (removing || cur.Dup.Status == protocol.DupStatusRemoved) && len(parts) > 0 {
		return fmt.Errorf("state: update duplication %d of app %d: progress of a removed duplication", d.ID, id)
	}
	ops := []coord.Op{coord.SetOp(w.Layout.Duplication(id, d.ID), EncodeDup(d), cur.Version)}
	idx := slices.Sorted(maps.Keys(parts))
	for _, i := range idx {
		if i < 0 || int(i) >= len(cur.Partitions) {
			return fmt.Errorf("state: update duplication %d of app %d: no partition %d", d.ID, id, i)
		}
		ops = append(ops, coord.SetOp(w.Layout.DupPartition(id, d.ID, i), EncodeDupProgress(parts[i]), cur.PartVersions[i]))
	}
	if removing {
		for i := range cur.Partitions {
			ops = append(ops, coord.DeleteOp(w.Layout.DupPartition(id, d.ID, int32(i)), cur.PartVersions[i]))
		}
	}
	if err := w.multi(ctx, ops...); err != nil {
		return err
	}
	cur.Dup = d
	cur.Version++
	for _, i := range idx {
		cur.Partitions[i] = parts[i]
		cur.PartVersions[i]++
	}
	if removing {
		cur.Partitions, cur.PartVersions = nil, nil
	}
	return nil
}

// SetDupProgress replaces progress records of a live duplication (without
// touching its record) in one transaction.
func (w *Writer) SetDupProgress(ctx context.Context, app *App, dupid int32, parts map[int32]DupProgress) error {
	id := app.Info.AppID
	cur := app.Dups[dupid]
	if cur == nil || cur.Dup.Status == protocol.DupStatusRemoved {
		return fmt.Errorf("state: set progress of duplication %d of app %d: no such live duplication", dupid, id)
	}
	idx := slices.Sorted(maps.Keys(parts))
	ops := make([]coord.Op, 0, len(idx))
	for _, i := range idx {
		if i < 0 || int(i) >= len(cur.Partitions) {
			return fmt.Errorf("state: set progress of duplication %d of app %d: no partition %d", dupid, id, i)
		}
		ops = append(ops, coord.SetOp(w.Layout.DupPartition(id, dupid, i), EncodeDupProgress(parts[i]), cur.PartVersions[i]))
	}
	if len(ops) == 0 {
		return nil
	}
	if err := w.multi(ctx, ops...); err != nil {
		return err
	}
	for _, i := range idx {
		cur.Partitions[i] = parts[i]
		cur.PartVersions[i]++
	}
	return nil
}

// dupDeletes returns the delete ops of a duplication's nodes.
func (w *Writer) dupDeletes(app *App, d *AppDup) []coord.Op {
	id := app.Info.AppID
	ops := make([]coord.Op, 0, len(d.Partitions)+1)
	for i := range d.Partitions {
		ops = append(ops, coord.DeleteOp(w.Layout.DupPartition(id, d.Dup.ID, int32(i)), d.PartVersions[i]))
	}
	return append(ops, coord.DeleteOp(w.Layout.Duplication(id, d.Dup.ID), d.Version))
}

// DeleteDup removes a duplication's record and progress records in one
// transaction.
func (w *Writer) DeleteDup(ctx context.Context, app *App, dupid int32) error {
	d := app.Dups[dupid]
	if d == nil {
		return nil
	}
	if err := w.multi(ctx, w.dupDeletes(app, d)...); err != nil {
		return err
	}
	delete(app.Dups, dupid)
	return nil
}

// SetAppDeletingDups replaces a table's info and deletes every one of its
// duplications in one transaction (a dropped table loses its
// duplications).
func (w *Writer) SetAppDeletingDups(ctx context.Context, app *App, info protocol.AppInfo) error {
	if info.AppID != app.Info.AppID || info.PartitionCount != app.Info.PartitionCount {
		return fmt.Errorf("state: set app %d: id or partition count changed", app.Info.AppID)
	}
	ops := []coord.Op{coord.SetOp(w.Layout.App(info.AppID), EncodeApp(info), app.Version)}
	for _, d := range app.SortedDups() {
		ops = append(ops, w.dupDeletes(app, d)...)
	}
	if err := w.multi(ctx, ops...); err != nil {
		return err
	}
	app.Info = CloneApp(info)
	app.Version++
	app.Dups = nil
	return nil
}
