// Package metaserver is the Pegasus-Go meta server module: the configuration
// manager of a cluster. It owns tables, partition configurations (ballot,
// primary, secondaries), node membership from beacons, the guardian that cures
// partitions, and duplication, backup and bulk-load metadata, all kept in the
// coordination store (ZooKeeper, or a local directory store for onebox).
//
// The binary lives in cmd/metaserver; the embed package starts a server in
// process for tests; everything else is internal.
package metaserver
