package admin

import (
	"context"
	"fmt"
	"log/slog"
	"math/bits"
	"slices"
	"time"

	"github.com/pegasus-go/pegasus/client-go/internal/metasession"
	"github.com/pegasus-go/pegasus/shared/protocol"
	"github.com/pegasus-go/pegasus/shared/rpc"
)

// Config configures a Client.
type Config struct {
	// MetaServers lists the cluster's meta servers ("host:port"); at least
	// one is required.
	MetaServers []string
	// Timeout bounds a call whose context has no deadline, retries
	// included. Default 10s.
	Timeout time.Duration
	// AttemptTimeout bounds one attempt on one meta server. Default 3s.
	AttemptTimeout time.Duration
}

// DefaultTimeout is the default Config.Timeout.
const DefaultTimeout = 10 * time.Second

// Limits checked locally before a request is sent.
const (
	MaxPartitionCount = 1 << 16 // partitions per table
	MaxReplicaCount   = 9       // replicas per partition
	MaxNameBytes      = 256     // table name length
	DefaultReplicas   = 3       // replica count when CreateAppOptions leaves it 0
)

// Sentinel errors. They are wire error codes, so errors.Is matches both
// these and the protocol constants.
var (
	// ErrAppNotFound: the table does not exist or was dropped.
	ErrAppNotFound error = protocol.CodeAppNotExist
	// ErrAppExists: CreateApp or RecallApp named a table that exists.
	ErrAppExists error = protocol.CodeAppExist
	// ErrInvalidArgument: the request was refused locally or by the meta
	// server as malformed.
	ErrInvalidArgument error = protocol.CodeInvalidArgument
)

// Option customizes a Client.
type Option func(*options)

type options struct {
	logger       *slog.Logger
	rpc          *rpc.Client
	pollInterval time.Duration
}

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithRPCClient makes the Client send through c, which the caller keeps
// owning (Close does not close it). By default the Client creates its own.
func WithRPCClient(c *rpc.Client) Option { return func(o *options) { o.rpc = c } }

// WithPollInterval sets how often WaitForPrimaries polls the meta server
// (default 100ms).
func WithPollInterval(d time.Duration) Option { return func(o *options) { o.pollInterval = d } }

// Client is an admin client of one cluster. See the package doc.
type Client struct {
	cfg     Config
	opts    options
	session *metasession.Session
}

// New returns a Client for the cluster whose meta servers cfg lists. It
// does not connect until the first call.
func New(cfg Config, opts ...Option) (*Client, error) {
	o := options{pollInterval: 100 * time.Millisecond}
	for _, opt := range opts {
		opt(&o)
	}
	if o.logger == nil {
		o.logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Timeout < 0 || o.pollInterval <= 0 {
		return nil, fmt.Errorf("admin: negative timeout %v or non-positive poll interval %v", cfg.Timeout, o.pollInterval)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	s, err := metasession.New(metasession.Config{
		MetaServers:    cfg.MetaServers,
		AttemptTimeout: cfg.AttemptTimeout,
	}, o.rpc, o.logger)
	if err != nil {
		return nil, fmt.Errorf("admin: %w", err)
	}
	cfg.MetaServers = s.MetaServers()
	return &Client{cfg: cfg, opts: o, session: s}, nil
}

// Close releases the client's connections (unless WithRPCClient supplied
// them). It is idempotent.
func (c *Client) Close() error { return c.session.Close() }

// Leader returns the meta leader's address as last learnt, or "".
func (c *Client) Leader() string { return c.session.Leader() }

// MetaServers returns the configured meta list.
func (c *Client) MetaServers() []string { return c.session.MetaServers() }

func (c *Client) call(ctx context.Context, method string, req, resp protocol.Message, retry metasession.Retry) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.cfg.Timeout)
		defer cancel()
	}
	return c.session.Call(ctx, protocol.ServiceMeta, method, req, resp, retry)
}

// CreateAppOptions are the parameters of a new table.
type CreateAppOptions struct {
	// PartitionCount is required: a power of two, at most MaxPartitionCount.
	PartitionCount int32
	// ReplicaCount is the number of replicas per partition; 0 means
	// DefaultReplicas.
	ReplicaCount int32
	// Envs are initial table envs (may be nil).
	Envs map[string]string
}

// CreateApp creates a table and returns its app id. The meta server
// answers once the table is recorded; its partitions get primaries shortly
// after (see WaitForPrimaries).
func (c *Client) CreateApp(ctx context.Context, name string, o CreateAppOptions) (int32, error) {
	if err := CheckAppName(name); err != nil {
		return 0, err
	}
	if err := checkPartitionCount(o.PartitionCount); err != nil {
		return 0, err
	}
	if o.ReplicaCount == 0 {
		o.ReplicaCount = DefaultReplicas
	}
	if o.ReplicaCount < 1 || o.ReplicaCount > MaxReplicaCount {
		return 0, protocol.Errorf(protocol.CodeInvalidArgument, "replica count %d out of range 1..%d", o.ReplicaCount, MaxReplicaCount)
	}
	if err := checkEnvs(o.Envs); err != nil {
		return 0, err
	}
	req := &protocol.CreateAppRequest{Name: name, PartitionCount: o.PartitionCount, ReplicaCount: o.ReplicaCount, Envs: o.Envs}
	var resp protocol.CreateAppResponse
	if err := c.call(ctx, protocol.MethodCreateApp, req, &resp, metasession.RetryUnsent); err != nil {
		return 0, err
	}
	return resp.AppID, nil
}

