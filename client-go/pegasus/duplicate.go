package pegasus

import (
	"context"

	"github.com/pegasus-go/pegasus/shared/protocol"
)

// Duplicate sends entries another cluster's duplicator read from its log
// to partition partitionIndex of the table (Replica.Duplicate on that
// partition's primary). Every entry's key must hash to that partition
// under this table's partition count, and every entry must come from
// another cluster of the receiver's [duplication-group]; the receiver
// applies the entries in one write, each last-writer-wins by its timetag
// (TimestampUs, then ClusterID), and answers how many changed data (the
// rest lost against newer data already there).
//
// Applying entries again changes nothing more, so Duplicate is retried
// like the idempotent operations (configuration refresh and backoff within
// ctx's deadline). A partition index outside the table or no entries is
// ErrInvalidArgument; a refusal of the receiver (unknown or own cluster
// id, an entry of another partition: CodeInvalidArgument,
// CodeWrongPartition) is returned as is, wrapped in an *OpError.
func (t *Table) Duplicate(ctx context.Context, partitionIndex int32, entries []protocol.DuplicateEntry) (applied int32, err error) {
	var resp protocol.DuplicateResponse
	err = t.run(ctx, opDuplicate, func(ctx context.Context) error {
		if n := int32(t.PartitionCount()); partitionIndex < 0 || partitionIndex >= n {
			return t.argError(opDuplicate, invalidArgf("partition index %d outside the table's %d partitions", partitionIndex, n))
		}
		if len(entries) == 0 {
			return t.argError(opDuplicate, invalidArgf("no entries"))
		}
		_, _, err := t.do(ctx, call{op: opDuplicate, method: protocol.MethodDuplicate, idempotent: true,
			fixed: true, partition: partitionIndex,
			req: &protocol.DuplicateRequest{Entries: entries}, resp: &resp})
		return err
	})
	if err != nil {
		return 0, err
	}
	return resp.Applied, nil
}
