package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/pegasus-go/pegasus/client-go/admin"
	"github.com/pegasus-go/pegasus/client-go/pegasus"
	"github.com/pegasus-go/pegasus/metaproxy/route"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

const groupMigrate = "migration"

// defaultReplicaHTTPPortOffset is a replica server's HTTP port minus its
// RPC port with the daemons' default addresses (34801 -> 35801), the
// collector's convention too.
const defaultReplicaHTTPPortOffset = 1000

// Bounds of a scraped /metrics page.
const (
	maxMetricsBytes = 64 << 20
	maxMetricsLine  = 1 << 20
)

// migrateProbeKey is the hash key of the record step 8 reads on the
// target (it need not exist).
const migrateProbeKey = "__migrate_table_probe__"

func migrateCommands() []*command {
	return []*command{{
		name: "migrate_table", group: groupMigrate,
		help: "move a table to another cluster while it serves (duplication, drain, proxy route switch)",
		long: "The table must be reached through a metaproxy whose route (<root>/<table>) leads to this cluster (-m).\n" +
			"Steps: 1 check, 2 full duplication to the target, 3 wait for DS_LOG and a small backlog,\n" +
			"4 deny writes here (replica.deny_client_request=timeout*write), 5 wait until every partition shipped\n" +
			"everything, 6 switch the route (compare-and-set), 7 replica.deny_client_request=reconfig*all here,\n" +
			"8 verify this cluster's request counters stand still and the target serves. A failure before the switch\n" +
			"re-enables writes here; rerunning resumes. The command is not bound by --timeout (which bounds each call).\n" +
			"See docs/migration.md.",
		args: []argSpec{{name: "table", help: "the table to move", table: true}},
		flags: []flagSpec{
			{short: "c", long: "cluster", kind: flagString, value: "cluster", required: true, help: "the target cluster, as named in this cluster's [pegasus.clusters]"},
			{long: "zk", kind: flagString, value: "host:port,...", help: "ZooKeeper ensemble holding the routes (default: the global --zk)"},
			{long: "root", kind: flagString, value: "path", help: "path of the routes in ZooKeeper (default: the global --root, else " + route.DefaultRoot + ")"},
			{long: "target_metas", kind: flagString, value: "host:port,...", help: "the target's meta servers (default: from the duplication, else another route to the target)"},
			{long: "max_backlog", kind: flagInt, value: "N", help: fmt.Sprintf("step 3: deny writes once at most N mutations wait to be shipped (default %d)", defaultMigrateMaxBacklog)},
			{long: "interval", kind: flagString, value: "D", help: fmt.Sprintf("time between polls and progress lines (default %v)", defaultMigrateInterval)},
			{long: "copy_timeout", kind: flagString, value: "D", help: "step 3: give up after D (default: wait as long as the copy takes)"},
			{long: "drain_timeout", kind: flagString, value: "D", help: fmt.Sprintf("step 5: give up (and re-enable writes) D after the deny (default %v)", defaultMigrateDrainTimeout)},
			{long: "quiet", kind: flagString, value: "D", help: fmt.Sprintf("step 5: a partition's committed decree must hold still this long (default %v)", defaultMigrateQuiet)},
			{long: "verify_timeout", kind: flagString, value: "D", help: fmt.Sprintf("step 8: give up after D (default %v)", defaultMigrateVerifyTimeout)},
			{long: "qps_window", kind: flagString, value: "D", help: fmt.Sprintf("step 8: the source's request counters must stand still this long (default %v)", defaultMigrateQPSWindow)},
			{long: "replica_http_port_offset", kind: flagInt, value: "N", help: fmt.Sprintf("a replica server's HTTP port is its RPC port plus N (default %d)", defaultReplicaHTTPPortOffset)},
			{long: "http_addresses", kind: flagString, value: "rpc=http,...", help: "explicit HTTP endpoints of replica servers, by RPC address"},
			{long: "allow_incremental", kind: flagBool, help: "step 2: accept a live incremental duplication to the target (its earlier data copied otherwise)"},
		},
		run: runMigrateTable,
	}}
}

// durationFlag returns a duration flag's value, def when absent.
func durationFlag(in *input, long string, def time.Duration, allowZero bool) (time.Duration, error) {
	if !in.has(long) {
		return def, nil
	}
	d, err := time.ParseDuration(in.str(long))
	if err != nil || d < 0 || (d == 0 && !allowZero) {
		return 0, usagef("%s: flag --%s: %q is not a positive duration (e.g. 30s)", in.cmd.name, long, in.str(long))
	}
	return d, nil
}

