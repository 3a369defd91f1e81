package server

import (
	"context"
	"slices"
	"sync"

	"github.com/pegasus-go/pegasus/replicaserver/internal/replica/core"
	"github.com/pegasus-go/pegasus/shared/logging"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

// proposal is a configuration change this node asks the meta leader for
// (MetaInternal.UpdateConfiguration).
type proposal struct {
	typ  protocol.ConfigType
	node string
	cfg  protocol.PartitionConfiguration
}

type proposalKey struct {
	gpid   protocol.Gpid
	typ    protocol.ConfigType
	node   string
	ballot protocol.Ballot
}

// proposer sends proposals to the meta leader one at a time, in order,
// dropping duplicates of one still pending, and installs the configuration
// the meta answers with. A refused or failed proposal is logged and
// followed by a config sync; its originator proposes again if it still
// wants the change (the core every prepare timeout, the learning session
// every upgradeRetry).
type proposer struct {
	s  *Server
	ch chan proposal

	mu      sync.Mutex
	pending map[proposalKey]bool
}

func newProposer(s *Server) *proposer {
	return &proposer{s: s, ch: make(chan proposal, 256), pending: map[proposalKey]bool{}}
}

func (p proposal) key() proposalKey {
	return proposalKey{p.cfg.Gpid, p.typ, p.node, p.cfg.Ballot}
}

// enqueue queues a proposal without blocking (the replica loop calls it).
func (pr *proposer) enqueue(p proposal) {
	k := p.key()
	pr.mu.Lock()
	if pr.pending[k] {
		pr.mu.Unlock()
		return
	}
	pr.pending[k] = true
	pr.mu.Unlock()
	select {
	case pr.ch <- p:
	default:
		pr.mu.Lock()
		delete(pr.pending, k)
		pr.mu.Unlock()
		pr.s.log.Warn("configuration proposal queue full; dropping proposal", logging.Gpid(p.cfg.Gpid), "type", p.typ.String(), "member", p.node)
	}
}

// fromCore converts a core proposal of replica g.
func (pr *proposer) fromCore(g protocol.Gpid, cp core.ConfigProposal) {
	if cp.Type != core.ConfigRemove {
		return
	}
	var rc int32
	if e, err := pr.s.lookup(g); err == nil {
		rc = e.appInfo().ReplicaCount
	}
	pr.s.log.Warn("proposing member removal", logging.Gpid(g), "member", cp.Node, logging.Ballot(cp.Config.Ballot),
		"reason", cp.Reason.String())
	pr.enqueue(proposal{typ: protocol.ConfigDowngradeToInactive, node: cp.Node, cfg: protocol.PartitionConfiguration{
		Gpid: g, Ballot: cp.Config.Ballot, Primary: cp.Config.Primary, Secondaries: slices.Clone(cp.Config.Secondaries),
		MaxReplicaCount: rc,
	}})
}

// run sends proposals until ctx ends.
func (pr *proposer) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case p := <-pr.ch:
			pr.send(ctx, p)
			pr.mu.Lock()
			delete(pr.pending, p.key())
			pr.mu.Unlock()
		}
	}
}

func (pr *proposer) send(ctx context.Context, p proposal) {
	s := pr.s
	g := p.cfg.Gpid
	if s.meta == nil {
		s.log.Warn("no meta server to send a configuration proposal to", logging.Gpid(g), "type", p.typ.String(), "member", p.node)
		return
	}
	s.metrics.proposal(p.typ).Inc(1)
	req := &protocol.UpdateConfigurationRequest{Type: p.typ, Node: p.node, Config: p.cfg}
	var resp protocol.UpdateConfigurationResponse
	if _, err := s.meta.call(ctx, protocol.MethodUpdateConfiguration, req, &resp); err != nil {
		s.metrics.proposalsFailed.Inc(1)
		if ctx.Err() == nil {
			s.log.Warn("configuration proposal refused", logging.Gpid(g), "type", p.typ.String(), "member", p.node,
				logging.Ballot(p.cfg.Ballot), logging.Err(err))
			s.meta.syncSoon()
		}
		return
	}
	if resp.Config.Gpid != g {
		s.log.Warn("meta answered a proposal with another partition", logging.Gpid(g), "answer", resp.Config.Gpid.String())
		return
	}
	s.log.Info("configuration proposal accepted", logging.Gpid(g), "type", p.typ.String(), "member", p.node,
		logging.Ballot(resp.Config.Ballot))
	if err := s.ensureReplica(protocol.AppInfo{}, resp.Config); err != nil && protocol.CodeOf(err) != protocol.CodeStaleBallot {
		s.log.Warn("cannot install the accepted configuration", logging.Gpid(g), logging.Ballot(resp.Config.Ballot), logging.Err(err))
	}
}
