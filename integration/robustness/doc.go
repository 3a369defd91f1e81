// Package robustness proves the replication correct under the faults
// production sees: it runs a cluster of real processes (1-3 meta servers,
// 3-5 replica servers, a real ZooKeeper) with every directed link behind
// an in-process proxy, drives a recorded client-go workload against it
// while a seeded nemesis kills, pauses, partitions, slows and corrupts it,
// and checks the history afterwards.
//
// Pieces:
//   - Cluster (cluster.go): the processes, each with failpoints enabled
//     (PEGASUS_FAILPOINTS) and a dial map (rpc.dial_addresses /
//     meta_server.dial_addresses) sending every connection to a peer
//     through the proxy of that directed link; clients reach a server
//     through the address it advertises, the proxy of the client's link.
//   - Net (netfault.go): the toxiproxy proxies; a fault cuts, blackholes,
//     delays, throttles or resets one link, in one direction if asked.
//   - Nemesis (nemesis.go): every FaultKind, drawn from a seeded source in
//     shuffled decks so that every kind comes up, each injected, held and
//     healed; the schedule is logged (nemesis.log in the artifacts).
//   - Workload (workload.go): 8-16 client-go clients doing get, set (unique
//     values), del, check_and_set and incr over a few hundred keys spread
//     over every partition; every call recorded with its start and end. A
//     failed or timed-out write may have been applied: it returns at
//     infinity with an unknown outcome. A failed read is dropped.
//   - Checks (model.go, campaign.go): per-key linearizability with
//     porcupine (Unknown, a timeout, fails like Illegal; the visualisation
//     of every failing key is written to the artifacts); after every round
//     and at the end every key is read back and the read joins the history,
//     so a lost acknowledged write makes its key fail (reported as lost
//     when the key passes without the read-backs); the replicas of every
//     partition must converge to the same digest.
//
// Invariants: a campaign is reproducible in its schedule from its seed
// (the cluster's timing still varies); the faults of a round are healed
// and the table healthy before the next round starts; every process is
// killed when the test process exits (Pdeathsig).
//
// Concurrency: a campaign runs from one goroutine; the workload's clients
// run in their own goroutines and record under a mutex. Cluster, Net and
// Node methods are safe for concurrent use.
package robustness
