package collector

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"

	"github.com/pegasus-go/pegasus/client-go/admin"
	"github.com/pegasus-go/pegasus/collector/internal/aggregate"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

// Discoverer describes the cluster for one round.
type Discoverer interface {
	// Discover returns the cluster's tables, partitions and nodes. It may
	// block until ctx ends.
	Discover(ctx context.Context) (aggregate.View, error)
}

// Addresses derives a daemon's HTTP address from its RPC address, since
// the meta server knows nodes by RPC address only: an explicit entry of
// HTTP wins, else the RPC port plus the role's offset on the same host.
type Addresses struct {
	MetaHTTPPortOffset    int
	ReplicaHTTPPortOffset int
	// HTTP maps an RPC address to its HTTP address.
	HTTP map[string]string
}

// HTTPFor returns the HTTP address of the daemon of role serving RPC on
// rpcAddr.
func (a Addresses) HTTPFor(rpcAddr, role string) (string, error) {
	if h, ok := a.HTTP[rpcAddr]; ok {
		return h, nil
	}
	host, port, err := net.SplitHostPort(rpcAddr)
	if err != nil {
		return "", fmt.Errorf("node address %q: %w", rpcAddr, err)
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return "", fmt.Errorf("node address %q: bad port", rpcAddr)
	}
	off := a.ReplicaHTTPPortOffset
	if role == aggregate.RoleMeta {
		off = a.MetaHTTPPortOffset
	}
	if p+off <= 0 || p+off > 65535 {
		return "", fmt.Errorf("node address %q: port %d + offset %d is out of range", rpcAddr, p, off)
	}
	return net.JoinHostPort(host, strconv.Itoa(p+off)), nil
}

// AdminDiscoverer discovers through the meta server's admin API.
type AdminDiscoverer struct {
	Admin *admin.Client
	// Cluster is the configured cluster name, used when the meta server
	// does not answer ClusterInfo.
	Cluster string
	// MetaServers are the configured meta servers; every meta server the
	// cluster reports is scraped as well.
	MetaServers []string
	Addresses   Addresses
	Health      admin.HealthRules
}

// Discover implements Discoverer: ClusterInfo, ListNodes, ListApps and one
// QueryConfig per available table.
func (d *AdminDiscoverer) Discover(ctx context.Context) (aggregate.View, error) {
	v := aggregate.View{Cluster: d.Cluster}
	info, err := d.Admin.ClusterInfo(ctx)
	if err != nil {
		return v, fmt.Errorf("cluster info: %w", err)
	}
	v.MetaLeader = info.MetaLeader
	nodes, err := d.Admin.ListNodes(ctx, protocol.NodeInvalid)
	if err != nil {
		return v, fmt.Errorf("list nodes: %w", err)
	}
	apps, err := d.Admin.ListApps(ctx, protocol.AppAvailable)
	if err != nil {
		return v, fmt.Errorf("list tables: %w", err)
	}
	alive := admin.AliveSet(nodes)
	metas := slices.Clone(d.MetaServers)
	for _, m := range info.MetaServers {
		if !slices.Contains(metas, m) {
			metas = append(metas, m)
		}
	}
	for _, m := range metas {
		h, err := d.Addresses.HTTPFor(m, aggregate.RoleMeta)
		if err != nil {
			return v, err
		}
		v.Nodes = append(v.Nodes, aggregate.Node{Address: m, Role: aggregate.RoleMeta, HTTPAddress: h, Alive: true})
	}
	for _, n := range nodes {
		h, err := d.Addresses.HTTPFor(n.Address, aggregate.RoleReplica)
		if err != nil {
			return v, err
		}
		v.Nodes = append(v.Nodes, aggregate.Node{
			Address: n.Address, Role: aggregate.RoleReplica, HTTPAddress: h, Alive: n.Status == protocol.NodeAlive,
			Primaries: n.PrimaryCount, Secondaries: n.SecondaryCount,
		})
	}
	for i := range apps {
		app := &apps[i]
		resp, err := d.Admin.QueryConfig(ctx, app.Name)
		if err != nil {
			return v, fmt.Errorf("table %s: %w", app.Name, err)
		}
		t := aggregate.Table{
			AppID: app.AppID, Name: app.Name, PartitionCount: app.PartitionCount, ReplicaCount: app.ReplicaCount,
			Health:    d.Health.App(&resp.App, resp.Partitions, alive),
			Primaries: make([]string, max(app.PartitionCount, 0)),
		}
		for _, pc := range resp.Partitions {
			if idx := pc.Gpid.PartitionIndex; idx >= 0 && idx < app.PartitionCount && alive(pc.Primary) {
				t.Primaries[idx] = pc.Primary
			}
		}
		v.Tables = append(v.Tables, t)
	}
	return v, nil
}
