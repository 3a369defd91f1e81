package proxy

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/uber-go/tally/v4"

	"github.com/pegasus-go/pegasus/client-go/admin"
	"github.com/pegasus-go/pegasus/metaproxy/route"
	"github.com/pegasus-go/pegasus/shared/coord"
	"github.com/pegasus-go/pegasus/shared/logging"
	"github.com/pegasus-go/pegasus/shared/rpc"
)

// Defaults of Options.
const (
	DefaultCacheSize      = 10000
	DefaultForwardTimeout = 5 * time.Second
	DefaultStoreTimeout   = 5 * time.Second
	DefaultReopenInterval = time.Second
)

// Options configure a Proxy.
type Options struct {
	// Open opens a new session on the coordination store holding the
	// routes. Required. It is called again whenever the session ends.
	Open func(ctx context.Context) (coord.Store, error)
	// StoreDesc describes the store for messages and the status page
	// (e.g. the ZooKeeper hosts).
	StoreDesc string
	// Root is the routing table's path in the store. Required.
	Root string
	// CacheSize bounds the cached routes (default DefaultCacheSize).
	CacheSize int
	// ForwardTimeout bounds a forwarded query whose request carries no
	// deadline (default DefaultForwardTimeout).
	ForwardTimeout time.Duration
	// StoreTimeout bounds one read of a route (default
	// DefaultStoreTimeout).
	StoreTimeout time.Duration
	// ReopenInterval is the first pause before reopening a failed or lost
	// store session; it doubles up to 30s (default DefaultReopenInterval).
	ReopenInterval time.Duration
	// RPC is the client forwarded queries go through. Required; the caller
	// keeps owning it.
	RPC *rpc.Client
	// Address is this proxy's RPC address, used in messages.
	Address string
	// Logger (default discard) and Scope (default no-op) receive the
	// proxy's logs and metrics.
	Logger *slog.Logger
	Scope  tally.Scope
}

// Proxy resolves tables to clusters and forwards configuration queries.
// See the package doc.
type Proxy struct {
	opts    Options
	log     *slog.Logger
	metrics *metricSet

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu struct {
		sync.Mutex
		closed   bool
		reg      *route.Registry // nil without a session
		sessions int             // sessions opened so far
		lastErr  error           // why there is no session
		entries  map[string]*entry
		lru      list.List // of *entry, most recently used first
		clusters map[string]*admin.Client
	}
}

// entry is one cached table.
type entry struct {
	table string
	ready chan struct{} // closed when the first read ended
	stop  chan struct{} // closed when the entry leaves the cache
	elem  *list.Element // in Proxy.mu.lru; nil once evicted

	// Set before ready is closed, then guarded by Proxy.mu.
	lookup  route.Lookup
	err     error // the first read failed (the entry is not cached)
	updated time.Time
	queries int64
}

// New validates o and starts the session loop.
func New(o Options) (*Proxy, error) {
	if o.Open == nil || o.RPC == nil {
		return nil, errors.New("metaproxy: Options.Open and Options.RPC are required")
	}
	if err := route.CheckRoot(o.Root); err != nil {
		return nil, fmt.Errorf("metaproxy: %w", err)
	}
	if o.CacheSize < 0 || o.ForwardTimeout < 0 || o.StoreTimeout < 0 || o.ReopenInterval < 0 {
		return nil, errors.New("metaproxy: negative cache size, timeout or interval")
	}
	if o.CacheSize == 0 {
		o.CacheSize = DefaultCacheSize
	}
	if o.ForwardTimeout == 0 {
		o.ForwardTimeout = DefaultForwardTimeout
	}
	if o.StoreTimeout == 0 {
		o.StoreTimeout = DefaultStoreTimeout
	}
	if o.ReopenInterval == 0 {
		o.ReopenInterval = DefaultReopenInterval
	}
	o.Logger = logging.OrDiscard(o.Logger)
	if o.Scope == nil {
		o.Scope = tally.NoopScope
	}
	p := &Proxy{opts: o, log: logging.WithComponent(o.Logger, "metaproxy"), metrics: newMetricSet(o.Scope)}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.mu.entries = make(map[string]*entry)
	p.mu.clusters = make(map[string]*admin.Client)
	p.mu.lastErr = errors.New("connecting")
	p.wg.Add(1)
	go p.runSessions()
	return p, nil
}

// Close stops the session loop and the watchers and closes the store
// session. It is idempotent.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.mu.closed {
		p.mu.Unlock()
		p.wg.Wait()
		return nil
	}
	p.mu.closed = true
	p.cancel()
	p.flushLocked()
	for k, c := range p.mu.clusters {
		c.Close()
		delete(p.mu.clusters, k)
	}
	p.mu.Unlock()
	p.wg.Wait()
	return nil
}

