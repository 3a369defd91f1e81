package replica

// SetDuplicating turns duplication mode on or off for the table of this
// replica.
func (r *Replica) SetDuplicating(on bool) {}
