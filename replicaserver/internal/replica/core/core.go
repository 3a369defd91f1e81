package core

import (
	"fmt"
	"log/slog"
	"slices"

	"github.com/pegasus-go/pegasus/shared/protocol"
)

// Core is the PacificA state machine of one partition replica. It is not
// safe for concurrent use: one goroutine (the replica's loop) owns it.
type Core struct {
	id     string
	opts   Options
	logger *slog.Logger

	cfg  Config
	role Role
	// cfgMsg is an immutable copy of cfg that outgoing messages point to.
	cfgMsg *Config
	// staleBallot is a ballot above cfg.Ballot that a peer revealed; while it
	// is set the replica is inactive and refuses configurations below it.
	staleBallot  protocol.Ballot
	stateChanged bool

	now          int64
	leaseUntil   int64
	leaseExpired bool

	log memLog
	// durable is the position of the last record the loop reported durable;
	// handed the position of the last record handed out in Ready.Entries.
	durable, handed logPos

	// committed <= logged <= prepared on the primary; on followers prepared
	// and logged may lag committed only transiently (they are raised with it).
	committed protocol.Decree
	prepared  protocol.Decree // primary: last assigned; follower: last accepted under cfg.Ballot
	logged    protocol.Decree // last durably logged under cfg.Ballot, no gap above committed
	applied   protocol.Decree
	handedOut protocol.Decree // last decree handed out in Ready.Committed

	unstable []*protocol.Mutation
	msgs     []Message
	replies  []Reply
	cfgProps []ConfigProposal

	// Primary state.
	peers            map[string]*progress
	queue            []Proposal
	reconcileEnd     protocol.Decree
	lastMutationTick int64
	lastGroupCheck   int64
	lastTimestampUs  int64
	lastDataDecree   protocol.Decree // last mutation that was not an empty write

	// Follower state.
	primaryCommitted protocol.Decree
	buffered         map[protocol.Decree]*protocol.Mutation
}

// progress is the primary's view of one secondary or learner.
type progress struct {
	node    string
	learner bool
	start   protocol.Decree // learners: first decree to prepare, 0 = none yet
	// match is the highest decree the member reported durably logged under
	// the current ballot.
	match protocol.Decree
	// retain is the decree through which the member is known to hold the
	// log, under any ballot; the primary keeps later mutations in memory
	// so it can send them again.
	retain protocol.Decree
	// committed is the member's commit point as last reported.
	committed protocol.Decree
	// next is the next decree to send.
	next protocol.Decree
	// progressTick is when match last advanced or the member was last seen
	// caught up; resendTick when unacknowledged prepares were last resent.
	progressTick    int64
	resendTick      int64
	removalProposed bool
	removalTick     int64 // when the removal was last proposed
}

// New returns a Core for the replica opts.ID restored from st. A replica
// whose restored configuration makes it primary of a group with other
// members starts inactive: another replica may hold prepares of its lost log
// tail under the same ballot, so it waits for a configuration with a higher
// ballot. A primary alone in its configuration resumes at once.
func New(opts Options, st State) (*Core, error) {
	opts.ensureDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	if st.Applied < 0 || st.Committed < 0 {
		return nil, protocol.Errorf(protocol.CodeInvalidArgument, "core: negative applied (%d) or committed (%d) decree",
			st.Applied, st.Committed)
	}
	configured := st.Config.Ballot != protocol.InvalidBallot
	if configured {
		if err := st.Config.Validate(); err != nil {
			return nil, err
		}
	} else if st.Config.Primary != "" || len(st.Config.Secondaries) > 0 || len(st.Config.Learners) > 0 {
		return nil, protocol.Errorf(protocol.CodeInvalidArgument, "core: configuration with members but no ballot")
	}
	lg, top, err := restoreLog(st.Applied, st.Log)
	if err != nil {
		return nil, err
	}
	if top.ballot > st.Config.Ballot {
		return nil, protocol.Errorf(protocol.CodeInvalidArgument,
			"core: log holds ballot %d above the configuration's ballot %d (persist Ready.State before Ready.Entries)",
			top.ballot, st.Config.Ballot)
	}
	c := &Core{
		id:       opts.ID,
		opts:     opts,
		logger:   opts.Logger.With("node", opts.ID),
		log:      lg,
		durable:  top,
		handed:   top,
		applied:  st.Applied,
		buffered: map[protocol.Decree]*protocol.Mutation{},
	}
	c.setCfg(st.Config)
	c.handedOut = c.applied
	c.committed = max(st.Applied, st.Committed)
	firstCur := true
	for d := lg.first; d <= lg.last(); d++ {
		m := lg.get(d).m
		c.committed = max(c.committed, min(m.LastCommitted, lg.last()))
		if m.Ballot == c.cfg.Ballot && firstCur {
			// A replica takes the first record of a ballot right above its
			// commit point, so everything below it was committed.
			c.committed = max(c.committed, d-1)
			firstCur = false
		}
	}
	if c.committed > lg.last() {
		// The caller knows a commit point above the log it kept; the replica
		// cannot apply what it does not have.
		c.committed = max(st.Applied, lg.last())
	}
	role := c.cfg.RoleOf(c.id)
	if role == RolePrimary && (len(c.cfg.Secondaries) > 0 || len(c.cfg.Learners) > 0) {
		role = RoleInactive
	}
	c.role = role
	if role == RolePrimary {
		c.becomePrimary(false)
	} else {
		c.resetFollower()
	}
	return c, nil
}

