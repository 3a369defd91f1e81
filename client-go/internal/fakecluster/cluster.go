package fakecluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/pegasus-go/pegasus/shared/keyschema"
	"github.com/pegasus-go/pegasus/shared/protocol"
	"github.com/pegasus-go/pegasus/shared/rpc"
)

// Options configures a fake cluster.
type Options struct {
	// Nodes is the number of replica nodes. Default 3.
	Nodes int
	// Metas is the number of meta servers; the first is the leader until
	// SetMetaLeader. Default 1.
	Metas int
	// Now is the clock for TTLs. Default time.Now.
	Now func() time.Time
	// ScanBatchSize is the records per scan batch when a request asks for
	// the server default. Default 3 (small, so tests cross batches).
	ScanBatchSize int
	// MultiGetMaxCount is the server's default MultiGet record limit.
	// Default 100.
	MultiGetMaxCount int
}

// Fault changes how matching requests are handled. Faults are matched in
// injection order; each affects at most Times requests.
type Fault struct {
	// Method is a Replica method (protocol.MethodGet...); "" matches every
	// data method.
	Method string
	// Node is a node address; "" matches every node.
	Node string
	// Times is how many requests the fault affects; <= 0 means 1.
	Times int
	// Block holds the request (before anything else) until it is closed
	// or the caller's deadline passes.
	Block <-chan struct{}
	// Code fails the request with this code before it is applied.
	Code protocol.ErrorCode
	// DropConnAfterApply applies the request, then cuts the node's
	// connections so the response is lost.
	DropConnAfterApply bool
	// OnMatch, if set, is called (outside the cluster's lock) each time the
	// fault matches a request, before the request is held or failed.
	OnMatch func()
}

// Cluster is a running fake cluster.
type Cluster struct {
	opts  Options
	nodes []*node
	metas []*metaServer

	mu struct {
		sync.Mutex
		leader     int
		nextAppID  int32
		tables     map[string]*table
		byID       map[int32]*table
		faults     []*Fault
		calls      map[callKey]int
		partCalls  map[protocol.Gpid]int
		metaCalls  map[string]int
		scans      map[int64]*scanContext
		nextScanID int64
	}
}

type callKey struct{ node, method string }

type table struct {
	app   protocol.AppInfo
	parts []protocol.PartitionConfiguration
	data  []map[string]record // per partition, keyed by the storage key
}

type record struct {
	value    []byte
	expireTs uint32
}

type node struct {
	c     *Cluster
	srv   *rpc.Server
	proxy *proxy
	addr  string // the proxy's address, what clients dial
}

type metaServer struct {
	c    *Cluster
	srv  *rpc.Server
	addr string
}

// Start starts a fake cluster on 127.0.0.1.
func Start(opts Options) (*Cluster, error) {
	if opts.Nodes <= 0 {
		opts.Nodes = 3
	}
	if opts.Metas <= 0 {
		opts.Metas = 1
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.ScanBatchSize <= 0 {
		opts.ScanBatchSize = 3
	}
	if opts.MultiGetMaxCount <= 0 {
		opts.MultiGetMaxCount = 100
	}
	c := &Cluster{opts: opts}
	c.mu.nextAppID = 1
	c.mu.tables = make(map[string]*table)
	c.mu.byID = make(map[int32]*table)
	c.mu.calls = make(map[callKey]int)
	c.mu.partCalls = make(map[protocol.Gpid]int)
	c.mu.metaCalls = make(map[string]int)
	c.mu.scans = make(map[int64]*scanContext)
	logger := slog.New(slog.DiscardHandler)
	srvCfg := rpc.ServerConfig{ShutdownTimeout: time.Second}
	for range opts.Nodes {
		n := &node{c: c}
		srv, err := rpc.NewServer(srvCfg, logger)
		if err == nil {
			err = srv.Register(protocol.ServiceReplica, &replicaService{n: n})
		}
		if err == nil {
			err = srv.Start("127.0.0.1:0")
		}
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("fakecluster: start node: %w", err)
		}
		n.srv = srv
		p, err := newProxy(srv.Addr().String())
		if err != nil {
			_ = srv.Close()
			c.Close()
			return nil, fmt.Errorf("fakecluster: start proxy: %w", err)
		}
		n.proxy, n.addr = p, p.addr()
		c.nodes = append(c.nodes, n)
	}
	for range opts.Metas {
		m := &metaServer{c: c}
		srv, err := rpc.NewServer(srvCfg, logger)
		if err == nil {
			err = srv.Register(protocol.ServiceMeta, &metaService{m: m})
		}
		if err == nil {
			err = srv.Start("127.0.0.1:0")
		}
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("fakecluster: start meta: %w", err)
		}
		m.srv, m.addr = srv, srv.Addr().String()
		c.metas = append(c.metas, m)
	}
	return c, nil
}

