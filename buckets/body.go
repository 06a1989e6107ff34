package buckets

import (
	"errors"
	"io"
	"time"

	"github.com/valyala/fasthttp"
)

// DefaultStreamIdleTimeout bounds the wait for the next body byte from S3 once
// a response is streaming. A stream is never cut for being long, only for
// being stalled.
const DefaultStreamIdleTimeout = 60 * time.Second

// Body streams one upstream response body. It moves the upstream connection's
// read deadline forward as bytes arrive (an idle timeout, not a total one),
// counts bytes and remembers how the stream ended. Fetch arms it; the zero
// Body is inactive. Not safe for concurrent use: one goroutine (fasthttp's
// response writer) reads it, then the same goroutine calls Finish.
type Body struct {
	u     *upstream
	resp  *fasthttp.Response
	r     io.Reader
	lease lease
	idle  time.Duration
	// deadline is when the connection's current read deadline expires.
	deadline time.Time

	n   int64
	eof bool
	err error
}

// start arms the body over resp's stream and the lease of its connection.
func (s *Body) start(u *upstream, resp *fasthttp.Response, l lease, idle time.Duration) {
	if idle <= 0 {
		idle = DefaultStreamIdleTimeout
	}
	*s = Body{u: u, resp: resp, r: resp.BodyStream(), lease: l, idle: idle}
}

// Active reports whether Fetch armed the body: the response has one to stream
// and Finish must be called.
func (s *Body) Active() bool { return s.u != nil }

// Read implements io.Reader over the upstream body.
func (s *Body) Read(p []byte) (int, error) {
	// A read the response buffer answers cannot wait: the deadline the round
	// trip set stays. Before one that may wait, move the deadline only when
	// half of it is used up: one clock read per chunk and one deadline update
	// per idle/2.
	if s.lease.br == nil || s.lease.br.Buffered() == 0 {
		if now := time.Now(); s.deadline.Sub(now) < s.idle/2 {
			s.deadline = now.Add(s.idle)
			_ = s.lease.tc.SetReadDeadline(s.deadline)
		}
	}
	n, err := s.r.Read(p)
	s.n += int64(n)
	if err != nil {
		if errors.Is(err, io.EOF) {
			s.eof = true
		} else if s.err == nil {
			s.err = err
		}
	}
	return n, err
}

// ReadFull reads the rest of the body into p, which must be exactly as long
// as what is left of it. A failure is also the body's Err, and comes back
// classified as Fetch's are: *TimeoutError for a stalled body, *ConnError
// for one cut short.
func (s *Body) ReadFull(p []byte) error {
	if _, err := io.ReadFull(s, p); err != nil {
		if s.err == nil {
			s.err = err
		}
		return classifyConnError(err)
	}
	return nil
}

// Len returns the bytes read so far.
func (s *Body) Len() int64 { return s.n }

// Err returns the first upstream read error (a cut or stalled stream), or nil.
func (s *Body) Err() error { return s.err }

// Finish closes the stream and hands its connection back: to the pool when the
// body was read to the end and the pool has room for another idle
// connection, closed otherwise (unread bytes remain on it). Call it once per
// active Body, before the response is reset or released. Finish on an
// inactive Body does nothing.
func (s *Body) Finish() {
	if s.u == nil {
		return
	}
	_ = s.resp.CloseBodyStream()
	s.u.finish(&s.lease, s.eof && s.err == nil)
	*s = Body{}
}
