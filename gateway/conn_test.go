package gateway

import (
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// prefetchPair returns a prefetchConn accepted through PrefetchListener and
// the client end of the same connection.
func prefetchPair(t *testing.T) (*prefetchConn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	pl := PrefetchListener(ln)
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c, err := pl.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); client.Close() })
	pc, ok := c.(*prefetchConn)
	if !ok {
		t.Fatalf("accepted %T, want *prefetchConn", c)
	}
	if tcpConn(pc) != pc.TCPConn || tcpConn(pc.TCPConn) != pc.TCPConn {
		t.Fatal("tcpConn does not unwrap to the TCP connection")
	}
	return pc, client
}

func TestPrefetchProbeReadsTheWholeRequestOnce(t *testing.T) {
	pc, client := prefetchPair(t)
	req := "GET /media/a.txt HTTP/1.1\r\nHost: x\r\n\r\n"
	if _, err := client.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	var one [1]byte
	if n, err := pc.Read(one[:]); n != 1 || err != nil || one[0] != 'G' {
		t.Fatalf("probe = %d %q %v", n, one[:n], err)
	}
	if pc.buf == nil {
		t.Fatal("the probe kept nothing: the rest would cost another read")
	}
	// The rest must come from the prefetched buffer, not the socket: with
	// the deadline in the past a socket read would fail.
	if err := pc.SetReadDeadline(time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	rest := make([]byte, 4096)
	n, err := pc.Read(rest)
	if err != nil || string(rest[:n]) != req[1:] {
		t.Fatalf("rest = %q, %v; want %q", rest[:n], err, req[1:])
	}
	if pc.buf != nil {
		t.Fatal("a drained connection still holds its buffer")
	}
	if _, err := pc.Read(rest); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past the buffer = %v, want the socket's deadline error", err)
	}
}

func TestPrefetchServesSmallReadsInOrder(t *testing.T) {
	pc, client := prefetchPair(t)
	if _, err := client.Write([]byte("abcdef")); err != nil {
		t.Fatal(err)
	}
	var got []byte
	var b [2]byte
	for len(got) < 6 {
		n, err := pc.Read(b[:])
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, b[:n]...)
	}
	if string(got) != "abcdef" || pc.buf != nil {
		t.Fatalf("got %q, buffer held %v", got, pc.buf != nil)
	}
}

func TestPrefetchProbeWaitsThenReads(t *testing.T) {
	pc, client := prefetchPair(t)
	go func() {
		time.Sleep(20 * time.Millisecond) // the probe is parked on the poller by then
		_, _ = client.Write([]byte("x"))
	}()
	var one [1]byte
	if n, err := pc.Read(one[:]); n != 1 || err != nil || one[0] != 'x' {
		t.Fatalf("probe = %d %q %v", n, one[:n], err)
	}
	if pc.buf != nil {
		t.Fatal("a drained connection still holds its buffer")
	}
}

