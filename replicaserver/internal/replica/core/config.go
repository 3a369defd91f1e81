package core

import (
	"fmt"
	"slices"
	"strings"

	"github.com/pegasus-go/pegasus/shared/protocol"
)

// Role is what a replica does in its partition's configuration.
type Role uint8

const (
	// RoleInactive replicas take no part in replication: they are not in the
	// configuration, have not been configured yet, or learned that their
	// configuration is stale.
	RoleInactive Role = iota
	// RolePrimary assigns decrees, prepares mutations to every other member,
	// commits and serves reads and writes while it holds a lease.
	RolePrimary
	// RoleSecondary logs the primary's prepares, acknowledges them and
	// applies what the primary reports committed.
	RoleSecondary
	// RoleLearner is a potential secondary: it copies state out of band and
	// then receives prepares from its start decree on; from there on its
	// acknowledgements count for commit like a secondary's.
	RoleLearner
)

var roleNames = [...]string{"inactive", "primary", "secondary", "learner"}

func (r Role) String() string {
	if int(r) < len(roleNames) {
		return roleNames[r]
	}
	return fmt.Sprintf("role(%d)", uint8(r))
}

// Learner is a potential secondary in a primary's configuration.
type Learner struct {
	// Node is the learner's address.
	Node string
	// StartDecree is the first decree the primary prepares to the learner.
	// Zero means the learner is still copying state and gets no prepares.
	StartDecree protocol.Decree
}

// Config is one partition configuration as the meta server issues it. Every
// change of Primary or Secondaries comes with a higher Ballot; the learner
// list may change under the same ballot (learners are the primary's local
// business until the meta upgrades them).
type Config struct {
	Ballot      protocol.Ballot
	Primary     string
	Secondaries []string
	Learners    []Learner
}

// Clone returns a deep copy.
func (c Config) Clone() Config {
	c.Secondaries = slices.Clone(c.Secondaries)
	c.Learners = slices.Clone(c.Learners)
	return c
}

// Members counts the primary and the secondaries: the replicas whose
// acknowledgements a commit needs.
func (c Config) Members() int {
	n := len(c.Secondaries)
	if c.Primary != "" {
		n++
	}
	return n
}

// RoleOf returns the role node has in c.
func (c Config) RoleOf(node string) Role {
	switch {
	case node == "":
		return RoleInactive
	case node == c.Primary:
		return RolePrimary
	case slices.Contains(c.Secondaries, node):
		return RoleSecondary
	}
	for _, l := range c.Learners {
		if l.Node == node {
			return RoleLearner
		}
	}
	return RoleInactive
}

// Validate reports whether c is well formed: a positive ballot, non-empty
// addresses, and no address twice.
func (c Config) Validate() error {
	if c.Ballot <= protocol.InvalidBallot {
		return protocol.Errorf(protocol.CodeInvalidArgument, "config: ballot %d is not positive", c.Ballot)
	}
	seen := make(map[string]bool, 1+len(c.Secondaries)+len(c.Learners))
	add := func(what, node string) error {
		if node == "" {
			return protocol.Errorf(protocol.CodeInvalidArgument, "config: empty %s address", what)
		}
		if seen[node] {
			return protocol.Errorf(protocol.CodeInvalidArgument, "config: %s appears twice", node)
		}
		seen[node] = true
		return nil
	}
	if c.Primary != "" {
		if err := add("primary", c.Primary); err != nil {
			return err
		}
	}
	for _, s := range c.Secondaries {
		if err := add("secondary", s); err != nil {
			return err
		}
	}
	for _, l := range c.Learners {
		if err := add("learner", l.Node); err != nil {
			return err
		}
		if l.StartDecree < 0 {
			return protocol.Errorf(protocol.CodeInvalidArgument, "config: learner %s has negative start decree", l.Node)
		}
	}
	return nil
}

// sameMembers reports whether c and o name the same primary and the same
// secondaries in the same order.
func (c Config) sameMembers(o Config) bool {
	return c.Primary == o.Primary && slices.Equal(c.Secondaries, o.Secondaries)
}

// without returns the meta server's part of c (no learners) with node
// removed from the secondaries and the ballot increased by one.
func (c Config) without(node string) Config {
	n := Config{Ballot: c.Ballot + 1, Primary: c.Primary}
	for _, s := range c.Secondaries {
		if s != node {
			n.Secondaries = append(n.Secondaries, s)
		}
	}
	return n
}

func (c Config) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "b=%d primary=%s secondaries=[%s]", c.Ballot, orDash(c.Primary), strings.Join(c.Secondaries, ","))
	if len(c.Learners) > 0 {
		b.WriteString(" learners=[")
		for i, l := range c.Learners {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, "%s@%d", l.Node, l.StartDecree)
		}
		b.WriteByte(']')
	}
	return b.String()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
