package main

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// timerSlackExecEnv marks the process that re-executed itself for its timer
// slack, so that it does so at most once.
const timerSlackExecEnv = "YATAGARASU_TIMER_SLACK_EXEC"

// errTimerSlack prefixes the failures of applying [server] timer_slack.
var errTimerSlack = errors.New("timer slack")

// applyTimerSlack makes the whole process run with the given timer slack
// (config server.timer_slack; 0 leaves it as started). A thread's slack is
// inherited by the threads it creates and kept across execve, but the Go
// runtime's threads, its monitor among them, exist before main runs and an
// unprivileged process may set only its calling thread's: so when the slack
// differs, it is set on this thread and the binary re-executed from it, with
// the same arguments and environment. On success that exec does not return.
// It returns nil when nothing needs doing (slack 0, or already in effect) and
// an error when the slack could not be applied; the process then runs on with
// the slack it has.
func applyTimerSlack(slack time.Duration) error {
	if slack <= 0 {
		return nil
	}
	runtime.LockOSThread() // get, set and exec on one thread
	defer runtime.UnlockOSThread()
	cur, err := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
	if err != nil {
		return fmt.Errorf("%w: reading it: %w", errTimerSlack, err)
	}
	if time.Duration(cur) == slack {
		os.Unsetenv(timerSlackExecEnv)
		return nil
	}
	if os.Getenv(timerSlackExecEnv) != "" {
		os.Unsetenv(timerSlackExecEnv)
		return fmt.Errorf("%w: still %v after re-executing to set %v", errTimerSlack, time.Duration(cur), slack)
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("%w: finding the binary: %w", errTimerSlack, err)
	}
	if err := unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(slack), 0, 0, 0); err != nil {
		return fmt.Errorf("%w: setting %v: %w", errTimerSlack, slack, err)
	}
	env := append(os.Environ(), timerSlackExecEnv+"=1")
	err = syscall.Exec(exe, os.Args, env)
	// Only a failed exec gets here: put this thread back as it was.
	_ = unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(cur), 0, 0, 0)
	return fmt.Errorf("%w: re-executing %s: %w", errTimerSlack, exe, err)
}
