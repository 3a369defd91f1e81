package server

import (
	"context"

	"github.com/pegasus-go/pegasus/shared/logging"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

// controlService is the rpcx receiver of service ReplicaControl (meta
// leader -> replica server).
type controlService struct{ s *Server }

// ConfigProposal applies a configuration the meta leader pushes: it opens
// (creating if needed) the replica or installs the new configuration on
// it; ConfigRemove for this node closes the replica and deletes its data,
// ConfigDropPartition (its table was dropped) and ConfigDowngradeToInactive
// naming this node close it but keep the data (the table can be recalled,
// the meta may need the replica for recovery). ConfigAddSecondary (to the
// primary) adds Node as a learner, which then learns from this primary.
// Applying the same proposal twice is a no-op. When a
// proposal cannot be applied the error is returned and a ConfigSync is
// started at once, so the meta learns the replica's actual state.
func (c *controlService) ConfigProposal(_ context.Context, req *protocol.ConfigProposalRequest, _ *protocol.ConfigProposalResponse) error {
	s := c.s
	err := s.applyProposal(req)
	if err != nil {
		s.log.Warn("cannot apply config proposal", logging.Gpid(req.Config.Gpid), "type", req.Type.String(),
			logging.Ballot(req.Config.Ballot), logging.Err(err))
		if s.meta != nil {
			s.meta.syncSoon()
		}
	}
	return err
}

func (s *Server) applyProposal(req *protocol.ConfigProposalRequest) error {
	g := req.Config.Gpid
	if req.App.AppID != g.AppID {
		return protocol.Errorf(protocol.CodeInvalidArgument, "proposal for %s carries table info of app %d", g, req.App.AppID)
	}
	switch req.Type {
	case protocol.ConfigInvalid:
		return protocol.Errorf(protocol.CodeInvalidArgument, "proposal for %s has no type", g)
	case protocol.ConfigRemove, protocol.ConfigDropPartition:
		if req.Node != "" && req.Node != s.opts.Node {
			return protocol.Errorf(protocol.CodeInvalidArgument, "proposal %s for node %s sent to %s", req.Type, req.Node, s.opts.Node)
		}
		if req.Type == protocol.ConfigDropPartition {
			return s.closeReplica(g)
		}
		return s.removeReplica(g)
	case protocol.ConfigDowngradeToInactive:
		if req.Node == s.opts.Node {
			// This node left the group: stop serving, keep the data (the
			// meta may need it to recover the partition).
			return s.closeReplica(g)
		}
	case protocol.ConfigAddSecondary, protocol.ConfigAddSecondaryForLB:
		return s.addLearner(req)
	}
	if _, err := s.lookup(g); err != nil && !s.isMember(req.Config) {
		// A replica this node holds takes any newer configuration (one
		// without it makes it inactive); a new one only where it is a member.
		return protocol.Errorf(protocol.CodeInvalidArgument, "configuration %s ballot %d does not list %s",
			g, req.Config.Ballot, s.opts.Node)
	}
	return s.ensureReplica(req.App, req.Config)
}

// isMember reports whether cfg lists this node as primary or secondary.
func (s *Server) isMember(cfg protocol.PartitionConfiguration) bool {
	if cfg.Primary == s.opts.Node {
		return true
	}
	for _, n := range cfg.Secondaries {
		if n == s.opts.Node {
			return true
		}
	}
	return false
}

// addLearner handles ConfigAddSecondary at the primary: a newer
// configuration is installed first, then Node becomes a learner.
func (s *Server) addLearner(req *protocol.ConfigProposalRequest) error {
	g := req.Config.Gpid
	if req.Node == "" || req.Node == s.opts.Node {
		return protocol.Errorf(protocol.CodeInvalidArgument, "add secondary %q to %s sent to %s", req.Node, g, s.opts.Node)
	}
	if req.Config.Primary != s.opts.Node {
		return protocol.Errorf(protocol.CodeInvalidArgument, "add secondary to %s sent to %s, not to its primary %q", g, s.opts.Node, req.Config.Primary)
	}
	if err := s.ensureReplica(req.App, req.Config); err != nil && protocol.CodeOf(err) != protocol.CodeStaleBallot {
		return err
	}
	_, r, err := s.peerReplica(g)
	if err != nil {
		return err
	}
	return r.AddLearner(req.Node)
}
