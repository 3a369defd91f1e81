// Package clientgo is the module root of the Pegasus-Go client library. The
// client resolves a table's partition configuration from the meta servers (or
// a meta proxy), routes each request to the primary of its partition, and
// retries idempotent operations on configuration changes.
//
// The library itself is package pegasus
// (github.com/pegasus-go/pegasus/client-go/pegasus); internal/fakecluster
// is an in-process fake cluster for the library's own tests and examples.
// docs/client-go.md is the usage guide.
package clientgo
