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
// counts bytes and remembers how the stream ended. The zero Body is inactive;
// Start arms it. Not safe for concurrent use: one goroutine (fasthttp's
// response writer) reads it, then the same goroutine calls Finish.
type Body struct {
	b    *Bucket
	resp *fasthttp.Response
	r    io.Reader
	conn *trackedConn
	idle time.Duration
	// deadline is when the connection's current read deadline expires.
	deadline time.Time

	n   int64
	eof bool
	err error
}

// Start arms the body for resp, which b.Fetch filled. It returns false when
// resp has no body stream (HEAD, 304, and the like): there is nothing to
// stream and the connection is already back in the pool.
func (s *Body) Start(b *Bucket, resp *fasthttp.Response, idle time.Duration) bool {
	r := resp.BodyStream()
	if r == nil {
		return false
	}
	*s = Body{b: b, resp: resp, r: r, conn: connOf(resp), idle: idle}
	return true
}

// Read implements io.Reader over the upstream body.
func (s *Body) Read(p []byte) (int, error) {
	if s.conn != nil && s.idle > 0 {
		// Move the deadline only when half of it is used up: one clock read per
		// chunk and one deadline update per idle/2.
		if now := time.Now(); s.deadline.Sub(now) < s.idle/2 {
			s.deadline = now.Add(s.idle)
			_ = s.conn.SetReadDeadline(s.deadline)
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

// Len returns the bytes read so far.
func (s *Body) Len() int64 { return s.n }

// Err returns the first upstream read error (a cut or stalled stream), or nil.
func (s *Body) Err() error { return s.err }

// Finish hands the connection back: to the pool when the body was read to the
// end and the pool has room for another idle connection, closed otherwise.
// It must be called exactly once per successful Start, before resp is released.
func (s *Body) Finish() {
	if s.b == nil {
		return
	}
	s.b.up.release(s.resp)
	if !s.eof {
		// Unread bytes remain on the connection: it cannot be reused.
		s.resp.SetConnectionClose()
	}
	_ = s.resp.CloseBodyStream()
	*s = Body{}
}
