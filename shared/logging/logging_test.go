package logging

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/pegasus-go/pegasus/shared/protocol"
)

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	c := DefaultConfig()
	c.Format = "xml"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), `log.format "xml"`) {
		t.Fatalf("err = %v", err)
	}
	c = DefaultConfig()
	c.Output = " "
	if err := c.Validate(); err == nil {
		t.Fatal("empty output accepted")
	}
	if _, err := New(Config{Format: "yaml", Output: OutputStderr}); err == nil {
		t.Fatal("New accepted a bad format")
	}
	if _, err := NewWithWriter(DefaultConfig(), nil); err == nil {
		t.Fatal("nil writer accepted")
	}
}

func TestFormatText(t *testing.T) {
	var f Format
	if err := f.UnmarshalText([]byte(" JSON ")); err != nil || f != FormatJSON {
		t.Fatalf("%q %v", f, err)
	}
	if err := f.UnmarshalText([]byte("xml")); err == nil || !strings.Contains(err.Error(), `invalid log format "xml"`) {
		t.Fatalf("err = %v", err)
	}
}

func TestParseLevel(t *testing.T) {
	for in, want := range map[string]slog.Level{
		"debug": slog.LevelDebug, "INFO": slog.LevelInfo, " Warn ": slog.LevelWarn,
		"error": slog.LevelError, "warn+2": slog.LevelWarn + 2,
	} {
		if got, err := ParseLevel(in); err != nil || got != want {
			t.Errorf("ParseLevel(%q) = %v, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "loud", "info+x"} {
		if _, err := ParseLevel(in); err == nil {
			t.Errorf("ParseLevel(%q) succeeded", in)
		}
	}
}

func TestJSONRecordsAndAttrs(t *testing.T) {
	var buf bytes.Buffer
	root, err := NewWithWriter(Config{Format: FormatJSON, Level: slog.LevelInfo}, &buf)
	if err != nil {
		t.Fatal(err)
	}
	g := protocol.Gpid{AppID: 3, PartitionIndex: 7}
	log := WithReplica(WithNode(WithComponent(root.Logger(), "replica"), "127.0.0.1:34801"), g)
	log.Debug("dropped: below level")
	log.Info("became primary", Ballot(5), Decree(42), Table("t1"), Err(errors.New("boom")))

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("want one record, got %q", buf.String())
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"msg": "became primary", "level": "INFO",
		KeyComponent: "replica", KeyNode: "127.0.0.1:34801", KeyGpid: "3.7", KeyAppID: 3.0,
		KeyBallot: 5.0, KeyDecree: 42.0, KeyTable: "t1", KeyError: "boom",
	}
	for k, v := range want {
		if rec[k] != v {
			t.Errorf("%s = %#v, want %#v (record %s)", k, rec[k], v, lines[0])
		}
	}
	if Err(nil).Value.String() != "" {
		t.Error("Err(nil) not empty")
	}
}

func TestTextFormatAndRuntimeLevel(t *testing.T) {
	var buf bytes.Buffer
	root, err := NewWithWriter(Config{Format: FormatText, Level: slog.LevelWarn, AddSource: true}, &buf)
	if err != nil {
		t.Fatal(err)
	}
	l := WithTable(root.Logger(), 9, "users")
	l.Info("hidden")
	if buf.Len() != 0 {
		t.Fatalf("info logged at warn level: %q", buf.String())
	}
	root.SetLevel(slog.LevelDebug)
	if root.Level() != slog.LevelDebug || root.LevelVar().Level() != slog.LevelDebug {
		t.Fatal("SetLevel not visible")
	}
	l.Debug("shown")
	out := buf.String()
	for _, want := range []string{"level=DEBUG", "msg=shown", "app_id=9", "table=users", "source="} {
		if !strings.Contains(out, want) {
			t.Errorf("%q lacks %q", out, want)
		}
	}
}

func TestFileOutput(t *testing.T) {
	p := filepath.Join(t.TempDir(), "d.log")
	if err := os.WriteFile(p, []byte("old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	root, err := New(Config{Format: FormatJSON, Level: slog.LevelInfo, Output: p})
	if err != nil {
		t.Fatal(err)
	}
	root.Logger().Info("hello")
	if err := root.Close(); err != nil {
		t.Fatal(err)
	}
	if err := root.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(b), "old\n{") || !strings.Contains(string(b), `"msg":"hello"`) {
		t.Fatalf("file = %q", b)
	}
	if _, err := New(Config{Format: FormatText, Output: filepath.Join(t.TempDir(), "no", "such", "dir.log")}); err == nil {
		t.Fatal("unopenable output accepted")
	}
	for _, out := range []string{OutputStderr, OutputStdout, OutputDiscard} {
		r, err := New(Config{Format: FormatText, Output: out})
		if err != nil || r.Close() != nil {
			t.Fatalf("%s: %v", out, err)
		}
	}
}

func TestOrDiscard(t *testing.T) {
	if OrDiscard(nil) == nil || OrDiscard(nil).Enabled(t.Context(), slog.LevelError) {
		t.Fatal("OrDiscard(nil) should be a discarding logger")
	}
	l := slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil))
	if OrDiscard(l) != l {
		t.Fatal("OrDiscard changed a non-nil logger")
	}
}

