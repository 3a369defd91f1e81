package logging

import (
	"encoding/json"
	"log/slog"
	"net/http"
)

// maxLevelBody bounds the form body LevelHTTPHandler reads.
const maxLevelBody = 4 << 10

// LevelHTTPHandler serves a level variable over HTTP:
//
//	GET             -> 200 {"level":"INFO"}
//	PUT/POST level= -> 200 {"level":"DEBUG","previous":"INFO"}
//
// The new level comes from the "level" query parameter or form field
// (debug, info, warn, error, any case, with an optional offset such as
// "warn+2"). A missing or unknown level is 400, other methods 405; errors are
// JSON {"error": "..."}.
type LevelHTTPHandler struct {
	level *slog.LevelVar
}

// LevelHandler returns a handler that shows and sets v.
func LevelHandler(v *slog.LevelVar) *LevelHTTPHandler { return &LevelHTTPHandler{level: v} }

type levelReply struct {
	Level    string `json:"level"`
	Previous string `json:"previous,omitempty"`
}

// ServeHTTP implements http.Handler.
func (h *LevelHTTPHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		writeJSON(w, http.StatusOK, levelReply{Level: h.level.Level().String()})
	case http.MethodPut, http.MethodPost:
		r.Body = http.MaxBytesReader(w, r.Body, maxLevelBody)
		if err := r.ParseForm(); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "bad form: " + err.Error()})
			return
		}
		text := r.Form.Get("level")
		if text == "" {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "missing level parameter: want ?level=debug|info|warn|error"})
			return
		}
		l, err := ParseLevel(text)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		prev := h.level.Level()
		h.level.Set(l)
		writeJSON(w, http.StatusOK, levelReply{Level: l.String(), Previous: prev.String()})
	default:
		w.Header().Set("Allow", "GET, HEAD, PUT, POST")
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "method " + r.Method + " not allowed"})
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil { // the values above always marshal
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
