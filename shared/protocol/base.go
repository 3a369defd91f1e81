package protocol

import (
	"encoding"
	"fmt"
)

// Ballot numbers a partition configuration. Every configuration change made
// by the meta server increases it; a message carrying a lower ballot than the
// receiver's is stale and is rejected.
type Ballot int64

// InvalidBallot is the ballot of a replica that has never been configured.
const InvalidBallot Ballot = 0

// Decree is the sequence number of a mutation within one partition. Decrees
// start at 1; 0 means "nothing".
type Decree int64

// InvalidDecree means "no decree".
const InvalidDecree Decree = 0

// Gpid identifies one partition of one table cluster-wide.
type Gpid struct {
	AppID          int32
	PartitionIndex int32
}

// String formats the gpid the way Pegasus does: "<app_id>.<pidx>".
func (g Gpid) String() string { return fmt.Sprintf("%d.%d", g.AppID, g.PartitionIndex) }

// Message is implemented by every type sent over the wire. AppendBinary
// appends the encoding to b and returns the extended slice; UnmarshalBinary
// decodes data and may keep references into it only where the type's doc
// says so (by default it copies).
type Message interface {
	encoding.BinaryAppender
	encoding.BinaryUnmarshaler
}
