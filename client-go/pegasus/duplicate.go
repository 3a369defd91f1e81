package pegasus

import (
	"context"

	"github.com/pegasus-go/pegasus/shared/protocol"
)

const opDuplicate = "duplicate"

// Duplicate sends duplicated entries to partition partitionIndex's
// primary and returns how many changed its data. Idempotent: retried with
// refresh and backoff within ctx.
func (t *Table) Duplicate(ctx context.Context, partitionIndex int32, entries []protocol.DuplicateEntry) (int32, error) {
	var resp protocol.DuplicateResponse
	err := t.run(ctx, opDuplicate, func(ctx context.Context) error {
		_, _, err := t.do(ctx, call{op: opDuplicate, method: protocol.MethodDuplicate, idempotent: true,
			fixed: true, partition: partitionIndex, hash: uint64(partitionIndex),
			req: &protocol.DuplicateRequest{Entries: entries}, resp: &resp})
		return err
	})
	return resp.Applied, err
}
