// Package embed runs a collector: the daemon behind cmd/collector, and an
// embeddable server for tests and tools.
//
//	cfg := embed.DefaultConfig()
//	cfg.Collector.ClusterName = "onebox"
//	cfg.Collector.MetaServers = []string{"127.0.0.1:34601"}
//	srv, err := embed.Start(cfg)
//	...
//	defer srv.Close()
//	fmt.Println("dashboard at http://" + srv.HTTPAddr() + "/")
//
// A Server scrapes the cluster every scrape_interval (see
// internal/collector), runs the availability probe when [probe] enabled,
// and serves on one HTTP address: the dashboard at /, its JSON API under
// /api/, the collector's own Prometheus metrics at /metrics, and the
// standard /healthz, /readyz (ready after the first round), /version,
// /debug/pprof/ and /debug/loglevel pages.
//
// Replica and meta servers are known to the meta server by RPC address;
// their HTTP address is the RPC port plus the role's port offset
// (meta_http_port_offset, replica_http_port_offset, matching the daemons'
// default ports) unless [collector.http_addresses] names it.
//
// Concurrency: Start returns a running Server; Close stops every goroutine
// it started and may be called from any goroutine, more than once.
package embed
