// Package cli is admincli: the operator shell of a Pegasus-Go cluster.
//
// Main picks one of three modes:
//
//   - one-shot: a command on the command line
//     (`admincli -m h:p ls -d`) runs and sets the exit status;
//   - script: with no command and standard input not a terminal, one
//     command per line is read (blank lines and lines starting with '#'
//     are skipped; words are split like a shell's); the first failure
//     stops the script with its status, unless --keep-going, which runs
//     every line and exits with the worst status seen;
//   - interactive: otherwise, a grumble shell with history and completion
//     of commands, flags and table names.
//
// Exit statuses: 0 success, 1 an operation failed (ExitFailed), 2 a usage
// error (ExitUsage: unknown command, bad flag, missing or malformed
// argument). Every error is one line on standard error, "error: ...",
// prefixed with "line N: " in script mode. --json prints one JSON document
// per command on standard output instead of text.
//
// Commands are described once (command, flagSpec, argSpec) and
// registered with grumble for help and completion; the package parses
// their arguments itself so flags may follow positional arguments, as in
// `create t1 -p 8`.
//
// Every command runs under the --timeout bound except migrate_table, a
// step machine over small interfaces (migrate.go) that may run for hours:
// there --timeout bounds each call it makes, and a failure leaves a safe,
// explained state (docs/migration.md).
//
// # Concurrency contract
//
// A session runs one command at a time on the caller's goroutine. Main
// closes every client it opened before returning. The interactive shell
// uses the process's terminal (os.Stdin, os.Stdout) and temporarily
// clears os.Args for the shell library, so only one Main may run the
// shell at a time.
package cli
