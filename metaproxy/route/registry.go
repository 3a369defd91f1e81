package route

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/pegasus-go/pegasus/shared/coord"
	"github.com/pegasus-go/pegasus/shared/coord/zkstore"
)

// DefaultRoot is the default root of the routing table in ZooKeeper.
const DefaultRoot = "/pegasus-proxy"

// Registry reads and writes the routes under one root of a coordination
// store. See the package doc.
type Registry struct {
	store coord.Store
	root  string
	own   bool // Close closes the store
}

// NewRegistry returns a Registry for the routes under root in store (whose
// own root, for ZooKeeper, is the chroot every path is relative to). The
// caller keeps owning store.
func NewRegistry(store coord.Store, root string) (*Registry, error) {
	if store == nil {
		return nil, errors.New("route: nil store")
	}
	if err := CheckRoot(root); err != nil {
		return nil, err
	}
	return &Registry{store: store, root: root}, nil
}

// CheckRoot accepts a valid absolute node path other than "/".
func CheckRoot(root string) error {
	if err := coord.ValidatePath(root); err != nil {
		return fmt.Errorf("route: root: %w", err)
	}
	if root == "/" {
		return errors.New("route: root \"/\": want a dedicated path such as " + DefaultRoot)
	}
	return nil
}

// OpenOptions configure Open.
type OpenOptions struct {
	// Servers is the ZooKeeper ensemble ("host:port" list).
	Servers []string
	// Root is the routing table's path (default DefaultRoot).
	Root string
	// SessionTimeout is the ZooKeeper session timeout (default 10s).
	SessionTimeout time.Duration
	// ConnectTimeout bounds the wait for the session (default 10s).
	ConnectTimeout time.Duration
	// Logger receives the ZooKeeper client's messages (default discard).
	Logger *slog.Logger
}