func parseMigrateOptions(s *session, in *input) (migrateOptions, error) {
	o := migrateOptions{
		Table: in.arg(0), Target: in.str("cluster"), MaxBacklog: in.integer("max_backlog", defaultMigrateMaxBacklog),
		CallTimeout: s.opts.timeout, AllowIncremental: in.boolean("allow_incremental"),
	}
	if err := admin.CheckAppName(o.Table); err != nil {
		return o, usagef("migrate_table: %v", err)
	}
	if o.Target == "" || strings.ContainsAny(o.Target, " \t,") {
		return o, usagef("migrate_table: -c %q: want a cluster name", o.Target)
	}
	if o.MaxBacklog < 0 {
		return o, usagef("migrate_table: --max_backlog %d: want >= 0", o.MaxBacklog)
	}
	if in.has("target_metas") {
		o.TargetMetas = parseList(strings.ReplaceAll(in.str("target_metas"), " ", ""))
		if err := route.New(o.Target, o.TargetMetas).Validate(); err != nil {
			return o, usagef("migrate_table: --target_metas: %v", err)
		}
	}
	var err error
	for _, d := range []struct {
		flag      string
		to        *time.Duration
		def       time.Duration
		allowZero bool
	}{
		{"interval", &o.Interval, defaultMigrateInterval, false},
		{"copy_timeout", &o.CopyTimeout, 0, true},
		{"drain_timeout", &o.DrainTimeout, defaultMigrateDrainTimeout, false},
		{"quiet", &o.Quiet, defaultMigrateQuiet, true},
		{"verify_timeout", &o.VerifyTimeout, defaultMigrateVerifyTimeout, false},
		{"qps_window", &o.QPSWindow, defaultMigrateQPSWindow, false},
	} {
		if *d.to, err = durationFlag(in, d.flag, d.def, d.allowZero); err != nil {
			return o, err
		}
	}
	return o, nil
}

// nodeHTTPMapper maps replica server RPC addresses to HTTP endpoints:
// explicit entries first, else the RPC port plus offset.
func nodeHTTPMapper(in *input) (func(string) (string, error), error) {
	offset := in.integer("replica_http_port_offset", defaultReplicaHTTPPortOffset)
	if offset < -65535 || offset > 65535 {
		return nil, usagef("migrate_table: --replica_http_port_offset %d: out of range", offset)
	}
	explicit := map[string]string{}
	if in.has("http_addresses") {
		kv, err := parseKVList("migrate_table", "--http_addresses", in.str("http_addresses"))
		if err != nil {
			return nil, err
		}
		for k, v := range kv {
			if _, _, err := net.SplitHostPort(v); err != nil {
				return nil, usagef("migrate_table: --http_addresses: %s=%s: %v", k, v, err)
			}
		}
		explicit = kv
	}
	return func(rpcAddr string) (string, error) {
		if h, ok := explicit[rpcAddr]; ok {
			return h, nil
		}
		host, port, err := net.SplitHostPort(rpcAddr)
		if err != nil {
			return "", fmt.Errorf("replica server address %q: %w", rpcAddr, err)
		}
		p, err := strconv.Atoi(port)
		if err != nil || p+int(offset) <= 0 || p+int(offset) > 65535 {
			return "", fmt.Errorf("replica server %s: port %s plus --replica_http_port_offset %d is not a port; name it in --http_addresses", rpcAddr, port, offset)
		}
		return net.JoinHostPort(host, strconv.Itoa(p+int(offset))), nil
	}, nil
}

func runMigrateTable(_ context.Context, s *session, in *input) error {
	opt, err := parseMigrateOptions(s, in)
	if err != nil {
		return err
	}
	nodeHTTP, err := nodeHTTPMapper(in)
	if err != nil {
		return err
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
		return usagef("migrate_table: no ZooKeeper: pass --zk host:port[,host:port...] (where the metaproxy routes live)")
	}
	if root == "" {
		root = route.DefaultRoot
	}
	if err := route.CheckRoot(root); err != nil {
		return usagef("migrate_table: --root: %v", err)
	}
	// The migration may take hours: it runs under the session's context,
	// and --timeout bounds each call instead.
	ctx := s.ctx
	octx, cancel := context.WithTimeout(ctx, s.opts.timeout)
	reg, err := s.openRoutes(octx, hosts, root)
	cancel()
	if err != nil {
		return failf(err, "migrate_table %s: ZooKeeper %s", opt.Table, strings.Join(hosts, ","))
	}
	defer reg.Close()
	progress := s.out
	if s.opts.json {
		progress = s.env.Stderr
	}
	httpClient := &http.Client{}
	defer httpClient.CloseIdleConnections()
	m := &migration{
		opt: opt, src: s.admin, routes: reg, counter: httpRequestCounter{client: httpClient},
		nodeHTTP: nodeHTTP, clock: realClock{}, out: progress,
		openTarget: func(_ context.Context, metas []string) (migrateTarget, error) {
			t, err := openClusterTarget(metas, s)
			if err != nil {
				return nil, err
			}
			return t, nil
		},
	}
	res, err := m.run(ctx)
	if err != nil {
		return failf(err, "migrate_table %s", opt.Table)
	}
	return s.emit(res, func(w io.Writer) error {
		pause := "unknown (measured by the run that switched the route)"
		if res.WritePauseMs >= 0 {
			pause = (time.Duration(res.WritePauseMs) * time.Millisecond).String()
		}
		_, err := fmt.Fprintf(w, "migrate_table %s: done: %s now serves %s (route %s version %d); write pause %s\n",
			res.Table, res.TargetCluster, res.Table, res.RouteNode, res.RouteVersion, pause)
		if err == nil && res.DupID != 0 {
			_, err = fmt.Fprintf(w, "duplication %d from %s keeps running: remove it (dup remove -d %d -a %s on %s) once no client uses %s there\n",
				res.DupID, res.SourceCluster, res.DupID, res.Table, res.SourceCluster, res.SourceCluster)
		}
		return err
	})
}

