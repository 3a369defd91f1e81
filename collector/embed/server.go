package embed

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/pegasus-go/pegasus/client-go/admin"
	"github.com/pegasus-go/pegasus/client-go/pegasus"
	"github.com/pegasus-go/pegasus/collector/internal/collector"
	"github.com/pegasus-go/pegasus/collector/internal/probe"
	"github.com/pegasus-go/pegasus/collector/internal/scrape"
	"github.com/pegasus-go/pegasus/collector/internal/web"
	"github.com/pegasus-go/pegasus/shared/httpserver"
	"github.com/pegasus-go/pegasus/shared/logging"
	"github.com/pegasus-go/pegasus/shared/metrics"
	"github.com/pegasus-go/pegasus/shared/rpc"
)

// Server is a running collector.
type Server struct {
	http   *httpserver.Server
	cancel context.CancelFunc
	wg     sync.WaitGroup

	closers   []func() error // run in reverse order by Close
	closeOnce sync.Once
	closeErr  error
}

// Start validates cfg and starts a collector: its HTTP endpoint listens
// when Start returns, the first scrape round and probe round run in the
// background.
func Start(cfg Config) (_ *Server, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("collector: %w", err)
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
			return nil, fmt.Errorf("collector: %w", err)
		}
		s.closers = append(s.closers, root.Close)
		log, levels = root.Logger(), root.LevelVar()
	}
	cc := cfg.Collector
	log = log.With("cluster", cc.ClusterName)
	reg := cfg.Metrics
	if reg == nil {
		reg, err = metrics.New(metrics.Options{Logger: log, RuntimeMetrics: true})
		if err != nil {
			return nil, fmt.Errorf("collector: %w", err)
		}
		s.closers = append(s.closers, reg.Close)
	}

	ac, err := admin.New(admin.Config{
		MetaServers: cc.MetaServers, Timeout: cc.scrapeTimeout(), AttemptTimeout: cc.scrapeTimeout(),
	}, admin.WithLogger(log))
	if err != nil {
		return nil, fmt.Errorf("collector: %w", err)
	}
	s.closers = append(s.closers, ac.Close)

	var prober *probe.Prober
	opts := collector.Options{
		Cluster: cc.ClusterName,
		Discoverer: &collector.AdminDiscoverer{
			Admin: ac, Cluster: cc.ClusterName, MetaServers: cc.MetaServers,
			Addresses: collector.Addresses{
				MetaHTTPPortOffset: cc.MetaHTTPPortOffset, ReplicaHTTPPortOffset: cc.ReplicaHTTPPortOffset,
				HTTP: cc.HTTPAddresses,
			},
			Health: admin.DefaultHealthRules,
		},
		Scraper:       scrape.NewScraper(nil),
		Interval:      cc.ScrapeInterval.Std(),
		ScrapeTimeout: cc.scrapeTimeout(),
		SlowScrape:    cc.SlowScrapeThreshold.Std(),
		Hotspot:       cfg.Hotspot.detector(),
		HistoryPoints: cc.HistoryPoints,
		Logger:        log,
	}
	if p := cfg.Probe; p.Enabled {
		pc, err := pegasus.NewClient(pegasus.Config{
			MetaServers: cc.MetaServers, OperationTimeout: p.Timeout.Std(), AttemptTimeout: p.Timeout.Std(),
		}, pegasus.WithLogger(log))
		if err != nil {
			return nil, fmt.Errorf("collector: probe client: %w", err)
		}
		s.closers = append(s.closers, pc.Close)
		prober, err = probe.New(probe.Options{
			Cluster: cc.ClusterName,
			Setup: &probe.ClientSetup{
				Admin: ac, Client: pc, Table: p.Table,
				PartitionCount: int32(p.PartitionCount), Replicas: int32(p.ReplicaCount),
			},
			Interval: p.Interval.Std(), Timeout: p.Timeout.Std(),
			Registerer: reg.Registerer(), Logger: log,
		})
		if err != nil {
			return nil, fmt.Errorf("collector: %w", err)
		}
		opts.Probe = prober
	}
	coll, err := collector.New(opts)
	if err != nil {
		return nil, err
	}
	if err := reg.Registerer().Register(collector.NewExporter(coll)); err != nil {
		return nil, fmt.Errorf("collector: register exporter: %w", err)
	}

	s.http, err = httpserver.New(httpserver.Options{
		Addr: cc.HTTPAddress, Metrics: reg, LogLevel: levels, Logger: log,
		Ready: func() error {
			if coll.State() == nil {
				return errors.New("no scrape round has completed yet")
			}
			return nil
		},
	})
	if err != nil {
		return nil, err
	}
	if err := coll.RegisterAPI(s.http); err != nil {
		return nil, err
	}
	if err := web.Register(s.http); err != nil {
		return nil, err
	}
	if err := s.http.Start(); err != nil {
		return nil, err
	}
	s.closers = append(s.closers, s.http.Close)

	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		coll.Run(ctx)
	}()
	if prober != nil {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			prober.Run(ctx)
		}()
	}
	// Stop the loops first, before the clients they use are closed.
	s.closers = append(s.closers, func() error {
		cancel()
		s.wg.Wait()
		return nil
	})
	log.Info("collector started", "http", s.http.Addr(), "meta_servers", cc.MetaServers,
		"scrape_interval", cc.ScrapeInterval.Std().String(), "probe", cfg.Probe.Enabled)
	return s, nil
}

// Run is the whole life of a collector process: it builds the logger from
// cfg.Logging (unless cfg.Logger is set), routes rpcx's process-global
// log into it, starts the server and closes it when ctx ends.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Logger == nil {
		if err := cfg.Logging.Validate(); err != nil {
			return fmt.Errorf("collector: %w", err)
		}
		root, err := logging.New(cfg.Logging)
		if err != nil {
			return fmt.Errorf("collector: %w", err)
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

// HTTPAddr returns the address of the HTTP endpoint (dashboard, API,
// metrics).
func (s *Server) HTTPAddr() string { return s.http.Addr() }

// Close stops the scrape and probe loops, the HTTP endpoint and the
// clients. It is idempotent.
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
