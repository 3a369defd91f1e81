package server

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pegasus-go/pegasus/shared/logging"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

// metaClient is the replica server's side of the replica <-> meta exchange:
// beacons that renew the node's lease, and config syncs that reconcile the
// replicas it holds with the meta's view.
//
// Leader tracking: calls go to the last known leader (initially the first
// meta server). A CodeForwardToOthers answer whose message names an address
// is followed at once; an empty one, a network failure or a timeout moves
// on to the next meta server of the list. BeaconResponse.MetaLeader
// updates the known leader.
type metaClient struct {
	s       *Server
	servers []string

	mu struct {
		sync.Mutex
		leader string
		next   int // index of the next server to try when the leader is unknown
	}

	beaconed atomic.Bool   // a beacon has succeeded
	syncNow  chan struct{} // capacity 1: a config sync is wanted at once
}

func newMetaClient(s *Server) *metaClient {
	m := &metaClient{s: s, servers: s.opts.MetaServers, syncNow: make(chan struct{}, 1)}
	m.mu.leader = m.servers[0]
	m.mu.next = 1 % len(m.servers)
	return m
}

// syncSoon asks the sync loop for a config sync at once.
func (m *metaClient) syncSoon() {
	select {
	case m.syncNow <- struct{}{}:
	default:
	}
}

func (m *metaClient) leader() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.mu.leader
}

func (m *metaClient) setLeader(addr string) {
	if addr == "" {
		return
	}
	m.mu.Lock()
	m.mu.leader = addr
	m.mu.Unlock()
}

// rotate forgets the leader and returns the next meta server of the list.
func (m *metaClient) rotate() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	addr := m.servers[m.mu.next]
	m.mu.next = (m.mu.next + 1) % len(m.servers)
	m.mu.leader = addr
	return addr
}

// retryElsewhere reports whether a failed meta call should be retried on
// another meta server.
func retryElsewhere(err error) bool {
	switch protocol.CodeOf(err) {
	case protocol.CodeNetworkFailure, protocol.CodeTimeout, protocol.CodeForwardToOthers,
		protocol.CodeUnknownMethod, protocol.CodeBusy:
		return true
	}
	return false
}

// call calls method on the meta leader, following redirects. It tries at
// most 2*len(servers)+1 addresses and returns the last error.
func (m *metaClient) call(ctx context.Context, method string, req, resp protocol.Message) (string, error) {
	addr := m.leader()
	var last error
	for range 2*len(m.servers) + 1 {
		if err := ctx.Err(); err != nil {
			return addr, err
		}
		cctx, cancel := context.WithTimeout(ctx, m.s.opts.MetaCallTimeout)
		err := m.s.opts.Meta.Call(cctx, addr, protocol.ServiceMetaInternal, method, req, resp)
		cancel()
		if err == nil {
			m.setLeader(addr)
			return addr, nil
		}
		last = err
		if !retryElsewhere(err) {
			return addr, err
		}
		var pe *protocol.Error
		if errors.As(err, &pe) && pe.Code == protocol.CodeForwardToOthers && pe.Message != "" && pe.Message != addr {
			addr = pe.Message
			m.setLeader(addr)
			continue
		}
		addr = m.rotate()
	}
	return addr, last
}