func doLevel(t *testing.T, h http.Handler, method, target, body string) (int, map[string]string) {
	t.Helper()
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var m map[string]string
	if method != http.MethodHead {
		if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
			t.Fatalf("%s %s: Content-Type %q", method, target, ct)
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
			t.Fatalf("%s %s: %v: %q", method, target, err, rec.Body.String())
		}
	}
	return rec.Code, m
}

func TestLevelHandler(t *testing.T) {
	root, err := NewWithWriter(DefaultConfig(), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	h := root.LevelHandler()

	code, m := doLevel(t, h, http.MethodGet, "/debug/loglevel", "")
	if code != 200 || m["level"] != "INFO" {
		t.Fatalf("GET: %d %v", code, m)
	}
	code, m = doLevel(t, h, http.MethodPut, "/debug/loglevel?level=debug", "")
	if code != 200 || m["level"] != "DEBUG" || m["previous"] != "INFO" || root.Level() != slog.LevelDebug {
		t.Fatalf("PUT: %d %v", code, m)
	}
	code, m = doLevel(t, h, http.MethodPost, "/debug/loglevel", url.Values{"level": {"Error"}}.Encode())
	if code != 200 || m["level"] != "ERROR" || root.Level() != slog.LevelError {
		t.Fatalf("POST form: %d %v", code, m)
	}
	for _, tc := range []struct {
		method, target string
		code           int
		want           string
	}{
		{http.MethodPut, "/debug/loglevel", 400, "missing level"},
		{http.MethodPut, "/debug/loglevel?level=loud", 400, `invalid log level "loud"`},
		{http.MethodDelete, "/debug/loglevel", 405, "not allowed"},
	} {
		code, m := doLevel(t, h, tc.method, tc.target, "")
		if code != tc.code || !strings.Contains(m["error"], tc.want) {
			t.Errorf("%s %s: %d %v", tc.method, tc.target, code, m)
		}
	}
	if root.Level() != slog.LevelError {
		t.Fatal("failed requests changed the level")
	}
	// An oversized body is refused, not read.
	code, _ = doLevel(t, h, http.MethodPost, "/debug/loglevel", "level=debug&pad="+strings.Repeat("x", maxLevelBody))
	if code != 400 || root.Level() != slog.LevelError {
		t.Fatalf("oversized body: %d", code)
	}
}

func TestConcurrentLoggingAndLevelChanges(t *testing.T) {
	var buf bytes.Buffer
	root, err := NewWithWriter(Config{Format: FormatJSON, Level: slog.LevelInfo}, &buf)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			l := WithComponent(root.Logger(), "w")
			for j := range 200 {
				l.Info("x", slog.Int("i", i), slog.Int("j", j))
			}
		})
	}
	wg.Go(func() {
		for j := range 200 {
			root.SetLevel(slog.Level((j % 2) * 4)) // info, warn
		}
	})
	wg.Wait()
	for line := range strings.SplitSeq(strings.TrimSpace(buf.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("interleaved record %q: %v", line, err)
		}
	}
}
