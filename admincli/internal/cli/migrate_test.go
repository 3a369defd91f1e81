package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pegasus-go/pegasus/metaproxy/route"
	"github.com/pegasus-go/pegasus/shared/coord"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

// The step machine runs against a simulated world: a source cluster whose
// table takes writes at a fixed rate until the deny env reaches its
// replicas (after envLag), a duplication that walks INIT -> PREPARE -> APP
// -> LOG and ships at shipRate, a route registry, a target cluster and the
// source replica servers' request counters. The fake clock's Sleep moves
// the world forward, so nothing waits for real.

const (
	srcName   = "onebox"
	dstName   = "onebox2"
	srcMeta   = "127.0.0.1:34601"
	dstMeta   = "127.0.0.1:34701"
	migTable  = "moving"
	migAppID  = 3
	migParts  = 4
	routeRoot = "/pegasus-proxy"
)

var errInjected = errors.New("injected failure")

type envChange struct {
	at    time.Time
	value string // "" = deleted
}

type fakeWorld struct {
	start, now time.Time

	// Source table.
	tableMissing bool
	envs         map[string]string
	denyHistory  []envChange // changes of the deny env, in order
	envLag       time.Duration
	writeRate    int64 // mutations per second per partition while writes are allowed
	readRate     float64
	committed    [migParts]protocol.Decree
	requests     float64 // the source's request counters, summed

	// Duplication.
	dup        *protocol.DuplicationEntry
	dupCreated time.Time
	confirmed  [migParts]protocol.Decree
	shipRate   int64 // mutations per second per partition in DS_LOG
	shipStall  func(w *fakeWorld) bool

	// Route.
	route        *route.Route
	routeVersion int32
	otherRoutes  []route.Lookup

	// Target.
	targetTable bool

	// Failure injection: method -> func(call number, 1-based) error.
	fail  map[string]func(n int) error
	calls map[string]int
	// Hooks run after the named method did its work, before it returns
	// (may return an error to report although the work was done).
	after map[string]func(n int) error
	// onSleep runs after every clock advance.
	onSleep func(w *fakeWorld)
}

func newWorld() *fakeWorld {
	r := route.New(srcName, []string{srcMeta})
	start := time.Unix(1_700_000_000, 0)
	return &fakeWorld{
		start:     start,
		now:       start,
		envs:      map[string]string{},
		envLag:    300 * time.Millisecond,
		writeRate: 50,
		readRate:  80,
		shipRate:  200,
		route:     &r,
		fail:      map[string]func(int) error{},
		calls:     map[string]int{},
		after:     map[string]func(int) error{},
	}
}

// failOn makes the nth call (0: every call) of method fail.
func (w *fakeWorld) failOn(method string, nth int) {
	w.fail[method] = func(n int) error {
		if nth == 0 || n == nth {
			return fmt.Errorf("%s: %w", method, errInjected)
		}
		return nil
	}
}

func (w *fakeWorld) hook(method string) error {
	w.calls[method]++
	if f := w.fail[method]; f != nil {
		return f(w.calls[method])
	}
	return nil
}

func (w *fakeWorld) afterHook(method string) error {
	if f := w.after[method]; f != nil {
		return f(w.calls[method])
	}
	return nil
}

// effectiveDeny is the deny env the replicas apply at time t.
func (w *fakeWorld) effectiveDeny(t time.Time) string {
	v := ""
	for _, c := range w.denyHistory {
		if !c.at.Add(w.envLag).After(t) {
			v = c.value
		}
	}
	return v
}

func (w *fakeWorld) dupStatus() protocol.DupStatus {
	if w.dup.Status == protocol.DupStatusPause || w.dup.Status == protocol.DupStatusRemoved {
		return w.dup.Status
	}
	switch age := w.now.Sub(w.dupCreated); {
	case age < 2*time.Second:
		return protocol.DupStatusPrepare
	case age < 4*time.Second:
		return protocol.DupStatusApp
	}
	return protocol.DupStatusLog
}

// advance moves the world forward by d, in steps of 100ms.
func (w *fakeWorld) advance(d time.Duration) {
	const step = 100 * time.Millisecond
	for d > 0 {
		s := min(d, step)
		d -= s
		w.now = w.now.Add(s)
		deny := w.effectiveDeny(w.now)
		ms := s.Milliseconds()
		if deny == "" {
			for p := range w.committed {
				w.committed[p] += protocol.Decree(w.writeRate * ms / 1000)
			}
		}
		if deny != denyReconfigAll {
			w.requests += w.readRate * float64(ms) / 1000
			if deny == "" {
				w.requests += float64(w.writeRate*migParts*ms) / 1000
			}
		}
		if w.dup != nil {
			st := w.dupStatus()
			w.dup.Status = st
			if st >= protocol.DupStatusApp && st != protocol.DupStatusRemoved {
				w.targetTable = true
			}
			if st == protocol.DupStatusLog && (w.shipStall == nil || !w.shipStall(w)) {
				for p := range w.confirmed {
					w.confirmed[p] = min(w.committed[p], w.confirmed[p]+protocol.Decree(w.shipRate*ms/1000))
				}
			}
		}
	}
	if w.onSleep != nil {
		w.onSleep(w)
	}
}

func (w *fakeWorld) setDeny(v string) {
	if v == "" {
		delete(w.envs, envDenyClientRequest)
	} else {
		w.envs[envDenyClientRequest] = v
	}
	w.denyHistory = append(w.denyHistory, envChange{at: w.now, value: v})
}

// fakeClock's Sleep advances the world.
type fakeClock struct{ w *fakeWorld }

func (c fakeClock) Now() time.Time { return c.w.now }

