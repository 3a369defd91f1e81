package embed

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/pegasus-go/pegasus/replicaserver/internal/server"
	"github.com/pegasus-go/pegasus/replicaserver/internal/storage"
	"github.com/pegasus-go/pegasus/shared/httpserver"
	"github.com/pegasus-go/pegasus/shared/logging"
	"github.com/pegasus-go/pegasus/shared/metrics"
	"github.com/pegasus-go/pegasus/shared/rpc"
)

// Server is a running replica server.
type Server struct {
	cfg  Config
	log  *slog.Logger
	root *logging.Root // nil when Config.Logger was given

	reg       *metrics.Registry
	rpcServer *rpc.Server
	rpcDone   chan struct{} // closed when the RPC server's Serve returns
	client    *rpc.Client   // towards the meta servers and the other replica servers
	http      *httpserver.Server
	srv       *server.Server

	rpcAddr string

	closeOnce sync.Once
	closeErr  error
}

// Start validates cfg, reopens the replicas in the data dirs, and starts
// serving RPC (and HTTP when configured) and, with meta servers, the
// beacon and config-sync loops. With port 0 in the addresses the bound
// ones are reported by RPCAddr and HTTPAddr. The caller must Close the
// server.
func Start(cfg Config) (_ *Server, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("replicaserver: invalid configuration: %w", err)
	}
	if cfg.Failpoints != nil {
		cfg.FS, cfg.Clock = withFailpoints(cfg.Failpoints, cfg.FS, cfg.Clock)
	}
	s := &Server{cfg: cfg, log: cfg.Logger}
	defer func() {
		if err != nil {
			_ = s.Close()
		}
	}()
	if s.log == nil {
		root, err := logging.New(cfg.Logging)
		if err != nil {
			return nil, fmt.Errorf("replicaserver: %w", err)
		}
		s.root = root
		s.log = root.Logger()
	}
	s.reg, err = metrics.New(metrics.Options{RuntimeMetrics: true, Logger: s.log})
	if err != nil {
		return nil, fmt.Errorf("replicaserver: %w", err)
	}

	rs := cfg.ReplicaServer
	ln, err := net.Listen("tcp", rs.RPCAddress)
	if err != nil {
		return nil, fmt.Errorf("replicaserver: listen on %s: %w", rs.RPCAddress, err)
	}
	s.rpcAddr = ln.Addr().String()
	node := rs.AdvertiseAddress
	if node == "" {
		node = s.rpcAddr
	}
	s.log = logging.WithNode(s.log, node)

	rc := cfg.RPC
	s.rpcServer, err = rpc.NewServer(rpc.ServerConfig{
		MaxMessageBytes: int(rc.MaxMessageBytes), ReadTimeout: noLimit(rc.ReadTimeout.Std()),
		WriteTimeout: noLimit(rc.WriteTimeout.Std()), IdleTimeout: rc.IdleTimeout.Std(),
		ShutdownTimeout: rc.ShutdownTimeout.Std(),
	}, logging.WithComponent(s.log, "rpc"))
	if err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("replicaserver: %w", err)
	}
	s.client, err = rpc.NewClient(rpc.ClientConfig{
		MaxMessageBytes: int(rc.MaxMessageBytes), DialTimeout: rc.DialTimeout.Std(),
		ReadTimeout: noLimit(rc.ReadTimeout.Std()), WriteTimeout: noLimit(rc.WriteTimeout.Std()),
		DialAddresses: rc.DialAddresses,
	}, logging.WithComponent(s.log, "rpc_client"))
	if err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("replicaserver: %w", err)
	}
	var meta server.MetaCaller
	if len(rs.MetaServers) > 0 {
		meta = s.client
	}

	r := cfg.Replication
	policy, _ := ParsePlogSync(r.PlogSync) // validated
	st := cfg.Pegasus.Server
	s.srv, err = server.New(server.Options{
		Node: node, DataDirs: r.DataDirs, FS: cfg.FS,
		PlogSync: policy, PlogSegmentSizeBytes: r.PlogSegmentSize.Int64(), PlogFlushInterval: r.PlogFlushInterval.Std(),
		Storage: storage.Options{
			BlockCacheSizeBytes: st.BlockCacheSize.Int64(), MemTableSizeBytes: uint64(st.MemtableSize.Int64()),
			BloomBitsPerKey: st.BloomBitsPerKey, DisableWAL: st.DisableWAL,
			MaxIterationCount: st.MaxIterationCount, MaxIterationSizeBytes: int(st.MaxIterationSize.Int64()),
			ScanBatchSize: st.ScanBatchSize, MaxScanBatchSize: st.MaxScanBatchSize,
			MaxScanContexts: st.MaxScanContexts, ScanIdleTimeout: st.ScanIdleTimeout.Std(),
			TombstoneRetention: st.DupTombstoneRetention.Std(),
		},
		ClusterName: r.ClusterName, DuplicationGroup: dupGroup(cfg.DuplicationGroup),
		TickInterval: r.TickInterval.Std(), ReapInterval: st.ReapInterval.Std(), EngineSyncInterval: st.EngineSyncInterval.Std(),
		MaxWriteBytes: r.MaxWriteBytes.Int64(),
		MetaServers:   rs.MetaServers, Meta: meta,
		BeaconInterval: rs.BeaconInterval.Std(), ConfigSyncInterval: r.ConfigSyncInterval.Std(),
		MetaCallTimeout:    rc.MetaCallTimeout.Std(),
		GroupCheckInterval: r.GroupCheckInterval.Std(), PrepareTimeout: r.PrepareTimeout.Std(),
		Peers: s.client, LearnRateLimitBytes: r.LearnRateLimit.Int64(),
		DupCheckpointIdleTimeout: r.DupCheckpointIdleTimeout.Std(),
		Dup: server.DupOptions{
			Enabled: r.DuplicationEnabled, ClusterID: uint8(cfg.DuplicationGroup[r.ClusterName]),
			SyncInterval: r.DupSyncInterval.Std(), LogBatchBytes: int(r.DuplicateLogBatchBytes.Int64()),
			LaggingWriteThreshold: time.Duration(st.DupLaggingWriteThresholdMs) * time.Millisecond,
		},
		Scope: s.reg.Scope(), Logger: s.log, Clock: cfg.Clock,
	})
	if err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("replicaserver: %w", err)
	}
	if err := s.srv.Register(s.rpcServer); err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("replicaserver: %w", err)
	}
	s.rpcDone = make(chan struct{})
	go func() {
		defer close(s.rpcDone)
		if err := s.rpcServer.Serve(ln); err != nil {
			s.log.Error("rpc server stopped", logging.Err(err))
		}
	}()

	if rs.HTTPAddress != "" {
		opts := httpserver.Options{Addr: rs.HTTPAddress, Metrics: s.reg, Ready: s.ready, Logger: logging.WithComponent(s.log, "http")}
		if s.root != nil {
			opts.LogLevel = s.root.LevelVar()
		}
		if s.http, err = httpserver.New(opts); err != nil {
			return nil, fmt.Errorf("replicaserver: %w", err)
		}
		if err := s.http.HandleJSON("/replica/replicas", s.srv.ReplicasJSON); err != nil {
			return nil, fmt.Errorf("replicaserver: %w", err)
		}
		if err := s.http.HandleJSON("/replica/config", s.configJSON); err != nil {
			return nil, fmt.Errorf("replicaserver: %w", err)
		}
		if err := s.http.HandleJSON("/replica/learning", s.srv.LearningJSON); err != nil {
			return nil, fmt.Errorf("replicaserver: %w", err)
		}
		if err := s.http.HandleJSON("/replica/digest", s.srv.DigestJSON); err != nil {
			return nil, fmt.Errorf("replicaserver: %w", err)
		}
		if err := s.http.HandleJSON("/replica/duplication", s.srv.DuplicationJSON); err != nil {
			return nil, fmt.Errorf("replicaserver: %w", err)
		}
		if cfg.Failpoints != nil {
			if err := s.http.Handle("/debug/failpoints", cfg.Failpoints.Handler()); err != nil {
				return nil, fmt.Errorf("replicaserver: %w", err)
			}
			s.log.Warn("failpoints enabled", "failpoints", cfg.Failpoints.States())
		}
		if err := s.http.Start(); err != nil {
			return nil, fmt.Errorf("replicaserver: %w", err)
		}
	}
	s.srv.Start()
	s.log.Info("replica server started", "rpc", s.rpcAddr, "http", s.HTTPAddr(), "meta_servers", rs.MetaServers)
	return s, nil
}

