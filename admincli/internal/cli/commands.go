package cli

// Help groups.
const (
	groupCluster = "cluster"
	groupTables  = "tables"
	groupEnvs    = "table envs"
	groupData    = "data (on the used table, or -a <table>)"
)

var appFlag = flagSpec{short: "a", long: "app", kind: flagString, value: "table", help: "table to work on (default: the used table)", table: true}

// allCommands lists every command in help order.
func allCommands() []*command {
	cmds := []*command{
		{
			name: "cluster_info", group: groupCluster, help: "show the cluster summary from the meta leader",
			run: runClusterInfo,
		},
		{
			name: "nodes", group: groupCluster, help: "list replica servers with their status and replica counts",
			run: runNodes,
		},
		{
			name: "ls", group: groupTables, help: "list tables",
			long: "With -d, each available table's partitions are classified by health (see docs/admincli.md).",
			flags: []flagSpec{
				{short: "d", long: "detailed", kind: flagBool, help: "add healthy / unhealthy / write_unhealthy / read_unhealthy partition counts"},
				{short: "a", long: "all", kind: flagBool, help: "include dropped tables (with drop and expire times)"},
			},
			run: runLs,
		},
		{
			name: "create", group: groupTables, help: "create a table and wait until every partition has a primary",
			args: []argSpec{{name: "table", help: "name of the new table"}},
			flags: []flagSpec{
				{short: "p", long: "partition_count", kind: flagInt, value: "N", help: "number of partitions, a power of two", required: true},
				{short: "r", long: "replica_count", kind: flagInt, value: "R", help: "replicas per partition (default 3)"},
				{short: "e", long: "envs", kind: flagString, value: "k=v,...", help: "initial table envs"},
				{long: "no_wait", kind: flagBool, help: "return once the table is recorded, without waiting for primaries"},
			},
			run: runCreate,
		},
		{
			name: "drop", group: groupTables, help: "drop a table (recallable until its hold time ends)",
			args: []argSpec{{name: "table", help: "table to drop", table: true}},
			flags: []flagSpec{
				{long: "reserve_seconds", kind: flagInt, value: "S", help: "keep the dropped table recallable for S seconds (default: the meta server's hold time)"},
			},
			run: runDrop,
		},
		{
			name: "recall", group: groupTables, help: "restore a dropped table by app id",
			args: []argSpec{
				{name: "app_id", help: "id of the dropped table (see 'ls -a')"},
				{name: "new_name", help: "name for the recalled table (default: its old name)", optional: true},
			},
			run: runRecall,
		},
		{
			name: "use", group: groupTables, help: "choose the table later data and env commands work on",
			args: []argSpec{{name: "table", help: "table to use", table: true}},
			run:  runUse,
		},
		{
			name: "app", group: groupTables, help: "show a table; with -d its partitions (ballot, primary, secondaries, learner, health)",
			args: []argSpec{{name: "table", help: "table to show (default: the used table)", optional: true, table: true}},
			flags: []flagSpec{
				{short: "d", long: "detailed", kind: flagBool, help: "list every partition"},
			},
			run: runApp,
		},
		{
			name: "set_app_envs", group: groupEnvs, help: "add or overwrite table envs",
			flags: []flagSpec{
				{short: "e", long: "envs", kind: flagString, value: "k=v,...", help: "envs to set", required: true},
				appFlag,
			},
			run: runSetAppEnvs,
		},
		{
			name: "get_app_envs", group: groupEnvs, help: "show table envs",
			flags: []flagSpec{appFlag},
			run:   runGetAppEnvs,
		},
		{
			name: "del_app_envs", group: groupEnvs, help: "delete table envs by key, by prefix, or all",
			flags: []flagSpec{
				{short: "k", long: "keys", kind: flagString, value: "k1,k2,...", help: "keys to delete"},
				{long: "prefix", kind: flagString, value: "P", help: "delete every key starting with P"},
				{long: "all", kind: flagBool, help: "delete every env"},
				appFlag,
			},
			run: runDelAppEnvs,
		},
	}
	cmds = append(cmds, dupCommands()...)
	cmds = append(cmds, dataCommands()...)
	cmds = append(cmds, proxyCommands()...)
	return append(cmds, migrateCommands()...)
}