// fakeHorizon bounds the simulated time of one test, so a step that
// would wait forever fails instead.
const fakeHorizon = time.Hour

func (c fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if c.w.now.Sub(c.w.start) > fakeHorizon {
		return errors.New("fake clock: past the test's horizon")
	}
	c.w.advance(d)
	return ctx.Err()
}

// fakeSource is the source meta.
type fakeSource struct{ w *fakeWorld }

func (s fakeSource) MetaServers() []string { return []string{srcMeta} }

func (s fakeSource) ClusterInfo(context.Context) (*protocol.ClusterInfoResponse, error) {
	if err := s.w.hook("ClusterInfo"); err != nil {
		return nil, err
	}
	return &protocol.ClusterInfoResponse{ClusterName: srcName, MetaServers: []string{srcMeta}}, nil
}

func (s fakeSource) QueryConfig(_ context.Context, name string) (*protocol.QueryConfigResponse, error) {
	if err := s.w.hook("QueryConfig"); err != nil {
		return nil, err
	}
	if s.w.tableMissing || name != migTable {
		return nil, protocol.Errorf(protocol.CodeAppNotExist, "table %s does not exist", name)
	}
	return &protocol.QueryConfigResponse{App: protocol.AppInfo{AppID: migAppID, Name: migTable, PartitionCount: migParts}}, nil
}

func (s fakeSource) AddDuplication(_ context.Context, app, remote string, full bool) (*protocol.AddDuplicationResponse, error) {
	if err := s.w.hook("AddDuplication"); err != nil {
		return nil, err
	}
	if remote != dstName {
		return nil, protocol.Errorf(protocol.CodeInvalidArgument, "unknown remote cluster %q", remote)
	}
	if s.w.dup != nil && s.w.dup.Status != protocol.DupStatusRemoved {
		return nil, protocol.Errorf(protocol.CodeAppExist, "already duplicates [dupid: %d]", s.w.dup.DupID)
	}
	if s.w.targetTable {
		return nil, protocol.Errorf(protocol.CodeAppExist, "table exists on remote")
	}
	s.w.dup = &protocol.DuplicationEntry{DupID: int32(s.w.now.Unix()), AppID: migAppID, Status: protocol.DupStatusInit,
		RemoteCluster: remote, RemoteMetas: []string{dstMeta}, Full: full}
	s.w.dupCreated = s.w.now
	// The checkpoint: everything committed so far is copied.
	s.w.confirmed = s.w.committed
	return &protocol.AddDuplicationResponse{AppID: migAppID, DupID: s.w.dup.DupID}, s.w.afterHook("AddDuplication")
}

func (s fakeSource) QueryDuplication(context.Context, string) (*protocol.QueryDuplicationResponse, error) {
	if err := s.w.hook("QueryDuplication"); err != nil {
		return nil, err
	}
	resp := &protocol.QueryDuplicationResponse{AppID: migAppID}
	if s.w.dup == nil {
		return resp, nil
	}
	e := *s.w.dup
	e.Partitions = nil
	if e.Status != protocol.DupStatusRemoved {
		for p := range migParts {
			dp := protocol.DupPartition{PartitionIndex: int32(p), ConfirmedDecree: -1}
			if e.Status == protocol.DupStatusLog {
				dp.ConfirmedDecree, dp.LastCommitted = s.w.confirmed[p], s.w.committed[p]
				dp.PendingMutations = int64(dp.LastCommitted - dp.ConfirmedDecree)
				dp.ReportTimeMs = s.w.now.UnixMilli()
			}
			e.Partitions = append(e.Partitions, dp)
		}
	}
	resp.Dups = []protocol.DuplicationEntry{e}
	return resp, s.w.afterHook("QueryDuplication")
}

func (s fakeSource) ModifyDuplication(_ context.Context, req *protocol.ModifyDuplicationRequest) (*protocol.ModifyDuplicationResponse, error) {
	if err := s.w.hook("ModifyDuplication"); err != nil {
		return nil, err
	}
	if s.w.dup == nil || req.DupID != s.w.dup.DupID {
		return nil, protocol.Errorf(protocol.CodeObjectNotFound, "no duplication %d", req.DupID)
	}
	s.w.dup.Status = req.Status
	return &protocol.ModifyDuplicationResponse{Dup: *s.w.dup}, nil
}

func (s fakeSource) GetAppEnvs(context.Context, string) (map[string]string, error) {
	if err := s.w.hook("GetAppEnvs"); err != nil {
		return nil, err
	}
	return maps.Clone(s.w.envs), nil
}

func (s fakeSource) SetAppEnvs(_ context.Context, _ string, envs map[string]string) error {
	if err := s.w.hook("SetAppEnvs"); err != nil {
		return err
	}
	for k, v := range envs {
		if k == envDenyClientRequest {
			s.w.setDeny(v)
		} else {
			s.w.envs[k] = v
		}
	}
	return s.w.afterHook("SetAppEnvs")
}

func (s fakeSource) DelAppEnvs(_ context.Context, _ string, keys []string) ([]string, error) {
	if err := s.w.hook("DelAppEnvs"); err != nil {
		return nil, err
	}
	var out []string
	for _, k := range keys {
		if _, ok := s.w.envs[k]; ok {
			out = append(out, k)
		}
		if k == envDenyClientRequest {
			s.w.setDeny("")
		} else {
			delete(s.w.envs, k)
		}
	}
	return out, nil
}

