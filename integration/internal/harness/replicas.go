package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/pegasus-go/pegasus/shared/protocol"
)

// HTTPAddress returns the HTTP address of the instance serving RPC on
// rpcAddr.
func (c *Cluster) HTTPAddress(rpcAddr string) string {
	c.t.Helper()
	for _, in := range c.State.Instances {
		if in.RPCAddress == rpcAddr {
			return in.HTTPAddress
		}
	}
	c.t.Fatalf("no instance serves %s", rpcAddr)
	return ""
}

// Digest is a replica's /replica/digest answer.
type Digest struct {
	Decree  protocol.Decree `json:"decree"`
	Records int64           `json:"records"`
	SHA256  string          `json:"sha256"`
}

// ReplicaView is one replica of a /replica/replicas page (the fields the
// tests use).
type ReplicaView struct {
	Gpid          string          `json:"gpid"`
	Role          string          `json:"role"`
	Ballot        protocol.Ballot `json:"ballot"`
	LastCommitted protocol.Decree `json:"last_committed"`
	LastPrepared  protocol.Decree `json:"last_prepared"`
}

// ReplicasPage is a /replica/replicas answer (the fields the tests use).
type ReplicasPage struct {
	Node     string        `json:"node"`
	Replicas []ReplicaView `json:"replicas"`
}

// Replica returns the view of gpid g, if the page lists it.
func (p *ReplicasPage) Replica(g protocol.Gpid) (ReplicaView, bool) {
	i := slices.IndexFunc(p.Replicas, func(r ReplicaView) bool { return r.Gpid == g.String() })
	if i < 0 {
		return ReplicaView{}, false
	}
	return p.Replicas[i], true
}

// Digest fetches the digest of replica g from the replica server serving
// RPC on rpcAddr.
func (c *Cluster) Digest(ctx context.Context, rpcAddr string, g protocol.Gpid) (Digest, error) {
	var d Digest
	err := getJSON(ctx, c.HTTPAddress(rpcAddr), "/replica/digest?gpid="+g.String(), &d)
	return d, err
}

// Replicas fetches the /replica/replicas page of the replica server
// serving RPC on rpcAddr.
func (c *Cluster) Replicas(ctx context.Context, rpcAddr string) (ReplicasPage, error) {
	var p ReplicasPage
	err := getJSON(ctx, c.HTTPAddress(rpcAddr), "/replica/replicas", &p)
	return p, err
}

// getJSON GETs http://addr+path and decodes a 200 answer into v.
func getJSON(ctx context.Context, addr, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s%s: %s: %s", addr, path, resp.Status, strings.TrimSpace(string(b)))
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("GET %s%s: %w", addr, path, err)
	}
	return nil
}

// Unhealthy returns why the configuration of a table is not fully
// replicated (every partition with a primary and replicas-1 secondaries,
// all on distinct nodes), or "" when it is.
func Unhealthy(cfg *protocol.QueryConfigResponse, replicas int) string {
	if int32(len(cfg.Partitions)) != cfg.App.PartitionCount {
		return fmt.Sprintf("%d of %d partitions listed", len(cfg.Partitions), cfg.App.PartitionCount)
	}
	var bad []string
	for _, pc := range cfg.Partitions {
		members := Members(pc)
		distinct := slices.Compact(slices.Sorted(slices.Values(members)))
		if pc.Primary == "" || len(members) != replicas || len(distinct) != replicas {
			bad = append(bad, fmt.Sprintf("%s: ballot %d primary %q secondaries %v", pc.Gpid, pc.Ballot, pc.Primary, pc.Secondaries))
		}
	}
	return strings.Join(bad, "; ")
}

// Members returns the primary (if any) followed by the secondaries.
func Members(pc protocol.PartitionConfiguration) []string {
	var m []string
	if pc.Primary != "" {
		m = append(m, pc.Primary)
	}
	return append(m, pc.Secondaries...)
}

// MetricSum returns the sum of every series of the metric name (all
// labels) on the /metrics page of the daemon serving RPC on rpcAddr; 0
// when the page has none.
func (c *Cluster) MetricSum(ctx context.Context, rpcAddr, name string) (float64, error) {
	addr := c.HTTPAddress(rpcAddr)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET %s/metrics: %s", addr, resp.Status)
	}
	var sum float64
	for line := range strings.Lines(string(b)) {
		rest, ok := strings.CutPrefix(line, name)
		if !ok || rest == "" || (rest[0] != '{' && rest[0] != ' ') {
			continue
		}
		fields := strings.Fields(rest[strings.LastIndexByte(rest, '}')+1:])
		if len(fields) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			return 0, fmt.Errorf("GET %s/metrics: %s: %w", addr, strings.TrimSpace(line), err)
		}
		sum += v
	}
	return sum, nil
}
