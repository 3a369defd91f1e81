package rpc

import "errors"

// ErrNoResponse, returned by a handler (possibly wrapped), makes the server
// send nothing at all for the request: the caller sees the request time out
// under its own deadline, exactly as if the server had never received it.
// Replica servers use it for replica.deny_client_request=timeout*..., which
// must look like an unreachable cluster so clients re-resolve. The
// connection stays usable; the request counts as answered for Close.
var ErrNoResponse = errors.New("rpc: request dropped without a response")
