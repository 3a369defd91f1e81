package proxy

import (
	"net/http"

	"github.com/pegasus-go/pegasus/shared/httpserver"
)

// RoutesPage is the path of the JSON status page listing the cached
// routes.
const RoutesPage = "/metaproxy/routes"

// RegisterPages mounts the proxy's status page on h.
func (p *Proxy) RegisterPages(h *httpserver.Server) error {
	return h.HandleJSON("GET "+RoutesPage, func(*http.Request) (any, error) { return p.Status(), nil })
}
