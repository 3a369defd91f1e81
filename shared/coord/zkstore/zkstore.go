package zkstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/pegasus-go/pegasus/shared/coord"
	"github.com/pegasus-go/pegasus/shared/coord/internal/session"
)

// Options configures Open.
type Options struct {
	// Servers are the ensemble's "host:port" addresses.
	Servers []string
	// Root is the path every store path is relative to (a client-side
	// chroot), e.g. "/pegasus/onebox". It is created if missing. Empty
	// means "/".
	Root string
	// SessionTimeout is the ZooKeeper session timeout (default 10s). The
	// server may clamp it to its configured bounds.
	SessionTimeout time.Duration
	// DisconnectGrace is how long the connection may stay down before the
	// store declares its session lost without waiting to hear from the
	// server (default SessionTimeout/3). The server may expire the session
	// as early as about SessionTimeout/3 after the client notices a
	// disconnection, so a larger value risks a leader that keeps acting
	// after its successor was elected.
	DisconnectGrace time.Duration
	// ConnectTimeout bounds Open's wait for the first session (default
	// 30s); ctx may end it earlier.
	ConnectTimeout time.Duration
	// Logger receives the store's and the ZooKeeper client's messages
	// (default: discard).
	Logger *slog.Logger
}

func (o *Options) setDefaults() error {
	if len(o.Servers) == 0 {
		return fmt.Errorf("%w: no ZooKeeper servers", coord.ErrInvalidArgument)
	}
	if o.Root == "" {
		o.Root = "/"
	}
	if err := coord.ValidatePath(o.Root); err != nil {
		return fmt.Errorf("zkstore: root: %w", err)
	}
	if o.SessionTimeout <= 0 {
		o.SessionTimeout = 10 * time.Second
	}
	if o.DisconnectGrace <= 0 {
		o.DisconnectGrace = o.SessionTimeout / 3
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 30 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Store is a coord.Store on ZooKeeper. One Store is one ZooKeeper session.
type Store struct {
	conn   atomic.Pointer[zk.Conn]
	prefix string // Root without a trailing slash; "" for "/"
	opts   Options
	log    *slog.Logger
	life   *session.Life
	ready  chan struct{} // closed at the first established session

	mu struct {
		sync.Mutex
		hadSession bool
		sessionID  int64
		graceTimer *time.Timer // running while disconnected
	}
}

var _ coord.Store = (*Store)(nil)

var openACL = zk.WorldACL(zk.PermAll)

// Open connects to ZooKeeper, waits for a session and creates the root
// path if it is missing.
func Open(ctx context.Context, opts Options) (*Store, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	s := &Store{
		opts:  opts,
		log:   opts.Logger.With("component", "coord", "backend", "zookeeper"),
		life:  session.New(),
		ready: make(chan struct{}),
	}
	if opts.Root != "/" {
		s.prefix = opts.Root
	}
	conn, _, err := zk.Connect(opts.Servers, opts.SessionTimeout,
		zk.WithLogger(zkLogger{s.log}),
		zk.WithEventCallback(s.onEvent))
	if err != nil {
		return nil, fmt.Errorf("zkstore: connect %v: %w", opts.Servers, err)
	}
	s.conn.Store(conn)

	wctx, cancel := context.WithTimeout(ctx, opts.ConnectTimeout)
	defer cancel()
	select {
	case <-s.ready:
	case <-wctx.Done():
		s.life.End(coord.ErrClosed)
		conn.Close()
		return nil, fmt.Errorf("zkstore: no session with %v: %w", opts.Servers, wctx.Err())
	}
	if err := s.ensureRoot(wctx); err != nil {
		s.Close()
		return nil, err
	}
	s.log.Info("zookeeper session established", "servers", opts.Servers, "root", opts.Root,
		"session", fmt.Sprintf("0x%x", s.SessionID()))
	return s, nil
}

func (s *Store) ensureRoot(ctx context.Context) error {
	if s.prefix == "" {
		return nil
	}
	for i := 1; i <= len(s.prefix); i++ {
		if i < len(s.prefix) && s.prefix[i] != '/' {
			continue
		}
		p := s.prefix[:i]
		err := s.do(ctx, func(c *zk.Conn) error {
			_, err := c.Create(p, nil, zk.FlagPersistent, openACL)
			return err
		})
		if err != nil && !errors.Is(err, coord.ErrNodeExists) {
			return fmt.Errorf("zkstore: create root %s: %w", p, err)
		}
	}
	return nil
}

// onEvent runs on the ZooKeeper client's loop goroutine for every event; it
// must not block.
func (s *Store) onEvent(ev zk.Event) {
	if ev.Type != zk.EventSession {
		return
	}
	switch ev.State {
	case zk.StateHasSession:
		c := s.conn.Load()
		s.mu.Lock()
		if s.mu.graceTimer != nil {
			s.mu.graceTimer.Stop()
			s.mu.graceTimer = nil
		}
		first := !s.mu.hadSession
		var id int64
		if c != nil {
			id = c.SessionID()
		}
		replaced := !first && id != 0 && id != s.mu.sessionID
		if first {
			s.mu.hadSession = true
			s.mu.sessionID = id
			s.life.SetID(id)
		}
		s.mu.Unlock()
		if replaced {
			// The client quietly made a new session: the old one, with
			// our ephemeral nodes, is gone.
			s.lose("session replaced")
			return
		}
		s.life.Emit(coord.SessionConnected)
		if first {
			close(s.ready)
		}
	case zk.StateDisconnected:
		s.mu.Lock()
		if s.mu.hadSession && s.mu.graceTimer == nil && s.life.Err() == nil {
			s.mu.graceTimer = time.AfterFunc(s.opts.DisconnectGrace, func() {
				s.lose("disconnected longer than the grace period")
			})
		}
		s.mu.Unlock()
		s.life.Emit(coord.SessionDisconnected)
	case zk.StateExpired:
		s.lose("expired by the server")
	}
}

// lose makes the session terminal with ErrSessionLost.
func (s *Store) lose(why string) {
	if !s.life.End(coord.ErrSessionLost) {
		return
	}
	s.log.Warn("zookeeper session lost", "session", fmt.Sprintf("0x%x", s.SessionID()), "reason", why)
	// Close from another goroutine: this may run on the client's loop.
	if c := s.conn.Load(); c != nil {
		go c.Close()
	}
}

// Close ends the session; the server deletes its ephemeral nodes at once.
func (s *Store) Close() error {
	if s.life.End(coord.ErrClosed) {
		s.mu.Lock()
		if s.mu.graceTimer != nil {
			s.mu.graceTimer.Stop()
		}
		s.mu.Unlock()
		s.conn.Load().Close()
		s.log.Info("zookeeper session closed", "session", fmt.Sprintf("0x%x", s.SessionID()))
	}
	return nil
}

// SessionID implements coord.Store.
func (s *Store) SessionID() int64 { return s.life.ID() }

// Events implements coord.Store.
func (s *Store) Events() <-chan coord.SessionEvent { return s.life.Events() }

// Done implements coord.Store.
func (s *Store) Done() <-chan struct{} { return s.life.Done() }

// Err implements coord.Store.
func (s *Store) Err() error { return s.life.Err() }

// full maps a store path to the ZooKeeper path.
func (s *Store) full(p string) string {
	if p == "/" && s.prefix != "" {
		return s.prefix
	}
	return s.prefix + p
}

// rel maps a ZooKeeper path under the root back to a store path.
func (s *Store) rel(p string) string {
	r := strings.TrimPrefix(p, s.prefix)
	if r == "" {
		return "/"
	}
	return r
}

// do runs fn with the connection, returning early with ctx's error or the
// session's terminal error. fn may keep running after an early return; the
// caller must not read what fn writes unless do returns nil.
func (s *Store) do(ctx context.Context, fn func(c *zk.Conn) error) error {
	if err := s.life.Err(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	c := s.conn.Load()
	done := make(chan error, 1)
	go func() { done <- fn(c) }()
	select {
	case err := <-done:
		return s.mapErr(err)
	case <-ctx.Done():
		return ctx.Err()
	case <-s.life.Done():
		return s.life.Err()
	}
}

func (s *Store) mapErr(err error) error {
	var me *coord.MultiError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &me):
		return err
	case errors.Is(err, zk.ErrNoNode):
		return coord.ErrNoNode
	case errors.Is(err, zk.ErrNodeExists):
		return coord.ErrNodeExists
	case errors.Is(err, zk.ErrBadVersion):
		return coord.ErrBadVersion
	case errors.Is(err, zk.ErrNotEmpty):
		return coord.ErrNotEmpty
	case errors.Is(err, zk.ErrNoChildrenForEphemerals):
		return coord.ErrNoChildrenForEphemerals
	case errors.Is(err, zk.ErrInvalidPath), errors.Is(err, zk.ErrBadArguments):
		return fmt.Errorf("%w: %v", coord.ErrInvalidPath, err)
	case errors.Is(err, zk.ErrSessionExpired):
		s.lose("expired by the server")
		return coord.ErrSessionLost
	case errors.Is(err, zk.ErrConnectionClosed), errors.Is(err, zk.ErrClosing), errors.Is(err, zk.ErrNoServer):
		if terr := s.life.Err(); terr != nil {
			return terr
		}
		return fmt.Errorf("%w: %v", coord.ErrConnectionLoss, err)
	}
	return fmt.Errorf("zookeeper: %w", err)
}

func toStat(st *zk.Stat) coord.Stat {
	if st == nil {
		return coord.Stat{}
	}
	return coord.Stat{
		Version:        st.Version,
		CVersion:       st.Cversion,
		NumChildren:    st.NumChildren,
		DataLength:     st.DataLength,
		EphemeralOwner: st.EphemeralOwner,
		CreateRevision: st.Czxid,
		ModRevision:    st.Mzxid,
		Ctime:          time.UnixMilli(st.Ctime),
		Mtime:          time.UnixMilli(st.Mtime),
	}
}

func zkFlags(m coord.Mode) int32 {
	var f int32
	if m&coord.Ephemeral != 0 {
		f |= zk.FlagEphemeral
	}
	if m&coord.Sequential != 0 {
		f |= zk.FlagSequence
	}
	return f
}

// Create implements coord.Store.
func (s *Store) Create(ctx context.Context, path string, data []byte, mode coord.Mode) (string, error) {
	if err := coord.ValidateCreate(path, data, mode); err != nil {
		return "", coord.WrapPath("create", path, err)
	}
	var created string
	err := s.do(ctx, func(c *zk.Conn) (err error) {
		created, err = c.Create(s.full(path), data, zkFlags(mode), openACL)
		return err
	})
	if err != nil {
		return "", coord.WrapPath("create", path, err)
	}
	return s.rel(created), nil
}

// Get implements coord.Store.
func (s *Store) Get(ctx context.Context, path string) ([]byte, coord.Stat, error) {
	if err := coord.ValidatePath(path); err != nil {
		return nil, coord.Stat{}, coord.WrapPath("get", path, err)
	}
	var data []byte
	var st *zk.Stat
	err := s.do(ctx, func(c *zk.Conn) (err error) {
		data, st, err = c.Get(s.full(path))
		return err
	})
	if err != nil {
		return nil, coord.Stat{}, coord.WrapPath("get", path, err)
	}
	return data, toStat(st), nil
}

// GetW implements coord.Store.
func (s *Store) GetW(ctx context.Context, path string) ([]byte, coord.Stat, <-chan coord.Event, error) {
	if err := coord.ValidatePath(path); err != nil {
		return nil, coord.Stat{}, nil, coord.WrapPath("get", path, err)
	}
	var data []byte
	var st *zk.Stat
	var w <-chan zk.Event
	err := s.do(ctx, func(c *zk.Conn) (err error) {
		data, st, w, err = c.GetW(s.full(path))
		return err
	})
	if err != nil {
		return nil, coord.Stat{}, nil, coord.WrapPath("get", path, err)
	}
	return data, toStat(st), s.watch(path, w), nil
}

// Set implements coord.Store.
func (s *Store) Set(ctx context.Context, path string, data []byte, version int32) (coord.Stat, error) {
	if err := coord.SetOp(path, data, version).Validate(); err != nil {
		return coord.Stat{}, coord.WrapPath("set", path, err)
	}
	var st *zk.Stat
	err := s.do(ctx, func(c *zk.Conn) (err error) {
		st, err = c.Set(s.full(path), data, version)
		return err
	})
	if err != nil {
		return coord.Stat{}, coord.WrapPath("set", path, err)
	}
	return toStat(st), nil
}

// Delete implements coord.Store.
func (s *Store) Delete(ctx context.Context, path string, version int32) error {
	if err := coord.DeleteOp(path, version).Validate(); err != nil {
		return coord.WrapPath("delete", path, err)
	}
	err := s.do(ctx, func(c *zk.Conn) error {
		return c.Delete(s.full(path), version)
	})
	return coord.WrapPath("delete", path, err)
}

// Exists implements coord.Store.
func (s *Store) Exists(ctx context.Context, path string) (coord.Stat, bool, error) {
	if err := coord.ValidatePath(path); err != nil {
		return coord.Stat{}, false, coord.WrapPath("exists", path, err)
	}
	var ok bool
	var st *zk.Stat
	err := s.do(ctx, func(c *zk.Conn) (err error) {
		ok, st, err = c.Exists(s.full(path))
		return err
	})
	if err != nil {
		return coord.Stat{}, false, coord.WrapPath("exists", path, err)
	}
	if !ok {
		return coord.Stat{}, false, nil
	}
	return toStat(st), true, nil
}

// ExistsW implements coord.Store.
func (s *Store) ExistsW(ctx context.Context, path string) (coord.Stat, bool, <-chan coord.Event, error) {
	if err := coord.ValidatePath(path); err != nil {
		return coord.Stat{}, false, nil, coord.WrapPath("exists", path, err)
	}
	var ok bool
	var st *zk.Stat
	var w <-chan zk.Event
	err := s.do(ctx, func(c *zk.Conn) (err error) {
		ok, st, w, err = c.ExistsW(s.full(path))
		return err
	})
	if err != nil {
		return coord.Stat{}, false, nil, coord.WrapPath("exists", path, err)
	}
	if !ok {
		return coord.Stat{}, false, s.watch(path, w), nil
	}
	return toStat(st), true, s.watch(path, w), nil
}

// Children implements coord.Store.
func (s *Store) Children(ctx context.Context, path string) ([]string, coord.Stat, error) {
	if err := coord.ValidatePath(path); err != nil {
		return nil, coord.Stat{}, coord.WrapPath("children", path, err)
	}
	var names []string
	var st *zk.Stat
	err := s.do(ctx, func(c *zk.Conn) (err error) {
		names, st, err = c.Children(s.full(path))
		return err
	})
	if err != nil {
		return nil, coord.Stat{}, coord.WrapPath("children", path, err)
	}
	slices.Sort(names)
	return names, toStat(st), nil
}

// ChildrenW implements coord.Store.
func (s *Store) ChildrenW(ctx context.Context, path string) ([]string, coord.Stat, <-chan coord.Event, error) {
	if err := coord.ValidatePath(path); err != nil {
		return nil, coord.Stat{}, nil, coord.WrapPath("children", path, err)
	}
	var names []string
	var st *zk.Stat
	var w <-chan zk.Event
	err := s.do(ctx, func(c *zk.Conn) (err error) {
		names, st, w, err = c.ChildrenW(s.full(path))
		return err
	})
	if err != nil {
		return nil, coord.Stat{}, nil, coord.WrapPath("children", path, err)
	}
	slices.Sort(names)
	return names, toStat(st), s.watch(path, w), nil
}

// watch translates one ZooKeeper watch into a coord watch channel. The
// goroutine ends when the client delivers the event, at the latest when the
// connection is closed.
func (s *Store) watch(path string, w <-chan zk.Event) <-chan coord.Event {
	out := make(chan coord.Event, 1)
	go func() {
		defer close(out)
		ev, ok := <-w
		out <- s.toEvent(path, ev, ok)
	}()
	return out
}

func (s *Store) toEvent(path string, ev zk.Event, ok bool) coord.Event {
	notWatching := func() coord.Event {
		err := s.life.Err()
		if err == nil {
			err = coord.ErrSessionLost
			if ok && ev.Err != nil {
				err = s.mapErr(ev.Err)
			}
		}
		return coord.Event{Type: coord.EventNotWatching, Path: path, Err: err}
	}
	if !ok {
		return notWatching()
	}
	switch ev.Type {
	case zk.EventNodeCreated:
		return coord.Event{Type: coord.EventCreated, Path: path}
	case zk.EventNodeDeleted:
		return coord.Event{Type: coord.EventDeleted, Path: path}
	case zk.EventNodeDataChanged:
		return coord.Event{Type: coord.EventDataChanged, Path: path}
	case zk.EventNodeChildrenChanged:
		return coord.Event{Type: coord.EventChildrenChanged, Path: path}
	}
	return notWatching()
}

// Multi implements coord.Store with a ZooKeeper multi transaction.
func (s *Store) Multi(ctx context.Context, ops ...coord.Op) ([]coord.OpResult, error) {
	if err := coord.ValidateMulti(ops); err != nil {
		return nil, err
	}
	if len(ops) == 0 {
		if err := s.life.Err(); err != nil {
			return nil, err
		}
		return nil, nil
	}
	reqs := make([]any, len(ops))
	for i, op := range ops {
		p := s.full(op.Path)
		switch op.Kind {
		case coord.OpCreate:
			reqs[i] = &zk.CreateRequest{Path: p, Data: op.Data, Acl: openACL, Flags: zkFlags(op.Mode)}
		case coord.OpSet:
			reqs[i] = &zk.SetDataRequest{Path: p, Data: op.Data, Version: op.Version}
		case coord.OpDelete:
			reqs[i] = &zk.DeleteRequest{Path: p, Version: op.Version}
		case coord.OpCheck:
			reqs[i] = &zk.CheckVersionRequest{Path: p, Version: op.Version}
		}
	}
	var out []coord.OpResult
	err := s.do(ctx, func(c *zk.Conn) error {
		resps, err := c.Multi(reqs...)
		if err != nil {
			// The first op with an error is the one that failed; the
			// server marks the ops after it as rolled back.
			for i, r := range resps {
				if r.Error != nil && i < len(ops) {
					return &coord.MultiError{Index: i, Op: ops[i], Err: s.mapErr(r.Error)}
				}
			}
			return err
		}
		if len(resps) != len(ops) {
			return fmt.Errorf("%d results for %d ops", len(resps), len(ops))
		}
		out = make([]coord.OpResult, len(ops))
		for i, op := range ops {
			out[i].Path = op.Path
			switch op.Kind {
			case coord.OpCreate:
				out[i].Path = s.rel(resps[i].String)
			case coord.OpSet:
				out[i].Stat = toStat(resps[i].Stat)
			}
		}
		return nil
	})
	if err != nil {
		var me *coord.MultiError
		if errors.As(err, &me) {
			return nil, err
		}
		return nil, fmt.Errorf("coord: multi: %w", err)
	}
	return out, nil
}

// zkLogger routes the ZooKeeper client's Printf logging to slog.
type zkLogger struct{ l *slog.Logger }

func (z zkLogger) Printf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	level := slog.LevelInfo
	if strings.Contains(msg, "fail") || strings.Contains(msg, "error") {
		level = slog.LevelWarn
	}
	z.l.Log(context.Background(), level, msg, "source", "zk-client")
}
