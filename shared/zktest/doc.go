// Package zktest runs a real, standalone ZooKeeper server for integration
// tests and local tools such as onebox.
//
// Run starts `java ... org.apache.zookeeper.server.ZooKeeperServerMain
// zoo.cfg` from the jars of Debian's zookeeper package (zookeeper.jar, whose
// manifest names its dependencies, plus the slf4j simple binding so the
// server logs into <dir>/zookeeper.log). The generated zoo.cfg listens on
// 127.0.0.1 only, uses a short tick (100ms by default) so tests may ask for
// session timeouts of a few hundred milliseconds, whitelists the ruok and
// srvr four-letter commands and disables the admin HTTP server. Run returns
// once `ruok` answers `imok`, or fails with the tail of the log.
//
// Start wraps Run for tests: it stops the server in t.Cleanup, fails the
// test with a one-line install hint when ZooKeeper is missing, and skips the
// test when PEGASUS_SKIP_EXTERNAL=1.
//
// Fault injection: Kill sends SIGKILL and waits; Restart starts the server
// again on the same port with the same data directory, so persistent nodes
// survive and so do sessions whose timeout has not run out. Stop kills the
// server and removes the directory Run created (a caller-supplied Options.Dir
// is kept).
//
// Concurrency: Server methods are safe for concurrent use; Kill, Restart and
// Stop block until the process has been reaped. Unless Options.Detached is
// set, the kernel kills the server when the process that started it dies, so
// a crashed test binary leaves no server behind.
package zktest
