package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The process re-executes itself once at start so that every thread, the
// runtime's monitor among them, runs with [server] timer_slack; "0s" keeps
// the slack it was started with.
func TestTimerSlackAppliedToEveryThread(t *testing.T) {
	own := readSlack(t, os.Getpid())
	for _, tt := range []struct {
		config string
		want   int // ns
	}{
		{`timer_slack = "3ms"`, 3_000_000},
		{``, int(time.Millisecond)}, // the default
		{`timer_slack = "0s"`, own},
	} {
		t.Run(fmt.Sprintf("%q", tt.config), func(t *testing.T) {
			pid, stop := startChild(t, tt.config)
			defer stop()
			tids, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
			if err != nil {
				t.Fatal(err)
			}
			if len(tids) < 3 {
				t.Fatalf("%d threads, want the runtime's several", len(tids))
			}
			for _, e := range tids {
				tid, _ := strconv.Atoi(e.Name())
				if got := readSlack(t, tid); got != tt.want {
					t.Errorf("thread %d: timer slack %d ns, want %d", tid, got, tt.want)
				}
			}
		})
	}
}

// startChild runs the proxy as a child process on a config with extra under
// [server] and returns its pid once it serves, and a stop that ends it.
func startChild(t *testing.T, extra string) (int, func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	file := filepath.Join(t.TempDir(), "slack.toml")
	toml := fmt.Sprintf("[server]\nport = %d\ndrain_delay = \"0s\"\n%s\n[log]\naccess = false\n", port, extra) + faultBucket("f", "127.0.0.1:9", "")
	if err := os.WriteFile(file, []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd, out := startMainChild(t, file, fmt.Sprintf("http://127.0.0.1:%d", port))
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
			t.Errorf("the child did not stop on SIGTERM; its output:\n%s", out.String())
		}
	}
	if strings.Contains(out.String(), "timer slack") {
		stop()
		t.Fatalf("the child could not apply its timer slack:\n%s", out.String())
	}
	return cmd.Process.Pid, stop
}

func readSlack(t *testing.T, tid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/timerslack_ns", tid))
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return n
}