// ID returns the local node address.
func (c *Core) ID() string { return c.id }

// Role returns the replica's current role.
func (c *Core) Role() Role { return c.role }

// Status returns a snapshot of the replica's state.
func (c *Core) Status() Status {
	return Status{
		ID: c.id, Role: c.role, Config: c.cfg.Clone(), Now: c.now,
		Committed: c.committed, Prepared: c.prepared, Logged: c.logged, Applied: c.applied,
		Queued: len(c.queue), LeaseUntil: c.leaseUntil, LeaseExpired: c.leaseExpired,
	}
}

// LastTimestampUs returns the timestamp of the last mutation this replica
// prepared as primary (or found at the top of its log when it became
// primary). The next mutation's timestamp is at least this (strictly above
// for a mutation with protocol.MutationDupTimetags).
func (c *Core) LastTimestampUs() int64 { return c.lastTimestampUs }

// Tick advances the logical clock by one.
func (c *Core) Tick() {
	c.now++
	if c.role == RolePrimary {
		c.tickPrimary()
	}
}

// GrantLease records that the replica holds a lease from the meta server up
// to (not including) tick untilTick.
func (c *Core) GrantLease(untilTick int64) {
	c.leaseUntil = untilTick
	c.leaseExpired = false
}

// ExpireLease records that the replica lost its lease. Reads and writes are
// refused until GrantLease; writes still waiting for the in-flight window
// fail with CodeLeaseExpired.
func (c *Core) ExpireLease() {
	c.leaseExpired = true
	c.failQueued(protocol.CodeLeaseExpired, "lease expired")
}

func (c *Core) leaseValid() bool { return !c.leaseExpired && c.now < c.leaseUntil }

// SetConfig installs a configuration from the meta server. A lower ballot
// than the replica's (or than one a peer revealed) is refused with
// CodeStaleBallot; the same ballot is accepted only with the same primary
// and secondaries (the learner list may change).
func (c *Core) SetConfig(cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if cur := max(c.cfg.Ballot, c.staleBallot); cfg.Ballot < cur {
		return protocol.Errorf(protocol.CodeStaleBallot, "config ballot %d is below the replica's ballot %d", cfg.Ballot, cur)
	}
	if cfg.Ballot == c.cfg.Ballot && !cfg.sameMembers(c.cfg) {
		return protocol.Errorf(protocol.CodeInvalidArgument,
			"config ballot %d changes primary or secondaries without a new ballot", cfg.Ballot)
	}
	c.applyConfig(cfg)
	return nil
}

// applyConfig installs a validated configuration whose ballot is at least
// the current one and, for the same ballot, whose members are the same.
func (c *Core) applyConfig(cfg Config) {
	if cfg.Ballot == c.cfg.Ballot {
		if slices.Equal(cfg.Learners, c.cfg.Learners) {
			return
		}
		c.setCfg(cfg)
		c.stateChanged = true
		switch {
		case c.role == RolePrimary:
			c.syncPeers()
		case c.staleBallot == 0:
			// Only a new ballot makes a primary (a restarted primary waits
			// for one); learners come and go under the same ballot.
			if r := cfg.RoleOf(c.id); r != c.role && r != RolePrimary {
				c.role = r
				c.resetFollower()
			}
		}
		return
	}
	wasPrimary := c.role == RolePrimary
	c.setCfg(cfg)
	c.stateChanged = true
	if c.staleBallot <= cfg.Ballot {
		c.staleBallot = 0
	}
	role := cfg.RoleOf(c.id)
	c.logger.Info("configuration changed", "ballot", cfg.Ballot, "role", role.String(), "config", cfg.String())
	if role == RolePrimary {
		c.becomePrimary(wasPrimary)
		return
	}
	if wasPrimary {
		c.stepDown()
	}
	c.role = role
	c.resetFollower()
}

func (c *Core) setCfg(cfg Config) {
	c.cfg = cfg.Clone()
	msg := cfg.Clone()
	c.cfgMsg = &msg
}

// HasReady reports whether Ready would return a non-empty batch.
func (c *Core) HasReady() bool {
	return c.stateChanged || len(c.unstable) > 0 || len(c.msgs) > 0 || len(c.replies) > 0 ||
		len(c.cfgProps) > 0 || c.handedOut < c.committed || c.canPrepareQueued()
}

