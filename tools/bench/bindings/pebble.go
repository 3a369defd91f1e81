package bindings

import (
	"context"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble"
	"github.com/magiconair/properties"
	"github.com/pingcap/go-ycsb/pkg/ycsb"
)

// Properties of the "pebble" binding.
const (
	// PebbleDir is the database directory (created when missing; kept, so
	// a load in one run serves the workloads of later runs).
	PebbleDir = "pebble.dir"
	// PebbleSync makes every write wait for the WAL fsync (default false).
	PebbleSync = "pebble.sync"
)

func init() { ycsb.RegisterDBCreator("pebble", pebbleCreator{}) }

type pebbleCreator struct{}

type pebbleDB struct {
	noThreadState
	db *pebble.DB
	wo *pebble.WriteOptions
}

// Create implements ycsb.DBCreator.
func (pebbleCreator) Create(p *properties.Properties) (ycsb.DB, error) {
	dir := p.GetString(PebbleDir, "")
	if dir == "" {
		return nil, fmt.Errorf("pebble binding: property %s is required", PebbleDir)
	}
	db, err := pebble.Open(dir, &pebble.Options{Logger: quietLogger{}})
	if err != nil {
		return nil, fmt.Errorf("pebble binding: %w", err)
	}
	wo := pebble.NoSync
	if p.GetBool(PebbleSync, false) {
		wo = pebble.Sync
	}
	return &pebbleDB{db: db, wo: wo}, nil
}

func (db *pebbleDB) Close() error { return db.db.Close() }

func (db *pebbleDB) Read(_ context.Context, _ string, key string, fields []string) (map[string][]byte, error) {
	v, closer, err := db.db.Get([]byte(key))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, fmt.Errorf("pebble binding: key %s not found", key)
	}
	if err != nil {
		return nil, err
	}
	out := record(fields, append([]byte(nil), v...))
	return out, closer.Close()
}

func (db *pebbleDB) Scan(_ context.Context, _ string, startKey string, count int, fields []string) ([]map[string][]byte, error) {
	it, err := db.db.NewIter(nil)
	if err != nil {
		return nil, err
	}
	out := make([]map[string][]byte, 0, count)
	for ok := it.SeekGE([]byte(startKey)); ok && len(out) < count; ok = it.Next() {
		out = append(out, record(fields, append([]byte(nil), it.Value()...)))
	}
	if err := it.Close(); err != nil {
		return nil, err
	}
	return out, nil
}

func (db *pebbleDB) Update(_ context.Context, _ string, key string, values map[string][]byte) error {
	return db.set(key, values)
}

func (db *pebbleDB) Insert(_ context.Context, _ string, key string, values map[string][]byte) error {
	return db.set(key, values)
}

func (db *pebbleDB) set(key string, values map[string][]byte) error {
	v, err := singleValue("pebble", values)
	if err != nil {
		return err
	}
	return db.db.Set([]byte(key), v, db.wo)
}

func (db *pebbleDB) Delete(_ context.Context, _ string, key string) error {
	return db.db.Delete([]byte(key), db.wo)
}

// quietLogger drops pebble's informational messages (WAL replay at open)
// and keeps its fatal ones.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any) {}

func (quietLogger) Fatalf(format string, args ...any) { pebble.DefaultLogger.Fatalf(format, args...) }
