package cli

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/mattn/go-isatty"
	"go.uber.org/goleak"

	"github.com/pegasus-go/pegasus/shared/rpc"
)

// reexecEnv makes the test binary run admincli itself, so the shell test
// can start it on a pseudo-terminal. Arguments come separated by the ASCII unit separator (0x1f).
const reexecEnv = "ADMINCLI_TEST_REEXEC_ARGS"

func TestMain(m *testing.M) {
	rpc.SetFrameworkLogger(slog.New(slog.DiscardHandler))
	if args, ok := os.LookupEnv(reexecEnv); ok {
		os.Exit(Main(context.Background(), Env{
			Args:            strings.Split(args, "\x1f"),
			Stdin:           os.Stdin,
			Stdout:          os.Stdout,
			Stderr:          os.Stderr,
			StdinIsTerminal: isatty.IsTerminal(os.Stdin.Fd()),
		}))
	}
	goleak.VerifyTestMain(m)
}
