package bindings

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/magiconair/properties"
	"github.com/pingcap/go-ycsb/pkg/ycsb"

	"github.com/pegasus-go/pegasus/client-go/pegasus"
	"github.com/pegasus-go/pegasus/shared/keyschema"
)

// Properties of the "pegasus" binding.
const (
	// PegasusMetaServers is a comma-separated list of meta servers.
	PegasusMetaServers = "pegasus.meta_servers"
	// PegasusTable names the table (default: go-ycsb's "table" property).
	PegasusTable = "pegasus.table"
	// PegasusOperationTimeout bounds one operation (default 5s).
	PegasusOperationTimeout = "pegasus.operation_timeout"
)

func init() { ycsb.RegisterDBCreator("pegasus", pegasusCreator{}) }

type pegasusCreator struct{}

type pegasusDB struct {
	noThreadState
	client *pegasus.Client
	table  *pegasus.Table
}

// Create implements ycsb.DBCreator: it connects and opens the table.
func (pegasusCreator) Create(p *properties.Properties) (ycsb.DB, error) {
	metas := p.GetString(PegasusMetaServers, "127.0.0.1:34601")
	name := p.GetString(PegasusTable, p.GetString("table", "usertable"))
	timeout := p.GetDuration(PegasusOperationTimeout, 5*time.Second)
	c, err := pegasus.NewClient(pegasus.Config{MetaServers: strings.Split(metas, ","), OperationTimeout: timeout})
	if err != nil {
		return nil, fmt.Errorf("pegasus binding: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	t, err := c.OpenTable(ctx, name)
	if err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("pegasus binding: open table %s: %w", name, err)
	}
	return &pegasusDB{client: c, table: t}, nil
}

func (db *pegasusDB) Close() error { return db.client.Close() }

func (db *pegasusDB) Read(ctx context.Context, _ string, key string, fields []string) (map[string][]byte, error) {
	v, err := db.table.Get(ctx, []byte(key), nil)
	if err != nil {
		return nil, err
	}
	return record(fields, v), nil
}

// Scan reads count records of the start key's partition (see the package
// documentation).
func (db *pegasusDB) Scan(ctx context.Context, _ string, startKey string, count int, fields []string) ([]map[string][]byte, error) {
	n := db.table.PartitionCount()
	pidx, err := keyschema.PartitionIndex(keyschema.Hash([]byte(startKey), nil), int32(n))
	if err != nil {
		return nil, err
	}
	scanners, err := db.table.GetUnorderedScanners(n, &pegasus.ScanOptions{BatchSize: count})
	if err != nil {
		return nil, err
	}
	s := scanners[pidx]
	if p := s.Partitions(); len(p) != 1 || p[0] != pidx {
		return nil, fmt.Errorf("pegasus binding: scanner %d covers partitions %v", pidx, p)
	}
	defer s.Close()
	out := make([]map[string][]byte, 0, count)
	for len(out) < count {
		kv, ok, err := s.Next(ctx)
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		out = append(out, record(fields, kv.Value))
	}
	return out, nil
}

func (db *pegasusDB) Update(ctx context.Context, _ string, key string, values map[string][]byte) error {
	return db.set(ctx, key, values)
}

func (db *pegasusDB) Insert(ctx context.Context, _ string, key string, values map[string][]byte) error {
	return db.set(ctx, key, values)
}

func (db *pegasusDB) set(ctx context.Context, key string, values map[string][]byte) error {
	v, err := singleValue("pegasus", values)
	if err != nil {
		return err
	}
	return db.table.Set(ctx, []byte(key), nil, v, nil)
}

func (db *pegasusDB) Delete(ctx context.Context, _ string, key string) error {
	err := db.table.Del(ctx, []byte(key), nil)
	if errors.Is(err, pegasus.ErrNotFound) {
		return nil
	}
	return err
}
