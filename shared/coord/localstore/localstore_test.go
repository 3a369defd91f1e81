package localstore_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/pegasus-go/pegasus/shared/coord"
	"github.com/pegasus-go/pegasus/shared/coord/coordtest"
	"github.com/pegasus-go/pegasus/shared/coord/localstore"
)

func open(ctx context.Context, locator, root string) (coord.Store, error) {
	return localstore.Open(ctx, localstore.Options{Dir: locator, Root: root})
}

func TestMain(m *testing.M) {
	coordtest.ChildMain(open)
	os.Exit(m.Run())
}

func TestContract(t *testing.T) {
	dir := t.TempDir()
	coordtest.Run(t, coordtest.Backend{
		Locator: dir,
		Open:    open,
		LoseSession: func(t *testing.T, s coord.Store) {
			if err := localstore.ExpireSession(context.Background(), dir, s.SessionID()); err != nil {
				t.Fatal(err)
			}
		},
		DeathTimeout: 10 * time.Second,
	})
}