// Ready reports nil while the proxy has a store session, else why not.
func (p *Proxy) Ready() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mu.reg != nil {
		return nil
	}
	return fmt.Errorf("no coordination store session with %s: %v", p.opts.StoreDesc, p.mu.lastErr)
}

// runSessions opens store sessions for as long as the proxy lives.
func (p *Proxy) runSessions() {
	defer p.wg.Done()
	pause := p.opts.ReopenInterval
	for p.ctx.Err() == nil {
		s, err := p.opts.Open(p.ctx)
		if err != nil {
			p.setNoSession(err)
			p.log.Warn("cannot open a coordination store session", "store", p.opts.StoreDesc, logging.Err(err))
			select {
			case <-time.After(pause):
			case <-p.ctx.Done():
			}
			pause = min(2*pause, 30*time.Second)
			continue
		}
		pause = p.opts.ReopenInterval
		reg, err := route.NewRegistry(&countingStore{Store: s, n: p.metrics.zkRequests}, p.opts.Root)
		if err != nil { // the root was validated by New
			s.Close()
			p.setNoSession(err)
			return
		}
		p.mu.Lock()
		if p.mu.closed {
			p.mu.Unlock()
			s.Close()
			return
		}
		p.mu.reg = reg
		p.mu.sessions++
		p.mu.Unlock()
		p.log.Info("coordination store session established", "store", p.opts.StoreDesc, "root", p.opts.Root)
		select {
		case <-s.Done():
			p.setNoSession(s.Err())
			p.log.Warn("coordination store session ended; routes dropped", "store", p.opts.StoreDesc, logging.Err(s.Err()))
		case <-p.ctx.Done():
		}
		s.Close()
	}
}

// setNoSession forgets the session and every route read through it.
func (p *Proxy) setNoSession(why error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mu.reg = nil
	p.mu.lastErr = why
	p.flushLocked()
}

// flushLocked evicts every entry.
func (p *Proxy) flushLocked() {
	for _, e := range p.mu.entries {
		p.evictLocked(e)
	}
}

// evictLocked removes e from the cache and stops its watcher.
func (p *Proxy) evictLocked(e *entry) {
	if e.elem == nil {
		return
	}
	p.mu.lru.Remove(e.elem)
	e.elem = nil
	if p.mu.entries[e.table] == e {
		delete(p.mu.entries, e.table)
	}
	close(e.stop)
	p.metrics.cacheEntries.Update(float64(len(p.mu.entries)))
}

// errNoSession is the error of a query while there is no store session.
func (p *Proxy) errNoSessionLocked() error {
	return busyf("metaproxy %s: no coordination store session with %s (%v); try another proxy",
		p.opts.Address, p.opts.StoreDesc, p.mu.lastErr)
}

// resolve returns table's lookup, from the cache or the store.
func (p *Proxy) resolve(ctx context.Context, table string) (route.Lookup, error) {
	p.mu.Lock()
	if p.mu.closed {
		p.mu.Unlock()
		return route.Lookup{}, busyf("metaproxy %s is closing", p.opts.Address)
	}
	if e, ok := p.mu.entries[table]; ok {
		p.mu.lru.MoveToFront(e.elem)
		p.mu.Unlock()
		select {
		case <-e.ready:
		case <-ctx.Done():
			return route.Lookup{}, ctx.Err()
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		if e.err != nil {
			return route.Lookup{}, e.err
		}
		e.queries++
		return e.lookup, nil
	}
	reg := p.mu.reg
	if reg == nil {
		err := p.errNoSessionLocked()
		p.mu.Unlock()
		return route.Lookup{}, err
	}
	e := &entry{table: table, ready: make(chan struct{}), stop: make(chan struct{})}
	e.elem = p.mu.lru.PushFront(e)
	p.mu.entries[table] = e
	for p.mu.lru.Len() > p.opts.CacheSize {
		p.evictLocked(p.mu.lru.Back().Value.(*entry))
	}
	p.metrics.cacheEntries.Update(float64(len(p.mu.entries)))
	p.mu.Unlock()

	// Read on the proxy's context: other queries may wait for this read.
	rctx, cancel := context.WithTimeout(p.ctx, p.opts.StoreTimeout)
	l, w, err := reg.Watch(rctx, table)
	cancel()

	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		e.err = busyf("metaproxy %s: cannot read the route of table %q from %s: %v", p.opts.Address, table, p.opts.StoreDesc, err)
		p.evictLocked(e)
		close(e.ready)
		return route.Lookup{}, e.err
	}
	e.lookup, e.updated, e.queries = l, time.Now(), 1
	close(e.ready)
	if e.elem != nil && !p.mu.closed {
		p.wg.Add(1)
		go p.watch(e, reg, w)
	}
	return l, nil
}

