package core

import (
	"fmt"
	"strings"

	"github.com/pegasus-go/pegasus/shared/protocol"
)

// MessageType names a replica-to-replica message.
type MessageType uint8

const (
	// MsgPrepare carries one mutation from the primary to a secondary or
	// learner, together with the primary's commit point.
	MsgPrepare MessageType = iota + 1
	// MsgPrepareAck answers prepares: LastPrepared is the highest decree the
	// sender has durably logged under the current ballot with no gap below.
	MsgPrepareAck
	// MsgGroupCheck is the primary's periodic beacon to its group: it carries
	// the configuration and the commit point.
	MsgGroupCheck
	// MsgGroupCheckAck answers a group check with the member's state.
	MsgGroupCheckAck
)

var msgNames = [...]string{"", "Prepare", "PrepareAck", "GroupCheck", "GroupCheckAck"}

func (t MessageType) String() string {
	if t > 0 && int(t) < len(msgNames) {
		return msgNames[t]
	}
	return fmt.Sprintf("MessageType(%d)", uint8(t))
}

// Message is a replica-to-replica message as the core emits and consumes it.
// The IO loop converts it to a wire type. Messages the core emits share
// their Mutation and Config with the core and with other messages: treat
// them as read-only.
type Message struct {
	Type MessageType
	From string
	To   string
	// Ballot is the sender's ballot. Receivers reject lower ballots and adopt
	// higher ones (with Config, which MsgPrepare and MsgGroupCheck carry).
	Ballot protocol.Ballot
	// Mutation is the prepared mutation (MsgPrepare only).
	Mutation *protocol.Mutation
	// Config is the sender's configuration (MsgPrepare and MsgGroupCheck).
	Config *Config
	// LastCommitted is the sender's commit point.
	LastCommitted protocol.Decree
	// LastPrepared is, on acks, the highest decree the sender has logged
	// durably under Ballot with no gap above its commit point; on
	// MsgGroupCheck, the primary's last assigned decree.
	LastPrepared protocol.Decree
	// Err is CodeOK on success. On acks: CodeStaleBallot when the receiver
	// knows a higher ballot (carried in Ballot), CodeInvalidState when it is
	// not a member that accepts prepares from the sender.
	Err protocol.ErrorCode
}

// validate checks the fields the type needs, so a malformed message from
// the wire is an error and never a panic.
func (m *Message) validate(self string) error {
	if m.To != self {
		return protocol.Errorf(protocol.CodeInvalidArgument, "message %s addressed to %q, not %q", m.Type, m.To, self)
	}
	if m.From == "" || m.From == self {
		return protocol.Errorf(protocol.CodeInvalidArgument, "message %s has bad sender %q", m.Type, m.From)
	}
	if m.Ballot <= protocol.InvalidBallot {
		return protocol.Errorf(protocol.CodeInvalidArgument, "message %s from %s has ballot %d", m.Type, m.From, m.Ballot)
	}
	if m.LastCommitted < 0 || m.LastPrepared < 0 {
		return protocol.Errorf(protocol.CodeInvalidArgument, "message %s from %s has a negative decree", m.Type, m.From)
	}
	switch m.Type {
	case MsgPrepare:
		if m.Mutation == nil {
			return protocol.Errorf(protocol.CodeInvalidArgument, "prepare from %s has no mutation", m.From)
		}
		if m.Mutation.Ballot != m.Ballot {
			return protocol.Errorf(protocol.CodeInvalidArgument, "prepare from %s: mutation ballot %d differs from message ballot %d",
				m.From, m.Mutation.Ballot, m.Ballot)
		}
		if m.Mutation.Decree <= protocol.InvalidDecree {
			return protocol.Errorf(protocol.CodeInvalidArgument, "prepare from %s has decree %d", m.From, m.Mutation.Decree)
		}
		fallthrough
	case MsgGroupCheck:
		if m.Config != nil {
			if err := m.Config.Validate(); err != nil {
				return err
			}
			if m.Config.Ballot != m.Ballot {
				return protocol.Errorf(protocol.CodeInvalidArgument, "%s from %s: config ballot %d differs from message ballot %d",
					m.Type, m.From, m.Config.Ballot, m.Ballot)
			}
		}
	case MsgPrepareAck, MsgGroupCheckAck:
	default:
		return protocol.Errorf(protocol.CodeInvalidArgument, "unknown message type %d from %s", uint8(m.Type), m.From)
	}
	return nil
}

// String renders the message on one line, for logs and test traces.
func (m Message) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s->%s %s b=%d", m.From, m.To, m.Type, m.Ballot)
	switch m.Type {
	case MsgPrepare:
		fmt.Fprintf(&b, " %s lc=%d", MutationString(m.Mutation), m.LastCommitted)
	case MsgGroupCheck:
		fmt.Fprintf(&b, " lc=%d lp=%d", m.LastCommitted, m.LastPrepared)
		if m.Config != nil {
			fmt.Fprintf(&b, " cfg{%s}", m.Config)
		}
	default:
		fmt.Fprintf(&b, " lp=%d lc=%d", m.LastPrepared, m.LastCommitted)
	}
	if m.Err != protocol.CodeOK {
		fmt.Fprintf(&b, " err=%s", m.Err)
	}
	return b.String()
}

// MutationString renders a mutation as "(b=<ballot> d=<decree>)[op:body ...]"
// ("(b=.. d=.. f=<flags>)" when it has flags) with bodies quoted when not
// printable, for logs and test traces.
func MutationString(m *protocol.Mutation) string {
	if m == nil {
		return "<nil>"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "(b=%d d=%d", m.Ballot, m.Decree)
	if m.Flags != 0 {
		fmt.Fprintf(&b, " f=%d", m.Flags)
	}
	b.WriteString(")[")
	for i, u := range m.Updates {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(u.Op.String())
		if len(u.Body) > 0 {
			b.WriteByte(':')
			b.WriteString(printable(u.Body))
		}
	}
	b.WriteByte(']')
	return b.String()
}

func printable(p []byte) string {
	const max = 32
	s := string(p)
	if len(s) > max {
		s = s[:max] + "..."
	}
	for _, r := range s {
		if r < 0x21 || r > 0x7e {
			return fmt.Sprintf("%q", s)
		}
	}
	return s
}
