package proxy

import (
	"context"
	"errors"

	"github.com/pegasus-go/pegasus/metaproxy/route"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

// ErrOnlyRoutes is the code of the answer to every Meta method other than
// QueryConfig: the proxy routes configuration queries and nothing else.
const ErrOnlyRoutes = protocol.CodeNotImplementable

func busyf(format string, args ...any) error {
	return protocol.Errorf(protocol.CodeBusy, format, args...)
}

// unroutedTable labels the query counter of tables without a route.
const unroutedTable = "_unrouted"

// QueryConfig resolves req.AppName's route and forwards the query to that
// cluster's meta leader. See the package doc for the errors.
func (p *Proxy) QueryConfig(ctx context.Context, req *protocol.QueryConfigRequest) (*protocol.QueryConfigResponse, error) {
	table := req.AppName
	if table == "" {
		return nil, protocol.Errorf(protocol.CodeInvalidArgument,
			"metaproxy %s routes QueryConfig by table name; a query by app id (%d) must go to the meta servers of the table's cluster",
			p.opts.Address, req.AppID)
	}
	if err := route.CheckTable(table); err != nil {
		return nil, protocol.Errorf(protocol.CodeInvalidArgument, "metaproxy %s: %v", p.opts.Address, err)
	}
	l, err := p.resolve(ctx, table)
	if err != nil {
		if ctx.Err() != nil {
			return nil, protocol.Errorf(protocol.CodeTimeout, "metaproxy %s: route of table %q: %v", p.opts.Address, table, err)
		}
		return nil, err
	}
	switch {
	case !l.Found:
		p.metrics.query(unroutedTable)
		return nil, protocol.Errorf(protocol.CodeAppNotExist,
			"metaproxy %s: table %q has no route: no node %s in %s (add one with `admincli proxy set %s -c <cluster> -m <metas>`)",
			p.opts.Address, table, route.Lookup{Table: table}.Path(p.opts.Root), p.opts.StoreDesc, table)
	case l.Invalid != nil:
		p.metrics.query(table)
		return nil, protocol.Errorf(protocol.CodeInvalidConfig, "metaproxy %s: route of table %q: %v",
			p.opts.Address, table, l.Err(p.opts.Root))
	}
	p.metrics.query(table)
	c, err := p.cluster(l.Route)
	if err != nil {
		return nil, err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.opts.ForwardTimeout)
		defer cancel()
	}
	resp, err := c.QueryConfig(ctx, table)
	if err != nil {
		p.metrics.forwardFailures.Inc(1)
		var pe *protocol.Error
		if errors.As(err, &pe) {
			return nil, protocol.Errorf(pe.Code, "cluster %s via metaproxy %s: %s", l.Route, p.opts.Address, pe.Message)
		}
		return nil, protocol.Errorf(protocol.CodeOf(err), "cluster %s via metaproxy %s: %v", l.Route, p.opts.Address, err)
	}
	return resp, nil
}

// Service returns the rpcx receiver of service Meta.
func (p *Proxy) Service() *MetaService { return &MetaService{p: p} }

// MetaService is the proxy's Meta service: QueryConfig is routed, every
// other method is refused with ErrOnlyRoutes.
type MetaService struct{ p *Proxy }

// QueryConfig implements Meta.QueryConfig through the route.
func (m *MetaService) QueryConfig(ctx context.Context, req *protocol.QueryConfigRequest, resp *protocol.QueryConfigResponse) error {
	r, err := m.p.QueryConfig(ctx, req)
	if err != nil {
		return err
	}
	*resp = *r
	return nil
}

func (m *MetaService) onlyRoutes(method string) error {
	return protocol.Errorf(ErrOnlyRoutes,
		"metaproxy %s only routes QueryConfig; send %s to the meta servers of the table's cluster (`admincli proxy get <table>` shows them)",
		m.p.opts.Address, method)
}

// CreateApp is refused with ErrOnlyRoutes.
func (m *MetaService) CreateApp(context.Context, *protocol.CreateAppRequest, *protocol.CreateAppResponse) error {
	return m.onlyRoutes(protocol.MethodCreateApp)
}

// DropApp is refused with ErrOnlyRoutes.
func (m *MetaService) DropApp(context.Context, *protocol.DropAppRequest, *protocol.DropAppResponse) error {
	return m.onlyRoutes(protocol.MethodDropApp)
}

// RecallApp is refused with ErrOnlyRoutes.
func (m *MetaService) RecallApp(context.Context, *protocol.RecallAppRequest, *protocol.RecallAppResponse) error {
	return m.onlyRoutes(protocol.MethodRecallApp)
}

// ListApps is refused with ErrOnlyRoutes.
func (m *MetaService) ListApps(context.Context, *protocol.ListAppsRequest, *protocol.ListAppsResponse) error {
	return m.onlyRoutes(protocol.MethodListApps)
}

// ListNodes is refused with ErrOnlyRoutes.
func (m *MetaService) ListNodes(context.Context, *protocol.ListNodesRequest, *protocol.ListNodesResponse) error {
	return m.onlyRoutes(protocol.MethodListNodes)
}

// SetAppEnvs is refused with ErrOnlyRoutes.
func (m *MetaService) SetAppEnvs(context.Context, *protocol.SetAppEnvsRequest, *protocol.SetAppEnvsResponse) error {
	return m.onlyRoutes(protocol.MethodSetAppEnvs)
}

// GetAppEnvs is refused with ErrOnlyRoutes.
func (m *MetaService) GetAppEnvs(context.Context, *protocol.GetAppEnvsRequest, *protocol.GetAppEnvsResponse) error {
	return m.onlyRoutes(protocol.MethodGetAppEnvs)
}

// DelAppEnvs is refused with ErrOnlyRoutes.
func (m *MetaService) DelAppEnvs(context.Context, *protocol.DelAppEnvsRequest, *protocol.DelAppEnvsResponse) error {
	return m.onlyRoutes(protocol.MethodDelAppEnvs)
}

// ClusterInfo is refused with ErrOnlyRoutes.
func (m *MetaService) ClusterInfo(context.Context, *protocol.ClusterInfoRequest, *protocol.ClusterInfoResponse) error {
	return m.onlyRoutes(protocol.MethodClusterInfo)
}

// AddDuplication is refused with ErrOnlyRoutes.
func (m *MetaService) AddDuplication(context.Context, *protocol.AddDuplicationRequest, *protocol.AddDuplicationResponse) error {
	return m.onlyRoutes(protocol.MethodAddDuplication)
}

// QueryDuplication is refused with ErrOnlyRoutes.
func (m *MetaService) QueryDuplication(context.Context, *protocol.QueryDuplicationRequest, *protocol.QueryDuplicationResponse) error {
	return m.onlyRoutes(protocol.MethodQueryDuplication)
}

// ModifyDuplication is refused with ErrOnlyRoutes.
func (m *MetaService) ModifyDuplication(context.Context, *protocol.ModifyDuplicationRequest, *protocol.ModifyDuplicationResponse) error {
	return m.onlyRoutes(protocol.MethodModifyDuplication)
}
