package zktest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// DefaultJarDir is where Debian's zookeeper package installs its jars.
const DefaultJarDir = "/usr/share/java"

// ErrNotInstalled means java or the ZooKeeper jars are missing.
var ErrNotInstalled = errors.New("zookeeper is not installed: run `make deps` (or apt-get install zookeeper)")

// Options configures Run. The zero value is usable.
type Options struct {
	// Dir is the server's working directory (zoo.cfg, data/, zookeeper.log).
	// Empty means a fresh temporary directory that Stop removes; a given
	// directory is kept by Stop, so its data survives for a later Run.
	Dir string
	// Port is the client port on 127.0.0.1; 0 picks a free one.
	Port int
	// TickTime is ZooKeeper's tick (default 100ms). Sessions may be as
	// short as two ticks.
	TickTime time.Duration
	// MaxSessionTimeout caps the session timeout clients may ask for
	// (default 60s).
	MaxSessionTimeout time.Duration
	// StartTimeout bounds how long Run and Restart wait for `ruok` to answer
	// `imok` (default 60s; a cold JVM on a busy machine is slow).
	StartTimeout time.Duration
	// JarDir holds zookeeper.jar and its dependencies (default DefaultJarDir).
	JarDir string
	// Java is the java executable (default: "java" from PATH).
	Java string
	// Detached keeps the server running when the starting process exits
	// (for tools that start a server and return). Otherwise the kernel
	// kills the server when its parent dies.
	Detached bool
	// Logger receives start/stop messages (default: discard).
	Logger *slog.Logger
}

