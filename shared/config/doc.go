// Package config loads a daemon's configuration struct in layers:
//
//	compiled defaults -> TOML file (-c/--config) -> command-line flags -> Validate()
//
// A daemon's main fills its config struct with defaults and calls Load:
//
//	cfg := embed.DefaultConfig()
//	if _, err := config.Load(os.Args[1:], &cfg, config.WithName("replicaserver")); err != nil {
//		if !errors.Is(err, config.ErrHelpOrPrinted) {
//			fmt.Fprintln(os.Stderr, err)
//		}
//		os.Exit(config.ExitCode(err))
//	}
//
// The struct's shape is the file's shape: `toml:"..."` tags name the keys
// and nested structs are tables, so Pegasus section names such as
// [replication], [pegasus.server] (a "server" struct inside a "pegasus"
// struct), [duplication-group] and [block_service.local] (entry "local" of a
// map[string]struct field) come out naturally. A `comment:"..."` tag
// documents a field (with its unit) in --print-default-config and --help.
//
// ValidateClusters checks the [pegasus.clusters] and [duplication-group]
// sections that the meta and replica servers share, so both daemons report
// the same problems with the same messages.
//
// Invariants:
//   - A key in the file that matches no field is an error
//     (*UnknownKeysError naming every such key, its section and the file);
//     so are unknown flags, unparsable flag values and (by default)
//     positional arguments.
//   - Every scalar field reachable through nested structs is settable as
//     --<section>.<key>=value, and a flag always wins over the file, which
//     always wins over the defaults, whatever the order of the arguments.
//   - WriteTemplate (--print-default-config) output decodes back to exactly
//     the values it was written from.
//   - Durations are written with a unit (Duration, "150ms"); a bare number
//     is not a duration. Byte sizes accept plain integers or units
//     (ByteSize, "8MiB").
//
// Concurrency: Load, WriteTemplate and ValidateClusters are plain functions
// over the caller's values; they keep no state and are safe to call from
// several goroutines on different config values. Nothing in this package reads environment
// variables or globals.
package config
