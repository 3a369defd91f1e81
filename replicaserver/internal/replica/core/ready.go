package core

import (
	"github.com/pegasus-go/pegasus/shared/protocol"
)

// Token is an opaque value the caller attaches to a proposal so it can
// answer the client once the write is applied or has failed. The core never
// looks inside it.
type Token = any

// Proposal is one client write offered to the primary.
type Proposal struct {
	// Op is the write's op code; OpEmpty is reserved for the core.
	Op protocol.OpCode
	// Body is the encoded request. The core keeps it and puts it into a
	// mutation: the caller must not modify it after Propose.
	Body []byte
	// Token comes back with the write in Ready.Committed or Ready.Replies.
	Token Token
	// TimestampUs is the caller's wall clock when the write arrived
	// (microseconds since the Unix epoch). A mutation takes the largest
	// timestamp among its writes, never less than its predecessor's; a
	// mutation with protocol.MutationDupTimetags takes one strictly above
	// its predecessor's, so every write of a duplicated table has a
	// timetag of its own.
	TimestampUs int64
	// Flags become the flags of the mutation carrying the write: only
	// writes with equal flags share a mutation.
	Flags protocol.MutationFlags
	// Extra holds further updates that must be applied atomically with
	// this one: they go into the same mutation right after it, without
	// tokens of their own (Apply.Tokens holds nil for them), and count
	// against MaxMutationUpdates and MaxMutationBytes with it. They must be
	// idempotent, as must Op when Extra is set.
	Extra []protocol.Update
}

// updates returns the number of updates p puts into a mutation.
func (p *Proposal) updates() int { return 1 + len(p.Extra) }

// size returns the summed body size of p's updates.
func (p *Proposal) size() int {
	n := len(p.Body)
	for _, u := range p.Extra {
		n += len(u.Body)
	}
	return n
}

// Apply is one committed mutation to apply to the state machine.
type Apply struct {
	Mutation *protocol.Mutation
	// Tokens[i] is the token of Mutation.Updates[i], nil where no caller on
	// this replica waits (secondaries, writes re-prepared by a new primary,
	// empty writes). Tokens is nil when no update has a token.
	Tokens []Token
}

// Reply reports a proposal that failed after Propose accepted it. Err is a
// *protocol.Error: CodeInvalidState when the write was never prepared
// (the replica stopped being primary), CodeLeaseExpired when the lease
// expired while it waited, CodeTimeout when it was prepared but this replica
// stepped down before it committed (the outcome is unknown: a new primary
// may still commit it).
type Reply struct {
	Token Token
	Err   error
}

// ConfigChange names the kind of configuration change the primary proposes.
type ConfigChange uint8

const (
	// ConfigRemove removes a secondary that failed a prepare or did not
	// acknowledge in time.
	ConfigRemove ConfigChange = iota + 1
)

func (c ConfigChange) String() string {
	if c == ConfigRemove {
		return "remove"
	}
	return "ConfigChange(?)"
}

// ConfigProposal asks the meta server for a configuration change. The primary
// keeps waiting for the member until the meta answers with a new
// configuration (through SetConfig), and proposes again every
// PrepareTimeoutTicks meanwhile.
type ConfigProposal struct {
	Type ConfigChange
	Node string
	// Config is the proposed configuration: the current one with Node (and
	// the primary's learners) removed and the ballot increased by one.
	Config Config
	// Reason is CodeTimeout when the member did not acknowledge in time, or
	// the error code the member answered with.
	Reason protocol.ErrorCode
}

// LocalState is the replica's configuration and role.
type LocalState struct {
	Config Config
	Role   Role
}

// Ready is a batch of work for the IO loop; see the package documentation
// for the order in which to handle its parts. Every slice is freshly
// allocated and owned by the caller; the mutations and configurations it
// points to are shared with the core and read-only.
type Ready struct {
	// State is non-nil when the configuration or the role changed since the
	// last Ready. Persist it with the replica's metadata.
	State *LocalState
	// Entries are mutations to append to the plog, in order. The same decree
	// may appear again later under a higher ballot; the record with the
	// highest ballot wins on replay.
	Entries []*protocol.Mutation
	// Messages go to other replicas; they may be sent at once, before
	// Entries are durable.
	Messages []Message
	// Committed mutations, in decree order, to apply to the state machine.
	Committed []Apply
	// ConfigProposals go to the meta server.
	ConfigProposals []ConfigProposal
	// Replies answer proposals that failed.
	Replies []Reply
}

// IsEmpty reports whether the batch holds nothing to do.
func (rd *Ready) IsEmpty() bool {
	return rd.State == nil && len(rd.Entries) == 0 && len(rd.Messages) == 0 && len(rd.Committed) == 0 &&
		len(rd.ConfigProposals) == 0 && len(rd.Replies) == 0
}

// State to restore a Core from, after a restart or after learning.
type State struct {
	// Config is the last configuration the replica persisted.
	Config Config
	// Applied is the last decree applied to the state machine (read back from
	// the state machine's own metadata).
	Applied protocol.Decree
	// Committed is the last decree known committed, if the caller knows more
	// than Applied and the records' LastCommitted fields tell.
	Committed protocol.Decree
	// Log holds the durable plog records with decrees above Applied, in any
	// order. For one decree the record with the highest ballot wins; records
	// after the first gap are ignored.
	Log []*protocol.Mutation
}

// Status is a snapshot of a Core for status pages and tests.
type Status struct {
	ID     string
	Role   Role
	Config Config
	// Now is the logical clock (ticks).
	Now int64
	// Committed is the commit point; Prepared the last decree the replica
	// accepted under the current ballot (the primary: assigned); Logged the
	// last decree durably logged under it; Applied the last decree the loop
	// reported applied.
	Committed, Prepared, Logged, Applied protocol.Decree
	// Queued writes wait for the in-flight window.
	Queued int
	// LeaseUntil is the tick at which the lease runs out; LeaseExpired is set
	// when the loop reported the lease lost.
	LeaseUntil   int64
	LeaseExpired bool
}
