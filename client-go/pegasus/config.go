package pegasus

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/uber-go/tally/v4"

	"github.com/pegasus-go/pegasus/shared/rpc"
)

// Config configures a Client. Zero values take the defaults noted on each
// field (see EnsureDefaults).
type Config struct {
	// MetaServers lists the meta servers ("host:port"). Any of them may
	// be asked; followers redirect to the leader, which the client
	// remembers. Exactly one of MetaServers and MetaProxy is required.
	MetaServers []string
	// MetaProxy lists meta proxies ("host:port") to resolve tables
	// through instead of a cluster's meta servers: each table is served by
	// whichever cluster its proxy route names, and the client follows a
	// route switch (a new app id, partition count and servers) when the
	// old cluster turns it away (see the package doc).
	MetaProxy []string
	// OperationTimeout bounds an operation whose context has no deadline
	// (retries included). Default 5s.
	OperationTimeout time.Duration
	// AttemptTimeout bounds one attempt of an operation, so a primary that
	// stopped answering (paused, cut off) costs one attempt: the client
	// then refreshes the configuration and, for idempotent operations,
	// retries at the new primary within the operation's deadline. Default
	// 2s; it never extends the operation's own deadline.
	AttemptTimeout time.Duration
	// InitialRetryBackoff is the first pause between two attempts of an
	// idempotent operation; each further pause doubles, up to
	// MaxRetryBackoff, with up to 20% random jitter. Default 10ms.
	InitialRetryBackoff time.Duration
	// MaxRetryBackoff caps the pause between two attempts. Default 1s.
	MaxRetryBackoff time.Duration
	// MinConfigRefreshInterval rate-limits the queries for one table's
	// configuration: a refresh starts at least this long after the previous
	// one finished. Default 100ms.
	MinConfigRefreshInterval time.Duration
	// BatchConcurrency bounds the per-partition requests one BatchGet,
	// BatchSet or scan fan-out has in flight. Default 16.
	BatchConcurrency int
	// DialTimeout bounds connecting to one server. Default 3s.
	DialTimeout time.Duration
	// MaxMessageBytes bounds one request or response frame. Default the
	// RPC layer's default (8 MiB).
	MaxMessageBytes int
}

// Defaults.
const (
	DefaultOperationTimeout         = 5 * time.Second
	DefaultAttemptTimeout           = 2 * time.Second
	DefaultInitialRetryBackoff      = 10 * time.Millisecond
	DefaultMaxRetryBackoff          = time.Second
	DefaultMinConfigRefreshInterval = 100 * time.Millisecond
	DefaultBatchConcurrency         = 16
)

// EnsureDefaults fills zero fields with their defaults.
func (c *Config) EnsureDefaults() {
	if c.OperationTimeout == 0 {
		c.OperationTimeout = DefaultOperationTimeout
	}
	if c.AttemptTimeout == 0 {
		c.AttemptTimeout = DefaultAttemptTimeout
	}
	if c.InitialRetryBackoff == 0 {
		c.InitialRetryBackoff = DefaultInitialRetryBackoff
	}
	if c.MaxRetryBackoff == 0 {
		c.MaxRetryBackoff = max(DefaultMaxRetryBackoff, c.InitialRetryBackoff)
	}
	if c.MinConfigRefreshInterval == 0 {
		c.MinConfigRefreshInterval = DefaultMinConfigRefreshInterval
	}
	if c.BatchConcurrency == 0 {
		c.BatchConcurrency = DefaultBatchConcurrency
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = rpc.DefaultDialTimeout
	}
}

// Validate reports every invalid field.
func (c *Config) Validate() error {
	var errs []error
	switch {
	case len(c.MetaServers) == 0 && len(c.MetaProxy) == 0:
		errs = append(errs, errors.New("meta_servers and meta_proxy are both empty: set one"))
	case len(c.MetaServers) > 0 && len(c.MetaProxy) > 0:
		errs = append(errs, errors.New("meta_servers and meta_proxy are both set: set one"))
	}
	for i, a := range c.MetaServers {
		if a == "" {
			errs = append(errs, fmt.Errorf("meta_servers[%d] is empty", i))
		}
	}
	for i, a := range c.MetaProxy {
		if a == "" {
			errs = append(errs, fmt.Errorf("meta_proxy[%d] is empty", i))
		}
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"operation_timeout", c.OperationTimeout},
		{"attempt_timeout", c.AttemptTimeout},
		{"initial_retry_backoff", c.InitialRetryBackoff},
		{"max_retry_backoff", c.MaxRetryBackoff},
		{"min_config_refresh_interval", c.MinConfigRefreshInterval},
		{"dial_timeout", c.DialTimeout},
	} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("%s %v is negative", d.name, d.v))
		}
	}
	if c.MaxRetryBackoff < c.InitialRetryBackoff {
		errs = append(errs, fmt.Errorf("max_retry_backoff %v is below initial_retry_backoff %v",
			c.MaxRetryBackoff, c.InitialRetryBackoff))
	}
	if c.BatchConcurrency < 0 {
		errs = append(errs, fmt.Errorf("batch_concurrency %d is negative", c.BatchConcurrency))
	}
	if c.MaxMessageBytes < 0 {
		errs = append(errs, fmt.Errorf("max_message_bytes %d is negative", c.MaxMessageBytes))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: pegasus client config: %w", ErrInvalidArgument, err)
	}
	return nil
}

// Option customizes a Client beyond its Config.
type Option func(*options)

type options struct {
	logger *slog.Logger
	scope  tally.Scope
}

// WithLogger sets the logger for configuration changes, retries and
// failures (default: discard). The client adds the attribute
// component=pegasus-client.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.logger = l
		}
	}
}

// WithMetrics sets the tally scope the client reports to (default: a
// no-op scope). Metrics, all under the sub-scope "client" and tagged with
// table and op where it applies: requests (counter), errors (counter, also
// tagged code), retries (counter), config_refreshes (counter) and latency
// (timer, whole operation including retries).
func WithMetrics(s tally.Scope) Option {
	return func(o *options) {
		if s != nil {
			o.scope = s
		}
	}
}
