package localstore

import (
	"context"

	"github.com/pegasus-go/pegasus/shared/coord"
)

// Create implements coord.Store.
func (s *Store) Create(ctx context.Context, path string, data []byte, mode coord.Mode) (string, error) {
	if err := coord.ValidateCreate(path, data, mode); err != nil {
		return "", coord.WrapPath("create", path, err)
	}
	var created string
	err := s.update(ctx, func(t *txn) (err error) {
		created, err = t.create(s.abs(path), data, mode, s.id)
		return err
	})
	if err != nil {
		return "", coord.WrapPath("create", path, err)
	}
	return s.rel(created), nil
}

// Set implements coord.Store.
func (s *Store) Set(ctx context.Context, path string, data []byte, version int32) (coord.Stat, error) {
	if err := coord.SetOp(path, data, version).Validate(); err != nil {
		return coord.Stat{}, coord.WrapPath("set", path, err)
	}
	var m nodeMeta
	err := s.update(ctx, func(t *txn) (err error) {
		m, err = t.set(s.abs(path), data, version)
		return err
	})
	if err != nil {
		return coord.Stat{}, coord.WrapPath("set", path, err)
	}
	return m.stat(len(data)), nil
}

// Delete implements coord.Store.
func (s *Store) Delete(ctx context.Context, path string, version int32) error {
	if err := coord.DeleteOp(path, version).Validate(); err != nil {
		return coord.WrapPath("delete", path, err)
	}
	err := s.update(ctx, func(t *txn) error { return t.remove(s.abs(path), version) })
	return coord.WrapPath("delete", path, err)
}

// Multi implements coord.Store: the ops are staged in one transaction under
// the exclusive lock and committed together through the journal.
func (s *Store) Multi(ctx context.Context, ops ...coord.Op) ([]coord.OpResult, error) {
	if err := coord.ValidateMulti(ops); err != nil {
		return nil, err
	}
	out := make([]coord.OpResult, len(ops))
	err := s.update(ctx, func(t *txn) error {
		for i, op := range ops {
			abs := s.abs(op.Path)
			out[i].Path = op.Path
			var err error
			switch op.Kind {
			case coord.OpCreate:
				var created string
				if created, err = t.create(abs, op.Data, op.Mode, s.id); err == nil {
					out[i].Path = s.rel(created)
				}
			case coord.OpSet:
				var m nodeMeta
				if m, err = t.set(abs, op.Data, op.Version); err == nil {
					out[i].Stat = m.stat(len(op.Data))
				}
			case coord.OpDelete:
				err = t.remove(abs, op.Version)
			case coord.OpCheck:
				err = t.check(abs, op.Version)
			}
			if err != nil {
				return &coord.MultiError{Index: i, Op: op, Err: err}
			}
		}
		return nil
	})
	if err != nil {
		if _, ok := err.(*coord.MultiError); ok {
			return nil, err
		}
		return nil, coord.WrapPath("multi", "/", err)
	}
	return out, nil
}

// getLocked reads a node. Caller holds the lock.
func (s *Store) getLocked(abs string) ([]byte, nodeMeta, error) {
	m, ok, err := s.d.readMeta(abs)
	if err != nil {
		return nil, m, err
	}
	if !ok {
		return nil, m, coord.ErrNoNode
	}
	data, err := s.d.readData(abs)
	return data, m, err
}

// Get implements coord.Store.
func (s *Store) Get(ctx context.Context, path string) ([]byte, coord.Stat, error) {
	data, st, _, err := s.get(ctx, path, false)
	return data, st, err
}

// GetW implements coord.Store.
func (s *Store) GetW(ctx context.Context, path string) ([]byte, coord.Stat, <-chan coord.Event, error) {
	return s.get(ctx, path, true)
}

