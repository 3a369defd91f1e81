package main

import "testing"

func TestRunRejectsBadConfiguration(t *testing.T) {
	for _, args := range [][]string{
		{"--replication.plog_sync=sometimes"},
		{"--no-such-flag"},
		{"-c", "/nonexistent/replicaserver.toml"},
		{"positional"},
	} {
		if code := run(args); code != 2 {
			t.Errorf("run(%q) = %d, want 2", args, code)
		}
	}
}

func TestRunCannotStart(t *testing.T) {
	// A valid configuration whose data dir cannot be created.
	args := []string{"--replication.data_dirs=/dev/null/replica", "--replica_server.rpc_address=127.0.0.1:0",
		"--replica_server.http_address=", "--replica_server.meta_servers=", "--logging.output=discard"}
	if code := run(args); code != 1 {
		t.Errorf("run = %d, want 1", code)
	}
}
