package zkstore_test

import (
	"context"
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

func TestContract(t *testing.T) {
	srv := zktest.Start(t)
	coordtest.Run(t, coordtest.Backend{
		Locator: srv.Addr(),
		Open:    open,
		LoseSession: func(t *testing.T, s coord.Store) {
			// With the server gone the client declares the session lost
			// after its disconnect grace period.
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
}
