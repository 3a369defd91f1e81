package harness

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// ProxyBinary is the meta proxy's binary name.
const ProxyBinary = "metaproxy"

// Proxy is a metaproxy process started by StartProxy.
type Proxy struct {
	// RPCAddr is where clients send Meta.QueryConfig; HTTPAddr serves
	// /metrics, /readyz and /metaproxy/routes.
	RPCAddr, HTTPAddr string
	// Output is the file its stdout, stderr and log go to.
	Output   string
	cmd      *exec.Cmd
	exited   chan struct{}
	stopOnce sync.Once
}

// freeAddr returns a loopback address that was free a moment ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// StartProxy starts the harness's metaproxy binary on free loopback ports,
// reading routes under root from the ZooKeeper at zk, waits until its
// /readyz answers (it holds a ZooKeeper session) and stops it in
// t.Cleanup (SIGTERM, then SIGKILL), failing the test if it reported a
// race or a panic. The kernel kills it if the test binary dies.
func StartProxy(t testing.TB, zk, root string) *Proxy {
	t.Helper()
	dir := t.TempDir()
	p := &Proxy{RPCAddr: freeAddr(t), HTTPAddr: freeAddr(t), Output: filepath.Join(dir, "metaproxy.out"), exited: make(chan struct{})}
	out, err := os.Create(p.Output)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	p.cmd = exec.Command(filepath.Join(Binaries(t), ProxyBinary),
		"--metaproxy.rpc_address="+p.RPCAddr, "--metaproxy.http_address="+p.HTTPAddr,
		"--zookeeper.hosts="+zk, "--zookeeper.root="+root, "--zookeeper.session_timeout=4s",
		"--logging.level=debug")
	p.cmd.Stdout, p.cmd.Stderr = out, out
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start metaproxy: %v", err)
	}
	go func() {
		p.cmd.Wait() //nolint:errcheck // the exit is checked through exited
		close(p.exited)
	}()
	t.Cleanup(func() { p.Stop(t) })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for {
		select {
		case <-p.exited:
			t.Fatalf("metaproxy exited at start:\n%s", Tail(p.Output, 30))
		case <-ctx.Done():
			t.Fatalf("metaproxy not ready within a minute:\n%s", Tail(p.Output, 30))
		case <-time.After(50 * time.Millisecond):
		}
		if p.ready(ctx) {
			return p
		}
	}
}

func (p *Proxy) ready(ctx context.Context) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.HTTPAddr+"/readyz", nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// Stop stops the proxy (SIGTERM, SIGKILL after 20s) and fails t if it
// reported a race or a panic. It is idempotent.
func (p *Proxy) Stop(t testing.TB) {
	p.stopOnce.Do(func() { p.stop(t) })
}

func (p *Proxy) stop(t testing.TB) {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
		t.Errorf("metaproxy did not stop within 20s of SIGTERM")
	}
	b, _ := os.ReadFile(p.Output)
	for _, bad := range []string{"WARNING: DATA RACE", "panic: ", "fatal error: "} {
		if i := strings.Index(string(b), bad); i >= 0 {
			t.Errorf("metaproxy reported %q:\n%s", strings.TrimSpace(bad), b[i:min(len(b), i+4000)])
		}
	}
	if t.Failed() {
		t.Logf("--- metaproxy output %s:\n%s", p.Output, Tail(p.Output, 40))
	}
}

// Get fetches path from the proxy's HTTP endpoint.
func (p *Proxy) Get(ctx context.Context, path string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.HTTPAddr+path, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return string(b), fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return string(b), nil
}
