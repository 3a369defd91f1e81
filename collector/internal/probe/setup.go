package probe

import (
	"context"
	"errors"

	"github.com/pegasus-go/pegasus/client-go/admin"
	"github.com/pegasus-go/pegasus/client-go/pegasus"
)

// ClientSetup is the real Setup: it creates the table through the admin
// client when missing, waits for its primaries and opens it with the data
// client.
type ClientSetup struct {
	Admin                    *admin.Client
	Client                   *pegasus.Client
	Table                    string
	PartitionCount, Replicas int32
}

// Ensure implements Setup.
func (s *ClientSetup) Ensure(ctx context.Context) (Store, int32, error) {
	_, err := s.Admin.QueryConfig(ctx, s.Table)
	if errors.Is(err, admin.ErrAppNotFound) {
		_, err = s.Admin.CreateApp(ctx, s.Table, admin.CreateAppOptions{PartitionCount: s.PartitionCount, ReplicaCount: s.Replicas})
		if errors.Is(err, admin.ErrAppExists) {
			err = nil
		}
	}
	if err != nil {
		return nil, 0, err
	}
	if _, err := s.Admin.WaitForPrimaries(ctx, s.Table); err != nil {
		return nil, 0, err
	}
	t, err := s.Client.OpenTable(ctx, s.Table)
	if err != nil {
		return nil, 0, err
	}
	return tableStore{t}, int32(t.PartitionCount()), nil
}

type tableStore struct{ t *pegasus.Table }

func (s tableStore) Set(ctx context.Context, hk, sk, v []byte) error {
	return s.t.Set(ctx, hk, sk, v, nil)
}

func (s tableStore) Get(ctx context.Context, hk, sk []byte) ([]byte, error) {
	return s.t.Get(ctx, hk, sk)
}