// beacon sends one beacon and applies the lease it grants: every replica
// holds its lease until SendTimeMs + LeaseMs on this server's clock. A
// leader that grants no lease (LeaseMs 0) withdraws the leases at once; a
// failed beacon leaves them to run out.
func (m *metaClient) beacon(ctx context.Context) error {
	s := m.s
	send := s.opts.Clock().UnixMilli()
	req := &protocol.BeaconRequest{Node: s.opts.Node, StartTimeMs: s.startMs, SendTimeMs: send}
	var resp protocol.BeaconResponse
	addr, err := m.call(ctx, protocol.MethodBeacon, req, &resp)
	if err == nil && resp.LeaseMs <= 0 && resp.MetaLeader != "" && resp.MetaLeader != addr {
		// A follower answered without a lease: ask the leader it names.
		m.setLeader(resp.MetaLeader)
		resp = protocol.BeaconResponse{}
		_, err = m.call(ctx, protocol.MethodBeacon, req, &resp)
	}
	if err != nil {
		s.metrics.beaconFailures.Inc(1)
		return err
	}
	s.metrics.beacons.Inc(1)
	m.setLeader(resp.MetaLeader)
	if resp.SendTimeMs != send {
		return protocol.Errorf(protocol.CodeInvalidState, "beacon response echoes send time %d, sent %d", resp.SendTimeMs, send)
	}
	if resp.LeaseMs <= 0 {
		s.log.Warn("meta leader granted no lease; replicas stop serving", "meta", m.leader())
		s.expireLeases()
		return nil
	}
	fenced := s.grantLease(time.UnixMilli(send + resp.LeaseMs))
	if !m.beaconed.Swap(true) || fenced {
		// A fenced primary waits for the meta's confirmation: ask now.
		m.syncSoon()
	}
	return nil
}

// configSync reports every replica to the meta and applies its answer:
// missing replicas are opened (created), configurations with a newer
// ballot installed, and garbage replicas removed. Per-replica failures are
// logged and the rest is applied; the first is returned.
func (m *metaClient) configSync(ctx context.Context) error {
	s := m.s
	req := &protocol.ConfigSyncRequest{Node: s.opts.Node}
	for _, e := range s.entries() {
		req.Replicas = append(req.Replicas, e.r.Info())
	}
	var resp protocol.ConfigSyncResponse
	if _, err := m.call(ctx, protocol.MethodConfigSync, req, &resp); err != nil {
		s.metrics.configSyncFails.Inc(1)
		return err
	}
	s.metrics.configSyncs.Inc(1)
	apps := make(map[int32]protocol.AppInfo, len(resp.Apps))
	for _, a := range resp.Apps {
		apps[a.AppID] = a
	}
	var first error
	note := func(g protocol.Gpid, what string, err error) {
		s.log.Warn("config sync: "+what, logging.Gpid(g), logging.Err(err))
		if first == nil {
			first = err
		}
	}
	for _, pc := range resp.Partitions {
		app, ok := apps[pc.Gpid.AppID]
		if !ok {
			if _, err := s.lookup(pc.Gpid); err != nil {
				note(pc.Gpid, "no table info", protocol.Errorf(protocol.CodeInvalidArgument, "config sync lists %s without its table", pc.Gpid))
				continue
			}
		}
		if err := s.ensureReplica(app, pc); err != nil && !errors.Is(err, protocol.CodeStaleBallot) {
			note(pc.Gpid, "cannot apply configuration", err)
		}
	}
	for _, g := range resp.GarbageReplicas {
		if err := s.removeReplica(g); err != nil {
			note(g, "cannot remove garbage replica", err)
		}
	}
	return first
}

// runBeacons beacons at once and then every BeaconInterval until ctx ends.
func (m *metaClient) runBeacons(ctx context.Context) {
	t := time.NewTicker(m.s.opts.BeaconInterval)
	defer t.Stop()
	for {
		if err := m.beacon(ctx); err != nil && ctx.Err() == nil {
			m.s.log.Warn("beacon failed", "meta", m.leader(), logging.Err(err))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// runSyncs runs a config sync after the first successful beacon, every
// ConfigSyncInterval after that, and whenever syncSoon asks, until ctx
// ends.
func (m *metaClient) runSyncs(ctx context.Context) {
	t := time.NewTicker(m.s.opts.ConfigSyncInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if !m.beaconed.Load() {
				continue
			}
		case <-m.syncNow:
		}
		if err := m.configSync(ctx); err != nil && ctx.Err() == nil {
			m.s.log.Warn("config sync failed", "meta", m.leader(), logging.Err(err))
		}
	}
}
