package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/pegasus-go/pegasus/metaproxy/route"
	"github.com/pegasus-go/pegasus/shared/coord"
)

const groupProxy = "meta proxy routes (ZooKeeper: --zk, --root)"

// Actions of the proxy command.
const (
	proxySet = "set"
	proxyGet = "get"
	proxyDel = "del"
	proxyLs  = "ls"
)

func proxyCommands() []*command {
	return []*command{{
		name: "proxy", group: groupProxy, noMeta: true,
		help: "manage the meta proxy's table routes: set <table> -c <cluster> -m <metas> | get <table> | del <table> | ls",
		long: "Routes live in ZooKeeper, one node <root>/<table> holding {\"cluster_name\", \"meta_addrs\"}; every metaproxy\n" +
			"watching that root picks a change up at once. --zk and --root may also be given once as global flags.\n" +
			"`proxy set` overwrites an existing route (it prints the previous one); see docs/metaproxy.md.",
		args: []argSpec{
			{name: "action", help: "set, get, del or ls"},
			{name: "table", help: "the table (set, get, del)", optional: true},
		},
		flags: []flagSpec{
			{short: "c", long: "cluster", kind: flagString, value: "cluster", help: "set: name of the cluster now serving the table"},
			{short: "m", long: "metas", kind: flagString, value: "host:port,...", help: "set: that cluster's meta servers"},
			{long: "zk", kind: flagString, value: "host:port,...", help: "ZooKeeper ensemble holding the routes (default: the global --zk)"},
			{long: "root", kind: flagString, value: "path", help: "path of the routes in ZooKeeper (default: the global --root, else " + route.DefaultRoot + ")"},
		},
		run: runProxy,
	}}
}

// jsonRoute is a route in JSON output.
type jsonRoute struct {
	Table       string     `json:"table"`
	ClusterName string     `json:"cluster_name,omitempty"`
	MetaAddrs   string     `json:"meta_addrs,omitempty"`
	Version     int32      `json:"version"`
	Node        string     `json:"node"`
	Error       string     `json:"error,omitempty"`
	Previous    *jsonRoute `json:"previous,omitempty"`
}

func routeJSON(reg *route.Registry, l route.Lookup) jsonRoute {
	j := jsonRoute{Table: l.Table, Version: l.Stat.Version, Node: l.Path(reg.Root())}
	if l.Invalid != nil {
		j.Error = l.Invalid.Error()
	} else {
		j.ClusterName, j.MetaAddrs = l.Route.ClusterName, l.Route.Key()
	}
	return j
}

func runProxy(ctx context.Context, s *session, in *input) error {
	action, table := in.arg(0), in.arg(1)
	switch action {
	case proxySet, proxyGet, proxyDel:
		if table == "" {
			return usagef("proxy %s: missing argument <table> (usage: %s)", action, in.cmd.usage())
		}
		if err := route.CheckTable(table); err != nil {
			return usagef("proxy %s: %v", action, err)
		}
	case proxyLs:
		if table != "" {
			return usagef("proxy ls: unexpected argument %q", table)
		}
	default:
		return usagef("proxy: unknown action %q: want set, get, del or ls (usage: %s)", action, in.cmd.usage())
	}
	var r route.Route
	if action == proxySet {
		if !in.has("cluster") || !in.has("metas") {
			return usagef("proxy set: -c <cluster> and -m <host:port,...> are required")
		}
		r = route.New(in.str("cluster"), strings.Split(in.str("metas"), ","))
		if err := r.Validate(); err != nil {
			return usagef("proxy set: %v", err)
		}
	} else if in.has("cluster") || in.has("metas") {
		return usagef("proxy %s: -c and -m only go with set", action)
	}
	zk, root := s.opts.zk, s.opts.root
	if in.has("zk") {
		zk = in.str("zk")
	}
	if in.has("root") {
		root = in.str("root")
	}
	hosts := parseList(strings.ReplaceAll(zk, " ", ""))
	if len(hosts) == 0 {
		return usagef("proxy %s: no ZooKeeper: pass --zk host:port[,host:port...]", action)
	}
	if root == "" {
		root = route.DefaultRoot
	}
	if err := route.CheckRoot(root); err != nil {
		return usagef("proxy %s: --root: %v", action, err)
	}
	reg, err := s.openRoutes(ctx, hosts, root)
	if err != nil {
		return failf(err, "proxy %s: ZooKeeper %s", action, strings.Join(hosts, ","))
	}
	defer reg.Close()
	switch action {
	case proxySet:
		return proxySetRoute(ctx, s, reg, table, r)
	case proxyGet:
		return proxyGetRoute(ctx, s, reg, table)
	case proxyDel:
		if err := reg.Delete(ctx, table, coord.AnyVersion); err != nil {
			return failf(err, "proxy del %s", table)
		}
		return s.emit(map[string]string{"table": table, "deleted": reg.Path(table)}, func(w io.Writer) error {
			_, err := fmt.Fprintf(w, "deleted the route of table %s (%s)\n", table, reg.Path(table))
			return err
		})
	}
	return proxyList(ctx, s, reg)
}

