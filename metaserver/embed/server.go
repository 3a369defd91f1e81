package embed

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/pegasus-go/pegasus/metaserver/internal/meta"
	"github.com/pegasus-go/pegasus/metaserver/internal/state"
	"github.com/pegasus-go/pegasus/shared/coord"
	"github.com/pegasus-go/pegasus/shared/coord/localstore"
	"github.com/pegasus-go/pegasus/shared/coord/zkstore"
	"github.com/pegasus-go/pegasus/shared/httpserver"
	"github.com/pegasus-go/pegasus/shared/logging"
	"github.com/pegasus-go/pegasus/shared/metrics"
	"github.com/pegasus-go/pegasus/shared/protocol"
	"github.com/pegasus-go/pegasus/shared/rpc"
)

// Server is a running meta server.
type Server struct {
	meta    *meta.Server
	rpc     *rpc.Server
	http    *httpserver.Server
	rpcAddr string

	closers   []func() error // run in reverse order by Close
	closeOnce sync.Once
	closeErr  error
}

// Start validates cfg and starts a meta server. It returns once the RPC
// and HTTP servers listen; leadership is acquired in the background (see
// Server.IsLeader).
func Start(cfg Config) (_ *Server, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("metaserver: %w", err)
	}
	if cfg.Failpoints != nil {
		cfg.Clock = cfg.Failpoints.Clock(cfg.Clock)
	}
	s := &Server{}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()

	log, levels := cfg.Logger, cfg.LogLevel
	if log == nil {
		root, err := logging.New(cfg.Logging)
		if err != nil {
			return nil, fmt.Errorf("metaserver: %w", err)
		}
		s.closers = append(s.closers, root.Close)
		log, levels = root.Logger(), root.LevelVar()
	}
	reg := cfg.Metrics
	if reg == nil {
		reg, err = metrics.New(metrics.Options{Prefix: "pegasus", Logger: log, RuntimeMetrics: true})
		if err != nil {
			return nil, fmt.Errorf("metaserver: %w", err)
		}
		s.closers = append(s.closers, reg.Close)
	}

	m := cfg.MetaServer
	ln, err := net.Listen("tcp", m.RPCAddress)
	if err != nil {
		return nil, fmt.Errorf("metaserver: listen on %s: %w", m.RPCAddress, err)
	}
	s.rpcAddr = m.AdvertiseAddress
	if s.rpcAddr == "" {
		s.rpcAddr = ln.Addr().String()
		if ip := ln.Addr().(*net.TCPAddr).IP; ip.IsUnspecified() {
			ln.Close()
			return nil, fmt.Errorf("metaserver: rpc_address %s listens on every interface: set meta_server.advertise_address", m.RPCAddress)
		}
	}
	log = logging.WithNode(log, s.rpcAddr)

	open, hosts, root := storeOpener(cfg, log)
	client, err := rpc.NewClient(rpc.ClientConfig{DialAddresses: m.DialAddresses}, log)
	if err != nil {
		ln.Close()
		return nil, err
	}
	s.closers = append(s.closers, client.Close)
	s.meta, err = meta.New(meta.Options{
		Open:             open,
		Layout:           state.Layout{Root: m.ClusterRoot},
		Address:          s.rpcAddr,
		ClusterName:      m.ClusterName,
		MetaServers:      m.MetaServers,
		StoreHosts:       hosts,
		StoreRoot:        root,
		Lease:            m.Lease.Std(),
		Grace:            m.Grace.Std(),
		GuardianInterval: m.GuardianInterval.Std(),
		DefaultReserve:   time.Duration(m.HoldDroppedApp) * time.Second,
		ProposalTimeout:  m.ProposalTimeout.Std(),
		MinAliveRatio:    m.MinAliveNodesRatio,
		MaxLearners:      m.MaxConcurrentLearners,
		LearnTimeout:     m.LearnTimeout.Std(),

		DisableDuplication: !cfg.DuplicationEnabled(),
		Clusters:           cfg.ClusterMetas(),
		DupGroup:           maps.Clone(cfg.DuplicationGroup),
		DupPersistInterval: m.DupProgressPersistInterval.Std(),
		Client:             client,
		Clock:              cfg.Clock,
		Logger:             log,
		Scope:              reg.Scope(),
	})
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("metaserver: %w", err)
	}
	s.closers = append(s.closers, s.meta.Close)

	s.rpc, err = rpc.NewServer(rpc.ServerConfig{}, log)
	if err != nil {
		ln.Close()
		return nil, err
	}
	if err := s.rpc.Register(protocol.ServiceMeta, s.meta.MetaService()); err != nil {
		ln.Close()
		return nil, err
	}
	if err := s.rpc.Register(protocol.ServiceMetaInternal, s.meta.InternalService()); err != nil {
		ln.Close()
		return nil, err
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		if err := s.rpc.Serve(ln); err != nil && !errors.Is(err, rpc.ErrServerClosed) {
			log.Error("rpc server stopped", logging.Err(err))
		}
	}()
	// Close the RPC server before the meta server: no handler runs on a
	// closed term, and leadership is released right after.
	s.closers = append(s.closers, func() error {
		err := s.rpc.Close()
		<-served
		return err
	})

	s.http, err = httpserver.New(httpserver.Options{
		Addr: m.HTTPAddress, Metrics: reg, LogLevel: levels, Logger: log,
	})
	if err != nil {
		return nil, err
	}
	if err := s.meta.RegisterPages(s.http); err != nil {
		return nil, err
	}
	if cfg.Failpoints != nil {
		if err := s.http.Handle("/debug/failpoints", cfg.Failpoints.Handler()); err != nil {
			return nil, err
		}
		log.Warn("failpoints enabled", "failpoints", cfg.Failpoints.States())
	}
	if err := s.http.Start(); err != nil {
		return nil, err
	}
	s.closers = append(s.closers, s.http.Close)
	log.Info("meta server started", "rpc", s.rpcAddr, "http", s.http.Addr(), "store", m.Store, "cluster_root", m.ClusterRoot)
	return s, nil
}

