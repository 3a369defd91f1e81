// Package clientgo is the module root of the Pegasus-Go client library. The
// client resolves a table's partition configuration from the meta servers (or
// a meta proxy), routes each request to the primary of its partition, and
// retries idempotent operations on configuration changes.
package clientgo
