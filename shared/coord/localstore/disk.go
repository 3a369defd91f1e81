package localstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/pegasus-go/pegasus/shared/coord"
)

// formatVersion is written into the state file; a store directory with a
// different version is refused.
const formatVersion = 1

const (
	lockFile    = "lock"
	stateFile   = "state"
	journalFile = "journal"
	sessionsDir = "sessions"
	locksDir    = "locks"
	treeDir     = "tree"
	dataFile    = "data"
	metaFile    = "meta"
	childPrefix = "_" // child directories are "_<name>"; everything else in a node directory is the node's own
	tmpSuffix   = ".tmp"
)

// state is the store-wide counters, in <dir>/state.
type state struct {
	Format      int   `json:"format"`
	Zxid        int64 `json:"zxid"`         // last committed transaction
	NextSession int64 `json:"next_session"` // id of the next session to open
}

// nodeMeta is a node's metadata, in <node dir>/meta.
type nodeMeta struct {
	Czxid       int64 `json:"czxid"`
	Mzxid       int64 `json:"mzxid"`
	Pzxid       int64 `json:"pzxid"` // last child create/delete
	CtimeMs     int64 `json:"ctime_ms"`
	MtimeMs     int64 `json:"mtime_ms"`
	Version     int32 `json:"version"`
	CVersion    int32 `json:"cversion"` // also the next sequence number
	NumChildren int32 `json:"num_children"`
	Owner       int64 `json:"ephemeral_owner,omitempty"`
}

// action is one step of a transaction's redo record: write a node's meta
// (and data), or remove its directory.
type action struct {
	Path    string    `json:"path"` // absolute store path, root included
	Remove  bool      `json:"remove,omitempty"`
	Meta    *nodeMeta `json:"meta,omitempty"`
	HasData bool      `json:"has_data,omitempty"`
	Data    []byte    `json:"data,omitempty"`
}

// journal is the redo record of one transaction, in <dir>/journal while it
// is being applied. Its rename into place is the commit point.
type journal struct {
	State   state    `json:"state"`
	Actions []action `json:"actions"`
}

// disk is the on-disk store directory. Its methods expect the caller to
// hold the store lock as documented on each.
type disk struct {
	dir string
}

func (d *disk) path(elem ...string) string {
	return filepath.Join(append([]string{d.dir}, elem...)...)
}

// nodeDir maps an absolute store path to its directory.
func (d *disk) nodeDir(abs string) string {
	if abs == "/" {
		return d.path(treeDir)
	}
	parts := strings.Split(abs[1:], "/")
	for i, p := range parts {
		parts[i] = childPrefix + p
	}
	return filepath.Join(d.path(treeDir), filepath.Join(parts...))
}

// lock takes the store-wide flock, shared or exclusive, polling so that
// ctx can end the wait. Closing the returned file releases it.
func (d *disk) lock(ctx context.Context, how int) (*os.File, error) {
	f, err := os.OpenFile(d.path(lockFile), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := flockWait(ctx, f, how); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// flockWait takes an flock on f, retrying with a short backoff until ctx is
// done. Holders of the store lock never wait on anything while holding it,
// so the waits are short unless a holder is stopped (SIGSTOP).
func flockWait(ctx context.Context, f *os.File, how int) error {
	backoff := 50 * time.Microsecond
	for {
		err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
		if err == nil {
			return nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			return fmt.Errorf("flock %s: %w", f.Name(), err)
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		backoff = min(2*backoff, 5*time.Millisecond)
	}
}

// tryFlock takes an exclusive flock on f without waiting.
func tryFlock(f *os.File) (bool, error) {
	err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, syscall.EWOULDBLOCK):
		return false, nil
	}
	return false, fmt.Errorf("flock %s: %w", f.Name(), err)
}

// writeAtomic writes data to name through a temporary file and a rename, so
// readers see the old or the new content, never a mix.
func writeAtomic(name string, data []byte) error {
	tmp := name + tmpSuffix
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, name)
}

// readState reads the counters; ok is false for a fresh directory.
// Caller holds the lock.
func (d *disk) readState() (st state, ok bool, err error) {
	b, err := os.ReadFile(d.path(stateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return state{Format: formatVersion, NextSession: 1}, false, nil
	}
	if err != nil {
		return st, false, err
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, false, fmt.Errorf("corrupt state file: %w", err)
	}
	if st.Format != formatVersion {
		return st, false, fmt.Errorf("store format %d, this build reads %d", st.Format, formatVersion)
	}
	return st, true, nil
}

// zxid reads the last committed transaction number without the lock (the
// state file is replaced atomically); 0 when unreadable.
func (d *disk) zxid() int64 {
	st, _, err := d.readState()
	if err != nil {
		return 0
	}
	return st.Zxid
}

// readMeta reads a node's metadata; ok is false when the node does not
// exist. Caller holds the lock.
func (d *disk) readMeta(abs string) (m nodeMeta, ok bool, err error) {
	b, err := os.ReadFile(filepath.Join(d.nodeDir(abs), metaFile))
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return m, false, nil
	}
	if err != nil {
		return m, false, err
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, false, fmt.Errorf("corrupt metadata of %s: %w", abs, err)
	}
	return m, true, nil
}

