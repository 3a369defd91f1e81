// Package replicaserver is the Pegasus-Go replica server module. A replica
// server hosts partition replicas: each runs PacificA (primary, secondaries,
// learners), writes mutations to its private log (plog) and applies them to
// its own pebble database, and serves the data API over rpcx.
//
// The binary lives in cmd/replicaserver; the embed package starts a server in
// process for tests; everything else is internal.
package replicaserver
