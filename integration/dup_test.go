package integration

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestDuplication runs two real clusters (onebox and onebox2: one meta
// server and three replica servers each) on one real ZooKeeper and drives
// duplication between them with admincli as an operator would: `dup add`
// (incremental and full), `dup list`, `dup pause/start/remove` and
// `set_dup_fail_mode`. Data goes in and is read back through client-go; a
// table's content is compared across the clusters by a digest of every
// record (hashkey, sortkey, value, TTL or not) scanned through client-go.
// Each subtest uses tables of its own and leaves both clusters healthy.
//
// Sizes are small by default; PEGASUS_DUP_FULL=1 runs the sizes
// (50,000 writes per incremental run, 100,000 rows before a full
// duplication, a 60 s outage).
func TestDuplication(t *testing.T) {
	e := startDupClusters(t)
	sz := dupTestSizes()
	t.Logf("sizes: %+v", sz)
	t.Run("Incremental8To4", func(t *testing.T) { e.testIncremental(t, "inc84", 8, 4, sz.Writes) })
	t.Run("Incremental4To8", func(t *testing.T) { e.testIncremental(t, "inc48", 4, 8, sz.Writes) })
}

// testIncremental duplicates a table of srcParts partitions on onebox to
// one of dstParts partitions on onebox2 and makes n mixed writes on the
// source from concurrent writers: after the duplication drained, both
// tables hold the same records.
func (e *dupEnv) testIncremental(t *testing.T, table string, srcParts, dstParts int32, n int) {
	phase := phaseTimer(t)
	src, dst := e.sides[0], e.sides[1]
	srcT := e.createTable(t, src, table, srcParts)
	dstT := e.createTable(t, dst, table, dstParts)
	phase("tables created (%d and %d partitions)", srcParts, dstParts)
	id := e.dupAdd(t, src, table, dst, false)
	e.waitDupStatus(t, src, table, id, "DS_LOG", 30*time.Second)
	e.waitStarted(t, src, table, id, 30*time.Second)
	phase("dup add -> DS_LOG, every primary started")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	start := time.Now()
	counts, err := mixedWrites(ctx, srcT, "k", n, 16)
	if err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	phase("%d writes on the source (%.0f/s): %v", n, float64(n)/stopped.Sub(start).Seconds(), counts)
	waited := e.waitDrained(t, src, table, id, stopped, 3*time.Minute)
	phase("drained (%v after the last write)", waited.Round(time.Millisecond))
	records := sameContent(t, srcT, dstT, fmt.Sprintf("%s@%s", table, src.name), fmt.Sprintf("%s@%s", table, dst.name))
	if records == 0 {
		t.Fatal("the tables are empty")
	}
	phase("digests compared")
}
