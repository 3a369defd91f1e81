package cli

// migrate_table: hot migration of one table to another cluster behind the
// meta proxy, as a step machine over small interfaces (the source meta,
// the target cluster, the route registry, the replica servers' request
// counters, a clock), so every step and every failure point is testable
// with fakes. See docs/migration.md for the operator's view.
//
//	1 check     table on the source, route -> source (or already -> target: resume at 7)
//	2 dup       full duplication to the target: started, or the live one reused
//	3 copy      wait for DS_LOG and a backlog under --max_backlog
//	4 deny      source env replica.deny_client_request=timeout*write  (write pause starts)
//	5 drain     every partition: confirmed decree == committed decree, fresh and quiet
//	6 switch    route -> target, compare-and-set on the version read   (write pause ends)
//	7 reconfig  source env replica.deny_client_request=reconfig*all
//	8 verify    source request counters still, late writes shipped, target serves
//
// Failure before the route switched: the deny env is deleted (writes
// re-enabled) and the error says so. Failure after it: nothing is undone
// (the source must not take writes again); rerunning resumes at step 7.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/pegasus-go/pegasus/metaproxy/route"
	"github.com/pegasus-go/pegasus/shared/coord"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

// envDenyClientRequest is the table env replica servers enforce
// (timeout|reconfig * read|write|all).
const envDenyClientRequest = "replica.deny_client_request"

// Values of envDenyClientRequest migrate_table sets.
const (
	denyTimeoutWrite = "timeout*write" // step 4: writes dropped silently, reads served
	denyReconfigAll  = "reconfig*all"  // step 7: every request answered ERR_INVALID_STATE
)

// errDupRemoved: the duplication migrate_table follows was removed while
// it waited on it.
var errDupRemoved = errors.New("removed meanwhile")

// migratePollErrorLimit is how many consecutive failed polls of the
// source meta a step without a deadline (the copy) tolerates.
const migratePollErrorLimit = 30

// migrateSource is the source cluster's meta leader (an *admin.Client).
type migrateSource interface {
	ClusterInfo(ctx context.Context) (*protocol.ClusterInfoResponse, error)
	QueryConfig(ctx context.Context, name string) (*protocol.QueryConfigResponse, error)
	AddDuplication(ctx context.Context, app, remoteCluster string, full bool) (*protocol.AddDuplicationResponse, error)
	QueryDuplication(ctx context.Context, app string) (*protocol.QueryDuplicationResponse, error)
	ModifyDuplication(ctx context.Context, req *protocol.ModifyDuplicationRequest) (*protocol.ModifyDuplicationResponse, error)
	GetAppEnvs(ctx context.Context, name string) (map[string]string, error)
	SetAppEnvs(ctx context.Context, name string, envs map[string]string) error
	DelAppEnvs(ctx context.Context, name string, keys []string) ([]string, error)
	ListNodes(ctx context.Context, status protocol.NodeStatus) ([]protocol.NodeInfo, error)
	MetaServers() []string
}

// migrateTarget is the target cluster, opened on its meta servers.
type migrateTarget interface {
	// QueryConfig is the target meta's partition configuration of a
	// table (protocol.CodeAppNotExist when it has none).
	QueryConfig(ctx context.Context, name string) (*protocol.QueryConfigResponse, error)
	// Read reads one record of the table through the data client; a
	// missing record counts as served.
	Read(ctx context.Context, table string) error
	Close() error
}

// routeStore is the meta proxy's routing table (a *route.Registry).
type routeStore interface {
	Get(ctx context.Context, table string) (route.Route, coord.Stat, error)
	Set(ctx context.Context, table string, r route.Route, version int32) (coord.Stat, error)
	List(ctx context.Context) ([]route.Lookup, error)
	Path(table string) string
}

// requestCounter reads the request counters of a table on one replica
// server.
type requestCounter interface {
	// Requests returns the sum of the client request counters
	// (<op>_qps_total) of the table with app id appID on the replica
	// server whose HTTP endpoint is httpAddr.
	Requests(ctx context.Context, httpAddr string, appID int32, table string) (float64, error)
}

// migrateClock is the time source of the step machine; tests inject a
// fake whose Sleep advances its Now.
type migrateClock interface {
	Now() time.Time
	// Sleep waits d or until ctx ends (then it returns ctx.Err()).
	Sleep(ctx context.Context, d time.Duration) error
}

