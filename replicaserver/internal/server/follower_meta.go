package server

import (
	"context"
	"errors"

	"github.com/pegasus-go/pegasus/shared/logging"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

// callMasterMeta calls method of service Meta on the master cluster's meta
// leader: it starts at the leader the task last reached (else the first
// meta of the list), follows CodeForwardToOthers redirects that name the
// leader, and moves on to the next meta on network failures, timeouts and
// redirects without an address. It tries at most 2*len(metas)+1 addresses
// and returns the last error.
func (fc *followerCopies) callMasterMeta(ctx context.Context, t *followerTask, metas []string, method string, req, resp protocol.Message) error {
	s := fc.s
	t.mu.Lock()
	addr := t.metaLeader
	t.mu.Unlock()
	if addr == "" {
		addr = metas[0]
	}
	next := 0
	var last error
	for range 2*len(metas) + 1 {
		if err := ctx.Err(); err != nil {
			return err
		}
		cctx, cancel := context.WithTimeout(ctx, s.opts.MetaCallTimeout)
		err := s.opts.Peers.Call(cctx, addr, protocol.ServiceMeta, method, req, resp)
		cancel()
		if err == nil {
			t.mu.Lock()
			t.metaLeader = addr
			t.mu.Unlock()
			return nil
		}
		last = err
		if !retryElsewhere(err) {
			return err
		}
		var pe *protocol.Error
		if errors.As(err, &pe) && pe.Code == protocol.CodeForwardToOthers && pe.Message != "" && pe.Message != addr {
			addr = pe.Message
			continue
		}
		addr = metas[next%len(metas)]
		next++
	}
	return last
}

// checkpointDecree returns the decree the master's duplication checkpoint
// of the task's partition must hold: the largest checkpoint decree of the
// master table's live full duplications whose remote table is the follower
// table. 0 when the master meta does not say (the master primary then
// checkpoints what it has applied, which is past the checkpoint decree in
// the normal flow: the follower table is created after every master
// primary fixed its checkpoint decree).
func (fc *followerCopies) checkpointDecree(ctx context.Context, t *followerTask, metas []string, masterApp, followerApp string) protocol.Decree {
	var qd protocol.QueryDuplicationResponse
	if err := fc.callMasterMeta(ctx, t, metas, protocol.MethodQueryDuplication, &protocol.QueryDuplicationRequest{AppName: masterApp}, &qd); err != nil {
		fc.s.log.Info("master meta did not list the duplications; the checkpoint holds what the master applied",
			logging.Gpid(t.gpid), "master_app", masterApp, logging.Err(err))
		return 0
	}
	return dupCheckpointDecree(qd.Dups, followerApp, t.gpid.PartitionIndex)
}

// dupCheckpointDecree picks partition pidx's checkpoint decree from the
// full, not removed duplications towards table followerApp.
func dupCheckpointDecree(dups []protocol.DuplicationEntry, followerApp string, pidx int32) protocol.Decree {
	var d protocol.Decree
	for _, e := range dups {
		if !e.Full || e.Status == protocol.DupStatusRemoved || e.RemoteAppName != followerApp {
			continue
		}
		for _, p := range e.Partitions {
			if p.PartitionIndex == pidx {
				d = max(d, p.CheckpointDecree)
			}
		}
	}
	return d
}
