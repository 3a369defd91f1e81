package httpserver_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"

	"github.com/pegasus-go/pegasus/shared/config"
	"github.com/pegasus-go/pegasus/shared/httpserver"
	"github.com/pegasus-go/pegasus/shared/logging"
	"github.com/pegasus-go/pegasus/shared/metrics"
)

// daemonConfig is the shape of a daemon's configuration.
type daemonConfig struct {
	HTTPAddr string         `toml:"http_addr" comment:"Address of the HTTP endpoint (metrics, health, pprof, status pages)."`
	Log      logging.Config `toml:"log"`
}

func (c *daemonConfig) Validate() error { return c.Log.Validate() }

// A daemon wires the plumbing together: config, then logging, metrics and
// the HTTP endpoint.
func Example() {
	cfg := daemonConfig{HTTPAddr: "127.0.0.1:34101", Log: logging.DefaultConfig()}
	args := []string{"--http_addr=127.0.0.1:0", "--log.output=discard", "--log.format=json"}
	if _, err := config.Load(args, &cfg, config.WithName("exampled")); err != nil {
		if !errors.Is(err, config.ErrHelpOrPrinted) {
			fmt.Fprintln(os.Stderr, err)
		}
		return
	}
	logs, err := logging.New(cfg.Log)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer logs.Close()
	reg, err := metrics.New(metrics.Options{Prefix: "example", Logger: logs.Logger()})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer reg.Close()
	srv, err := httpserver.New(httpserver.Options{
		Addr: cfg.HTTPAddr, Metrics: reg, LogLevel: logs.LevelVar(), Logger: logs.Logger(),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := srv.HandleJSON("GET /example/status", func(*http.Request) (any, error) {
		return map[string]int{"partitions": 8}, nil
	}); err != nil {
		fmt.Println(err)
		return
	}
	if err := srv.Start(); err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()

	resp, err := http.Get("http://" + srv.Addr() + "/example/status")
	if err != nil {
		fmt.Println(err)
		return
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Print(resp.StatusCode, " ", string(body))
	// Output: 200 {"partitions":8}
}
