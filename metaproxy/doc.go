// Package metaproxy is the Pegasus-Go meta proxy module: a stateless daemon
// that maps each table to the cluster serving it (a ZooKeeper node per table)
// and answers client partition-configuration queries by forwarding them to
// that cluster's meta leader, so traffic can be switched between clusters
// without restarting applications.
package metaproxy
