package replica

import (
	"github.com/pegasus-go/pegasus/replicaserver/internal/storage"
	"github.com/pegasus-go/pegasus/shared/keyschema"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

// duplicableOps are the ops a DuplicateEntry may carry: the source primary
// converts non-idempotent writes before they reach its plog and never
// ships OpDuplicate updates.
func duplicableOp(op protocol.OpCode) bool {
	switch op {
	case protocol.OpPut, protocol.OpMultiPut, protocol.OpRemove, protocol.OpMultiRemove, protocol.OpDelRange:
		return true
	}
	return false
}

// validateDuplicate checks every entry of a duplicate request: a
// duplicable op, a body that decodes to that op's request and passes the
// op's own checks, and a timestamp and cluster id that fit a timetag. So
// an OpDuplicate update that takes a decree applies without per-entry
// errors on every replica.
func validateDuplicate(r *protocol.DuplicateRequest) error {
	if len(r.Entries) == 0 {
		return protocol.Errorf(protocol.CodeInvalidArgument, "duplicate request without entries")
	}
	for i, e := range r.Entries {
		if _, err := decodeEntry(e); err != nil {
			return protocol.Errorf(protocol.CodeInvalidArgument, "duplicate entry %d: %v", i, err)
		}
	}
	return nil
}

// decodeEntry checks one duplicated entry and decodes its body.
func decodeEntry(e protocol.DuplicateEntry) (protocol.Message, error) {
	if !duplicableOp(e.Op) {
		return nil, protocol.Errorf(protocol.CodeInvalidArgument, "op %s cannot be duplicated", e.Op.String())
	}
	if e.TimestampUs < 0 || e.TimestampUs > keyschema.MaxTimetagTimestampUs {
		return nil, protocol.Errorf(protocol.CodeInvalidArgument, "timestamp %d out of range", e.TimestampUs)
	}
	if e.ClusterID > keyschema.MaxClusterID {
		return nil, protocol.Errorf(protocol.CodeInvalidArgument, "cluster id %d exceeds %d", e.ClusterID, keyschema.MaxClusterID)
	}
	req, err := DecodeUpdate(protocol.Update{Op: e.Op, Body: e.Body})
	if err != nil {
		return nil, err
	}
	if err := validateRequest(e.Op, req); err != nil {
		return nil, err
	}
	return req, nil
}

// applyDuplicate applies every entry of a duplicate request last-writer-
// wins and counts the entries that changed data. An entry that cannot be
// applied (validation happens before proposing, so only a primary that
// skipped it could send one) is skipped on every replica alike; engine
// failures are returned.
func applyDuplicate(wb *storage.WriteBatch, r *protocol.DuplicateRequest, onEntry func(protocol.DuplicateEntry)) (protocol.Message, error) {
	resp := &protocol.DuplicateResponse{}
	for _, e := range r.Entries {
		if onEntry != nil {
			onEntry(e)
		}
		req, err := decodeEntry(e)
		if err != nil {
			continue
		}
		applied, err := wb.ApplyDuplicate(e, req)
		if err != nil {
			if isBatchFatal(err) {
				return nil, err
			}
			continue
		}
		if applied {
			resp.Applied++
		}
	}
	return resp, nil
}