// realClock is the wall clock.
type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// migrateOptions are migrate_table's parameters.
type migrateOptions struct {
	Table  string
	Target string // target cluster name (in the source meta's [pegasus.clusters])
	// TargetMetas overrides where the target's meta servers are looked up
	// (the duplication's RemoteMetas, else another route naming the
	// target cluster).
	TargetMetas []string
	// MaxBacklog: step 3 ends when the duplication's pending mutations,
	// summed over the partitions, are at most this.
	MaxBacklog int64
	// Interval between two polls, and between two progress lines.
	Interval time.Duration
	// CopyTimeout bounds step 3 (0: no bound).
	CopyTimeout time.Duration
	// DrainTimeout bounds step 5, measured from the deny.
	DrainTimeout time.Duration
	// Quiet: in step 5 a partition counts as drained when its committed
	// decree has not moved for this long in the primary's reports (so a
	// replica that has not yet applied the deny env is not taken for
	// drained).
	Quiet time.Duration
	// VerifyTimeout bounds step 8.
	VerifyTimeout time.Duration
	// QPSWindow is how long the source's request counters must stay still
	// in step 8.
	QPSWindow time.Duration
	// CallTimeout bounds one call to a meta server, ZooKeeper or a replica
	// server.
	CallTimeout time.Duration
	// AllowIncremental lets step 2 reuse a live incremental duplication
	// (whose earlier data must have been copied some other way).
	AllowIncremental bool
}

// Defaults of migrateOptions.
const (
	defaultMigrateMaxBacklog    = 1000
	defaultMigrateInterval      = time.Second
	defaultMigrateDrainTimeout  = 30 * time.Second
	defaultMigrateQuiet         = time.Second
	defaultMigrateVerifyTimeout = time.Minute
	defaultMigrateQPSWindow     = 2 * time.Second
)

// migrateResult is what a migration did; it is the --json output.
type migrateResult struct {
	Table         string   `json:"table"`
	SourceCluster string   `json:"source_cluster"`
	TargetCluster string   `json:"target_cluster"`
	TargetMetas   []string `json:"target_metas"`
	DupID         int32    `json:"dupid,omitempty"`
	RouteNode     string   `json:"route_node"`
	RouteVersion  int32    `json:"route_version"`
	// Resumed: the route had been switched by an earlier run, which
	// measured the write pause.
	Resumed bool `json:"resumed"`
	// WritePauseMs is the time from the deny (step 4) to the route switch
	// (step 6); -1 when unknown (resumed).
	WritePauseMs int64 `json:"write_pause_ms"`
	// Steps lists the steps done, by name.
	Steps []string `json:"steps"`
}

// migration is one run of the step machine. It is used by one goroutine.
type migration struct {
	opt        migrateOptions
	src        migrateSource
	routes     routeStore
	openTarget func(ctx context.Context, metas []string) (migrateTarget, error)
	counter    requestCounter
	// nodeHTTP maps a replica server's RPC address to its HTTP endpoint.
	nodeHTTP func(rpcAddr string) (string, error)
	clock    migrateClock
	out      io.Writer // progress lines

	// Learned on the way.
	srcName        string
	srcMetas       []string
	appID          int32
	partitionCount int32
	routeVersion   int32
	switched       bool // the route points at the target
	routeUnknown   bool // a route write failed and reading it back failed too
	denied         bool // the source may deny writes (set by this run or an earlier one)
	dup            *protocol.DuplicationEntry
	targetMetas    []string
	target         migrateTarget
	denyAt         time.Time
	reconfigAt     time.Time
	res            migrateResult
}

// migrateStep is one step of the machine.
type migrateStep struct {
	name string
	// resumable steps run even when the route was already switched.
	afterSwitch bool
	run         func(m *migration, ctx context.Context) error
}

// migrateStepCount is len(migrateSteps).
const migrateStepCount = 8

var migrateSteps = [migrateStepCount]migrateStep{
	{"check", true, (*migration).check},
	{"duplicate", false, (*migration).duplicate},
	{"copy", false, (*migration).waitCopy},
	{"deny writes", false, (*migration).deny},
	{"drain", false, (*migration).drain},
	{"switch route", false, (*migration).switchRoute},
	{"turn source away", true, (*migration).reconfig},
	{"verify", true, (*migration).verify},
}

// stepError is a failed step, with the state the failure left behind.
type stepError struct {
	step  int // 1-based
	name  string
	err   error
	state string
}

func (e *stepError) Error() string {
	return fmt.Sprintf("step %d/%d (%s): %v; %s", e.step, migrateStepCount, e.name, e.err, e.state)
}

func (e *stepError) Unwrap() error { return e.err }

// run executes the steps in order and returns the result, or the first
// failure as a *stepError after making the state safe.
func (m *migration) run(ctx context.Context) (migrateResult, error) {
	m.res = migrateResult{Table: m.opt.Table, TargetCluster: m.opt.Target, WritePauseMs: -1, RouteNode: m.routes.Path(m.opt.Table)}
	defer func() {
		if m.target != nil {
			_ = m.target.Close()
		}
	}()
	for i, st := range migrateSteps {
		if m.switched && !st.afterSwitch {
			m.printf(i, st.name, "skipped: the route already points at %s", m.opt.Target)
			continue
		}
		if err := st.run(m, ctx); err != nil {
			return m.res, m.fail(i, st.name, err)
		}
		m.res.Steps = append(m.res.Steps, st.name)
	}
	m.res.SourceCluster, m.res.TargetMetas, m.res.RouteVersion = m.srcName, m.targetMetas, m.routeVersion
	if m.dup != nil {
		m.res.DupID = m.dup.DupID
	}
	return m.res, nil
}

