package logging

import (
	"log/slog"
	"strconv"

	"github.com/pegasus-go/pegasus/shared/protocol"
)

// Fixed attribute keys. Every package logs these facts under these keys so
// that records from different components can be filtered and joined.
const (
	KeyComponent = "component" // subsystem name, e.g. "guardian", "duplicator"
	KeyNode      = "node"      // a node's RPC address, "host:port"
	KeyGpid      = "gpid"      // partition id, "<app_id>.<partition_index>"
	KeyBallot    = "ballot"    // configuration ballot, integer
	KeyDecree    = "decree"    // mutation decree, integer
	KeyAppID     = "app_id"    // table id, integer
	KeyTable     = "table"     // table name
	KeyError     = "error"     // an error's message
)

// Component is the attribute naming a subsystem.
func Component(name string) slog.Attr { return slog.String(KeyComponent, name) }

// Node is the attribute naming a node by its address.
func Node(addr string) slog.Attr { return slog.String(KeyNode, addr) }

// Gpid is the attribute naming a partition, formatted "<app_id>.<index>".
func Gpid(g protocol.Gpid) slog.Attr {
	return slog.String(KeyGpid, strconv.FormatInt(int64(g.AppID), 10)+"."+strconv.FormatInt(int64(g.PartitionIndex), 10))
}

// Ballot is the attribute carrying a ballot.
func Ballot(b protocol.Ballot) slog.Attr { return slog.Int64(KeyBallot, int64(b)) }

// Decree is the attribute carrying a decree.
func Decree(d protocol.Decree) slog.Attr { return slog.Int64(KeyDecree, int64(d)) }

// AppID is the attribute carrying a table id.
func AppID(id int32) slog.Attr { return slog.Int64(KeyAppID, int64(id)) }

// Table is the attribute carrying a table name.
func Table(name string) slog.Attr { return slog.String(KeyTable, name) }

// Err is the attribute carrying an error's message; a nil error logs as an
// empty string.
func Err(err error) slog.Attr {
	if err == nil {
		return slog.String(KeyError, "")
	}
	return slog.String(KeyError, err.Error())
}

// WithComponent derives a logger for a subsystem.
func WithComponent(l *slog.Logger, name string) *slog.Logger {
	return l.With(Component(name))
}

// WithNode derives a logger for a daemon or a peer identified by address.
func WithNode(l *slog.Logger, addr string) *slog.Logger { return l.With(Node(addr)) }

// WithReplica derives the logger of one replica: its gpid and table id.
func WithReplica(l *slog.Logger, g protocol.Gpid) *slog.Logger {
	return l.With(Gpid(g), AppID(g.AppID))
}

// WithTable derives a logger for work on one table.
func WithTable(l *slog.Logger, appID int32, name string) *slog.Logger {
	return l.With(AppID(appID), Table(name))
}
