package admintest

import (
	"context"
	"slices"
	"strconv"
	"time"

	"github.com/pegasus-go/pegasus/shared/keyschema"
	"github.com/pegasus-go/pegasus/shared/protocol"
	"github.com/pegasus-go/pegasus/shared/rpc"
)

// scanBatch is the records per scan batch when the request asks for the
// server default; small so tests cross batches.
const scanBatch = 3

// multiGetLimit is the default MultiGet record limit.
const multiGetLimit = 100

// record is one stored value; expireTs is in seconds since the Pegasus
// epoch, 0 for no TTL.
type record struct {
	value    []byte
	expireTs uint32
}

// Node is a fake replica server: it serves the Replica data API for every
// partition whose configuration names it primary, over data kept in the
// Cluster (so moving a primary keeps the data, as replication would).
type Node struct {
	cluster *Cluster
	srv     *rpc.Server
	addr    string
}

// StartNode starts a fake replica server on a free loopback port and adds
// it to the cluster's nodes as alive. Tables created afterwards get
// primaries on it (round-robin with the other alive nodes).
func (c *Cluster) StartNode() (*Node, error) {
	srv, err := rpc.NewServer(rpc.ServerConfig{ShutdownTimeout: 5 * time.Second}, nil)
	if err != nil {
		return nil, err
	}
	n := &Node{cluster: c, srv: srv}
	if err := srv.Register(protocol.ServiceReplica, &replicaService{n}); err != nil {
		return nil, err
	}
	if err := srv.Start("127.0.0.1:0"); err != nil {
		return nil, err
	}
	n.addr = srv.Addr().String()
	c.SetNodeStatus(n.addr, protocol.NodeAlive)
	return n, nil
}

// Addr returns the node's "host:port".
func (n *Node) Addr() string { return n.addr }

// Close stops the node's server (the cluster still lists it).
func (n *Node) Close() error { return n.srv.Close() }

type replicaService struct{ n *Node }

// partitionView is what a handler works on, under the cluster lock.
type partitionView struct {
	data  map[string]record // the whole table's records by storage key
	pidx  int32
	count int32
	now   time.Time
}

