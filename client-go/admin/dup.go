package admin

import (
	"context"

	"github.com/pegasus-go/pegasus/client-go/internal/metasession"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

// AddDuplication starts duplicating table app to remoteCluster (a cluster
// name of the meta server's [pegasus.clusters]); the remote table has the
// same name. full copies the table's existing data first and creates the
// remote table (dup add -p); otherwise the remote table must exist.
//
// A second duplication to the same remote table is refused with
// ErrAppExists naming the existing dupid; misconfiguration (duplication
// disabled, unknown remote, missing cluster ids, duplicating to itself)
// with CodeInvalidArgument or CodeInvalidConfig and a message saying
// what to fix. The request is sent again only when it provably never left
// the client.
func (c *Client) AddDuplication(ctx context.Context, app, remoteCluster string, full bool) (*protocol.AddDuplicationResponse, error) {
	if err := checkName(app); err != nil {
		return nil, err
	}
	if remoteCluster == "" {
		return nil, protocol.Errorf(protocol.CodeInvalidArgument, "empty remote cluster name")
	}
	req := &protocol.AddDuplicationRequest{AppName: app, RemoteCluster: remoteCluster, Full: full}
	resp := new(protocol.AddDuplicationResponse)
	if err := c.call(ctx, protocol.MethodAddDuplication, req, resp, metasession.RetryUnsent); err != nil {
		return nil, err
	}
	return resp, nil
}

// QueryDuplication lists the duplications of table app (removed ones
// excluded), ordered by dupid, with their per-partition progress.
func (c *Client) QueryDuplication(ctx context.Context, app string) (*protocol.QueryDuplicationResponse, error) {
	if err := checkName(app); err != nil {
		return nil, err
	}
	resp := new(protocol.QueryDuplicationResponse)
	if err := c.call(ctx, protocol.MethodQueryDuplication, &protocol.QueryDuplicationRequest{AppName: app}, resp, metasession.RetryIdempotent); err != nil {
		return nil, err
	}
	return resp, nil
}

// ModifyDuplication pauses (Status DupStatusPause), starts (DupStatusLog)
// or removes (DupStatusRemoved) a duplication and/or sets its fail mode
// (SetFailMode). Asking for the state it is already in succeeds, so the
// call is retried after any network failure.
func (c *Client) ModifyDuplication(ctx context.Context, req *protocol.ModifyDuplicationRequest) (*protocol.ModifyDuplicationResponse, error) {
	if req == nil {
		return nil, protocol.Errorf(protocol.CodeInvalidArgument, "nil request")
	}
	if err := checkName(req.AppName); err != nil {
		return nil, err
	}
	if req.DupID <= 0 {
		return nil, protocol.Errorf(protocol.CodeInvalidArgument, "dupid %d must be positive", req.DupID)
	}
	switch req.Status {
	case protocol.DupStatusInvalid, protocol.DupStatusLog, protocol.DupStatusPause, protocol.DupStatusRemoved:
	default:
		return nil, protocol.Errorf(protocol.CodeInvalidArgument, "duplication status %v cannot be requested (want DS_LOG, DS_PAUSE or DS_REMOVED)", req.Status)
	}
	if !req.FailMode.Valid() {
		return nil, protocol.Errorf(protocol.CodeInvalidArgument, "unknown duplication fail mode %d (want FAIL_SLOW or FAIL_SKIP)", req.FailMode)
	}
	if req.Status == protocol.DupStatusInvalid && !req.SetFailMode {
		return nil, protocol.Errorf(protocol.CodeInvalidArgument, "nothing to change: give a status or a fail mode")
	}
	resp := new(protocol.ModifyDuplicationResponse)
	if err := c.call(ctx, protocol.MethodModifyDuplication, req, resp, metasession.RetryIdempotent); err != nil {
		return nil, err
	}
	return resp, nil
}