// clusterTarget is a migrateTarget on a real cluster.
type clusterTarget struct {
	admin *admin.Client
	data  *pegasus.Client
}

func openClusterTarget(metas []string, s *session) (*clusterTarget, error) {
	ac, err := admin.New(admin.Config{MetaServers: metas, Timeout: s.opts.timeout}, admin.WithLogger(s.logger))
	if err != nil {
		return nil, err
	}
	dc, err := pegasus.NewClient(pegasus.Config{MetaServers: metas, OperationTimeout: s.opts.timeout}, pegasus.WithLogger(s.logger))
	if err != nil {
		_ = ac.Close()
		return nil, err
	}
	return &clusterTarget{admin: ac, data: dc}, nil
}

func (t *clusterTarget) QueryConfig(ctx context.Context, name string) (*protocol.QueryConfigResponse, error) {
	return t.admin.QueryConfig(ctx, name)
}

func (t *clusterTarget) Read(ctx context.Context, table string) error {
	tb, err := t.data.OpenTable(ctx, table)
	if err != nil {
		return err
	}
	if _, err := tb.Get(ctx, []byte(migrateProbeKey), nil); err != nil && !errors.Is(err, pegasus.ErrNotFound) {
		return err
	}
	return nil
}

func (t *clusterTarget) Close() error {
	return errors.Join(t.data.Close(), t.admin.Close())
}

// httpRequestCounter reads replica servers' /metrics pages.
type httpRequestCounter struct{ client *http.Client }

func (c httpRequestCounter) Requests(ctx context.Context, httpAddr string, appID int32, table string) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+httpAddr+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	return sumTableRequests(io.LimitReader(resp.Body, maxMetricsBytes), appID, table)
}

// sumTableRequests sums, over a Prometheus text page, the client request
// counters (<op>_qps_total, not duplicate_qps_total which counts
// duplication traffic) labelled with the table and app id.
func sumTableRequests(r io.Reader, appID int32, table string) (float64, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), maxMetricsLine)
	id := strconv.Itoa(int(appID))
	var sum float64
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		name, labels, value, err := parseSample(line)
		if err != nil {
			return 0, fmt.Errorf("/metrics line %d: %w", n, err)
		}
		if !strings.HasSuffix(name, "_qps_total") || name == "duplicate_qps_total" ||
			labels["table"] != table || labels["app_id"] != id {
			continue
		}
		sum += value
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("/metrics: %w", err)
	}
	return sum, nil
}

// parseSample parses one sample line of the Prometheus text format:
// name{k="v",...} value [timestamp].
func parseSample(line string) (name string, labels map[string]string, value float64, err error) {
	i := strings.IndexAny(line, "{ \t")
	if i <= 0 {
		return "", nil, 0, fmt.Errorf("no value in %q", line)
	}
	name, rest := line[:i], line[i:]
	labels = map[string]string{}
	if rest[0] == '{' {
		rest = rest[1:]
		for {
			rest = strings.TrimLeft(rest, " \t,")
			if rest == "" {
				return "", nil, 0, fmt.Errorf("unterminated labels in %q", line)
			}
			if rest[0] == '}' {
				rest = rest[1:]
				break
			}
			eq := strings.IndexByte(rest, '=')
			if eq <= 0 || len(rest) < eq+2 || rest[eq+1] != '"' {
				return "", nil, 0, fmt.Errorf("malformed label in %q", line)
			}
			key := strings.TrimSpace(rest[:eq])
			var b strings.Builder
			j := eq + 2
			for ; j < len(rest) && rest[j] != '"'; j++ {
				c := rest[j]
				if c == '\\' && j+1 < len(rest) {
					j++
					switch rest[j] {
					case 'n':
						c = '\n'
					default:
						c = rest[j]
					}
				}
				b.WriteByte(c)
			}
			if j >= len(rest) {
				return "", nil, 0, fmt.Errorf("unterminated label value in %q", line)
			}
			labels[key] = b.String()
			rest = rest[j+1:]
		}
	}
	fields := strings.Fields(rest)
	if len(fields) == 0 {
		return "", nil, 0, fmt.Errorf("no value in %q", line)
	}
	value, err = strconv.ParseFloat(fields[0], 64)
	if err != nil {
		return "", nil, 0, fmt.Errorf("value of %s: %w", name, err)
	}
	return name, labels, value, nil
}
