package pegasus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/uber-go/tally/v4"

	"github.com/pegasus-go/pegasus/shared/protocol"
	"github.com/pegasus-go/pegasus/shared/rpc"
)

// Client is a connection to one Pegasus-Go cluster. It is safe for
// concurrent use; create one per cluster and share it. Close releases
// every connection and goroutine.
type Client struct {
	cfg     Config
	logger  *slog.Logger
	metrics *clientMetrics
	rpc     *rpc.Client
	// proxied: MetaServers are meta proxies (Config.MetaProxy), so a
	// table may move to another cluster (see Table.install).
	proxied bool

	// closing is closed by Close; background work and waits select on it.
	closing chan struct{}
	// baseCtx parents background RPCs; Close cancels it.
	baseCtx    context.Context
	cancelBase context.CancelFunc
	wg         sync.WaitGroup // background goroutines (configuration refreshes)

	mu struct {
		sync.Mutex
		closed bool
		leader string // last meta server that answered, "" when unknown
		tables map[string]*Table
	}
}

// NewClient returns a client for the cluster whose meta servers cfg
// lists. It does not contact the cluster; OpenTable does.
func NewClient(cfg Config, opts ...Option) (*Client, error) {
	cfg.EnsureDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	o := options{logger: slog.New(slog.DiscardHandler), scope: tally.NoopScope}
	for _, opt := range opts {
		opt(&o)
	}
	rc, err := rpc.NewClient(rpc.ClientConfig{
		MaxMessageBytes: cfg.MaxMessageBytes,
		DialTimeout:     cfg.DialTimeout,
	}, o.logger)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidArgument, err)
	}
	c := &Client{
		cfg:     cfg,
		logger:  o.logger.With("component", "pegasus-client"),
		metrics: newClientMetrics(o.scope),
		rpc:     rc,
		closing: make(chan struct{}),
	}
	c.baseCtx, c.cancelBase = context.WithCancel(context.Background())
	c.cfg.MetaServers = slices.Clone(cfg.MetaServers)
	if len(cfg.MetaProxy) > 0 {
		// Proxies answer the Meta queries the client sends; they are asked
		// like meta servers (the one that answered last first).
		c.cfg.MetaServers, c.proxied = slices.Clone(cfg.MetaProxy), true
	}
	c.mu.tables = make(map[string]*Table)
	return c, nil
}

// Close fails operations in flight with ErrClosed (or a network error
// wrapping it), stops every background goroutine and closes every
// connection. It returns once all of them have exited. Close is
// idempotent.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.mu.closed {
		c.mu.Unlock()
		c.wg.Wait()
		return nil
	}
	c.mu.closed = true
	close(c.closing)
	c.cancelBase()
	c.mu.Unlock()
	err := c.rpc.Close()
	c.wg.Wait()
	return err
}

// goBackground runs fn on a tracked goroutine unless the client is
// closed; it reports whether fn was started.
func (c *Client) goBackground(fn func()) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.closed {
		return false
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		fn()
	}()
	return true
}

func (c *Client) isClosed() bool {
	select {
	case <-c.closing:
		return true
	default:
		return false
	}
}

// opContext bounds ctx by OperationTimeout when it has no deadline.
func (c *Client) opContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, c.cfg.OperationTimeout)
}

// OpenTable resolves a table's partition configuration and returns a
// handle for it. Handles are cached: opening the same name again returns
// the same *Table without asking the meta server. Errors: ErrTableNotFound
// when the table does not exist or was dropped, ErrTimeout, ErrClosed.
func (c *Client) OpenTable(ctx context.Context, name string) (*Table, error) {
	if name == "" {
		return nil, &OpError{Op: opOpenTable, Partition: -1, Err: invalidArgf("table name is empty")}
	}
	c.mu.Lock()
	if c.mu.closed {
		c.mu.Unlock()
		return nil, &OpError{Op: opOpenTable, Table: name, Partition: -1, Err: ErrClosed}
	}
	if t, ok := c.mu.tables[name]; ok {
		c.mu.Unlock()
		return t, nil
	}
	c.mu.Unlock()

	ctx, cancel := c.opContext(ctx)
	defer cancel()
	r, err := c.queryConfig(ctx, name)
	if err != nil {
		return nil, &OpError{Op: opOpenTable, Table: name, Partition: -1, Err: err}
	}
	t := newTable(c, name, r)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.closed {
		return nil, &OpError{Op: opOpenTable, Table: name, Partition: -1, Err: ErrClosed}
	}
	if prev, ok := c.mu.tables[name]; ok {
		return prev, nil
	}
	c.mu.tables[name] = t
	c.logger.Info("table opened", "table", name, "app_id", r.app.AppID, "partitions", r.app.PartitionCount)
	return t, nil
}

