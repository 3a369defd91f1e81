// Package tools holds operator tools built only on Pegasus-Go's public APIs:
// onebox (local clusters), duplag (duplication lag benchmark), bench
// (YCSB-style load) and split (offline bulk-load preparation). Nothing
// imports it.
package tools
