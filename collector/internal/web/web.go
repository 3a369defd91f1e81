package web

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed assets
var assets embed.FS

// Mounter is where the dashboard is mounted (an *httpserver.Server).
type Mounter interface {
	Handle(pattern string, h http.Handler) error
}

// Register mounts the dashboard page at / and its files under /static/.
func Register(m Mounter) error {
	sub, err := fs.Sub(assets, "assets")
	if err != nil {
		return err
	}
	index, err := fs.ReadFile(sub, "index.html")
	if err != nil {
		return err
	}
	if err := m.Handle("GET /{$}", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		_, _ = w.Write(index)
	})); err != nil {
		return err
	}
	return m.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(sub)))
}
