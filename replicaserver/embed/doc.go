// Package embed runs a replica server inside a Go program: the daemon's
// main uses it, and so do tests and the integration module, which start
// several replica servers in one process.
//
//	cfg := embed.DefaultConfig()
//	cfg.Replication.DataDirs = []string{dir}
//	cfg.ReplicaServer.RPCAddress = "127.0.0.1:0"
//	cfg.ReplicaServer.HTTPAddress = "127.0.0.1:0"
//	cfg.ReplicaServer.MetaServers = []string{metaAddr}
//	srv, err := embed.Start(cfg)
//	...
//	defer srv.Close()
//	addr := srv.RPCAddr()
//
// Config is the whole daemon configuration, shaped like its TOML file
// (sections [replication], [replica_server], [rpc], [pegasus.server],
// [pegasus.clusters], [duplication-group], [logging]; see
// docs/replicaserver-config.md), plus runtime hooks (Logger,
// FS, Clock) that only code sets. DefaultConfig holds the compiled
// defaults; Validate reports every bad value at once.
//
// Start validates the configuration, listens (port 0 picks a free port;
// RPCAddr and HTTPAddr report the bound addresses), reopens every replica
// found in the data dirs, registers the Replica, ReplicaControl and Peer
// RPC services, mounts /replica/replicas, /replica/config,
// /replica/learning and /replica/digest next to the standard HTTP pages
// (/metrics, /healthz, /readyz, /version, pprof), and starts replication
// (one RPC client serves both the meta servers and the other replica
// servers) and the beacon and config-sync loops towards the meta servers.
// SetLearnRateLimit changes replication.learn_rate_limit live. The
// node advertises replica_server.advertise_address, or the bound RPC
// address when that is empty.
//
// Concurrency: Start may be called concurrently for servers with distinct
// addresses and data dirs (every server has its own metrics registry and
// logger; nothing is global). Server methods are safe for concurrent use;
// Close is idempotent and waits for every goroutine the server started.
package embed
