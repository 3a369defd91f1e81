package zktest

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

func TestRunKillRestartStop(t *testing.T) {
	s := Start(t)
	ctx := context.Background()
	if ans, err := FourLetter(ctx, s.Addr(), "ruok"); err != nil || ans != "imok" {
		t.Fatalf("ruok = %q, %v", ans, err)
	}
	srvr, err := FourLetter(ctx, s.Addr(), "srvr")
	if err != nil || !strings.Contains(srvr, "Mode: standalone") {
		t.Fatalf("srvr = %q, %v", srvr, err)
	}
	pid := s.Pid()
	if pid == 0 {
		t.Fatal("no pid while running")
	}
	s.Kill()
	if s.Pid() != 0 {
		t.Fatal("pid after kill")
	}
	if _, err := FourLetter(ctx, s.Addr(), "ruok"); err == nil {
		t.Fatal("killed server still answers")
	}
	if err := s.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if ans, err := FourLetter(ctx, s.Addr(), "ruok"); err != nil || ans != "imok" {
		t.Fatalf("after restart ruok = %q, %v", ans, err)
	}
	if s.Pid() == pid {
		t.Fatal("restart kept the old pid")
	}
	dir := s.Dir()
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("dir %s still there after Stop: %v", dir, err)
	}
	if err := s.Restart(ctx); err == nil {
		t.Fatal("restart after stop succeeded")
	}
}

func TestNotInstalled(t *testing.T) {
	err := Available(Options{JarDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "make deps") {
		t.Fatalf("Available with an empty jar dir = %v", err)
	}
	_, err = Run(context.Background(), Options{Java: "no-such-java-binary"})
	if err == nil || !strings.Contains(err.Error(), "make deps") {
		t.Fatalf("Run without java = %v", err)
	}
}

func TestTakenPort(t *testing.T) {
	if os.Getenv(SkipEnv) == "1" {
		t.Skip(SkipEnv + "=1")
	}
	if err := Available(Options{}); err != nil {
		t.Fatal(err)
	}
	// A taken port must be reported, not mistaken for our own server.
	s := Start(t)
	port := s.Addr()[strings.LastIndexByte(s.Addr(), ':')+1:]
	var p int
	for _, c := range port {
		p = p*10 + int(c-'0')
	}
	_, err := Run(context.Background(), Options{Port: p, StartTimeout: 30 * time.Second})
	if err == nil {
		t.Fatal("second server on a taken port started")
	}
	if !strings.Contains(err.Error(), "not free") {
		t.Fatalf("error does not name the taken port: %v", err)
	}
}

func TestEarlyExitReportsLogTail(t *testing.T) {
	if os.Getenv(SkipEnv) == "1" {
		t.Skip(SkipEnv + "=1")
	}
	if err := Available(Options{}); err != nil {
		t.Fatal(err)
	}
	// "false" stands in for a JVM that dies at once.
	_, err := Run(context.Background(), Options{Java: "false"})
	if err == nil || !strings.Contains(err.Error(), "exited") || !strings.Contains(err.Error(), "zktest: starting on") {
		t.Fatalf("Run with a dying java = %v", err)
	}
}
