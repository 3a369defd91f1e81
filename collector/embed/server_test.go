package embed

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/pegasus-go/pegasus/shared/config"
	"github.com/pegasus-go/pegasus/shared/logging"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// freeAddr returns a loopback address nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// TestUnreachableMeta starts a collector whose meta server does not
// exist: it keeps running, reports the discovery failure and the failed
// probe, and serves its dashboard.
func TestUnreachableMeta(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Logger = logging.Discard()
	cfg.Collector.MetaServers = []string{freeAddr(t)}
	cfg.Collector.HTTPAddress = "127.0.0.1:0"
	cfg.Collector.ScrapeInterval = config.Duration(200 * time.Millisecond)
	cfg.Collector.ScrapeTimeout = config.Duration(100 * time.Millisecond)
	cfg.Probe.Interval = config.Duration(200 * time.Millisecond)
	cfg.Probe.Timeout = config.Duration(50 * time.Millisecond)
	srv, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	base := "http://" + srv.HTTPAddr()

	var page struct {
		Round          uint64 `json:"round"`
		DiscoveryError string `json:"discovery_error"`
		Probe          *struct {
			Rounds uint64 `json:"rounds"`
		} `json:"probe"`
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, body := httpGet(t, base+"/api/cluster")
		if err := json.Unmarshal([]byte(body), &page); err != nil {
			t.Fatalf("%v: %s", err, body)
		}
		if page.Round >= 2 && page.Probe != nil && page.Probe.Rounds >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no rounds: %s", body)
		}
		time.Sleep(50 * time.Millisecond) // polling a running daemon
	}
	if page.DiscoveryError == "" {
		t.Error("discovery error not reported")
	}
	if code, body := httpGet(t, base+"/readyz"); code != 200 {
		t.Errorf("/readyz after a round: %d %s", code, body)
	}
	code, body := httpGet(t, base+"/metrics")
	for _, want := range []string{"pegasus_collector_discovery_errors_total", "pegasus_probe_failures_total", "go_goroutines"} {
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("/metrics (%d) lacks %s", code, want)
		}
	}
	code, body = httpGet(t, base+"/")
	if code != 200 || !strings.Contains(body, "/static/uplot/uPlot.iife.min.js") || strings.Contains(body, "https://") {
		t.Errorf("dashboard %d: %.200s", code, body)
	}
	for _, asset := range []string{"/static/uplot/uPlot.iife.min.js", "/static/uplot/uPlot.min.css", "/static/app.js", "/static/style.css", "/static/uplot/LICENSE"} {
		if code, body := httpGet(t, base+asset); code != 200 || len(body) == 0 {
			t.Errorf("%s: %d", asset, code)
		}
	}
	if code, _ := httpGet(t, base+"/static/nope.js"); code != 404 {
		t.Errorf("missing asset: %d", code)
	}
	if err := srv.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
	if err := srv.Close(); err != nil {
		t.Errorf("second close: %v", err)
	}
}

func TestRunStopsWithContext(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Logger = logging.Discard()
	cfg.Collector.MetaServers = []string{freeAddr(t)}
	cfg.Collector.HTTPAddress = "127.0.0.1:0"
	cfg.Probe.Enabled = false
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg) }()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	bad := DefaultConfig()
	bad.Collector.ClusterName = ""
	if _, err := Start(bad); err == nil {
		t.Error("Start with an invalid config succeeded")
	}
}
