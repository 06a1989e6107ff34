package buckets

import (
	"errors"
	"fmt"
	"time"
)

// Sentinels for the ways a bucket request can fail before S3 answers. The
// gateway maps them to HTTP statuses in one place; callers match with errors.Is.
var (
	// ErrNotReady: the bucket cannot serve (no credentials yet, supervisor down).
	ErrNotReady = errors.New("buckets: bucket not ready")
	// ErrNoFreeConnections: every pooled connection stayed busy for
	// connection_wait_timeout.
	ErrNoFreeConnections = errors.New("buckets: no free upstream connection")
	// ErrUpstreamTimeout: an attempt got no response headers within its timeout.
	ErrUpstreamTimeout = errors.New("buckets: upstream timed out")
	// ErrUpstreamUnreachable: connecting failed, or the connection broke before
	// the response headers arrived.
	ErrUpstreamUnreachable = errors.New("buckets: upstream unreachable")
	// ErrBadQuery: the client's query string is not valid percent-encoding.
	ErrBadQuery = errors.New("buckets: malformed query string")
	// ErrSigning: the request could not be signed (e.g. no credentials).
	ErrSigning = errors.New("buckets: signing failed")
	// ErrBreakerOpen: the bucket's circuit breaker is open; nothing was sent.
	ErrBreakerOpen = errors.New("buckets: circuit breaker open")
	// ErrRequestTimeout: request_timeout passed before S3 answered.
	ErrRequestTimeout = errors.New("buckets: request timed out")
)

// BreakerOpenError is ErrBreakerOpen with the time until probes are let
// through, for Retry-After.
type BreakerOpenError struct{ Wait time.Duration }

func (e *BreakerOpenError) Error() string {
	return fmt.Sprintf("%v (probes in %v)", ErrBreakerOpen, e.Wait.Round(time.Millisecond))
}

// Unwrap returns the sentinel.
func (e *BreakerOpenError) Unwrap() error { return ErrBreakerOpen }

// RetryAfter is how long the client should wait.
func (e *BreakerOpenError) RetryAfter() time.Duration { return e.Wait }

// TimeoutError marks an upstream timeout; it reports Timeout() == true and
// matches ErrUpstreamTimeout.
type TimeoutError struct{ Err error }

func (e *TimeoutError) Error() string { return fmt.Sprintf("%v: %v", ErrUpstreamTimeout, e.Err) }

// errRequestTimeout is returned when request_timeout is spent.
var errRequestTimeout = &TimeoutError{Err: ErrRequestTimeout}

// Unwrap returns both the sentinel and the cause.
func (e *TimeoutError) Unwrap() []error { return []error{ErrUpstreamTimeout, e.Err} }

// Timeout reports true: this is a timeout.
func (e *TimeoutError) Timeout() bool { return true }

// ConnError marks a failure to connect to, or a broken connection with, the
// upstream before its response headers; it matches ErrUpstreamUnreachable.
type ConnError struct{ Err error }

func (e *ConnError) Error() string { return fmt.Sprintf("%v: %v", ErrUpstreamUnreachable, e.Err) }

// Unwrap returns both the sentinel and the cause.
func (e *ConnError) Unwrap() []error { return []error{ErrUpstreamUnreachable, e.Err} }