func proxySetRoute(ctx context.Context, s *session, reg *route.Registry, table string, r route.Route) error {
	var prev *route.Lookup
	old, st, err := reg.Get(ctx, table)
	switch {
	case err == nil:
		prev = &route.Lookup{Table: table, Found: true, Route: old, Stat: st}
	case errors.Is(err, route.ErrInvalidRoute):
		prev = &route.Lookup{Table: table, Found: true, Stat: st, Invalid: err}
	case !errors.Is(err, route.ErrNoRoute):
		return failf(err, "proxy set %s", table)
	}
	version := coord.AnyVersion
	if prev != nil {
		// Overwrite exactly what was read, so a concurrent change is not
		// silently lost.
		version = prev.Stat.Version
	}
	var nst coord.Stat
	if prev == nil {
		nst, err = reg.Create(ctx, table, r)
	} else {
		nst, err = reg.Set(ctx, table, r, version)
	}
	if errors.Is(err, coord.ErrBadVersion) || errors.Is(err, coord.ErrNodeExists) || errors.Is(err, route.ErrNoRoute) {
		return failf(err, "proxy set %s: the route changed meanwhile; run it again", table)
	}
	if err != nil {
		return failf(err, "proxy set %s", table)
	}
	j := routeJSON(reg, route.Lookup{Table: table, Found: true, Route: r, Stat: nst})
	if prev != nil {
		p := routeJSON(reg, *prev)
		j.Previous = &p
	}
	return s.emit(j, func(w io.Writer) error {
		was := "new route"
		if j.Previous != nil {
			was = "was " + describeRoute(*j.Previous)
		}
		_, err := fmt.Fprintf(w, "table %s -> %s, version %d (%s)\n", table, describeRoute(j), j.Version, was)
		return err
	})
}

func describeRoute(j jsonRoute) string {
	if j.Error != "" {
		return "an invalid route"
	}
	return fmt.Sprintf("cluster %s, metas %s", j.ClusterName, j.MetaAddrs)
}

func proxyGetRoute(ctx context.Context, s *session, reg *route.Registry, table string) error {
	r, st, err := reg.Get(ctx, table)
	if err != nil {
		return failf(err, "proxy get %s", table)
	}
	j := routeJSON(reg, route.Lookup{Table: table, Found: true, Route: r, Stat: st})
	return s.emit(j, func(w io.Writer) error {
		return renderPairs(w, [][2]string{
			{"table", table}, {"cluster_name", j.ClusterName}, {"meta_addrs", j.MetaAddrs},
			{"version", fmt.Sprint(j.Version)}, {"node", j.Node},
		})
	})
}

func proxyList(ctx context.Context, s *session, reg *route.Registry) error {
	ls, err := reg.List(ctx)
	if err != nil {
		return failf(err, "proxy ls")
	}
	out := make([]jsonRoute, len(ls))
	rows := make([][]any, len(ls))
	for i, l := range ls {
		out[i] = routeJSON(reg, l)
		cluster, metas := out[i].ClusterName, out[i].MetaAddrs
		if out[i].Error != "" {
			cluster, metas = "(invalid)", out[i].Error
		}
		rows[i] = []any{l.Table, cluster, metas, l.Stat.Version}
	}
	return s.emit(struct {
		Root   string      `json:"root"`
		Routes []jsonRoute `json:"routes"`
	}{reg.Root(), out}, func(w io.Writer) error {
		if len(rows) == 0 {
			_, err := fmt.Fprintf(w, "no routes under %s\n", reg.Root())
			return err
		}
		return renderTable(w, []string{"table", "cluster", "meta_addrs", "version"}, rows)
	})
}
