// Package coordtest is the contract suite every coord.Store implementation
// must pass unchanged. Run executes it against a Backend; each subtest works
// under its own root, opening as many independent sessions as it needs.
//
// It covers create / get / set / delete and every sentinel error, version
// and revision bookkeeping, compare-and-set conflicts, concurrent CAS
// increments from 8 goroutines on 4 sessions with no lost update, sequential
// naming and ordering, sorted children, Multi atomicity and op ordering,
// each watch type firing on exactly the right change (a barrier watch on
// the same change proves the absence of a wrong event without sleeping),
// session events, ephemeral nodes going with a closed session and with a
// SIGKILLed process, and the leader lock: exactly one leader, failover on
// close, SIGKILL, node deletion and canceled campaigns, and Lost closing on
// session loss.
//
// The SIGKILL tests re-execute the test binary. A package that calls Run
// must therefore call ChildMain(open) first thing in its TestMain; in the
// child it opens a store from environment variables, creates an ephemeral
// node or wins an election, prints "READY <session id>" and blocks.
//
// Waits for events that must happen are bounded by generous deadlines
// (failure, not timing assertions); the suite never sleeps to make
// something happen.
package coordtest
