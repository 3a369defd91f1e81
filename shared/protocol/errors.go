package protocol

import (
	"errors"
	"fmt"
)

// ErrorCode is the typed error carried on the wire. Handlers return
// *Error (or a bare ErrorCode); the RPC layer transports the code and the
// message, and the client gets an *Error back, so callers test with
// errors.Is(err, protocol.CodeNotFound) on either side.
type ErrorCode int32

// Error codes. Values are part of the wire format: never renumber, only add.
const (
	CodeOK               ErrorCode = 0  // success
	CodeUnknown          ErrorCode = 1  // an error the sender did not classify
	CodeInternal         ErrorCode = 2  // an invariant broke on the server
	CodeTimeout          ErrorCode = 3  // the operation did not finish in time
	CodeBusy             ErrorCode = 4  // the server sheds load; retry later
	CodeInvalidArgument  ErrorCode = 5  // the request is malformed or out of range
	CodeNotFound         ErrorCode = 6  // the record does not exist
	CodeAppNotExist      ErrorCode = 7  // no such table
	CodeAppExist         ErrorCode = 8  // the table already exists
	CodeObjectNotFound   ErrorCode = 9  // the partition or replica is not served here
	CodeInvalidState     ErrorCode = 10 // the replica cannot serve this now (not primary, learning, denied)
	CodeWrongPartition   ErrorCode = 11 // the key does not hash to the addressed partition
	CodeStaleBallot      ErrorCode = 12 // the message carries a ballot lower than the receiver's
	CodeNotEnoughMember  ErrorCode = 13 // too few replicas alive to accept writes
	CodeForwardToOthers  ErrorCode = 14 // this meta server is not the leader; see the message for where to go
	CodeMessageTooLarge  ErrorCode = 15 // the frame or payload exceeds the configured limit
	CodeUnknownMethod    ErrorCode = 16 // no such rpcx service or method
	CodeCheckFailed      ErrorCode = 17 // check_and_set / check_and_mutate: the check did not pass
	CodeIncrOverflow     ErrorCode = 18 // incr would overflow int64, or the stored value is not an integer
	CodeLeaseExpired     ErrorCode = 19 // the primary's lease from the meta server has expired
	CodeNetworkFailure   ErrorCode = 20 // the peer could not be reached
	CodeCorruption       ErrorCode = 21 // stored data failed a checksum
	CodeIOError          ErrorCode = 22 // a disk operation failed
	CodeAppDropped       ErrorCode = 23 // the table was dropped (recallable)
	CodeInvalidConfig    ErrorCode = 24 // a configuration key or value is invalid
	CodeNotImplementable ErrorCode = 25 // the server does not support this request version
)

var codeNames = map[ErrorCode]string{
	CodeOK:               "ERR_OK",
	CodeUnknown:          "ERR_UNKNOWN",
	CodeInternal:         "ERR_INTERNAL",
	CodeTimeout:          "ERR_TIMEOUT",
	CodeBusy:             "ERR_BUSY",
	CodeInvalidArgument:  "ERR_INVALID_PARAMETERS",
	CodeNotFound:         "ERR_NOT_FOUND",
	CodeAppNotExist:      "ERR_APP_NOT_EXIST",
	CodeAppExist:         "ERR_APP_EXIST",
	CodeObjectNotFound:   "ERR_OBJECT_NOT_FOUND",
	CodeInvalidState:     "ERR_INVALID_STATE",
	CodeWrongPartition:   "ERR_PARENT_PARTITION_MISUSED",
	CodeStaleBallot:      "ERR_INVALID_BALLOT",
	CodeNotEnoughMember:  "ERR_NOT_ENOUGH_MEMBER",
	CodeForwardToOthers:  "ERR_FORWARD_TO_OTHERS",
	CodeMessageTooLarge:  "ERR_MESSAGE_TOO_LARGE",
	CodeUnknownMethod:    "ERR_HANDLER_NOT_FOUND",
	CodeCheckFailed:      "ERR_TRY_AGAIN",
	CodeIncrOverflow:     "ERR_INVALID_INCR",
	CodeLeaseExpired:     "ERR_LEASE_EXPIRED",
	CodeNetworkFailure:   "ERR_NETWORK_FAILURE",
	CodeCorruption:       "ERR_CORRUPTION",
	CodeIOError:          "ERR_FILE_OPERATION_FAILED",
	CodeAppDropped:       "ERR_APP_DROPPED",
	CodeInvalidConfig:    "ERR_INVALID_CONFIG",
	CodeNotImplementable: "ERR_NOT_IMPLEMENTABLE",
}

// String returns the Pegasus-style name, e.g. ERR_NOT_FOUND.
func (c ErrorCode) String() string {
	if s, ok := codeNames[c]; ok {
		return s
	}
	return fmt.Sprintf("ERR_CODE_%d", int32(c))
}

// Error makes a bare code usable as an error and as an errors.Is target.
func (c ErrorCode) Error() string { return c.String() }

// Error is a wire error: a code and a human-readable message.
type Error struct {
	Code    ErrorCode
	Message string
}

// Errorf builds an *Error with a formatted message.
func Errorf(code ErrorCode, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

func (e *Error) Error() string {
	if e.Message == "" {
		return e.Code.String()
	}
	return e.Code.String() + ": " + e.Message
}

// Unwrap returns the code, so errors.Is(err, CodeX) matches.
func (e *Error) Unwrap() error { return e.Code }

// CodeOf returns the code carried by err: CodeOK for nil, the code of an
// *Error or ErrorCode anywhere in the chain, else CodeUnknown.
func CodeOf(err error) ErrorCode {
	if err == nil {
		return CodeOK
	}
	var pe *Error
	if errors.As(err, &pe) {
		return pe.Code
	}
	var c ErrorCode
	if errors.As(err, &c) {
		return c
	}
	return CodeUnknown
}
