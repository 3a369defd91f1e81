package meta

import (
	"github.com/pegasus-go/pegasus/metaserver/internal/state"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

// Table limits.
const (
	// MaxAppNameLen bounds a table name, in bytes.
	MaxAppNameLen = 128
	// MaxReplicaCount bounds a table's replica count.
	MaxReplicaCount = 5
	// DefaultReplicaCount is used when a create request says 0.
	DefaultReplicaCount = 3
)

// validateAppName accepts 1..MaxAppNameLen bytes of letters, digits, '_',
// '.', '-' and ':'.
func validateAppName(name string) error {
	if name == "" {
		return protocol.Errorf(protocol.CodeInvalidArgument, "empty table name")
	}
	if len(name) > MaxAppNameLen {
		return protocol.Errorf(protocol.CodeInvalidArgument, "table name %.32q...: longer than %d bytes", name, MaxAppNameLen)
	}
	for _, r := range name {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '.' || r == '-' || r == ':'
		if !ok {
			return protocol.Errorf(protocol.CodeInvalidArgument, "table name %q: character %q not allowed (letters, digits, '_', '.', '-', ':')", name, r)
		}
	}
	return nil
}

// validatePartitionCount accepts a power of two in 1..MaxPartitionCount.
func validatePartitionCount(n int32) error {
	if n < 1 || n > state.MaxPartitionCount || n&(n-1) != 0 {
		return protocol.Errorf(protocol.CodeInvalidArgument, "partition count %d: want a power of two in 1..%d", n, state.MaxPartitionCount)
	}
	return nil
}

// replicaCount applies the default and checks the range.
func replicaCount(n int32) (int32, error) {
	if n == 0 {
		return DefaultReplicaCount, nil
	}
	if n < 1 || n > MaxReplicaCount {
		return 0, protocol.Errorf(protocol.CodeInvalidArgument, "replica count %d: want 1..%d", n, MaxReplicaCount)
	}
	return n, nil
}