// readData reads a node's data. Caller holds the lock.
func (d *disk) readData(abs string) ([]byte, error) {
	b, err := os.ReadFile(filepath.Join(d.nodeDir(abs), dataFile))
	if errors.Is(err, fs.ErrNotExist) {
		return []byte{}, nil
	}
	return b, err
}

// children lists a node's child names in byte order. Caller holds the lock.
func (d *disk) children(abs string) ([]string, error) {
	ents, err := os.ReadDir(d.nodeDir(abs))
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range ents {
		if n, ok := strings.CutPrefix(e.Name(), childPrefix); ok && e.IsDir() {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names, nil
}

// commit makes a transaction durable against process crashes: the journal
// is renamed into place (the commit point), applied, and removed. Caller
// holds the exclusive lock.
func (d *disk) commit(j *journal) error {
	b, err := json.Marshal(j)
	if err != nil {
		return err
	}
	if err := writeAtomic(d.path(journalFile), b); err != nil {
		return fmt.Errorf("write journal: %w", err)
	}
	return d.apply(j)
}

// apply replays a journal; replaying it again is harmless. Caller holds the
// exclusive lock.
func (d *disk) apply(j *journal) error {
	for _, a := range j.Actions {
		dir := d.nodeDir(a.Path)
		if a.Remove {
			if err := os.RemoveAll(dir); err != nil {
				return fmt.Errorf("apply: remove %s: %w", a.Path, err)
			}
			continue
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("apply: %w", err)
		}
		if a.HasData {
			if err := writeAtomic(filepath.Join(dir, dataFile), a.Data); err != nil {
				return fmt.Errorf("apply: %w", err)
			}
		}
		mb, err := json.Marshal(a.Meta)
		if err != nil {
			return err
		}
		if err := writeAtomic(filepath.Join(dir, metaFile), mb); err != nil {
			return fmt.Errorf("apply: %w", err)
		}
	}
	sb, err := json.Marshal(j.State)
	if err != nil {
		return err
	}
	if err := writeAtomic(d.path(stateFile), sb); err != nil {
		return fmt.Errorf("apply: %w", err)
	}
	if err := os.Remove(d.path(journalFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("apply: %w", err)
	}
	return nil
}

// hasJournal reports whether a transaction was left half-applied.
func (d *disk) hasJournal() bool {
	_, err := os.Stat(d.path(journalFile))
	return err == nil
}

// recover replays a journal left by a writer that died mid-commit. Caller
// holds the exclusive lock.
func (d *disk) recover() error {
	b, err := os.ReadFile(d.path(journalFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var j journal
	if err := json.Unmarshal(b, &j); err != nil {
		return fmt.Errorf("corrupt journal: %w", err)
	}
	return d.apply(&j)
}

// stat builds a coord.Stat.
func (m *nodeMeta) stat(dataLen int) coord.Stat {
	return coord.Stat{
		Version:        m.Version,
		CVersion:       m.CVersion,
		NumChildren:    m.NumChildren,
		DataLength:     int32(dataLen),
		EphemeralOwner: m.Owner,
		CreateRevision: m.Czxid,
		ModRevision:    m.Mzxid,
		Ctime:          time.UnixMilli(m.CtimeMs),
		Mtime:          time.UnixMilli(m.MtimeMs),
	}
}

// dataLen returns the size of a node's data without reading it.
func (d *disk) dataLen(abs string) (int, error) {
	fi, err := os.Stat(filepath.Join(d.nodeDir(abs), dataFile))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return int(fi.Size()), nil
}

// ownedBy walks the tree and returns every node owned by session id.
// Caller holds the lock.
func (d *disk) ownedBy(id int64) ([]string, error) {
	var out []string
	var walk func(abs string) error
	walk = func(abs string) error {
		m, ok, err := d.readMeta(abs)
		if err != nil || !ok {
			return err
		}
		if m.Owner == id {
			out = append(out, abs)
		}
		if m.NumChildren == 0 {
			return nil
		}
		kids, err := d.children(abs)
		if err != nil {
			return err
		}
		for _, k := range kids {
			if err := walk(coord.Join(abs, k)); err != nil {
				return err
			}
		}
		return nil
	}
	return out, walk("/")
}
