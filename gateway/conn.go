package gateway

import (
	"io"
	"net"
	"sync"
	"syscall"
	"time"

	"yatagarasu/internal/deadline"
	"yatagarasu/internal/rawsock"
)

// With idle buffers released (fasthttp's ReduceMemoryUsage), fasthttp waits
// for a keep-alive connection's next request by reading one byte, then reads
// the rest of the request through a fresh buffer: two read system calls per
// request where one would do. A prefetchConn answers that one-byte read with
// a whole read into a pooled buffer taken only once the socket is readable,
// and serves the next read from it, so the idle connection still holds no
// buffer and the request costs one read.

// prefetchSize is the pooled buffer of one read: a typical request fits; a
// larger one continues with plain reads.
const prefetchSize = 4 << 10

// prefetchBelow is the read size below which a read is a probe worth
// answering from a prefetched buffer (fasthttp's is one byte; its buffered
// reads ask for the whole read buffer).
const prefetchBelow = 64

var prefetchPool = sync.Pool{New: func() any { return new([prefetchSize]byte) }}

// prefetchListener wraps the TCP connections it accepts in prefetchConn.
type prefetchListener struct{ net.Listener }

// PrefetchListener returns ln whose TCP connections answer fasthttp's
// one-byte probe for the next request with a single whole read (see
// prefetchConn). Use it with a server made with idle buffers released; with
// buffers kept, fasthttp never probes and the wrapper only passes reads
// through.
func PrefetchListener(ln net.Listener) net.Listener { return prefetchListener{ln} }

func (l prefetchListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return c, nil
	}
	pc := &prefetchConn{TCPConn: tc}
	if err := pc.sock.Init(tc); err != nil {
		return c, nil
	}
	pc.fillFn = pc.fill // once per connection: a closure per read would allocate
	return pc, nil
}

// prefetchConn is a client TCP connection whose small reads (fasthttp's
// one-byte probe) read as much as has arrived into a pooled buffer and return
// it over this and the following reads. The buffer is taken only when the
// socket has data and given back once drained, so an idle connection holds
// none (a buffer still held at Close is left to the collector: Close may run
// concurrently with Read).
//
// Its read deadline is lazy (see SetReadDeadline), and it reads and writes
// with raw system calls (rawsock). All other methods are the TCP
// connection's. Read, SetReadDeadline and SetDeadline are called by one
// goroutine at a time, and Write by one, as fasthttp does; Close may run
// concurrently.
type prefetchConn struct {
	*net.TCPConn
	sock     rawsock.Conn
	fillFn   func(fd uintptr) bool // c.fill
	buf      *[prefetchSize]byte   // nil when nothing is prefetched
	off, end int                   // unread bytes: buf[off:end]
	n        int                   // the last fill's read result
	rerr     syscall.Errno         // and its error

	rd deadline.Lazy // the read deadline
}

// SetReadDeadline sets the read deadline lazily (deadline.Lazy): fasthttp
// moves it twice per request (the idle timeout, then the header timeout once
// the first byte is in), and only a move to an earlier time reaches the
// socket at once.
func (c *prefetchConn) SetReadDeadline(t time.Time) error {
	if c.rd.Set(t) {
		return c.TCPConn.SetReadDeadline(t)
	}
	return nil
}

// SetDeadline sets both deadlines now.
func (c *prefetchConn) SetDeadline(t time.Time) error {
	c.rd.Arm(t)
	return c.TCPConn.SetDeadline(t)
}

// Read reads as the TCP connection does, timing out when the read deadline
// last asked for has passed.
func (c *prefetchConn) Read(p []byte) (int, error) {
	for {
		n, err := c.read(p)
		if err == nil {
			return n, nil
		}
		t, retry := c.rd.Retry(err, time.Now())
		if !retry || c.TCPConn.SetReadDeadline(t) != nil {
			return n, err
		}
	}
}

func (c *prefetchConn) read(p []byte) (int, error) {
	if c.buf != nil {
		n := copy(p, c.buf[c.off:c.end])
		c.off += n
		if c.off == c.end {
			prefetchPool.Put(c.buf)
			c.buf = nil
		}
		return n, nil
	}
	if len(p) == 0 || len(p) >= prefetchBelow {
		return c.sock.Read(p)
	}
	// ReadWith calls fill until it returns true, waiting for the socket to
	// be readable (and honouring the read deadline) in between.
	c.n, c.rerr = 0, 0
	// No yield here, unlike before the upstream read (upstream.roundTrip):
	// yielding before this probe saved another 0.6 µs per request at full
	// load but took the p99 from 2.3 to 8 ms, because a goroutine that
	// yields waits in the global run queue, which the scheduler serves only
	// now and then while its local queue has work.
	err := c.sock.ReadWith(c.fillFn)
	switch {
	case err != nil:
		return 0, err
	case c.rerr != 0:
		return 0, c.sock.ReadError(c.rerr)
	case c.n <= 0:
		return 0, io.EOF
	}
	return c.read(p)
}

// Write writes all of p with raw system calls (rawsock), as the TCP
// connection would.
func (c *prefetchConn) Write(p []byte) (int, error) { return c.sock.Write(p) }

// fill is one read attempt on the socket: into a pooled buffer, kept when
// data came, given back on EAGAIN (false: wait for readability and call
// again), end of stream or error.
//
// It always tries the read first: the poller forgets a readiness it saw
// before the wait began (prepareRead resets it), so waiting before trying
// could wait for an edge that already passed.
func (c *prefetchConn) fill(fd uintptr) bool {
	b := prefetchPool.Get().(*[prefetchSize]byte)
	n, errno := rawsock.ReadFD(fd, b[:])
	if errno == syscall.EAGAIN {
		prefetchPool.Put(b)
		return false
	}
	c.n, c.rerr = n, errno
	if n > 0 {
		c.buf, c.off, c.end = b, 0, n
	} else {
		prefetchPool.Put(b)
	}
	return true
}

// tcpConn returns the TCP connection under a client connection, or nil.
func tcpConn(c net.Conn) *net.TCPConn {
	switch c := c.(type) {
	case *net.TCPConn:
		return c
	case *prefetchConn:
		return c.TCPConn
	}
	return nil
}
