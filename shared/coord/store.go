package coord

import (
	"context"
	"fmt"
	"time"
)

// AnyVersion, passed as the expected version to Set, Delete or a check op,
// matches every version of the node.
const AnyVersion int32 = -1

// MaxDataSize is the largest value a node may hold, in bytes. ZooKeeper
// refuses packets above roughly 1 MiB, so both implementations enforce the
// same slightly smaller bound and return ErrInvalidArgument above it.
const MaxDataSize = 1_000_000

// Mode says how Create makes a node. The flags combine:
// Ephemeral|Sequential is an ephemeral node with a sequence suffix.
type Mode uint8

const (
	// Persistent nodes live until they are deleted.
	Persistent Mode = 0
	// Ephemeral nodes are deleted when the session that created them ends
	// (Close, session loss, or the owning process dying). They cannot have
	// children.
	Ephemeral Mode = 1 << 0
	// Sequential nodes get a ten-digit, zero-padded suffix appended to the
	// requested name. The suffix is the parent's children version (CVersion)
	// at creation time, so it increases with every create under the parent.
	Sequential Mode = 1 << 1
)

// Valid reports whether m uses only the defined flags.
func (m Mode) Valid() bool { return m&^(Ephemeral|Sequential) == 0 }

// String returns a readable form such as "ephemeral|sequential".
func (m Mode) String() string {
	switch m {
	case Persistent:
		return "persistent"
	case Ephemeral:
		return "ephemeral"
	case Sequential:
		return "sequential"
	case Ephemeral | Sequential:
		return "ephemeral|sequential"
	}
	return fmt.Sprintf("Mode(%d)", uint8(m))
}

// Stat describes a node. It is a value; callers own their copy.
type Stat struct {
	// Version is the data version: 0 at creation, +1 for every successful
	// Set (including a Set with unchanged data). It is the token for
	// compare-and-set.
	Version int32
	// CVersion is the children version: +1 for every child created or
	// deleted under this node.
	CVersion int32
	// NumChildren is the number of children.
	NumChildren int32
	// DataLength is len(data).
	DataLength int32
	// EphemeralOwner is the session id that owns an ephemeral node, 0 for a
	// persistent one.
	EphemeralOwner int64
	// CreateRevision and ModRevision are the store-wide transaction numbers
	// of the node's creation and last data change (ZooKeeper's czxid and
	// mzxid). A node deleted and created again has a new CreateRevision.
	CreateRevision int64
	ModRevision    int64
	// Ctime and Mtime are the wall-clock creation and modification times,
	// with millisecond precision.
	Ctime time.Time
	Mtime time.Time
}

// EventType says what a watch observed.
type EventType uint8

const (
	// EventCreated: the node watched with ExistsW (absent at the time) was
	// created.
	EventCreated EventType = iota + 1
	// EventDeleted: the watched node was deleted. Every watch type reports it.
	EventDeleted
	// EventDataChanged: the data of the node watched with GetW or ExistsW
	// (present at the time) was set.
	EventDataChanged
	// EventChildrenChanged: a child of the node watched with ChildrenW was
	// created or deleted.
	EventChildrenChanged
	// EventNotWatching: the watch was dropped without observing a change
	// because the session ended; Event.Err says why (ErrSessionLost or
	// ErrClosed).
	EventNotWatching
)

// String returns the event name.
func (t EventType) String() string {
	switch t {
	case EventCreated:
		return "created"
	case EventDeleted:
		return "deleted"
	case EventDataChanged:
		return "data-changed"
	case EventChildrenChanged:
		return "children-changed"
	case EventNotWatching:
		return "not-watching"
	}
	return fmt.Sprintf("EventType(%d)", uint8(t))
}

// Event is delivered once on a watch channel.
type Event struct {
	Type EventType
	// Path is the watched path, relative to the store root like every path.
	Path string
	// Err is set only for EventNotWatching.
	Err error
}

// SessionState is a state change of a store's session.
type SessionState uint8

