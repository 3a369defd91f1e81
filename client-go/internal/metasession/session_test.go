package metasession

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/pegasus-go/pegasus/client-go/admin/admintest"
	"github.com/pegasus-go/pegasus/shared/protocol"
	"github.com/pegasus-go/pegasus/shared/rpc"
)

func TestMain(m *testing.M) {
	rpc.SetFrameworkLogger(slog.New(slog.DiscardHandler))
	goleak.VerifyTestMain(m)
}

// startMetas starts n fake metas of one cluster, closed at cleanup.
func startMetas(t *testing.T, n int) (*admintest.Cluster, []*admintest.Meta) {
	t.Helper()
	c := admintest.NewCluster(admintest.Options{Nodes: []string{"127.0.0.1:34801"}})
	var ms []*admintest.Meta
	for range n {
		m, err := c.StartMeta()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = m.Close() })
		ms = append(ms, m)
	}
	return c, ms
}

// deadAddr returns a loopback address nothing listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

func newSession(t *testing.T, cfg Config) *Session {
	t.Helper()
	if cfg.RetryInterval == 0 {
		cfg.RetryInterval = time.Millisecond
		cfg.MaxRetryInterval = 5 * time.Millisecond
	}
	s, err := New(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func listApps(ctx context.Context, s *Session) error {
	var resp protocol.ListAppsResponse
	return s.Call(ctx, protocol.ServiceMeta, protocol.MethodListApps, &protocol.ListAppsRequest{}, &resp, RetryIdempotent)
}

func TestFollowsRedirectAndRemembersLeader(t *testing.T) {
	c, ms := startMetas(t, 2)
	follower, leader := ms[0], ms[1]
	follower.SetFollower(leader.Addr())
	s := newSession(t, Config{MetaServers: []string{follower.Addr()}})
	if err := listApps(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	if got := s.Leader(); got != leader.Addr() {
		t.Fatalf("leader = %q, want %q", got, leader.Addr())
	}
	// The second call goes straight to the leader.
	if err := listApps(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	if n := c.Calls(protocol.MethodListApps); n != 2 {
		t.Fatalf("leader served %d calls, want 2", n)
	}
}

func TestFollowerWithoutLeaderFallsBackToList(t *testing.T) {
	_, ms := startMetas(t, 2)
	ms[0].SetFollower("")
	s := newSession(t, Config{MetaServers: []string{ms[0].Addr(), ms[1].Addr()}})
	if err := listApps(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	if got := s.Leader(); got != ms[1].Addr() {
		t.Fatalf("leader = %q, want %q", got, ms[1].Addr())
	}
}

func TestSkipsDeadMetaServer(t *testing.T) {
	_, ms := startMetas(t, 1)
	s := newSession(t, Config{MetaServers: []string{deadAddr(t), ms[0].Addr()}})
	if err := listApps(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	if got := s.Leader(); got != ms[0].Addr() {
		t.Fatalf("leader = %q, want %q", got, ms[0].Addr())
	}
}

func TestLeaderFailover(t *testing.T) {
	_, ms := startMetas(t, 3)
	a, b, c := ms[0], ms[1], ms[2]
	a.SetFollower(b.Addr())
	c.SetFollower(b.Addr())
	s := newSession(t, Config{MetaServers: []string{a.Addr(), b.Addr(), c.Addr()}})
	if err := listApps(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	if s.Leader() != b.Addr() {
		t.Fatalf("leader = %q, want %q", s.Leader(), b.Addr())
	}
	// b dies; c takes over and a learns of it.
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	c.SetLeader()
	a.SetFollower(c.Addr())
	if err := listApps(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	if s.Leader() != c.Addr() {
		t.Fatalf("leader = %q, want %q", s.Leader(), c.Addr())
	}
}

func TestAllDeadEndsWithContext(t *testing.T) {
	s := newSession(t, Config{MetaServers: []string{deadAddr(t), deadAddr(t)}})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err := listApps(ctx, s)
	if code := protocol.CodeOf(err); code != protocol.CodeNetworkFailure && code != protocol.CodeTimeout {
		t.Fatalf("err = %v (code %v), want a network failure or timeout", err, code)
	}
}

func TestRedirectLoopEndsWithContext(t *testing.T) {
	_, ms := startMetas(t, 2)
	ms[0].SetFollower(ms[1].Addr())
	ms[1].SetFollower(ms[0].Addr())
	s := newSession(t, Config{MetaServers: []string{ms[0].Addr()}})
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	err := listApps(ctx, s)
	if !errors.Is(err, protocol.CodeForwardToOthers) {
		t.Fatalf("err = %v, want CodeForwardToOthers", err)
	}
}

func TestServerErrorIsNotRetried(t *testing.T) {
	c, ms := startMetas(t, 2)
	s := newSession(t, Config{MetaServers: []string{ms[0].Addr(), ms[1].Addr()}})
	var resp protocol.QueryConfigResponse
	err := s.Call(context.Background(), protocol.ServiceMeta, protocol.MethodQueryConfig,
		&protocol.QueryConfigRequest{AppName: "nope"}, &resp, RetryIdempotent)
	if !errors.Is(err, protocol.CodeAppNotExist) {
		t.Fatalf("err = %v, want CodeAppNotExist", err)
	}
	if n := c.Calls(protocol.MethodQueryConfig); n != 1 {
		t.Fatalf("%d QueryConfig calls, want 1", n)
	}
}

func TestRetryUnsentRetriesOnlyDialFailures(t *testing.T) {
	_, ms := startMetas(t, 1)
	s := newSession(t, Config{MetaServers: []string{deadAddr(t), ms[0].Addr()}})
	var resp protocol.CreateAppResponse
	err := s.Call(context.Background(), protocol.ServiceMeta, protocol.MethodCreateApp,
		&protocol.CreateAppRequest{Name: "t", PartitionCount: 1, ReplicaCount: 1}, &resp, RetryUnsent)
	if err != nil {
		t.Fatal(err)
	}

	c, err := rpc.NewClient(rpc.ClientConfig{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	dialErr := c.Call(context.Background(), deadAddr(t), "Meta", "ListApps", &protocol.ListAppsRequest{}, &protocol.ListAppsResponse{})
	if !notSent(dialErr) {
		t.Fatalf("dial failure %v not recognised as unsent", dialErr)
	}
	sentErr := protocol.Errorf(protocol.CodeNetworkFailure, "connection reset")
	if notSent(sentErr) {
		t.Fatalf("%v recognised as unsent", sentErr)
	}
	if s.retryable(context.Background(), sentErr, RetryUnsent) {
		t.Fatal("RetryUnsent retries a request that may have been sent")
	}
	if !s.retryable(context.Background(), sentErr, RetryIdempotent) {
		t.Fatal("RetryIdempotent does not retry a network failure")
	}
}

func TestNewValidates(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"empty", Config{}},
		{"no port", Config{MetaServers: []string{"localhost"}}},
		{"negative", Config{MetaServers: []string{"127.0.0.1:1"}, AttemptTimeout: -1}},
	} {
		if _, err := New(tc.cfg, nil, nil); err == nil {
			t.Errorf("%s: New accepted %+v", tc.name, tc.cfg)
		}
	}
	s, err := New(Config{MetaServers: []string{"127.0.0.1:1", " 127.0.0.1:1", "127.0.0.1:2"}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := s.MetaServers(); len(got) != 2 {
		t.Fatalf("meta list %v, want duplicates removed", got)
	}
}

func TestParseList(t *testing.T) {
	got := ParseList(" a:1, ,b:2,")
	if len(got) != 2 || got[0] != "a:1" || got[1] != "b:2" {
		t.Fatalf("ParseList = %q", got)
	}
}

func TestCallAfterClose(t *testing.T) {
	_, ms := startMetas(t, 1)
	s, err := New(Config{MetaServers: []string{ms[0].Addr()}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := listApps(context.Background(), s); !errors.Is(err, rpc.ErrClientClosed) {
		t.Fatalf("err = %v, want ErrClientClosed", err)
	}
}
