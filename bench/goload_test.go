package main

import (
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

// TestGoLoadReconnect: the closed loop keeps its connections for the whole
// run by default, and with Reconnect dials a new one after that many
// responses on each, losing no request.
func TestGoLoadReconnect(t *testing.T) {
	var dialled atomic.Int64
	url := "http://" + serveHTTP(t, &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) }),
		ConnState: func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				dialled.Add(1)
			}
		},
	}) + "/bench/1k"

	for _, tc := range []struct {
		reconnect          int64
		minConns, maxConns int64
	}{
		{0, 2, 2},
		// 100 requests over two connections of 10 each: ceil(a/10) +
		// ceil(b/10) for a + b = 100.
		{10, 10, 11},
	} {
		dialled.Store(0)
		r, err := goLoad(loadSpec{URL: url, Conns: 2, Duration: time.Minute, Requests: 100, Reconnect: tc.reconnect})
		if err != nil {
			t.Fatal(err)
		}
		if r.Requests != 100 || r.Errors != 0 {
			t.Errorf("reconnect %d: %d requests, %d errors; want 100, 0", tc.reconnect, r.Requests, r.Errors)
		}
		if n := dialled.Load(); n < tc.minConns || n > tc.maxConns {
			t.Errorf("reconnect %d: %d connections, want %d-%d", tc.reconnect, n, tc.minConns, tc.maxConns)
		}
	}
}

// serveHTTP serves srv on a free loopback port until the test ends and
// returns its address.
func serveHTTP(t *testing.T, srv *http.Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}
