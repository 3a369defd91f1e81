package embed

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"

	"github.com/pegasus-go/pegasus/metaproxy/internal/proxy"
	"github.com/pegasus-go/pegasus/shared/coord"
	"github.com/pegasus-go/pegasus/shared/coord/zkstore"
	"github.com/pegasus-go/pegasus/shared/httpserver"
	"github.com/pegasus-go/pegasus/shared/logging"
	"github.com/pegasus-go/pegasus/shared/metrics"
	"github.com/pegasus-go/pegasus/shared/protocol"
	"github.com/pegasus-go/pegasus/shared/rpc"
)

// Server is a running meta proxy.
type Server struct {
	proxy   *proxy.Proxy
	rpc     *rpc.Server
	http    *httpserver.Server
	rpcAddr string

	closers   []func() error // run in reverse order by Close
	closeOnce sync.Once
	closeErr  error
}

// Start validates cfg and starts a meta proxy. It returns once the RPC and
// HTTP servers listen; the ZooKeeper session is opened in the background
// (Server.Ready, /readyz).
func Start(cfg Config) (_ *Server, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("metaproxy: %w", err)
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
			return nil, fmt.Errorf("metaproxy: %w", err)
		}
		s.closers = append(s.closers, root.Close)
		log, levels = root.Logger(), root.LevelVar()
	}
	reg := cfg.Metrics
	if reg == nil {
		reg, err = metrics.New(metrics.Options{Prefix: "pegasus", Logger: log, RuntimeMetrics: true})
		if err != nil {
			return nil, fmt.Errorf("metaproxy: %w", err)
		}
		s.closers = append(s.closers, reg.Close)
	}

	m := cfg.MetaProxy
	ln, err := net.Listen("tcp", m.RPCAddress)
	if err != nil {
		return nil, fmt.Errorf("metaproxy: listen on %s: %w", m.RPCAddress, err)
	}
	s.rpcAddr = m.AdvertiseAddress
	if s.rpcAddr == "" {
		s.rpcAddr = ln.Addr().String()
	}
	log = logging.WithNode(log, s.rpcAddr)

	client, err := rpc.NewClient(rpc.ClientConfig{}, log)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("metaproxy: %w", err)
	}
	s.closers = append(s.closers, client.Close)
	zc := cfg.Zookeeper
	s.proxy, err = proxy.New(proxy.Options{
		Open: func(ctx context.Context) (coord.Store, error) {
			return zkstore.Open(ctx, zkstore.Options{Servers: zc.Hosts, SessionTimeout: zc.SessionTimeout.Std(), Logger: log})
		},
		StoreDesc:      "zookeeper " + strings.Join(zc.Hosts, ","),
		Root:           zc.Root,
		CacheSize:      m.RouteCacheSize,
		ForwardTimeout: m.ForwardTimeout.Std(),
		StoreTimeout:   m.StoreTimeout.Std(),
		RPC:            client,
		Address:        s.rpcAddr,
		Logger:         log,
		Scope:          reg.Scope(),
	})
	if err != nil {
		ln.Close()
		return nil, err
	}
	s.closers = append(s.closers, s.proxy.Close)

	s.rpc, err = rpc.NewServer(rpc.ServerConfig{}, log)
	if err != nil {
		ln.Close()
		return nil, err
	}
	if err := s.rpc.Register(protocol.ServiceMeta, s.proxy.Service()); err != nil {
		ln.Close()
		return nil, err
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		if err := s.rpc.Serve(s.proxy.CountConnections(ln)); err != nil && !errors.Is(err, rpc.ErrServerClosed) {
			log.Error("rpc server stopped", logging.Err(err))
		}
	}()
	s.closers = append(s.closers, func() error {
		err := s.rpc.Close()
		<-served
		return err
	})

	s.http, err = httpserver.New(httpserver.Options{
		Addr: m.HTTPAddress, Metrics: reg, LogLevel: levels, Logger: log, Ready: s.proxy.Ready,
	})
	if err != nil {
		return nil, err
	}
	if err := s.proxy.RegisterPages(s.http); err != nil {
		return nil, err
	}
	if err := s.http.Start(); err != nil {
		return nil, err
	}
	s.closers = append(s.closers, s.http.Close)
	log.Info("meta proxy started", "rpc", s.rpcAddr, "http", s.http.Addr(), "zookeeper", zc.Hosts, "root", zc.Root)
	return s, nil
}

// Run is the whole life of a meta proxy process: it builds the logger from
// cfg.Logging (unless cfg.Logger is set), routes rpcx's process-global log
// into it, starts the server and closes it when ctx ends.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Logger == nil {
		if err := cfg.Logging.Validate(); err != nil {
			return fmt.Errorf("metaproxy: %w", err)
		}
		root, err := logging.New(cfg.Logging)
		if err != nil {
			return fmt.Errorf("metaproxy: %w", err)
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

// RPCAddr returns the proxy's RPC address.
func (s *Server) RPCAddr() string { return s.rpcAddr }

// HTTPAddr returns the address of the HTTP endpoint.
func (s *Server) HTTPAddr() string { return s.http.Addr() }

// Ready reports nil while the proxy has a ZooKeeper session.
func (s *Server) Ready() error { return s.proxy.Ready() }

// Close stops the server: HTTP, RPC, the ZooKeeper session and the route
// watchers, then logging and metrics. It is idempotent.
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
