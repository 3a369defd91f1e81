// Package state is the meta server's persistent model: the layout of a
// cluster in the coordination store, the JSON records kept there, an
// in-memory View of them, and a Writer that changes both together.
//
// # Store layout
//
//	<root>/apps                      (empty)
//	<root>/apps/<app_id>             JSON app record (AppInfo)
//	<root>/apps/<app_id>/<pidx>      JSON partition configuration
//	<root>/apps/<app_id>/<pidx>/drops JSON DDD evidence (Drops), once a
//	                                 replica was removed
//	<root>/apps/<app_id>/duplication (empty) parent of the table's duplications
//	<root>/apps/<app_id>/duplication/<dupid>        JSON Dup
//	<root>/apps/<app_id>/duplication/<dupid>/<pidx> JSON DupProgress
//	<root>/meta                      (empty)
//	<root>/meta/leader               leader election (candidates below it)
//	<root>/meta/next_app_id          decimal: the next app id to allocate
//	<root>/nodes                     (empty)
//	<root>/nodes/<host:port>         JSON node record: a replica server seen once
//
// Other non-numeric children of an app node are reserved for later
// features and ignored by Load (DeleteApp removes them with the table).
//
// # Invariants
//
//   - Every write is a versioned compare-and-set: the Writer passes the
//     version it read (kept in the View) and the store refuses the write if
//     anybody changed the node since. App ids are allocated by a CAS on
//     next_app_id in the same transaction that creates the app, so two
//     writers can never hand out one id.
//   - When the Writer has a Fence (the leader's election node), every
//     transaction also checks that node exists, so a meta server that lost
//     its leadership cannot write: its transaction fails with ErrFenced.
//   - A partition's configuration and its drops record change in one
//     transaction (Writer.UpdatePartitions), so the evidence always
//     matches the configuration's LastDrops.
//   - A duplication and its partition progress records are created in one
//     transaction; removing it (DS_REMOVED) deletes the progress records in
//     the transaction that stores the new status; dropping a table deletes
//     its duplications in the transaction that marks it dropped.
//   - The View changes only after the store accepted the write, so it never
//     shows a state the store does not hold (it may lag the store only if
//     someone else wrote, which the fence rules out).
//
// # Concurrency
//
// A View and a Writer are not safe for concurrent use; the meta server
// guards both with one mutex. Records and Layout are values.
package state