// printf prints one progress line of step i (0-based).
func (m *migration) printf(i int, name, format string, args ...any) {
	fmt.Fprintf(m.out, "[%d/%d] %s: %s\n", i+1, migrateStepCount, name, fmt.Sprintf(format, args...))
}

// call returns a context bounding one remote call.
func (m *migration) call(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, m.opt.CallTimeout)
}

// fail makes the state safe after step i failed with err and describes
// it: before the route switch, writes are re-enabled on the source.
func (m *migration) fail(i int, name string, err error) error {
	se := &stepError{step: i + 1, name: name, err: err}
	switch {
	case m.routeUnknown:
		se.state = fmt.Sprintf("whether the route %s was switched is unknown, so writes stay denied on %s: check it with `proxy get %s`; "+
			"if it leads to %s rerun migrate_table, else run `del_app_envs -a %s -k %s` on %s (or rerun migrate_table)",
			m.routes.Path(m.opt.Table), m.srcName, m.opt.Table, m.opt.Target, m.opt.Table, envDenyClientRequest, m.srcName)
	case m.switched:
		se.state = fmt.Sprintf("the route already points at %s, so the source %s keeps denying requests; rerun migrate_table to finish (it resumes after the switch)",
			m.opt.Target, m.srcName)
	case m.denied:
		// The caller's context may be what failed: restore regardless.
		ctx, cancel := context.WithTimeout(context.Background(), m.opt.CallTimeout)
		defer cancel()
		if _, derr := m.src.DelAppEnvs(ctx, m.opt.Table, []string{envDenyClientRequest}); derr != nil {
			se.state = fmt.Sprintf("the route still points at %s but writes are STILL DENIED there: re-enabling them failed (%v); run `del_app_envs -a %s -k %s` on %s now, then rerun migrate_table",
				m.srcName, derr, m.opt.Table, envDenyClientRequest, m.srcName)
		} else {
			m.denied = false
			se.state = fmt.Sprintf("writes re-enabled on %s (%s deleted); the route still points at %s; rerun migrate_table to try again (the duplication keeps running)",
				m.srcName, envDenyClientRequest, m.srcName)
		}
	default:
		se.state = fmt.Sprintf("nothing was changed on %s: it serves the table as before; rerun migrate_table to try again", nonEmpty(m.srcName, "the source"))
		if m.dup != nil {
			se.state += " (the duplication keeps running)"
		}
	}
	m.printf(i, name, "FAILED: %v", err)
	m.printf(i, name, "state: %s", se.state)
	return se
}

