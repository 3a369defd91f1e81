// Package learn holds the file side of learning, where a new replica (the
// learner) copies a partition's state from its primary: listing a
// checkpoint's files with sizes and CRC-32C checksums, serving them in
// chunks confined to the learn directory, and fetching them into a staging
// directory under a node-wide rate limit, resumably.
//
// # Staging and resumption
//
// Fetch writes file <name> of the list to <staging>/<name>.copying, checks
// every chunk's CRC-32C as it arrives and the whole file's CRC-32C and size
// at the end, syncs it and renames it to <staging>/<name>. A file found
// complete under its final name with the listed size and checksum is kept
// and not fetched again, so an interrupted copy (a network failure, a
// restart of the learner's process) resumes where the complete files end;
// partial .copying files are fetched again from the start. Files in the
// staging directory that the list does not name are removed, so the staging
// directory ends up holding exactly the listed files.
//
// # Confinement
//
// Names are relative paths with '/' separators; CheckName refuses empty,
// absolute, "."/".." and backslash components, so neither the serving side
// nor the fetching side ever touches a file outside its directory. The
// serving side additionally serves only names of its own list.
//
// # Concurrency
//
// ListFiles, ReadChunk and Fetch are plain functions safe to call from any
// goroutine on distinct directories. A Limiter is safe for concurrent use;
// SetLimit takes effect for the next wait.
package learn
