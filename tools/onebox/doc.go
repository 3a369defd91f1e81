// Package onebox runs a whole Pegasus-Go cluster, or several, on one
// machine as separate processes, for development, demos and the
// integration tests. The onebox command (tools/cmd/onebox) is a thin shell
// over it; docs/onebox.md is the operator guide.
//
//	st, err := onebox.Start(ctx, onebox.Options{Dir: ".onebox", Metas: 2})
//	...
//	err = onebox.StopInstance(ctx, opts, "onebox/replica2", syscall.SIGKILL)
//	err = onebox.StartInstance(ctx, opts, "onebox/replica2")
//	err = onebox.Stop(ctx, opts)
//
// # Layout
//
// Everything lives under Options.Dir: the state file (state.json), a lock
// file, and one directory per instance, <dir>/<cluster>/<role><n>/, holding
// its generated config.toml, its own log (metaserver.log or
// replicaserver.log), output.log (stdout and stderr: start-up errors,
// panics) and, for replica servers, data/. The local coordination store of
// a cluster is <dir>/<cluster>/store; with ZooKeeper, <dir>/zookeeper holds
// its data and zookeeper.log. Configurations are written from the daemons'
// own embed.Config types, so they are complete commented templates and are
// validated before any process starts.
//
// Ports derive from Options.BasePort (see Ports and ClusterBasePort) and
// are checked free before anything starts.
//
// # Processes
//
// Each daemon runs in its own session (so its own process group) and
// survives the caller, unless Options.DieWithParent asks the kernel to kill
// it when the caller exits (tests). The state file records each process's
// pid and its start time from /proc, so a pid reused by another program is
// never mistaken for an instance or signalled. Stop sends SIGTERM (and
// SIGCONT, for stopped processes), waits Options.StopTimeout, sends SIGKILL
// to the rest and fails if any process is still there.
//
// Invariants:
//   - The state file is replaced atomically and saved after every process
//     start, so a Start that fails half way (or a crashed caller) leaves a
//     state that Stop can clean up.
//   - An instance is alive only if /proc shows its recorded pid with its
//     recorded start time and it is not a zombie.
//   - A stopped onebox restarts over its data with the same layout; a
//     different layout is refused (the data and the store's records are
//     tied to the addresses).
//
// Concurrency: operations on one directory are serialized by a flock on
// <dir>/onebox.lock; a second concurrent Start, Stop, StopInstance,
// StartInstance or Clean fails at once naming the holder. Status only
// reads. Nothing here keeps global state; the functions may be called from
// any goroutine. Linux only (/proc, flock, Setsid, Pdeathsig).
package onebox