func nonEmpty(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// routeSide says where a route leads.
type routeSide int

const (
	routeElsewhere routeSide = iota
	routeSource
	routeTarget
)

func (m *migration) classify(r route.Route) routeSide {
	switch {
	case overlaps(r.Metas(), m.srcMetas):
		return routeSource
	case r.ClusterName == m.opt.Target, len(m.targetMetas) > 0 && overlaps(r.Metas(), m.targetMetas):
		return routeTarget
	}
	return routeElsewhere
}

func overlaps(a, b []string) bool {
	return slices.ContainsFunc(a, func(x string) bool { return slices.Contains(b, x) })
}

// readRoute reads the table's route and classifies it.
func (m *migration) readRoute(ctx context.Context) (route.Route, coord.Stat, routeSide, error) {
	cctx, cancel := m.call(ctx)
	defer cancel()
	r, st, err := m.routes.Get(cctx, m.opt.Table)
	switch {
	case errors.Is(err, route.ErrNoRoute):
		return r, st, routeElsewhere, fmt.Errorf("table %s has no meta proxy route (%v): applications cannot be reaching it through a metaproxy; "+
			"run `proxy set %s -c %s -m %s` first, move the applications to the proxy, then rerun",
			m.opt.Table, err, m.opt.Table, m.srcName, strings.Join(m.srcMetas, ","))
	case err != nil:
		return r, st, routeElsewhere, fmt.Errorf("read the route %s: %w", m.routes.Path(m.opt.Table), err)
	}
	return r, st, m.classify(r), nil
}

// findDup returns the live duplication of the table to the target, or nil.
func (m *migration) findDup(ctx context.Context) (*protocol.DuplicationEntry, error) {
	cctx, cancel := m.call(ctx)
	defer cancel()
	q, err := m.src.QueryDuplication(cctx, m.opt.Table)
	if err != nil {
		return nil, fmt.Errorf("query the duplications of %s on %s: %w", m.opt.Table, m.srcName, err)
	}
	for i := range q.Dups {
		d := &q.Dups[i]
		if d.Status == protocol.DupStatusRemoved || d.RemoteCluster != m.opt.Target {
			continue
		}
		if d.RemoteAppName != "" && d.RemoteAppName != m.opt.Table {
			continue
		}
		return d, nil
	}
	return nil, nil
}

// dupByID returns the duplication m.dup by id, failing when it is gone.
func (m *migration) dupByID(ctx context.Context) (*protocol.DuplicationEntry, error) {
	cctx, cancel := m.call(ctx)
	defer cancel()
	q, err := m.src.QueryDuplication(cctx, m.opt.Table)
	if err != nil {
		return nil, fmt.Errorf("query the duplications of %s on %s: %w", m.opt.Table, m.srcName, err)
	}
	for i := range q.Dups {
		if d := &q.Dups[i]; d.DupID == m.dup.DupID {
			if d.Status == protocol.DupStatusRemoved {
				break
			}
			return d, nil
		}
	}
	return nil, fmt.Errorf("duplication %d of %s to %s: %w", m.dup.DupID, m.opt.Table, m.opt.Target, errDupRemoved)
}

// check is step 1.
func (m *migration) check(ctx context.Context) error {
	const i, name = 0, "check"
	cctx, cancel := m.call(ctx)
	ci, err := m.src.ClusterInfo(cctx)
	cancel()
	if err != nil {
		return fmt.Errorf("source meta servers %s: %w", strings.Join(m.src.MetaServers(), ","), err)
	}
	m.srcName = ci.ClusterName
	m.srcMetas = slices.Compact(slices.Sorted(slices.Values(append(slices.Clone(ci.MetaServers), m.src.MetaServers()...))))
	if m.srcName == m.opt.Target {
		return fmt.Errorf("the target cluster %s is the source cluster", m.opt.Target)
	}
	cctx, cancel = m.call(ctx)
	qc, err := m.src.QueryConfig(cctx, m.opt.Table)
	cancel()
	if err != nil {
		return fmt.Errorf("table %s on the source %s: %w", m.opt.Table, m.srcName, err)
	}
	m.appID, m.partitionCount = qc.App.AppID, qc.App.PartitionCount
	cctx, cancel = m.call(ctx)
	envs, err := m.src.GetAppEnvs(cctx, m.opt.Table)
	cancel()
	if err != nil {
		return fmt.Errorf("envs of %s on %s: %w", m.opt.Table, m.srcName, err)
	}
	m.targetMetas = slices.Clone(m.opt.TargetMetas)
	r, st, side, err := m.readRoute(ctx)
	if err != nil {
		return err
	}
	m.routeVersion = st.Version
	if m.dup, err = m.findDup(ctx); err != nil {
		return err
	}
	switch side {
	case routeSource:
	case routeTarget:
		m.switched = true
		m.targetMetas = r.Metas()
		m.res.Resumed = true
	default:
		return fmt.Errorf("the route %s leads to %s, neither the source %s (%s) nor the target %s; fix it with `proxy set` first",
			m.routes.Path(m.opt.Table), r, m.srcName, strings.Join(m.srcMetas, ","), m.opt.Target)
	}
	m.printf(i, name, "table %s (app id %d, %d partitions) on %s; route %s version %d -> %s",
		m.opt.Table, m.appID, m.partitionCount, m.srcName, m.routes.Path(m.opt.Table), st.Version, r)
	deny := envs[envDenyClientRequest]
	switch {
	case m.switched:
		m.printf(i, name, "the route was switched to %s by an earlier run: resuming at step 7", m.opt.Target)
	case deny == denyTimeoutWrite:
		m.denied = true
		m.printf(i, name, "writes are already denied on %s (%s=%s, left by an earlier run)", m.srcName, envDenyClientRequest, deny)
	case deny != "":
		// The route leads here, so the source must serve: a failure
		// before the switch deletes this env too.
		m.denied = true
		m.printf(i, name, "note: %s=%s on %s although the route leads there; step 4 replaces it (a failure before the switch deletes it)",
			envDenyClientRequest, deny, m.srcName)
	}
	if len(m.targetMetas) == 0 && m.dup != nil {
		m.targetMetas = slices.Clone(m.dup.RemoteMetas)
	}
	if len(m.targetMetas) == 0 {
		if m.targetMetas, err = m.targetFromRoutes(ctx); err != nil {
			return err
		}
	}
	if len(m.targetMetas) == 0 {
		m.printf(i, name, "target %s: meta servers not known yet (the duplication will name them)", m.opt.Target)
		return nil
	}
	return m.checkTarget(ctx, i, name)
}

// targetFromRoutes returns the meta servers of another table's route
// naming the target cluster, or nil.
func (m *migration) targetFromRoutes(ctx context.Context) ([]string, error) {
	cctx, cancel := m.call(ctx)
	defer cancel()
	ls, err := m.routes.List(cctx)
	if err != nil {
		return nil, fmt.Errorf("list the meta proxy routes: %w", err)
	}
	for _, l := range ls {
		if l.Found && l.Invalid == nil && l.Route.ClusterName == m.opt.Target {
			return l.Route.Metas(), nil
		}
	}
	return nil, nil
}

// checkTarget opens the target and checks the table there agrees with
// the state: absent before a full duplication, present after.
func (m *migration) checkTarget(ctx context.Context, i int, name string) error {
	if m.target == nil {
		cctx, cancel := m.call(ctx)
		t, err := m.openTarget(cctx, m.targetMetas)
		cancel()
		if err != nil {
			return fmt.Errorf("open the target %s (%s): %w", m.opt.Target, strings.Join(m.targetMetas, ","), err)
		}
		m.target = t
	}
	cctx, cancel := m.call(ctx)
	qc, err := m.target.QueryConfig(cctx, m.opt.Table)
	cancel()
	exists := err == nil
	if err != nil && !errors.Is(err, protocol.CodeAppNotExist) {
		return fmt.Errorf("the target %s (%s): %w", m.opt.Target, strings.Join(m.targetMetas, ","), err)
	}
	switch {
	case exists && m.dup == nil && !m.switched:
		return fmt.Errorf("table %s already exists on the target %s (app id %d) and no duplication feeds it: a full duplication creates it; drop it there or pick another target",
			m.opt.Table, m.opt.Target, qc.App.AppID)
	case !exists && m.switched:
		return fmt.Errorf("the route leads to %s but table %s does not exist there", m.opt.Target, m.opt.Table)
	case exists:
		m.printf(i, name, "target %s (%s): table %s exists (app id %d, %d partitions)", m.opt.Target, strings.Join(m.targetMetas, ","), m.opt.Table, qc.App.AppID, qc.App.PartitionCount)
	default:
		m.printf(i, name, "target %s (%s): table %s does not exist yet", m.opt.Target, strings.Join(m.targetMetas, ","), m.opt.Table)
	}
	return nil
}

// duplicate is step 2.
func (m *migration) duplicate(ctx context.Context) error {
	const i, name = 1, "duplicate"
	started := false
	if m.dup == nil {
		cctx, cancel := m.call(ctx)
		resp, err := m.src.AddDuplication(cctx, m.opt.Table, m.opt.Target, true)
		cancel()
		if errors.Is(err, protocol.CodeAppExist) {
			// Added concurrently (or by a run whose answer was lost).
			if m.dup, _ = m.findDup(ctx); m.dup == nil {
				return fmt.Errorf("add a full duplication to %s: %w", m.opt.Target, err)
			}
		} else if err != nil {
			return fmt.Errorf("add a full duplication to %s: %w", m.opt.Target, err)
		} else {
			m.printf(i, name, "started full duplication %d to %s", resp.DupID, m.opt.Target)
			m.dup = &protocol.DuplicationEntry{DupID: resp.DupID}
			if m.dup, err = m.dupByID(ctx); err != nil {
				return err
			}
			started = true
		}
	}
	if !m.dup.Full && !m.opt.AllowIncremental {
		return fmt.Errorf("duplication %d to %s is incremental: data written before it started may be missing on the target; "+
			"remove it (dup remove -d %d) to let migrate_table start a full one, or pass --allow_incremental if that data was copied",
			m.dup.DupID, m.opt.Target, m.dup.DupID)
	}
	switch {
	case m.dup.Status == protocol.DupStatusPause:
		cctx, cancel := m.call(ctx)
		_, err := m.src.ModifyDuplication(cctx, &protocol.ModifyDuplicationRequest{AppName: m.opt.Table, DupID: m.dup.DupID, Status: protocol.DupStatusLog})
		cancel()
		if err != nil {
			return fmt.Errorf("start the paused duplication %d: %w", m.dup.DupID, err)
		}
		m.printf(i, name, "started the paused duplication %d to %s", m.dup.DupID, m.opt.Target)
	case started:
	default:
		m.printf(i, name, "reusing duplication %d to %s, status %s, full %v", m.dup.DupID, m.opt.Target, m.dup.Status, m.dup.Full)
	}
	if len(m.targetMetas) == 0 {
		m.targetMetas = slices.Clone(m.dup.RemoteMetas)
	}
	if len(m.targetMetas) == 0 {
		return fmt.Errorf("the meta servers of %s are unknown: the source meta's [pegasus.clusters] names none and no route names the cluster; pass --target_metas", m.opt.Target)
	}
	if m.target == nil {
		cctx, cancel := m.call(ctx)
		t, err := m.openTarget(cctx, m.targetMetas)
		cancel()
		if err != nil {
			return fmt.Errorf("open the target %s (%s): %w", m.opt.Target, strings.Join(m.targetMetas, ","), err)
		}
		m.target = t
	}
	return nil
}

// dupBacklog sums the pending mutations of e and counts the partitions
// whose primary reported in DS_LOG; slow is the partition most behind.
func dupBacklog(e *protocol.DuplicationEntry) (backlog int64, reporting int, slow *protocol.DupPartition) {
	for j := range e.Partitions {
		p := &e.Partitions[j]
		if p.ReportTimeMs == 0 || p.ConfirmedDecree < 0 {
			continue
		}
		reporting++
		backlog += p.PendingMutations
		if slow == nil || p.PendingMutations > slow.PendingMutations {
			slow = p
		}
	}
	return backlog, reporting, slow
}

// firstError returns "pN: <error>" of the first partition reporting one.
func firstError(e *protocol.DuplicationEntry) string {
	for _, p := range e.Partitions {
		if p.LastError != "" {
			return fmt.Sprintf("p%d: %s", p.PartitionIndex, p.LastError)
		}
	}
	return ""
}

// waitCopy is step 3: wait for DS_LOG and a small backlog.
func (m *migration) waitCopy(ctx context.Context) error {
	const i, name = 2, "copy"
	start := m.clock.Now()
	failures := 0
	for {
		e, err := m.dupByID(ctx)
		switch {
		case err != nil && ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, errDupRemoved):
			return err
		case err != nil:
			failures++
			if failures >= migratePollErrorLimit {
				return fmt.Errorf("%d polls in a row failed: %w", failures, err)
			}
			m.printf(i, name, "poll failed (%v); retrying", err)
		default:
			failures = 0
			m.dup = e
			if e.Status == protocol.DupStatusPause {
				return fmt.Errorf("duplication %d was paused meanwhile: start it (dup start -d %d) and rerun", e.DupID, e.DupID)
			}
			elapsed := m.clock.Now().Sub(start).Round(time.Millisecond)
			msg := fmt.Sprintf("duplication %d %s", e.DupID, e.Status)
			if e.Status == protocol.DupStatusLog {
				backlog, reporting, slow := dupBacklog(e)
				msg += fmt.Sprintf(", backlog %d mutations (threshold %d), %d/%d partitions reporting", backlog, m.opt.MaxBacklog, reporting, m.partitionCount)
				if slow != nil && slow.PendingMutations > 0 {
					msg += fmt.Sprintf(", most behind p%d (%d)", slow.PartitionIndex, slow.PendingMutations)
				}
				if reporting == int(m.partitionCount) && len(e.Partitions) == int(m.partitionCount) && backlog <= m.opt.MaxBacklog {
					m.printf(i, name, "%s: ready after %v", msg, elapsed)
					return nil
				}
			}
			if le := firstError(e); le != "" {
				msg += "; last error " + le
			}
			m.printf(i, name, "%s (%v)", msg, elapsed)
		}
		if m.opt.CopyTimeout > 0 && m.clock.Now().Sub(start) >= m.opt.CopyTimeout {
			return fmt.Errorf("the copy did not finish within --copy_timeout %v", m.opt.CopyTimeout)
		}
		if err := m.clock.Sleep(ctx, m.opt.Interval); err != nil {
			return err
		}
	}
}

