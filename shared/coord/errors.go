package coord

import (
	"errors"
	"fmt"
)

// Sentinel errors. Store methods wrap them (in a *PathError or *MultiError)
// so callers test with errors.Is.
var (
	// ErrNoNode: the node (or, for Create, its parent) does not exist.
	ErrNoNode = errors.New("coord: node does not exist")
	// ErrNodeExists: Create found a node already at the path.
	ErrNodeExists = errors.New("coord: node already exists")
	// ErrBadVersion: the node's version differs from the expected version
	// of Set, Delete or a check op; someone else changed it first.
	ErrBadVersion = errors.New("coord: version conflict")
	// ErrNotEmpty: Delete of a node that still has children.
	ErrNotEmpty = errors.New("coord: node has children")
	// ErrNoChildrenForEphemerals: Create under an ephemeral parent.
	ErrNoChildrenForEphemerals = errors.New("coord: ephemeral nodes cannot have children")
	// ErrSessionLost: the store's session expired or was lost (ZooKeeper:
	// expired by the server, or disconnected longer than the store's grace
	// period; local store: the session was expired by another process). Its
	// ephemeral nodes are gone or about to go, and every later call fails
	// with this error. Open a new store to continue.
	ErrSessionLost = errors.New("coord: session lost")
	// ErrClosed: the store was closed by its owner.
	ErrClosed = errors.New("coord: store closed")
	// ErrInvalidPath: the path is not a valid absolute node path (see
	// ValidatePath).
	ErrInvalidPath = errors.New("coord: invalid path")
	// ErrInvalidArgument: a mode, version, data size or op is out of range.
	ErrInvalidArgument = errors.New("coord: invalid argument")
	// ErrConnectionLoss: the connection to ZooKeeper broke while the request
	// was in flight or could not be sent. The request may or may not have
	// been applied; the session may still be alive. Re-read and retry.
	ErrConnectionLoss = errors.New("coord: connection loss")
)

// PathError records the operation and path that failed.
type PathError struct {
	Op   string // "create", "get", "set", ...
	Path string // relative to the store root
	Err  error  // wraps a sentinel above, ctx.Err(), or an IO error
}

// Error returns "coord: <op> <path>: <err>".
func (e *PathError) Error() string {
	return fmt.Sprintf("coord: %s %s: %v", e.Op, e.Path, e.Err)
}

// Unwrap returns the underlying error.
func (e *PathError) Unwrap() error { return e.Err }

// MultiError is returned by Multi when an op fails; nothing was applied.
type MultiError struct {
	Index int   // index of the first failing op
	Op    Op    // that op
	Err   error // its error, wrapping a sentinel
}

// Error names the failing op.
func (e *MultiError) Error() string {
	return fmt.Sprintf("coord: multi op %d (%s %s): %v", e.Index, e.Op.Kind, e.Op.Path, e.Err)
}

// Unwrap returns the failing op's error.
func (e *MultiError) Unwrap() error { return e.Err }
