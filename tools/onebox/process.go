package onebox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ProcState is what /proc says about an instance's recorded process.
type ProcState string

// Process states.
const (
	// ProcRunning: the recorded process exists and is not stopped.
	ProcRunning ProcState = "running"
	// ProcStopped: the process exists but is stopped (SIGSTOP).
	ProcStopped ProcState = "stopped"
	// ProcDead: no process, a zombie, or another process reusing the pid.
	ProcDead ProcState = "dead"
)

// procStat reads the state letter and the start time (clock ticks since
// boot) of pid from /proc/<pid>/stat.
func procStat(pid int) (state byte, startTicks uint64, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, err
	}
	// "pid (comm) S ppid ...": comm may hold spaces and parentheses, so
	// parse from the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); starttime is field 22.
	if len(f) < 20 {
		return 0, 0, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	startTicks, err = strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("malformed /proc/%d/stat: %v", pid, err)
	}
	return f[0][0], startTicks, nil
}

// State returns the state of the instance's recorded process.
func (in *Instance) State() ProcState {
	if in.PID <= 0 {
		return ProcDead
	}
	st, ticks, err := procStat(in.PID)
	if err != nil || ticks != in.StartTicks {
		return ProcDead
	}
	switch st {
	case 'Z', 'X', 'x':
		return ProcDead
	case 'T', 't':
		return ProcStopped
	}
	return ProcRunning
}

// Alive reports whether the instance's recorded process exists (running
// or stopped).
func (in *Instance) Alive() bool { return in.State() != ProcDead }

// signal sends sig to the instance's process if it is still the recorded
// one. A process already gone is not an error.
func (in *Instance) signal(sig syscall.Signal) error {
	if !in.Alive() {
		return nil
	}
	if err := syscall.Kill(in.PID, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("onebox: signal %v to %s (pid %d): %w", sig, in.Name, in.PID, err)
	}
	return nil
}

// waitGone polls until none of ins is alive or ctx ends, and returns
// those still alive.
func waitGone(ctx context.Context, ins []*Instance) []*Instance {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		var left []*Instance
		for _, in := range ins {
			if in.Alive() {
				left = append(left, in)
			}
		}
		if len(left) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return left
		case <-t.C:
		}
	}
}

// spawn starts the instance's binary in its own session (so its own
// process group; it survives the caller unless dieWithParent), with its
// stdout and stderr appended to in.Output, and records its pid and start
// time in in. A goroutine reaps the process if it exits while the caller
// still runs.
func spawn(in *Instance, dieWithParent bool) error {
	out, err := os.OpenFile(in.Output, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("onebox: %w", err)
	}
	defer out.Close() // the child has its own descriptor
	fmt.Fprintf(out, "==== onebox: starting %s at %s: %s %s\n", in.Name, time.Now().Format(time.RFC3339Nano), in.Binary, strings.Join(in.Args, " "))
	cmd := exec.Command(in.Binary, in.Args...)
	cmd.Dir = in.Dir
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if dieWithParent {
		cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("onebox: start %s: %w", in.Name, err)
	}
	go cmd.Wait() //nolint:errcheck // reaping only; the state comes from /proc
	in.PID = cmd.Process.Pid
	// The child exists until reaped, so /proc has it; a child that died
	// already shows as a zombie with its start time.
	_, ticks, err := procStat(in.PID)
	if err != nil {
		return fmt.Errorf("onebox: %s (pid %d) vanished at once: %w", in.Name, in.PID, err)
	}
	in.StartTicks = ticks
	return nil
}

// recordPid fills in's pid and start time for a process started elsewhere
// (ZooKeeper through zktest).
func recordPid(in *Instance, pid int) error {
	_, ticks, err := procStat(pid)
	if err != nil {
		return fmt.Errorf("onebox: %s (pid %d): %w", in.Name, pid, err)
	}
	in.PID, in.StartTicks = pid, ticks
	return nil
}

// tail returns the last n lines of the file at path, for error messages.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	if len(b) > 64<<10 {
		b = b[len(b)-64<<10:]
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
