package rawsock

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"yatagarasu/internal/tcppair"
)

func newConn(t *testing.T, tc *net.TCPConn) *Conn {
	t.Helper()
	c := new(Conn)
	if err := c.Init(tc); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestStreamBothWays sends 8 MiB each way at once through raw Write and
// Read, the reader taking small and odd-sized reads, so both sides fill
// the socket buffers and wait for readiness many times.
func TestStreamBothWays(t *testing.T) {
	a, b := tcppair.New(t)
	ra, rb := newConn(t, a), newConn(t, b)
	const size = 8 << 20
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(rand.IntN(256))
	}
	var wg sync.WaitGroup
	send := func(c *Conn, name string) {
		defer wg.Done()
		for off := 0; off < size; {
			n := min(size-off, 1+rand.IntN(512<<10))
			w, err := c.Write(data[off : off+n])
			if err != nil || w != n {
				t.Errorf("%s: Write = %d, %v; want %d, nil", name, w, err, n)
				return
			}
			off += n
		}
	}
	recv := func(c *Conn, name string) {
		defer wg.Done()
		got := make([]byte, 0, size)
		buf := make([]byte, 7001)
		for len(got) < size {
			n, err := c.Read(buf[:1+rand.IntN(len(buf))])
			if err != nil {
				t.Errorf("%s: Read after %d bytes: %v", name, len(got), err)
				return
			}
			got = append(got, buf[:n]...)
		}
		if !bytes.Equal(got, data) {
			t.Errorf("%s: the bytes read differ from those written", name)
		}
	}
	wg.Add(4)
	go send(ra, "a→b")
	go recv(rb, "a→b")
	go send(rb, "b→a")
	go recv(ra, "b→a")
	wg.Wait()
}

// TestErrorsAsNet checks that each failure reads as the net package's own
// for the same condition: the same error type, operation and sentinel.
func TestErrorsAsNet(t *testing.T) {
	type outcome struct {
		n   int
		err error
	}
	tests := []struct {
		name string
		// do brings about the condition on one end (raw or net) and
		// returns its result; peer is the other end.
		do   func(t *testing.T, self *net.TCPConn, peer *net.TCPConn, read func([]byte) (int, error), write func([]byte) (int, error)) outcome
		want func(t *testing.T, o outcome)
	}{
		{
			name: "end of stream",
			do: func(t *testing.T, self, peer *net.TCPConn, read func([]byte) (int, error), _ func([]byte) (int, error)) outcome {
				peer.Close()
				n, err := read(make([]byte, 16))
				return outcome{n, err}
			},
			want: func(t *testing.T, o outcome) {
				if o.n != 0 || o.err != io.EOF {
					t.Errorf("got %d, %v; want 0, io.EOF", o.n, o.err)
				}
			},
		},
		{
			name: "read deadline",
			do: func(t *testing.T, self, _ *net.TCPConn, read func([]byte) (int, error), _ func([]byte) (int, error)) outcome {
				self.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
				n, err := read(make([]byte, 16))
				return outcome{n, err}
			},
			want: func(t *testing.T, o outcome) {
				var op *net.OpError
				var ne net.Error
				if !errors.As(o.err, &op) || op.Op != "read" || !errors.Is(o.err, os.ErrDeadlineExceeded) ||
					!errors.As(o.err, &ne) || !ne.Timeout() {
					t.Errorf("got %v (%T); want a read *net.OpError timing out with os.ErrDeadlineExceeded", o.err, o.err)
				}
			},
		},
		{
			name: "write deadline",
			do: func(t *testing.T, self, _ *net.TCPConn, _ func([]byte) (int, error), write func([]byte) (int, error)) outcome {
				// The peer never reads: the buffers fill and the write waits.
				// A test starved past the deadline before its first write
				// gets nothing written; it tries again with a longer one.
				b := make([]byte, 64<<20)
				var o outcome
				for _, d := range []time.Duration{50 * time.Millisecond, 500 * time.Millisecond, 5 * time.Second} {
					self.SetWriteDeadline(time.Now().Add(d))
					if o.n, o.err = write(b); o.n > 0 || !errors.Is(o.err, os.ErrDeadlineExceeded) {
						break
					}
				}
				return o
			},
			want: func(t *testing.T, o outcome) {
				var op *net.OpError
				if o.n <= 0 || o.n >= 64<<20 || !errors.As(o.err, &op) || op.Op != "write" || !errors.Is(o.err, os.ErrDeadlineExceeded) {
					t.Errorf("got %d, %v; want part written and a write *net.OpError with os.ErrDeadlineExceeded", o.n, o.err)
				}
			},
		},
		{
			name: "closed",
			do: func(t *testing.T, self, _ *net.TCPConn, read func([]byte) (int, error), _ func([]byte) (int, error)) outcome {
				self.Close()
				n, err := read(make([]byte, 16))
				return outcome{n, err}
			},
			want: func(t *testing.T, o outcome) {
				var op *net.OpError
				if !errors.As(o.err, &op) || op.Op != "read" || !errors.Is(o.err, net.ErrClosed) {
					t.Errorf("got %v; want a read *net.OpError with net.ErrClosed", o.err)
				}
			},
		},
		{
			name: "reset by peer",
			do: func(t *testing.T, self, peer *net.TCPConn, _ func([]byte) (int, error), write func([]byte) (int, error)) outcome {
				peer.SetLinger(0) // close with RST
				peer.Close()
				time.Sleep(10 * time.Millisecond)
				var o outcome
				for range 100 { // the first write may still be taken
					if o.n, o.err = write([]byte("x")); o.err != nil {
						break
					}
					time.Sleep(time.Millisecond)
				}
				return o
			},
			want: func(t *testing.T, o outcome) {
				var op *net.OpError
				var se *os.SyscallError
				if !errors.As(o.err, &op) || op.Op != "write" || !errors.As(o.err, &se) || se.Syscall != "write" ||
					!(errors.Is(o.err, syscall.ECONNRESET) || errors.Is(o.err, syscall.EPIPE)) {
					t.Errorf("got %v; want a write *net.OpError around os.SyscallError(write, ECONNRESET or EPIPE)", o.err)
				}
			},
		},
	}
	for _, tt := range tests {
		for _, raw := range []bool{false, true} {
			name := tt.name + "/net"
			if raw {
				name = tt.name + "/raw"
			}
			t.Run(name, func(t *testing.T) {
				self, peer := tcppair.New(t)
				read, write := self.Read, self.Write
				if raw {
					c := newConn(t, self)
					read, write = c.Read, c.Write
				}
				o := tt.do(t, self, peer, read, write)
				tt.want(t, o)
				if n := opErrors(o.err); o.err != nil && o.err != io.EOF && n != 1 {
					t.Errorf("%v: %d *net.OpError in the chain, want 1 (as the net package's)", o.err, n)
				}
			})
		}
	}
}