// deny is step 4: the write pause starts.
func (m *migration) deny(ctx context.Context) error {
	const i, name = 3, "deny writes"
	// The copy may have taken hours: make sure the route did not change.
	r, st, side, err := m.readRoute(ctx)
	if err != nil {
		return err
	}
	if side != routeSource {
		return fmt.Errorf("the route %s changed during the copy: it leads to %s now", m.routes.Path(m.opt.Table), r)
	}
	m.routeVersion = st.Version
	// Set before the call: a call that fails may still have reached the
	// meta, and then writes must be re-enabled.
	m.denied = true
	cctx, cancel := m.call(ctx)
	err = m.src.SetAppEnvs(cctx, m.opt.Table, map[string]string{envDenyClientRequest: denyTimeoutWrite})
	cancel()
	if err != nil {
		return fmt.Errorf("set %s=%s on %s: %w", envDenyClientRequest, denyTimeoutWrite, m.srcName, err)
	}
	m.denyAt = m.clock.Now()
	m.printf(i, name, "%s=%s on %s: write pause starts", envDenyClientRequest, denyTimeoutWrite, m.srcName)
	return nil
}

// drainTracker decides when every partition of a duplication has shipped
// everything its primary committed since a point in time.
type drainTracker struct {
	sinceMs int64 // only reports after this count (Unix ms)
	quietMs int64
	// stable[p] is the committed decree last seen for partition p and
	// the report time it was first seen at.
	stable map[int32]stableDecree
}

