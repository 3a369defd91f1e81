// Package pegasus is the Go client of Pegasus-Go: a hash-partitioned,
// strongly consistent key-value store whose records are addressed by a
// hashkey and a sortkey.
//
//	client, err := pegasus.NewClient(pegasus.Config{MetaServers: []string{"127.0.0.1:34601"}})
//	...
//	defer client.Close()
//	table, err := client.OpenTable(ctx, "temp")
//	err = table.Set(ctx, []byte("user1"), []byte("name"), []byte("alice"), nil)
//	value, err := table.Get(ctx, []byte("user1"), []byte("name"))
//	for kv, err := range table.Scan(ctx, []byte("user1"), nil, nil, nil) { ... }
//
// # Routing
//
// OpenTable asks the meta servers for the table's partition configuration
// (Meta.QueryConfig; a follower answers CodeForwardToOthers naming the
// leader, which the client follows and remembers) and caches it. A record
// lives in partition keyschema.PartitionIndex(keyschema.Hash(hashkey,
// sortkey), partitionCount); every request goes to that partition's
// primary with a header carrying the gpid, the partition hash and the time
// left before the deadline. All sortkeys of one hashkey share a partition,
// so the Multi* operations, DelRange, CheckAndSet and CheckAndMutate are
// atomic on one hashkey.
//
// # Meta proxies and table moves
//
// With Config.MetaProxy instead of Config.MetaServers the client resolves
// tables through meta proxies (the metaproxy daemon), which forward each
// query to the cluster the table's route names. When a table moves, the
// old cluster turns requests away (CodeInvalidState with
// replica.deny_client_request=reconfig*..., or no answer with timeout*...):
// the client refreshes through the proxy and installs the answer as is,
// even when it describes another cluster's table (another app id,
// partition count and servers, unrelated ballots), then retries there. A
// table the proxy reports missing during such a refresh (the route may be
// switching) is re-resolved until the operation's deadline instead of
// failing at once. Without a proxy, a refreshed configuration of the same
// table (same app id, partition count and creation time) never rolls a
// partition back to a lower ballot.
//
// # Configuration refresh and retries
//
// The cached configuration is refreshed when a partition has no primary or
// a request fails with CodeInvalidState (not primary), CodeObjectNotFound
// (replica not served there), CodeWrongPartition (partition count
// changed), CodeStaleBallot, CodeLeaseExpired or CodeNetworkFailure.
// Refreshes are single-flight per table, run on a background goroutine,
// and are rate limited by Config.MinConfigRefreshInterval.
//
// Idempotent operations (Get, Set, Del, MultiGet, MultiGetRange, MultiSet,
// MultiDel, DelRange, SortKeyCount, Exist, TTL, BatchGet, BatchSet,
// opening and resuming scans) are retried after those errors and after
// CodeBusy, CodeNotEnoughMember and server-side timeouts, with exponential
// backoff and jitter (Config.InitialRetryBackoff up to
// Config.MaxRetryBackoff), for as long as the context's deadline allows.
// A context without a deadline gets Config.OperationTimeout.
// Non-idempotent operations (Incr, CheckAndSet, CheckAndMutate) are
// retried only when the request certainly never left the client (no
// primary known, connection refused); once it may have reached a server,
// the error is returned and the outcome is unknown to the caller. The
// same holds for the writes among the idempotent operations (Set, Del,
// MultiSet, MultiDel, DelRange) after an attempt that timed out or lost
// its connection: the attempt may still be applied, and a retry could
// land after another client's newer write to the same record, so such a
// write returns its error (outcome unknown) instead; writes refused by
// the server are retried as above.
//
// # Errors
//
// Every operation error is an *OpError naming the operation, table,
// partition and server, and wrapping the cause. errors.Is matches the
// package's sentinels (ErrNotFound, ErrTimeout, ErrInvalidArgument,
// ErrTableNotFound, ErrCheckFailed, ErrBusy, ErrInvalidIncr,
// ErrUnavailable, ErrScanExpired, ErrClosed) and the wire codes of
// shared/protocol (errors.Is(err, protocol.CodeNotFound)). Arguments are
// validated before any RPC: an empty hashkey, a hashkey longer than
// keyschema.MaxHashKeyLen, a negative TTL, mismatched slices, unknown
// filter or check types are ErrInvalidArgument.
//
// # Batches and scans
//
// BatchGet and BatchSet group keys by partition, send one request per
// partition in parallel (Config.BatchConcurrency at most) and report a
// result per key; failed groups are retried on their own and regrouped
// after a configuration change. GetScanner scans one hashkey's sortkeys in
// order; GetUnorderedScanners splits the table's partitions into disjoint
// sets of whole partitions, to be scanned in parallel. Scanners resume
// from their last key when a server-side context is lost. Scanner.All,
// Table.Scan and Table.ScanAll adapt them to range-over-func loops.
//
// # Concurrency
//
// Client and Table are safe for concurrent use; Table handles are cached
// per name. A Scanner is used by one goroutine at a time. Close on the
// Client fails operations in flight and returns once every goroutine the
// client started (configuration refreshes, connection readers) has
// exited. Byte slices passed in are not retained after a call returns
// (except by Mutations until its CheckAndMutate call); slices returned are
// owned by the caller.
package pegasus
