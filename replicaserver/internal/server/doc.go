// Package server is the replica server proper: the registry of the
// replicas a node holds, the rpcx handlers of the client data API (service
// Replica) and of the meta's pushes (service ReplicaControl), the meta client
// loop (beacons and config syncs), per-table request metrics and the
// /replica/replicas status page. The embed package wires it to the RPC and
// HTTP servers and the daemon configuration.
//
// # Replicas on disk
//
// A replica of partition <app_id>.<pidx> lives in <data_dir>/<app_id>.<pidx>;
// a new one goes to the data dir holding the fewest replicas (ties
// round-robin). New reopens every such directory it finds (the replica's
// persisted table info and configuration come back with it); a directory
// that fails to open is logged, left alone and listed on the status page.
// A gpid found in two data dirs is an error: the server does not start.
//
// # Request validation
//
// Every data request is checked before it reaches the replica, so an
// invalid write never takes a decree or a plog record:
//
//   - the header's gpid must be a replica this server holds, else
//     CodeObjectNotFound;
//   - the hashkey must be 1..keyschema.MaxHashKeyLen (65534) bytes, else
//     CodeInvalidArgument (scans allow empty start and stop hashkeys);
//   - the keys and values of a write together must not exceed
//     Options.MaxWriteBytes (max_write_bytes), else CodeInvalidArgument
//     naming the limit;
//   - RequestHeader.CheckPartition against the table's partition count,
//     and the key's own hash (keyschema.Hash of the hashkey) must map to
//     the replica's partition, else CodeWrongPartition; BatchGet and
//     BatchSet check every key and answer a failing key with its own code
//     while the others proceed.
//
// Reads then go through Replica.Engine (which refuses unless the replica is
// a primary holding a valid lease), writes through Replica.Write; their
// errors are returned as they are.
//
// # Leases and the meta server
//
// With meta servers configured, Start runs two goroutines. The beacon
// loop sends MetaInternal.Beacon to the meta leader every BeaconInterval
// and, on success, grants every replica the lease SendTimeMs + LeaseMs
// measured on this server's clock (Options.Clock); a leader that grants no
// lease withdraws all leases at once; a failed beacon lets them run out.
// The sync loop sends MetaInternal.ConfigSync after the first successful
// beacon, every ConfigSyncInterval, and at once after a ConfigProposal that
// could not be applied; it opens the partitions the answer assigns to this
// node, installs newer configurations, and deletes the garbage replicas.
// Redirects (CodeForwardToOthers with the leader's address, or
// BeaconResponse.MetaLeader) are followed; an unreachable meta server moves
// the client on to the next one of the list.
//
// Without meta servers (tests only) every replica holds a lease that never
// ends and partitions are opened with OpenTestReplica.
//
// # Concurrency
//
// RPC handlers run concurrently; the registry is guarded by an RWMutex and
// looked up once per request. Opening and removing replicas (proposals,
// syncs, the test hook) are serialized by openMu; a request racing with a
// removal gets the closed replica's error. Close stops the loops, then
// closes every replica; the RPC server must stop delivering requests first.
//
// # Seams
//
// Options.OpenReplica opens a replica (default: package replica through a
// thin adapter), so handler tests run against an in-memory fake;
// Options.Meta is the RPC client towards the meta servers; Options.Clock is
// the clock leases are computed with.
package server