func (s *Store) get(ctx context.Context, path string, withWatch bool) ([]byte, coord.Stat, <-chan coord.Event, error) {
	if err := coord.ValidatePath(path); err != nil {
		return nil, coord.Stat{}, nil, coord.WrapPath("get", path, err)
	}
	abs := s.abs(path)
	var data []byte
	var m nodeMeta
	var zxid int64
	err := s.read(ctx, func() (err error) {
		if data, m, err = s.getLocked(abs); err != nil {
			return err
		}
		zxid, err = s.zxidLocked(withWatch)
		return err
	})
	if err != nil {
		return nil, coord.Stat{}, nil, coord.WrapPath("get", path, err)
	}
	var w <-chan coord.Event
	if withWatch {
		w = s.addWatch(&watch{rel: path, abs: abs, kind: kindData, exists: true,
			czxid: m.Czxid, mzxid: m.Mzxid, seen: zxid})
	}
	return data, m.stat(len(data)), w, nil
}

// zxidLocked returns the committed transaction number when a watch needs
// it as its baseline.
func (s *Store) zxidLocked(need bool) (int64, error) {
	if !need {
		return 0, nil
	}
	st, _, err := s.d.readState()
	return st.Zxid, err
}

// Exists implements coord.Store.
func (s *Store) Exists(ctx context.Context, path string) (coord.Stat, bool, error) {
	st, ok, _, err := s.exists(ctx, path, false)
	return st, ok, err
}

// ExistsW implements coord.Store.
func (s *Store) ExistsW(ctx context.Context, path string) (coord.Stat, bool, <-chan coord.Event, error) {
	return s.exists(ctx, path, true)
}

func (s *Store) exists(ctx context.Context, path string, withWatch bool) (coord.Stat, bool, <-chan coord.Event, error) {
	if err := coord.ValidatePath(path); err != nil {
		return coord.Stat{}, false, nil, coord.WrapPath("exists", path, err)
	}
	abs := s.abs(path)
	var m nodeMeta
	var ok bool
	var n int
	var zxid int64
	err := s.read(ctx, func() (err error) {
		if m, ok, err = s.d.readMeta(abs); err != nil {
			return err
		}
		if ok {
			if n, err = s.d.dataLen(abs); err != nil {
				return err
			}
		}
		zxid, err = s.zxidLocked(withWatch)
		return err
	})
	if err != nil {
		return coord.Stat{}, false, nil, coord.WrapPath("exists", path, err)
	}
	var w <-chan coord.Event
	if withWatch {
		w = s.addWatch(&watch{rel: path, abs: abs, kind: kindExists, exists: ok,
			czxid: m.Czxid, mzxid: m.Mzxid, seen: zxid})
	}
	if !ok {
		return coord.Stat{}, false, w, nil
	}
	return m.stat(n), true, w, nil
}

// Children implements coord.Store.
func (s *Store) Children(ctx context.Context, path string) ([]string, coord.Stat, error) {
	names, st, _, err := s.children(ctx, path, false)
	return names, st, err
}

// ChildrenW implements coord.Store.
func (s *Store) ChildrenW(ctx context.Context, path string) ([]string, coord.Stat, <-chan coord.Event, error) {
	return s.children(ctx, path, true)
}

func (s *Store) children(ctx context.Context, path string, withWatch bool) ([]string, coord.Stat, <-chan coord.Event, error) {
	if err := coord.ValidatePath(path); err != nil {
		return nil, coord.Stat{}, nil, coord.WrapPath("children", path, err)
	}
	abs := s.abs(path)
	var names []string
	var m nodeMeta
	var n int
	var zxid int64
	err := s.read(ctx, func() error {
		var ok bool
		var err error
		if m, ok, err = s.d.readMeta(abs); err != nil {
			return err
		}
		if !ok {
			return coord.ErrNoNode
		}
		if names, err = s.d.children(abs); err != nil {
			return err
		}
		if n, err = s.d.dataLen(abs); err != nil {
			return err
		}
		zxid, err = s.zxidLocked(withWatch)
		return err
	})
	if err != nil {
		return nil, coord.Stat{}, nil, coord.WrapPath("children", path, err)
	}
	var w <-chan coord.Event
	if withWatch {
		w = s.addWatch(&watch{rel: path, abs: abs, kind: kindChildren, exists: true,
			czxid: m.Czxid, pzxid: m.Pzxid, seen: zxid})
	}
	if names == nil {
		names = []string{}
	}
	return names, m.stat(n), w, nil
}
