package server

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pegasus-go/pegasus/replicaserver/internal/replica/core"
	"github.com/pegasus-go/pegasus/shared/logging"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

// downBackoff is how long a destination that failed with a network error
// is considered down: messages to it are dropped at once meanwhile (the
// core's timeouts handle them).
const downBackoff = 500 * time.Millisecond

// replicaTransport is the Transport of one replica: prepares and group
// checks go to the destination node's sender; acknowledgements go to the
// handlers waiting to answer the primary's RPCs.
type replicaTransport struct {
	s    *Server
	gpid protocol.Gpid
}

// Send implements replica.Transport. It runs on the replica's loop and
// never blocks: messages are converted (copying what they share with the
// core) and queued.
func (t *replicaTransport) Send(msgs []core.Message) {
	s := t.s
	for i := range msgs {
		m := &msgs[i]
		switch m.Type {
		case core.MsgPrepareAck, core.MsgGroupCheckAck:
			s.acks.deliver(t.gpid, *m)
		case core.MsgPrepare, core.MsgGroupCheck:
			if s.opts.Peers == nil {
				continue
			}
			out, ok := t.outbound(m)
			if ok {
				s.peers.sender(m.To).enqueue(out)
			}
		}
	}
}

// outbound converts a prepare or group check to its wire request.
func (t *replicaTransport) outbound(m *core.Message) (outbound, bool) {
	if m.Config == nil {
		t.s.log.Warn("dropping replica message without configuration", logging.Gpid(t.gpid), "message", m.String())
		return outbound{}, false
	}
	var rc int32
	if e, err := t.s.lookup(t.gpid); err == nil {
		rc = e.appInfo().ReplicaCount
	}
	out := outbound{gpid: t.gpid, typ: m.Type, to: m.To, enqueued: time.Now()}
	cfg := wireConfig(t.gpid, m.Config, rc, m.LastCommitted)
	status := statusOf(m.Config.RoleOf(m.To))
	switch m.Type {
	case core.MsgPrepare:
		mut := *m.Mutation // the updates stay shared and are only read
		mut.LastCommitted = m.LastCommitted
		out.prepare = &protocol.PrepareRequest{Gpid: t.gpid, Config: cfg, Status: status, Mutation: mut}
		out.decree = mut.Decree
	case core.MsgGroupCheck:
		req := &protocol.GroupCheckRequest{Gpid: t.gpid, Config: cfg, Status: status, LastCommitted: m.LastCommitted}
		if status == protocol.PartitionLearner {
			req.LearnerSignature = t.s.source.signature(t.gpid, m.To)
		}
		if t.s.dups != nil {
			req.ConfirmedDecrees = t.s.dups.confirmedDecrees(t.gpid)
		}
		out.groupCheck = req
	}
	return out, true
}

// outbound is one queued request.
type outbound struct {
	gpid       protocol.Gpid
	typ        core.MessageType
	to         string
	decree     protocol.Decree
	prepare    *protocol.PrepareRequest
	groupCheck *protocol.GroupCheckRequest
	enqueued   time.Time
}

// peerSenders holds one sender per destination node.
type peerSenders struct {
	s   *Server
	ctx context.Context
	wg  sync.WaitGroup

	mu      sync.Mutex
	senders map[string]*peerSender
	closed  bool
}

func newPeerSenders(s *Server) *peerSenders {
	return &peerSenders{s: s, senders: map[string]*peerSender{}}
}

// start lets senders run their workers until ctx ends.
func (p *peerSenders) start(ctx context.Context) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ctx = ctx
	for _, ps := range p.senders {
		ps.run()
	}
}

// stop waits for every worker after the start context ended.
func (p *peerSenders) stop() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.wg.Wait()
}

// sender returns the destination's sender, creating it.
func (p *peerSenders) sender(to string) *peerSender {
	p.mu.Lock()
	defer p.mu.Unlock()
	ps := p.senders[to]
	if ps == nil {
		ps = &peerSender{p: p, to: to, q: make(chan outbound, DefaultPeerQueueLen)}
		p.senders[to] = ps
		if p.ctx != nil && !p.closed {
			ps.run()
		}
	}
	return ps
}

// peerSender sends one destination's messages in queue order with up to
// PeerInFlight RPCs in flight.
type peerSender struct {
	p         *peerSenders
	to        string
	q         chan outbound
	downUntil atomic.Int64 // Unix nanoseconds
}

func (ps *peerSender) enqueue(o outbound) {
	select {
	case ps.q <- o:
	default:
		ps.p.s.metrics.peerDropped.Inc(1)
		ps.failed(o)
	}
}

// run starts the workers (p.mu held).
func (ps *peerSender) run() {
	for range ps.p.s.opts.PeerInFlight {
		ps.p.wg.Add(1)
		go ps.work(ps.p.ctx)
	}
}

func (ps *peerSender) work(ctx context.Context) {
	defer ps.p.wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case o := <-ps.q:
			ps.send(ctx, o)
		}
	}
}

func (ps *peerSender) failed(o outbound) {
	m := ps.p.s.metrics
	if o.typ == core.MsgPrepare {
		m.preparesFailed.Inc(1)
	} else {
		m.groupChecksFailed.Inc(1)
	}
}

// send makes one call and steps the answer into the sending replica.
func (ps *peerSender) send(ctx context.Context, o outbound) {
	s := ps.p.s
	if time.Now().UnixNano() < ps.downUntil.Load() {
		ps.failed(o)
		return
	}
	cctx, cancel := context.WithTimeout(ctx, s.opts.PeerCallTimeout)
	defer cancel()
	var ack core.Message
	switch o.typ {
	case core.MsgPrepare:
		s.metrics.preparesSent.Inc(1)
		var resp protocol.PrepareResponse
		if err := s.opts.Peers.Call(cctx, ps.to, protocol.ServicePeer, protocol.MethodPrepare, o.prepare, &resp); err != nil {
			ps.callFailed(o, err)
			return
		}
		s.metrics.prepareLatency.Record(time.Since(o.enqueued))
		ack = core.Message{Type: core.MsgPrepareAck, Ballot: resp.Ballot, LastPrepared: resp.LastPrepared,
			LastCommitted: resp.LastCommitted, Err: resp.Code}
	case core.MsgGroupCheck:
		s.metrics.groupChecksSent.Inc(1)
		var resp protocol.GroupCheckResponse
		if err := s.opts.Peers.Call(cctx, ps.to, protocol.ServicePeer, protocol.MethodGroupCheck, o.groupCheck, &resp); err != nil {
			ps.callFailed(o, err)
			return
		}
		ack = core.Message{Type: core.MsgGroupCheckAck, Ballot: resp.Ballot, LastPrepared: resp.LastPrepared,
			LastCommitted: resp.LastCommitted, Err: resp.Code}
	default:
		return
	}
	if ack.Ballot <= protocol.InvalidBallot || ack.LastPrepared < 0 || ack.LastCommitted < 0 {
		return // a replica that knows no configuration: nothing to learn from it
	}
	ack.From, ack.To = ps.to, s.opts.Node
	e, err := s.lookup(o.gpid)
	if err != nil {
		return
	}
	if u, ok := e.r.(underlying); ok {
		_ = u.Underlying().Step(ack)
	}
}

func (ps *peerSender) callFailed(o outbound, err error) {
	ps.failed(o)
	if protocol.CodeOf(err) == protocol.CodeNetworkFailure {
		ps.downUntil.Store(time.Now().Add(downBackoff).UnixNano())
	}
	ps.p.s.log.Debug("peer call failed", logging.Gpid(o.gpid), "to", ps.to, "type", o.typ.String(), logging.Err(err))
}
