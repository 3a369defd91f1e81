package replica

import (
	"github.com/pegasus-go/pegasus/replicaserver/internal/plog"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

// NewTailLogReader returns a reader over the logged mutations from decree
// from on, committed or not (see plog.Log.NewTailReader): duplication
// bounds it by the commit point Info reports, so the last write ships
// without waiting for a later record to carry its commitment. The caller
// closes it.
func (r *Replica) NewTailLogReader(from protocol.Decree) (*plog.Reader, error) {
	if err := r.stoppedErr(); err != nil {
		return nil, err
	}
	return r.plog.NewTailReader(from)
}
