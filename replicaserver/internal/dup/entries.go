package dup

import (
	"github.com/pegasus-go/pegasus/replicaserver/internal/replica"
	"github.com/pegasus-go/pegasus/shared/keyschema"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

// entry is one DuplicateEntry with the partition hash it routes by.
type entry struct {
	protocol.DuplicateEntry
	hash uint64
}

// entryOverhead approximates what an entry adds to a DuplicateRequest
// besides its body (timestamp, cluster id, op, length prefix).
const entryOverhead = 16

func (e *entry) size() int { return len(e.Body) + entryOverhead }

// splitter turns committed mutations into duplicate entries.
type splitter struct {
	clusterID uint8
	ts        int64
	out       []entry
	// unshippable counts updates that cannot be duplicated: incr,
	// check_and_set and check_and_mutate that reached the log without the
	// primary converting them (written before the table was duplicating).
	unshippable int
}

func (s *splitter) add(op protocol.OpCode, body []byte, hash uint64) {
	s.out = append(s.out, entry{DuplicateEntry: protocol.DuplicateEntry{TimestampUs: s.ts, ClusterID: s.clusterID, Op: op, Body: body}, hash: hash})
}

func (s *splitter) encode(op protocol.OpCode, req protocol.Message, hash uint64) error {
	body, err := req.AppendBinary(nil)
	if err != nil {
		return protocol.Errorf(protocol.CodeInternal, "duplication: encode %s entry: %v", op.String(), err)
	}
	s.add(op, body, hash)
	return nil
}

// split appends the entries of one committed mutation to s.out: per
// hashkey, in update order, each carrying the mutation's timestamp and the
// cluster id. Empty writes and updates that came in by duplication
// (OpDuplicate) give nothing, so nothing is shipped back (no loops). Set,
// Del, MultiSet, MultiDel and DelRange bodies are shipped as logged (they
// name one hashkey); a BatchSet becomes one OpMultiPut per hashkey (a new
// one whenever the TTL changes, so the order of writes to a key is kept);
// a write with an empty hashkey, which routes by its sortkey, is split
// into single-key puts or removes. An update that cannot be decoded is
// CodeCorruption.
func (s *splitter) split(m *protocol.Mutation) error {
	s.ts = m.TimestampUs
	for _, u := range m.Updates {
		switch u.Op {
		case protocol.OpEmpty, protocol.OpDuplicate:
			continue
		case protocol.OpIncr, protocol.OpCheckAndSet, protocol.OpCheckAndMutate:
			s.unshippable++
			continue
		}
		req, err := replica.DecodeUpdate(u)
		if err != nil {
			return protocol.Errorf(protocol.CodeCorruption, "duplication: decree %d: %v", m.Decree, err)
		}
		if err := s.splitUpdate(u, req); err != nil {
			return err
		}
	}
	return nil
}

func (s *splitter) splitUpdate(u protocol.Update, req protocol.Message) error {
	switch r := req.(type) {
	case *protocol.SetRequest:
		s.add(protocol.OpPut, u.Body, keyschema.Hash(r.HashKey, r.SortKey))
	case *protocol.DelRequest:
		s.add(protocol.OpRemove, u.Body, keyschema.Hash(r.HashKey, r.SortKey))
	case *protocol.DelRangeRequest:
		s.add(protocol.OpDelRange, u.Body, keyschema.Hash(r.HashKey, nil))
	case *protocol.MultiSetRequest:
		if len(r.HashKey) > 0 {
			s.add(protocol.OpMultiPut, u.Body, keyschema.Hash(r.HashKey, nil))
			return nil
		}
		for _, kv := range r.KVs {
			if err := s.encode(protocol.OpPut, &protocol.SetRequest{SortKey: kv.SortKey, Value: kv.Value, TTLSeconds: r.TTLSeconds},
				keyschema.Hash(nil, kv.SortKey)); err != nil {
				return err
			}
		}
	case *protocol.MultiDelRequest:
		if len(r.HashKey) > 0 {
			s.add(protocol.OpMultiRemove, u.Body, keyschema.Hash(r.HashKey, nil))
			return nil
		}
		for _, sk := range r.SortKeys {
			if err := s.encode(protocol.OpRemove, &protocol.DelRequest{SortKey: sk}, keyschema.Hash(nil, sk)); err != nil {
				return err
			}
		}
	case *protocol.BatchSetRequest:
		return s.splitBatchSet(r)
	default:
		return protocol.Errorf(protocol.CodeInternal, "duplication: unexpected %T update", req)
	}
	return nil
}

// splitBatchSet groups a BatchSet's items into one MultiSetRequest per
// hashkey and TTL run, in order of first appearance; items with an empty
// hashkey become single puts.
func (s *splitter) splitBatchSet(r *protocol.BatchSetRequest) error {
	type group struct {
		op   protocol.OpCode
		req  protocol.Message
		hash uint64
	}
	var groups []group
	open := map[string]*protocol.MultiSetRequest{} // hashkey -> its current group
	for i := range r.Items {
		it := &r.Items[i]
		if len(it.HashKey) == 0 {
			groups = append(groups, group{op: protocol.OpPut, hash: keyschema.Hash(nil, it.SortKey),
				req: &protocol.SetRequest{SortKey: it.SortKey, Value: it.Value, TTLSeconds: it.TTLSeconds}})
			continue
		}
		kv := protocol.KeyValue{SortKey: it.SortKey, Value: it.Value}
		if g := open[string(it.HashKey)]; g != nil && g.TTLSeconds == it.TTLSeconds {
			g.KVs = append(g.KVs, kv)
			continue
		}
		g := &protocol.MultiSetRequest{HashKey: it.HashKey, TTLSeconds: it.TTLSeconds, KVs: []protocol.KeyValue{kv}}
		open[string(it.HashKey)] = g
		groups = append(groups, group{op: protocol.OpMultiPut, req: g, hash: keyschema.Hash(it.HashKey, nil)})
	}
	for _, g := range groups {
		if err := s.encode(g.op, g.req, g.hash); err != nil {
			return err
		}
	}
	return nil
}
