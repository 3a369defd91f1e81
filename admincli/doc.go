// Package admincli is the Pegasus-Go operator shell module: one-shot
// commands, scripts read from standard input, and an interactive shell for
// managing tables, data, duplication and migration.
package admincli