func (o *Options) setDefaults() {
	if o.TickTime <= 0 {
		o.TickTime = 100 * time.Millisecond
	}
	if o.MaxSessionTimeout <= 0 {
		o.MaxSessionTimeout = 60 * time.Second
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = 60 * time.Second
	}
	if o.JarDir == "" {
		o.JarDir = DefaultJarDir
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Server is one standalone ZooKeeper process. Its methods are safe for
// concurrent use.
type Server struct {
	opts    Options
	java    string
	cp      string
	dir     string
	ownsDir bool
	port    int

	mu struct {
		sync.Mutex
		cmd     *exec.Cmd
		exited  chan struct{} // closed when the current process has been reaped
		stopped bool
	}
}

// Available reports whether java and the ZooKeeper jars are installed; the
// error wraps ErrNotInstalled and says what is missing.
func Available(opts Options) error {
	opts.setDefaults()
	_, _, err := locate(opts)
	return err
}

func locate(opts Options) (java, classpath string, err error) {
	java = opts.Java
	if java == "" {
		java = "java"
	}
	if java, err = exec.LookPath(java); err != nil {
		return "", "", fmt.Errorf("%w (no java executable: %v)", ErrNotInstalled, err)
	}
	jar := filepath.Join(opts.JarDir, "zookeeper.jar")
	if _, err := os.Stat(jar); err != nil {
		return "", "", fmt.Errorf("%w (%s missing)", ErrNotInstalled, jar)
	}
	// zookeeper.jar's manifest Class-Path names its dependencies (jute,
	// netty, slf4j-api, ...). slf4j-api alone logs nothing, so add the
	// simple binding, which writes to stderr, i.e. into zookeeper.log.
	cp := []string{jar}
	if simple := filepath.Join(opts.JarDir, "slf4j-simple.jar"); fileExists(simple) {
		cp = append(cp, simple)
	}
	return java, strings.Join(cp, string(os.PathListSeparator)), nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// Run starts a standalone ZooKeeper on 127.0.0.1 and returns once it
// answers `ruok` with `imok`. ctx bounds the start only; the server runs
// until Stop or Kill.
func Run(ctx context.Context, opts Options) (*Server, error) {
	opts.setDefaults()
	java, cp, err := locate(opts)
	if err != nil {
		return nil, err
	}
	s := &Server{opts: opts, java: java, cp: cp, dir: opts.Dir, port: opts.Port}
	if s.dir == "" {
		if s.dir, err = os.MkdirTemp("", "zktest-"); err != nil {
			return nil, fmt.Errorf("zktest: %w", err)
		}
		s.ownsDir = true
	} else if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return nil, fmt.Errorf("zktest: %w", err)
	}
	// A port picked here can be taken by someone else before the JVM binds
	// it; pick again a few times in that case.
	const attempts = 3
	for i := range attempts {
		if opts.Port == 0 {
			if s.port, err = freePort(); err != nil {
				break
			}
		}
		err = s.start(ctx)
		if err == nil {
			return s, nil
		}
		if opts.Port != 0 || i == attempts-1 ||
			!(strings.Contains(s.logTail(20), "Address already in use") || strings.Contains(err.Error(), "is not free")) {
			break
		}
	}
	if s.ownsDir {
		os.RemoveAll(s.dir)
	}
	return nil, err
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("zktest: pick a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (s *Server) configText() string {
	o := s.opts
	return fmt.Sprintf(`# generated by zktest
tickTime=%d
dataDir=%s
clientPort=%d
clientPortAddress=127.0.0.1
minSessionTimeout=%d
maxSessionTimeout=%d
maxClientCnxns=0
4lw.commands.whitelist=ruok,srvr,stat,mntr,cons,conf,envi,wchs
admin.enableServer=false
standaloneEnabled=true
`, o.TickTime.Milliseconds(), filepath.Join(s.dir, "data"), s.port,
		2*o.TickTime.Milliseconds(), o.MaxSessionTimeout.Milliseconds())
}

// LogPath is the server's log file.
func (s *Server) LogPath() string { return filepath.Join(s.dir, "zookeeper.log") }

// start launches the process and waits for imok. Not called concurrently.
func (s *Server) start(ctx context.Context) error {
	// Refuse a taken port up front: the probes below could otherwise be
	// answered by whoever holds it.
	if l, err := net.Listen("tcp", s.Addr()); err != nil {
		return fmt.Errorf("zktest: port %d is not free: %w", s.port, err)
	} else {
		l.Close()
	}
	cfg := filepath.Join(s.dir, "zoo.cfg")
	if err := os.MkdirAll(filepath.Join(s.dir, "data"), 0o755); err != nil {
		return fmt.Errorf("zktest: %w", err)
	}
	if err := os.WriteFile(cfg, []byte(s.configText()), 0o644); err != nil {
		return fmt.Errorf("zktest: %w", err)
	}
	logf, err := os.OpenFile(s.LogPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("zktest: %w", err)
	}
	defer logf.Close() // the child keeps its own descriptor
	fmt.Fprintf(logf, "==== zktest: starting on 127.0.0.1:%d at %s\n", s.port, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(s.java,
		"-Xms16m", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
		"-Djava.net.preferIPv4Stack=true",
		"-Dzookeeper.admin.enableServer=false",
		"-Dorg.slf4j.simpleLogger.showDateTime=true",
		"-cp", s.cp,
		"org.apache.zookeeper.server.ZooKeeperServerMain", cfg)
	cmd.Dir = s.dir
	cmd.Stdout = logf
	cmd.Stderr = logf
	if s.opts.Detached {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	} else {
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("zktest: start %s: %w", s.java, err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	s.mu.Lock()
	s.mu.cmd, s.mu.exited, s.mu.stopped = cmd, exited, false
	s.mu.Unlock()

	ctx, cancel := context.WithTimeout(ctx, s.opts.StartTimeout)
	defer cancel()
	if err := s.waitReady(ctx, exited); err != nil {
		s.kill()
		return fmt.Errorf("zktest: zookeeper on %s did not start: %w; log tail:\n%s", s.Addr(), err, s.logTail(30))
	}
	s.opts.Logger.Info("zookeeper started", "addr", s.Addr(), "pid", cmd.Process.Pid, "dir", s.dir)
	return nil
}

// waitReady polls `ruok` until the answer is `imok`, the process exits or
// ctx is done.
func (s *Server) waitReady(ctx context.Context, exited <-chan struct{}) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		// ruok answers imok as soon as the port is bound; srvr reports a
		// mode only once the server actually serves requests.
		ans, err := FourLetter(ctx, s.Addr(), "ruok")
		if err == nil && ans == "imok" {
			var srvr string
			if srvr, err = FourLetter(ctx, s.Addr(), "srvr"); err == nil {
				if strings.Contains(srvr, "Mode:") {
					return nil
				}
				ans = srvr
			}
		}
		select {
		case <-exited:
			return errors.New("the process exited")
		case <-ctx.Done():
			if err == nil {
				err = fmt.Errorf("ruok answered %q", ans)
			}
			return fmt.Errorf("%w (last probe: %v)", ctx.Err(), err)
		case <-tick.C:
		}
	}
}

// FourLetter sends a ZooKeeper four-letter command (ruok, srvr, ...) to addr
// and returns the answer with surrounding space trimmed.
func FourLetter(ctx context.Context, addr, cmd string) (string, error) {
	var d net.Dialer
	dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	conn, err := d.DialContext(dctx, "tcp", addr)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	deadline, _ := dctx.Deadline()
	conn.SetDeadline(deadline)
	if _, err := io.WriteString(conn, cmd); err != nil {
		return "", err
	}
	b, err := io.ReadAll(io.LimitReader(conn, 1<<16))
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// Addr returns "127.0.0.1:<port>".
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// Dir returns the server's working directory.
func (s *Server) Dir() string { return s.dir }

// Pid returns the current process id, or 0 when the server is not running.
func (s *Server) Pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.cmd == nil || isClosed(s.mu.exited) {
		return 0
	}
	return s.mu.cmd.Process.Pid
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// Kill sends SIGKILL to the server and waits until it is gone. Its data
// directory is kept, so Restart brings back every persistent node and every
// session that has not timed out meanwhile. Killing a stopped server does
// nothing.
func (s *Server) Kill() {
	s.kill()
	s.opts.Logger.Info("zookeeper killed", "addr", s.Addr())
}

func (s *Server) kill() {
	s.mu.Lock()
	cmd, exited := s.mu.cmd, s.mu.exited
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	if !isClosed(exited) {
		cmd.Process.Signal(syscall.SIGKILL)
	}
	<-exited
}

// Restart kills the server if it runs and starts it again on the same
// port with the same data.
func (s *Server) Restart(ctx context.Context) error {
	s.mu.Lock()
	stopped := s.mu.stopped
	s.mu.Unlock()
	if stopped {
		return errors.New("zktest: restart of a stopped server")
	}
	s.kill()
	return s.start(ctx)
}

// Stop kills the server, waits for it and removes its directory when Run
// created it. It is idempotent.
func (s *Server) Stop() error {
	s.kill()
	s.mu.Lock()
	already := s.mu.stopped
	s.mu.stopped = true
	s.mu.Unlock()
	if already || !s.ownsDir {
		return nil
	}
	if err := os.RemoveAll(s.dir); err != nil {
		return fmt.Errorf("zktest: %w", err)
	}
	return nil
}

// logTail returns the last n lines of the log.
func (s *Server) logTail(n int) string {
	b, err := os.ReadFile(s.LogPath())
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}

// LogTail returns the last n lines of the server's log, for error messages.
func (s *Server) LogTail(n int) string { return s.logTail(n) }
