// Package harness runs real Pegasus-Go processes for the integration
// tests. It builds the daemon, admincli and onebox binaries once per test
// binary (Binaries) and starts whole clusters through the onebox library
// (Start), so process management lives in one place, tools/onebox.
// StartProxy runs a metaproxy process in front of them.
//
// Beside process control it offers what the end-to-end tests measure with:
// a steady client-go write load (StartLoad) that records every
// acknowledged write and every write with an unknown outcome (failed or
// timed out: "maybe") and reads them back (LoadResult.Verify: every
// acknowledged key must hold its value, a maybe key its value or nothing);
// the replica servers' /replica/digest and /replica/replicas pages and
// metric sums over /metrics (Cluster.Digest, Cluster.Replicas,
// Cluster.MetricSum); and Unhealthy, which says why a table's
// configuration is not fully replicated.
//
// Invariants:
//   - Every cluster Start returns is stopped in t.Cleanup, and the cleanup
//     fails the test if any process recorded in the onebox state file is
//     still alive afterwards. Processes are started with DieWithParent, so
//     even a crashed test binary leaves none behind.
//   - Ports come from a base port whose whole onebox port plan was free
//     when the cluster started; tests never use the fixed default ports, so
//     they can run next to a developer's onebox.
//   - When the test binary is built with -race, the daemons are too.
//
// Concurrency: Binaries and a Load are safe for concurrent use (Binaries
// builds once). A Cluster's methods may be called from several goroutines;
// instance control is serialized by the onebox directory lock, which fails
// fast, so tests call it from one goroutine.
package harness
