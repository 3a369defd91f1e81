// Package placement holds the meta server's placement and cure decisions
// as pure functions: a Cluster view (node liveness, every partition
// configuration, the replicas' latest reports, DDD evidence, learners in
// progress) in, new configurations or Proposals out. They do no IO, read no
// clock and keep no state, so every decision is a table test; the meta
// server's executor persists the results and tells the nodes.
//
// Rules:
//
//   - PlaceApp gives each new partition a primary (the alive node with the
//     fewest primaries) and replica_count-1 secondaries (the alive nodes
//     with the fewest replicas) on distinct nodes, ballot 1; ties are broken
//     by the other count and then by address, so placement is
//     deterministic and spreads both primaries and replicas evenly. With
//     fewer alive nodes it places as many replicas as there are nodes (the
//     guardian adds the rest through learning); with none the partition is
//     left empty at ballot 0.
//   - Cure decides at most one change per partition, in gpid order: replace
//     a dead primary by the best alive secondary, remove dead secondaries,
//     remove an extra member, re-send a restarted primary its configuration
//     under a new ballot, add a learner through the primary, place a
//     partition that never had a replica, recover a partition whose every
//     member died when that is provably safe (SafeRecovery). See Cure for
//     the precise order.
//   - Frozen: while at most Policy.MinAliveRatio of the known nodes are
//     alive, the liveness view is not trusted and Cure moves no replica.
//   - Every change but ConfigAddSecondary increases the ballot by exactly
//     one; removed members go to the end of LastDrops (at most
//     MaxLastDrops), and DropsAfter gives the matching DDD record.
//   - Pending nodes (known, not yet heard from by this leader) are neither
//     dropped nor chosen.
//
// Concurrency: functions only read their arguments; results are fresh
// values owned by the caller.
package placement