// Close stops every server and proxy.
func (c *Cluster) Close() {
	for _, n := range c.nodes {
		n.proxy.close()
		_ = n.srv.Close()
	}
	for _, m := range c.metas {
		_ = m.srv.Close()
	}
}

// MetaAddrs returns the meta servers' addresses, in creation order.
func (c *Cluster) MetaAddrs() []string {
	out := make([]string, len(c.metas))
	for i, m := range c.metas {
		out[i] = m.addr
	}
	return out
}

// NodeAddrs returns the replica nodes' addresses, in creation order.
func (c *Cluster) NodeAddrs() []string {
	out := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		out[i] = n.addr
	}
	return out
}

// SetMetaLeader makes meta server i the leader; the others redirect to it.
func (c *Cluster) SetMetaLeader(i int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.mu.leader = i
}

// CreateTable creates a table with partitions partitions (a power of two)
// whose primaries are assigned round-robin over the nodes, ballot 1. It
// returns the app id.
func (c *Cluster) CreateTable(name string, partitions int) (int32, error) {
	if _, err := keyschema.PartitionIndex(0, int32(partitions)); err != nil {
		return 0, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.mu.tables[name]; ok {
		return 0, fmt.Errorf("fakecluster: table %q exists", name)
	}
	id := c.mu.nextAppID
	c.mu.nextAppID++
	t := &table{
		app: protocol.AppInfo{AppID: id, Name: name, Status: protocol.AppAvailable,
			PartitionCount: int32(partitions), ReplicaCount: 3},
		parts: make([]protocol.PartitionConfiguration, partitions),
		data:  make([]map[string]record, partitions),
	}
	for i := range partitions {
		t.parts[i] = protocol.PartitionConfiguration{
			Gpid:            protocol.Gpid{AppID: id, PartitionIndex: int32(i)},
			Ballot:          1,
			Primary:         c.nodes[i%len(c.nodes)].addr,
			MaxReplicaCount: 3,
		}
		t.data[i] = make(map[string]record)
	}
	c.mu.tables[name] = t
	c.mu.byID[id] = t
	return id, nil
}

// DropTable removes a table; its replicas answer CodeObjectNotFound and
// the meta CodeAppNotExist.
func (c *Cluster) DropTable(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t, ok := c.mu.tables[name]; ok {
		delete(c.mu.tables, name)
		delete(c.mu.byID, t.app.AppID)
	}
}

// Primary returns the address of a partition's primary ("" for none).
func (c *Cluster) Primary(tableName string, pidx int) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.tables[tableName].parts[pidx].Primary
}

// Ballot returns a partition's ballot.
func (c *Cluster) Ballot(tableName string, pidx int) protocol.Ballot {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.tables[tableName].parts[pidx].Ballot
}

// MovePrimary makes node toNode the primary of a partition and bumps the
// ballot; the old primary becomes a secondary (it answers
// CodeInvalidState). toNode < 0 leaves the partition without a primary.
func (c *Cluster) MovePrimary(tableName string, pidx, toNode int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	pc := &c.mu.tables[tableName].parts[pidx]
	old := pc.Primary
	pc.Ballot++
	pc.Primary = ""
	if toNode >= 0 {
		pc.Primary = c.nodes[toNode].addr
	}
	secs := slices.DeleteFunc(slices.Clone(pc.Secondaries), func(s string) bool { return s == pc.Primary || s == old })
	if old != "" && old != pc.Primary {
		secs = append(secs, old)
	}
	pc.Secondaries = secs
}

