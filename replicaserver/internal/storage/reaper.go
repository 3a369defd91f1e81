package storage

import (
	"bytes"
	"context"
	"time"

	"github.com/cockroachdb/pebble"
	"github.com/pegasus-go/pegasus/shared/keyschema"
)

// Reaper defaults.
const (
	DefaultReapStepKeys        = 1000
	DefaultReapDeleteBatchSize = 64
	DefaultReapGrace           = 5 * time.Minute
)

// ReaperOptions configures a Reaper.
type ReaperOptions struct {
	// StepKeys is the number of keys one Step examines.
	StepKeys int
	// DeleteBatchSize is the number of deletes per pebble batch; commits
	// wait only for one such batch at a time.
	DeleteBatchSize int
	// Grace delays reclaiming: a record is deleted only once it is expired
	// at now-Grace. Write batches judge expiry at their mutation's
	// timestamp, so a record must stay until no mutation that could still
	// see it alive is in flight; Grace must exceed the replication delay
	// plus clock skew or replicas may diverge. Zero takes
	// DefaultReapGrace; negative means no grace at all.
	Grace time.Duration
	// OnStep, if set, receives the cumulative stats after every Step.
	OnStep func(ReapStats)
}

// ReapStats counts a reaper's work.
type ReapStats struct {
	// Scanned is the number of records examined.
	Scanned uint64
	// Reclaimed is the number of expired records deleted.
	Reclaimed uint64
	// ReclaimedTombstones is the number of tombstones deleted (older than
	// Options.TombstoneRetention).
	ReclaimedTombstones uint64
	// Passes is the number of completed walks over the whole keyspace.
	Passes uint64
}

// Reaper reclaims expired records and old tombstones, walking the user keyspace in bounded
// steps and deleting what it finds in small unsynced batches. Its deletes
// are local to the replica: they do not advance LastAppliedDecree, and they
// only remove records that are invisible to every read. A Reaper is driven
// by one goroutine (Step or Run, not both at once).
type Reaper struct {
	e      *Engine
	opts   ReaperOptions
	cursor []byte // next key to examine; nil = start of the keyspace
	stats  ReapStats
}

// NewReaper returns a reaper for e starting at the beginning of the
// keyspace.
func (e *Engine) NewReaper(o ReaperOptions) *Reaper {
	if o.StepKeys <= 0 {
		o.StepKeys = DefaultReapStepKeys
	}
	if o.DeleteBatchSize <= 0 {
		o.DeleteBatchSize = DefaultReapDeleteBatchSize
	}
	switch {
	case o.Grace == 0:
		o.Grace = DefaultReapGrace
	case o.Grace < 0:
		o.Grace = 0
	}
	return &Reaper{e: e, opts: o}
}

// Stats returns the cumulative counters.
func (r *Reaper) Stats() ReapStats { return r.stats }

// Step examines up to StepKeys keys from where the previous step stopped
// (wrapping around at the end of the keyspace) and deletes the expired
// ones and the tombstones older than the engine's TombstoneRetention. It
// returns the cumulative stats.
func (r *Reaper) Step() (ReapStats, error) {
	e := r.e
	if err := e.acquire(); err != nil {
		return r.stats, err
	}
	defer e.release()
	now := e.now()
	cut := reapCutoff{
		expire: keyschema.EpochSeconds(now.Add(-r.opts.Grace)),
		tombUs: uint64(max(now.Add(-e.opts.TombstoneRetention).UnixMicro(), 0)),
	}
	lower := r.cursor
	if lower == nil {
		lower = keyschema.DataLowerBound()
	}
	it, err := e.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: keyschema.DataUpperBound()})
	if err != nil {
		return r.stats, ioError("reaper iterator", err)
	}
	var victims [][]byte
	n := 0
	ok := it.First()
	for ; ok && n < r.opts.StepKeys; ok = it.Next() {
		n++
		raw, err := it.ValueAndErr()
		if err != nil {
			_ = it.Close()
			return r.stats, ioError("reaper scan", err)
		}
		h, _, err := decodeStored(it.Key(), raw)
		if err != nil {
			_ = it.Close()
			return r.stats, err
		}
		if cut.reclaimable(h) {
			victims = append(victims, bytes.Clone(it.Key()))
		}
	}
	if ok {
		r.cursor = bytes.Clone(it.Key())
	} else {
		r.cursor = nil
	}
	if err := it.Close(); err != nil {
		return r.stats, ioError("reaper scan", err)
	}
	r.stats.Scanned += uint64(n)
	if r.cursor == nil {
		r.stats.Passes++
	}
	for len(victims) > 0 {
		k := min(len(victims), r.opts.DeleteBatchSize)
		expired, tombs, err := r.deleteExpired(victims[:k], cut)
		r.stats.Reclaimed += expired
		r.stats.ReclaimedTombstones += tombs
		if err != nil {
			return r.stats, err
		}
		victims = victims[k:]
	}
	if r.opts.OnStep != nil {
		r.opts.OnStep(r.stats)
	}
	return r.stats, nil
}

// reapCutoff says which records a reaper step reclaims.
type reapCutoff struct {
	expire uint32 // records expired at this epoch second
	tombUs uint64 // tombstones whose timestamp is below this (µs)
}

func (c reapCutoff) reclaimable(h keyschema.ValueHeader) bool {
	if isTombstone(h) {
		ts, _, _ := keyschema.UnpackTimetag(h.Timetag)
		return ts < c.tombUs
	}
	return expiredAt(h.ExpireTs, c.expire)
}

// deleteExpired deletes the keys that are still reclaimable at cut and
// returns how many expired records and tombstones it deleted. It holds
// commitMu so no write batch commits between the check and the delete: a
// key rewritten since the scan is re-read and kept.
func (r *Reaper) deleteExpired(keys [][]byte, cut reapCutoff) (expired, tombs uint64, err error) {
	e := r.e
	e.commitMu.Lock()
	defer e.commitMu.Unlock()
	b := e.db.NewBatch()
	defer b.Close()
	for _, k := range keys {
		raw, closer, err := e.db.Get(k)
		if err != nil {
			if err == pebble.ErrNotFound {
				continue
			}
			return 0, 0, ioError("reaper get", err)
		}
		h, _, derr := decodeStored(k, raw)
		_ = closer.Close()
		if derr != nil {
			return 0, 0, derr
		}
		if !cut.reclaimable(h) {
			continue
		}
		if err := b.Delete(k, nil); err != nil {
			return 0, 0, ioError("reaper delete", err)
		}
		if isTombstone(h) {
			tombs++
		} else {
			expired++
		}
	}
	if expired+tombs == 0 {
		return 0, 0, nil
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		return 0, 0, ioError("reaper commit", err)
	}
	return expired, tombs, nil
}

// Run calls Step on every tick until ctx is done (returning nil) or a Step
// fails (returning its error; ErrClosed once the engine is closed). The caller owns the goroutine and the tick
// source (e.g. a time.Ticker's channel), which sets the reaper's pace.
func (r *Reaper) Run(ctx context.Context, tick <-chan time.Time) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick:
			if _, err := r.Step(); err != nil {
				return err
			}
		}
	}
}
