//go:build !race

package gateway

import (
	"testing"
	"time"
)

// TestAdmissionAllocatesNothing: the whole admission chain (limits, framing,
// path decoding and safety, routing, global, per-IP and bucket rate limits,
// the bucket's concurrency slot) for a request that passes it.
func TestAdmissionAllocatesNothing(t *testing.T) {
	g, ctx := admissionEnv(t)
	bp := &pathBufs{}
	now := ctx.Time()
	admitOnce(g, ctx, bp, now) // warm the buffers
	if n := testing.AllocsPerRun(1000, func() {
		now = now.Add(time.Microsecond)
		if !admitOnce(g, ctx, bp, now) {
			t.Fatal("the request was refused")
		}
	}); n != 0 {
		t.Fatalf("admission allocates %v times per request, want 0", n)
	}
}