func (s fakeSource) ListNodes(context.Context, protocol.NodeStatus) ([]protocol.NodeInfo, error) {
	if err := s.w.hook("ListNodes"); err != nil {
		return nil, err
	}
	return []protocol.NodeInfo{{Address: "127.0.0.1:34801", Status: protocol.NodeAlive}, {Address: "127.0.0.1:34802", Status: protocol.NodeAlive}}, nil
}

// fakeRoutes is the route registry.
type fakeRoutes struct{ w *fakeWorld }

func (r fakeRoutes) Path(table string) string { return routeRoot + "/" + table }

func (r fakeRoutes) Get(_ context.Context, table string) (route.Route, coord.Stat, error) {
	if err := r.w.hook("RouteGet"); err != nil {
		return route.Route{}, coord.Stat{}, err
	}
	if r.w.route == nil {
		return route.Route{}, coord.Stat{}, fmt.Errorf("%w %q (no node %s)", route.ErrNoRoute, table, r.Path(table))
	}
	return *r.w.route, coord.Stat{Version: r.w.routeVersion}, nil
}

func (r fakeRoutes) Set(_ context.Context, table string, to route.Route, version int32) (coord.Stat, error) {
	if err := r.w.hook("RouteSet"); err != nil {
		return coord.Stat{}, err
	}
	if r.w.route == nil {
		return coord.Stat{}, route.ErrNoRoute
	}
	if version != coord.AnyVersion && version != r.w.routeVersion {
		return coord.Stat{}, coord.ErrBadVersion
	}
	r.w.route = &to
	r.w.routeVersion++
	return coord.Stat{Version: r.w.routeVersion}, r.w.afterHook("RouteSet")
}

func (r fakeRoutes) List(context.Context) ([]route.Lookup, error) {
	if err := r.w.hook("RouteList"); err != nil {
		return nil, err
	}
	return r.w.otherRoutes, nil
}

// fakeTarget is the target cluster.
type fakeTarget struct{ w *fakeWorld }

func (t fakeTarget) QueryConfig(_ context.Context, name string) (*protocol.QueryConfigResponse, error) {
	if err := t.w.hook("TargetQueryConfig"); err != nil {
		return nil, err
	}
	if !t.w.targetTable {
		return nil, protocol.Errorf(protocol.CodeAppNotExist, "table %s does not exist", name)
	}
	resp := &protocol.QueryConfigResponse{App: protocol.AppInfo{AppID: 1, Name: name, PartitionCount: migParts}}
	for p := range migParts {
		resp.Partitions = append(resp.Partitions, protocol.PartitionConfiguration{Gpid: protocol.Gpid{AppID: 1, PartitionIndex: int32(p)}, Primary: "127.0.0.1:34901"})
	}
	return resp, nil
}

func (t fakeTarget) Read(context.Context, string) error { return t.w.hook("TargetRead") }

func (t fakeTarget) Close() error { t.w.calls["TargetClose"]++; return nil }

// fakeCounter returns the source's request counters, split over nodes.
type fakeCounter struct{ w *fakeWorld }

func (c fakeCounter) Requests(_ context.Context, addr string, appID int32, table string) (float64, error) {
	if err := c.w.hook("Requests"); err != nil {
		return 0, err
	}
	if appID != migAppID || table != migTable {
		return 0, fmt.Errorf("asked for %d/%s", appID, table)
	}
	if addr == "127.0.0.1:35801" {
		return c.w.requests, nil
	}
	return 0, nil
}

func testOptions() migrateOptions {
	return migrateOptions{
		Table: migTable, Target: dstName, MaxBacklog: 20, Interval: time.Second,
		DrainTimeout: 10 * time.Second, Quiet: time.Second, VerifyTimeout: 20 * time.Second,
		QPSWindow: 2 * time.Second, CallTimeout: time.Second,
	}
}

func newTestMigration(w *fakeWorld, opt migrateOptions) (*migration, *bytes.Buffer) {
	var out bytes.Buffer
	return &migration{
		opt: opt, src: fakeSource{w}, routes: fakeRoutes{w}, counter: fakeCounter{w}, clock: fakeClock{w}, out: &out,
		nodeHTTP: func(rpc string) (string, error) { return strings.Replace(rpc, ":348", ":358", 1), nil },
		openTarget: func(_ context.Context, metas []string) (migrateTarget, error) {
			if err := w.hook("OpenTarget"); err != nil {
				return nil, err
			}
			if !slices.Equal(metas, []string{dstMeta}) {
				return nil, fmt.Errorf("target opened on %v", metas)
			}
			return fakeTarget{w}, nil
		},
	}, &out
}

func sideOf(w *fakeWorld) string {
	switch {
	case w.route == nil:
		return "none"
	case w.route.ClusterName == dstName && w.route.MetaAddrs == dstMeta:
		return dstName
	case w.route.ClusterName == srcName:
		return srcName
	}
	return w.route.String()
}

// checkSafe checks the invariant every run leaves behind: a source the
// route leads to takes writes; a source the route left denies them.
func checkSafe(t *testing.T, w *fakeWorld) {
	t.Helper()
	deny := w.envs[envDenyClientRequest]
	switch sideOf(w) {
	case srcName:
		if deny != "" {
			t.Errorf("the route leads to the source but it denies requests (%s)", deny)
		}
	case dstName:
		if deny == "" {
			t.Errorf("the route leads to the target but the source takes requests")
		}
	}
}

// checkShipped checks every write the source committed reached the target.
func checkShipped(t *testing.T, w *fakeWorld) {
	t.Helper()
	if w.confirmed != w.committed {
		t.Errorf("confirmed %v, committed %v: writes not shipped", w.confirmed, w.committed)
	}
}

