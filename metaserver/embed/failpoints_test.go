package embed_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/pegasus-go/pegasus/shared/failpoint"
)

// With failpoints enabled the meta server serves /debug/failpoints, and
// a clock offset set there reaches the registry the server's clock reads.
func TestFailpointsEndpoint(t *testing.T) {
	cfg := localConfig(t.TempDir())
	reg := failpoint.New()
	cfg.Failpoints = reg
	srv := start(t, cfg)
	req, err := http.NewRequest(http.MethodPut, "http://"+srv.HTTPAddr()+"/debug/failpoints?name=clock-offset&value=90s", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var states []failpoint.State
	if err := json.NewDecoder(resp.Body).Decode(&states); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT: %s, %v", resp.Status, err)
	}
	if reg.Offset() != 90*time.Second {
		t.Fatalf("offset %v after the PUT", reg.Offset())
	}

	// Without failpoints there is no endpoint.
	plain := start(t, localConfig(t.TempDir()))
	resp2, err := http.Get("http://" + plain.HTTPAddr() + "/debug/failpoints")
	if err != nil {
		t.Fatal(err)
	}
	resp2.Body.Close()
	if resp2.StatusCode != http.StatusNotFound {
		t.Fatalf("GET /debug/failpoints without failpoints: %s", resp2.Status)
	}
}
