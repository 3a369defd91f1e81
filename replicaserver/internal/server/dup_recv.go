package server

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/pegasus-go/pegasus/replicaserver/internal/replica"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

// The receiving side of duplication: Replica.Duplicate, called by another
// cluster's duplicators (through client-go's Table.Duplicate) on the
// primary of the partition the entries hash to. The request becomes one
// OpDuplicate write, replicated like any write and applied on every
// replica last-writer-wins by timetag (see replica/dupmode.go and
// storage/dup.go).

// metricDuplicateRequests counts Duplicate requests per table (exposed as
// duplicate_requests_total, next to the op's duplicate_qps_total).
const metricDuplicateRequests = "duplicate_requests"

// Duplicate applies entries another cluster shipped. Every entry must come
// from another cluster of [duplication-group] (CodeInvalidArgument naming
// the entry and its cluster id otherwise), carry a put, multi_set,
// batch_set, del, multi_del or del_range whose hashkeys hash to this
// partition (CodeWrongPartition), and the entries together must fit
// max_write_bytes. The response counts the entries that changed data; the
// request may be sent any number of times.
func (d *dataService) Duplicate(ctx context.Context, req *protocol.DuplicateRequest, resp *protocol.DuplicateResponse) error {
	return d.s.serve(ctx, opDuplicate, &req.Header, func(ctx context.Context, e *entry) error {
		e.metrics.scope.Counter(metricDuplicateRequests).Inc(1)
		if err := d.s.checkDuplicate(e, req); err != nil {
			return err
		}
		return write(ctx, e, protocol.OpDuplicate, req, resp)
	})
}

// checkDuplicate validates a Duplicate request before it takes a decree.
func (s *Server) checkDuplicate(e *entry, req *protocol.DuplicateRequest) error {
	if err := checkHeader(e, &req.Header); err != nil {
		return err
	}
	if len(req.Entries) == 0 {
		return protocol.Errorf(protocol.CodeInvalidArgument, "duplicate request without entries")
	}
	var size int64
	for i := range req.Entries {
		en := &req.Entries[i]
		if err := s.checkDupCluster(en.ClusterID); err != nil {
			return protocol.Errorf(protocol.CodeInvalidArgument, "duplicate entry %d: %v", i, err)
		}
		switch en.Op {
		case protocol.OpPut, protocol.OpMultiPut, protocol.OpRemove, protocol.OpMultiRemove, protocol.OpDelRange:
		default:
			return protocol.Errorf(protocol.CodeInvalidArgument, "duplicate entry %d: op %s cannot be duplicated", i, en.Op)
		}
		if en.TimestampUs < 0 {
			return protocol.Errorf(protocol.CodeInvalidArgument, "duplicate entry %d: negative timestamp %d", i, en.TimestampUs)
		}
		body, err := replica.DecodeUpdate(protocol.Update{Op: en.Op, Body: en.Body})
		if err != nil {
			return protocol.Errorf(protocol.CodeInvalidArgument, "duplicate entry %d: %v", i, err)
		}
		for _, hk := range entryHashKeys(body) {
			if err := checkHashKey(hk); err != nil {
				return protocol.Errorf(protocol.CodeInvalidArgument, "duplicate entry %d: %v", i, err)
			}
			if err := checkKeyPartition(e, hk, nil); err != nil {
				return protocol.Errorf(protocol.CodeWrongPartition, "duplicate entry %d: %v", i, err)
			}
		}
		size += int64(len(en.Body))
	}
	return s.checkWriteSize(size)
}

// checkDupCluster accepts the id of another cluster of the group.
func (s *Server) checkDupCluster(id uint8) error {
	group := s.opts.DuplicationGroup
	if own, ok := group[s.opts.ClusterName]; ok && own == id {
		return fmt.Errorf("cluster id %d is this cluster's own (%s)", id, s.opts.ClusterName)
	}
	for _, v := range group {
		if v == id {
			return nil
		}
	}
	known := make([]string, 0, len(group))
	for _, name := range slices.Sorted(maps.Keys(group)) {
		known = append(known, fmt.Sprintf("%s=%d", name, group[name]))
	}
	return fmt.Errorf("cluster id %d is not in [duplication-group] {%s}", id, strings.Join(known, ", "))
}

// entryHashKeys returns the hashkeys a decoded entry body writes.
func entryHashKeys(m protocol.Message) [][]byte {
	switch r := m.(type) {
	case *protocol.SetRequest:
		return [][]byte{r.HashKey}
	case *protocol.MultiSetRequest:
		return [][]byte{r.HashKey}
	case *protocol.BatchSetRequest:
		hks := make([][]byte, len(r.Items))
		for i := range r.Items {
			hks[i] = r.Items[i].HashKey
		}
		return hks
	case *protocol.DelRequest:
		return [][]byte{r.HashKey}
	case *protocol.MultiDelRequest:
		return [][]byte{r.HashKey}
	case *protocol.DelRangeRequest:
		return [][]byte{r.HashKey}
	}
	return nil
}