func TestMigrateHappyPath(t *testing.T) {
	w := newWorld()
	m, out := newTestMigration(w, testOptions())
	res, err := m.run(context.Background())
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
	if sideOf(w) != dstName || w.routeVersion != 1 || res.RouteVersion != 1 {
		t.Fatalf("route %v version %d (result %d), want %s version 1", w.route, w.routeVersion, res.RouteVersion, dstName)
	}
	if got := w.envs[envDenyClientRequest]; got != denyReconfigAll {
		t.Fatalf("source deny env %q, want %q", got, denyReconfigAll)
	}
	checkShipped(t, w)
	if w.calls["AddDuplication"] != 1 || w.calls["DelAppEnvs"] != 0 {
		t.Fatalf("calls %v", w.calls)
	}
	if res.WritePauseMs <= 0 || res.WritePauseMs > testOptions().DrainTimeout.Milliseconds() {
		t.Fatalf("write pause %dms", res.WritePauseMs)
	}
	if res.Resumed || res.DupID != w.dup.DupID || res.SourceCluster != srcName || !slices.Equal(res.TargetMetas, []string{dstMeta}) ||
		len(res.Steps) != migrateStepCount {
		t.Fatalf("result %+v", res)
	}
	// The write pause equals the time from the deny to the switch in
	// the world's own history.
	denied := w.denyHistory[0]
	if denied.value != denyTimeoutWrite {
		t.Fatalf("deny history %v", w.denyHistory)
	}
	for i := 1; i <= migrateStepCount; i++ {
		if !strings.Contains(out.String(), fmt.Sprintf("[%d/%d] ", i, migrateStepCount)) {
			t.Errorf("no progress line of step %d", i)
		}
	}
	for _, want := range []string{"started full duplication", "DS_PREPARE", "DS_LOG", "write pause starts", "write pause ", "-> onebox2 (127.0.0.1:34701), version 1", "serves moving"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if w.calls["TargetClose"] != 1 {
		t.Errorf("target closed %d times", w.calls["TargetClose"])
	}
}

func TestMigrateFailures(t *testing.T) {
	for _, tc := range []struct {
		name    string
		setup   func(w *fakeWorld, o *migrateOptions)
		ctx     func(w *fakeWorld) context.Context
		wantErr string
		// wantState is a fragment of the explained state.
		wantState string
		wantRoute string
		wantDeny  string
		check     func(t *testing.T, w *fakeWorld)
	}{
		{
			name:    "source unreachable",
			setup:   func(w *fakeWorld, _ *migrateOptions) { w.failOn("ClusterInfo", 0) },
			wantErr: "step 1/8 (check): source meta servers", wantState: "nothing was changed", wantRoute: srcName,
		},
		{
			name:    "table missing on the source",
			setup:   func(w *fakeWorld, _ *migrateOptions) { w.tableMissing = true },
			wantErr: "table moving on the source onebox: ERR_APP_NOT_EXIST", wantState: "nothing was changed", wantRoute: srcName,
		},
		{
			name:    "target is the source",
			setup:   func(_ *fakeWorld, o *migrateOptions) { o.Target = srcName },
			wantErr: "is the source cluster", wantRoute: srcName,
		},
		{
			name:    "no route",
			setup:   func(w *fakeWorld, _ *migrateOptions) { w.route = nil },
			wantErr: "has no meta proxy route", wantRoute: "none",
			check: func(t *testing.T, w *fakeWorld) {
				if w.calls["AddDuplication"] != 0 {
					t.Error("duplication started without a route")
				}
			},
		},
		{
			name: "route leads elsewhere",
			setup: func(w *fakeWorld, _ *migrateOptions) {
				r := route.New("third", []string{"127.0.0.1:35001"})
				w.route = &r
			},
			wantErr: "neither the source onebox", wantRoute: "third (127.0.0.1:35001)",
		},
		{
			name: "target table exists without a duplication",
			setup: func(w *fakeWorld, o *migrateOptions) {
				w.targetTable = true
				o.TargetMetas = []string{dstMeta}
			},
			wantErr: "already exists on the target onebox2", wantRoute: srcName,
		},
		{
			name:    "duplication refused",
			setup:   func(w *fakeWorld, _ *migrateOptions) { w.failOn("AddDuplication", 0) },
			wantErr: "step 2/8 (duplicate): add a full duplication to onebox2", wantState: "nothing was changed", wantRoute: srcName,
		},
		{
			name:    "target unreachable",
			setup:   func(w *fakeWorld, _ *migrateOptions) { w.failOn("OpenTarget", 0) },
			wantErr: "open the target onebox2 (127.0.0.1:34701)", wantState: "duplication keeps running", wantRoute: srcName,
		},
		{
			name: "duplication removed during the copy",
			setup: func(w *fakeWorld, _ *migrateOptions) {
				w.onSleep = func(w *fakeWorld) {
					if w.dup != nil && w.now.Sub(w.dupCreated) > 3*time.Second {
						w.dup.Status = protocol.DupStatusRemoved
					}
				}
			},
			wantErr: "step 3/8 (copy): duplication", wantRoute: srcName,
		},
		{
			name: "duplication paused during the copy",
			setup: func(w *fakeWorld, _ *migrateOptions) {
				w.onSleep = func(w *fakeWorld) {
					if w.dup != nil && w.now.Sub(w.dupCreated) > 5*time.Second {
						w.dup.Status = protocol.DupStatusPause
					}
				}
			},
			wantErr: "was paused meanwhile", wantRoute: srcName,
		},
		{
			name: "copy timeout",
			setup: func(w *fakeWorld, o *migrateOptions) {
				w.shipRate = 10 // slower than the writes: the backlog grows
				o.CopyTimeout = 8 * time.Second
			},
			wantErr: "did not finish within --copy_timeout 8s", wantRoute: srcName,
		},
		{
			name: "copy polls keep failing",
			setup: func(w *fakeWorld, _ *migrateOptions) {
				w.fail["QueryDuplication"] = func(n int) error { return iff(n > 2, errInjected) }
			},
			wantErr: "30 polls in a row failed", wantRoute: srcName,
		},
		{
			name: "route changed during the copy",
			setup: func(w *fakeWorld, _ *migrateOptions) {
				w.onSleep = func(w *fakeWorld) {
					if w.dup != nil && w.now.Sub(w.dupCreated) > 3*time.Second && w.route.ClusterName == srcName {
						r := route.New("third", []string{"127.0.0.1:35001"})
						w.route, w.routeVersion = &r, w.routeVersion+1
					}
				}
			},
			wantErr: "changed during the copy", wantRoute: "third (127.0.0.1:35001)", wantState: "nothing was changed",
		},
		{
			name:    "deny refused",
			setup:   func(w *fakeWorld, _ *migrateOptions) { w.failOn("SetAppEnvs", 1) },
			wantErr: "step 4/8 (deny writes)", wantState: "writes re-enabled on onebox", wantRoute: srcName,
			check: func(t *testing.T, w *fakeWorld) {
				if w.calls["DelAppEnvs"] != 1 {
					t.Errorf("writes not re-enabled: %v", w.calls)
				}
			},
		},
		{
			name:    "deny applied but its answer lost",
			setup:   func(w *fakeWorld, _ *migrateOptions) { w.after["SetAppEnvs"] = func(int) error { return errInjected } },
			wantErr: "step 4/8 (deny writes)", wantState: "writes re-enabled", wantRoute: srcName,
		},
		{
			name: "drain timeout",
			setup: func(w *fakeWorld, _ *migrateOptions) {
				w.shipStall = func(w *fakeWorld) bool { return len(w.denyHistory) > 0 }
			},
			wantErr: "step 5/8 (drain): not drained within --drain_timeout 10s", wantState: "writes re-enabled on onebox", wantRoute: srcName,
		},
		{
			name: "drain timeout and re-enabling fails",
			setup: func(w *fakeWorld, _ *migrateOptions) {
				w.shipStall = func(w *fakeWorld) bool { return len(w.denyHistory) > 0 }
				w.failOn("DelAppEnvs", 0)
			},
			wantErr: "not drained", wantState: "STILL DENIED", wantRoute: srcName, wantDeny: denyTimeoutWrite,
		},
		{
			name: "replicas keep taking writes",
			setup: func(w *fakeWorld, _ *migrateOptions) {
				// A replica that never applies the deny: a write lands
				// after every shipping round.
				w.onSleep = func(w *fakeWorld) {
					if len(w.denyHistory) > 0 {
						w.committed[1]++
					}
				}
			},
			wantErr: "not drained", wantState: "writes re-enabled", wantRoute: srcName,
		},
		{
			name: "duplication paused during the drain",
			setup: func(w *fakeWorld, _ *migrateOptions) {
				w.onSleep = func(w *fakeWorld) {
					if len(w.denyHistory) > 0 {
						w.dup.Status = protocol.DupStatusPause
					}
				}
			},
			wantErr: "is DS_PAUSE, not shipping", wantState: "writes re-enabled", wantRoute: srcName,
		},
		{
			name: "interrupted during the drain",
			ctx: func(w *fakeWorld) context.Context {
				ctx, cancel := context.WithCancel(context.Background())
				w.onSleep = func(w *fakeWorld) {
					if len(w.denyHistory) > 0 {
						cancel()
					}
				}
				return ctx
			},
			wantErr: "context canceled", wantState: "writes re-enabled", wantRoute: srcName,
		},
		{
			name: "route changed before the switch",
			setup: func(w *fakeWorld, _ *migrateOptions) {
				w.fail["RouteSet"] = func(int) error {
					r := route.New(srcName, []string{srcMeta, "127.0.0.1:34602"})
					w.route, w.routeVersion = &r, w.routeVersion+1
					return nil
				}
			},
			wantErr: "step 6/8 (switch route): the route /pegasus-proxy/moving changed since it was read (version 0, now 1", wantState: "writes re-enabled", wantRoute: srcName,
		},
		{
			name:    "route write fails",
			setup:   func(w *fakeWorld, _ *migrateOptions) { w.failOn("RouteSet", 0) },
			wantErr: "it still leads to onebox", wantState: "writes re-enabled", wantRoute: srcName,
		},
		{
			name: "route write fails and reading it back fails",
			setup: func(w *fakeWorld, _ *migrateOptions) {
				w.failOn("RouteSet", 0)
				w.fail["RouteGet"] = func(n int) error { return iff(n > 2, errInjected) }
			},
			wantErr: "reading it back failed too", wantState: "is unknown, so writes stay denied", wantRoute: srcName, wantDeny: denyTimeoutWrite,
		},
		{
			name:    "reconfig refused",
			setup:   func(w *fakeWorld, _ *migrateOptions) { w.failOn("SetAppEnvs", 2) },
			wantErr: "step 7/8 (turn source away)", wantState: "rerun migrate_table to finish", wantRoute: dstName, wantDeny: denyTimeoutWrite,
		},
		{
			name:    "source keeps serving",
			setup:   func(w *fakeWorld, _ *migrateOptions) { w.onSleep = func(w *fakeWorld) { w.requests++ } },
			wantErr: "step 8/8 (verify): not verified within --verify_timeout 20s: the source still serves 0.5 requests/s", wantState: "rerun migrate_table to finish",
			wantRoute: dstName, wantDeny: denyReconfigAll,
		},
		{
			name:    "metrics unreadable",
			setup:   func(w *fakeWorld, _ *migrateOptions) { w.failOn("Requests", 0) },
			wantErr: "request counters of moving on 127.0.0.1:35801", wantRoute: dstName, wantDeny: denyReconfigAll,
		},
		{
			name:    "target does not serve",
			setup:   func(w *fakeWorld, _ *migrateOptions) { w.failOn("TargetRead", 0) },
			wantErr: "a read of moving on the target onebox2", wantRoute: dstName, wantDeny: denyReconfigAll,
		},
		{
			name: "duplication removed after the switch",
			setup: func(w *fakeWorld, _ *migrateOptions) {
				w.onSleep = func(w *fakeWorld) {
					if sideOf(w) == dstName {
						w.dup.Status = protocol.DupStatusRemoved
					}
				}
			},
			wantErr: "removed meanwhile: writes the source took after the deny", wantRoute: dstName, wantDeny: denyReconfigAll,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld()
			o := testOptions()
			if tc.setup != nil {
				tc.setup(w, &o)
			}
			ctx := context.Background()
			if tc.ctx != nil {
				ctx = tc.ctx(w)
			}
			m, out := newTestMigration(w, o)
			_, err := m.run(ctx)
			t.Log("\n" + out.String())
			var se *stepError
			if !errors.As(err, &se) {
				t.Fatalf("error %v, want a step error", err)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %q lacks %q", err, tc.wantErr)
			}
			if !strings.Contains(se.state, tc.wantState) || !strings.Contains(out.String(), "state: "+se.state) {
				t.Errorf("state %q lacks %q (or was not printed)", se.state, tc.wantState)
			}
			if got := sideOf(w); got != tc.wantRoute {
				t.Errorf("route %s, want %s", got, tc.wantRoute)
			}
			if got := w.envs[envDenyClientRequest]; got != tc.wantDeny {
				t.Errorf("source deny env %q, want %q", got, tc.wantDeny)
			}
			if tc.wantDeny == "" || tc.wantRoute == dstName {
				checkSafe(t, w)
			}
			if tc.check != nil {
				tc.check(t, w)
			}
		})
	}
}

