package pegasus_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"slices"
	"time"

	"github.com/pegasus-go/pegasus/client-go/internal/fakecluster"
	"github.com/pegasus-go/pegasus/client-go/pegasus"
)

// exampleCluster starts an in-process fake cluster with a table "temp" of
// 8 partitions and returns its meta addresses; a real program would list
// its cluster's meta servers instead.
func exampleCluster() ([]string, func()) {
	fc, err := fakecluster.Start(fakecluster.Options{})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := fc.CreateTable("temp", 8); err != nil {
		log.Fatal(err)
	}
	return fc.MetaAddrs(), fc.Close
}

func Example() {
	metas, stop := exampleCluster()
	defer stop()

	client, err := pegasus.NewClient(pegasus.Config{MetaServers: metas})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	ctx := context.Background()
	table, err := client.OpenTable(ctx, "temp")
	if err != nil {
		log.Fatal(err)
	}
	if err := table.Set(ctx, []byte("user1"), []byte("name"), []byte("alice"), nil); err != nil {
		log.Fatal(err)
	}
	value, err := table.Get(ctx, []byte("user1"), []byte("name"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("name = %s\n", value)

	_, err = table.Get(ctx, []byte("user1"), []byte("email"))
	fmt.Println("email missing:", errors.Is(err, pegasus.ErrNotFound))
	// Output:
	// name = alice
	// email missing: true
}

func ExampleTable_Scan() {
	metas, stop := exampleCluster()
	defer stop()
	client, _ := pegasus.NewClient(pegasus.Config{MetaServers: metas})
	defer client.Close()
	ctx := context.Background()
	table, _ := client.OpenTable(ctx, "temp")

	_ = table.MultiSet(ctx, []byte("user1"),
		[][]byte{[]byte("b"), []byte("a"), []byte("c")},
		[][]byte{[]byte("2"), []byte("1"), []byte("3")}, nil)

	// Sortkeys of one hashkey come back in order.
	for kv, err := range table.Scan(ctx, []byte("user1"), nil, nil, nil) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s=%s\n", kv.SortKey, kv.Value)
	}
	// Output:
	// a=1
	// b=2
	// c=3
}

func ExampleTable_MultiGetRange() {
	metas, stop := exampleCluster()
	defer stop()
	client, _ := pegasus.NewClient(pegasus.Config{MetaServers: metas})
	defer client.Close()
	ctx := context.Background()
	table, _ := client.OpenTable(ctx, "temp")

	for i := range 5 {
		_ = table.Set(ctx, []byte("log"), fmt.Appendf(nil, "2025-01-0%d", i+1), fmt.Appendf(nil, "event %d", i+1), nil)
	}
	// Newest first, at most two, from the 2nd to the 4th inclusive.
	kvs, complete, err := table.MultiGetRange(ctx, []byte("log"), []byte("2025-01-02"), []byte("2025-01-04"),
		&pegasus.MultiGetOptions{StopInclusive: true, Reverse: true, MaxCount: 2})
	if err != nil {
		log.Fatal(err)
	}
	for _, kv := range kvs {
		fmt.Printf("%s: %s\n", kv.SortKey, kv.Value)
	}
	fmt.Println("complete:", complete)
	// Output:
	// 2025-01-04: event 4
	// 2025-01-03: event 3
	// complete: false
}

func ExampleTable_CheckAndSet() {
	metas, stop := exampleCluster()
	defer stop()
	client, _ := pegasus.NewClient(pegasus.Config{MetaServers: metas})
	defer client.Close()
	ctx := context.Background()
	table, _ := client.OpenTable(ctx, "temp")

	acquire := func(owner string) {
		res, err := table.CheckAndSet(ctx, []byte("job"), []byte("lock"), pegasus.CheckValueNotExist, nil,
			[]byte("lock"), []byte(owner), &pegasus.CheckAndSetOptions{TTL: time.Minute, ReturnCheckValue: true})
		switch {
		case errors.Is(err, pegasus.ErrCheckFailed):
			fmt.Printf("%s: held by %s\n", owner, res.CheckValue)
		case err != nil:
			log.Fatal(err)
		default:
			fmt.Printf("%s: acquired\n", owner)
		}
	}
	acquire("worker-1")
	acquire("worker-2")
	// Output:
	// worker-1: acquired
	// worker-2: held by worker-1
}

func ExampleTable_CheckAndMutate() {
	metas, stop := exampleCluster()
	defer stop()
	client, _ := pegasus.NewClient(pegasus.Config{MetaServers: metas})
	defer client.Close()
	ctx := context.Background()
	table, _ := client.OpenTable(ctx, "temp")

	_ = table.Set(ctx, []byte("doc"), []byte("version"), []byte("1"), nil)
	// Bump the version and replace the body, only if nobody else did.
	m := new(pegasus.Mutations).
		Set([]byte("version"), []byte("2"), 0).
		Set([]byte("body"), []byte("hello"), 0)
	_, err := table.CheckAndMutate(ctx, []byte("doc"), []byte("version"), pegasus.CheckBytesEqual, []byte("1"), m, nil)
	fmt.Println("first:", err)
	_, err = table.CheckAndMutate(ctx, []byte("doc"), []byte("version"), pegasus.CheckBytesEqual, []byte("1"), m, nil)
	fmt.Println("second is a conflict:", errors.Is(err, pegasus.ErrCheckFailed))
	// Output:
	// first: <nil>
	// second is a conflict: true
}

func ExampleTable_BatchGet() {
	metas, stop := exampleCluster()
	defer stop()
	client, _ := pegasus.NewClient(pegasus.Config{MetaServers: metas})
	defer client.Close()
	ctx := context.Background()
	table, _ := client.OpenTable(ctx, "temp")

	_, err := table.BatchSet(ctx, []pegasus.BatchSetItem{
		{HashKey: []byte("u1"), SortKey: []byte("name"), Value: []byte("ann")},
		{HashKey: []byte("u2"), SortKey: []byte("name"), Value: []byte("bob")},
	})
	if err != nil {
		log.Fatal(err)
	}
	results, err := table.BatchGet(ctx, []pegasus.Key{
		{HashKey: []byte("u1"), SortKey: []byte("name")},
		{HashKey: []byte("u3"), SortKey: []byte("name")},
		{HashKey: []byte("u2"), SortKey: []byte("name")},
	})
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range results {
		if errors.Is(r.Err, pegasus.ErrNotFound) {
			fmt.Println("(missing)")
			continue
		}
		fmt.Println(string(r.Value))
	}
	// Output:
	// ann
	// (missing)
	// bob
}

func ExampleTable_GetUnorderedScanners() {
	metas, stop := exampleCluster()
	defer stop()
	client, _ := pegasus.NewClient(pegasus.Config{MetaServers: metas})
	defer client.Close()
	ctx := context.Background()
	table, _ := client.OpenTable(ctx, "temp")

	for i := range 20 {
		_ = table.Set(ctx, fmt.Appendf(nil, "key%02d", i), []byte("s"), []byte("v"), nil)
	}
	// Two scanners share the 8 partitions; each could run on its own
	// goroutine.
	scanners, err := table.GetUnorderedScanners(2, nil)
	if err != nil {
		log.Fatal(err)
	}
	var keys []string
	for _, s := range scanners {
		for kv, err := range s.All(ctx) {
			if err != nil {
				log.Fatal(err)
			}
			keys = append(keys, string(kv.HashKey))
		}
	}
	slices.Sort(keys)
	fmt.Println(len(scanners), "scanners,", len(keys), "records, first", keys[0], "last", keys[len(keys)-1])
	// Output:
	// 2 scanners, 20 records, first key00 last key19
}

func ExampleOpError() {
	metas, stop := exampleCluster()
	defer stop()
	client, _ := pegasus.NewClient(pegasus.Config{MetaServers: metas})
	defer client.Close()
	ctx := context.Background()

	_, err := client.OpenTable(ctx, "no_such_table")
	fmt.Println("table not found:", errors.Is(err, pegasus.ErrTableNotFound))

	table, _ := client.OpenTable(ctx, "temp")
	err = table.Set(ctx, nil, []byte("s"), []byte("v"), nil)
	var opErr *pegasus.OpError
	if errors.As(err, &opErr) {
		fmt.Println("op:", opErr.Op, "table:", opErr.Table, "invalid:", errors.Is(err, pegasus.ErrInvalidArgument))
	}
	// Output:
	// table not found: true
	// op: set table: temp invalid: true
}
