package storage

import (
	"time"

	"github.com/pegasus-go/pegasus/shared/keyschema"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

// Resolving non-idempotent writes. A duplicated table cannot ship incr,
// check_and_set or check_and_mutate (applied again, or on another cluster's
// data, they would do something else), so its primary computes their
// outcome against the current data and replicates the resulting puts and
// deletes instead. The functions here compute that outcome without
// writing; the caller must make sure nothing is applied between the
// computation and the application of the result (the replica's loop
// resolves only when every earlier mutation is applied and proposes the
// result before anything else), and must apply the result at time now.

// IncrOutcome is what an incr resolves to: a put of NewValue with
// TTLSeconds (0: the default TTL, as for a put without TTL).
type IncrOutcome struct {
	NewValue   int64
	TTLSeconds int32
}

// ResolveIncr computes what WriteBatch.Incr(hashKey, sortKey, delta,
// expireSeconds) would do in a batch at time now: the new value, and the
// TTL a put applied at now needs to leave the record with the expiry Incr
// would give it. Errors are Incr's (CodeInvalidArgument for a stored value
// that is not an integer, CodeIncrOverflow).
func (e *Engine) ResolveIncr(hashKey, sortKey []byte, delta int64, expireSeconds int32, now time.Time) (IncrOutcome, error) {
	if err := e.acquire(); err != nil {
		return IncrOutcome{}, err
	}
	defer e.release()
	key, err := encodeKey(hashKey, sortKey)
	if err != nil {
		return IncrOutcome{}, err
	}
	nowEpoch := keyschema.EpochSeconds(now)
	rec, found, err := getRecord(e.db, key, nowEpoch)
	if err != nil {
		return IncrOutcome{}, err
	}
	nv, err := incrValue(rec, found, delta)
	if err != nil {
		return IncrOutcome{}, err
	}
	out := IncrOutcome{NewValue: nv}
	switch {
	case expireSeconds > 0:
		out.TTLSeconds = expireSeconds
	case expireSeconds == 0 && found && rec.expireTs != 0:
		// Keep the expiry: the record is visible at now, so at least a
		// second remains.
		out.TTLSeconds = int32(min(int64(rec.expireTs)-int64(nowEpoch), int64(^uint32(0)>>1)))
	}
	return out, nil
}

// ResolveCheck evaluates the check of a check_and_set or check_and_mutate
// at time now, as WriteBatch.CheckAndSet would: a check that does not pass
// is CodeCheckFailed (the CheckResult is filled either way when
// returnValue); an unknown check type or an int comparison on a
// non-integer is CodeInvalidArgument.
func (e *Engine) ResolveCheck(hashKey, sortKey []byte, ct protocol.CheckType, operand []byte, returnValue bool, now time.Time) (CheckResult, error) {
	if err := e.acquire(); err != nil {
		return CheckResult{}, err
	}
	defer e.release()
	if !ct.Valid() {
		return CheckResult{}, protocol.Errorf(protocol.CodeInvalidArgument, "unknown check type %d", ct)
	}
	key, err := encodeKey(hashKey, sortKey)
	if err != nil {
		return CheckResult{}, err
	}
	rec, exist, err := getRecord(e.db, key, keyschema.EpochSeconds(now))
	if err != nil {
		return CheckResult{}, err
	}
	return evalCheck(rec, exist, sortKey, ct, operand, returnValue)
}