// watch keeps e fresh until it leaves the cache.
func (p *Proxy) watch(e *entry, reg *route.Registry, w <-chan coord.Event) {
	defer p.wg.Done()
	for {
		select {
		case <-e.stop:
			return
		case ev := <-w:
			if ev.Type == coord.EventNotWatching {
				p.evict(e)
				return
			}
			rctx, cancel := context.WithTimeout(p.ctx, p.opts.StoreTimeout)
			l, next, err := reg.Watch(rctx, e.table)
			cancel()
			p.mu.Lock()
			if err != nil || e.elem == nil {
				if err != nil {
					p.log.Warn("cannot re-read a route; dropped from the cache", logging.Table(e.table), logging.Err(err))
				}
				p.evictLocked(e)
				p.mu.Unlock()
				return
			}
			old := e.lookup
			e.lookup, e.updated = l, time.Now()
			p.mu.Unlock()
			if old.Found != l.Found || old.Route != l.Route {
				p.log.Info("route changed", logging.Table(e.table), "from", describe(old), "to", describe(l))
			}
			w = next
		}
	}
}

func (p *Proxy) evict(e *entry) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.evictLocked(e)
}

// describe renders a lookup for logs.
func describe(l route.Lookup) string {
	switch {
	case !l.Found:
		return "(no route)"
	case l.Invalid != nil:
		return "(invalid route)"
	}
	return l.Route.String()
}

// cluster returns the admin client of the route's cluster.
func (p *Proxy) cluster(r route.Route) (*admin.Client, error) {
	key := r.Key()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mu.closed {
		return nil, busyf("metaproxy %s is closing", p.opts.Address)
	}
	if c, ok := p.mu.clusters[key]; ok {
		return c, nil
	}
	if len(p.mu.clusters) >= max(64, p.opts.CacheSize) {
		p.pruneClustersLocked()
	}
	c, err := admin.New(admin.Config{MetaServers: r.Metas(), Timeout: p.opts.ForwardTimeout},
		admin.WithRPCClient(p.opts.RPC), admin.WithLogger(p.log))
	if err != nil {
		return nil, err
	}
	p.mu.clusters[key] = c
	return c, nil
}

// pruneClustersLocked closes the clients of clusters no cached route
// leads to.
func (p *Proxy) pruneClustersLocked() {
	used := make(map[string]bool)
	for _, e := range p.mu.entries {
		if e.lookup.Found && e.lookup.Invalid == nil {
			used[e.lookup.Route.Key()] = true
		}
	}
	for k, c := range p.mu.clusters {
		if !used[k] {
			c.Close()
			delete(p.mu.clusters, k)
		}
	}
}

// RouteStatus is one cached route on the status page.
type RouteStatus struct {
	Table       string `json:"table"`
	Found       bool   `json:"found"`
	ClusterName string `json:"cluster_name,omitempty"`
	MetaAddrs   string `json:"meta_addrs,omitempty"`
	Version     int32  `json:"version"`
	Error       string `json:"error,omitempty"`
	Queries     int64  `json:"queries"`
	UpdatedAt   string `json:"updated_at"`
}

// Status is the body of /metaproxy/routes.
type Status struct {
	Address   string        `json:"address"`
	Store     string        `json:"store"`
	Root      string        `json:"root"`
	Session   bool          `json:"session"`
	Sessions  int           `json:"sessions_opened"`
	Error     string        `json:"error,omitempty"`
	CacheSize int           `json:"cache_size"`
	Routes    []RouteStatus `json:"routes"`
}

// Status returns the cached routes, most recently used first.
func (p *Proxy) Status() Status {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := Status{
		Address: p.opts.Address, Store: p.opts.StoreDesc, Root: p.opts.Root,
		Session: p.mu.reg != nil, Sessions: p.mu.sessions, CacheSize: p.opts.CacheSize,
		Routes: make([]RouteStatus, 0, p.mu.lru.Len()),
	}
	if p.mu.reg == nil && p.mu.lastErr != nil {
		st.Error = p.mu.lastErr.Error()
	}
	for el := p.mu.lru.Front(); el != nil; el = el.Next() {
		e := el.Value.(*entry)
		select {
		case <-e.ready:
		default:
			continue // still being read
		}
		rs := RouteStatus{Table: e.table, Found: e.lookup.Found, Queries: e.queries, UpdatedAt: e.updated.UTC().Format(time.RFC3339Nano)}
		if e.lookup.Found {
			rs.Version = e.lookup.Stat.Version
			if e.lookup.Invalid != nil {
				rs.Error = e.lookup.Invalid.Error()
			} else {
				rs.ClusterName, rs.MetaAddrs = e.lookup.Route.ClusterName, e.lookup.Route.Key()
			}
		}
		st.Routes = append(st.Routes, rs)
	}
	return st
}
