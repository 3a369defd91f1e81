package zkstore_test

import (
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pegasus-go/pegasus/shared/coord"
	"github.com/pegasus-go/pegasus/shared/coord/coordtest"
	"github.com/pegasus-go/pegasus/shared/coord/zkstore"
	"github.com/pegasus-go/pegasus/shared/zktest"
)

// sessionTimeout keeps ephemeral cleanup after a SIGKILL short.
const sessionTimeout = 2 * time.Second

func open(ctx context.Context, locator, root string) (coord.Store, error) {
	return zkstore.Open(ctx, zkstore.Options{
		Servers:        strings.Split(locator, ","),
		Root:           root,
		SessionTimeout: sessionTimeout,
	})
}

func TestMain(m *testing.M) {
	coordtest.ChildMain(open)
	os.Exit(m.Run())
}

// TestZooKeeper starts one server for the whole package: the contract suite
// and the ZooKeeper-specific tests share it.
func TestZooKeeper(t *testing.T) {
	srv := zktest.Start(t)
	t.Run("Contract", func(t *testing.T) {
		coordtest.Run(t, coordtest.Backend{
			Locator: srv.Addr(),
			Open:    open,
			LoseSession: func(t *testing.T, s coord.Store) {
				// With the server gone the client declares the session
				// lost after its disconnect grace period.
				srv.Kill()
				select {
				case <-s.Done():
				case <-time.After(time.Minute):
					t.Fatal("session not lost with the server down")
				}
				if err := srv.Restart(context.Background()); err != nil {
					t.Fatal(err)
				}
			},
			DeathTimeout: 10 * sessionTimeout,
		})
	})
	t.Run("SurvivesShortOutage", func(t *testing.T) { testShortOutage(t, srv) })
}

// testShortOutage restarts the server within the session timeout and the
// grace period: the session, its ephemeral node and its watches survive.
func testShortOutage(t *testing.T, srv *zktest.Server) {
	ctx := context.Background()
	s, err := zkstore.Open(ctx, zkstore.Options{
		Servers:         []string{srv.Addr()},
		Root:            "/outage",
		SessionTimeout:  40 * time.Second,
		DisconnectGrace: 30 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if ev := <-s.Events(); ev.State != coord.SessionConnected {
		t.Fatalf("first event %v", ev.State)
	}
	if _, err := s.Create(ctx, "/eph", []byte("x"), coord.Ephemeral); err != nil {
		t.Fatal(err)
	}
	_, _, w, err := s.GetW(ctx, "/eph")
	if err != nil {
		t.Fatal(err)
	}
	srv.Kill()
	waitState(t, s, coord.SessionDisconnected)
	_, _, err = s.Get(ctx, "/eph")
	if !errors.Is(err, coord.ErrConnectionLoss) {
		t.Fatalf("get while the server is down = %v", err)
	}
	if err := srv.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	waitState(t, s, coord.SessionConnected)
	if s.Err() != nil {
		t.Fatalf("session ended by a short outage: %v", s.Err())
	}
	_, st, err := s.Get(ctx, "/eph")
	if err != nil || st.EphemeralOwner != s.SessionID() {
		t.Fatalf("ephemeral after the outage: %+v %v", st, err)
	}
	if _, err := s.Set(ctx, "/eph", []byte("y"), coord.AnyVersion); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-w:
		if ev.Type != coord.EventDataChanged {
			t.Fatalf("watch across the outage got %v", ev.Type)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("watch set before the outage did not fire")
	}
}

func waitState(t *testing.T, s coord.Store, want coord.SessionState) {
	t.Helper()
	limit := time.After(60 * time.Second)
	for {
		select {
		case ev, ok := <-s.Events():
			if !ok {
				t.Fatalf("session ended waiting for %v: %v", want, s.Err())
			}
			if ev.State == want {
				return
			}
		case <-limit:
			t.Fatalf("no %v event", want)
		}
	}
}

func TestOpenUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	_, err = zkstore.Open(context.Background(), zkstore.Options{
		Servers:        []string{addr},
		ConnectTimeout: 300 * time.Millisecond,
	})
	if err == nil || !strings.Contains(err.Error(), "no session") {
		t.Fatalf("Open of an unreachable server = %v", err)
	}
	if _, err := zkstore.Open(context.Background(), zkstore.Options{}); !errors.Is(err, coord.ErrInvalidArgument) {
		t.Fatalf("Open without servers = %v", err)
	}
	if _, err := zkstore.Open(context.Background(), zkstore.Options{Servers: []string{addr}, Root: "x"}); !errors.Is(err, coord.ErrInvalidPath) {
		t.Fatalf("Open with a relative root = %v", err)
	}
}
