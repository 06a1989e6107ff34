package auth

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that no test leaves a goroutine behind: KeySet.Refresh
// talks HTTP, and every httptest server a test starts must be closed.
//
// KeySet's client uses http.DefaultTransport, which is process-wide and not
// owned by a KeySet: after a fetch it keeps the connection to the JWKS server
// idle for reuse, and the connection's readLoop/writeLoop goroutines exit only
// when the server side closes it, a moment after httptest.Server.Close. Those
// two functions are ignored; any other goroutine still running is a leak.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreAnyFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreAnyFunction("net/http.(*persistConn).writeLoop"),
	)
}