// noLimit maps the configuration's "0s: no limit" to the RPC layer's
// negative value (whose zero means "default").
func noLimit(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

// ready is /readyz: with meta servers the node is ready while it holds a
// lease.
func (s *Server) ready() error {
	if len(s.cfg.ReplicaServer.MetaServers) == 0 {
		return nil
	}
	now := time.Now
	if s.cfg.Clock != nil {
		now = s.cfg.Clock
	}
	if !s.srv.LeaseUntil().After(now()) {
		return errors.New("no lease from the meta server")
	}
	return nil
}

// configJSON serves /replica/config: the effective configuration with the
// file's section and key names. It holds no secrets.
func (s *Server) configJSON(*http.Request) (any, error) {
	var buf bytes.Buffer
	if err := toml.NewEncoder(&buf).Encode(s.cfg); err != nil {
		return nil, err
	}
	var out map[string]any
	if _, err := toml.Decode(buf.String(), &out); err != nil {
		return nil, err
	}
	return out, nil
}

// RPCAddr returns the address the RPC server listens on.
func (s *Server) RPCAddr() string { return s.rpcAddr }

// HTTPAddr returns the address of the HTTP server, "" when disabled.
func (s *Server) HTTPAddr() string {
	if s.http == nil {
		return ""
	}
	return s.http.Addr()
}

// Node returns the address the server advertises to the meta servers and
// clients (advertise_address, else the RPC address).
func (s *Server) Node() string { return s.srv.Node() }

// SetLearnRateLimit changes replication.learn_rate_limit at runtime, in
// bytes per second (0: unlimited).
func (s *Server) SetLearnRateLimit(bytesPerSec int64) { s.srv.SetLearnRateLimit(bytesPerSec) }

// Config returns the configuration the server runs with.
func (s *Server) Config() Config { return s.cfg }

// Close stops serving RPC (letting requests in flight finish within
// rpc.shutdown_timeout) and HTTP, stops the meta loops, and closes every
// replica. It is idempotent and returns the first result on later calls.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		var errs []error
		if s.rpcServer != nil {
			if err := s.rpcServer.Close(); err != nil {
				errs = append(errs, err)
			}
			if s.rpcDone != nil {
				<-s.rpcDone
			}
		}
		if s.http != nil {
			if err := s.http.Close(); err != nil {
				errs = append(errs, err)
			}
		}
		if s.srv != nil {
			if err := s.srv.Close(); err != nil {
				errs = append(errs, err)
			}
		}
		if s.client != nil {
			if err := s.client.Close(); err != nil {
				errs = append(errs, err)
			}
		}
		if s.reg != nil {
			if err := s.reg.Close(); err != nil {
				errs = append(errs, err)
			}
		}
		if s.log != nil && s.srv != nil {
			s.log.Info("replica server stopped")
		}
		if s.root != nil {
			if err := s.root.Close(); err != nil {
				errs = append(errs, err)
			}
		}
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

// dupGroup converts the validated [duplication-group] ids.
func dupGroup(g map[string]int) map[string]uint8 {
	out := make(map[string]uint8, len(g))
	for name, id := range g {
		out[name] = uint8(id)
	}
	return out
}
