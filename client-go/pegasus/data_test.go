package pegasus_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pegasus-go/pegasus/client-go/pegasus"
	"github.com/pegasus-go/pegasus/shared/keyschema"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

func b(s string) []byte { return []byte(s) }

func sortKeys(kvs []pegasus.KeyValue) string {
	var parts []string
	for _, kv := range kvs {
		parts = append(parts, string(kv.SortKey)+"="+string(kv.Value))
	}
	return strings.Join(parts, ",")
}

func TestGetSetDelExist(t *testing.T) {
	e := newEnv(t, envOpts{})
	ctx := context.Background()
	if err := e.t.Set(ctx, b("h"), b("s"), b("v"), nil); err != nil {
		t.Fatal(err)
	}
	v, err := e.t.Get(ctx, b("h"), b("s"))
	if err != nil || string(v) != "v" {
		t.Fatalf("get = %q, %v", v, err)
	}
	// An empty value is not a missing record.
	if err := e.t.Set(ctx, b("h"), b("empty"), nil, nil); err != nil {
		t.Fatal(err)
	}
	if v, err := e.t.Get(ctx, b("h"), b("empty")); err != nil || v == nil || len(v) != 0 {
		t.Fatalf("get empty = %#v, %v", v, err)
	}
	if ok, err := e.t.Exist(ctx, b("h"), b("s")); err != nil || !ok {
		t.Fatalf("exist = %v, %v", ok, err)
	}
	if err := e.t.Del(ctx, b("h"), b("s")); err != nil {
		t.Fatal(err)
	}
	if ok, err := e.t.Exist(ctx, b("h"), b("s")); err != nil || ok {
		t.Fatalf("exist after del = %v, %v", ok, err)
	}
	_, err = e.t.Get(ctx, b("h"), b("s"))
	if !errors.Is(err, pegasus.ErrNotFound) || !errors.Is(err, protocol.CodeNotFound) {
		t.Fatalf("get after del: %v", err)
	}
	var opErr *pegasus.OpError
	if !errors.As(err, &opErr) {
		t.Fatalf("%T is not an OpError", err)
	}
	wantP := partitionOf(t, b("h"), 8)
	if opErr.Op != "get" || opErr.Table != tableName || int(opErr.Partition) != wantP || opErr.Addr != e.fc.Primary(tableName, wantP) {
		t.Fatalf("op error fields: %+v", opErr)
	}
	if !strings.Contains(err.Error(), `get on table "test" partition`) {
		t.Fatalf("message: %v", err)
	}
	// Deleting a missing record succeeds.
	if err := e.t.Del(ctx, b("h"), b("nothing")); err != nil {
		t.Fatal(err)
	}
}