func iff(b bool, err error) error {
	if b {
		return err
	}
	return nil
}

// TestMigrateResumeAfterDrainFailure: a run that gave up in the drain
// left writes enabled and the duplication running; the rerun reuses the
// duplication and finishes.
func TestMigrateResumeAfterDrainFailure(t *testing.T) {
	w := newWorld()
	stalled := true
	w.shipStall = func(w *fakeWorld) bool { return stalled && len(w.denyHistory) > 0 }
	m, out := newTestMigration(w, testOptions())
	if _, err := m.run(context.Background()); err == nil || !strings.Contains(err.Error(), "not drained") {
		t.Fatalf("first run: %v\n%s", err, out)
	}
	checkSafe(t, w)
	dupid := w.dup.DupID
	stalled = false
	m, out = newTestMigration(w, testOptions())
	res, err := m.run(context.Background())
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
	if w.calls["AddDuplication"] != 1 || res.DupID != dupid || !strings.Contains(out.String(), fmt.Sprintf("reusing duplication %d to onebox2, status DS_LOG", dupid)) {
		t.Fatalf("the rerun did not reuse duplication %d: calls %v, result %+v", dupid, w.calls, res)
	}
	if sideOf(w) != dstName || w.envs[envDenyClientRequest] != denyReconfigAll || res.WritePauseMs <= 0 {
		t.Fatalf("route %s, env %v, result %+v", sideOf(w), w.envs, res)
	}
	checkShipped(t, w)
}