// Ready returns the work accumulated since the last call. Each part is
// handed out once; call Advance with the batch once it is handled.
func (c *Core) Ready() Ready {
	c.prepareQueued()
	var rd Ready
	if c.stateChanged {
		rd.State = &LocalState{Config: c.cfg.Clone(), Role: c.role}
		c.stateChanged = false
	}
	rd.Entries, c.unstable = c.unstable, nil
	rd.Messages, c.msgs = c.msgs, nil
	rd.Replies, c.replies = c.replies, nil
	rd.ConfigProposals, c.cfgProps = c.cfgProps, nil
	for d := c.handedOut + 1; d <= c.committed; d++ {
		e := c.log.get(d)
		if e == nil {
			panic(fmt.Sprintf("core: committed decree %d missing from the log [%d, %d]", d, c.log.first, c.log.last()))
		}
		a := Apply{Mutation: e.m}
		if slices.ContainsFunc(e.tokens, func(t Token) bool { return t != nil }) {
			a.Tokens = e.tokens
		}
		e.tokens = nil
		rd.Committed = append(rd.Committed, a)
	}
	c.handedOut = c.committed
	return rd
}

// Advance tells the core that rd has been handled: rd.Committed applied and,
// unless Options.AsyncLogAck is set, rd.Entries durable. Batches must be
// advanced in the order Ready returned them.
func (c *Core) Advance(rd Ready) {
	if !c.opts.AsyncLogAck && len(rd.Entries) > 0 {
		last := rd.Entries[len(rd.Entries)-1]
		if err := c.LogDone(last.Ballot, last.Decree); err != nil {
			panic(fmt.Sprintf("core: advance: %v", err))
		}
	}
	if n := len(rd.Committed); n > 0 {
		if d := rd.Committed[n-1].Mutation.Decree; d > c.applied {
			c.applied = d
			c.log.compact(min(c.applied, c.log.last(), c.retainFloor()))
		}
	}
}

// LogDone reports that every record handed out in Ready.Entries up to and
// including the one with this ballot and decree is durable in the plog. It
// fails if no such record has been handed out.
func (c *Core) LogDone(ballot protocol.Ballot, decree protocol.Decree) error {
	pos := logPos{ballot, decree}
	if c.handed.less(pos) {
		return protocol.Errorf(protocol.CodeInvalidArgument,
			"log done for ballot %d decree %d beyond the last record handed out (ballot %d decree %d)",
			ballot, decree, c.handed.ballot, c.handed.decree)
	}
	if !c.durable.less(pos) {
		return nil
	}
	c.durable = pos
	before := c.logged
	c.updateLogged()
	switch c.role {
	case RolePrimary:
		c.maybeCommit()
	case RoleSecondary, RoleLearner:
		c.advanceFollowerCommit()
		if c.logged > before {
			c.sendAck(MsgPrepareAck, c.cfg.Primary, protocol.CodeOK)
		}
	}
	return nil
}

// CanRead reports whether the replica may serve a read now: it must be the
// primary, hold a valid lease, and have committed and applied everything its
// predecessors prepared. The error is a *protocol.Error.
func (c *Core) CanRead() error {
	if c.role != RolePrimary {
		return c.notPrimary()
	}
	if !c.leaseValid() {
		return protocol.Errorf(protocol.CodeLeaseExpired, "replica %s has no valid lease", c.id)
	}
	if c.applied < c.reconcileEnd {
		return protocol.Errorf(protocol.CodeInvalidState,
			"replica %s is committing its predecessor's mutations (applied %d of %d)", c.id, c.applied, c.reconcileEnd)
	}
	return nil
}

func (c *Core) notPrimary() error {
	return protocol.Errorf(protocol.CodeInvalidState, "replica %s is %s, not primary (ballot %d, primary %s)",
		c.id, c.role, c.cfg.Ballot, orDash(c.cfg.Primary))
}

// Step feeds a message from another replica into the core. Malformed
// messages are refused with a CodeInvalidArgument error; protocol-level
// refusals (stale ballot, not a member) are answered with an ack instead.
func (c *Core) Step(m Message) error {
	if err := m.validate(c.id); err != nil {
		return err
	}
	switch m.Type {
	case MsgPrepare, MsgGroupCheck:
		return c.stepFromPrimary(m)
	default:
		c.stepAck(m)
		return nil
	}
}

// appendEntry stores m in the log and hands it to the next Ready.
func (c *Core) appendEntry(e entry) {
	pos := posOf(e.m)
	if !c.handed.less(pos) {
		panic(fmt.Sprintf("core: record (ballot %d, decree %d) does not follow (ballot %d, decree %d)",
			pos.ballot, pos.decree, c.handed.ballot, c.handed.decree))
	}
	c.handed = pos
	c.log.put(e)
	c.unstable = append(c.unstable, e.m)
}

func (c *Core) isDurable(m *protocol.Mutation) bool { return !c.durable.less(posOf(m)) }

// updateLogged raises logged over durable records of the current ballot.
func (c *Core) updateLogged() {
	c.logged = max(c.logged, c.committed)
	for {
		e := c.log.get(c.logged + 1)
		if e == nil || e.m.Ballot != c.cfg.Ballot || !c.isDurable(e.m) {
			return
		}
		c.logged++
	}
}

func (c *Core) send(m Message) {
	m.From = c.id
	c.msgs = append(c.msgs, m)
}

func (c *Core) reply(tok Token, err error) {
	if tok != nil {
		c.replies = append(c.replies, Reply{Token: tok, Err: err})
	}
}