func TestTTL(t *testing.T) {
	e := newEnv(t, envOpts{})
	ctx := context.Background()
	if err := e.t.Set(ctx, b("h"), b("ttl"), b("v"), &pegasus.SetOptions{TTL: 1500 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	ttl, has, err := e.t.TTL(ctx, b("h"), b("ttl"))
	if err != nil || !has || ttl != 2*time.Second { // rounded up to whole seconds
		t.Fatalf("ttl = %v %v %v", ttl, has, err)
	}
	if err := e.t.Set(ctx, b("h"), b("forever"), b("v"), nil); err != nil {
		t.Fatal(err)
	}
	if ttl, has, err := e.t.TTL(ctx, b("h"), b("forever")); err != nil || has || ttl != 0 {
		t.Fatalf("ttl forever = %v %v %v", ttl, has, err)
	}
	if _, _, err := e.t.TTL(ctx, b("h"), b("missing")); !errors.Is(err, pegasus.ErrNotFound) {
		t.Fatalf("ttl missing: %v", err)
	}
	e.clock.Advance(3 * time.Second)
	if _, err := e.t.Get(ctx, b("h"), b("ttl")); !errors.Is(err, pegasus.ErrNotFound) {
		t.Fatalf("expired get: %v", err)
	}
	if _, _, err := e.t.TTL(ctx, b("h"), b("ttl")); !errors.Is(err, pegasus.ErrNotFound) {
		t.Fatalf("expired ttl: %v", err)
	}
}

func TestMultiOps(t *testing.T) {
	e := newEnv(t, envOpts{})
	ctx := context.Background()
	hk := b("user")
	var sks, vals [][]byte
	for i := range 6 {
		sks = append(sks, b(fmt.Sprintf("k%d", i)))
		vals = append(vals, b(fmt.Sprintf("v%d", i)))
	}
	if err := e.t.MultiSet(ctx, hk, sks, vals, nil); err != nil {
		t.Fatal(err)
	}
	if n, err := e.t.SortKeyCount(ctx, hk); err != nil || n != 6 {
		t.Fatalf("count = %d, %v", n, err)
	}

	kvs, complete, err := e.t.MultiGet(ctx, hk, [][]byte{b("k3"), b("k1"), b("missing")}, nil)
	if err != nil || !complete || sortKeys(kvs) != "k1=v1,k3=v3" {
		t.Fatalf("multiget keys = %s %v %v", sortKeys(kvs), complete, err)
	}
	if !bytes.Equal(kvs[0].HashKey, hk) {
		t.Fatalf("hashkey not filled: %q", kvs[0].HashKey)
	}
	kvs, complete, err = e.t.MultiGet(ctx, hk, nil, nil)
	if err != nil || !complete || len(kvs) != 6 {
		t.Fatalf("multiget all = %s %v %v", sortKeys(kvs), complete, err)
	}
	kvs, complete, err = e.t.MultiGet(ctx, hk, nil, &pegasus.MultiGetOptions{MaxCount: 2, Reverse: true, NoValue: true})
	if err != nil || complete || sortKeys(kvs) != "k5=,k4=" {
		t.Fatalf("multiget limited = %s %v %v", sortKeys(kvs), complete, err)
	}

	for _, tc := range []struct {
		start, stop string
		opts        pegasus.MultiGetOptions
		want        string
	}{
		{"k1", "k3", pegasus.MultiGetOptions{}, "k1=v1,k2=v2"},
		{"k1", "k3", pegasus.MultiGetOptions{StartExclusive: true, StopInclusive: true}, "k2=v2,k3=v3"},
		{"k4", "", pegasus.MultiGetOptions{}, "k4=v4,k5=v5"},
		{"", "", pegasus.MultiGetOptions{Filter: pegasus.Filter{Type: pegasus.FilterPostfix, Pattern: b("2")}}, "k2=v2"},
		{"k3", "k1", pegasus.MultiGetOptions{}, ""},
	} {
		kvs, _, err := e.t.MultiGetRange(ctx, hk, b(tc.start), b(tc.stop), &tc.opts)
		if err != nil || sortKeys(kvs) != tc.want {
			t.Errorf("range %q..%q %+v = %s, %v; want %s", tc.start, tc.stop, tc.opts, sortKeys(kvs), err, tc.want)
		}
	}

	if n, err := e.t.MultiDel(ctx, hk, [][]byte{b("k0"), b("k1"), b("nope")}); err != nil || n != 2 {
		t.Fatalf("multidel = %d, %v", n, err)
	}
	if n, err := e.t.DelRange(ctx, hk, b("k2"), b("k4"), nil); err != nil || n != 2 {
		t.Fatalf("delrange = %d, %v", n, err)
	}
	if n, err := e.t.DelRange(ctx, hk, nil, nil, &pegasus.DelRangeOptions{Filter: pegasus.Filter{Type: pegasus.FilterPrefix, Pattern: b("k5")}}); err != nil || n != 1 {
		t.Fatalf("delrange filtered = %d, %v", n, err)
	}
	kvs, _, err = e.t.MultiGet(ctx, hk, nil, nil)
	if err != nil || sortKeys(kvs) != "k4=v4" {
		t.Fatalf("after deletes = %s, %v", sortKeys(kvs), err)
	}
}

func TestIncr(t *testing.T) {
	e := newEnv(t, envOpts{})
	ctx := context.Background()
	if v, err := e.t.Incr(ctx, b("c"), b("n"), 5, nil); err != nil || v != 5 {
		t.Fatalf("incr = %d, %v", v, err)
	}
	if v, err := e.t.Incr(ctx, b("c"), b("n"), -7, &pegasus.IncrOptions{TTL: 10 * time.Second}); err != nil || v != -2 {
		t.Fatalf("incr = %d, %v", v, err)
	}
	if ttl, has, err := e.t.TTL(ctx, b("c"), b("n")); err != nil || !has || ttl != 10*time.Second {
		t.Fatalf("ttl after incr = %v %v %v", ttl, has, err)
	}
	if _, err := e.t.Incr(ctx, b("c"), b("n"), 1, nil); err != nil { // keeps the TTL
		t.Fatal(err)
	}
	if _, has, _ := e.t.TTL(ctx, b("c"), b("n")); !has {
		t.Fatal("incr without options dropped the TTL")
	}
	if _, err := e.t.Incr(ctx, b("c"), b("n"), 1, &pegasus.IncrOptions{ClearTTL: true}); err != nil {
		t.Fatal(err)
	}
	if _, has, _ := e.t.TTL(ctx, b("c"), b("n")); has {
		t.Fatal("ClearTTL kept the TTL")
	}
	if v, _ := e.t.Get(ctx, b("c"), b("n")); string(v) != "0" {
		t.Fatalf("value = %q", v)
	}
	if err := e.t.Set(ctx, b("c"), b("text"), b("abc"), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.t.Incr(ctx, b("c"), b("text"), 1, nil); !errors.Is(err, pegasus.ErrInvalidIncr) {
		t.Fatalf("incr of text: %v", err)
	}
}

func TestCheckAndSet(t *testing.T) {
	e := newEnv(t, envOpts{})
	ctx := context.Background()
	hk := b("cas")
	// Set "lock" only if absent.
	res, err := e.t.CheckAndSet(ctx, hk, b("lock"), pegasus.CheckValueNotExist, nil, b("lock"), b("owner1"), nil)
	if err != nil || !res.Passed {
		t.Fatalf("first cas = %+v, %v", res, err)
	}
	res, err = e.t.CheckAndSet(ctx, hk, b("lock"), pegasus.CheckValueNotExist, nil, b("lock"), b("owner2"),
		&pegasus.CheckAndSetOptions{ReturnCheckValue: true})
	if !errors.Is(err, pegasus.ErrCheckFailed) || res == nil || res.Passed || !res.CheckValueReturned ||
		!res.CheckValueExist || string(res.CheckValue) != "owner1" {
		t.Fatalf("second cas = %+v, %v", res, err)
	}
	// Check one sortkey, set another, with a TTL.
	res, err = e.t.CheckAndSet(ctx, hk, b("lock"), pegasus.CheckBytesEqual, b("owner1"), b("data"), b("x"),
		&pegasus.CheckAndSetOptions{TTL: time.Minute})
	if err != nil || !res.Passed {
		t.Fatalf("diff sortkey cas = %+v, %v", res, err)
	}
	if ttl, has, err := e.t.TTL(ctx, hk, b("data")); err != nil || !has || ttl != time.Minute {
		t.Fatalf("ttl = %v %v %v", ttl, has, err)
	}
	if err := e.t.Set(ctx, hk, b("n"), b("10"), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.t.CheckAndSet(ctx, hk, b("n"), pegasus.CheckIntGreater, b("20"), b("n"), b("0"), nil); !errors.Is(err, pegasus.ErrCheckFailed) {
		t.Fatalf("int check: %v", err)
	}
}

func TestCheckAndMutate(t *testing.T) {
	e := newEnv(t, envOpts{})
	ctx := context.Background()
	hk := b("cam")
	if err := e.t.Set(ctx, hk, b("ver"), b("1"), nil); err != nil {
		t.Fatal(err)
	}
	if err := e.t.Set(ctx, hk, b("old"), b("x"), nil); err != nil {
		t.Fatal(err)
	}
	m := new(pegasus.Mutations).Set(b("ver"), b("2"), 0).Set(b("new"), b("y"), time.Hour).Del(b("old"))
	res, err := e.t.CheckAndMutate(ctx, hk, b("ver"), pegasus.CheckIntEqual, b("1"), m, &pegasus.CheckAndMutateOptions{ReturnCheckValue: true})
	if err != nil || !res.Passed || string(res.CheckValue) != "1" {
		t.Fatalf("cam = %+v, %v", res, err)
	}
	kvs, _, err := e.t.MultiGet(ctx, hk, nil, nil)
	if err != nil || sortKeys(kvs) != "new=y,ver=2" {
		t.Fatalf("after cam = %s, %v", sortKeys(kvs), err)
	}
	res, err = e.t.CheckAndMutate(ctx, hk, b("ver"), pegasus.CheckIntEqual, b("1"), m, nil)
	if !errors.Is(err, pegasus.ErrCheckFailed) || res == nil || res.Passed {
		t.Fatalf("stale cam = %+v, %v", res, err)
	}
}

func TestValidationBeforeRPC(t *testing.T) {
	e := newEnv(t, envOpts{})
	ctx := context.Background()
	long := bytes.Repeat([]byte{'x'}, keyschema.MaxHashKeyLen+1)
	calls := []struct {
		name string
		fn   func() error
	}{
		{"get empty hashkey", func() error { _, err := e.t.Get(ctx, nil, b("s")); return err }},
		{"set long hashkey", func() error { return e.t.Set(ctx, long, b("s"), b("v"), nil) }},
		{"set negative ttl", func() error { return e.t.Set(ctx, b("h"), b("s"), b("v"), &pegasus.SetOptions{TTL: -time.Second}) }},
		{"multiset mismatch", func() error { return e.t.MultiSet(ctx, b("h"), [][]byte{b("a")}, nil, nil) }},
		{"multiset empty", func() error { return e.t.MultiSet(ctx, b("h"), nil, nil, nil) }},
		{"multidel empty", func() error { _, err := e.t.MultiDel(ctx, b("h"), nil); return err }},
		{"multiget bad filter", func() error {
			_, _, err := e.t.MultiGet(ctx, b("h"), nil, &pegasus.MultiGetOptions{Filter: pegasus.Filter{Type: 99}})
			return err
		}},
		{"incr ttl and clear", func() error {
			_, err := e.t.Incr(ctx, b("h"), b("s"), 1, &pegasus.IncrOptions{TTL: time.Second, ClearTTL: true})
			return err
		}},
		{"cas bad check type", func() error {
			_, err := e.t.CheckAndSet(ctx, b("h"), b("s"), 200, nil, b("s"), b("v"), nil)
			return err
		}},
		{"cam no mutations", func() error {
			_, err := e.t.CheckAndMutate(ctx, b("h"), b("s"), pegasus.CheckNoCheck, nil, nil, nil)
			return err
		}},
		{"cam bad ttl", func() error {
			_, err := e.t.CheckAndMutate(ctx, b("h"), b("s"), pegasus.CheckNoCheck, nil, new(pegasus.Mutations).Set(b("s"), nil, -1), nil)
			return err
		}},
		{"scanner empty hashkey", func() error { _, err := e.t.GetScanner(nil, nil, nil, nil); return err }},
		{"unordered zero", func() error { _, err := e.t.GetUnorderedScanners(0, nil); return err }},
	}
	for _, c := range calls {
		err := c.fn()
		if !errors.Is(err, pegasus.ErrInvalidArgument) {
			t.Errorf("%s: %v, want ErrInvalidArgument", c.name, err)
		}
	}
	if n := e.fc.Calls(""); n != 0 {
		t.Fatalf("%d requests reached the cluster", n)
	}
	if _, err := e.c.OpenTable(ctx, ""); !errors.Is(err, pegasus.ErrInvalidArgument) {
		t.Fatalf("open empty name: %v", err)
	}
}

func TestConfigValidation(t *testing.T) {
	for _, cfg := range []pegasus.Config{
		{},
		{MetaServers: []string{""}},
		{MetaServers: []string{"a:1"}, OperationTimeout: -1},
		{MetaServers: []string{"a:1"}, InitialRetryBackoff: time.Second, MaxRetryBackoff: time.Millisecond},
	} {
		if _, err := pegasus.NewClient(cfg); !errors.Is(err, pegasus.ErrInvalidArgument) {
			t.Errorf("%+v: %v", cfg, err)
		}
	}
}
