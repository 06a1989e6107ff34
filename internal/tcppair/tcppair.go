// Package tcppair gives tests both ends of a real loopback TCP connection,
// for code that needs a socket (deadlines, splice, raw system calls) rather
// than net.Pipe's in-memory one.
package tcppair

import (
	"net"
	"testing"
)

// New returns the dialed and the accepted end of one loopback TCP
// connection; both are closed when the test ends. The dial completes
// through the listener's backlog, so no goroutine is needed to accept.
func New(t testing.TB) (dialed, accepted *net.TCPConn) {
	t.Helper()
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dialed, err = net.DialTCP("tcp", nil, ln.Addr().(*net.TCPAddr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dialed.Close() })
	accepted, err = ln.AcceptTCP()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { accepted.Close() })
	return dialed, accepted
}
