// Package cli is the onebox command line: it parses the subcommands
// (start, status, stop, clean, stop-instance, start-instance) and their
// flags, calls package onebox and prints the result. Main returns the exit
// status: 0 success, 1 a failed operation, 2 bad usage.
//
// Concurrency: Main is called once per process; it keeps no global state
// and writes only to the writers it is given.
package cli