// KillNode takes node i down for good: its connections are cut and new
// ones are refused.
func (c *Cluster) KillNode(i int) { c.nodes[i].proxy.close() }

// DropConnections cuts node i's open connections (new ones are accepted).
func (c *Cluster) DropConnections(i int) { c.nodes[i].proxy.dropAll() }

// Inject adds a fault.
func (c *Cluster) Inject(f Fault) {
	if f.Times <= 0 {
		f.Times = 1
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.mu.faults = append(c.mu.faults, &f)
}

// ClearFaults removes every pending fault.
func (c *Cluster) ClearFaults() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.mu.faults = nil
}

// ExpireScans drops every open scan context; ScanNext on them fails with
// CodeNotFound, as after the server's idle expiry.
func (c *Cluster) ExpireScans() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.mu.scans)
}

// OpenScans returns the number of open scan contexts.
func (c *Cluster) OpenScans() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.mu.scans)
}

// Calls returns how many requests of a Replica method reached any node
// ("" counts every method).
func (c *Cluster) Calls(method string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for k, v := range c.mu.calls {
		if method == "" || k.method == method {
			n += v
		}
	}
	return n
}

// NodeCalls returns how many requests of a Replica method reached node
// addr ("" counts every method).
func (c *Cluster) NodeCalls(addr, method string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for k, v := range c.mu.calls {
		if k.node == addr && (method == "" || k.method == method) {
			n += v
		}
	}
	return n
}

// PartitionCalls returns how many data requests a partition's primary
// accepted (after routing checks and faults).
func (c *Cluster) PartitionCalls(tableName string, pidx int) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.mu.tables[tableName]
	return c.mu.partCalls[protocol.Gpid{AppID: t.app.AppID, PartitionIndex: int32(pidx)}]
}

// MetaCalls returns how many Meta requests meta server i received.
func (c *Cluster) MetaCalls(i int) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.metaCalls[c.metas[i].addr]
}

// ResetCounters zeroes every call counter.
func (c *Cluster) ResetCounters() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.mu.calls)
	clear(c.mu.partCalls)
	clear(c.mu.metaCalls)
}

// Records returns the number of live records of a table.
func (c *Cluster) Records(tableName string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.opts.Now()
	n := 0
	for _, d := range c.mu.tables[tableName].data {
		for _, r := range d {
			if !keyschema.IsExpired(r.expireTs, now) {
				n++
			}
		}
	}
	return n
}

// metaService implements Meta.QueryConfig.
type metaService struct{ m *metaServer }

// QueryConfig answers a table's configuration, or redirects to the leader.
func (s *metaService) QueryConfig(_ context.Context, req *protocol.QueryConfigRequest, resp *protocol.QueryConfigResponse) error {
	c := s.m.c
	c.mu.Lock()
	defer c.mu.Unlock()
	c.mu.metaCalls[s.m.addr]++
	if leader := c.metas[c.mu.leader]; leader != s.m {
		return protocol.Errorf(protocol.CodeForwardToOthers, "%s", leader.addr)
	}
	t, ok := c.mu.tables[req.AppName]
	if req.AppName == "" {
		t, ok = c.mu.byID[req.AppID]
	}
	if !ok {
		return protocol.Errorf(protocol.CodeAppNotExist, "table %q does not exist", req.AppName)
	}
	resp.App = t.app
	resp.Partitions = make([]protocol.PartitionConfiguration, len(t.parts))
	for i, p := range t.parts {
		p.Secondaries = slices.Clone(p.Secondaries)
		resp.Partitions[i] = p
	}
	return nil
}

// partition is what a handler works on, under the cluster lock.
type partition struct {
	c    *Cluster
	t    *table
	pidx int32
	data map[string]record
	now  time.Time
}

