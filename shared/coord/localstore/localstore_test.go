package localstore_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/pegasus-go/pegasus/shared/coord"
	"github.com/pegasus-go/pegasus/shared/coord/coordtest"
	"github.com/pegasus-go/pegasus/shared/coord/localstore"
)

func open(ctx context.Context, locator, root string) (coord.Store, error) {
	return localstore.Open(ctx, localstore.Options{Dir: locator, Root: root})
}

// envCASDir makes the test binary a child that does casPerChild
// compare-and-set increments on /counter in the store at that directory.
const (
	envCASDir   = "LOCALSTORE_CAS_DIR"
	casPerChild = 40
)

func TestMain(m *testing.M) {
	coordtest.ChildMain(open)
	if dir := os.Getenv(envCASDir); dir != "" {
		if err := increment(dir, casPerChild); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// increment adds n to the counter at /counter with read-modify-write CAS.
func increment(dir string, n int) error {
	ctx := context.Background()
	s, err := open(ctx, dir, "/")
	if err != nil {
		return err
	}
	defer s.Close()
	for done := 0; done < n; {
		data, st, err := s.Get(ctx, "/counter")
		if err != nil {
			return err
		}
		v, err := strconv.Atoi(string(data))
		if err != nil {
			return fmt.Errorf("counter holds %q", data)
		}
		_, err = s.Set(ctx, "/counter", []byte(strconv.Itoa(v+1)), st.Version)
		switch {
		case err == nil:
			done++
		case !errors.Is(err, coord.ErrBadVersion):
			return err
		}
	}
	return nil
}

// TestCrossProcessCAS runs CAS increments from several processes and from
// this one at once: compare-and-set must be atomic across processes.
func TestCrossProcessCAS(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s, err := open(ctx, dir, "/")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Create(ctx, "/counter", []byte("0"), coord.Persistent); err != nil {
		t.Fatal(err)
	}
	const children = 3
	var cmds []*exec.Cmd
	for range children {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), envCASDir+"="+dir)
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	if err := increment(dir, casPerChild); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("child: %v", err)
		}
	}
	data, st, err := s.Get(ctx, "/counter")
	if err != nil {
		t.Fatal(err)
	}
	if want := (children + 1) * casPerChild; string(data) != strconv.Itoa(want) || int(st.Version) != want {
		t.Fatalf("counter %s at version %d, want %d", data, st.Version, want)
	}
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