func TestPrefetchProbeEndAndDeadline(t *testing.T) {
	pc, client := prefetchPair(t)
	if err := pc.SetReadDeadline(time.Now().Add(10 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	var one [1]byte
	_, err := pc.Read(one[:])
	var op *net.OpError
	if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &op) || op.Op != "read" || errors.As(op.Err, new(*net.OpError)) {
		t.Fatalf("idle probe past its deadline = %v, want a read *net.OpError (one, as the net package's) with os.ErrDeadlineExceeded", err)
	}
	if pc.buf != nil {
		t.Fatal("a probe that read nothing holds a buffer")
	}
	if err := pc.SetReadDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
	client.Close()
	if n, err := pc.Read(one[:]); n != 0 || err != io.EOF {
		t.Fatalf("probe after the peer closed = %d, %v; want io.EOF", n, err)
	}
}

func TestPrefetchAllocatesNothing(t *testing.T) {
	pc, client := prefetchPair(t)
	msg := []byte("GET / HTTP/1.1\r\n\r\n")
	rest := make([]byte, 4096)
	var one [1]byte
	round := func() {
		if _, err := client.Write(msg); err != nil {
			t.Fatal(err)
		}
		if _, err := pc.Read(one[:]); err != nil {
			t.Fatal(err)
		}
		for got := 1; got < len(msg); {
			n, err := pc.Read(rest)
			if err != nil {
				t.Fatal(err)
			}
			got += n
		}
	}
	round() // warm the pool
	if a := testing.AllocsPerRun(200, round); a != 0 {
		t.Fatalf("a probe and its drain allocate %.1f times, want 0", a)
	}
}

func BenchmarkPrefetchProbe(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer client.Close()
	c, err := PrefetchListener(ln).Accept()
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	msg := []byte("GET /media/a.txt HTTP/1.1\r\nHost: x\r\n\r\n")
	rest := make([]byte, 4096)
	var one [1]byte
	b.ReportAllocs()
	for b.Loop() {
		_, _ = client.Write(msg)
		_, _ = c.Read(one[:])
		for got := 1; got < len(msg); {
			n, _ := c.Read(rest)
			got += n
		}
	}
}

// The read deadline is armed lazily: a later deadline asked for after an
// earlier one leaves the earlier one on the socket, and Read re-arms when it
// fires. Whatever the socket has, a read fails with a timeout exactly when
// the deadline last asked for has passed, for probes and for plain reads.
func TestPrefetchLazyReadDeadline(t *testing.T) {
	for _, size := range []int{1, 4096} { // fasthttp's probe, a buffered read
		t.Run("later deadline wins", func(t *testing.T) {
			pc, client := prefetchPair(t)
			mustSetReadDeadline(t, pc, time.Now().Add(20*time.Millisecond))
			mustSetReadDeadline(t, pc, time.Now().Add(10*time.Second))
			go func() {
				time.Sleep(150 * time.Millisecond) // well past the first deadline
				client.Write([]byte("GET / HTTP/1.1\r\n\r\n"))
			}()
			p := make([]byte, size)
			if n, err := pc.Read(p); err != nil || n == 0 {
				t.Fatalf("read under the later deadline = %d, %v; want data", n, err)
			}
		})
		t.Run("cleared deadline wins", func(t *testing.T) {
			pc, client := prefetchPair(t)
			mustSetReadDeadline(t, pc, time.Now().Add(20*time.Millisecond))
			mustSetReadDeadline(t, pc, time.Time{})
			go func() {
				time.Sleep(150 * time.Millisecond)
				client.Write([]byte("x"))
			}()
			p := make([]byte, size)
			if n, err := pc.Read(p); err != nil || n != 1 {
				t.Fatalf("read with the deadline cleared = %d, %v; want 1 byte", n, err)
			}
		})
		t.Run("asked deadline fires", func(t *testing.T) {
			pc, _ := prefetchPair(t)
			mustSetReadDeadline(t, pc, time.Now().Add(20*time.Millisecond))
			want := time.Now().Add(120 * time.Millisecond)
			mustSetReadDeadline(t, pc, want)
			p := make([]byte, size)
			_, err := pc.Read(p)
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("read past the deadline = %v, want a deadline error", err)
			}
			if now := time.Now(); now.Before(want) {
				t.Fatalf("timed out %v before the deadline asked for", want.Sub(now))
			}
		})
		t.Run("earlier deadline armed at once", func(t *testing.T) {
			pc, _ := prefetchPair(t)
			mustSetReadDeadline(t, pc, time.Now().Add(10*time.Second))
			want := time.Now().Add(30 * time.Millisecond)
			mustSetReadDeadline(t, pc, want)
			if _, err := pc.Read(make([]byte, size)); !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("read past the earlier deadline = %v, want a deadline error", err)
			}
		})
	}
}

func mustSetReadDeadline(t *testing.T, c net.Conn, d time.Time) {
	t.Helper()
	if err := c.SetReadDeadline(d); err != nil {
		t.Fatal(err)
	}
}
