// Command plogdump prints the records of a replica's private mutation log
// (see internal/plog) without modifying it:
//
//	plogdump [--from N] [--json] <plog dir>
//
// Each record is printed with its segment, byte offset, ballot, decree, last
// committed decree, timestamp (RFC 3339, UTC), and its updates as op names
// with body sizes; --json prints one JSON object per line instead. Records
// with a decree below --from are skipped. At the first torn or corrupt record
// plogdump reports the segment, offset and reason and exits with status 1;
// a later Open of the log would truncate it there. Records superseded by a
// re-append with a higher ballot are printed too: this is a raw dump.
//
// The command reads through vfs.Default; it takes no lock, so it may be run
// against a live log (whose unfinished tail may then be reported as torn).
package main
