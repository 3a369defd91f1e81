package localstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pegasus-go/pegasus/shared/coord"
	"github.com/pegasus-go/pegasus/shared/coord/internal/session"
)

// Options configures Open.
type Options struct {
	// Dir is the store directory shared by every process on the machine.
	// It is created if missing.
	Dir string
	// Root is the path every store path is relative to, e.g.
	// "/pegasus/onebox"; created if missing. Empty means "/".
	Root string
	// PollInterval is how often the store checks watches, dead sessions
	// and its own session, and retries a contended election lock
	// (default 100ms).
	PollInterval time.Duration
	// Logger receives the store's messages (default: discard).
	Logger *slog.Logger
}

func (o *Options) setDefaults() error {
	if o.Dir == "" {
		return fmt.Errorf("%w: no store directory", coord.ErrInvalidArgument)
	}
	if o.Root == "" {
		o.Root = "/"
	}
	if err := coord.ValidatePath(o.Root); err != nil {
		return fmt.Errorf("localstore: root: %w", err)
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 100 * time.Millisecond
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Store is a coord.Store on a local directory. One Store is one session.
type Store struct {
	d        *disk
	prefix   string // Root without a trailing slash; "" for "/"
	opts     Options
	log      *slog.Logger
	life     *session.Life
	id       int64
	sessPath string
	sess     *os.File // holds the session's flock for the store's lifetime
	sessInfo os.FileInfo

	wsem     chan struct{} // serialises this process's writers before the flock
	lastReap atomic.Int64  // unix nanos of the last dead-session scan
	bg       context.Context
	stopBg   context.CancelFunc
	loopDone chan struct{}

	releaseOnce sync.Once
	mu          struct {
		sync.Mutex
		released bool
		watches  []*watch // in registration order
		leaders  map[*leadership]struct{}
	}
}

var _ coord.Store = (*Store)(nil)

// Open opens a new session on the store in opts.Dir, creating the
// directory and the root path if needed.
func Open(ctx context.Context, opts Options) (*Store, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	d := &disk{dir: opts.Dir}
	for _, sub := range []string{sessionsDir, locksDir, treeDir} {
		if err := os.MkdirAll(d.path(sub), 0o755); err != nil {
			return nil, fmt.Errorf("localstore: %w", err)
		}
	}
	s := &Store{
		d:        d,
		opts:     opts,
		life:     session.New(),
		wsem:     make(chan struct{}, 1),
		loopDone: make(chan struct{}),
	}
	if opts.Root != "/" {
		s.prefix = opts.Root
	}
	s.mu.leaders = map[*leadership]struct{}{}
	if err := s.openSession(ctx); err != nil {
		return nil, fmt.Errorf("localstore: open %s: %w", opts.Dir, err)
	}
	s.log = opts.Logger.With("component", "coord", "backend", "local", "session", s.id)
	s.life.SetID(s.id)
	s.life.Emit(coord.SessionConnected)
	s.bg, s.stopBg = context.WithCancel(context.Background())
	go s.loop()
	s.log.Info("local coordination session opened", "dir", opts.Dir, "root", opts.Root)
	return s, nil
}

// openSession allocates a session id, takes the session file's flock and
// creates the root, all under the exclusive store lock.
func (s *Store) openSession(ctx context.Context) error {
	f, err := s.d.lock(ctx, syscall.LOCK_EX)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := s.d.recover(); err != nil {
		return err
	}
	st, existed, err := s.d.readState()
	if err != nil {
		return err
	}
	var acts []action
	if !existed {
		acts = append(acts, action{Path: "/", Meta: &nodeMeta{}})
	}
	s.id = st.NextSession
	st.NextSession++
	if err := s.d.commit(&journal{State: st, Actions: acts}); err != nil {
		return err
	}
	// Lock the session file under a temporary name and rename it into
	// place, so no scan ever sees it unlocked and takes it for dead.
	s.sessPath = s.d.path(sessionsDir, strconv.FormatInt(s.id, 10))
	tmp := filepath.Join(filepath.Dir(s.sessPath), "."+filepath.Base(s.sessPath)+tmpSuffix)
	sf, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if ok, err := tryFlock(sf); !ok || err != nil {
		sf.Close()
		return fmt.Errorf("lock new session file: %v", err)
	}
	fmt.Fprintf(sf, "pid %d\n", os.Getpid())
	if err := os.Rename(tmp, s.sessPath); err != nil {
		sf.Close()
		return err
	}
	if s.sessInfo, err = sf.Stat(); err != nil {
		sf.Close()
		return err
	}
	s.sess = sf
	if s.prefix != "" {
		if err := s.d.runTxn(func(t *txn) error { return t.ensure(s.prefix) }); err != nil {
			s.sess.Close()
			os.Remove(s.sessPath)
			return fmt.Errorf("create root: %w", err)
		}
	}
	return nil
}

// runTxn stages fn in a transaction and commits it. Caller holds the
// exclusive lock.
func (d *disk) runTxn(fn func(t *txn) error) error {
	st, _, err := d.readState()
	if err != nil {
		return err
	}
	t := newTxn(d, st.Zxid+1, time.Now().UnixMilli())
	if err := fn(t); err != nil {
		return err
	}
	if len(t.acts) == 0 {
		return nil
	}
	st.Zxid = t.zxid
	return d.commit(&journal{State: st, Actions: t.acts})
}

// sessionValid reports whether this store's session file is still the one
// it created; another process expiring the session removes it.
func (s *Store) sessionValid() bool {
	fi, err := os.Stat(s.sessPath)
	return err == nil && os.SameFile(fi, s.sessInfo)
}

// exclusive runs fn under the exclusive store lock, after replaying any
// half-applied transaction.
func (s *Store) exclusive(ctx context.Context, fn func() error) error {
	select {
	case s.wsem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-s.wsem }()
	f, err := s.d.lock(ctx, syscall.LOCK_EX)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := s.d.recover(); err != nil {
		return err
	}
	return fn()
}

// update runs fn as one transaction of this live session.
func (s *Store) update(ctx context.Context, fn func(t *txn) error) error {
	if err := s.life.Err(); err != nil {
		return err
	}
	return s.exclusive(ctx, func() error {
		if !s.sessionValid() {
			s.lose("session expired by another process")
			return coord.ErrSessionLost
		}
		return s.d.runTxn(fn)
	})
}

// read runs fn under the shared store lock.
func (s *Store) read(ctx context.Context, fn func() error) error {
	if err := s.life.Err(); err != nil {
		return err
	}
	s.maybeReap(ctx)
	f, err := s.d.lock(ctx, syscall.LOCK_SH)
	if err != nil {
		return err
	}
	if s.d.hasJournal() {
		// A writer died mid-commit; replay under the exclusive lock and
		// read there.
		f.Close()
		return s.exclusive(ctx, fn)
	}
	defer f.Close()
	return fn()
}

// loop is the store's background goroutine: own-session check, dead-
// session scan and watch polling, every PollInterval.
func (s *Store) loop() {
	defer close(s.loopDone)
	t := time.NewTicker(s.opts.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-s.bg.Done():
			return
		case <-t.C:
		}
		if !s.sessionValid() {
			s.lose("session expired by another process")
			return
		}
		s.maybeReap(s.bg)
		s.pollWatches(s.bg)
	}
}

// maybeReap scans for dead sessions at most once per PollInterval across
// the reads and the background loop of this store.
func (s *Store) maybeReap(ctx context.Context) {
	now := time.Now().UnixNano()
	last := s.lastReap.Load()
	if now-last < int64(s.opts.PollInterval) || !s.lastReap.CompareAndSwap(last, now) {
		return
	}
	s.reap(ctx)
}

// reap finds sessions whose file nobody holds locked (their process died
// or closed its descriptor) and removes their ephemeral nodes and file.
func (s *Store) reap(ctx context.Context) {
	ents, err := os.ReadDir(s.d.path(sessionsDir))
	if err != nil {
		s.log.Warn("cannot list sessions", "err", err)
		return
	}
	for _, e := range ents {
		id, err := strconv.ParseInt(e.Name(), 10, 64)
		if err != nil || id == s.id {
			continue
		}
		p := s.d.path(sessionsDir, e.Name())
		f, err := os.OpenFile(p, os.O_RDWR, 0)
		if err != nil {
			continue // removed meanwhile
		}
		dead, err := tryFlock(f)
		if err == nil && dead {
			err = s.exclusive(ctx, func() error {
				// Another store may have reaped it while we waited.
				fi, err := os.Stat(p)
				if err != nil {
					return nil
				}
				if hi, err := f.Stat(); err != nil || !os.SameFile(fi, hi) {
					return nil
				}
				n, err := expireLocked(s.d, id)
				if err != nil {
					return err
				}
				s.log.Info("removed a dead session", "dead_session", id, "ephemeral_nodes", n)
				return nil
			})
		}
		f.Close()
		if err != nil && ctx.Err() == nil {
			s.log.Warn("cannot remove a dead session", "dead_session", id, "err", err)
		}
	}
}

// expireLocked deletes the ephemeral nodes of session id and its session
// file. Caller holds the exclusive lock.
func expireLocked(d *disk, id int64) (int, error) {
	owned, err := d.ownedBy(id)
	if err != nil {
		return 0, err
	}
	if len(owned) > 0 {
		err = d.runTxn(func(t *txn) error {
			for _, abs := range owned {
				if err := t.remove(abs, coord.AnyVersion); err != nil && !errors.Is(err, coord.ErrNoNode) {
					return fmt.Errorf("remove %s: %w", abs, err)
				}
			}
			return nil
		})
		if err != nil {
			return 0, err
		}
	}
	if err := os.Remove(d.path(sessionsDir, strconv.FormatInt(id, 10))); err != nil && !errors.Is(err, os.ErrNotExist) {
		return len(owned), err
	}
	return len(owned), nil
}

// ExpireSession ends session id of the store in dir from outside, as
// ZooKeeper's server expires a session: its ephemeral nodes are deleted at
// once and the owning Store, if still running, reports SessionLost within
// its PollInterval (or at its next write). It returns an error wrapping
// coord.ErrNoNode when no such session is open.
func ExpireSession(ctx context.Context, dir string, id int64) error {
	d := &disk{dir: dir}
	f, err := d.lock(ctx, syscall.LOCK_EX)
	if err != nil {
		return fmt.Errorf("localstore: expire session %d: %w", id, err)
	}
	defer f.Close()
	if err := d.recover(); err != nil {
		return fmt.Errorf("localstore: expire session %d: %w", id, err)
	}
	if _, err := os.Stat(d.path(sessionsDir, strconv.FormatInt(id, 10))); err != nil {
		return fmt.Errorf("localstore: expire session %d: %w", id, coord.ErrNoNode)
	}
	if _, err := expireLocked(d, id); err != nil {
		return fmt.Errorf("localstore: expire session %d: %w", id, err)
	}
	return nil
}

// lose ends the session with ErrSessionLost. Its ephemeral nodes are
// already gone (whoever expired it removed them).
func (s *Store) lose(why string) {
	if !s.life.End(coord.ErrSessionLost) {
		return
	}
	s.log.Warn("local coordination session lost", "reason", why)
	s.stopBg()
	s.release()
}

// release ends every leadership and watch and drops the session's flock.
func (s *Store) release() {
	s.releaseOnce.Do(func() {
		s.mu.Lock()
		s.mu.released = true
		ws, ls := s.mu.watches, s.mu.leaders
		s.mu.watches, s.mu.leaders = nil, nil
		s.mu.Unlock()
		for l := range ls {
			l.end("session ended")
		}
		err := s.life.Err()
		for _, w := range ws {
			w.fire(coord.Event{Type: coord.EventNotWatching, Path: w.rel, Err: err})
		}
		s.sess.Close()
	})
}

// Close ends the session: its ephemeral nodes and session file are removed,
// leaderships end and watches fire EventNotWatching.
func (s *Store) Close() error {
	if !s.life.End(coord.ErrClosed) {
		<-s.loopDone
		return nil
	}
	s.stopBg()
	<-s.loopDone
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := s.exclusive(ctx, func() error {
		if !s.sessionValid() {
			return nil // expired meanwhile; the expirer cleaned up
		}
		_, err := expireLocked(s.d, s.id)
		return err
	})
	s.release()
	if err != nil {
		return fmt.Errorf("localstore: close session %d: %w", s.id, err)
	}
	s.log.Info("local coordination session closed")
	return nil
}

// SessionID implements coord.Store.
func (s *Store) SessionID() int64 { return s.id }

// Events implements coord.Store.
func (s *Store) Events() <-chan coord.SessionEvent { return s.life.Events() }

// Done implements coord.Store.
func (s *Store) Done() <-chan struct{} { return s.life.Done() }

// Err implements coord.Store.
func (s *Store) Err() error { return s.life.Err() }

// abs maps a store path to the absolute path in the directory's tree.
func (s *Store) abs(p string) string {
	if p == "/" && s.prefix != "" {
		return s.prefix
	}
	return s.prefix + p
}

// rel maps an absolute path under the root back to a store path.
func (s *Store) rel(p string) string {
	r := p[len(s.prefix):]
	if r == "" {
		return "/"
	}
	return r
}
