package replica

import (
	"strconv"
	"time"

	"github.com/pegasus-go/pegasus/replicaserver/internal/replica/core"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

// Duplication mode.
//
// While the replica's table is duplicated (SetDuplicating(true), or the
// table is a duplication follower: its envs carry
// protocol.EnvDupMasterApp), the primary:
//
//   - sets protocol.MutationDupTimetags on every mutation it prepares, so
//     every replica applies it last-writer-wins with timetags and leaves
//     tombstones for deletes (see storage.WriteOptions.DupTimetags);
//   - proposes every write with a timestamp above Engine.LastTimestampUs,
//     so a write wins against every duplicated write applied before it;
//   - converts incr, check_and_set and check_and_mutate into idempotent
//     writes before they reach the log: such a write, and every write
//     that arrives after it, is held until every earlier mutation is
//     applied; then the loop computes its outcome against the engine
//     (storage.ResolveIncr / ResolveCheck) and proposes the resulting put,
//     multi_set / batch_set and multi_del as one atomic mutation before
//     anything else, and answers the caller with the computed result once
//     that mutation is applied (a check that fails is answered at once and
//     writes nothing). Nothing can slip in between: only the loop proposes
//     and applies. Conversions are counted in
//     dup_disabled_non_idempotent_write_count.
//
// OpDuplicate writes (entries another cluster shipped) always carry the
// flag.

// SetDuplicating turns the duplication mode of the replica's table on or
// off (see above); the duplication glue calls it after every sync with the
// meta server: on while the table has at least one live duplication.
// Writes the loop takes after the call follow the new mode. Safe for
// concurrent use; it never blocks.
func (r *Replica) SetDuplicating(on bool) {
	if r.dupOn.Swap(on) != on {
		r.wake()
	}
}

// Duplicating reports whether the table is in duplication mode: switched
// on by SetDuplicating, or a duplication follower.
func (r *Replica) Duplicating() bool { return r.duplicating() }

func (r *Replica) duplicating() bool { return r.dupOn.Load() || r.dupFollower.Load() }

// releaseHeld proposes held writes in their arrival order (loop
// goroutine). A non-idempotent write of a duplicated table waits until
// nothing is queued or in flight, then is converted; after a conversion it
// returns so the converted write is prepared alone, before the writes
// behind it. It reports whether it proposed anything (the caller handles
// the core's Ready again).
func (r *Replica) releaseHeld() bool {
	proposed := false
	for len(r.held) > 0 {
		p := r.held[0]
		if p.Op.Idempotent() || !r.duplicating() {
			r.popHeld()
			r.proposeNow(p)
			proposed = true
			continue
		}
		if err := r.core.CanWrite(); err != nil {
			r.popHeld()
			r.answer(p.Token, writeResult{err: err})
			continue
		}
		if st := r.core.Status(); st.Queued > 0 || st.Applied < st.Prepared {
			return proposed
		}
		r.popHeld()
		if r.convert(p) {
			return true
		}
	}
	return proposed
}

func (r *Replica) popHeld() {
	r.held[0] = core.Proposal{}
	r.held = r.held[1:]
	if len(r.held) == 0 {
		r.held = nil
	}
}

// convert resolves a non-idempotent write against the engine and proposes
// the resulting idempotent updates, or answers the caller at once (failed
// check, error). It reports whether it proposed.
func (r *Replica) convert(p core.Proposal) bool {
	r.metrics.dupConverted.Inc(1)
	pw, _ := p.Token.(*pendingWrite)
	var req protocol.Message
	if pw != nil {
		req = pw.req
	}
	if req == nil {
		var err error
		if req, err = DecodeUpdate(protocol.Update{Op: p.Op, Body: p.Body}); err != nil {
			r.answer(p.Token, writeResult{err: err})
			return false
		}
	}
	// The mutation gets exactly this timestamp: nothing is queued and it
	// is above the core's last one.
	ts := max(r.opts.Clock().UnixMicro(), r.engine.LastTimestampUs()+1, r.core.LastTimestampUs()+1)
	c, err := r.resolve(req, time.UnixMicro(ts))
	if err != nil {
		r.answer(p.Token, writeResult{err: err})
		return false
	}
	if c.updates == nil {
		r.answer(p.Token, writeResult{resp: c.now})
		return false
	}
	if pw != nil {
		pw.converted = c.later
	}
	err = r.core.Propose(core.Proposal{Op: c.updates[0].Op, Body: c.updates[0].Body, Token: p.Token,
		TimestampUs: ts, Flags: protocol.MutationDupTimetags, Extra: c.updates[1:]})
	if err != nil {
		r.answer(p.Token, writeResult{err: err})
		return false
	}
	return true
}

// conversion is what a non-idempotent write resolves to: updates to
// replicate and the caller's response for the decree that applies them
// (later), or no updates and the response to give at once (now).
type conversion struct {
	updates []protocol.Update
	later   func(protocol.Decree) protocol.Message
	now     protocol.Message
}

// resolve computes req's outcome against the engine at time now.
func (r *Replica) resolve(req protocol.Message, now time.Time) (conversion, error) {
	e := r.engine
	switch q := req.(type) {
	case *protocol.IncrRequest:
		out, err := e.ResolveIncr(q.HashKey, q.SortKey, q.Increment, q.ExpireSeconds, now)
		if err != nil {
			return conversion{}, err
		}
		u, err := EncodeUpdate(protocol.OpPut, &protocol.SetRequest{Header: q.Header, HashKey: q.HashKey, SortKey: q.SortKey,
			Value: strconv.AppendInt(nil, out.NewValue, 10), TTLSeconds: out.TTLSeconds})
		if err != nil {
			return conversion{}, err
		}
		return conversion{updates: []protocol.Update{u}, later: func(d protocol.Decree) protocol.Message {
			return &protocol.IncrResponse{NewValue: out.NewValue, Decree: d}
		}}, nil

	case *protocol.CheckAndSetRequest:
		res, err := e.ResolveCheck(q.HashKey, q.CheckSortKey, q.CheckType, q.CheckOperand, q.ReturnCheckValue, now)
		passed, err := checkOutcome(err)
		if err != nil {
			return conversion{}, err
		}
		resp := func(d protocol.Decree) protocol.Message {
			return &protocol.CheckAndSetResponse{CheckPassed: passed, CheckValueReturned: res.CheckValueReturned,
				CheckValueExist: res.CheckValueExist, CheckValue: res.CheckValue, Decree: d}
		}
		if !passed {
			return conversion{now: resp(0)}, nil
		}
		sk := q.CheckSortKey
		if q.SetDiffSortKey {
			sk = q.SetSortKey
		}
		u, err := EncodeUpdate(protocol.OpPut, &protocol.SetRequest{Header: q.Header, HashKey: q.HashKey, SortKey: sk,
			Value: q.SetValue, TTLSeconds: q.SetTTLSeconds})
		if err != nil {
			return conversion{}, err
		}
		return conversion{updates: []protocol.Update{u}, later: resp}, nil

	case *protocol.CheckAndMutateRequest:
		res, err := e.ResolveCheck(q.HashKey, q.CheckSortKey, q.CheckType, q.CheckOperand, q.ReturnCheckValue, now)
		passed, err := checkOutcome(err)
		if err != nil {
			return conversion{}, err
		}
		resp := func(d protocol.Decree) protocol.Message {
			return &protocol.CheckAndMutateResponse{CheckPassed: passed, CheckValueReturned: res.CheckValueReturned,
				CheckValueExist: res.CheckValueExist, CheckValue: res.CheckValue, Decree: d}
		}
		if !passed {
			return conversion{now: resp(0)}, nil
		}
		ups, err := mutateUpdates(q)
		if err != nil {
			return conversion{}, err
		}
		return conversion{updates: ups, later: resp}, nil
	}
	return conversion{}, protocol.Errorf(protocol.CodeInternal, "cannot convert a %T", req)
}

// mutateUpdates turns the mutates of a passed check_and_mutate into
// idempotent updates with the same final effect: the last mutate of every
// sortkey decides it; puts become one multi_set (one batch_set when their
// TTLs differ), deletes one multi_del.
func mutateUpdates(q *protocol.CheckAndMutateRequest) ([]protocol.Update, error) {
	type effect struct {
		del   bool
		value []byte
		ttl   int32
	}
	var order [][]byte
	last := map[string]effect{}
	for _, m := range q.Mutates {
		k := string(m.SortKey)
		if _, seen := last[k]; !seen {
			order = append(order, m.SortKey)
		}
		last[k] = effect{del: m.Operation == protocol.MutateDel, value: m.Value, ttl: m.TTLSeconds}
	}
	var puts []protocol.BatchSetItem
	var dels [][]byte
	sameTTL := true
	for _, sk := range order {
		ef := last[string(sk)]
		if ef.del {
			dels = append(dels, sk)
			continue
		}
		if len(puts) > 0 && puts[0].TTLSeconds != ef.ttl {
			sameTTL = false
		}
		puts = append(puts, protocol.BatchSetItem{HashKey: q.HashKey, SortKey: sk, Value: ef.value, TTLSeconds: ef.ttl})
	}
	var ups []protocol.Update
	add := func(op protocol.OpCode, req protocol.Message) error {
		u, err := EncodeUpdate(op, req)
		if err == nil {
			ups = append(ups, u)
		}
		return err
	}
	switch {
	case len(puts) > 0 && sameTTL:
		kvs := make([]protocol.KeyValue, len(puts))
		for i, p := range puts {
			kvs[i] = protocol.KeyValue{SortKey: p.SortKey, Value: p.Value}
		}
		if err := add(protocol.OpMultiPut, &protocol.MultiSetRequest{Header: q.Header, HashKey: q.HashKey, KVs: kvs,
			TTLSeconds: puts[0].TTLSeconds}); err != nil {
			return nil, err
		}
	case len(puts) > 0:
		if err := add(protocol.OpMultiPut, &protocol.BatchSetRequest{Header: q.Header, Items: puts}); err != nil {
			return nil, err
		}
	}
	if len(dels) > 0 {
		if err := add(protocol.OpMultiRemove, &protocol.MultiDelRequest{Header: q.Header, HashKey: q.HashKey, SortKeys: dels}); err != nil {
			return nil, err
		}
	}
	if len(ups) == 0 {
		return nil, protocol.Errorf(protocol.CodeInvalidArgument, "check_and_mutate without mutates")
	}
	return ups, nil
}