type stableDecree struct {
	committed protocol.Decree
	sinceMs   int64
}

func newDrainTracker(since time.Time, quiet time.Duration) *drainTracker {
	return &drainTracker{sinceMs: since.UnixMilli(), quietMs: quiet.Milliseconds(), stable: map[int32]stableDecree{}}
}

// observe folds the latest reports of e in and returns how many of the
// partitions are drained and the first one that is not (nil when all
// are).
func (d *drainTracker) observe(e *protocol.DuplicationEntry, partitions int32) (drained int, waiting *protocol.DupPartition) {
	if len(e.Partitions) != int(partitions) {
		return 0, nil
	}
	for j := range e.Partitions {
		p := &e.Partitions[j]
		ok := p.ReportTimeMs > d.sinceMs
		if ok {
			s, seen := d.stable[p.PartitionIndex]
			if !seen || s.committed != p.LastCommitted {
				s = stableDecree{committed: p.LastCommitted, sinceMs: p.ReportTimeMs}
				d.stable[p.PartitionIndex] = s
			}
			ok = p.ConfirmedDecree >= p.LastCommitted && p.ReportTimeMs-s.sinceMs >= d.quietMs
		}
		if ok {
			drained++
		} else if waiting == nil {
			waiting = p
		}
	}
	return drained, waiting
}

