package rpc

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/pegasus-go/pegasus/shared/protocol"
)

// errorPrefix starts every error string this package puts in rpcx's
// __rpcx_error__ metadata. The full form is
//
//	pegasus:<decimal error code>:<message>
//
// for example "pegasus:6:no such key". The message is free text and may
// contain colons; the code is everything between the first two colons.
const errorPrefix = "pegasus:"

// EncodeError renders err as the string carried in rpcx's __rpcx_error__
// metadata. The code is protocol.CodeOf(err) with two refinements: a bare
// context.DeadlineExceeded becomes CodeTimeout, and CodeOK (a handler bug)
// becomes CodeUnknown. The message is the *protocol.Error's Message when err
// is exactly a *protocol.Error, empty when err is exactly an ErrorCode, and
// err.Error() otherwise, so a wrapped error keeps its context.
func EncodeError(err error) string {
	code, msg := wireError(err)
	return errorPrefix + strconv.FormatInt(int64(code), 10) + ":" + msg
}

func wireError(err error) (protocol.ErrorCode, string) {
	switch e := err.(type) {
	case *protocol.Error:
		if e.Code == protocol.CodeOK {
			return protocol.CodeUnknown, e.Message
		}
		return e.Code, e.Message
	case protocol.ErrorCode:
		if e == protocol.CodeOK {
			return protocol.CodeUnknown, ""
		}
		return e, ""
	}
	code := protocol.CodeOf(err)
	if code == protocol.CodeUnknown && errors.Is(err, context.DeadlineExceeded) {
		code = protocol.CodeTimeout
	}
	if code == protocol.CodeOK {
		code = protocol.CodeUnknown
	}
	return code, err.Error()
}

// DecodeError parses an __rpcx_error__ string. Strings produced by
// EncodeError give back their code and message; anything else (rpcx's own
// errors, a peer that does not speak this encoding) becomes CodeUnknown with
// the whole string as the message.
func DecodeError(s string) *protocol.Error {
	if rest, ok := strings.CutPrefix(s, errorPrefix); ok {
		if codeText, msg, ok := strings.Cut(rest, ":"); ok {
			if code, err := strconv.ParseInt(codeText, 10, 32); err == nil {
				return &protocol.Error{Code: protocol.ErrorCode(code), Message: msg}
			}
		}
	}
	return &protocol.Error{Code: protocol.CodeUnknown, Message: s}
}

// transportError is a client-side failure that did not come from the
// server's handler: a *protocol.Error (CodeNetworkFailure or CodeTimeout)
// plus the cause, both reachable through errors.Is / errors.As.
type transportError struct {
	pe    *protocol.Error
	cause error
}

func (e *transportError) Error() string   { return e.pe.Error() }
func (e *transportError) Unwrap() []error { return []error{e.pe, e.cause} }

func newTransportError(code protocol.ErrorCode, cause error, format string, args ...any) error {
	pe := protocol.Errorf(code, format, args...)
	pe.Message += ": " + cause.Error()
	return &transportError{pe: pe, cause: cause}
}
