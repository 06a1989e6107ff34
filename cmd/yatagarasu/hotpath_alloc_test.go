//go:build !race

package main

import "testing"

// TestHotPathAllocatesNothing: a keep-alive client's GET through a whole node
// (routing, screening, admission, signing, the upstream round trip, streaming
// the body back, metrics) allocates nothing once warm: for a public bucket
// without the access log, as the performance issue requires, and also with
// the access log on and with JWT, rate limits, concurrency limits and the
// breaker configured. AllocsPerRun counts the whole process; the origin and
// the client work on fixed buffers.
//
// With release_idle_buffers (the default) fasthttp reads each request's first
// byte into a one-byte buffer that escapes to the heap (acquireByteReader):
// exactly one allocation of 8 bytes, and no more.
func TestHotPathAllocatesNothing(t *testing.T) {
	for v, hv := range hotPathVariants {
		for _, release := range []bool{false, true} {
			name, want := hv.name+"/keep_idle_buffers", 0.0
			if release {
				name, want = hv.name+"/release_idle_buffers", 1
			}
			t.Run(name, func(t *testing.T) {
				c := startHotPath(t, v, 1024, release)
				for range 100 { // warm the pools, the connection and the token cache
					if status, err := c.do(); err != nil || status != 200 {
						t.Fatalf("GET = %d, %v", status, err)
					}
				}
				n := testing.AllocsPerRun(1000, func() {
					if status, err := c.do(); err != nil || status != 200 {
						t.Fatalf("GET = %d, %v", status, err)
					}
				})
				if n != want {
					t.Errorf("%v allocations per proxied GET, want %v", n, want)
				}
			})
		}
	}
}
