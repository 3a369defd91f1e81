// Package membership is the meta leader's failure detector for replica
// servers. Nodes renew their liveness with beacons; the leader grants each
// beacon a lease, and declares a node dead only when no beacon arrived for
// a grace period longer than the lease, so a node cut off from the meta has
// stopped serving (its lease ran out) before anyone replaces it.
//
// Node states, as seen by one leader term:
//
//	            beacon                      no beacon for > grace
//	pending ------------> alive <---------------------------------+
//	   |                    |  no beacon for > grace              |
//	   |                    v                                     |
//	   +--------------->  dead  ----------- beacon ---------------+
//	   no beacon for > grace since the term started
//
// A new leader starts every node it knows of (from the store) as pending:
// alive for reporting, so a failover never flaps nodes to dead, but not yet
// eligible for new assignments until it beacons to this leader.
//
// Time comes from an injected clock (func() time.Time), so tests decide
// when a grace period has passed without sleeping. The detector measures
// time on the meta's clock only; the lease it grants is relative to the
// node's own send time (see protocol.BeaconResponse), so clock offsets do
// not matter.
//
// Concurrency: a Detector is safe for concurrent use; its methods take one
// internal mutex and never block otherwise.
package membership
