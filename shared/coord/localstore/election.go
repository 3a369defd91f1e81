package localstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"sync"
	"time"

	"github.com/pegasus-go/pegasus/shared/coord"
)

// Campaign implements coord.Store. Leadership of the election at path is an
// exclusive flock on a lock file named after the path: the kernel releases
// it when the holder's process dies, so a waiter takes over at once. The
// winner then replaces whatever candidate nodes are under path (left by a
// dead leader not yet reaped) with its own ephemeral sequential node holding
// value, which is what coord.Leader reads.
func (s *Store) Campaign(ctx context.Context, path string, value []byte) (coord.Leadership, error) {
	if err := coord.CreateOp(path, value, coord.Persistent).Validate(); err != nil {
		return nil, coord.WrapPath("campaign", path, err)
	}
	if err := s.life.Err(); err != nil {
		return nil, coord.WrapPath("campaign", path, err)
	}
	abs := s.abs(path)
	sum := sha256.Sum256([]byte(abs))
	f, err := os.OpenFile(s.d.path(locksDir, hex.EncodeToString(sum[:16])), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, coord.WrapPath("campaign", path, err)
	}
	if err := s.waitElectionLock(ctx, f); err != nil {
		f.Close()
		return nil, coord.WrapPath("campaign", path, err)
	}
	var node string
	var m nodeMeta
	var zxid int64
	err = s.update(ctx, func(t *txn) error {
		if err := t.ensure(abs); err != nil {
			return err
		}
		stale, err := s.d.children(abs)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		for _, name := range stale {
			if err := t.remove(coord.Join(abs, name), coord.AnyVersion); err != nil {
				return err
			}
		}
		if node, err = t.create(coord.Join(abs, coord.LockNodePrefix), value, coord.Ephemeral|coord.Sequential, s.id); err != nil {
			return err
		}
		n, err := t.get(node)
		if err != nil {
			return err
		}
		m, zxid = n.meta, t.zxid
		return nil
	})
	if err != nil {
		f.Close()
		return nil, coord.WrapPath("campaign", path, err)
	}
	l := &leadership{s: s, node: s.rel(node), lockFile: f, lost: make(chan struct{}), stop: make(chan struct{})}
	l.w = &watch{rel: l.node, abs: node, kind: kindAlive, exists: true, czxid: m.Czxid, seen: zxid}
	l.czxid = m.Czxid
	ch := s.addWatch(l.w)
	s.mu.Lock()
	if s.mu.released {
		s.mu.Unlock()
		l.end("session ended")
		return nil, coord.WrapPath("campaign", path, s.life.Err())
	}
	s.mu.leaders[l] = struct{}{}
	s.mu.Unlock()
	go l.monitor(ch)
	s.log.Info("became leader", "election", path, "node", l.node)
	return l, nil
}

// waitElectionLock polls the election flock every PollInterval.
func (s *Store) waitElectionLock(ctx context.Context, f *os.File) error {
	for {
		ok, err := tryFlock(f)
		if err != nil || ok {
			return err
		}
		t := time.NewTimer(s.opts.PollInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-s.life.Done():
			t.Stop()
			return s.life.Err()
		case <-t.C:
		}
	}
}

type leadership struct {
	s        *Store
	node     string // relative path of the leader node
	czxid    int64
	w        *watch
	lockFile *os.File
	lost     chan struct{}
	stop     chan struct{}

	endOnce    sync.Once
	resignOnce sync.Once
	resignErr  error
}

func (l *leadership) Lost() <-chan struct{} { return l.lost }

func (l *leadership) Path() string { return l.node }

// end closes lost and releases the election lock.
func (l *leadership) end(why string) {
	l.endOnce.Do(func() {
		close(l.lost)
		l.lockFile.Close()
		l.s.mu.Lock()
		delete(l.s.mu.leaders, l)
		l.s.mu.Unlock()
		l.s.log.Info("leadership ended", "node", l.node, "reason", why)
	})
}

// monitor ends the leadership when the leader node goes (or the session
// ends, which fires the watch too).
func (l *leadership) monitor(ch <-chan coord.Event) {
	select {
	case ev := <-ch:
		l.end("leader node " + ev.Type.String())
	case <-l.stop:
	}
}

func (l *leadership) Resign(ctx context.Context) error {
	l.resignOnce.Do(func() {
		close(l.stop)
		l.s.removeWatch(l.w)
		abs := l.s.abs(l.node)
		err := l.s.update(ctx, func(t *txn) error {
			n, err := t.get(abs)
			if err != nil || !n.exists || n.meta.Czxid != l.czxid {
				return err
			}
			return t.remove(abs, coord.AnyVersion)
		})
		if err != nil && l.s.life.Err() == nil {
			// The next leader removes the node when it takes over.
			l.resignErr = coord.WrapPath("resign", l.node, err)
		}
		l.end("resigned")
	})
	return l.resignErr
}
