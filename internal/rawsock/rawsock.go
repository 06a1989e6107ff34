// Package rawsock reads and writes a non-blocking socket with raw system
// calls, waiting in the runtime's poller only when the socket is not ready.
//
// The net package's Read and Write enter the system call through the
// runtime's bookkeeping (entersyscall/exitsyscall): while a call is in the
// kernel, the scheduler's monitor may hand the caller's P to another thread,
// which costs a futex wake-up and a thread switch each time. On a socket
// that never blocks the call is short, and on a host where every system call
// traps to a hypervisor it is just long enough for that hand-off to happen
// to a few per cent of the calls. A raw call keeps the P: nothing else could
// run meanwhile anyway on the one CPU a pinned proxy has, and a non-blocking
// read or write returns within microseconds.
//
// Deadlines are the socket's own (SetReadDeadline and SetWriteDeadline on
// the connection), and errors are shaped as the net package's: io.EOF at
// the end of the stream, otherwise a *net.OpError around the system call's
// error (in an *os.SyscallError), os.ErrDeadlineExceeded or net.ErrClosed.
package rawsock

import (
	"io"
	"net"
	"os"
	"syscall"
	"unsafe"
)

// Conn does one connection's raw reads and writes. Make it with Init on
// the connection's syscall.RawConn; the zero value is not usable. Read is
// called by one goroutine at a time and Write by one goroutine at a time
// (the two may run concurrently, as on a net.Conn); Close of the underlying
// connection may run concurrently with either.
type Conn struct {
	tc  *net.TCPConn // for the addresses in errors
	raw syscall.RawConn

	// The argument and result of the read and write in progress; the
	// callbacks are bound once in Init (a closure per call would allocate).
	rp      []byte
	rn      int
	rerr    syscall.Errno
	wp      []byte
	wn      int
	werr    syscall.Errno
	readFn  func(fd uintptr) bool
	writeFn func(fd uintptr) bool
}

// Init makes c read and write tc's socket.
func (c *Conn) Init(tc *net.TCPConn) error {
	raw, err := tc.SyscallConn()
	if err != nil {
		return err
	}
	c.tc, c.raw = tc, raw
	c.readFn = c.readOnce
	c.writeFn = c.writeSome
	return nil
}

// ReadWith calls f with the socket's descriptor until it returns true,
// waiting for the socket to be readable (and honouring the read deadline)
// in between, as the socket's syscall.RawConn.Read does; for reads of the
// caller's own (see ReadFD). A failed wait's error is shaped as Read's.
func (c *Conn) ReadWith(f func(fd uintptr) bool) error {
	if err := c.raw.Read(f); err != nil {
		return c.opError("read", PollError(err))
	}
	return nil
}

// ReadError is Read's error for a read(2) that failed with errno.
func (c *Conn) ReadError(errno syscall.Errno) error {
	return c.opError("read", os.NewSyscallError("read", errno))
}

// Read reads into p what has arrived, waiting for the socket to be readable
// only when nothing has. At the end of the stream it returns io.EOF.
func (c *Conn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	c.rp, c.rn, c.rerr = p, 0, 0
	err := c.ReadWith(c.readFn)
	n, rerr := c.rn, c.rerr
	c.rp = nil
	switch {
	case err != nil:
		return 0, err
	case rerr != 0:
		return 0, c.ReadError(rerr)
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

// readOnce is one read attempt: false (wait for readability, then call
// again) on EAGAIN. It tries before any wait: the poller forgets a
// readiness it saw before the wait began, so waiting first could wait for
// an edge that already passed.
func (c *Conn) readOnce(fd uintptr) bool {
	n, errno := ReadFD(fd, c.rp)
	switch errno {
	case 0:
		c.rn = n
	case syscall.EAGAIN:
		return false
	default:
		c.rerr = errno
	}
	return true
}

// ReadFD is one raw read(2) of fd into p, repeated when interrupted; for a
// socket's syscall.RawConn.Read callback. errno is 0 on success (n == 0:
// the end of the stream) and syscall.EAGAIN when nothing has arrived.
func ReadFD(fd uintptr, p []byte) (n int, errno syscall.Errno) {
	for {
		r, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)))
		if e != syscall.EINTR {
			if e != 0 {
				return 0, e
			}
			return int(r), 0
		}
	}
}

// Write writes all of p, waiting for the socket to be writable whenever its
// buffer is full. It returns the bytes written and, when that is less than
// len(p), why.
func (c *Conn) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	c.wp, c.wn, c.werr = p, 0, 0
	err := c.raw.Write(c.writeFn)
	n, werr := c.wn, c.werr
	c.wp = nil
	switch {
	case err != nil:
		return n, c.opError("write", PollError(err))
	case werr != 0:
		return n, c.opError("write", os.NewSyscallError("write", werr))
	}
	return n, nil
}

// PollError is the poller's error (os.ErrDeadlineExceeded, net.ErrClosed)
// inside the *net.OpError a syscall.RawConn's Read or Write wraps it in
// (operation "raw-read" or "raw-write"), for a caller that names the
// operation in an *net.OpError of its own, as the net package does once.
func PollError(err error) error {
	if op, ok := err.(*net.OpError); ok {
		return op.Err
	}
	return err
}

// opError names the operation and the connection's addresses around err,
// as the net package does.
func (c *Conn) opError(op string, err error) error {
	return &net.OpError{Op: op, Net: "tcp", Source: c.tc.LocalAddr(), Addr: c.tc.RemoteAddr(), Err: err}
}

// writeSome writes what the socket takes of the rest of c.wp: false (wait
// for writability, then call again) while some is left and the socket is
// full.
func (c *Conn) writeSome(fd uintptr) bool {
	for c.wn < len(c.wp) {
		rest := c.wp[c.wn:]
		r, _, errno := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(unsafe.SliceData(rest))), uintptr(len(rest)))
		switch errno {
		case 0:
			c.wn += int(r)
		case syscall.EINTR:
		case syscall.EAGAIN:
			return false
		default:
			c.werr = errno
			return true
		}
	}
	return true
}
