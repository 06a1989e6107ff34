package buckets_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"yatagarasu/buckets"
)

// almostOne is the largest jitter Delay can be given: just below 1.
var almostOne = math.Nextafter(1, 0)

func TestRetryPolicyDelay(t *testing.T) {
	p := buckets.RetryPolicy{MaxAttempts: 6, Initial: 100 * time.Millisecond, Max: time.Second}
	tests := []struct {
		name       string
		n          int
		jitter     float64
		retryAfter time.Duration
		// want is the delay; when wantMax is set, the delay is in [want, wantMax].
		want, wantMax time.Duration
	}{
		{name: "first retry, no jitter", n: 1, want: 100 * time.Millisecond},
		{name: "first retry, half jitter", n: 1, jitter: 0.5, want: 125 * time.Millisecond},
		{name: "first retry, full jitter stays under +50%", n: 1, jitter: almostOne, want: 150*time.Millisecond - time.Microsecond, wantMax: 150*time.Millisecond - time.Nanosecond},
		{name: "second retry doubles", n: 2, want: 200 * time.Millisecond},
		{name: "third retry", n: 3, want: 400 * time.Millisecond},
		{name: "fourth retry", n: 4, want: 800 * time.Millisecond},
		{name: "fifth retry capped at Max", n: 5, want: time.Second},
		{name: "capped base plus half jitter", n: 5, jitter: 0.5, want: 1250 * time.Millisecond},
		{name: "capped base plus full jitter", n: 5, jitter: almostOne, want: 1500*time.Millisecond - time.Microsecond, wantMax: 1500*time.Millisecond - time.Nanosecond},
		{name: "n=40 does not overflow", n: 40, want: time.Second},
		{name: "n=63 does not overflow", n: 63, want: time.Second},
		{name: "n=64 does not overflow", n: 64, want: time.Second},
		{name: "n=1000 does not overflow", n: 1000, want: time.Second},
		{name: "n=MaxInt does not overflow", n: math.MaxInt, want: time.Second},
		{name: "n=0 stays within [Initial, Max]", n: 0, want: 100 * time.Millisecond, wantMax: time.Second},
		{name: "negative n stays within [Initial, Max]", n: -1, want: 100 * time.Millisecond, wantMax: time.Second},
		{name: "longer Retry-After raises the delay", n: 1, retryAfter: 300 * time.Millisecond, want: 300 * time.Millisecond},
		{name: "Retry-After above Max is capped at Max", n: 1, retryAfter: 5 * time.Second, want: time.Second},
		{name: "Retry-After equal to the delay", n: 1, jitter: 0.5, retryAfter: 125 * time.Millisecond, want: 125 * time.Millisecond},
		{name: "shorter Retry-After is ignored", n: 3, retryAfter: 200 * time.Millisecond, want: 400 * time.Millisecond},
		{name: "capped Retry-After below a jittered delay is ignored", n: 5, jitter: 0.5, retryAfter: 2 * time.Second, want: 1250 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := p.Delay(tt.n, tt.jitter, tt.retryAfter)
			if tt.wantMax == 0 {
				if got != tt.want {
					t.Errorf("Delay(%d, %v, %v) = %v, want %v", tt.n, tt.jitter, tt.retryAfter, got, tt.want)
				}
				return
			}
			if got < tt.want || got > tt.wantMax {
				t.Errorf("Delay(%d, %v, %v) = %v, want within [%v, %v]", tt.n, tt.jitter, tt.retryAfter, got, tt.want, tt.wantMax)
			}
		})
	}
}

// TestRetryPolicyDelayDoesNotWrap: Initial·2^(n−1) must saturate at Max, not
// wrap around int64 into a short positive delay.
func TestRetryPolicyDelayDoesNotWrap(t *testing.T) {
	tests := []struct {
		name string
		p    buckets.RetryPolicy
		n    int
		want time.Duration
	}{
		{
			name: "product wraps negative",
			p:    buckets.RetryPolicy{Initial: 5 * time.Second, Max: time.Minute},
			n:    32,
			want: time.Minute,
		},
		{
			// (2^33+1)·2^31 = 2^64+2^31 wraps to 2^31 ns ≈ 2.147s.
			name: "product wraps to a small positive delay",
			p:    buckets.RetryPolicy{Initial: 1<<33 + 1, Max: 30 * time.Second},
			n:    32,
			want: 30 * time.Second,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.p.Delay(tt.n, 0, 0); got != tt.want {
				t.Errorf("%+v.Delay(%d, 0, 0) = %v, want %v (Max)", tt.p, tt.n, got, tt.want)
			}
		})
	}
}