// storeOpener returns the session factory of the configured store and its
// description for cluster_info.
func storeOpener(cfg Config, log *slog.Logger) (open func(context.Context) (coord.Store, error), hosts, root string) {
	if cfg.MetaServer.Store == StoreLocal {
		lc := cfg.LocalStore
		return func(ctx context.Context) (coord.Store, error) {
			return localstore.Open(ctx, localstore.Options{Dir: lc.Dir, PollInterval: lc.PollInterval.Std(), Logger: log})
		}, "local:" + lc.Dir, cfg.MetaServer.ClusterRoot
	}
	zc := cfg.Zookeeper
	fullRoot := strings.TrimSuffix(zc.Root, "/") + cfg.MetaServer.ClusterRoot
	return func(ctx context.Context) (coord.Store, error) {
		return zkstore.Open(ctx, zkstore.Options{
			Servers: zc.Hosts, Root: zc.Root, SessionTimeout: zc.SessionTimeout.Std(), Logger: log,
		})
	}, strings.Join(zc.Hosts, ","), fullRoot
}

// Run is the whole life of a meta server process: it builds the logger
// from cfg.Logging (unless cfg.Logger is set), routes rpcx's process-global
// log into it, starts the server and closes it when ctx ends. Use Start
// instead when several servers share a process.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Logger == nil {
		if err := cfg.Logging.Validate(); err != nil {
			return fmt.Errorf("metaserver: %w", err)
		}
		root, err := logging.New(cfg.Logging)
		if err != nil {
			return fmt.Errorf("metaserver: %w", err)
		}
		defer root.Close()
		cfg.Logger, cfg.LogLevel = root.Logger(), root.LevelVar()
	}
	rpc.SetFrameworkLogger(cfg.Logger)
	srv, err := Start(cfg)
	if err != nil {
		return err
	}
	<-ctx.Done()
	return srv.Close()
}

// RPCAddr returns the RPC address this server publishes.
func (s *Server) RPCAddr() string { return s.rpcAddr }

// HTTPAddr returns the address of the HTTP endpoint.
func (s *Server) HTTPAddr() string { return s.http.Addr() }

// IsLeader reports whether this server is serving as the meta leader.
func (s *Server) IsLeader() bool { return s.meta.IsLeader() }

// Leader returns the current leader's RPC address, "" when unknown.
func (s *Server) Leader(ctx context.Context) string { return s.meta.Leader(ctx) }

// Close stops the server: HTTP, RPC, leadership (the store session is
// closed, so another meta server takes over at once), then logging and
// metrics. It is idempotent.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		for i := len(s.closers) - 1; i >= 0; i-- {
			if err := s.closers[i](); err != nil && s.closeErr == nil {
				s.closeErr = err
			}
		}
	})
	return s.closeErr
}
