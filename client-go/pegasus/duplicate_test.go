package pegasus_test

import (
	"context"
	"errors"
	"testing"

	"github.com/pegasus-go/pegasus/client-go/pegasus"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

// Duplicate's own checks; its behaviour against a real replica server is
// tested in replicaserver/embed (dup_client_test.go).
func TestDuplicateArguments(t *testing.T) {
	e := newEnv(t, envOpts{partitions: 4})
	ctx := context.Background()
	entry := []protocol.DuplicateEntry{{TimestampUs: 1, ClusterID: 1, Op: protocol.OpPut}}
	for _, c := range []struct {
		name    string
		pidx    int32
		entries []protocol.DuplicateEntry
	}{
		{"negative partition", -1, entry},
		{"partition outside the table", 4, entry},
		{"no entries", 0, nil},
	} {
		_, err := e.t.Duplicate(ctx, c.pidx, c.entries)
		var oe *pegasus.OpError
		if !errors.Is(err, pegasus.ErrInvalidArgument) || !errors.As(err, &oe) || oe.Op != "duplicate" {
			t.Errorf("%s: %v, want an invalid-argument OpError of op duplicate", c.name, err)
		}
	}
	if n := e.fc.Calls(protocol.MethodDuplicate); n != 0 {
		t.Fatalf("%d Duplicate calls reached the cluster", n)
	}
}
