// Package admin is the operator client of a Pegasus-Go cluster: it creates,
// drops and recalls tables, lists tables and replica servers, reads
// partition configurations, manages table envs and duplications
// (AddDuplication, QueryDuplication, ModifyDuplication) and summarizes the
// cluster, all through the meta leader's Meta service.
//
//	c, err := admin.New(admin.Config{MetaServers: []string{"127.0.0.1:34601"}})
//	...
//	defer c.Close()
//	id, err := c.CreateApp(ctx, "t1", admin.CreateAppOptions{PartitionCount: 8})
//
// # Errors
//
// A meta server's answer comes back as a *protocol.Error, so errors.Is(err,
// protocol.CodeAppNotExist) and errors.Is(err, admin.ErrAppNotFound) both
// work. Invalid arguments are refused locally with CodeInvalidArgument
// before anything is sent. Transport failures carry CodeNetworkFailure or
// CodeTimeout (see shared/rpc).
//
// # Leader following and retries
//
// Requests go to the meta leader through an internal meta session: the
// meta list is tried in order, CodeForwardToOthers redirects are followed
// to the address in their message, the leader is remembered, and requests
// are retried on other meta servers after network failures until the
// context ends. Reads and idempotent updates (ListApps, QueryConfig,
// SetAppEnvs, QueryDuplication, ModifyDuplication, ...) are retried after
// any network failure; CreateApp, DropApp, RecallApp and AddDuplication
// only when the request provably never left the client, so they are never
// applied twice by the client's own retries.
// A context without a deadline gets Config.Timeout.
//
// # Health
//
// HealthRules classifies partitions (healthy, write-unhealthy,
// read-unhealthy) from a configuration and the set of alive nodes; it is a
// pure function so the shell, the collector and tests agree on the rules.
//
// # Concurrency contract
//
// A Client is safe for concurrent use. Close releases its connections and
// returns after every goroutine it started has exited; calls after Close
// fail with CodeNetworkFailure.
package admin
