package rpc

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	rpcxlog "github.com/smallnest/rpcx/log"
)

// SetFrameworkLogger routes rpcx's own log output, which otherwise goes to
// standard output, to logger: rpcx debug and info lines at debug level
// (rpcx logs every closed connection at info), warnings at warn, errors at
// error. rpcx's logger is process-global and unsynchronised, so call this
// once, from main or TestMain, before any server or client starts.
func SetFrameworkLogger(logger *slog.Logger) {
	rpcxlog.SetLogger(frameworkLogger{logger})
}

type frameworkLogger struct{ l *slog.Logger }

func (f frameworkLogger) log(level slog.Level, msg string) {
	f.l.Log(context.Background(), level, msg, "component", "rpcx")
}

func (f frameworkLogger) Debug(v ...any) { f.log(slog.LevelDebug, fmt.Sprint(v...)) }
func (f frameworkLogger) Debugf(format string, v ...any) {
	f.log(slog.LevelDebug, fmt.Sprintf(format, v...))
}
func (f frameworkLogger) Info(v ...any) { f.log(slog.LevelDebug, fmt.Sprint(v...)) }
func (f frameworkLogger) Infof(format string, v ...any) {
	f.log(slog.LevelDebug, fmt.Sprintf(format, v...))
}
func (f frameworkLogger) Warn(v ...any) { f.log(slog.LevelWarn, fmt.Sprint(v...)) }
func (f frameworkLogger) Warnf(format string, v ...any) {
	f.log(slog.LevelWarn, fmt.Sprintf(format, v...))
}
func (f frameworkLogger) Error(v ...any) { f.log(slog.LevelError, fmt.Sprint(v...)) }
func (f frameworkLogger) Errorf(format string, v ...any) {
	f.log(slog.LevelError, fmt.Sprintf(format, v...))
}

// Fatal and Panic keep rpcx's contract (exit, panic) but log through slog
// first. rpcx v1.9.1 calls neither from the paths this package uses.
func (f frameworkLogger) Fatal(v ...any) {
	f.log(slog.LevelError, fmt.Sprint(v...))
	os.Exit(1)
}
func (f frameworkLogger) Fatalf(format string, v ...any) {
	f.log(slog.LevelError, fmt.Sprintf(format, v...))
	os.Exit(1)
}
func (f frameworkLogger) Panic(v ...any) {
	msg := fmt.Sprint(v...)
	f.log(slog.LevelError, msg)
	panic(msg)
}
func (f frameworkLogger) Panicf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	f.log(slog.LevelError, msg)
	panic(msg)
}
