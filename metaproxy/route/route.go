package route

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"unicode"
)

// Limits on a route.
const (
	// MaxRouteBytes bounds the JSON of one route node.
	MaxRouteBytes = 64 << 10
	// MaxMetaAddrs bounds the meta servers of one route.
	MaxMetaAddrs = 64
	// MaxClusterNameLen bounds a cluster name, in bytes.
	MaxClusterNameLen = 128
	// MaxTableNameLen bounds a table name, in bytes (as the meta server).
	MaxTableNameLen = 128
)

// Sentinel errors.
var (
	// ErrNoRoute: the table has no node under the root.
	ErrNoRoute = errors.New("route: no route for table")
	// ErrInvalidRoute: a route (given by a caller, or found in a node) is
	// malformed; the error says which field and why.
	ErrInvalidRoute = errors.New("route: invalid route")
	// ErrInvalidTable: a table name is not a valid Pegasus table name.
	ErrInvalidTable = errors.New("route: invalid table name")
)

// Route says which cluster serves a table. Its JSON form is the node's
// data.
type Route struct {
	// ClusterName names the cluster (as in [pegasus.clusters]); it is
	// informational for the proxy, which routes by MetaAddrs.
	ClusterName string `json:"cluster_name"`
	// MetaAddrs is the cluster's meta server list, "host:port" separated
	// by commas.
	MetaAddrs string `json:"meta_addrs"`
}

// New returns the route to cluster whose meta servers are metas, with the
// addresses trimmed and joined; it does not validate (see Validate).
func New(cluster string, metas []string) Route {
	out := make([]string, 0, len(metas))
	for _, m := range metas {
		if m = strings.TrimSpace(m); m != "" {
			out = append(out, m)
		}
	}
	return Route{ClusterName: strings.TrimSpace(cluster), MetaAddrs: strings.Join(out, ",")}
}

// Metas returns the meta server addresses of MetaAddrs, trimmed, in order,
// without empty entries.
func (r Route) Metas() []string {
	var out []string
	for a := range strings.SplitSeq(r.MetaAddrs, ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

// Key identifies the cluster a route leads to by its canonical meta list,
// so two routes with the same metas share one forwarding client.
func (r Route) Key() string { return strings.Join(r.Metas(), ",") }

// String returns "cluster (metas)".
func (r Route) String() string { return fmt.Sprintf("%s (%s)", r.ClusterName, r.Key()) }

// Validate reports the first problem of r as an ErrInvalidRoute.
func (r Route) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidRoute, fmt.Sprintf(format, args...))
	}
	switch {
	case r.ClusterName == "":
		return bad("cluster_name is empty")
	case len(r.ClusterName) > MaxClusterNameLen:
		return bad("cluster_name longer than %d bytes", MaxClusterNameLen)
	case strings.IndexFunc(r.ClusterName, func(c rune) bool { return unicode.IsControl(c) || unicode.IsSpace(c) }) >= 0:
		return bad("cluster_name %q contains spaces or control characters", r.ClusterName)
	}
	metas := r.Metas()
	if len(metas) == 0 {
		return bad("meta_addrs is empty: want host:port[,host:port...]")
	}
	if len(metas) > MaxMetaAddrs {
		return bad("meta_addrs lists %d servers, at most %d allowed", len(metas), MaxMetaAddrs)
	}
	seen := make(map[string]bool, len(metas))
	for _, m := range metas {
		host, port, err := net.SplitHostPort(m)
		if err != nil || host == "" || port == "" {
			return bad("meta_addrs: %q is not host:port", m)
		}
		if seen[m] {
			return bad("meta_addrs: %q listed twice", m)
		}
		seen[m] = true
	}
	return nil
}

// Encode returns the node data of a valid route.
func (r Route) Encode() ([]byte, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	r.MetaAddrs = r.Key()
	return json.Marshal(r)
}

// Decode parses and validates node data. Unknown fields are ignored.
func Decode(data []byte) (Route, error) {
	if len(data) > MaxRouteBytes {
		return Route{}, fmt.Errorf("%w: %d bytes, at most %d allowed", ErrInvalidRoute, len(data), MaxRouteBytes)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return Route{}, fmt.Errorf("%w: empty node, want {\"cluster_name\": ..., \"meta_addrs\": ...}", ErrInvalidRoute)
	}
	var r Route
	if err := json.Unmarshal(data, &r); err != nil {
		return Route{}, fmt.Errorf("%w: not a JSON object {\"cluster_name\", \"meta_addrs\"}: %v", ErrInvalidRoute, err)
	}
	if err := r.Validate(); err != nil {
		return Route{}, err
	}
	return r, nil
}

// CheckTable accepts a Pegasus table name (1..MaxTableNameLen bytes of
// letters, digits, '_', '.', '-' and ':') that is also a valid node name
// (not "." or "..").
func CheckTable(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty", ErrInvalidTable)
	case len(name) > MaxTableNameLen:
		return fmt.Errorf("%w: %.32q... longer than %d bytes", ErrInvalidTable, name, MaxTableNameLen)
	case name == "." || name == "..":
		return fmt.Errorf("%w: %q", ErrInvalidTable, name)
	}
	for _, c := range name {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-' || c == ':'
		if !ok {
			return fmt.Errorf("%w: %q: character %q not allowed (letters, digits, '_', '.', '-', ':')", ErrInvalidTable, name, c)
		}
	}
	return nil
}
