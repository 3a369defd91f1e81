// Package metasession keeps a client's conversation with a cluster's meta
// servers: the configured meta list, the address of the leader once known,
// leader following and retries. The admin client and the data client share
// it.
//
// # Leader following
//
// Only the meta leader serves the Meta API; a follower fails every call
// with protocol.CodeForwardToOthers and the leader's RPC address as the
// error message (empty when it does not know the leader). Session.Call
// sends a request to the remembered leader, or to the meta servers in list
// order when none is remembered, and on CodeForwardToOthers goes straight
// to the named address. A successful answer makes its sender the
// remembered leader.
//
// # Retries
//
// A call that fails with CodeNetworkFailure, CodeTimeout of a single
// attempt (the caller's context still live), CodeBusy, or CodeForwardToOthers
// without a usable address is retried on the next meta server. After every
// meta server of a round has failed, the session waits RetryInterval
// (doubling up to MaxRetryInterval) before the next round. Retries stop when
// the caller's context ends; the error is then the last attempt's error.
// Any other error is the server's answer and is returned at once.
//
// A request that is not idempotent (Call with Retry set to RetryUnsent) is
// retried only when it provably never reached a server: the connection
// could not be dialled. A follower's CodeForwardToOthers answer counts as
// not served, so such requests follow redirects too.
//
// # Invariants
//
//   - The remembered leader is either empty or the last address that
//     answered a call without CodeForwardToOthers, or that a follower named.
//   - At most MaxRedirects consecutive redirects are followed before the
//     session falls back to the next meta server of its list, so two
//     followers naming each other cannot loop.
//
// # Concurrency contract
//
// A Session is safe for concurrent use. Call blocks until an answer, a
// non-retryable error or the end of the caller's context. Close closes the
// RPC client if the session created it and returns after its goroutines
// have exited; the session starts no goroutine of its own.
package metasession
