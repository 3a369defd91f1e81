package replica

import (
	"errors"

	"github.com/pegasus-go/pegasus/replicaserver/internal/storage"
	"github.com/pegasus-go/pegasus/shared/keyschema"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

// batchSetMarker starts the body of an OpMultiPut update that carries a
// BatchSetRequest instead of a MultiSetRequest. BatchSet has no op code of
// its own (op codes are part of the plog format); every request encoding
// starts with its format version (1), so the marker cannot be mistaken for
// a MultiSetRequest.
const batchSetMarker byte = 0xB5

// EncodeUpdate checks that req is the request type op expects and encodes
// it as a mutation update. The pairs are:
//
//	OpPut            *protocol.SetRequest
//	OpMultiPut       *protocol.MultiSetRequest or *protocol.BatchSetRequest
//	OpRemove         *protocol.DelRequest
//	OpMultiRemove    *protocol.MultiDelRequest
//	OpDelRange       *protocol.DelRangeRequest
//	OpIncr           *protocol.IncrRequest
//	OpCheckAndSet    *protocol.CheckAndSetRequest
//	OpCheckAndMutate *protocol.CheckAndMutateRequest
//	OpDuplicate      *protocol.DuplicateRequest (entries another cluster shipped)
//
// OpEmpty belongs to the core and is refused. A mismatch or a request
// that cannot be applied (an empty
// multi_set, a negative TTL, a hashkey longer than keyschema.MaxHashKeyLen,
// an unknown check type, ...) is CodeInvalidArgument.
func EncodeUpdate(op protocol.OpCode, req protocol.Message) (protocol.Update, error) {
	if req == nil {
		return protocol.Update{}, protocol.Errorf(protocol.CodeInvalidArgument, "nil %s request", op.String())
	}
	if err := validateRequest(op, req); err != nil {
		return protocol.Update{}, err
	}
	var body []byte
	if _, ok := req.(*protocol.BatchSetRequest); ok {
		body = []byte{batchSetMarker}
	}
	body, err := req.AppendBinary(body)
	if err != nil {
		return protocol.Update{}, protocol.Errorf(protocol.CodeInvalidArgument, "encode %s request: %v", op.String(), err)
	}
	return protocol.Update{Op: op, Body: body}, nil
}

// DecodeUpdate decodes an update's body into its request type (the inverse
// of EncodeUpdate). OpEmpty decodes to nil. A malformed body is
// CodeInvalidArgument.
func DecodeUpdate(u protocol.Update) (protocol.Message, error) {
	var req protocol.Message
	switch u.Op {
	case protocol.OpEmpty:
		return nil, nil
	case protocol.OpPut:
		req = &protocol.SetRequest{}
	case protocol.OpMultiPut:
		if len(u.Body) > 0 && u.Body[0] == batchSetMarker {
			r := &protocol.BatchSetRequest{}
			if err := r.UnmarshalBinary(u.Body[1:]); err != nil {
				return nil, protocol.Errorf(protocol.CodeInvalidArgument, "decode batch_set update: %v", err)
			}
			return r, nil
		}
		req = &protocol.MultiSetRequest{}
	case protocol.OpRemove:
		req = &protocol.DelRequest{}
	case protocol.OpMultiRemove:
		req = &protocol.MultiDelRequest{}
	case protocol.OpDelRange:
		req = &protocol.DelRangeRequest{}
	case protocol.OpIncr:
		req = &protocol.IncrRequest{}
	case protocol.OpCheckAndSet:
		req = &protocol.CheckAndSetRequest{}
	case protocol.OpCheckAndMutate:
		req = &protocol.CheckAndMutateRequest{}
	case protocol.OpDuplicate:
		req = &protocol.DuplicateRequest{}
	default:
		return nil, protocol.Errorf(protocol.CodeNotImplementable, "cannot decode %s update", u.Op.String())
	}
	if err := req.UnmarshalBinary(u.Body); err != nil {
		return nil, protocol.Errorf(protocol.CodeInvalidArgument, "decode %s update: %v", u.Op.String(), err)
	}
	return req, nil
}

func checkHashKey(hk []byte) error {
	if len(hk) > keyschema.MaxHashKeyLen {
		return protocol.Errorf(protocol.CodeInvalidArgument, "hashkey of %d bytes exceeds %d", len(hk), keyschema.MaxHashKeyLen)
	}
	return nil
}

func checkTTL(ttl int32) error {
	if ttl < 0 {
		return protocol.Errorf(protocol.CodeInvalidArgument, "negative TTL %d", ttl)
	}
	return nil
}

func mismatch(op protocol.OpCode, req protocol.Message) error {
	return protocol.Errorf(protocol.CodeInvalidArgument, "%s write with a %T request", op.String(), req)
}

// validateRequest checks the op/request pairing and what can be checked
// without the data, so a write that is bound to fail does not take a
// decree.
func validateRequest(op protocol.OpCode, req protocol.Message) error {
	var hk []byte
	var errs []error
	switch op {
	case protocol.OpPut:
		r, ok := req.(*protocol.SetRequest)
		if !ok {
			return mismatch(op, req)
		}
		hk = r.HashKey
		errs = append(errs, checkTTL(r.TTLSeconds))
	case protocol.OpMultiPut:
		switch r := req.(type) {
		case *protocol.MultiSetRequest:
			hk = r.HashKey
			if len(r.KVs) == 0 {
				return protocol.Errorf(protocol.CodeInvalidArgument, "multi_set without records")
			}
			errs = append(errs, checkTTL(r.TTLSeconds))
		case *protocol.BatchSetRequest:
			if len(r.Items) == 0 {
				return protocol.Errorf(protocol.CodeInvalidArgument, "batch_set without records")
			}
			// Items are checked one by one at apply time; each gets its
			// own code.
		default:
			return mismatch(op, req)
		}
	case protocol.OpRemove:
		r, ok := req.(*protocol.DelRequest)
		if !ok {
			return mismatch(op, req)
		}
		hk = r.HashKey
	case protocol.OpMultiRemove:
		r, ok := req.(*protocol.MultiDelRequest)
		if !ok {
			return mismatch(op, req)
		}
		hk = r.HashKey
		if len(r.SortKeys) == 0 {
			return protocol.Errorf(protocol.CodeInvalidArgument, "multi_del without sortkeys")
		}
	case protocol.OpDelRange:
		r, ok := req.(*protocol.DelRangeRequest)
		if !ok {
			return mismatch(op, req)
		}
		hk = r.HashKey
		if !r.SortKeyFilter.Type.Valid() {
			return protocol.Errorf(protocol.CodeInvalidArgument, "unknown filter type %d", r.SortKeyFilter.Type)
		}
	case protocol.OpIncr:
		r, ok := req.(*protocol.IncrRequest)
		if !ok {
			return mismatch(op, req)
		}
		hk = r.HashKey
	case protocol.OpCheckAndSet:
		r, ok := req.(*protocol.CheckAndSetRequest)
		if !ok {
			return mismatch(op, req)
		}
		hk = r.HashKey
		if !r.CheckType.Valid() {
			return protocol.Errorf(protocol.CodeInvalidArgument, "unknown check type %d", r.CheckType)
		}
		errs = append(errs, checkTTL(r.SetTTLSeconds))
	case protocol.OpCheckAndMutate:
		r, ok := req.(*protocol.CheckAndMutateRequest)
		if !ok {
			return mismatch(op, req)
		}
		hk = r.HashKey
		if !r.CheckType.Valid() {
			return protocol.Errorf(protocol.CodeInvalidArgument, "unknown check type %d", r.CheckType)
		}
		if len(r.Mutates) == 0 {
			return protocol.Errorf(protocol.CodeInvalidArgument, "check_and_mutate without mutates")
		}
		for _, m := range r.Mutates {
			if m.Operation != protocol.MutatePut && m.Operation != protocol.MutateDel {
				return protocol.Errorf(protocol.CodeInvalidArgument, "unknown mutate operation %d", m.Operation)
			}
			errs = append(errs, checkTTL(m.TTLSeconds))
		}
	case protocol.OpDuplicate:
		r, ok := req.(*protocol.DuplicateRequest)
		if !ok {
			return mismatch(op, req)
		}
		return validateDuplicate(r)
	default:
		return protocol.Errorf(protocol.CodeInvalidArgument, "op %s cannot be written by clients", op.String())
	}
	errs = append(errs, checkHashKey(hk))
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// applyUpdate decodes u and applies it to wb, returning the response for
// its caller. A failed check of check_and_set / check_and_mutate is a
// response with CheckPassed false, not an error. Any error leaves wb as it
// was (the engine's operations are all-or-nothing). onEntry, if set, is
// called for every entry of an OpDuplicate update.
func applyUpdate(wb *storage.WriteBatch, decree protocol.Decree, u protocol.Update, dup bool, onEntry func(protocol.DuplicateEntry)) (protocol.Message, error) {
	req, err := DecodeUpdate(u)
	if err != nil || req == nil {
		return nil, err
	}
	switch r := req.(type) {
	case *protocol.DuplicateRequest:
		if !dup {
			return nil, protocol.Errorf(protocol.CodeInvalidArgument, "duplicate update in a mutation without duplication timetags")
		}
		return applyDuplicate(wb, r, onEntry)
	case *protocol.SetRequest:
		if err := wb.Set(r.HashKey, r.SortKey, r.Value, r.TTLSeconds); err != nil {
			return nil, err
		}
		return &protocol.SetResponse{Decree: decree}, nil
	case *protocol.MultiSetRequest:
		if err := wb.MultiSet(r.HashKey, r.KVs, r.TTLSeconds); err != nil {
			return nil, err
		}
		return &protocol.MultiSetResponse{Decree: decree}, nil
	case *protocol.BatchSetRequest:
		resp := &protocol.BatchSetResponse{Codes: make([]protocol.ErrorCode, len(r.Items))}
		for i, it := range r.Items {
			err := wb.Set(it.HashKey, it.SortKey, it.Value, it.TTLSeconds)
			if err != nil && isBatchFatal(err) {
				return nil, err
			}
			resp.Codes[i] = protocol.CodeOf(err)
			if err == nil {
				resp.Decree = decree
			}
		}
		return resp, nil
	case *protocol.DelRequest:
		if err := wb.Del(r.HashKey, r.SortKey); err != nil {
			return nil, err
		}
		return &protocol.DelResponse{Decree: decree}, nil
	case *protocol.MultiDelRequest:
		n, err := wb.MultiDel(r.HashKey, r.SortKeys)
		if err != nil {
			return nil, err
		}
		return &protocol.MultiDelResponse{Deleted: n, Decree: decree}, nil
	case *protocol.DelRangeRequest:
		n, err := wb.DelRange(r.HashKey, storage.DelRangeOptions{
			StartSortKey: r.StartSortKey, StopSortKey: r.StopSortKey,
			StartInclusive: r.StartInclusive, StopInclusive: r.StopInclusive,
			SortKeyFilter: r.SortKeyFilter,
		})
		if err != nil {
			return nil, err
		}
		return &protocol.DelRangeResponse{Deleted: n, Decree: decree}, nil
	case *protocol.IncrRequest:
		v, err := wb.Incr(r.HashKey, r.SortKey, r.Increment, r.ExpireSeconds)
		if err != nil {
			return nil, err
		}
		return &protocol.IncrResponse{NewValue: v, Decree: decree}, nil
	case *protocol.CheckAndSetRequest:
		res, err := wb.CheckAndSet(storage.CheckAndSetRequest{
			HashKey: r.HashKey, CheckSortKey: r.CheckSortKey, CheckType: r.CheckType, CheckOperand: r.CheckOperand,
			SetDiffSortKey: r.SetDiffSortKey, SetSortKey: r.SetSortKey, SetValue: r.SetValue,
			SetTTLSeconds: r.SetTTLSeconds, ReturnCheckValue: r.ReturnCheckValue,
		})
		passed, err := checkOutcome(err)
		if err != nil {
			return nil, err
		}
		resp := &protocol.CheckAndSetResponse{CheckPassed: passed, CheckValueReturned: res.CheckValueReturned,
			CheckValueExist: res.CheckValueExist, CheckValue: res.CheckValue}
		if passed {
			resp.Decree = decree
		}
		return resp, nil
	case *protocol.CheckAndMutateRequest:
		res, err := wb.CheckAndMutate(storage.CheckAndMutateRequest{
			HashKey: r.HashKey, CheckSortKey: r.CheckSortKey, CheckType: r.CheckType, CheckOperand: r.CheckOperand,
			Mutates: r.Mutates, ReturnCheckValue: r.ReturnCheckValue,
		})
		passed, err := checkOutcome(err)
		if err != nil {
			return nil, err
		}
		resp := &protocol.CheckAndMutateResponse{CheckPassed: passed, CheckValueReturned: res.CheckValueReturned,
			CheckValueExist: res.CheckValueExist, CheckValue: res.CheckValue}
		if passed {
			resp.Decree = decree
		}
		return resp, nil
	}
	return nil, protocol.Errorf(protocol.CodeInternal, "no apply for %T", req)
}

// checkOutcome turns the engine's CodeCheckFailed into passed=false.
func checkOutcome(err error) (passed bool, _ error) {
	if errors.Is(err, protocol.CodeCheckFailed) {
		return false, nil
	}
	return err == nil, err
}

// isBatchFatal reports whether err is a failure of the batch or the
// engine (IO, corruption, closed) rather than of one update's input.
func isBatchFatal(err error) bool {
	switch protocol.CodeOf(err) {
	case protocol.CodeIOError, protocol.CodeCorruption, protocol.CodeInvalidState:
		return true
	}
	return false
}
