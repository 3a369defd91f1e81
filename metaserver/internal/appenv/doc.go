// Package appenv validates table environment variables ("app envs"), the
// per-table settings operators change with set_app_envs. Only keys from a
// fixed list are accepted, each with a value check, so a typo is refused
// at the meta server instead of being silently ignored by every replica.
//
// Invariants: Validate and ValidateKey never panic and never allocate more
// than a small multiple of their input; an error names the offending key
// and is a *protocol.Error with CodeInvalidArgument.
//
// Concurrency: the package holds only immutable tables; every function is
// safe for concurrent use.
package appenv
