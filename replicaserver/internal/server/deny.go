package server

import (
	"fmt"
	"strings"

	"github.com/pegasus-go/pegasus/shared/protocol"
	"github.com/pegasus-go/pegasus/shared/rpc"
)

// EnvDenyClientRequest is the table env that turns client requests away
// (Pegasus's replica.deny_client_request), set during a hot migration:
//
//	timeout*read|write|all   matching requests get no response at all, so
//	                         clients time out and re-resolve the table
//	reconfig*read|write|all  matching requests are answered CodeInvalidState,
//	                         so clients refresh their configuration (through
//	                         a meta proxy: possibly onto another cluster)
//
// The meta server validates the value in set_app_envs; a value the replica
// does not understand denies nothing. Deleting the env restores service.
const EnvDenyClientRequest = "replica.deny_client_request"

// denyPolicy is a parsed EnvDenyClientRequest.
type denyPolicy struct {
	silent        bool // timeout*: drop; reconfig*: CodeInvalidState
	reads, writes bool
}

// parseDeny parses "<timeout|reconfig>*<read|write|all>".
func parseDeny(v string) (denyPolicy, error) {
	how, what, ok := strings.Cut(v, "*")
	var p denyPolicy
	switch how {
	case "timeout":
		p.silent = true
	case "reconfig":
	default:
		ok = false
	}
	switch what {
	case "read":
		p.reads = true
	case "write":
		p.writes = true
	case "all":
		p.reads, p.writes = true, true
	default:
		ok = false
	}
	if !ok {
		return denyPolicy{}, fmt.Errorf("%s %q: want timeout|reconfig * read|write|all", EnvDenyClientRequest, v)
	}
	return p, nil
}

// isWrite reports whether o changes data.
func isWrite(o op) bool {
	switch o {
	case opPut, opRemove, opMultiPut, opMultiRemove, opDelRange, opIncr, opCheckAndSet, opCheckAndMutate, opBatchSet:
		return true
	}
	return false
}

// denied returns the error a request of op o on e's table gets under the
// table's EnvDenyClientRequest, or nil. A timeout denial wraps
// rpc.ErrNoResponse (nothing is sent back) and CodeTimeout (for metrics).
func denied(e *entry, o op) error {
	v, ok := e.appInfo().Envs[EnvDenyClientRequest]
	if !ok || v == "" {
		return nil
	}
	p, err := parseDeny(v)
	if err != nil || !(isWrite(o) && p.writes || !isWrite(o) && p.reads) {
		return nil
	}
	if p.silent {
		return fmt.Errorf("%w: %w", protocol.Errorf(protocol.CodeTimeout,
			"replica %s: %s denied by %s=%s (no response)", e.gpid, o, EnvDenyClientRequest, v), rpc.ErrNoResponse)
	}
	return protocol.Errorf(protocol.CodeInvalidState, "replica %s: %s denied by %s=%s: re-resolve the table",
		e.gpid, o, EnvDenyClientRequest, v)
}