// TestMigrateResumeAfterKill: a run killed after the deny (nothing
// restored) leaves timeout*write; the rerun notices and finishes.
func TestMigrateResumeAfterKill(t *testing.T) {
	w := newWorld()
	m, _ := newTestMigration(w, testOptions())
	ctx, cancel := context.WithCancel(context.Background())
	w.onSleep = func(w *fakeWorld) {
		if len(w.denyHistory) > 0 {
			cancel()
		}
	}
	m.src = killedSource{fakeSource{w}} // no restore: the process died
	if _, err := m.run(ctx); err == nil {
		t.Fatal("the first run succeeded")
	}
	if w.envs[envDenyClientRequest] != denyTimeoutWrite {
		t.Fatalf("env %v", w.envs)
	}
	w.onSleep = nil
	m, out := newTestMigration(w, testOptions())
	if _, err := m.run(context.Background()); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(out.String(), "writes are already denied on onebox") {
		t.Errorf("the rerun did not report the earlier deny:\n%s", out)
	}
	checkShipped(t, w)
}

// killedSource never re-enables writes, like a process killed mid-run.
type killedSource struct{ fakeSource }

func (killedSource) DelAppEnvs(context.Context, string, []string) ([]string, error) {
	return nil, errors.New("killed")
}

// TestMigrateResumeAfterSwitch: the rerun after a failure past the
// switch skips steps 2-6 and finishes; the pause is unknown.
func TestMigrateResumeAfterSwitch(t *testing.T) {
	w := newWorld()
	w.failOn("SetAppEnvs", 2)
	m, out := newTestMigration(w, testOptions())
	if _, err := m.run(context.Background()); err == nil {
		t.Fatalf("first run succeeded\n%s", out)
	}
	delete(w.fail, "SetAppEnvs")
	m, out = newTestMigration(w, testOptions())
	res, err := m.run(context.Background())
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
	if !res.Resumed || res.WritePauseMs != -1 || w.calls["AddDuplication"] != 1 || w.routeVersion != 1 {
		t.Fatalf("result %+v, calls %v, route version %d", res, w.calls, w.routeVersion)
	}
	if got := strings.Count(out.String(), "skipped: the route already points at onebox2"); got != 5 {
		t.Errorf("%d steps skipped, want 5", got)
	}
	if w.envs[envDenyClientRequest] != denyReconfigAll {
		t.Fatalf("env %v", w.envs)
	}
	checkShipped(t, w)
}

