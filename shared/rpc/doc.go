// Package rpc is the RPC plumbing every Pegasus-Go daemon and the client
// share: an rpcx (github.com/smallnest/rpcx v1.9.1) server and a pooled
// rpcx client that carry protocol.Message values, map errors to
// protocol.Error codes, and refuse malformed input before rpcx sees it.
//
// # Payloads
//
// Every frame uses SerializeType (10), under which Codec is registered with
// rpcx at package initialisation: the payload is the message's own binary
// encoding (protocol.Message). Encoding or decoding a value that is not a
// protocol.Message is a CodeInvalidArgument error. Compression is never
// used.
//
// # Frame guard
//
// rpcx's decoder trusts the peer: it allocates whatever total length a
// header claims, slices the inner lengths without checks (recovering from
// the panic and returning a half-decoded message with a nil error) and
// gunzips without bound. Both sides therefore read through a guard that
// buffers one frame at a time and validates it completely first:
//
//   - magic number 0x08 and protocol version 0;
//   - message type (requests to the server, responses to the client); no
//     heartbeat or one-way flag; status normal for requests, normal or
//     error for responses, and an error response must carry
//     __rpcx_error__;
//   - compress type none: compressed frames are refused;
//   - serialize type SerializeType;
//   - total length <= MaxMessageBytes (checked on the 16-byte prefix, before
//     anything is allocated; the buffer then grows only as bytes arrive);
//   - service path and method <= 256 bytes each; the four inner lengths
//     (service path, method, metadata, payload) add up exactly to the total;
//   - metadata is a well-formed sequence of length-prefixed pairs, at most
//     64 pairs and 64 KiB.
//
// On the server a violation is logged; if the 12-byte header with a valid
// magic number was read, the peer gets an rpcx error response for its
// sequence number (for example "invalid frame: frame of 1073741824 bytes
// exceeds max_message_bytes 8388608", code CodeMessageTooLarge; other
// violations are CodeInvalidArgument); then the connection is closed.
// A connection that ends inside a frame is logged and closed. On the
// client a violation closes the connection and fails its pending calls
// with CodeNetworkFailure. Memory per connection is bounded by about twice
// MaxMessageBytes (the guard's buffer plus rpcx's copy) and is only
// committed for bytes actually received. As a second line of defence the
// package sets rpcx's global protocol.MaxMessageLength to
// MaxMessageBytesLimit.
//
// # Errors on the wire
//
// A failed call's error travels in rpcx's __rpcx_error__ metadata as
//
//	pegasus:<decimal code>:<message>
//
// (EncodeError / DecodeError). A handler returning a *protocol.Error keeps
// its code and message exactly; a bare protocol.ErrorCode keeps its code
// with an empty message; any other error carrying a code in its chain
// keeps the code with err.Error() as message; context.DeadlineExceeded
// becomes CodeTimeout; everything else is CodeUnknown with err.Error().
// Unknown services and methods are CodeUnknownMethod naming both; a
// request payload that does not decode is CodeInvalidArgument; a handler
// panic is CodeInternal with the panic value, logged with its stack, and
// the server keeps serving. Error strings not in this form (from rpcx
// itself or a foreign peer) decode as CodeUnknown. A handler returning
// ErrNoResponse (possibly wrapped) gets no response written at all: the
// caller times out under its own deadline.
//
// The client returns server errors as *protocol.Error. Its own failures
// are errors that unwrap both to a *protocol.Error and to the cause:
// CodeTimeout for the caller's context (errors.Is(err,
// context.DeadlineExceeded) or context.Canceled also hold) and for write
// deadlines, CodeNetworkFailure for dial, write and connection failures and
// for bad response frames. Requests above the client's MaxMessageBytes are
// refused locally with CodeMessageTooLarge.
//
// # Deadlines
//
// The caller's context deadline bounds the whole call, including waiting
// for a dial, and is sent with the request (metadata __pegasus_timeout_ms);
// the handler's context carries it. A call abandoned by its caller leaves
// the connection usable; the late response is dropped.
//
// # Concurrency contract
//
// Server: Register is called before Serve or Start, from one goroutine.
// Every request runs its handler on its own goroutine, so handlers must be
// safe for concurrent use; responses on one connection may be written in
// any order. Close may be called from any goroutine, any number of times:
// it stops accepting and reading, waits up to ShutdownTimeout for requests
// already read to be answered, then cancels handler contexts and closes all
// connections; it returns after the server's own goroutines have stopped
// (handlers that outlive ShutdownTimeout excepted).
//
// Client: all methods are safe for concurrent use. Each address has one
// multiplexed connection, dialled lazily by a background goroutine (callers
// wait for it under their own context), reused by every call, and replaced
// by a new dial on the next call once it has failed. Close fails calls in
// flight and returns only after every goroutine the client started,
// including rpcx's reader goroutines, has exited.
//
// SetFrameworkLogger redirects rpcx's process-global logger and must be
// called before any server or client starts.
package rpc
