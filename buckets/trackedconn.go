package buckets

import (
	"crypto/tls"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"yatagarasu/internal/deadline"
	"yatagarasu/internal/rawsock"
)

// track wraps a dialed connection so the pool's open count stays exact. A
// TCP connection is read and written with raw system calls (rawsock).
func track(c net.Conn, open *atomic.Int64) net.Conn {
	open.Add(1)
	t := &trackedConn{Conn: c, open: open}
	if tc, ok := c.(*net.TCPConn); ok && t.sock.Init(tc) == nil {
		t.raw = true
	}
	return t
}

// trackedConn is a pooled upstream connection. It keeps the pool's open
// count exact, arms the per-attempt deadline lazily (see SetDeadline) and,
// on TCP, reads and writes with raw system calls (rawsock).
// Its lease fields, deadlines, Read and Write are used by one request at a
// time (the one holding the connection); Close may run concurrently.
type trackedConn struct {
	net.Conn
	open   *atomic.Int64 // the upstream's open count
	closed sync.Once

	// owner is fasthttp's handle for this connection (a *clientConn) and
	// giveBack returns that handle to the pool or closes it; both are set on
	// the first lease.
	owner    any
	giveBack func(reuse bool)
	// uses counts the requests sent on this connection.
	uses int

	rd, wd deadline.Lazy

	// sock reads and writes Conn when raw (Conn is a *net.TCPConn).
	sock rawsock.Conn
	raw  bool
}

func (c *trackedConn) Close() error {
	c.closed.Do(func() { c.open.Add(-1) })
	return c.Conn.Close()
}

// SetDeadline sets both deadlines lazily (deadline.Lazy): the round trip
// moves them once per attempt, and only a move to an earlier time reaches
// the socket at once; Read and Write re-arm when an earlier one fires.
func (c *trackedConn) SetDeadline(t time.Time) error {
	switch r, w := c.rd.Set(t), c.wd.Set(t); {
	case r && w:
		return c.Conn.SetDeadline(t)
	case r:
		return c.Conn.SetReadDeadline(t)
	case w:
		return c.Conn.SetWriteDeadline(t)
	}
	return nil
}

// SetReadDeadline sets the read deadline now: a streamed body moves it at
// most once per idle/2, and the splice path waits on the socket directly.
func (c *trackedConn) SetReadDeadline(t time.Time) error {
	c.rd.Arm(t)
	return c.Conn.SetReadDeadline(t)
}

// SetWriteDeadline sets the write deadline now.
func (c *trackedConn) SetWriteDeadline(t time.Time) error {
	c.wd.Arm(t)
	return c.Conn.SetWriteDeadline(t)
}

// Read reads as the connection does, timing out when the read deadline last
// asked for has passed.
func (c *trackedConn) Read(p []byte) (int, error) {
	for {
		n, err := c.read(p)
		if err == nil {
			return n, nil
		}
		t, retry := c.rd.Retry(err, time.Now())
		if n > 0 || !retry || c.Conn.SetReadDeadline(t) != nil {
			return n, err
		}
	}
}

// Write writes all of p as the connection does, timing out when the write
// deadline last asked for has passed.
func (c *trackedConn) Write(p []byte) (int, error) {
	n, err := c.write(p)
	for err != nil {
		t, retry := c.wd.Retry(err, time.Now())
		if !retry || c.Conn.SetWriteDeadline(t) != nil {
			break
		}
		var m int
		m, err = c.write(p[n:])
		n += m
	}
	return n, err
}

func (c *trackedConn) read(p []byte) (int, error) {
	if c.raw {
		return c.sock.Read(p)
	}
	return c.Conn.Read(p)
}

func (c *trackedConn) write(p []byte) (int, error) {
	if c.raw {
		return c.sock.Write(p)
	}
	return c.Conn.Write(p)
}

// tracked returns the trackedConn under conn, which is one or, with TLS, the
// tls.Conn wrapping one.
func tracked(conn net.Conn) *trackedConn {
	if tc, ok := conn.(*trackedConn); ok {
		return tc
	}
	return conn.(*tls.Conn).NetConn().(*trackedConn)
}
