// Package coord is the coordination store the meta server and the meta
// proxy keep their state in: a hierarchical, versioned key space with
// ephemeral nodes, one-shot watches, atomic multi-op transactions and a
// leader lock. Two implementations honour the same contract: zkstore on
// ZooKeeper (production) and localstore on a directory shared by the
// processes of one machine (onebox). coordtest is the contract suite both
// pass unchanged.
//
// # Paths
//
// A Store is opened with a root (a chroot such as "/pegasus/onebox", created
// if missing). Every path given to or returned by a Store is an absolute
// slash path relative to that root; "/" is the root itself, which can be
// read and Set but not created or deleted. ValidatePath states the rules
// (no empty, "." or ".." components, no trailing slash, no control
// characters, components of at most MaxNameLen bytes). Bad paths fail with
// ErrInvalidPath before anything is sent.
//
// # Versions and compare-and-set
//
// Every node has a data version (Stat.Version): 0 at creation, +1 on every
// successful Set, even one that writes the same bytes. Set, Delete and the
// check op take an expected version and fail with ErrBadVersion unless it
// matches; AnyVersion (-1) matches all. So a read-modify-write is
//
//	data, st, err := s.Get(ctx, p)
//	// ... compute next from data ...
//	_, err = s.Set(ctx, p, next, st.Version) // ErrBadVersion: someone won; re-read and retry
//
// and no update is ever lost. Stat.CVersion counts child creates and deletes
// and is the sequence number a Sequential create appends ("%010d"), so
// sequence numbers under one parent increase strictly and are never reused.
// Stat.CreateRevision and ModRevision are store-wide transaction numbers:
// a node deleted and created again has a new CreateRevision.
//
// # Atomicity and ordering
//
// Each call is atomic: it happens entirely or not at all, and is
// linearizable with respect to every other write to the store (ZooKeeper
// orders all writes; the local store serialises them under one exclusive
// flock). Multi applies a list of create / set / delete / check ops as one
// transaction: either all take effect, or none does and a *MultiError names
// the first op that failed and wraps its sentinel. Ops see the effects of
// earlier ops in the same Multi (create a parent then its child; delete a
// child then its parent). Reads in the local store are consistent
// snapshots; ZooKeeper reads may lag other sessions' writes slightly (a
// session always sees its own writes).
//
// # Sessions and ephemeral nodes
//
// One open Store is one session, with an id (SessionID) that is the
// EphemeralOwner of the Ephemeral nodes it creates. Ephemeral nodes go away
// when their session ends: at Close at once; when the owning process dies,
// after the ZooKeeper session timeout, or for the local store within about
// one PollInterval (every open store checks for sessions whose flock is free
// and removes their nodes). Ephemeral nodes cannot have children
// (ErrNoChildrenForEphemerals).
//
// A session can be lost: ZooKeeper expired it, or the connection stayed down
// longer than the store's disconnect grace period (so the server may already
// have expired it), or, for the local store, another process expired it
// (localstore.ExpireSession). Loss is terminal: Done closes, Err returns
// ErrSessionLost, a final SessionLost event is delivered on Events, every
// pending watch fires EventNotWatching, every leadership's Lost closes, and
// every later call fails with ErrSessionLost. The owner must open a new
// Store. After Close the same happens with ErrClosed, minus the event.
// ZooKeeper also reports SessionDisconnected / SessionConnected while a
// connection breaks and comes back within the grace period; calls made
// meanwhile can fail with ErrConnectionLoss, which means "outcome unknown,
// session still alive".
//
// # Watches
//
// GetW, ExistsW and ChildrenW return, with the read, a channel that
// receives exactly one Event and is then closed (one-shot, as in
// ZooKeeper; set a new watch to keep watching, and re-read, because changes
// between the event and the new read are not reported separately):
//
//	GetW        node data Set           -> EventDataChanged
//	            node deleted            -> EventDeleted
//	ExistsW     absent node created     -> EventCreated
//	            present node: as GetW
//	ChildrenW   child created/deleted   -> EventChildrenChanged
//	            node deleted            -> EventDeleted
//	any         session lost or closed  -> EventNotWatching (Err says which)
//
// Nothing else fires a watch: a data watch ignores children, a children
// watch ignores data changes of the node and of its children, and neither
// sees grandchildren. A watch fires for changes made by any session,
// including its own. Changes that happen before the event is delivered are
// folded into that one event: ZooKeeper reports the first change; the local
// store, which compares the node's revisions every PollInterval, reports
// EventDeleted if the node was deleted (even if created again since), else
// the change it watches for. The local store delivers the events of one
// poll in the order the watches were set, and an ExistsW on an absent node
// can miss a node created and deleted again within one poll.
//
// # Leader lock
//
// Campaign(ctx, path, value) blocks until the calling session leads the
// election at path, then returns a Leadership. Exactly one session leads at
// a time. The leader's value is published in an ephemeral sequential node
// under path (name prefix LockNodePrefix) and read with Leader or LeaderW;
// path is reserved for the election. Leadership ends when the leader calls
// Resign, its session is lost or closed, or its node is deleted, and Lost is
// closed at that moment; the next candidate then takes over. A canceled
// Campaign leaves no candidate behind. On ZooKeeper the lowest sequence
// number leads and every other candidate watches only its predecessor; the
// local store uses an flock per election (see localstore).
//
// # Blocking and goroutines
//
// Every Store method is safe for concurrent use. Calls block for one round
// trip (ZooKeeper) or for the store flock (local); Campaign blocks until the
// session leads. Every context-taking call returns promptly with ctx.Err()
// (wrapped) when ctx ends; a write abandoned that way may still be applied,
// so re-read before retrying. Watch channels are buffered: the store never
// blocks on a slow reader, and a watch nobody reads costs only its channel.
// Implementations own their goroutines (ZooKeeper's connection, one per
// pending ZooKeeper watch until it fires, one per leadership; the local
// store's poller) and end them at Close or session loss. Returned slices
// belong to the caller.
package coord