const (
	// SessionConnected: the session is established (again, after a
	// disconnection). The local store reports it once, at open.
	SessionConnected SessionState = iota + 1
	// SessionDisconnected: the connection to the ensemble broke; the session
	// may survive if it comes back in time. Only ZooKeeper reports it.
	SessionDisconnected
	// SessionLost: the session is gone (expired, or disconnected for too
	// long to be trusted). Terminal: the store's ephemeral nodes, watches
	// and leaderships are void and every later call fails with
	// ErrSessionLost.
	SessionLost
)

// String returns the state name.
func (s SessionState) String() string {
	switch s {
	case SessionConnected:
		return "connected"
	case SessionDisconnected:
		return "disconnected"
	case SessionLost:
		return "lost"
	}
	return fmt.Sprintf("SessionState(%d)", uint8(s))
}

// SessionEvent is one session state change.
type SessionEvent struct {
	State SessionState
	// SessionID is the id of the store's session.
	SessionID int64
}

// OpKind is the kind of one Multi operation.
type OpKind uint8

const (
	// OpCreate creates Path with Data and Mode.
	OpCreate OpKind = iota + 1
	// OpSet sets Data on Path if its version matches Version.
	OpSet
	// OpDelete deletes Path if its version matches Version.
	OpDelete
	// OpCheck changes nothing; it fails the transaction unless Path exists
	// with a matching Version.
	OpCheck
)

// String returns the op kind name.
func (k OpKind) String() string {
	switch k {
	case OpCreate:
		return "create"
	case OpSet:
		return "set"
	case OpDelete:
		return "delete"
	case OpCheck:
		return "check"
	}
	return fmt.Sprintf("OpKind(%d)", uint8(k))
}

// Op is one operation of a Multi transaction. Build it with CreateOp, SetOp,
// DeleteOp or CheckOp.
type Op struct {
	Kind    OpKind
	Path    string
	Data    []byte // OpCreate, OpSet
	Mode    Mode   // OpCreate
	Version int32  // OpSet, OpDelete, OpCheck; AnyVersion matches all
}

// CreateOp returns an op that creates path.
func CreateOp(path string, data []byte, mode Mode) Op {
	return Op{Kind: OpCreate, Path: path, Data: data, Mode: mode}
}

// SetOp returns an op that sets the data of path if its version matches.
func SetOp(path string, data []byte, version int32) Op {
	return Op{Kind: OpSet, Path: path, Data: data, Version: version}
}

// DeleteOp returns an op that deletes path if its version matches.
func DeleteOp(path string, version int32) Op {
	return Op{Kind: OpDelete, Path: path, Version: version}
}

// CheckOp returns an op that requires path to exist with a matching version.
func CheckOp(path string, version int32) Op {
	return Op{Kind: OpCheck, Path: path, Version: version}
}

// Validate checks the op's path, mode, version and data size.
func (op Op) Validate() error {
	if err := ValidatePath(op.Path); err != nil {
		return err
	}
	if op.Path == "/" && op.Kind != OpCheck && op.Kind != OpSet {
		return fmt.Errorf("%w: cannot %s the store root", ErrInvalidArgument, op.Kind)
	}
	switch op.Kind {
	case OpCreate:
		if !op.Mode.Valid() {
			return fmt.Errorf("%w: unknown create mode %d", ErrInvalidArgument, op.Mode)
		}
	case OpSet, OpDelete, OpCheck:
		if op.Version < AnyVersion {
			return fmt.Errorf("%w: version %d", ErrInvalidArgument, op.Version)
		}
	default:
		return fmt.Errorf("%w: unknown op kind %d", ErrInvalidArgument, op.Kind)
	}
	if len(op.Data) > MaxDataSize {
		return fmt.Errorf("%w: %d bytes of data exceed the %d byte limit", ErrInvalidArgument, len(op.Data), MaxDataSize)
	}
	return nil
}

// OpResult is the outcome of one successful Multi operation.
type OpResult struct {
	// Path is the created path for OpCreate (with the sequence suffix for a
	// sequential node) and the op's path otherwise.
	Path string
	// Stat is the node's new Stat for OpSet; zero otherwise.
	Stat Stat
}

// Leadership is held by the winner of Store.Campaign until it resigns or
// loses its session.
type Leadership interface {
	// Lost returns a channel that is closed when this leadership ends: after
	// Resign, when the store's session is lost or the store is closed, or
	// when the leader's node is deleted by someone else. A leader must stop
	// acting as leader as soon as it is closed.
	Lost() <-chan struct{}
	// Resign gives up leadership and removes the leader's node so the next
	// candidate takes over. It is idempotent and closes Lost.
	Resign(ctx context.Context) error
	// Path is the leader's node, relative to the store root.
	Path() string
}