// DropApp drops a table. It stays recallable for reserve (0: the meta
// server's default hold time), rounded down to whole seconds.
func (c *Client) DropApp(ctx context.Context, name string, reserve time.Duration) error {
	if err := checkName(name); err != nil {
		return err
	}
	if reserve < 0 {
		return protocol.Errorf(protocol.CodeInvalidArgument, "negative reserve time %v", reserve)
	}
	req := &protocol.DropAppRequest{Name: name, ReserveSeconds: int64(reserve / time.Second)}
	return c.call(ctx, protocol.MethodDropApp, req, &protocol.DropAppResponse{}, metasession.RetryUnsent)
}

// RecallApp restores a dropped table by id, under newName ("" keeps its
// old name), and returns the recalled table.
func (c *Client) RecallApp(ctx context.Context, appID int32, newName string) (protocol.AppInfo, error) {
	if appID <= 0 {
		return protocol.AppInfo{}, protocol.Errorf(protocol.CodeInvalidArgument, "app id %d must be positive", appID)
	}
	if newName != "" {
		if err := CheckAppName(newName); err != nil {
			return protocol.AppInfo{}, err
		}
	}
	var resp protocol.RecallAppResponse
	err := c.call(ctx, protocol.MethodRecallApp, &protocol.RecallAppRequest{AppID: appID, NewName: newName}, &resp, metasession.RetryUnsent)
	return resp.App, err
}

// ListApps lists tables ordered by app id; status protocol.AppInvalid
// lists every status (dropped tables included).
func (c *Client) ListApps(ctx context.Context, status protocol.AppStatus) ([]protocol.AppInfo, error) {
	if !status.Valid() {
		return nil, protocol.Errorf(protocol.CodeInvalidArgument, "unknown app status %d", status)
	}
	var resp protocol.ListAppsResponse
	if err := c.call(ctx, protocol.MethodListApps, &protocol.ListAppsRequest{Status: status}, &resp, metasession.RetryIdempotent); err != nil {
		return nil, err
	}
	return resp.Apps, nil
}

// QueryConfig returns a table's info and its partition configurations,
// ordered by partition index. An unknown or dropped table is
// ErrAppNotFound.
func (c *Client) QueryConfig(ctx context.Context, name string) (*protocol.QueryConfigResponse, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	return c.queryConfig(ctx, &protocol.QueryConfigRequest{AppName: name})
}

// QueryConfigByID is QueryConfig by app id.
func (c *Client) QueryConfigByID(ctx context.Context, appID int32) (*protocol.QueryConfigResponse, error) {
	if appID <= 0 {
		return nil, protocol.Errorf(protocol.CodeInvalidArgument, "app id %d must be positive", appID)
	}
	return c.queryConfig(ctx, &protocol.QueryConfigRequest{AppID: appID})
}

func (c *Client) queryConfig(ctx context.Context, req *protocol.QueryConfigRequest) (*protocol.QueryConfigResponse, error) {
	resp := new(protocol.QueryConfigResponse)
	if err := c.call(ctx, protocol.MethodQueryConfig, req, resp, metasession.RetryIdempotent); err != nil {
		return nil, err
	}
	return resp, nil
}

// WaitForPrimaries polls QueryConfig until every partition of the table
// has a primary, and returns that configuration. It fails with the
// context's end (the last poll's error, or CodeTimeout wrapping the
// context error) or with any non-retryable error such as ErrAppNotFound.
func (c *Client) WaitForPrimaries(ctx context.Context, name string) (*protocol.QueryConfigResponse, error) {
	t := time.NewTicker(c.opts.pollInterval)
	defer t.Stop()
	for {
		resp, err := c.QueryConfig(ctx, name)
		if err != nil {
			return nil, err
		}
		if allPrimaries(resp) {
			return resp, nil
		}
		select {
		case <-ctx.Done():
			return nil, protocol.Errorf(protocol.CodeTimeout, "table %s: %d of %d partitions have a primary: %v",
				name, countPrimaries(resp), len(resp.Partitions), ctx.Err())
		case <-t.C:
		}
	}
}

func allPrimaries(r *protocol.QueryConfigResponse) bool {
	return int32(len(r.Partitions)) == r.App.PartitionCount && countPrimaries(r) == len(r.Partitions)
}

func countPrimaries(r *protocol.QueryConfigResponse) int {
	n := 0
	for i := range r.Partitions {
		if r.Partitions[i].Primary != "" {
			n++
		}
	}
	return n
}

