package bindings

import (
	"context"
	"fmt"
)

// defaultField names the single field of a record when the workload asks
// for all fields.
const defaultField = "field0"

// singleValue returns the one value of a YCSB record.
func singleValue(binding string, values map[string][]byte) ([]byte, error) {
	if len(values) != 1 {
		return nil, fmt.Errorf("%s binding stores one field per record, got %d (use fieldcount=1)", binding, len(values))
	}
	for _, v := range values {
		return v, nil
	}
	panic("unreachable")
}

// record builds the map go-ycsb expects from a single value.
func record(fields []string, v []byte) map[string][]byte {
	name := defaultField
	if len(fields) > 0 {
		name = fields[0]
	}
	return map[string][]byte{name: v}
}

// noThreadState implements the per-thread hooks of ycsb.DB for bindings
// that keep no per-thread state.
type noThreadState struct{}

func (noThreadState) InitThread(ctx context.Context, _, _ int) context.Context { return ctx }
func (noThreadState) CleanupThread(context.Context)                            {}
