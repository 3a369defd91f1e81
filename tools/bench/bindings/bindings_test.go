package bindings

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/magiconair/properties"
	"github.com/pingcap/go-ycsb/pkg/ycsb"
)

func create(t *testing.T, binding string, kv ...string) ycsb.DB {
	t.Helper()
	p := properties.NewProperties()
	for i := 0; i+1 < len(kv); i += 2 {
		p.MustSet(kv[i], kv[i+1])
	}
	db, err := ycsb.GetDBCreator(binding).Create(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func TestPebbleBinding(t *testing.T) {
	db := create(t, "pebble", PebbleDir, t.TempDir())
	ctx := context.Background()
	for i := range 5 {
		if err := db.Insert(ctx, "t", fmt.Sprintf("user%d", i), map[string][]byte{"field0": []byte{byte('a' + i)}}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := db.Read(ctx, "t", "user2", []string{"f"})
	if err != nil || string(got["f"]) != "c" {
		t.Fatalf("Read = %v, %v", got, err)
	}
	rows, err := db.Scan(ctx, "t", "user1", 3, nil)
	if err != nil || len(rows) != 3 || string(rows[0][defaultField]) != "b" || string(rows[2][defaultField]) != "d" {
		t.Fatalf("Scan = %v, %v", rows, err)
	}
	if err := db.Delete(ctx, "t", "user2"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Read(ctx, "t", "user2", nil); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("Read after Delete: %v", err)
	}
	err = db.Update(ctx, "t", "user1", map[string][]byte{"field0": nil, "field1": nil})
	if err == nil || !strings.Contains(err.Error(), "one field per record") {
		t.Fatalf("two fields: %v", err)
	}
}

func TestPebbleBindingNeedsDir(t *testing.T) {
	if _, err := (pebbleCreator{}).Create(properties.NewProperties()); err == nil || !strings.Contains(err.Error(), PebbleDir) {
		t.Fatalf("Create without dir: %v", err)
	}
}

func TestEchoBindings(t *testing.T) {
	s, err := StartEchoServers("127.0.0.1:0", "127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	}()
	ctx := context.Background()
	for _, tc := range []struct{ binding, prop, addr string }{
		{"rpcx-echo", RpcxEchoAddr, s.RpcxAddr()},
		{"rpc-echo", RPCEchoAddr, s.RPCAddr()},
	} {
		db := create(t, tc.binding, tc.prop, tc.addr)
		got, err := db.Read(ctx, "t", "k", nil)
		if err != nil || len(got[defaultField]) != EchoPayloadBytes {
			t.Fatalf("%s Read = %v, %v", tc.binding, got, err)
		}
		if err := db.Update(ctx, "t", "k", map[string][]byte{"f": make([]byte, EchoPayloadBytes)}); err != nil {
			t.Fatalf("%s Update: %v", tc.binding, err)
		}
		if _, err := db.Scan(ctx, "t", "k", 1, nil); err == nil {
			t.Fatalf("%s Scan succeeded", tc.binding)
		}
	}
}
