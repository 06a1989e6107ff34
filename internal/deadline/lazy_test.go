package deadline

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"
)

var (
	t0       = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	timeout  = fmt.Errorf("read tcp: %w", os.ErrDeadlineExceeded)
	sec      = func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	zeroTime time.Time
)

func TestLazySet(t *testing.T) {
	var d Lazy
	if !d.Set(sec(30)) {
		t.Fatal("first deadline not armed")
	}
	if d.Set(sec(90)) || d.Set(sec(31)) || d.Set(zeroTime) {
		t.Fatal("a later deadline (or none) was armed while an earlier one is")
	}
	if arm, retry := d.Retry(timeout, sec(30)); !retry || !arm.IsZero() {
		t.Fatalf("after clearing, Retry = %v, %v; want to re-arm no deadline", arm, retry)
	}
	if !d.Set(sec(10)) {
		t.Fatal("an earlier deadline was not armed")
	}
	if d.Set(sec(10)) {
		t.Fatal("the armed deadline was armed again")
	}
}

func TestLazyRetry(t *testing.T) {
	tests := []struct {
		name      string
		set       []time.Time // in order
		err       error
		now       time.Time
		wantRetry bool
		wantArm   time.Time
	}{
		{"later asked, earlier fired", []time.Time{sec(30), sec(90)}, timeout, sec(30), true, sec(90)},
		{"cleared, earlier fired", []time.Time{sec(30), zeroTime}, timeout, sec(30), true, zeroTime},
		{"asked deadline passed", []time.Time{sec(30), sec(90)}, timeout, sec(90), false, zeroTime},
		{"armed deadline is the asked one", []time.Time{sec(30)}, timeout, sec(30), false, zeroTime},
		{"not a timeout", []time.Time{sec(30), sec(90)}, errors.New("connection reset"), sec(30), false, zeroTime},
		{"nothing armed", []time.Time{zeroTime}, timeout, sec(30), false, zeroTime},
		{"a pipe's timeout", []time.Time{sec(30), sec(90)}, pipeTimeout{}, sec(30), true, sec(90)},
		{"a timeout that is not a deadline", []time.Time{sec(30), sec(90)}, syscall.ETIMEDOUT, sec(30), true, sec(90)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d Lazy
			for _, s := range tt.set {
				d.Set(s)
			}
			arm, retry := d.Retry(tt.err, tt.now)
			if retry != tt.wantRetry || !arm.Equal(tt.wantArm) {
				t.Fatalf("Retry = %v, %v; want %v, %v", arm, retry, tt.wantArm, tt.wantRetry)
			}
			if retry && d.Set(tt.wantArm) {
				t.Fatal("after a retry the asked deadline is not the armed one")
			}
		})
	}
}

// A keep-alive connection serving a request a second, moving the deadline
// twice per request (idle 90 s, then header 30 s), arms two deadlines per
// 30 s (the idle one when the armed one fires during the wait, then the
// earlier header one) instead of two per request, and never times out a
// request.
func TestLazyArmsOncePerTimeout(t *testing.T) {
	var d Lazy
	arms := 0
	for s := range 300 {
		now := sec(s)
		if d.Set(now.Add(90 * time.Second)) {
			arms++
		}
		if !d.armed.IsZero() && !now.Before(d.armed) {
			// The armed deadline fired while the connection waited.
			arm, retry := d.Retry(timeout, now)
			if !retry {
				t.Fatalf("at %ds a request timed out; asked %v", s, d.want)
			}
			if !arm.IsZero() {
				arms++
			}
		}
		if d.Set(now.Add(30 * time.Second)) {
			arms++
		}
	}
	if arms > 2*300/30+2 {
		t.Fatalf("%d deadlines armed over 300 requests in 300 s; want two per 30 s", arms)
	}
}

type pipeTimeout struct{}

func (pipeTimeout) Error() string { return "timeout" }
func (pipeTimeout) Timeout() bool { return true }

// Retry says yes at most once per deadline asked for, so an operation that
// keeps failing with a timeout (say ETIMEDOUT from a dead peer) is not
// retried forever.
func TestLazyRetryOnce(t *testing.T) {
	var d Lazy
	d.Set(sec(30))
	d.Set(sec(90))
	if _, retry := d.Retry(syscall.ETIMEDOUT, sec(10)); !retry {
		t.Fatal("first timeout under an earlier armed deadline not retried")
	}
	if _, retry := d.Retry(syscall.ETIMEDOUT, sec(10)); retry {
		t.Fatal("a second timeout with the asked deadline armed was retried")
	}
}

func TestLazyArm(t *testing.T) {
	var d Lazy
	d.Set(sec(30))
	d.Arm(sec(90))
	if _, retry := d.Retry(timeout, sec(90)); retry {
		t.Fatal("Retry after Arm: the armed deadline is the asked one")
	}
	if d.Set(sec(120)) {
		t.Fatal("a deadline later than the one Arm set was armed")
	}
}
