// Package deadline provides Lazy, a connection deadline moved on the socket
// only when it must be.
package deadline

import (
	"errors"
	"time"
)

// Lazy is one direction's deadline of a connection whose owner moves it on
// every request (a keep-alive server's idle and header timeouts, a client's
// per-attempt timeout), where each move is a runtime timer update. Set
// defers a deadline later than the one the socket has: the earlier one fires
// first, the operation fails with os.ErrDeadlineExceeded, and Retry tells the
// connection to arm the deadline last asked for and try again. An operation
// thus times out exactly when the deadline last asked for has passed, and a
// connection serving requests faster than its timeout arms about one
// deadline per timeout instead of one or two per request.
//
// The zero value is a connection with no deadline. A Lazy is used by the
// goroutine that reads (or writes) the connection and sets its deadline; it
// is not safe for concurrent use.
type Lazy struct {
	// want is the deadline asked for, armed the one the socket has; zero
	// means none. armed is never later than want.
	want, armed time.Time
}

// Set records t as the deadline asked for and reports whether the socket's
// must be moved to it now: when t is earlier than the armed one, or none is
// armed. A later t, or none (zero), is left to Retry.
func (d *Lazy) Set(t time.Time) (arm bool) {
	d.want = t
	if t.IsZero() || (!d.armed.IsZero() && !t.Before(d.armed)) {
		return false
	}
	d.armed = t
	return true
}

// Arm records t as both asked for and armed: the caller moves the socket's
// deadline to t now (for a connection also moved by code that bypasses the
// lazy path).
func (d *Lazy) Arm(t time.Time) { d.want, d.armed = t, t }

// Retry reports whether err, an operation's failure at now, is the timeout
// (an error whose Timeout method says so: os.ErrDeadlineExceeded, or an
// in-memory pipe's) of an armed deadline earlier than the one asked for; if
// so the caller must move the socket's deadline to t (zero: none) and repeat
// the operation. Once the deadline asked for is armed, Retry says no, so a
// connection that keeps failing is not retried forever.
func (d *Lazy) Retry(err error, now time.Time) (t time.Time, retry bool) {
	if d.armed.IsZero() || d.armed.Equal(d.want) || !isTimeout(err) {
		return time.Time{}, false
	}
	if !d.want.IsZero() && !now.Before(d.want) {
		return time.Time{}, false // the deadline asked for has passed
	}
	d.armed = d.want
	return d.want, true
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}
