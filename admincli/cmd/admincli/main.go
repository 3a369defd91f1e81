// Command admincli is the Pegasus-Go operator shell. See docs/admincli.md.
package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/mattn/go-isatty"

	"github.com/pegasus-go/pegasus/admincli/internal/cli"
	"github.com/pegasus-go/pegasus/shared/rpc"
)

func main() {
	// rpcx logs dial failures on its own; admincli reports errors itself.
	rpc.SetFrameworkLogger(slog.New(slog.DiscardHandler))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	history := ""
	if home, err := os.UserHomeDir(); err == nil {
		history = filepath.Join(home, ".admincli_history")
	}
	code := cli.Main(ctx, cli.Env{
		Args:            os.Args[1:],
		Stdin:           os.Stdin,
		Stdout:          os.Stdout,
		Stderr:          os.Stderr,
		StdinIsTerminal: isatty.IsTerminal(os.Stdin.Fd()),
		HistoryFile:     history,
	})
	stop()
	os.Exit(code)
}
