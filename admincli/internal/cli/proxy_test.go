package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pegasus-go/pegasus/metaproxy/route"
	"github.com/pegasus-go/pegasus/shared/coord"
	"github.com/pegasus-go/pegasus/shared/coord/localstore"
)

const proxyScript = `# meta proxy routes
proxy ls
proxy set t1 -c onebox -m 127.0.0.1:34601,127.0.0.1:34602
proxy set t2 -c onebox -m 127.0.0.1:34601
proxy get t1
proxy set t1 -c onebox2 -m 127.0.0.1:34701
proxy ls
proxy del t2
proxy ls
`

// proxyEnv runs admincli with the routing table in a local store; zkSeen
// records the --zk and --root each proxy command resolved.
func proxyRun(t *testing.T, store coord.Store, stdin string, args ...string) (result, []string) {
	t.Helper()
	var seen []string
	var out, errb bytes.Buffer
	code := Main(context.Background(), Env{
		Args: args, Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb,
		OpenRoutes: func(_ context.Context, zk []string, root string) (*route.Registry, error) {
			seen = append(seen, strings.Join(zk, ",")+" "+root)
			return route.NewRegistry(store, root)
		},
	})
	return result{stdout: out.String(), stderr: errb.String(), code: code}, seen
}

func openStore(t *testing.T) coord.Store {
	t.Helper()
	s, err := localstore.Open(context.Background(), localstore.Options{Dir: t.TempDir(), PollInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestProxyGolden(t *testing.T) {
	for _, tc := range []struct {
		name   string
		args   []string
		stdin  string
		status int
	}{
		{name: "proxy_script", args: []string{"--zk", "zk1:2181", "--root", "/routes"}, stdin: proxyScript},
		{name: "proxy_script_json", args: []string{"--zk", "zk1:2181", "--json"}, stdin: proxyScript},
		{name: "proxy_get_missing", args: []string{"proxy", "get", "nope", "--zk", "zk1:2181"}, status: ExitFailed},
		{name: "proxy_usage", args: []string{"--zk", "zk1:2181", "--keep-going"}, status: ExitUsage, stdin: `proxy
proxy frob t
proxy set t1
proxy set t1 -c a -m nohostport
proxy set t1 -c "a b" -m h:1
proxy get
proxy get bad/name
proxy ls t1
proxy get t1 -c x
proxy ls --root relative
ls
`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := proxyRun(t, openStore(t), tc.stdin, tc.args...)
			if r.code != tc.status {
				t.Errorf("exit %d, want %d; stderr: %s", r.code, tc.status, r.stderr)
			}
			checkGolden(t, tc.name, tc.args, tc.stdin, r)
		})
	}
}

func TestProxyFlagsAndStore(t *testing.T) {
	store := openStore(t)
	// Command flags win over the global ones; the default root applies.
	r, seen := proxyRun(t, store, "", "--zk", "g:1", "proxy", "set", "t", "-c", "c2", "-m", "h:2", "--zk", "c:1,c:2")
	if r.code != ExitOK || len(seen) != 1 || seen[0] != "c:1,c:2 "+route.DefaultRoot {
		t.Fatalf("run %+v, opened %v", r, seen)
	}
	// What the command wrote is what the proxy reads.
	reg, err := route.NewRegistry(store, route.DefaultRoot)
	if err != nil {
		t.Fatal(err)
	}
	got, st, err := reg.Get(context.Background(), "t")
	if err != nil || got != route.New("c2", []string{"h:2"}) || st.Version != 0 {
		t.Fatalf("stored route %+v %+v %v", got, st, err)
	}
	// No meta servers are needed for proxy commands, but still for others.
	r, _ = proxyRun(t, store, "", "--zk", "z:1", "ls")
	if r.code != ExitUsage || !strings.Contains(r.stderr, "no meta servers") {
		t.Fatalf("ls without -m: %+v", r)
	}
}
