package buckets

import (
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"

	"yatagarasu/internal/rawsock"
)

// spliceMin is the least body left to move for SpliceTo to bother: below it
// the pipe round trip costs more than the copy it saves.
const spliceMin = 64 << 10

// pipeSize is what each splice pipe asks for (F_SETPIPE_SZ): 1 MiB, the
// default pipe-max-size, as Go's own splice does. The kernel may grant less;
// the pipe works at any size.
const pipeSize = 1 << 20

// splicePipe is a pipe moving one stream's bytes inside the kernel; pooled
// when empty, discarded when a failed stream left bytes in it. Its two
// descriptors are closed exactly once: by discard, or by the cleanup when the
// pool drops the pipe and it is collected.
type splicePipe struct {
	r, w    int
	size    int             // capacity granted by the kernel
	cleanup runtime.Cleanup // closes r and w when the pipe is collected
}

var pipePool = sync.Pool{New: func() any {
	if p := newSplicePipe(); p != nil {
		return p
	}
	return nil
}}

// newSplicePipe makes a non-blocking pipe of up to pipeSize, or returns nil
// when the process has no descriptors to spare.
func newSplicePipe() *splicePipe {
	var fds [2]int
	if err := syscall.Pipe2(fds[:], syscall.O_CLOEXEC|syscall.O_NONBLOCK); err != nil {
		return nil
	}
	p := &splicePipe{r: fds[0], w: fds[1], size: 64 << 10}
	if n, err := fcntl(fds[1], syscall.F_SETPIPE_SZ, pipeSize); err == nil && n > 0 {
		p.size = n
	}
	p.cleanup = runtime.AddCleanup(p, func(fds [2]int) {
		syscall.Close(fds[0])
		syscall.Close(fds[1])
	}, fds)
	return p
}

// discard closes the pipe now and stops its cleanup: once closed, the two
// numbers are the next socket's or file's, and a second close at some later
// collection would cut that connection instead.
func (p *splicePipe) discard() {
	p.cleanup.Stop()
	syscall.Close(p.r)
	syscall.Close(p.w)
}

func fcntl(fd, cmd, arg int) (int, error) {
	r, _, errno := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), uintptr(cmd), uintptr(arg))
	if errno != 0 {
		return 0, errno
	}
	return int(r), nil
}

// SpliceTo moves the rest of a known-length body from a plain-TCP upstream
// connection to dst inside the kernel: splice(2) from the upstream socket
// into a pipe and from the pipe into dst, with no user-space copy and no
// buffer. handled is false when it cannot (TLS upstream, a connection that is
// not TCP, a body without Content-Length or with less than spliceMin left,
// no pipe to be had) and nothing was moved; the caller then copies with Read.
//
// Bytes the response header read already buffered are written first. Both
// deadlines move as in Read and in the caller's copy loop: the upstream's
// read deadline and dst's write deadline are each pushed to now+idle (at most
// once per idle/2) before every wait, so a stalled side is cut after idle,
// never a long stream. An upstream failure is the body's Err, as with Read
// (counted by Len); a failure writing to dst is returned as writeErr.
func (s *Body) SpliceTo(dst *net.TCPConn, idle time.Duration) (written int64, writeErr error, handled bool) {
	cl := int64(s.resp.Header.ContentLength())
	if s.u == nil || s.u.client.IsTLS || cl < 0 || s.eof || s.err != nil {
		return 0, nil, false
	}
	src, ok := s.lease.tc.Conn.(*net.TCPConn)
	if !ok || cl-s.n < spliceMin {
		return 0, nil, false
	}
	srcRaw, err := src.SyscallConn()
	if err != nil {
		return 0, nil, false
	}
	dstRaw, err := dst.SyscallConn()
	if err != nil {
		return 0, nil, false
	}
	p, _ := pipePool.Get().(*splicePipe)
	if p == nil {
		return 0, nil, false
	}
	clean := false
	defer func() {
		if clean {
			pipePool.Put(p)
		} else {
			// Bytes may be left in it: never hand it to another stream.
			p.discard()
		}
	}()
	if idle <= 0 {
		idle = DefaultStreamIdleTimeout
	}
	var dstDeadline time.Time
	pushDst := func() {
		if now := time.Now(); dstDeadline.Sub(now) < idle/2 {
			dstDeadline = now.Add(idle)
			_ = dst.SetWriteDeadline(dstDeadline)
		}
	}

	// What the header read already pulled in goes first, from its buffer.
	if n := min(int64(s.lease.br.Buffered()), cl-s.n); n > 0 {
		b, _ := s.lease.br.Peek(int(n))
		pushDst()
		m, err := dst.Write(b)
		_, _ = s.lease.br.Discard(m)
		s.n += int64(m)
		written += int64(m)
		if err != nil {
			clean = true // the pipe is still empty
			return written, err, true
		}
	}

	for s.n < cl {
		// Upstream socket → pipe: the pipe is empty, so EAGAIN means the
		// socket has nothing yet.
		if now := time.Now(); s.deadline.Sub(now) < s.idle/2 {
			s.deadline = now.Add(s.idle)
			_ = s.lease.tc.SetReadDeadline(s.deadline)
		}
		want := int(min(cl-s.n, int64(p.size)))
		var in int
		var serr error
		rerr := srcRaw.Read(func(fd uintptr) bool {
			in, serr = splice(int(fd), p.w, want)
			return serr != syscall.EAGAIN
		})
		if err := spliceError(rerr, serr); err != nil {
			// The shape Read's failures have: one *net.OpError naming
			// the upstream connection around the poller's or the
			// system call's error.
			s.err = &net.OpError{Op: "splice", Net: "tcp", Source: src.LocalAddr(), Addr: src.RemoteAddr(), Err: err}
			clean = true
			return written, nil, true
		}
		if in == 0 {
			s.err = io.ErrUnexpectedEOF // S3 closed before Content-Length
			clean = true
			return written, nil, true
		}
		s.n += int64(in)
		// Pipe → client socket, until the pipe is empty again.
		for in > 0 {
			pushDst()
			var out int
			var werr error
			err := dstRaw.Write(func(fd uintptr) bool {
				out, werr = splice(p.r, int(fd), in)
				return werr != syscall.EAGAIN
			})
			if err := spliceError(err, werr); err != nil {
				return written, &net.OpError{Op: "splice", Net: "tcp", Source: dst.LocalAddr(), Addr: dst.RemoteAddr(), Err: err}, true
			}
			in -= out
			written += int64(out)
		}
	}
	s.eof = true
	clean = true
	return written, nil, true
}

// spliceError is the error of one splice wait: the poller's (a deadline, a
// closed socket), unwrapped from the RawConn's own *net.OpError, or the
// system call's errno as an *os.SyscallError; nil when neither failed.
func spliceError(pollErr, callErr error) error {
	switch {
	case pollErr != nil:
		return rawsock.PollError(pollErr)
	case callErr != nil:
		return os.NewSyscallError("splice", callErr)
	}
	return nil
}

// splice moves up to n bytes from fd in to fd out without blocking, retrying
// on EINTR.
func splice(in, out, n int) (int, error) {
	for {
		m, err := syscall.Splice(in, nil, out, nil, n, spliceMove|spliceNonblock)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return 0, err
		}
		return int(m), nil
	}
}

const (
	spliceMove     = 0x1 // SPLICE_F_MOVE
	spliceNonblock = 0x2 // SPLICE_F_NONBLOCK
)
