// Package zkstore implements coord.Store on ZooKeeper with
// github.com/go-zookeeper/zk.
//
// One Store is one ZooKeeper session. Open waits for the session and creates
// Options.Root, which acts as a client-side chroot: every path is prefixed
// with it on the way out and stripped on the way back (created paths, watch
// events). The client library's log lines go to the injected slog.Logger.
//
// Session loss. The store ends its session with coord.ErrSessionLost when
// the server reports it expired, or when the connection has been down for
// Options.DisconnectGrace (SessionTimeout/3 by default) without coming back.
// The second rule matters for the leader lock: the server can expire a
// session roughly a third of the timeout after the client notices the
// connection is gone, and a leader must stop before its successor starts.
// After a loss the store closes its connection, so the client never quietly
// continues with a new session (which would have lost the ephemeral nodes).
// A connection that comes back within the grace period keeps the session,
// its ephemeral nodes and its watches; calls that failed meanwhile return
// coord.ErrConnectionLoss.
//
// Leader lock. Campaign creates an ephemeral sequential node
// "<path>/_c_<guid>-lock-NNNNNNNNNN" (the GUID lets a create that raced a
// connection loss find its node again), then loops: list the candidates, lead
// if ours is the lowest, else watch the next lower one and wait. An abandoned
// candidate (canceled Campaign) is deleted in the background. The leadership
// watches its own node, so Lost closes when the node is deleted or the
// session ends.
//
// Concurrency: all methods are safe for concurrent use. Context
// cancellation returns at once while the request may still complete on the
// connection. Goroutines: the client library's connection loop, one
// translator per pending watch (it ends when the watch fires, at the latest
// when the connection closes), one monitor per leadership.
package zkstore
