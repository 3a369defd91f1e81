package main

import (
	"os"

	"github.com/cockroachdb/pebble/vfs"
)

func main() {
	os.Exit(run(vfs.Default, os.Args[1:], os.Stdout, os.Stderr))
}
