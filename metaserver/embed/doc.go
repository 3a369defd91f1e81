// Package embed starts a complete meta server in the calling process: the
// coordination store session (ZooKeeper or the local-directory store), the
// RPC server with the Meta and MetaInternal services, the HTTP endpoint
// with metrics and the /meta/* status pages, and the campaign loop. The
// metaserver binary is Start plus signal handling; integration tests and
// onebox start several in one process.
//
// Config is the daemon's whole configuration ([meta_server], [zookeeper],
// [local_store], [pegasus.clusters], [replication] (duplication_enabled
// only), [duplication-group], [logging]); DefaultConfig returns the
// compiled defaults and Validate checks a filled one. A few runtime-only fields (Logger,
// Clock, Metrics) are not part of the file and let tests inject a logger,
// a fake clock or a shared metrics registry.
//
// Concurrency: Start and Close may be called from any goroutine; Close is
// idempotent and returns after every goroutine the server started has
// ended. Server accessors are safe for concurrent use.
package embed