// ListNodes lists replica servers ordered by address; status
// protocol.NodeInvalid lists all.
func (c *Client) ListNodes(ctx context.Context, status protocol.NodeStatus) ([]protocol.NodeInfo, error) {
	if !status.Valid() {
		return nil, protocol.Errorf(protocol.CodeInvalidArgument, "unknown node status %d", status)
	}
	var resp protocol.ListNodesResponse
	if err := c.call(ctx, protocol.MethodListNodes, &protocol.ListNodesRequest{Status: status}, &resp, metasession.RetryIdempotent); err != nil {
		return nil, err
	}
	return resp.Nodes, nil
}

// SetAppEnvs adds or overwrites table envs.
func (c *Client) SetAppEnvs(ctx context.Context, name string, envs map[string]string) error {
	if err := checkName(name); err != nil {
		return err
	}
	if len(envs) == 0 {
		return protocol.Errorf(protocol.CodeInvalidArgument, "no envs to set")
	}
	if err := checkEnvs(envs); err != nil {
		return err
	}
	return c.call(ctx, protocol.MethodSetAppEnvs, &protocol.SetAppEnvsRequest{AppName: name, Envs: envs},
		&protocol.SetAppEnvsResponse{}, metasession.RetryIdempotent)
}

// GetAppEnvs returns a table's envs (never nil).
func (c *Client) GetAppEnvs(ctx context.Context, name string) (map[string]string, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	var resp protocol.GetAppEnvsResponse
	if err := c.call(ctx, protocol.MethodGetAppEnvs, &protocol.GetAppEnvsRequest{AppName: name}, &resp, metasession.RetryIdempotent); err != nil {
		return nil, err
	}
	if resp.Envs == nil {
		resp.Envs = map[string]string{}
	}
	return resp.Envs, nil
}

// DelAppEnvs deletes the named envs and returns, sorted, those that
// existed. Deleting a missing key succeeds.
func (c *Client) DelAppEnvs(ctx context.Context, name string, keys []string) ([]string, error) {
	if len(keys) == 0 {
		return nil, protocol.Errorf(protocol.CodeInvalidArgument, "no env keys to delete")
	}
	for _, k := range keys {
		if k == "" {
			return nil, protocol.Errorf(protocol.CodeInvalidArgument, "empty env key")
		}
	}
	return c.delAppEnvs(ctx, &protocol.DelAppEnvsRequest{AppName: name, Keys: keys})
}

// ClearAppEnvs deletes every env whose key starts with prefix (every env
// when prefix is empty) and returns, sorted, the deleted keys.
func (c *Client) ClearAppEnvs(ctx context.Context, name, prefix string) ([]string, error) {
	return c.delAppEnvs(ctx, &protocol.DelAppEnvsRequest{AppName: name, ClearPrefix: prefix, ClearAll: prefix == ""})
}

func (c *Client) delAppEnvs(ctx context.Context, req *protocol.DelAppEnvsRequest) ([]string, error) {
	if err := checkName(req.AppName); err != nil {
		return nil, err
	}
	var resp protocol.DelAppEnvsResponse
	if err := c.call(ctx, protocol.MethodDelAppEnvs, req, &resp, metasession.RetryIdempotent); err != nil {
		return nil, err
	}
	slices.Sort(resp.Deleted)
	return resp.Deleted, nil
}

// ClusterInfo returns the meta leader's summary of the cluster.
func (c *Client) ClusterInfo(ctx context.Context) (*protocol.ClusterInfoResponse, error) {
	resp := new(protocol.ClusterInfoResponse)
	if err := c.call(ctx, protocol.MethodClusterInfo, &protocol.ClusterInfoRequest{}, resp, metasession.RetryIdempotent); err != nil {
		return nil, err
	}
	return resp, nil
}

// CheckAppName reports whether name is a valid new table name: 1 to
// MaxNameBytes bytes of ASCII letters, digits, '_', '.' and '-'.
func CheckAppName(name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	for i := 0; i < len(name); i++ {
		ch := name[i]
		if !('a' <= ch && ch <= 'z' || 'A' <= ch && ch <= 'Z' || '0' <= ch && ch <= '9' || ch == '_' || ch == '.' || ch == '-') {
			return protocol.Errorf(protocol.CodeInvalidArgument, "table name %q: character %q not allowed (want letters, digits, '_', '.', '-')", name, ch)
		}
	}
	return nil
}

func checkName(name string) error {
	if name == "" {
		return protocol.Errorf(protocol.CodeInvalidArgument, "empty table name")
	}
	if len(name) > MaxNameBytes {
		return protocol.Errorf(protocol.CodeInvalidArgument, "table name of %d bytes exceeds %d", len(name), MaxNameBytes)
	}
	return nil
}

func checkPartitionCount(n int32) error {
	if n <= 0 || n > MaxPartitionCount || bits.OnesCount32(uint32(n)) != 1 {
		return protocol.Errorf(protocol.CodeInvalidArgument, "partition count %d must be a power of two in 1..%d", n, MaxPartitionCount)
	}
	return nil
}

func checkEnvs(envs map[string]string) error {
	for k := range envs {
		if k == "" {
			return protocol.Errorf(protocol.CodeInvalidArgument, "empty env key")
		}
	}
	return nil
}