// describe says why partition p (from observe) is not drained.
func (d *drainTracker) describe(p *protocol.DupPartition) string {
	switch {
	case p == nil:
		return "the duplication lists no partitions"
	case p.ReportTimeMs <= d.sinceMs:
		return fmt.Sprintf("p%d has not reported since", p.PartitionIndex)
	case p.ConfirmedDecree < p.LastCommitted:
		return fmt.Sprintf("p%d confirmed %d, committed %d", p.PartitionIndex, p.ConfirmedDecree, p.LastCommitted)
	}
	still := time.Duration(p.ReportTimeMs-d.stable[p.PartitionIndex].sinceMs) * time.Millisecond
	return fmt.Sprintf("p%d shipped up to its committed decree %d, which held still for %v of %v", p.PartitionIndex, p.LastCommitted,
		still, time.Duration(d.quietMs)*time.Millisecond)
}

// drain is step 5.
func (m *migration) drain(ctx context.Context) error {
	const i, name = 4, "drain"
	d := newDrainTracker(m.denyAt, m.opt.Quiet)
	deadline := m.denyAt.Add(m.opt.DrainTimeout)
	var last string
	for {
		e, err := m.dupByID(ctx)
		switch {
		case err != nil && (ctx.Err() != nil || errors.Is(err, errDupRemoved)):
			return err
		case err != nil:
			last = err.Error()
			m.printf(i, name, "poll failed (%v); retrying", err)
		case e.Status != protocol.DupStatusLog:
			return fmt.Errorf("duplication %d is %s, not shipping", e.DupID, e.Status)
		default:
			m.dup = e
			drained, waiting := d.observe(e, m.partitionCount)
			elapsed := m.clock.Now().Sub(m.denyAt).Round(time.Millisecond)
			if waiting == nil && drained == int(m.partitionCount) {
				m.printf(i, name, "every partition's confirmed decree equals its committed decree, %v after the deny", elapsed)
				return nil
			}
			backlog, _, _ := dupBacklog(e)
			last = fmt.Sprintf("%d/%d partitions drained, %s", drained, m.partitionCount, d.describe(waiting))
			m.printf(i, name, "%s, %d mutations pending (%v)", last, backlog, elapsed)
		}
		if !m.clock.Now().Before(deadline) {
			return fmt.Errorf("not drained within --drain_timeout %v: %s", m.opt.DrainTimeout, last)
		}
		if err := m.clock.Sleep(ctx, m.opt.Interval); err != nil {
			return err
		}
	}
}

// switchRoute is step 6: compare-and-set the route to the target.
func (m *migration) switchRoute(ctx context.Context) error {
	const i, name = 5, "switch route"
	to := route.New(m.opt.Target, m.targetMetas)
	if err := to.Validate(); err != nil {
		return fmt.Errorf("route to %s: %w", m.opt.Target, err)
	}
	cctx, cancel := m.call(ctx)
	st, err := m.routes.Set(cctx, m.opt.Table, to, m.routeVersion)
	cancel()
	if err != nil {
		// The write may have happened anyway (a lost answer), or someone
		// else may have switched it: look before deciding.
		r, rst, side, rerr := m.readRoute(context.WithoutCancel(ctx))
		switch {
		case rerr != nil:
			// Unknown: keep writes denied, whichever way it went.
			m.routeUnknown = true
			return fmt.Errorf("set the route %s: %w; reading it back failed too (%v): check it with `proxy get %s`",
				m.routes.Path(m.opt.Table), err, rerr, m.opt.Table)
		case side == routeTarget:
			st = rst
			m.printf(i, name, "the write reported %v, but the route leads to %s: switched", err, r)
		case errors.Is(err, coord.ErrBadVersion):
			return fmt.Errorf("the route %s changed since it was read (version %d, now %d: %s): not switched",
				m.routes.Path(m.opt.Table), m.routeVersion, rst.Version, r)
		default:
			return fmt.Errorf("set the route %s: %w (it still leads to %s)", m.routes.Path(m.opt.Table), err, r)
		}
	}
	m.switched = true
	m.routeVersion = st.Version
	pause := m.clock.Now().Sub(m.denyAt)
	m.res.WritePauseMs = pause.Milliseconds()
	m.printf(i, name, "%s -> %s, version %d", m.routes.Path(m.opt.Table), to, st.Version)
	return nil
}

