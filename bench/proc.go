package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Child processes: every process the harness starts (origin, proxies, load
// generators) goes through startProc, runs in its own process group, logs
// to a file in the output folder and is registered so that killAll can end
// it on any exit path, Ctrl-C included.

// procSpec describes a child process to start.
type procSpec struct {
	name    string     // label used in messages
	argv    []string   // program and arguments (before any taskset prefix)
	cpu     int        // CPU to pin to (cpuLoad, cpuProxy) or cpuAny
	logPath string     // stdout and stderr are appended here; "" discards them
	stdout  io.Writer  // when non-nil, stdout goes here instead of logPath
	files   []*os.File // inherited as fd 3, 4, ...
	dir     string     // working directory; "" keeps the harness's
}

// CPU assignment on a 2-core box: the process under test gets a core of its
// own, the origin and the load generator share the other.
const (
	cpuAny   = -1
	cpuLoad  = 0
	cpuProxy = 1
)

// proc is a started child process.
type proc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	logFile *os.File
	done    chan struct{} // closed once Wait has returned
	waitErr error         // Wait's result, valid after done is closed
}

// children holds every process started and not yet reaped, for killAll.
var children = struct {
	sync.Mutex
	m map[*proc]struct{}
}{m: map[*proc]struct{}{}}

// startProc starts s. tasksetPath is "" when pinning is off.
func startProc(s procSpec, tasksetPath string) (*proc, error) {
	argv := s.argv
	if s.cpu != cpuAny && tasksetPath != "" {
		// taskset execs the program, so the pid we get is the program's.
		argv = append([]string{tasksetPath, "-c", fmt.Sprint(s.cpu)}, argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = s.dir
	cmd.ExtraFiles = s.files
	// Own process group: a terminal Ctrl-C reaches only the harness, which
	// then stops children in order. Pdeathsig covers a harness killed hard.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	p := &proc{name: s.name, cmd: cmd, logPath: s.logPath, done: make(chan struct{})}
	if s.logPath != "" {
		f, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, fmt.Errorf("bench: %s log: %w", s.name, err)
		}
		p.logFile = f
		cmd.Stdout, cmd.Stderr = f, f
	}
	if s.stdout != nil {
		cmd.Stdout = s.stdout
	}
	children.Lock()
	defer children.Unlock()
	if err := cmd.Start(); err != nil {
		if p.logFile != nil {
			_ = p.logFile.Close()
		}
		return nil, fmt.Errorf("bench: start %s: %w", s.name, err)
	}
	children.m[p] = struct{}{}
	go func() {
		p.waitErr = cmd.Wait()
		if p.logFile != nil {
			_ = p.logFile.Close()
		}
		children.Lock()
		delete(children.m, p)
		children.Unlock()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// exited reports whether the process has ended and been reaped.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop ends the process group: SIGTERM, then SIGKILL after 3 s.
func (p *proc) stop() {
	if p.exited() {
		return
	}
	_ = syscall.Kill(-p.pid(), syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(3 * time.Second):
		_ = syscall.Kill(-p.pid(), syscall.SIGKILL)
		<-p.done
	}
}

// cpuSeconds is the CPU time (user+system) the process used, from its
// rusage; valid only after it exited.
func (p *proc) cpuSeconds() float64 {
	if p.cmd.ProcessState == nil {
		return 0
	}
	return (p.cmd.ProcessState.UserTime() + p.cmd.ProcessState.SystemTime()).Seconds()
}

// logTail returns the last n lines of the process's log.
func (p *proc) logTail(n int) string {
	if p.logPath == "" {
		return ""
	}
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return ""
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// killAll sends SIGKILL to every child's process group. It is the last
// resort on exit; the normal path stops children one by one.
func killAll() {
	children.Lock()
	defer children.Unlock()
	for p := range children.m {
		_ = syscall.Kill(-p.pid(), syscall.SIGKILL)
	}
}

// indent prefixes every line of s, for quoting a child's log.
func indent(s, prefix string) string {
	if s == "" {
		return prefix + "(empty)"
	}
	return prefix + strings.ReplaceAll(s, "\n", "\n"+prefix)
}
