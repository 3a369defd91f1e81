package replica

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/cockroachdb/pebble/vfs"

	"github.com/pegasus-go/pegasus/replicaserver/internal/replica/core"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

// File and directory names inside a replica directory.
const (
	MetaFileName = "replica.json"
	PlogDirName  = "plog"
	DataDirName  = "data"

	metaTempName = MetaFileName + ".tmp"
	metaFormat   = 1
	// maxMetaFileBytes bounds what ReadMeta reads, so a damaged file
	// cannot cause a huge allocation.
	maxMetaFileBytes = 4 << 20
)

// Meta is the replica metadata persisted in Dir/replica.json: what the core
// needs to restart (its configuration and role, Ready.State) and what the
// server needs to reopen the replica (gpid and table info). Data decrees
// are not here: the engine keeps its last applied decree in the same pebble
// batch as the data.
type Meta struct {
	Format int              `json:"format"`
	Gpid   protocol.Gpid    `json:"gpid"`
	App    protocol.AppInfo `json:"app"`
	Config core.Config      `json:"config"`
	Role   string           `json:"role"`
}

// ReadMeta reads the metadata of the replica directory dir. It returns
// found=false (and no error) when the directory holds none, e.g. a replica
// that crashed while being created. Servers use it to find the replicas to
// reopen at start.
func ReadMeta(fs vfs.FS, dir string) (m Meta, found bool, err error) {
	f, err := fs.Open(fs.PathJoin(dir, MetaFileName))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return Meta{}, false, nil
		}
		return Meta{}, false, protocol.Errorf(protocol.CodeIOError, "replica: open metadata in %s: %v", dir, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxMetaFileBytes+1))
	if err != nil {
		return Meta{}, false, protocol.Errorf(protocol.CodeIOError, "replica: read metadata in %s: %v", dir, err)
	}
	if len(data) > maxMetaFileBytes {
		return Meta{}, false, protocol.Errorf(protocol.CodeCorruption, "replica: metadata in %s exceeds %d bytes", dir, maxMetaFileBytes)
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return Meta{}, false, protocol.Errorf(protocol.CodeCorruption, "replica: malformed metadata in %s: %v", dir, err)
	}
	if m.Format != metaFormat {
		return Meta{}, false, protocol.Errorf(protocol.CodeNotImplementable, "replica: metadata in %s has format %d, want %d", dir, m.Format, metaFormat)
	}
	if m.Config.Ballot != protocol.InvalidBallot {
		if err := m.Config.Validate(); err != nil {
			return Meta{}, false, protocol.Errorf(protocol.CodeCorruption, "replica: metadata in %s: %v", dir, err)
		}
	}
	return m, true, nil
}

// writeMeta replaces dir's metadata atomically: it writes and syncs a
// temporary file, renames it over the old one and syncs the directory.
func writeMeta(fs vfs.FS, dir string, m Meta) error {
	m.Format = metaFormat
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("replica: encode metadata: %w", err)
	}
	tmp := fs.PathJoin(dir, metaTempName)
	f, err := fs.Create(tmp)
	if err != nil {
		return ioErr("create metadata", err)
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return ioErr("write metadata", err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return ioErr("sync metadata", err)
	}
	if err := f.Close(); err != nil {
		return ioErr("close metadata", err)
	}
	if err := fs.Rename(tmp, fs.PathJoin(dir, MetaFileName)); err != nil {
		return ioErr("rename metadata", err)
	}
	return syncDir(fs, dir)
}

// ensureDir creates dir and any missing parents, syncing the parent of
// every directory it creates so the entries are durable.
func ensureDir(fs vfs.FS, dir string) error {
	var missing []string
	for d := dir; ; {
		if _, err := fs.Stat(d); err == nil {
			break
		}
		missing = append(missing, d)
		p := fs.PathDir(d)
		if p == d || p == "" || p == "." {
			break
		}
		d = p
	}
	if len(missing) == 0 {
		return nil
	}
	if err := fs.MkdirAll(dir, 0o755); err != nil {
		return ioErr("create replica dir", err)
	}
	for i := len(missing) - 1; i >= 0; i-- {
		parent := fs.PathDir(missing[i])
		if parent == "" {
			parent = "."
		}
		if err := syncDir(fs, parent); err != nil {
			return err
		}
	}
	return nil
}

func syncDir(fs vfs.FS, dir string) error {
	d, err := fs.OpenDir(dir)
	if err != nil {
		return ioErr("open dir", err)
	}
	if err := d.Sync(); err != nil {
		_ = d.Close()
		return ioErr("sync dir", err)
	}
	if err := d.Close(); err != nil {
		return ioErr("close dir", err)
	}
	return nil
}

func ioErr(what string, err error) error {
	return fmt.Errorf("replica: %s: %w", what, &protocol.Error{Code: protocol.CodeIOError, Message: err.Error()})
}
