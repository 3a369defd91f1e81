package pegasus

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/pegasus-go/pegasus/shared/protocol"
	"github.com/pegasus-go/pegasus/shared/rpc"
)

// Sentinel errors. Every error a Table or Client method returns can be
// tested with errors.Is against these; errors coming from a server also
// match their protocol.ErrorCode (errors.Is(err, protocol.CodeNotFound)).
var (
	// ErrNotFound: the record does not exist or has expired (Get, TTL), or
	// a BatchGet key has no record.
	ErrNotFound = errors.New("pegasus: record not found")
	// ErrTimeout: the operation did not finish before the context's
	// deadline (or Config.OperationTimeout when the context has none).
	// errors.Is(err, context.DeadlineExceeded) holds too when the local
	// deadline expired.
	ErrTimeout = errors.New("pegasus: operation timed out")
	// ErrInvalidArgument: the request was rejected, by the client before
	// any RPC (empty or oversized hashkey, negative TTL, mismatched
	// slices...) or by the server.
	ErrInvalidArgument = errors.New("pegasus: invalid argument")
	// ErrTableNotFound: the table does not exist or was dropped.
	ErrTableNotFound = errors.New("pegasus: table not found")
	// ErrCheckFailed: CheckAndSet / CheckAndMutate did not pass its check
	// and wrote nothing; the result returned alongside still carries the
	// check value when it was asked for.
	ErrCheckFailed = errors.New("pegasus: check failed")
	// ErrBusy: the server shed load and the operation could not be retried
	// (non-idempotent) or kept failing until the deadline.
	ErrBusy = errors.New("pegasus: server busy")
	// ErrInvalidIncr: Incr would overflow int64, or the stored value is
	// not a decimal integer.
	ErrInvalidIncr = errors.New("pegasus: invalid incr")
	// ErrUnavailable: the partition could not be served: no primary is
	// known, the addressed replica is not (or no longer) the primary, its
	// lease expired, too few replicas are alive, or it could not be
	// reached. Idempotent operations retry these until the deadline; the
	// error surfaces when time ran out or the operation is not idempotent.
	ErrUnavailable = errors.New("pegasus: partition unavailable")
	// ErrScanExpired: a scanner's server-side context is gone (idle too
	// long, or the partition moved) and the scan could not be resumed from
	// its last key before the deadline. Open a new scanner from the last
	// key returned.
	ErrScanExpired = errors.New("pegasus: scan context expired")
	// ErrClosed: the Client (or the Scanner) was closed.
	ErrClosed = errors.New("pegasus: client closed")
)

// OpError describes a failed operation: which operation, on which table
// and partition, against which server, and why. Err is the underlying
// cause: a *protocol.Error from the server or the transport, a context
// error, or a client-side validation error.
//
// errors.Is(err, X) holds for the sentinel X matching the cause's code
// (ErrNotFound for CodeNotFound, ErrTimeout for CodeTimeout, ...) and for
// anything in Err's own chain (protocol.CodeNotFound, context.Canceled...).
type OpError struct {
	Op        string // operation, e.g. "get", "multi_set", "scan_next"
	Table     string // table name
	Partition int32  // partition index, -1 when not known or not applicable
	Addr      string // server address, "" when no request was sent
	Err       error  // the cause
}

func (e *OpError) Error() string {
	s := "pegasus: " + e.Op
	if e.Table != "" {
		s += " on table " + strconv.Quote(e.Table)
	}
	if e.Partition >= 0 {
		s += " partition " + strconv.Itoa(int(e.Partition))
	}
	if e.Addr != "" {
		s += " at " + e.Addr
	}
	return s + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *OpError) Unwrap() error { return e.Err }

// Is reports whether target is the sentinel for the cause's error code.
func (e *OpError) Is(target error) bool {
	s := sentinelFor(e.Op, e.Err)
	return s != nil && s == target
}

// sentinelFor maps a cause to its sentinel, or nil.
func sentinelFor(op string, err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return ErrTimeout
	}
	if errors.Is(err, rpc.ErrClientClosed) {
		return ErrClosed
	}
	var pe *protocol.Error
	var code protocol.ErrorCode
	if errors.As(err, &pe) {
		code = pe.Code
	} else if !errors.As(err, &code) {
		return nil
	}
	if op == opScanNext && (code == protocol.CodeNotFound || code == protocol.CodeObjectNotFound) {
		return ErrScanExpired
	}
	switch code {
	case protocol.CodeNotFound:
		return ErrNotFound
	case protocol.CodeTimeout:
		return ErrTimeout
	case protocol.CodeInvalidArgument:
		return ErrInvalidArgument
	case protocol.CodeAppNotExist, protocol.CodeAppDropped:
		return ErrTableNotFound
	case protocol.CodeCheckFailed:
		return ErrCheckFailed
	case protocol.CodeBusy:
		return ErrBusy
	case protocol.CodeIncrOverflow:
		return ErrInvalidIncr
	case protocol.CodeInvalidState, protocol.CodeObjectNotFound, protocol.CodeWrongPartition,
		protocol.CodeStaleBallot, protocol.CodeLeaseExpired, protocol.CodeNotEnoughMember,
		protocol.CodeNetworkFailure:
		return ErrUnavailable
	}
	return nil
}

// invalidArgf builds a client-side validation error.
func invalidArgf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidArgument}, args...)...)
}

// retryClass says what the retry loop does after an error.
type retryClass int

const (
	// classFinal: the error is the operation's answer (not found, invalid
	// argument...); never retried.
	classFinal retryClass = iota
	// classRefresh: the configuration is probably stale; refresh it, then
	// retry if allowed.
	classRefresh
	// classTransient: the server is temporarily unable (busy, too few
	// members); back off and retry if allowed.
	classTransient
)

func classify(err error) retryClass {
	if errors.Is(err, ErrUnavailable) {
		return classRefresh // no primary known (client-side)
	}
	switch protocol.CodeOf(err) {
	case protocol.CodeInvalidState, protocol.CodeObjectNotFound, protocol.CodeWrongPartition,
		protocol.CodeStaleBallot, protocol.CodeLeaseExpired, protocol.CodeNetworkFailure,
		protocol.CodeTimeout, protocol.CodeIOError:
		// A timeout may mean the primary stopped answering and was
		// replaced, and a replica whose disk failed serves nothing until
		// the meta moves its partition: look the partition up again (rate
		// limited).
		if errors.Is(err, rpc.ErrClientClosed) {
			return classFinal
		}
		return classRefresh
	case protocol.CodeBusy, protocol.CodeNotEnoughMember:
		return classTransient
	}
	return classFinal
}