// handle runs one data request on node n: count, faults, routing checks,
// then fn under the cluster lock.
func (n *node) handle(ctx context.Context, method string, req protocol.DataRequest, checkHash bool, fn func(p *partition) error) error {
	c := n.c
	c.mu.Lock()
	c.mu.calls[callKey{n.addr, method}]++
	var f *Fault
	for _, cand := range c.mu.faults {
		if cand.Times > 0 && (cand.Method == "" || cand.Method == method) && (cand.Node == "" || cand.Node == n.addr) {
			cand.Times--
			f = cand
			break
		}
	}
	c.mu.Unlock()

	if f != nil && f.OnMatch != nil {
		f.OnMatch()
	}
	if f != nil && f.Block != nil {
		select {
		case <-f.Block:
		case <-ctx.Done():
			return protocol.Errorf(protocol.CodeTimeout, "blocked request abandoned")
		}
	}
	if f != nil && f.Code != protocol.CodeOK {
		return protocol.Errorf(f.Code, "injected fault")
	}

	err := func() error {
		c.mu.Lock()
		defer c.mu.Unlock()
		h := req.DataHeader()
		t, ok := c.mu.byID[h.Gpid.AppID]
		if !ok || h.Gpid.PartitionIndex < 0 || h.Gpid.PartitionIndex >= t.app.PartitionCount {
			return protocol.Errorf(protocol.CodeObjectNotFound, "replica %s not served here", h.Gpid)
		}
		pc := &t.parts[h.Gpid.PartitionIndex]
		if pc.Primary != n.addr {
			if slices.Contains(pc.Secondaries, n.addr) {
				return protocol.Errorf(protocol.CodeInvalidState, "replica %s is not primary here", h.Gpid)
			}
			return protocol.Errorf(protocol.CodeObjectNotFound, "replica %s not served here", h.Gpid)
		}
		if checkHash {
			if err := h.CheckPartition(t.app.PartitionCount); err != nil {
				return err
			}
		}
		c.mu.partCalls[h.Gpid]++
		return fn(&partition{c: c, t: t, pidx: h.Gpid.PartitionIndex, data: t.data[h.Gpid.PartitionIndex], now: c.opts.Now()})
	}()
	if err == nil && f != nil && f.DropConnAfterApply {
		n.proxy.dropAll()
		return errors.New("connection dropped after apply")
	}
	return err
}

func (p *partition) get(hk, sk []byte) (record, bool) {
	k, err := keyschema.EncodeKey(hk, sk)
	if err != nil {
		return record{}, false
	}
	r, ok := p.data[string(k)]
	if !ok || keyschema.IsExpired(r.expireTs, p.now) {
		return record{}, false
	}
	return r, true
}

func (p *partition) put(hk, sk, value []byte, ttlSeconds int32) error {
	k, err := keyschema.EncodeKey(hk, sk)
	if err != nil {
		return protocol.Errorf(protocol.CodeInvalidArgument, "%v", err)
	}
	p.data[string(k)] = record{value: slices.Clone(value), expireTs: keyschema.ExpireTsFromTTL(int64(ttlSeconds), p.now)}
	return nil
}

// del removes a record and reports whether a live one existed.
func (p *partition) del(hk, sk []byte) bool {
	k, err := keyschema.EncodeKey(hk, sk)
	if err != nil {
		return false
	}
	_, live := p.get(hk, sk)
	delete(p.data, string(k))
	return live
}

// kv is one live record in storage order.
type kv struct {
	key     string
	hk, sk  []byte
	rec     record
	hkMatch bool
}

// rangeOf returns the live records with storage keys in [lower, upper)
// (upper nil: no bound), in storage order.
func (p *partition) rangeOf(lower, upper []byte) []kv {
	var out []kv
	for k, r := range p.data {
		if keyschema.IsExpired(r.expireTs, p.now) {
			continue
		}
		if k < string(lower) || (upper != nil && k >= string(upper)) {
			continue
		}
		hk, sk, err := keyschema.DecodeKey([]byte(k))
		if err != nil {
			continue
		}
		out = append(out, kv{key: k, hk: hk, sk: sk, rec: r})
	}
	slices.SortFunc(out, func(a, b kv) int {
		switch {
		case a.key < b.key:
			return -1
		case a.key > b.key:
			return 1
		}
		return 0
	})
	return out
}