// reconfig is step 7: every request on the source is turned away so
// clients re-resolve through the proxy.
func (m *migration) reconfig(ctx context.Context) error {
	const i, name = 6, "turn source away"
	if m.target == nil {
		if err := m.checkTarget(ctx, i, name); err != nil {
			return err
		}
	}
	cctx, cancel := m.call(ctx)
	err := m.src.SetAppEnvs(cctx, m.opt.Table, map[string]string{envDenyClientRequest: denyReconfigAll})
	cancel()
	if err != nil {
		return fmt.Errorf("set %s=%s on %s: %w", envDenyClientRequest, denyReconfigAll, m.srcName, err)
	}
	m.reconfigAt = m.clock.Now()
	pause := "unknown (the route was switched by an earlier run)"
	if m.res.WritePauseMs >= 0 {
		pause = fmt.Sprintf("%v (deny -> route switched)", (time.Duration(m.res.WritePauseMs) * time.Millisecond))
	}
	m.printf(i, name, "%s=%s on %s; write pause %s", envDenyClientRequest, denyReconfigAll, m.srcName, pause)
	return nil
}

// verify is step 8: the source's request counters stand still, the
// duplication shipped every late write, and the target serves the table.
func (m *migration) verify(ctx context.Context) error {
	const i, name = 7, "verify"
	cctx, cancel := m.call(ctx)
	nodes, err := m.src.ListNodes(cctx, protocol.NodeAlive)
	cancel()
	if err != nil {
		return fmt.Errorf("list the replica servers of %s: %w", m.srcName, err)
	}
	addrs := make([]string, 0, len(nodes))
	for _, n := range nodes {
		h, err := m.nodeHTTP(n.Address)
		if err != nil {
			return err
		}
		addrs = append(addrs, h)
	}
	requests := func() (float64, error) {
		var sum float64
		for _, a := range addrs {
			cctx, cancel := m.call(ctx)
			v, err := m.counter.Requests(cctx, a, m.appID, m.opt.Table)
			cancel()
			if err != nil {
				return 0, fmt.Errorf("request counters of %s on %s: %w (see --replica_http_port_offset, --http_addresses)", m.opt.Table, a, err)
			}
			sum += v
		}
		return sum, nil
	}
	start := m.clock.Now()
	deadline := start.Add(m.opt.VerifyTimeout)
	d := newDrainTracker(m.reconfigAt, 0)
	before, err := requests()
	if err != nil {
		return err
	}
	quiet, shipped, served := false, m.dup == nil, false
	var why []string
	for {
		if err := m.clock.Sleep(ctx, m.opt.QPSWindow); err != nil {
			return err
		}
		why = why[:0]
		after, err := requests()
		if err != nil {
			return err
		}
		rate := (after - before) / m.opt.QPSWindow.Seconds()
		quiet = after == before
		before = after
		if !quiet {
			why = append(why, fmt.Sprintf("the source still serves %.1f requests/s", rate))
		}
		if !shipped {
			e, err := m.dupByID(ctx)
			switch {
			case errors.Is(err, errDupRemoved):
				return fmt.Errorf("%w: writes the source took after the deny may not have reached %s", err, m.opt.Target)
			case err != nil:
				why = append(why, err.Error())
			default:
				m.dup = e
				drained, waiting := d.observe(e, m.partitionCount)
				shipped = waiting == nil && drained == int(m.partitionCount)
				if !shipped {
					why = append(why, "late writes not yet shipped: "+d.describe(waiting))
				}
			}
		}
		if !served {
			if err := m.targetServes(ctx); err != nil {
				why = append(why, err.Error())
			} else {
				served = true
			}
		}
		if quiet && shipped && served {
			msg := fmt.Sprintf("no requests on %s for %v (%d replica servers)", m.srcName, m.opt.QPSWindow, len(addrs))
			if m.dup != nil {
				msg += fmt.Sprintf("; duplication %d shipped every write", m.dup.DupID)
			}
			m.printf(i, name, "%s; %s serves %s", msg, m.opt.Target, m.opt.Table)
			return nil
		}
		m.printf(i, name, "waiting: %s", strings.Join(why, "; "))
		if !m.clock.Now().Before(deadline) {
			return fmt.Errorf("not verified within --verify_timeout %v: %s", m.opt.VerifyTimeout, strings.Join(why, "; "))
		}
	}
}

// targetServes checks every partition of the table on the target has a
// primary and one read succeeds.
func (m *migration) targetServes(ctx context.Context) error {
	cctx, cancel := m.call(ctx)
	defer cancel()
	qc, err := m.target.QueryConfig(cctx, m.opt.Table)
	if err != nil {
		return fmt.Errorf("the target %s: %w", m.opt.Target, err)
	}
	for _, pc := range qc.Partitions {
		if pc.Primary == "" {
			return fmt.Errorf("the target %s: partition %d of %s has no primary", m.opt.Target, pc.Gpid.PartitionIndex, m.opt.Table)
		}
	}
	if err := m.target.Read(cctx, m.opt.Table); err != nil {
		return fmt.Errorf("a read of %s on the target %s: %w", m.opt.Table, m.opt.Target, err)
	}
	return nil
}
