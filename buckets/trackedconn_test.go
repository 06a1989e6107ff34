package buckets

import (
	"errors"
	"io"
	"net"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"yatagarasu/internal/tcppair"
)

// trackedPair returns a trackedConn dialed to a loopback listener and the
// server end of the same connection.
func trackedPair(t *testing.T) (*trackedConn, net.Conn, *atomic.Int64) {
	t.Helper()
	c, srv := tcppair.New(t)
	var open atomic.Int64
	tc := track(c, &open).(*trackedConn)
	t.Cleanup(func() { tc.Close() })
	return tc, srv, &open
}

// The per-attempt deadline is armed lazily: a later attempt's deadline leaves
// the earlier one on the socket, and reads and writes re-arm when it fires,
// so neither fails before the deadline last asked for, and both fail once
// it has passed.
func TestTrackedConnLazyDeadline(t *testing.T) {
	t.Run("later attempt deadline wins", func(t *testing.T) {
		tc, srv, _ := trackedPair(t)
		if err := tc.SetDeadline(time.Now().Add(20 * time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		if err := tc.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond) // the first deadline has fired
		go func() {
			var b [5]byte
			io.ReadFull(srv, b[:])
			time.Sleep(100 * time.Millisecond)
			srv.Write([]byte("pong"))
		}()
		if _, err := tc.Write([]byte("ping\n")); err != nil {
			t.Fatalf("write under the later deadline: %v", err)
		}
		var b [4]byte
		if _, err := io.ReadFull(tc, b[:]); err != nil {
			t.Fatalf("read under the later deadline: %v", err)
		}
	})
	t.Run("asked deadline fires", func(t *testing.T) {
		tc, _, _ := trackedPair(t)
		tc.SetDeadline(time.Now().Add(20 * time.Millisecond))
		want := time.Now().Add(120 * time.Millisecond)
		tc.SetDeadline(want)
		var b [1]byte
		_, err := tc.Read(b[:])
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("read past the deadline = %v, want a deadline error", err)
		}
		if now := time.Now(); now.Before(want) {
			t.Fatalf("timed out %v before the deadline asked for", want.Sub(now))
		}
		if _, err := tc.Write([]byte("x")); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("write past the deadline = %v, want a deadline error", err)
		}
	})
	t.Run("read deadline before the attempt deadline cuts", func(t *testing.T) {
		tc, _, _ := trackedPair(t)
		tc.SetDeadline(time.Now().Add(10 * time.Second))
		if err := tc.SetReadDeadline(time.Now().Add(30 * time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		var b [1]byte
		if _, err := tc.Read(b[:]); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("read past the read deadline = %v, want a deadline error", err)
		}
	})
	t.Run("close counts once", func(t *testing.T) {
		tc, _, open := trackedPair(t)
		tc.Close()
		tc.Close()
		if n := open.Load(); n != 0 {
			t.Fatalf("open = %d after closing twice, want 0", n)
		}
	})
}
