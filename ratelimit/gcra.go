// Package ratelimit provides token-bucket rate limits computed with GCRA
// (the generic cell rate algorithm): one timestamp of state per bucket, no
// refill goroutine, exact long-run rate, and a Retry-After that falls out of
// the state. Limiter is one bucket, lock-free; Table is a bounded set of
// buckets by key (client IPs).
package ratelimit

import (
	"math"
	"sync/atomic"
	"time"
)

// Rule is a token bucket: Rate requests per second sustained, Burst at once.
type Rule struct {
	Rate  float64
	Burst int
}

// params are a Rule in GCRA's terms, in nanoseconds.
type params struct {
	interval  int64 // time per token: 1/Rate
	tolerance int64 // how far ahead of now the schedule may run: interval·(Burst−1)
}

func newParams(r Rule) params {
	interval := int64(math.Ceil(float64(time.Second) / r.Rate))
	return params{interval: max(interval, 1), tolerance: max(interval, 1) * int64(max(r.Burst-1, 0))}
}

// admit decides one request at now (unix nanoseconds) given the theoretical
// arrival time tat: it returns the new tat, or how long until admission.
func (p params) admit(tat, now int64) (newTAT int64, wait time.Duration, ok bool) {
	if tat < now {
		tat = now
	}
	if allowAt := tat - p.tolerance; now < allowAt {
		return tat, time.Duration(allowAt - now), false
	}
	return tat + p.interval, 0, true
}

// Limiter is one token bucket. Safe for concurrent use; it never blocks.
// The zero Limiter is unusable; use NewLimiter.
type Limiter struct {
	p   params
	tat atomic.Int64 // theoretical arrival time of the next request, unix ns
}

// NewLimiter returns a full bucket for r.
func NewLimiter(r Rule) *Limiter { return &Limiter{p: newParams(r)} }

// Allow admits one request at now, or returns how long until one would be.
func (l *Limiter) Allow(now time.Time) (ok bool, retryAfter time.Duration) {
	n := now.UnixNano()
	for {
		old := l.tat.Load()
		next, wait, ok := l.p.admit(old, n)
		if !ok {
			return false, wait
		}
		if l.tat.CompareAndSwap(old, next) {
			return true, 0
		}
	}
}
