// Package placement holds the meta server's placement and cure decisions
// as pure functions: a Cluster view (node liveness and every partition
// configuration) in, new configurations or Proposals out. They do no IO,
// read no clock and keep no state, so every decision is a table test; the
// meta server's executor persists the results and tells the nodes.
//
// Rules (single-replica milestone: every partition has one primary and no
// secondaries; the table's replica count is only recorded):
//
//   - PlaceApp gives each new partition a primary on an alive node, least
//     loaded first (fewest primaries over every table, ties broken by
//     address), ballot 1. With no alive node the partition is left without
//     a primary at ballot 0 for the guardian.
//   - Cure, for each partition in gpid order:
//     primary on a dead node -> drop it (primary cleared, node appended to
//     LastDrops, ballot+1);
//     no primary, LastDrops not empty -> the most recently dropped node
//     holds the data: make it primary again (ballot+1) as soon as it is
//     alive, never give the partition to another node;
//     no primary, never served -> the least loaded alive node (ballot+1).
//     Nodes that are pending (known, not yet heard from by this leader)
//     are neither dropped nor chosen.
//
// Concurrency: functions only read their arguments; results are fresh
// values owned by the caller.
package placement
