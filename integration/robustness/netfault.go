package robustness

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/rs/zerolog"
)

// Net is the set of in-process TCP proxies every directed link of a
// cluster goes through: one proxy per (from, to) pair, listening on its own
// port and forwarding to the real listener of to. A process reaches a peer
// through the proxy of its own link because its configuration maps the
// peer's address to that proxy (rpc.dial_addresses); clients reach a
// server through the proxy of the (client, server) link, which is the
// address the server advertises.
//
// Faults act on one link, in one direction when asked: a cut closes the
// proxy (connections are refused and the open ones closed); toxics
// (toxiproxy's timeout, latency, bandwidth, reset_peer) delay, throttle,
// blackhole or reset the bytes of one stream, "upstream" (from -> to) or
// "downstream" (to -> from, the answers on from's connections).
type Net struct {
	api *toxiproxy.ApiServer

	mu    sync.Mutex
	links map[[2]string]*Link
}

// Link is one directed link's proxy.
type Link struct {
	From, To string
	proxy    *toxiproxy.Proxy

	mu     sync.Mutex
	cut    bool
	toxics []string
}

// NewNet returns an empty set of proxies.
func NewNet() *Net {
	api := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop())
	return &Net{api: api, links: map[[2]string]*Link{}}
}

// Add starts the proxy of link from -> to, listening on listen and
// forwarding to upstream.
func (n *Net) Add(from, to, listen, upstream string) (*Link, error) {
	p := toxiproxy.NewProxy(n.api, from+">"+to, listen, upstream)
	if err := p.Start(); err != nil {
		return nil, fmt.Errorf("proxy %s -> %s on %s: %w", from, to, listen, err)
	}
	l := &Link{From: from, To: to, proxy: p}
	n.mu.Lock()
	n.links[[2]string{from, to}] = l
	n.mu.Unlock()
	return l, nil
}

// Addr is the address the link's proxy listens on.
func (l *Link) Addr() string { return l.proxy.Listen }

// Link returns the link from -> to, or nil.
func (n *Net) Link(from, to string) *Link {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.links[[2]string{from, to}]
}

// Links returns every link whose ends match the filters ("" matches any
// end), sorted by name.
func (n *Net) Links(from, to string) []*Link {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []*Link
	for k, l := range n.links {
		if (from == "" || k[0] == from) && (to == "" || k[1] == to) {
			out = append(out, l)
		}
	}
	slices.SortFunc(out, func(a, b *Link) int { return strings.Compare(a.From+">"+a.To, b.From+">"+b.To) })
	return out
}

// Cut closes the link: new connections are refused and open ones closed,
// until Heal.
func (l *Link) Cut() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.cut {
		l.proxy.Stop()
		l.cut = true
	}
}

// Toxic adds a toxiproxy toxic of type typ (timeout, latency, bandwidth,
// reset_peer, ...) to one stream ("upstream" or "downstream") of the link,
// with attrs as its attributes. It applies to open connections too.
func (l *Link) Toxic(typ, stream string, attrs map[string]any) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	name := fmt.Sprintf("%s_%s_%d", typ, stream, len(l.toxics))
	b, err := json.Marshal(map[string]any{"name": name, "type": typ, "stream": stream, "toxicity": 1.0, "attributes": attrs})
	if err != nil {
		return err
	}
	if _, err := l.proxy.Toxics.AddToxicJson(strings.NewReader(string(b))); err != nil {
		return fmt.Errorf("toxic %s on %s -> %s: %w", name, l.From, l.To, err)
	}
	l.toxics = append(l.toxics, name)
	return nil
}

// Heal removes every toxic and reopens a cut link.
func (l *Link) Heal() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, name := range l.toxics {
		if err := l.proxy.Toxics.RemoveToxic(context.Background(), name); err != nil {
			return fmt.Errorf("remove toxic %s on %s -> %s: %w", name, l.From, l.To, err)
		}
	}
	l.toxics = nil
	if l.cut {
		if err := l.proxy.Start(); err != nil {
			return fmt.Errorf("reopen %s -> %s on %s: %w", l.From, l.To, l.proxy.Listen, err)
		}
		l.cut = false
	}
	return nil
}

// Faulty reports whether the link is cut or has toxics.
func (l *Link) Faulty() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cut || len(l.toxics) > 0
}

// HealAll heals every link.
func (n *Net) HealAll() error {
	var first error
	for _, l := range n.Links("", "") {
		if err := l.Heal(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Close stops every proxy.
func (n *Net) Close() {
	for _, l := range n.Links("", "") {
		l.proxy.Stop()
	}
}
