// Package integration holds Pegasus-Go's end-to-end tests: whole clusters run
// in process through each daemon's embed package or as real processes with a
// real ZooKeeper, and the robustness harness. Nothing imports it.
package integration
