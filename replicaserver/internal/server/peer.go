package server

import (
	"context"
	"time"

	"github.com/pegasus-go/pegasus/replicaserver/internal/replica"
	"github.com/pegasus-go/pegasus/replicaserver/internal/replica/core"
	"github.com/pegasus-go/pegasus/shared/logging"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

// peerService is the rpcx receiver of service Peer (replica server ->
// replica server).
type peerService struct{ s *Server }

// peerReplica returns the replica-package replica serving g, or
// CodeObjectNotFound.
func (s *Server) peerReplica(g protocol.Gpid) (*entry, *replica.Replica, error) {
	e, err := s.lookup(g)
	if err != nil {
		return nil, nil, err
	}
	u, ok := e.r.(underlying)
	if !ok {
		return nil, nil, protocol.Errorf(protocol.CodeInvalidState, "replica %s on %s does not replicate", g, s.opts.Node)
	}
	return e, u.Underlying(), nil
}

// ackWait is how long a receiver waits for its replica's acknowledgement.
func (s *Server) ackWait(ctx context.Context) time.Duration {
	d := s.opts.PeerCallTimeout / 2
	if dl, ok := ctx.Deadline(); ok {
		d = min(d, time.Until(dl)-50*time.Millisecond)
	}
	return max(d, time.Millisecond)
}

// Prepare logs a mutation from the primary. The response is the replica's
// acknowledgement once the mutation is durably logged (LastPrepared >= its
// decree), or at once when the replica refuses it (CodeStaleBallot with the
// replica's ballot, CodeInvalidState when the sender is not its primary).
// A replica that does not answer in time (the prepare waits behind a gap)
// fails the call with CodeTimeout; an unknown partition is
// CodeObjectNotFound.
func (p *peerService) Prepare(ctx context.Context, req *protocol.PrepareRequest, resp *protocol.PrepareResponse) error {
	s := p.s
	g := req.Gpid
	cfg, err := checkFromPrimary(g, &req.Config, req.Status, s.opts.Node)
	if err != nil {
		return err
	}
	mut := &req.Mutation
	if mut.Ballot != req.Config.Ballot || mut.Decree <= protocol.InvalidDecree || mut.LastCommitted < 0 {
		return protocol.Errorf(protocol.CodeInvalidArgument, "prepare of %s: mutation ballot %d decree %d under configuration ballot %d",
			g, mut.Ballot, mut.Decree, req.Config.Ballot)
	}
	_, r, err := s.peerReplica(g)
	if err != nil {
		return err
	}
	m := core.Message{Type: core.MsgPrepare, From: cfg.Primary, To: s.opts.Node, Ballot: cfg.Ballot, Mutation: mut,
		Config: cfg, LastCommitted: mut.LastCommitted}
	ack, err := s.stepAndWait(ctx, g, r, m, mut.Decree)
	if err != nil {
		return err
	}
	*resp = protocol.PrepareResponse{Gpid: g, Code: ack.Err, Ballot: ack.Ballot, Decree: mut.Decree,
		LastPrepared: ack.LastPrepared, LastCommitted: ack.LastCommitted}
	return nil
}

// GroupCheck handles the primary's periodic check. A partition this node
// does not hold is created when the check names this node as a learner
// (the primary is adding it); otherwise it is CodeObjectNotFound. A
// learner that has not learned yet starts learning from the primary.
func (p *peerService) GroupCheck(ctx context.Context, req *protocol.GroupCheckRequest, resp *protocol.GroupCheckResponse) error {
	s := p.s
	g := req.Gpid
	cfg, err := checkFromPrimary(g, &req.Config, req.Status, s.opts.Node)
	if err != nil {
		return err
	}
	if req.LastCommitted < 0 {
		return protocol.Errorf(protocol.CodeInvalidArgument, "group check of %s has commit point %d", g, req.LastCommitted)
	}
	_, r, err := s.peerReplica(g)
	if protocol.CodeOf(err) == protocol.CodeObjectNotFound && req.Status == protocol.PartitionLearner {
		if err = s.openLearner(g, req.Config); err == nil {
			_, r, err = s.peerReplica(g)
		}
	}
	if err != nil {
		return err
	}
	m := core.Message{Type: core.MsgGroupCheck, From: cfg.Primary, To: s.opts.Node, Ballot: cfg.Ballot, Config: cfg,
		LastCommitted: req.LastCommitted}
	ack, err := s.stepAndWait(ctx, g, r, m, 0)
	if err != nil {
		return err
	}
	info := r.Info()
	*resp = protocol.GroupCheckResponse{Gpid: g, Node: s.opts.Node, Code: ack.Err, Ballot: ack.Ballot, Status: info.Status,
		LastCommitted: ack.LastCommitted, LastPrepared: ack.LastPrepared, LastDurable: info.LastDurable,
		LearnerSignature: s.target.signature(g)}
	if ack.Err == protocol.CodeOK && req.Status == protocol.PartitionLearner && info.Status == protocol.PartitionLearner {
		s.target.maybeStart(g, cfg.Primary, req.LearnerSignature)
	}
	if ack.Err == protocol.CodeOK && s.dups != nil {
		s.dups.fromGroupCheck(g, req.ConfirmedDecrees)
	}
	return nil
}

// stepAndWait steps m into r and waits for the acknowledgement that answers
// it (see ackWaiters).
func (s *Server) stepAndWait(ctx context.Context, g protocol.Gpid, r *replica.Replica, m core.Message, d protocol.Decree) (core.Message, error) {
	w := s.acks.add(g, m.From, m.Type, d)
	defer s.acks.remove(g, m.From, w)
	if err := r.Step(m); err != nil {
		return core.Message{}, err
	}
	ack, ok := w.wait(s.ackWait(ctx), ctx.Done())
	if !ok {
		return core.Message{}, protocol.Errorf(protocol.CodeTimeout, "replica %s on %s did not acknowledge %s in time", g, s.opts.Node, m.Type)
	}
	return ack, nil
}

// openLearner creates (or reopens, keeping its data) the replica of g as
// a learner of the configuration cfg: the group check stepped next makes
// it a learner.
func (s *Server) openLearner(g protocol.Gpid, cfg protocol.PartitionConfiguration) error {
	s.openMu.Lock()
	defer s.openMu.Unlock()
	if _, err := s.lookup(g); err == nil {
		return nil
	}
	s.mu.Lock()
	if s.mu.closed {
		s.mu.Unlock()
		return protocol.Errorf(protocol.CodeInvalidState, "replica server %s is closing", s.opts.Node)
	}
	dir, di, found := s.findReplicaDir(g)
	if !found {
		di = s.pickDataDirLocked()
		dir = s.opts.FS.PathJoin(s.opts.DataDirs[di], replicaDirName(g))
	}
	s.mu.Unlock()
	var app protocol.AppInfo
	if !found {
		// The table info comes with the checkpoint; until then the replica
		// knows its table and replica count only.
		app = protocol.AppInfo{AppID: g.AppID, ReplicaCount: cfg.MaxReplicaCount}
	}
	if _, err := s.openLocked(g, dir, di, app, protocol.PartitionConfiguration{}); err != nil {
		return err
	}
	s.log.Info("opened replica as learner", logging.Gpid(g), logging.Ballot(cfg.Ballot), "primary", cfg.Primary, "dir", dir)
	return nil
}

// Learn answers a learner's request; see learnSource.learn.
func (p *peerService) Learn(ctx context.Context, req *protocol.LearnRequest, resp *protocol.LearnResponse) error {
	return p.s.source.learn(ctx, req, resp)
}

// CopyFile serves a chunk of a learning session's file.
func (p *peerService) CopyFile(_ context.Context, req *protocol.CopyFileRequest, resp *protocol.CopyFileResponse) error {
	if isDupCheckpointDir(req.Dir) {
		return p.s.dupSource.copyFile(req, resp)
	}
	return p.s.source.copyFile(req, resp)
}

// LearnCompletionNotify records that a learner holds everything below its
// start decree; the primary then proposes its upgrade to secondary.
func (p *peerService) LearnCompletionNotify(_ context.Context, req *protocol.LearnCompletionNotifyRequest, _ *protocol.LearnCompletionNotifyResponse) error {
	return p.s.source.complete(req)
}
