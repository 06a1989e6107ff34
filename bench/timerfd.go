package main

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
	"unsafe"
)

// A precise sleep for the open loop's dispatcher. time.Sleep wakes a
// goroutine up to ~1 ms late when the process is idle (the runtime's
// netpoller waits with a millisecond timeout), which would add up to a
// millisecond to every latency measured from a scheduled send. A Linux
// timerfd is a high-resolution kernel timer delivered as a readable file:
// read through the runtime's poller, the goroutine is woken as soon as the
// timer fires, without a thread of its own.

// timerfdSleeper sleeps on one timerfd.
type timerfdSleeper struct {
	fd  int
	f   *os.File // the fd, registered with the runtime's poller
	buf [8]byte  // expiration count, read and ignored
}

// itimerspec is struct itimerspec of timerfd_settime(2).
type itimerspec struct {
	interval, value syscall.Timespec
}

const (
	clockMonotonic = 1 // CLOCK_MONOTONIC
)

// newTimerfdSleeper creates a non-blocking CLOCK_MONOTONIC timerfd.
func newTimerfdSleeper() (*timerfdSleeper, error) {
	fd, _, errno := syscall.Syscall(syscall.SYS_TIMERFD_CREATE, clockMonotonic,
		uintptr(syscall.O_NONBLOCK|syscall.O_CLOEXEC), 0)
	if errno != 0 {
		return nil, fmt.Errorf("bench: timerfd_create: %w", errno)
	}
	return &timerfdSleeper{fd: int(fd), f: os.NewFile(fd, "timerfd")}, nil
}

// sleep blocks the goroutine for d; it returns at once when d <= 0.
func (s *timerfdSleeper) sleep(d time.Duration) error {
	if d <= 0 {
		return nil
	}
	spec := itimerspec{value: syscall.NsecToTimespec(int64(d))}
	if _, _, errno := syscall.Syscall6(syscall.SYS_TIMERFD_SETTIME, uintptr(s.fd), 0,
		uintptr(unsafe.Pointer(&spec)), 0, 0, 0); errno != 0 {
		return fmt.Errorf("bench: timerfd_settime: %w", errno)
	}
	if _, err := s.f.Read(s.buf[:]); err != nil {
		return fmt.Errorf("bench: timerfd read: %w", err)
	}
	return nil
}

// close releases the timerfd.
func (s *timerfdSleeper) close() { _ = s.f.Close() }

// realClock is the wall clock, sleeping with time.Sleep: enough where the
// dispatcher has already released a request (serve never sleeps then).
type realClock struct{}

func (realClock) now() time.Time         { return time.Now() }
func (realClock) sleepUntil(t time.Time) { time.Sleep(time.Until(t)) }

// wallClock is the dispatcher's clock, sleeping on a timerfd (time.Sleep
// when there is none, or it failed once).
type wallClock struct {
	t *timerfdSleeper
}

// newWallClock returns a clock with its own timerfd, or falling back to
// time.Sleep when none can be created.
func newWallClock() *wallClock {
	t, err := newTimerfdSleeper()
	if err != nil {
		return &wallClock{}
	}
	return &wallClock{t: t}
}

func (*wallClock) now() time.Time { return time.Now() }

func (c *wallClock) sleepUntil(t time.Time) {
	d := time.Until(t)
	if c.t != nil {
		err := c.t.sleep(d)
		if err == nil {
			return
		}
		if !errors.Is(err, os.ErrClosed) {
			c.t.close()
		}
		c.t = nil
		d = time.Until(t)
	}
	time.Sleep(d)
}

// close releases the clock's timerfd.
func (c *wallClock) close() {
	if c.t != nil {
		c.t.close()
	}
}