// TestRetryPolicyDelayBounds checks base ≤ Delay ≤ 1.5·base, with base =
// min(Initial·2^(n−1), Max), for n in 1..20 and jitter in [0, 1).
func TestRetryPolicyDelayBounds(t *testing.T) {
	p := buckets.RetryPolicy{Initial: 100 * time.Millisecond, Max: time.Second}
	rng := rand.New(rand.NewPCG(1, 2))
	jitters := []float64{0, 0.25, 0.5, almostOne}
	for range 200 {
		jitters = append(jitters, rng.Float64())
	}
	for n := 1; n <= 20; n++ {
		base := p.Initial
		for range n - 1 {
			base = min(2*base, p.Max)
		}
		for _, j := range jitters {
			d := p.Delay(n, j, 0)
			if d < base || d > base+base/2 {
				t.Fatalf("Delay(%d, %v, 0) = %v, want within [%v, %v]", n, j, d, base, base+base/2)
			}
			if j == 0 && d != base {
				t.Fatalf("Delay(%d, 0, 0) = %v, want the base %v", n, d, base)
			}
		}
		if n > 1 {
			if d, dPrev := p.Delay(n, 0, 0), p.Delay(n-1, 0, 0); d < dPrev {
				t.Fatalf("Delay(%d, 0, 0) = %v, want at least Delay(%d, 0, 0) = %v", n, d, n-1, dPrev)
			}
		}
	}
}

func TestRetryableStatus(t *testing.T) {
	tests := []struct {
		name   string
		status int
		want   bool
	}{
		{"500 InternalError", 500, true},
		{"502 Bad Gateway", 502, true},
		{"503 SlowDown", 503, true},
		{"504 Gateway Timeout", 504, true},
		{"400 Bad Request", 400, false},
		{"403 Forbidden", 403, false},
		{"404 NoSuchKey", 404, false},
		{"409 Conflict", 409, false},
		{"412 PreconditionFailed", 412, false},
		{"416 InvalidRange", 416, false},
		{"429 Too Many Requests", 429, false},
		{"501 NotImplemented", 501, false},
		{"200 OK", 200, false},
		{"206 Partial Content", 206, false},
		{"304 Not Modified", 304, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := buckets.RetryableStatus(tt.status); got != tt.want {
				t.Errorf("RetryableStatus(%d) = %v, want %v", tt.status, got, tt.want)
			}
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) // a Thursday
	tests := []struct {
		name string
		in   string
		want time.Duration
	}{
		{"seconds", "2", 2 * time.Second},
		{"zero", "0", 0},
		{"negative", "-1", 0},
		{"empty", "", 0},
		{"garbage", "soon", 0},
		{"fraction", "1.5", 0},
		{"a day", "86400", 24 * time.Hour},
		{"over a day is capped at 24h", "86401", 24 * time.Hour},
		{"huge number is capped at 24h", "1000000000", 24 * time.Hour},
		{"number beyond int64 is capped at 24h", "99999999999999999999", 24 * time.Hour},
		{"negative beyond int64", "-99999999999999999999", 0},
		{"HTTP date 30s ahead", "Thu, 01 Jan 2026 00:00:30 GMT", 30 * time.Second},
		{"HTTP date now", "Thu, 01 Jan 2026 00:00:00 GMT", 0},
		{"HTTP date in the past", "Wed, 31 Dec 2025 23:59:30 GMT", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := buckets.ParseRetryAfter([]byte(tt.in), now); got != tt.want {
				t.Errorf("ParseRetryAfter(%q, %v) = %v, want %v", tt.in, now, got, tt.want)
			}
		})
	}
	if got := buckets.ParseRetryAfter(nil, now); got != 0 {
		t.Errorf("ParseRetryAfter(nil, %v) = %v, want 0", now, got)
	}
}

