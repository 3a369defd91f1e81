// Package failpoint holds the fault-injection switches of the daemons: named
// values that a test turns on in a running process to make it misbehave in
// one precise way (fail plog writes, shift its clock), and off again.
//
// A daemon takes part only when its operator asks for it: the command
// reads EnvVar (PEGASUS_FAILPOINTS) and, when the variable is set (even to
// ""), builds a Registry from it with Parse and hands it to the daemon's
// embed.Config. The daemon then wraps its hooks (file system, clock)
// around the registry and serves Handler at /debug/failpoints on its HTTP
// server. Without the variable there is no registry and no hook, so the
// cost is nil; with it, a hook costs an atomic load while its failpoint is
// off.
//
// Failpoints (the names are fixed; Set refuses others):
//
//	plog-write-error  probability in [0,1]: each write of a plog file fails
//	plog-sync-error   probability in [0,1]: each sync of a plog file fails
//	clock-offset      Go duration (e.g. "-2s"): added to the daemon's clock
//
// A spec is a list of name=value separated by ';' (e.g.
// "plog-sync-error=0.5;clock-offset=1500ms"); an empty value or "off"
// turns a failpoint off.
//
// HTTP (Handler): GET lists every failpoint with its value and how many
// times it fired; PUT or POST with ?name=&value= (or a body holding a
// spec) sets failpoints; DELETE clears one (?name=) or all.
//
// Invariants: a failpoint's value is validated before it takes effect; an
// invalid spec changes nothing.
//
// Concurrency: a Registry is safe for concurrent use; hooks read it with
// atomic loads and never block.
package failpoint
