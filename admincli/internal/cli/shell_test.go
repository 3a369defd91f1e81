package cli

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openPTY opens a pseudo-terminal pair (master, slave) sized 40x200.
func openPTY(t *testing.T) (*os.File, *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY|syscall.O_CLOEXEC, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	fd := int(master.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		master.Close()
		t.Skipf("unlock pty: %v", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		master.Close()
		t.Skipf("pty number: %v", err)
	}
	slave, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		master.Close()
		t.Skipf("open pty slave: %v", err)
	}
	if err := unix.IoctlSetWinsize(int(slave.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 40, Col: 200}); err != nil {
		t.Fatal(err)
	}
	return master, slave
}

// screen collects everything the terminal shows.
type screen struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	more chan struct{} // signalled after each read
}

func (s *screen) pump(r *os.File) {
	b := make([]byte, 4096)
	for {
		n, err := r.Read(b)
		s.mu.Lock()
		s.buf.Write(b[:n])
		s.mu.Unlock()
		select {
		case s.more <- struct{}{}:
		default:
		}
		if err != nil {
			close(s.more)
			return
		}
	}
}

// waitFor waits until the output after offset from contains want and
// returns the new offset (the end of the match). The deadline only bounds
// waiting for the external process.
func (s *screen) waitFor(t *testing.T, from int, want string) int {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		s.mu.Lock()
		out := s.buf.String()
		s.mu.Unlock()
		if from <= len(out) {
			if i := strings.Index(out[from:], want); i >= 0 {
				return from + i + len(want)
			}
		}
		select {
		case _, ok := <-s.more:
			if !ok {
				s.mu.Lock()
				out := s.buf.String()
				s.mu.Unlock()
				if i := strings.Index(out[min(from, len(out)):], want); i >= 0 {
					return from + i + len(want)
				}
				t.Fatalf("terminal closed before %q appeared; screen:\n%s", want, out)
			}
		case <-deadline:
			t.Fatalf("%q did not appear; screen:\n%s", want, out)
		}
	}
}

// TestInteractiveShell drives the real shell (grumble on readline) through
// a pseudo-terminal: a command, completion of a table name, the prompt
// change after use, an error line, the history file and exit.
func TestInteractiveShell(t *testing.T) {
	_, ms := fakeCluster(t, 1)
	createT1(t, nil, ms)
	master, slave := openPTY(t)
	defer master.Close()

	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	hist := filepath.Join(t.TempDir(), "history")
	args := []string{"-m", ms[0].Addr(), "--no-color", "--history", hist}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), reexecEnv+"="+strings.Join(args, "\x1f"))
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-done
		}
	}()

	sc := &screen{more: make(chan struct{}, 1)}
	go sc.pump(master)
	type step struct{ send, want string }
	at := sc.waitFor(t, 0, "admincli » ")
	for _, st := range []step{
		{"ls\r", "AS_AVAILABLE  t1"},
		{"use t\t", "use t1"}, // the table name completes
		{"\r", "using table t1 (app_id 1)"},
		{"", "admincli [t1] » "},
		{"app -d\r", "read_unhealthy 0"},
		{"create t1 -p 4\r", "error: create t1: ERR_APP_EXIST: table t1 already exists"},
		{"nosuch\r", "unknown command"},
		{"exit\r", ""},
	} {
		if st.send != "" {
			if _, err := master.Write([]byte(st.send)); err != nil {
				t.Fatal(err)
			}
		}
		if st.want != "" {
			at = sc.waitFor(t, at, st.want)
		}
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("shell exited with %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("shell did not exit")
	}
	h, err := os.ReadFile(hist)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(h), "use t1") || !strings.Contains(string(h), "app -d") {
		t.Fatalf("history file lacks the commands:\n%s", h)
	}
}