// get returns the live record at key.
func (p *partitionView) get(hk, sk []byte) (record, bool) {
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

// inPartition reports whether a storage key hashes to this partition.
func (p *partitionView) inPartition(key string) bool {
	hk, sk, err := keyschema.DecodeKey([]byte(key))
	if err != nil {
		return false
	}
	idx, err := keyschema.PartitionIndex(keyschema.Hash(hk, sk), p.count)
	return err == nil && idx == p.pidx
}

// rangeKeys returns the live keys of this partition in [lower, upper)
// (upper nil: no bound), sorted.
func (p *partitionView) rangeKeys(lower, upper []byte) []string {
	var keys []string
	for k, r := range p.data {
		if k < string(lower) || (upper != nil && k >= string(upper)) || keyschema.IsExpired(r.expireTs, p.now) || !p.inPartition(k) {
			continue
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// serve checks that this node is the primary of the request's partition
// and runs fn on it under the cluster lock.
func (s *replicaService) serve(req protocol.DataRequest, checkHash bool, fn func(p *partitionView) error) error {
	c := s.n.cluster
	c.mu.Lock()
	defer c.mu.Unlock()
	h := req.DataHeader()
	a := c.mu.apps[h.Gpid.AppID]
	if a == nil || a.info.Status != protocol.AppAvailable || h.Gpid.PartitionIndex < 0 || int(h.Gpid.PartitionIndex) >= len(a.parts) {
		return protocol.Errorf(protocol.CodeObjectNotFound, "replica %s is not served by %s", h.Gpid, s.n.addr)
	}
	if a.parts[h.Gpid.PartitionIndex].Primary != s.n.addr {
		return protocol.Errorf(protocol.CodeInvalidState, "%s is not the primary of %s", s.n.addr, h.Gpid)
	}
	if checkHash {
		if err := h.CheckPartition(a.info.PartitionCount); err != nil {
			return err
		}
	}
	if c.mu.data == nil {
		c.mu.data = make(map[int32]map[string]record)
	}
	d := c.mu.data[a.info.AppID]
	if d == nil {
		d = make(map[string]record)
		c.mu.data[a.info.AppID] = d
	}
	return fn(&partitionView{data: d, pidx: h.Gpid.PartitionIndex, count: a.info.PartitionCount, now: c.now()})
}

func encodeKey(hk, sk []byte) (string, error) {
	k, err := keyschema.EncodeKey(hk, sk)
	if err != nil {
		return "", protocol.Errorf(protocol.CodeInvalidArgument, "%v", err)
	}
	return string(k), nil
}

func expireTs(ttlSeconds int32, now time.Time) uint32 {
	if ttlSeconds <= 0 {
		return 0
	}
	return keyschema.ExpireTsFromTTL(int64(ttlSeconds), now)
}

// Get implements Replica.Get.
func (s *replicaService) Get(_ context.Context, req *protocol.GetRequest, resp *protocol.GetResponse) error {
	return s.serve(req, true, func(p *partitionView) error {
		r, ok := p.get(req.HashKey, req.SortKey)
		if !ok {
			return protocol.Errorf(protocol.CodeNotFound, "no record")
		}
		resp.Value = slices.Clone(r.value)
		return nil
	})
}

// Set implements Replica.Set.
func (s *replicaService) Set(_ context.Context, req *protocol.SetRequest, _ *protocol.SetResponse) error {
	return s.serve(req, true, func(p *partitionView) error {
		k, err := encodeKey(req.HashKey, req.SortKey)
		if err != nil {
			return err
		}
		p.data[k] = record{value: slices.Clone(req.Value), expireTs: expireTs(req.TTLSeconds, p.now)}
		return nil
	})
}

// Del implements Replica.Del.
func (s *replicaService) Del(_ context.Context, req *protocol.DelRequest, _ *protocol.DelResponse) error {
	return s.serve(req, true, func(p *partitionView) error {
		k, err := encodeKey(req.HashKey, req.SortKey)
		if err != nil {
			return err
		}
		delete(p.data, k)
		return nil
	})
}

// MultiGet implements Replica.MultiGet.
func (s *replicaService) MultiGet(_ context.Context, req *protocol.MultiGetRequest, resp *protocol.MultiGetResponse) error {
	return s.serve(req, true, func(p *partitionView) error {
		limit := int(req.MaxKVCount)
		if limit <= 0 {
			limit = multiGetLimit
		}
		var keys []string
		if len(req.SortKeys) > 0 {
			for _, sk := range req.SortKeys {
				k, err := encodeKey(req.HashKey, sk)
				if err != nil {
					return err
				}
				if _, ok := p.get(req.HashKey, sk); ok {
					keys = append(keys, k)
				}
			}
			slices.Sort(keys)
			keys = slices.Compact(keys)
		} else {
			lower, upper, err := keyschema.SortKeyRange(req.HashKey, req.StartSortKey, req.StartInclusive, req.StopSortKey, req.StopInclusive)
			if err != nil {
				return protocol.Errorf(protocol.CodeInvalidArgument, "%v", err)
			}
			keys = p.rangeKeys(lower, upper)
		}
		if req.Reverse {
			slices.Reverse(keys)
		}
		resp.Complete = true
		for _, k := range keys {
			_, sk, _ := keyschema.DecodeKey([]byte(k))
			if !req.SortKeyFilter.Match(sk) {
				continue
			}
			if len(resp.KVs) == limit {
				resp.Complete = false
				break
			}
			kv := protocol.KeyValue{SortKey: slices.Clone(sk)}
			if !req.NoValue {
				kv.Value = slices.Clone(p.data[k].value)
			}
			resp.KVs = append(resp.KVs, kv)
		}
		return nil
	})
}

// SortKeyCount implements Replica.SortKeyCount.
func (s *replicaService) SortKeyCount(_ context.Context, req *protocol.SortKeyCountRequest, resp *protocol.SortKeyCountResponse) error {
	return s.serve(req, true, func(p *partitionView) error {
		lower, upper, err := keyschema.SortKeyRange(req.HashKey, nil, true, nil, false)
		if err != nil {
			return protocol.Errorf(protocol.CodeInvalidArgument, "%v", err)
		}
		resp.Count = int64(len(p.rangeKeys(lower, upper)))
		return nil
	})
}

// Exist implements Replica.Exist.
func (s *replicaService) Exist(_ context.Context, req *protocol.ExistRequest, resp *protocol.ExistResponse) error {
	return s.serve(req, true, func(p *partitionView) error {
		_, resp.Exists = p.get(req.HashKey, req.SortKey)
		return nil
	})
}

// TTL implements Replica.TTL.
func (s *replicaService) TTL(_ context.Context, req *protocol.TTLRequest, resp *protocol.TTLResponse) error {
	return s.serve(req, true, func(p *partitionView) error {
		r, ok := p.get(req.HashKey, req.SortKey)
		switch {
		case !ok:
			resp.TTLSeconds = protocol.TTLMissing
		case r.expireTs == 0:
			resp.TTLSeconds = protocol.TTLNone
		default:
			resp.TTLSeconds = int32(keyschema.RemainingTTL(r.expireTs, p.now))
		}
		return nil
	})
}

// Incr implements Replica.Incr.
func (s *replicaService) Incr(_ context.Context, req *protocol.IncrRequest, resp *protocol.IncrResponse) error {
	return s.serve(req, true, func(p *partitionView) error {
		k, err := encodeKey(req.HashKey, req.SortKey)
		if err != nil {
			return err
		}
		r, ok := p.get(req.HashKey, req.SortKey)
		var cur int64
		if ok && len(r.value) > 0 {
			if cur, err = strconv.ParseInt(string(r.value), 10, 64); err != nil {
				return protocol.Errorf(protocol.CodeIncrOverflow, "value %q is not an integer", r.value)
			}
		}
		next := cur + req.Increment
		if (req.Increment > 0 && next < cur) || (req.Increment < 0 && next > cur) {
			return protocol.Errorf(protocol.CodeIncrOverflow, "%d + %d overflows", cur, req.Increment)
		}
		switch {
		case req.ExpireSeconds > 0:
			r.expireTs = expireTs(req.ExpireSeconds, p.now)
		case req.ExpireSeconds < 0:
			r.expireTs = 0
		}
		r.value = []byte(strconv.FormatInt(next, 10))
		p.data[k] = r
		resp.NewValue = next
		return nil
	})
}

// scanContext is an open scan: the items not yet returned.
type scanContext struct {
	items []protocol.ScanItem
	batch int
}

// ScanOpen implements Replica.ScanOpen.
func (s *replicaService) ScanOpen(_ context.Context, req *protocol.ScanOpenRequest, resp *protocol.ScanOpenResponse) error {
	var sc scanContext
	err := s.serve(req, !req.FullPartition, func(p *partitionView) error {
		var lower, upper []byte
		if !req.FullPartition {
			var err error
			if lower, err = keyschema.LowerBound(req.StartHashKey, req.StartSortKey, req.StartInclusive); err != nil {
				return protocol.Errorf(protocol.CodeInvalidArgument, "%v", err)
			}
			if len(req.StopHashKey) > 0 || len(req.StopSortKey) > 0 {
				if upper, err = keyschema.UpperBound(req.StopHashKey, req.StopSortKey, req.StopInclusive); err != nil {
					return protocol.Errorf(protocol.CodeInvalidArgument, "%v", err)
				}
			}
		}
		for _, k := range p.rangeKeys(lower, upper) {
			hk, sk, _ := keyschema.DecodeKey([]byte(k))
			if !req.HashKeyFilter.Match(hk) || !req.SortKeyFilter.Match(sk) {
				continue
			}
			it := protocol.ScanItem{HashKey: slices.Clone(hk), SortKey: slices.Clone(sk), ExpireTs: p.data[k].expireTs}
			if !req.NoValue {
				it.Value = slices.Clone(p.data[k].value)
			}
			sc.items = append(sc.items, it)
		}
		return nil
	})
	if err != nil {
		return err
	}
	sc.batch = int(req.BatchSize)
	if sc.batch <= 0 {
		sc.batch = scanBatch
	}
	resp.Items, resp.Done = sc.next()
	if !resp.Done {
		c := s.n.cluster
		c.mu.Lock()
		if c.mu.scans == nil {
			c.mu.scans = make(map[int64]*scanContext)
		}
		c.mu.nextScan++
		resp.ContextID = c.mu.nextScan
		c.mu.scans[resp.ContextID] = &sc
		c.mu.Unlock()
	}
	return nil
}

func (sc *scanContext) next() ([]protocol.ScanItem, bool) {
	n := min(sc.batch, len(sc.items))
	out := sc.items[:n]
	sc.items = sc.items[n:]
	return out, len(sc.items) == 0
}

// ScanNext implements Replica.ScanNext.
func (s *replicaService) ScanNext(_ context.Context, req *protocol.ScanNextRequest, resp *protocol.ScanNextResponse) error {
	c := s.n.cluster
	c.mu.Lock()
	defer c.mu.Unlock()
	sc := c.mu.scans[req.ContextID]
	if sc == nil {
		return protocol.Errorf(protocol.CodeObjectNotFound, "no scan context %d", req.ContextID)
	}
	resp.Items, resp.Done = sc.next()
	if resp.Done {
		delete(c.mu.scans, req.ContextID)
	}
	return nil
}

// ScanClose implements Replica.ScanClose.
func (s *replicaService) ScanClose(_ context.Context, req *protocol.ScanCloseRequest, _ *protocol.ScanCloseResponse) error {
	c := s.n.cluster
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.mu.scans, req.ContextID)
	return nil
}