// queryConfig asks the meta servers for a table's configuration and
// validates the answer.
func (c *Client) queryConfig(ctx context.Context, name string) (*routing, error) {
	var resp protocol.QueryConfigResponse
	if err := c.callMeta(ctx, protocol.MethodQueryConfig, &protocol.QueryConfigRequest{AppName: name}, &resp); err != nil {
		return nil, err
	}
	return newRouting(name, &resp)
}

// maxMetaHops bounds the meta servers (configured or redirected to) one
// round of callMeta tries.
const maxMetaHops = 8

// callMeta calls the meta leader: it starts with the last server that
// answered, follows CodeForwardToOthers redirects to the leader named in
// the message, moves on to the next configured server when one is
// unreachable, and repeats rounds with backoff until ctx ends. Errors
// other than redirects and unavailability are returned at once.
func (c *Client) callMeta(ctx context.Context, method string, req, resp protocol.Message) error {
	bo := c.newBackoff()
	for {
		var lastErr error
		queue := c.metaOrder()
		tried := make(map[string]bool, len(queue))
		for len(queue) > 0 && len(tried) < max(maxMetaHops, len(c.cfg.MetaServers)) {
			addr := queue[0]
			queue = queue[1:]
			if tried[addr] {
				continue
			}
			tried[addr] = true
			err := c.rpc.Call(ctx, addr, protocol.ServiceMeta, method, req, resp)
			if err == nil {
				c.setLeader(addr)
				return nil
			}
			lastErr = err
			if ctx.Err() != nil || errors.Is(err, rpc.ErrClientClosed) {
				return err
			}
			switch protocol.CodeOf(err) {
			case protocol.CodeForwardToOthers:
				var pe *protocol.Error
				if errors.As(err, &pe) {
					if leader := strings.TrimSpace(pe.Message); leader != "" && !tried[leader] {
						c.logger.Debug("meta redirect", "from", addr, "leader", leader)
						queue = append([]string{leader}, queue...)
					}
				}
			case protocol.CodeNetworkFailure, protocol.CodeTimeout, protocol.CodeBusy,
				protocol.CodeInvalidState, protocol.CodeUnknownMethod:
				// Try the next meta server.
			default:
				c.setLeader(addr)
				return err
			}
		}
		if !bo.wait(ctx, c.closing) {
			if c.isClosed() {
				return ErrClosed
			}
			return lastErr
		}
	}
}

// metaOrder returns the meta servers to try: the remembered leader first,
// then the configured list.
func (c *Client) metaOrder() []string {
	c.mu.Lock()
	leader := c.mu.leader
	c.mu.Unlock()
	out := make([]string, 0, len(c.cfg.MetaServers)+1)
	if leader != "" {
		out = append(out, leader)
	}
	return append(out, c.cfg.MetaServers...)
}

func (c *Client) setLeader(addr string) {
	c.mu.Lock()
	c.mu.leader = addr
	c.mu.Unlock()
}

// MetaLeader returns the meta server that answered last (the leader once a
// redirect was followed), or "" before any meta call succeeded.
func (c *Client) MetaLeader() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.leader
}

// backoff computes exponential pauses with jitter.
type backoff struct {
	next, max time.Duration
}

func (c *Client) newBackoff() backoff {
	return backoff{next: c.cfg.InitialRetryBackoff, max: c.cfg.MaxRetryBackoff}
}

// wait pauses for the next backoff interval. It returns false without
// waiting when the interval would end past ctx's deadline, and false when
// ctx ends or closing is closed during the pause.
func (b *backoff) wait(ctx context.Context, closing <-chan struct{}) bool {
	d := b.next
	if d > 0 {
		d += time.Duration(rand.Int64N(int64(d)/5 + 1))
	}
	b.next = min(b.next*2, b.max)
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) <= d {
		return false
	}
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-closing:
		return false
	}
}
