package dup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/pegasus-go/pegasus/client-go/pegasus"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

// Clients holds one client-go client per remote cluster (and meta list),
// shared by every duplicator of a node. Safe for concurrent use.
type Clients struct {
	template pegasus.Config
	logger   *slog.Logger

	mu      sync.Mutex
	clients map[string]*pegasus.Client // cluster + "\x00" + meta list -> client
	closed  bool
}

// NewClients returns an empty pool; every client is made from template
// with the remote cluster's meta servers.
func NewClients(template pegasus.Config, logger *slog.Logger) *Clients {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Clients{template: template, logger: logger, clients: map[string]*pegasus.Client{}}
}

// Remote returns the remote table name of cluster (whose meta servers are
// metas) through the cluster's shared client, creating the client on first
// use. A changed meta list gets a new client (the old one stays open for
// the duplicators still using it, until Close).
func (c *Clients) Remote(cluster string, metas []string, table string) (Remote, error) {
	if len(metas) == 0 {
		return nil, protocol.Errorf(protocol.CodeInvalidArgument, "duplication: no meta servers known for cluster %q", cluster)
	}
	if table == "" {
		return nil, protocol.Errorf(protocol.CodeInvalidArgument, "duplication: empty remote table name")
	}
	key := cluster + "\x00" + strings.Join(metas, ",")
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, protocol.Errorf(protocol.CodeInvalidState, "duplication: remote clients are closed")
	}
	cl := c.clients[key]
	if cl == nil {
		cfg := c.template
		cfg.MetaServers = slices.Clone(metas)
		var err error
		cl, err = pegasus.NewClient(cfg, pegasus.WithLogger(c.logger.With("remote_cluster", cluster)))
		if err != nil {
			return nil, fmt.Errorf("duplication: client of cluster %q: %w", cluster, err)
		}
		c.clients[key] = cl
	}
	return &TableRemote{c: cl, name: table}, nil
}

// Close closes every client; Remotes handed out fail afterwards.
func (c *Clients) Close() error {
	c.mu.Lock()
	c.closed = true
	all := make([]*pegasus.Client, 0, len(c.clients))
	for _, cl := range c.clients {
		all = append(all, cl)
	}
	clear(c.clients)
	c.mu.Unlock()
	var errs []error
	for _, cl := range all {
		errs = append(errs, cl.Close())
	}
	return errors.Join(errs...)
}

// TableRemote is the production Remote: a table of a remote cluster
// through client-go, resolved on first use.
type TableRemote struct {
	c    *pegasus.Client
	name string

	mu sync.Mutex
	t  *pegasus.Table
}

func (r *TableRemote) table(ctx context.Context) (*pegasus.Table, error) {
	r.mu.Lock()
	t := r.t
	r.mu.Unlock()
	if t != nil {
		return t, nil
	}
	t, err := r.c.OpenTable(ctx, r.name)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.t = t
	r.mu.Unlock()
	return t, nil
}

// PartitionCount implements Remote.
func (r *TableRemote) PartitionCount(ctx context.Context) (int32, error) {
	t, err := r.table(ctx)
	if err != nil {
		return 0, err
	}
	return int32(t.PartitionCount()), nil
}

// Duplicate implements Remote.
func (r *TableRemote) Duplicate(ctx context.Context, partitionIndex int32, entries []protocol.DuplicateEntry) (int32, error) {
	t, err := r.table(ctx)
	if err != nil {
		return 0, err
	}
	return t.Duplicate(ctx, partitionIndex, entries)
}