// TestMigrateRouteWriteLostAnswer: the route write happened but its
// answer was lost: the read-back finds the target and the run goes on.
func TestMigrateRouteWriteLostAnswer(t *testing.T) {
	w := newWorld()
	w.after["RouteSet"] = func(int) error { return errInjected }
	m, out := newTestMigration(w, testOptions())
	res, err := m.run(context.Background())
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
	if res.WritePauseMs <= 0 || !strings.Contains(out.String(), "but the route leads to onebox2") {
		t.Fatalf("result %+v", res)
	}
}

// TestMigrateReusesPausedDuplication: a paused full duplication to the
// target is started again, not duplicated.
func TestMigrateReusesPausedDuplication(t *testing.T) {
	w := newWorld()
	if _, err := (fakeSource{w}).AddDuplication(context.Background(), migTable, dstName, true); err != nil {
		t.Fatal(err)
	}
	w.advance(5 * time.Second)
	w.dup.Status = protocol.DupStatusPause
	m, out := newTestMigration(w, testOptions())
	if _, err := m.run(context.Background()); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if w.calls["AddDuplication"] != 1 || w.calls["ModifyDuplication"] != 1 || !strings.Contains(out.String(), "started the paused duplication") {
		t.Fatalf("calls %v\n%s", w.calls, out)
	}
	checkShipped(t, w)
}

// TestMigrateClearsForeignDeny: a deny env found while the route leads
// to the source is removed when the run fails before the switch.
func TestMigrateClearsForeignDeny(t *testing.T) {
	w := newWorld()
	w.setDeny("timeout*read")
	w.failOn("AddDuplication", 0)
	m, out := newTestMigration(w, testOptions())
	if _, err := m.run(context.Background()); err == nil || !strings.Contains(out.String(), "although the route leads there") {
		t.Fatalf("%v\n%s", err, out)
	}
	checkSafe(t, w)
}

func TestMigrateIncrementalDuplication(t *testing.T) {
	for _, allow := range []bool{false, true} {
		w := newWorld()
		if _, err := (fakeSource{w}).AddDuplication(context.Background(), migTable, dstName, false); err != nil {
			t.Fatal(err)
		}
		o := testOptions()
		o.AllowIncremental = allow
		m, out := newTestMigration(w, o)
		_, err := m.run(context.Background())
		if allow && err != nil {
			t.Fatalf("allowed: %v\n%s", err, out)
		}
		if !allow && (err == nil || !strings.Contains(err.Error(), "is incremental")) {
			t.Fatalf("not allowed: %v\n%s", err, out)
		}
		checkSafe(t, w)
	}
}

// TestMigrateTargetMetasFromRoutes: without a duplication yet, another
// route naming the target cluster gives its metas, so step 1 checks the
// target.
func TestMigrateTargetMetasFromRoutes(t *testing.T) {
	w := newWorld()
	w.otherRoutes = []route.Lookup{{Table: "other", Found: true, Route: route.New(dstName, []string{dstMeta})}}
	w.targetTable = true
	m, out := newTestMigration(w, testOptions())
	_, err := m.run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "already exists on the target onebox2") {
		t.Fatalf("%v\n%s", err, out)
	}
}

// TestDrainTracker: a partition counts as drained only with fresh
// reports, confirmed >= committed and a committed decree that held still
// for the quiet time.
func TestDrainTracker(t *testing.T) {
	base := time.Unix(1000, 0)
	d := newDrainTracker(base, time.Second)
	at := func(ms int64, confirmed, committed protocol.Decree) *protocol.DuplicationEntry {
		return &protocol.DuplicationEntry{Partitions: []protocol.DupPartition{{PartitionIndex: 0, ConfirmedDecree: confirmed, LastCommitted: committed, ReportTimeMs: base.UnixMilli() + ms}}}
	}
	for _, s := range []struct {
		ms                   int64
		confirmed, committed protocol.Decree
		drained              bool
	}{
		{-10, 5, 5, false},  // before the deny
		{0, 5, 5, false},    // not after it
		{100, 5, 5, false},  // fresh, not yet quiet
		{600, 7, 7, false},  // moved: quiet restarts
		{1500, 7, 7, false}, // 900ms quiet
		{1600, 6, 7, false}, // quiet but behind
		{1700, 7, 7, true},
	} {
		n, waiting := d.observe(at(s.ms, s.confirmed, s.committed), 1)
		if got := n == 1 && waiting == nil; got != s.drained {
			t.Fatalf("report at %dms (confirmed %d, committed %d): drained %v, want %v", s.ms, s.confirmed, s.committed, got, s.drained)
		}
	}
	if n, _ := d.observe(&protocol.DuplicationEntry{}, 1); n != 0 {
		t.Fatal("an entry without partitions counted as drained")
	}
}

