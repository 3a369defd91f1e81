package core

import (
	"log/slog"

	"github.com/pegasus-go/pegasus/shared/protocol"
)

// Options configures a Core. Zero fields take the defaults listed; every
// time is a count of Tick calls.
type Options struct {
	// ID is the local replica's node address, as it appears in Config.
	ID string

	// MaxReplicaCount is the table's replica count. Writes need at least
	// min(2, MaxReplicaCount) members (primary plus secondaries), so a
	// partition with MaxReplicaCount 1 runs on its primary alone while a
	// primary left alone in a 3-replica partition is read-only. Default 3.
	MaxReplicaCount int

	// MaxInFlight bounds the mutations the primary has prepared but not yet
	// committed. Default 32.
	MaxInFlight int
	// MaxQueued bounds the client writes waiting for a slot in the in-flight
	// window; Propose fails with CodeBusy beyond it. Default 1024.
	MaxQueued int
	// MaxMutationUpdates bounds the idempotent writes batched into one
	// mutation. Default 64.
	MaxMutationUpdates int
	// MaxMutationBytes bounds the summed body size of one mutation; a single
	// write larger than this is refused with CodeMessageTooLarge. Default 4 MiB.
	MaxMutationBytes int
	// MaxBufferedPrepares bounds how far above its commit point a secondary
	// or learner accepts prepares, and so the prepares it holds in memory
	// while waiting for an earlier one to fill a gap. Prepares beyond it are
	// dropped and come again with the primary's resend. It should be at least
	// twice the primary's MaxInFlight. Default 256.
	MaxBufferedPrepares int

	// GroupCheckTicks is the interval between the primary's group checks.
	// Default 10.
	GroupCheckTicks int
	// ResendTicks is how long the primary waits for a member's ack progress
	// before sending the unacknowledged prepares again. Default 3.
	ResendTicks int
	// PrepareTimeoutTicks is how long the primary waits for a secondary's ack
	// progress before proposing its removal to the meta server. Default 10.
	PrepareTimeoutTicks int
	// IdleEmptyWriteTicks is how long a primary with nothing in flight waits
	// before it proposes an empty write to bring lagging secondaries' commit
	// points forward. Default 10.
	IdleEmptyWriteTicks int

	// AsyncLogAck, when set, means Advance does not acknowledge persistence
	// of Ready.Entries; the loop reports it with LogDone instead, possibly
	// later (group commit).
	AsyncLogAck bool

	// Logger receives state changes (role, ballot, removal proposals).
	// Default: discard.
	Logger *slog.Logger
}

func (o *Options) ensureDefaults() {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&o.MaxReplicaCount, 3)
	def(&o.MaxInFlight, 32)
	def(&o.MaxQueued, 1024)
	def(&o.MaxMutationUpdates, 64)
	def(&o.MaxMutationBytes, 4<<20)
	def(&o.MaxBufferedPrepares, 256)
	def(&o.GroupCheckTicks, 10)
	def(&o.ResendTicks, 3)
	def(&o.PrepareTimeoutTicks, 10)
	def(&o.IdleEmptyWriteTicks, 10)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

func (o *Options) validate() error {
	if o.ID == "" {
		return protocol.Errorf(protocol.CodeInvalidArgument, "core: empty node ID")
	}
	for _, f := range []struct {
		name string
		v    int
	}{
		{"MaxReplicaCount", o.MaxReplicaCount},
		{"MaxInFlight", o.MaxInFlight},
		{"MaxQueued", o.MaxQueued},
		{"MaxMutationUpdates", o.MaxMutationUpdates},
		{"MaxMutationBytes", o.MaxMutationBytes},
		{"MaxBufferedPrepares", o.MaxBufferedPrepares},
		{"GroupCheckTicks", o.GroupCheckTicks},
		{"ResendTicks", o.ResendTicks},
		{"PrepareTimeoutTicks", o.PrepareTimeoutTicks},
		{"IdleEmptyWriteTicks", o.IdleEmptyWriteTicks},
	} {
		if f.v < 0 {
			return protocol.Errorf(protocol.CodeInvalidArgument, "core: %s is negative (%d)", f.name, f.v)
		}
	}
	if o.ResendTicks > o.PrepareTimeoutTicks {
		return protocol.Errorf(protocol.CodeInvalidArgument, "core: ResendTicks (%d) exceeds PrepareTimeoutTicks (%d)",
			o.ResendTicks, o.PrepareTimeoutTicks)
	}
	return nil
}

// writeQuorum is the fewest members that accept writes.
func (o *Options) writeQuorum() int { return min(2, o.MaxReplicaCount) }
