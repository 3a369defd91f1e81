package proxy

import (
	"context"
	"net"
	"sync"

	"github.com/uber-go/tally/v4"

	"github.com/pegasus-go/pegasus/shared/coord"
)

// metricSet is the proxy's metrics (counters get "_total" from the
// registry).
type metricSet struct {
	scope           tally.Scope
	connections     tally.Gauge   // client_connection_count
	zkRequests      tally.Counter // zk_request_count
	cacheEntries    tally.Gauge   // route_cache_entries
	forwardFailures tally.Counter // forward_failures

	mu      sync.Mutex
	conns   int64
	queries map[string]tally.Counter // client_query_config_count{table}
}

func newMetricSet(scope tally.Scope) *metricSet {
	s := scope.SubScope("metaproxy")
	return &metricSet{
		scope:           s,
		connections:     s.Gauge("client_connection_count"),
		zkRequests:      s.Counter("zk_request_count"),
		cacheEntries:    s.Gauge("route_cache_entries"),
		forwardFailures: s.Counter("forward_failures"),
		queries:         make(map[string]tally.Counter),
	}
}

// query counts one QueryConfig of table (a routed table, or
// unroutedTable).
func (m *metricSet) query(table string) {
	m.mu.Lock()
	c, ok := m.queries[table]
	if !ok {
		c = m.scope.Tagged(map[string]string{"table": table}).Counter("client_query_config_count")
		m.queries[table] = c
	}
	m.mu.Unlock()
	c.Inc(1)
}

func (m *metricSet) connDelta(d int64) {
	m.mu.Lock()
	m.conns += d
	n := m.conns
	m.mu.Unlock()
	m.connections.Update(float64(n))
}

// CountConnections wraps ln so the proxy's client_connection_count gauge
// follows the connections it accepts, until each is closed.
func (p *Proxy) CountConnections(ln net.Listener) net.Listener {
	return &countingListener{Listener: ln, m: p.metrics}
}

type countingListener struct {
	net.Listener
	m *metricSet
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.m.connDelta(1)
	return &countedConn{Conn: c, m: l.m}, nil
}

type countedConn struct {
	net.Conn
	m    *metricSet
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() { c.m.connDelta(-1) })
	return c.Conn.Close()
}

// countingStore counts every request the proxy sends to the store.
type countingStore struct {
	coord.Store
	n tally.Counter
}

func (s *countingStore) Create(ctx context.Context, path string, data []byte, mode coord.Mode) (string, error) {
	s.n.Inc(1)
	return s.Store.Create(ctx, path, data, mode)
}

func (s *countingStore) Get(ctx context.Context, path string) ([]byte, coord.Stat, error) {
	s.n.Inc(1)
	return s.Store.Get(ctx, path)
}

func (s *countingStore) GetW(ctx context.Context, path string) ([]byte, coord.Stat, <-chan coord.Event, error) {
	s.n.Inc(1)
	return s.Store.GetW(ctx, path)
}

func (s *countingStore) Set(ctx context.Context, path string, data []byte, version int32) (coord.Stat, error) {
	s.n.Inc(1)
	return s.Store.Set(ctx, path, data, version)
}

func (s *countingStore) Delete(ctx context.Context, path string, version int32) error {
	s.n.Inc(1)
	return s.Store.Delete(ctx, path, version)
}

func (s *countingStore) Exists(ctx context.Context, path string) (coord.Stat, bool, error) {
	s.n.Inc(1)
	return s.Store.Exists(ctx, path)
}

func (s *countingStore) ExistsW(ctx context.Context, path string) (coord.Stat, bool, <-chan coord.Event, error) {
	s.n.Inc(1)
	return s.Store.ExistsW(ctx, path)
}

func (s *countingStore) Children(ctx context.Context, path string) ([]string, coord.Stat, error) {
	s.n.Inc(1)
	return s.Store.Children(ctx, path)
}

func (s *countingStore) ChildrenW(ctx context.Context, path string) ([]string, coord.Stat, <-chan coord.Event, error) {
	s.n.Inc(1)
	return s.Store.ChildrenW(ctx, path)
}

func (s *countingStore) Multi(ctx context.Context, ops ...coord.Op) ([]coord.OpResult, error) {
	s.n.Inc(1)
	return s.Store.Multi(ctx, ops...)
}