// Open opens a ZooKeeper session for the routing table at o.Root. Nothing
// is created until a route is written. Close ends the session.
func Open(ctx context.Context, o OpenOptions) (*Registry, error) {
	if o.Root == "" {
		o.Root = DefaultRoot
	}
	if err := CheckRoot(o.Root); err != nil {
		return nil, err
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 10 * time.Second
	}
	s, err := zkstore.Open(ctx, zkstore.Options{
		Servers: o.Servers, SessionTimeout: o.SessionTimeout, ConnectTimeout: o.ConnectTimeout, Logger: o.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("route: %w", err)
	}
	return &Registry{store: s, root: o.Root, own: true}, nil
}

// Close closes the store if Open opened it.
func (g *Registry) Close() error {
	if g.own {
		return g.store.Close()
	}
	return nil
}

// Root returns the routing table's path.
func (g *Registry) Root() string { return g.root }

// Store returns the underlying store.
func (g *Registry) Store() coord.Store { return g.store }

// Path returns the node of table.
func (g *Registry) Path(table string) string { return coord.Join(g.root, table) }

// Lookup is what the store holds for one table.
type Lookup struct {
	Table string
	// Found: the table's node exists. Route is valid only when Found and
	// Invalid is nil.
	Found bool
	Route Route
	// Stat is the node's Stat when Found (Version for compare-and-set).
	Stat coord.Stat
	// Invalid says why an existing node holds no valid route.
	Invalid error
}

// Err returns nil for a valid route, ErrNoRoute or the ErrInvalidRoute
// of the node otherwise, naming the table and the node.
func (l Lookup) Err(root string) error {
	switch {
	case !l.Found:
		return fmt.Errorf("%w %q (no node %s)", ErrNoRoute, l.Table, coord.Join(root, l.Table))
	case l.Invalid != nil:
		return fmt.Errorf("node %s: %w", coord.Join(root, l.Table), l.Invalid)
	}
	return nil
}

func (g *Registry) lookup(table string, data []byte, st coord.Stat) Lookup {
	l := Lookup{Table: table, Found: true, Stat: st}
	l.Route, l.Invalid = Decode(data)
	return l
}

// Get returns the route of table and its node's Stat. Errors:
// ErrInvalidTable, ErrNoRoute, ErrInvalidRoute (the node's data), or the
// store's error.
func (g *Registry) Get(ctx context.Context, table string) (Route, coord.Stat, error) {
	if err := CheckTable(table); err != nil {
		return Route{}, coord.Stat{}, err
	}
	data, st, err := g.store.Get(ctx, g.Path(table))
	if errors.Is(err, coord.ErrNoNode) {
		return Route{}, coord.Stat{}, Lookup{Table: table}.Err(g.root)
	}
	if err != nil {
		return Route{}, coord.Stat{}, err
	}
	l := g.lookup(table, data, st)
	return l.Route, st, l.Err(g.root)
}

// Watch reads table's node and sets a one-shot watch on it: for an
// existing node the watch fires when its data changes or it is deleted,
// for a missing one when it is created. Only store failures are errors
// (no watch is set then); a missing or invalid route is reported in the
// Lookup.
func (g *Registry) Watch(ctx context.Context, table string) (Lookup, <-chan coord.Event, error) {
	if err := CheckTable(table); err != nil {
		return Lookup{}, nil, err
	}
	p := g.Path(table)
	for {
		data, st, w, err := g.store.GetW(ctx, p)
		if err == nil {
			return g.lookup(table, data, st), w, nil
		}
		if !errors.Is(err, coord.ErrNoNode) {
			return Lookup{}, nil, err
		}
		_, ok, w, err := g.store.ExistsW(ctx, p)
		if err != nil {
			return Lookup{}, nil, err
		}
		if !ok {
			return Lookup{Table: table}, w, nil
		}
		// Created between the two reads; the data watch set by ExistsW
		// stays pending and fires once, harmlessly. Read again.
		if ctx.Err() != nil {
			return Lookup{}, nil, ctx.Err()
		}
	}
}

// Create writes a new route for table; coord.ErrNodeExists when the table
// has one. The root is created if missing.
func (g *Registry) Create(ctx context.Context, table string, r Route) (coord.Stat, error) {
	if err := CheckTable(table); err != nil {
		return coord.Stat{}, err
	}
	data, err := r.Encode()
	if err != nil {
		return coord.Stat{}, err
	}
	if _, err := coord.CreateAll(ctx, g.store, g.Path(table), data, coord.Persistent); err != nil {
		return coord.Stat{}, err
	}
	st, _, err := g.store.Exists(ctx, g.Path(table))
	return st, err
}

// Set writes the route of table. With version coord.AnyVersion it creates
// the node or overwrites it; with a version >= 0 it overwrites only the
// node at that version (coord.ErrBadVersion if it changed, ErrNoRoute if
// it is gone), a compare-and-set for migrations. It returns the node's new
// Stat.
func (g *Registry) Set(ctx context.Context, table string, r Route, version int32) (coord.Stat, error) {
	if err := CheckTable(table); err != nil {
		return coord.Stat{}, err
	}
	data, err := r.Encode()
	if err != nil {
		return coord.Stat{}, err
	}
	p := g.Path(table)
	for {
		st, err := g.store.Set(ctx, p, data, version)
		if !errors.Is(err, coord.ErrNoNode) {
			return st, err
		}
		if version != coord.AnyVersion {
			return coord.Stat{}, Lookup{Table: table}.Err(g.root)
		}
		_, err = coord.CreateAll(ctx, g.store, p, data, coord.Persistent)
		if err == nil {
			st, _, err := g.store.Exists(ctx, p)
			return st, err
		}
		if !errors.Is(err, coord.ErrNodeExists) {
			return coord.Stat{}, err
		}
		// Created concurrently: overwrite it.
	}
}

// Delete removes table's route if its version matches (coord.AnyVersion
// matches all); ErrNoRoute if there is none.
func (g *Registry) Delete(ctx context.Context, table string, version int32) error {
	if err := CheckTable(table); err != nil {
		return err
	}
	err := g.store.Delete(ctx, g.Path(table), version)
	if errors.Is(err, coord.ErrNoNode) {
		return Lookup{Table: table}.Err(g.root)
	}
	return err
}

// Tables returns the names of the tables with a node under the root,
// sorted; none when the root does not exist.
func (g *Registry) Tables(ctx context.Context) ([]string, error) {
	names, _, err := g.store.Children(ctx, g.root)
	if errors.Is(err, coord.ErrNoNode) {
		return nil, nil
	}
	return names, err
}

// List returns every route under the root, sorted by table. Nodes that
// vanish while listing are skipped; nodes with bad data are returned with
// Lookup.Invalid set.
func (g *Registry) List(ctx context.Context) ([]Lookup, error) {
	names, err := g.Tables(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Lookup, 0, len(names))
	for _, n := range names {
		data, st, err := g.store.Get(ctx, g.Path(n))
		if errors.Is(err, coord.ErrNoNode) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, g.lookup(n, data, st))
	}
	return out, nil
}

// Path returns the node of the lookup's table under root.
func (l Lookup) Path(root string) string { return coord.Join(root, l.Table) }