// opErrors counts the *net.OpError in err's chain.
func opErrors(err error) int {
	n := 0
	for ; err != nil; err = errors.Unwrap(err) {
		if _, ok := err.(*net.OpError); ok {
			n++
		}
	}
	return n
}

// TestNoAllocations: a read of data that has arrived and a write the
// socket takes allocate nothing (the callbacks are bound once, in Init).
func TestNoAllocations(t *testing.T) {
	a, b := tcppair.New(t)
	ra, rb := newConn(t, a), newConn(t, b)
	msg := make([]byte, 1024)
	buf := make([]byte, 4096)
	allocs := testing.AllocsPerRun(1000, func() {
		if _, err := ra.Write(msg); err != nil {
			t.Fatal(err)
		}
		for got := 0; got < len(msg); {
			n, err := rb.Read(buf)
			if err != nil {
				t.Fatal(err)
			}
			got += n
		}
	})
	if allocs != 0 {
		t.Errorf("a write and its read allocate %v times, want 0", allocs)
	}
}

func TestZeroLength(t *testing.T) {
	a, _ := tcppair.New(t)
	c := newConn(t, a)
	if n, err := c.Read(nil); n != 0 || err != nil {
		t.Errorf("Read(nil) = %d, %v; want 0, nil", n, err)
	}
	if n, err := c.Write(nil); n != 0 || err != nil {
		t.Errorf("Write(nil) = %d, %v; want 0, nil", n, err)
	}
}

func BenchmarkWriteRead1K(b *testing.B) {
	for _, raw := range []bool{false, true} {
		name := "net"
		if raw {
			name = "raw"
		}
		b.Run(name, func(b *testing.B) {
			d, s := tcppair.New(b)
			read, write := s.Read, d.Write
			if raw {
				var rs, rd Conn
				if err := rs.Init(s); err != nil {
					b.Fatal(err)
				}
				if err := rd.Init(d); err != nil {
					b.Fatal(err)
				}
				read, write = rs.Read, rd.Write
			}
			msg := make([]byte, 1024)
			buf := make([]byte, 4096)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := write(msg); err != nil {
					b.Fatal(err)
				}
				for got := 0; got < len(msg); {
					n, err := read(buf)
					if err != nil {
						b.Fatal(err)
					}
					got += n
				}
			}
		})
	}
}
