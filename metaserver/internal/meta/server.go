package meta

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pegasus-go/pegasus/metaserver/internal/state"
	"github.com/pegasus-go/pegasus/shared/coord"
	"github.com/pegasus-go/pegasus/shared/logging"
	"github.com/pegasus-go/pegasus/shared/protocol"
	"github.com/pegasus-go/pegasus/shared/rpc"
)

// Server is one meta server: a campaign loop and, while it leads, a term.
type Server struct {
	opts    Options
	log     *slog.Logger
	met     *metricSet
	client  *rpc.Client
	ownsRPC bool

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}

	term  atomic.Pointer[term]        // the serving term, nil when not leading
	store atomic.Pointer[storeHolder] // the current session, for leader lookups

	// remotes are the clients of remote clusters' meta servers.
	remotes struct {
		sync.Mutex
		m      map[string]RemoteMeta
		closed bool
	}

	closeOnce sync.Once
}

type storeHolder struct{ s coord.Store }

// New validates opts and starts the campaign loop in the background.
func New(opts Options) (*Server, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	s := &Server{
		opts: opts,
		log:  logging.WithComponent(opts.Logger, "meta"),
		met:  newMetricSet(opts.Scope),
		done: make(chan struct{}),
	}
	s.client = opts.Client
	if s.client == nil {
		c, err := rpc.NewClient(rpc.ClientConfig{}, opts.Logger)
		if err != nil {
			return nil, err
		}
		s.client, s.ownsRPC = c, true
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	go s.run()
	return s, nil
}

// Close stops leading or campaigning, closes the store session (so another
// meta server takes over at once) and waits for every goroutine of the
// Server. It is idempotent.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.cancel()
		<-s.done
		s.closeRemotes()
		if s.ownsRPC {
			s.client.Close()
		}
	})
	return nil
}

// Address returns the RPC address this server publishes.
func (s *Server) Address() string { return s.opts.Address }

// IsLeader reports whether this server is serving as the leader now.
func (s *Server) IsLeader() bool {
	t := s.term.Load()
	return t != nil && t.active()
}

// Leader returns the address of the current leader as the store says, ""
// when none is known.
func (s *Server) Leader(ctx context.Context) string {
	if s.IsLeader() {
		return s.opts.Address
	}
	h := s.store.Load()
	if h == nil {
		return ""
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	v, ok, err := coord.Leader(ctx, h.s, s.opts.Layout.Leader())
	if err != nil || !ok {
		return ""
	}
	return string(v)
}

// forward is the error every call gets outside a term.
func (s *Server) forward(ctx context.Context) error {
	return protocol.Errorf(protocol.CodeForwardToOthers, "%s", s.Leader(ctx))
}

// serving returns the active term or the forward error.
func (s *Server) serving(ctx context.Context) (*term, error) {
	if t := s.term.Load(); t != nil && t.active() {
		return t, nil
	}
	return nil, s.forward(ctx)
}

// wait pauses for the retry interval; false when the Server is closing.
func (s *Server) wait() bool {
	t := time.NewTimer(s.opts.RetryInterval)
	defer t.Stop()
	select {
	case <-s.ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// run is the campaign loop: one store session per iteration.
func (s *Server) run() {
	defer close(s.done)
	defer s.met.leader.Update(0)
	for s.ctx.Err() == nil {
		st, err := s.opts.Open(s.ctx)
		if err != nil {
			if s.ctx.Err() == nil {
				s.log.Warn("cannot open a coordination store session", logging.Err(err))
			}
			if !s.wait() {
				return
			}
			continue
		}
		s.store.Store(&storeHolder{st})
		s.session(st)
		s.store.Store(nil)
		st.Close()
		if s.ctx.Err() == nil {
			s.log.Info("session ended; campaigning again with a new one")
		}
	}
}

// session campaigns on st and leads one term; it returns when the term
// ends or the session cannot be used any more.
func (s *Server) session(st coord.Store) {
	for s.ctx.Err() == nil {
		if err := state.Init(s.ctx, st, s.opts.Layout); err != nil {
			if s.ctx.Err() == nil {
				s.log.Warn("cannot initialise the cluster root", logging.Err(err))
			}
			if st.Err() != nil || !s.wait() {
				return
			}
			continue
		}
		break
	}
	if s.ctx.Err() != nil {
		return
	}
	lead, err := st.Campaign(s.ctx, s.opts.Layout.Leader(), []byte(s.opts.Address))
	if err != nil {
		if s.ctx.Err() == nil {
			s.log.Warn("campaign failed", logging.Err(err))
			s.wait()
		}
		return
	}
	s.lead(st, lead)
}

// lead runs one term and returns when it ends.
func (s *Server) lead(st coord.Store, lead coord.Leadership) {
	s.log.Info("elected meta leader; loading cluster state", "election_node", lead.Path())
	var view *state.View
	for {
		v, err := state.Load(s.ctx, st, s.opts.Layout)
		if err == nil {
			view = v
			break
		}
		s.log.Error("cannot load cluster state", logging.Err(err))
		if st.Err() != nil || closed(lead.Lost()) || !s.wait() {
			s.resign(lead)
			return
		}
	}
	t, err := newTerm(s, st, lead, view)
	if err != nil {
		s.log.Error("cannot start a term", logging.Err(err))
		s.resign(lead)
		return
	}
	// The view belongs to the term (and its lock) from here on.
	s.log.Info("serving as meta leader", "apps", len(view.Apps), "nodes", len(view.Nodes))
	s.term.Store(t)
	s.met.leader.Update(1)
	t.start()

	var why string
	select {
	case <-lead.Lost():
		why = "leadership lost"
	case <-st.Done():
		why = "session ended"
	case <-s.ctx.Done():
		why = "server closing"
	case <-t.aborted:
		why = "term aborted: " + t.abortReason()
	}
	// Stop serving first, then clean up.
	t.stop()
	s.term.CompareAndSwap(t, nil)
	s.met.leader.Update(0)
	t.wait()
	s.resign(lead)
	s.log.Info("stopped serving as meta leader", "reason", why)
}

func (s *Server) resign(lead coord.Leadership) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := lead.Resign(ctx); err != nil && !errors.Is(err, coord.ErrSessionLost) && !errors.Is(err, coord.ErrClosed) {
		s.log.Debug("resign", logging.Err(err))
	}
}

func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