func TestRetryBudget(t *testing.T) {
	const maxGrants = 1_000_000 // stop counting a budget that never refuses
	ticks := func(n int, requests uint64) func(*buckets.RetryBudget) {
		return func(rb *buckets.RetryBudget) {
			for range n {
				rb.Tick(requests)
			}
		}
	}
	grant := func(n int) func(*buckets.RetryBudget) {
		return func(rb *buckets.RetryBudget) {
			for range n {
				rb.Allow(0)
			}
		}
	}
	seq := func(fs ...func(*buckets.RetryBudget)) func(*buckets.RetryBudget) {
		return func(rb *buckets.RetryBudget) {
			for _, f := range fs {
				f(rb)
			}
		}
	}
	tests := []struct {
		name                  string
		percent, floor, slots int
		tick                  time.Duration
		setup                 func(*buckets.RetryBudget)
		pending               uint64
		want                  int // retries granted before the first refusal
	}{
		{name: "idle: the floor alone, 10/s over 10s", percent: 20, floor: 10, slots: 100, tick: 100 * time.Millisecond, want: 100},
		{name: "pending requests add 20%", percent: 20, floor: 10, slots: 100, tick: 100 * time.Millisecond, pending: 1000, want: 200 + 100},
		{name: "ticked requests add 20%", percent: 20, floor: 10, slots: 100, tick: 100 * time.Millisecond, setup: ticks(1, 1000), want: 200 + 100},
		{name: "ticked and pending requests add up", percent: 20, floor: 10, slots: 100, tick: 100 * time.Millisecond, setup: ticks(1, 500), pending: 500, want: 200 + 100},
		{name: "requests spread over the window", percent: 20, floor: 10, slots: 100, tick: 100 * time.Millisecond, setup: ticks(100, 10), want: 200 + 100},
		{
			name: "requests in the oldest slot still count", percent: 20, floor: 10, slots: 100, tick: 100 * time.Millisecond,
			setup: seq(ticks(1, 1000), ticks(99, 0)), want: 200 + 100,
		},
		{
			name: "requests leave the window", percent: 20, floor: 10, slots: 100, tick: 100 * time.Millisecond,
			setup: seq(ticks(1, 1000), ticks(100, 0)), want: 100,
		},
		{
			name: "grants of the open slot count", percent: 20, floor: 10, slots: 100, tick: 100 * time.Millisecond,
			setup: grant(40), want: 60,
		},
		{
			name: "grants count across a tick", percent: 20, floor: 10, slots: 100, tick: 100 * time.Millisecond,
			setup: seq(grant(40), ticks(1, 0), grant(20)), want: 40,
		},
		{
			// The tick that closes the grants' slot is the first of 100:
			// that slot is still the oldest in the window.
			name: "grants count until their slot is pushed out", percent: 20, floor: 10, slots: 100, tick: 100 * time.Millisecond,
			setup: seq(grant(100), ticks(100, 0)), want: 0,
		},
		{
			name: "closed slot then 100 ticks of zero: fresh again", percent: 20, floor: 10, slots: 100, tick: 100 * time.Millisecond,
			setup: seq(grant(100), ticks(1, 0), ticks(100, 0)), want: 100,
		},
		{name: "percent 100: requests plus floor", percent: 100, floor: 10, slots: 100, tick: 100 * time.Millisecond, setup: ticks(1, 50), want: 50 + 100},
		{name: "percent 100 with pending requests", percent: 100, floor: 10, slots: 100, tick: 100 * time.Millisecond, pending: 50, want: 50 + 100},
		{name: "no floor, no requests: no retries", percent: 20, floor: 0, slots: 100, tick: 100 * time.Millisecond, want: 0},
		{name: "no floor: 20% only", percent: 20, floor: 0, slots: 100, tick: 100 * time.Millisecond, pending: 1000, want: 200},
		{name: "floor over a 1s window", percent: 20, floor: 10, slots: 10, tick: 100 * time.Millisecond, want: 10},
		// MinPerSecond per second of the window: a 0.5s window has a floor
		// of 5, not 0.
		{name: "floor over a sub-second window", percent: 20, floor: 10, slots: 5, tick: 100 * time.Millisecond, want: 5},
		// 33 ticks of 300ms (WindowLength/Tick with a 300ms tick) are 9.9s:
		// a floor of 99, not 90.
		{name: "floor over a fractional window", percent: 20, floor: 10, slots: 33, tick: 300 * time.Millisecond, want: 99},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rb := buckets.NewRetryBudget(tt.percent, tt.floor, tt.slots, tt.tick)
			if tt.setup != nil {
				tt.setup(rb)
			}
			got := 0
			for got < maxGrants && rb.Allow(tt.pending) {
				got++
			}
			if got != tt.want {
				t.Errorf("NewRetryBudget(%d, %d, %d, %v) after setup: Allow(%d) granted %d retries before refusing, want %d",
					tt.percent, tt.floor, tt.slots, tt.tick, tt.pending, got, tt.want)
			}
		})
	}
}

func ExampleRetryPolicy_Delay() {
	p := buckets.RetryPolicy{MaxAttempts: 6, Initial: 100 * time.Millisecond, Max: time.Second}
	for n := 1; n < p.MaxAttempts; n++ {
		// jitter is uniform in [0, 1): it adds up to half the base.
		fmt.Printf("retry %d: %v, %v with jitter 0.5\n", n, p.Delay(n, 0, 0), p.Delay(n, 0.5, 0))
	}
	// S3's Retry-After raises the delay, capped at Max.
	fmt.Println(p.Delay(1, 0, 700*time.Millisecond))
	fmt.Println(p.Delay(1, 0, time.Minute))
	// Output:
	// retry 1: 100ms, 125ms with jitter 0.5
	// retry 2: 200ms, 250ms with jitter 0.5
	// retry 3: 400ms, 500ms with jitter 0.5
	// retry 4: 800ms, 1s with jitter 0.5
	// retry 5: 1s, 1.25s with jitter 0.5
	// 700ms
	// 1s
}

func BenchmarkRetryBudgetAllow(b *testing.B) {
	b.Run("granted", func(b *testing.B) {
		rb := buckets.NewRetryBudget(20, 10, 100, 100*time.Millisecond)
		b.ReportAllocs()
		for b.Loop() {
			rb.Allow(math.MaxUint32) // 20% of 4e9 pending: never runs out
		}
	})
	b.Run("refused", func(b *testing.B) {
		rb := buckets.NewRetryBudget(20, 0, 100, 100*time.Millisecond)
		b.ReportAllocs()
		for b.Loop() {
			rb.Allow(0)
		}
	})
}