// Store is a session on a hierarchical coordination store (ZooKeeper, or a
// local directory shared by the processes of one machine). All paths are
// absolute slash paths relative to the root the store was opened with; "/"
// is that root. See the package documentation for the full contract.
//
// Every method is safe for concurrent use. Every method that takes a
// context returns ctx.Err() (possibly wrapped) once the context is done; a
// write abandoned that way may still be applied.
type Store interface {
	// Create creates path with data and mode and returns the created path
	// (differing from path only for Sequential nodes). The parent must exist
	// (ErrNoNode) and must not be ephemeral (ErrNoChildrenForEphemerals);
	// the node must not (ErrNodeExists).
	Create(ctx context.Context, path string, data []byte, mode Mode) (string, error)
	// Get returns the node's data and Stat, or ErrNoNode. The caller owns
	// the returned slice.
	Get(ctx context.Context, path string) ([]byte, Stat, error)
	// GetW is Get plus a one-shot watch that fires with EventDataChanged or
	// EventDeleted. No watch is set when it returns an error.
	GetW(ctx context.Context, path string) ([]byte, Stat, <-chan Event, error)
	// Set replaces the node's data if its version equals version (or version
	// is AnyVersion) and returns the new Stat; ErrBadVersion on a mismatch,
	// ErrNoNode if absent.
	Set(ctx context.Context, path string, data []byte, version int32) (Stat, error)
	// Delete removes the node if its version matches; ErrBadVersion,
	// ErrNoNode, or ErrNotEmpty when it has children.
	Delete(ctx context.Context, path string, version int32) error
	// Exists returns the node's Stat and true, or a zero Stat and false.
	Exists(ctx context.Context, path string) (Stat, bool, error)
	// ExistsW is Exists plus a one-shot watch: for an absent node it fires
	// with EventCreated, for a present one with EventDataChanged or
	// EventDeleted.
	ExistsW(ctx context.Context, path string) (Stat, bool, <-chan Event, error)
	// Children returns the names (not paths) of the node's children sorted
	// in byte order, and the node's Stat; ErrNoNode if absent. The caller
	// owns the slice.
	Children(ctx context.Context, path string) ([]string, Stat, error)
	// ChildrenW is Children plus a one-shot watch that fires with
	// EventChildrenChanged or EventDeleted. Data changes of the node or of
	// its children do not fire it.
	ChildrenW(ctx context.Context, path string) ([]string, Stat, <-chan Event, error)
	// Multi applies ops atomically: all of them or none. On failure it
	// returns a *MultiError naming the first failing op and wrapping its
	// sentinel error, and changes nothing. On success the results are in op
	// order.
	Multi(ctx context.Context, ops ...Op) ([]OpResult, error)
	// Campaign blocks until this session is the leader of the election at
	// path (a node reserved for the election; created with its parents if
	// missing), publishing value as the leader's value, or until ctx is done
	// or the session ends. Read the current leader with Leader / LeaderW.
	Campaign(ctx context.Context, path string, value []byte) (Leadership, error)
	// SessionID returns this store's session id (ZooKeeper's session id, or
	// the local store's session number). It is the EphemeralOwner of the
	// nodes this store creates with Ephemeral.
	SessionID() int64
	// Events returns the store's session event channel. It is buffered; if
	// nobody reads it the oldest events are dropped, but the final
	// SessionLost event is always delivered. It is closed after SessionLost
	// or when the store is closed. Every call returns the same channel, so
	// use a single reader.
	Events() <-chan SessionEvent
	// Done returns a channel that is closed when the session ends: lost or
	// closed. Err then says which.
	Done() <-chan struct{}
	// Err returns nil while the session is alive, ErrSessionLost after it
	// was lost and ErrClosed after Close.
	Err() error
	// Close ends the session: its ephemeral nodes are deleted, its
	// leaderships end and its watches fire EventNotWatching. Later calls
	// fail with ErrClosed. Close is idempotent.
	Close() error
}