func TestSumTableRequests(t *testing.T) {
	page := `# HELP get_qps_total x
# TYPE get_qps_total counter
get_qps_total{app_id="3",table="moving"} 10
put_qps_total{app_id="3",table="moving"} 5.5
put_qps_total{table="moving",app_id="2"} 100
put_qps_total{app_id="3",table="other"} 100
duplicate_qps_total{app_id="3",table="moving"} 100
rejected_requests_total{app_id="3",code="ERR_TIMEOUT",op="put",table="moving"} 100
get_latency_bucket{app_id="3",table="moving",le="0.1"} 7
multi_put_qps_total{app_id="3",table="mo\"ving"} 100
scan_qps_total{app_id="3", table="moving"} 1 1700000000000
`
	got, err := sumTableRequests(strings.NewReader(page), 3, "moving")
	if err != nil || got != 16.5 {
		t.Fatalf("sum %v, %v; want 16.5", got, err)
	}
	for _, bad := range []string{
		"x_qps_total{table=\"moving\"",
		"x_qps_total{table=moving} 1",
		"x_qps_total{table=\"moving\"} abc",
		"x_qps_total",
		"{} 1",
		"x_qps_total{table=\"mov",
	} {
		if _, err := sumTableRequests(strings.NewReader(bad+"\n"), 3, "moving"); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func FuzzParseSample(f *testing.F) {
	f.Add(`get_qps_total{app_id="3",table="moving"} 10`)
	f.Add(`a{b="\\\"",c="\n"} 1 2`)
	f.Fuzz(func(t *testing.T, line string) {
		name, labels, _, err := parseSample(line)
		if err == nil && (name == "" || labels == nil) {
			t.Fatalf("%q: name %q labels %v", line, name, labels)
		}
	})
}

func TestNodeHTTPMapper(t *testing.T) {
	c := &command{name: "migrate_table", flags: migrateCommands()[0].flags, args: migrateCommands()[0].args}
	for _, tc := range []struct {
		args    []string
		rpc     string
		want    string
		wantErr string
	}{
		{args: nil, rpc: "127.0.0.1:34801", want: "127.0.0.1:35801"},
		{args: []string{"--replica_http_port_offset", "50"}, rpc: "127.0.0.1:34801", want: "127.0.0.1:34851"},
		{args: []string{"--http_addresses", "127.0.0.1:34801=10.0.0.1:80"}, rpc: "127.0.0.1:34801", want: "10.0.0.1:80"},
		{args: []string{"--replica_http_port_offset", "65000"}, rpc: "127.0.0.1:34801", wantErr: "is not a port"},
		{args: nil, rpc: "nonsense", wantErr: "replica server address"},
	} {
		in, err := parseInput(c, nil, append([]string{"t", "-c", "x"}, tc.args...))
		if err != nil {
			t.Fatal(err)
		}
		f, err := nodeHTTPMapper(in)
		if err != nil {
			t.Fatal(err)
		}
		got, err := f(tc.rpc)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%v %s: %q, %v; want error %q", tc.args, tc.rpc, got, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%v %s: %q, %v; want %q", tc.args, tc.rpc, got, err, tc.want)
		}
	}
	for _, bad := range [][]string{
		{"--replica_http_port_offset", "70000"},
		{"--http_addresses", "a=b"},
		{"--http_addresses", "novalue"},
	} {
		in, err := parseInput(c, nil, append([]string{"t", "-c", "x"}, bad...))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := nodeHTTPMapper(in); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

// TestMigrateTableCommand runs the command through Main against a fake
// meta and a route store without the table's route.
func TestMigrateTableCommand(t *testing.T) {
	_, ms := fakeCluster(t, 1)
	if r := run(ms, "", "-m", "$META", "create", "t1", "-p", "4"); r.code != ExitOK {
		t.Fatalf("create: %+v", r)
	}
	store := openStore(t)
	metas := ms[0].Addr()
	main := func(args ...string) result {
		var out, errb bytes.Buffer
		code := Main(context.Background(), Env{
			Args: append([]string{"-m", metas}, args...), Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb,
			OpenRoutes: func(_ context.Context, _ []string, root string) (*route.Registry, error) {
				return route.NewRegistry(store, root)
			},
		})
		return result{stdout: out.String(), stderr: errb.String(), code: code}
	}
	r := main("--zk", "zk1:2181", "migrate_table", "t1", "-c", "onebox2")
	if r.code != ExitFailed || !strings.Contains(r.stderr, "has no meta proxy route") || !strings.Contains(r.stderr, "proxy set t1 -c onebox -m "+metas) ||
		!strings.Contains(r.stdout, "[1/8] check: FAILED") || strings.Count(r.stderr, "\n") != 1 {
		t.Fatalf("no route: %+v", r)
	}
	for _, args := range [][]string{
		{"migrate_table", "t1"},
		{"migrate_table", "-c", "onebox2"},
		{"--zk", "zk1:2181", "migrate_table", "t1", "-c", "onebox2", "--drain_timeout", "soon"},
		{"--zk", "zk1:2181", "migrate_table", "t1", "-c", "onebox2", "--interval", "0s"},
		{"--zk", "zk1:2181", "migrate_table", "t1", "-c", "onebox2", "--max_backlog", "-1"},
		{"--zk", "zk1:2181", "migrate_table", "t1", "-c", "onebox2", "--target_metas", ","},
		{"--zk", "zk1:2181", "migrate_table", "t1", "-c", "a,b"},
		{"--zk", "zk1:2181", "migrate_table", "t 1", "-c", "onebox2"},
		{"--zk", "zk1:2181", "migrate_table", "t1", "-c", "onebox2", "--root", "rel"},
		{"migrate_table", "t1", "-c", "onebox2"}, // no ZooKeeper
	} {
		if r := main(args...); r.code != ExitUsage || !strings.HasPrefix(r.stderr, "error: ") || r.stdout != "" {
			t.Errorf("%q: %+v, want a usage error", args, r)
		}
	}
}
