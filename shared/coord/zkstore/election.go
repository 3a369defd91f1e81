package zkstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/pegasus-go/pegasus/shared/coord"
)

// retryPause is how long the election waits before retrying after a
// connection loss (the session may survive it).
const retryPause = 50 * time.Millisecond

// Campaign implements coord.Store with the ZooKeeper lock recipe: every
// candidate creates an ephemeral sequential node under path (protected
// against connection loss by a GUID in its name), the lowest sequence
// number leads, and every other candidate watches only its predecessor.
func (s *Store) Campaign(ctx context.Context, path string, value []byte) (coord.Leadership, error) {
	if err := coord.CreateOp(path, value, coord.Persistent).Validate(); err != nil {
		return nil, coord.WrapPath("campaign", path, err)
	}
	if err := coord.EnsurePath(ctx, s, path); err != nil {
		return nil, coord.WrapPath("campaign", path, err)
	}
	type created struct {
		node string
		err  error
	}
	res := make(chan created, 1)
	c := s.conn.Load()
	go func() {
		n, err := c.CreateProtectedEphemeralSequential(s.full(coord.Join(path, coord.LockNodePrefix)), value, openACL)
		res <- created{n, err}
	}()
	var node string
	select {
	case r := <-res:
		if r.err != nil {
			return nil, coord.WrapPath("campaign", path, s.mapErr(r.err))
		}
		node = s.rel(r.node)
	case <-ctx.Done():
		go func() {
			if r := <-res; r.err == nil {
				s.removeCandidate(s.rel(r.node))
			}
		}()
		return nil, coord.WrapPath("campaign", path, ctx.Err())
	case <-s.life.Done():
		return nil, coord.WrapPath("campaign", path, s.life.Err())
	}

	name := coord.Base(node)
	for {
		err := s.waitTurn(ctx, path, name)
		if err == nil {
			l := &leadership{s: s, node: node, lost: make(chan struct{}), stop: make(chan struct{})}
			go l.monitor()
			s.log.Info("became leader", "election", path, "node", node)
			return l, nil
		}
		if errors.Is(err, errRetry) {
			continue
		}
		if s.life.Err() == nil {
			s.removeCandidate(node)
		}
		return nil, coord.WrapPath("campaign", path, err)
	}
}

var errRetry = errors.New("retry")

// waitTurn returns nil once name is the lowest candidate, errRetry after a
// change worth looking at again, or a terminal error.
func (s *Store) waitTurn(ctx context.Context, path, name string) error {
	children, _, err := s.Children(ctx, path)
	if errors.Is(err, coord.ErrConnectionLoss) {
		return s.pause(ctx)
	}
	if err != nil {
		return err
	}
	cands := coord.SortCandidates(children)
	i := slices.Index(cands, name)
	switch {
	case i < 0:
		return fmt.Errorf("%w: candidate node %s was deleted", coord.ErrNoNode, name)
	case i == 0:
		return nil
	}
	_, ok, w, err := s.ExistsW(ctx, coord.Join(path, cands[i-1]))
	if errors.Is(err, coord.ErrConnectionLoss) {
		return s.pause(ctx)
	}
	if err != nil {
		return err
	}
	if !ok {
		return errRetry
	}
	select {
	case <-w:
		return errRetry
	case <-ctx.Done():
		return ctx.Err()
	case <-s.life.Done():
		return s.life.Err()
	}
}

func (s *Store) pause(ctx context.Context) error {
	t := time.NewTimer(retryPause)
	defer t.Stop()
	select {
	case <-t.C:
		return errRetry
	case <-ctx.Done():
		return ctx.Err()
	case <-s.life.Done():
		return s.life.Err()
	}
}

// removeCandidate deletes an abandoned candidate node in the background,
// retrying through connection losses; the session ending removes it too.
func (s *Store) removeCandidate(node string) {
	go func() {
		for {
			err := s.Delete(context.Background(), node, coord.AnyVersion)
			if err == nil || errors.Is(err, coord.ErrNoNode) || s.life.Err() != nil {
				return
			}
			if !errors.Is(err, coord.ErrConnectionLoss) {
				s.log.Warn("cannot remove abandoned election candidate", "node", node, "err", err)
				return
			}
			if s.pause(context.Background()) != errRetry {
				return
			}
		}
	}()
}

type leadership struct {
	s    *Store
	node string
	lost chan struct{}
	stop chan struct{}

	loseOnce   sync.Once
	resignOnce sync.Once
	resignErr  error
}

func (l *leadership) Lost() <-chan struct{} { return l.lost }

func (l *leadership) Path() string { return l.node }

func (l *leadership) lose(why string) {
	l.loseOnce.Do(func() {
		close(l.lost)
		l.s.log.Info("leadership ended", "node", l.node, "reason", why)
	})
}

// monitor closes lost when the session ends or the leader node goes.
func (l *leadership) monitor() {
	for {
		_, ok, w, err := l.s.ExistsW(context.Background(), l.node)
		switch {
		case errors.Is(err, coord.ErrConnectionLoss):
			select {
			case <-time.After(retryPause):
				continue
			case <-l.stop:
				return
			case <-l.s.life.Done():
				l.lose("session ended")
				return
			}
		case err != nil:
			l.lose(err.Error())
			return
		case !ok:
			l.lose("leader node deleted")
			return
		}
		select {
		case ev := <-w:
			if ev.Type == coord.EventDeleted || ev.Type == coord.EventNotWatching {
				l.lose("leader node " + ev.Type.String())
				return
			}
		case <-l.stop:
			return
		case <-l.s.life.Done():
			l.lose("session ended")
			return
		}
	}
}

func (l *leadership) Resign(ctx context.Context) error {
	l.resignOnce.Do(func() {
		close(l.stop)
		err := l.s.Delete(ctx, l.node, coord.AnyVersion)
		if err != nil && !errors.Is(err, coord.ErrNoNode) && l.s.life.Err() == nil {
			l.resignErr = err
			l.s.removeCandidate(l.node)
		}
		l.lose("resigned")
	})
	return l.resignErr
}
