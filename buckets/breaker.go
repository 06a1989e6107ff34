package buckets

import (
	"fmt"
	"time"
)

// BreakerState is a circuit breaker's state.
type BreakerState int32

const (
	// BreakerClosed: attempts go through; failures are counted.
	BreakerClosed BreakerState = iota
	// BreakerOpen: requests fail fast (503) until the timeout expires.
	BreakerOpen
	// BreakerHalfOpen: a few probes go through; they decide.
	BreakerHalfOpen
)

// String returns "closed", "open" or "half-open".
func (s BreakerState) String() string {
	switch s {
	case BreakerClosed:
		return "closed"
	case BreakerOpen:
		return "open"
	case BreakerHalfOpen:
		return "half-open"
	}
	return fmt.Sprintf("BreakerState(%d)", int32(s))
}

// BreakerSettings configure a Breaker. Zero values take the defaults named
// beside each field.
type BreakerSettings struct {
	// FailureThreshold consecutive failures open a closed breaker. Zero: 5.
	FailureThreshold uint32
	// SuccessThreshold successes close a half-open breaker. Zero: 2.
	SuccessThreshold uint32
	// Timeout is how long the breaker stays open. Zero: 60s.
	Timeout time.Duration
	// HalfOpenMaxRequests is the most probes admitted while half-open; at
	// least SuccessThreshold (zero or less takes SuccessThreshold).
	HalfOpenMaxRequests uint32
	// FailureRate, when positive, also opens a closed breaker when at least
	// this share of a window's attempts failed. Zero: off.
	FailureRate float64
	// MinimumRequests attempts must be in the window before FailureRate
	// judges. Zero: 20.
	MinimumRequests uint32
}

func (s BreakerSettings) withDefaults() BreakerSettings {
	if s.FailureThreshold == 0 {
		s.FailureThreshold = 5
	}
	if s.SuccessThreshold == 0 {
		s.SuccessThreshold = 2
	}
	if s.Timeout <= 0 {
		s.Timeout = 60 * time.Second
	}
	// Fewer probes than SuccessThreshold could never close the breaker.
	s.HalfOpenMaxRequests = max(s.HalfOpenMaxRequests, s.SuccessThreshold)
	if s.MinimumRequests == 0 {
		s.MinimumRequests = 20
	}
	return s
}

// Counts are a breaker's tallies in its current generation.
type Counts struct {
	Requests             uint32
	TotalSuccesses       uint32
	TotalFailures        uint32
	ConsecutiveSuccesses uint32
	ConsecutiveFailures  uint32
}

func (c *Counts) onSuccess() {
	c.Requests++
	c.TotalSuccesses++
	c.ConsecutiveSuccesses++
	c.ConsecutiveFailures = 0
}

func (c *Counts) onFailure() {
	c.Requests++
	c.TotalFailures++
	c.ConsecutiveFailures++
	c.ConsecutiveSuccesses = 0
}

// Breaker is the circuit breaker state machine, in the manner of
// sony/gobreaker: Closed → Open after FailureThreshold consecutive failures
// (or a failure rate); Open → HalfOpen once Timeout has passed; HalfOpen →
// Closed after SuccessThreshold successes, → Open on any failure. Every state
// change starts a new generation, and a result reported for an earlier
// generation is ignored (a slow request from before the breaker opened must
// not close it). Time is an argument: nothing here reads a clock.
//
// The zero Breaker is unusable; use NewBreaker. Not safe for concurrent use:
// it belongs to the bucket's supervisor, which feeds it the hot path's edge
// events and publishes its state.
type Breaker struct {
	s          BreakerSettings
	state      BreakerState
	generation uint64
	counts     Counts
	expiry     time.Time // when an open breaker turns half-open
	probes     uint32    // probes admitted in this half-open generation
	opened     uint64    // times opened, for metrics
}

// NewBreaker returns a closed breaker.
func NewBreaker(s BreakerSettings) *Breaker {
	return &Breaker{s: s.withDefaults()}
}

// Settings returns the settings in force (defaults applied).
func (b *Breaker) Settings() BreakerSettings { return b.s }

// State returns the state and generation at now, first turning an expired
// open breaker half-open.
func (b *Breaker) State(now time.Time) (BreakerState, uint64) {
	if b.state == BreakerOpen && !now.Before(b.expiry) {
		b.toState(BreakerHalfOpen, now)
	}
	return b.state, b.generation
}

// Counts returns the tallies of the current generation.
func (b *Breaker) Counts() Counts { return b.counts }

// Expiry is when an open breaker turns half-open (zero otherwise).
func (b *Breaker) Expiry() time.Time { return b.expiry }

// Opened counts how many times the breaker has opened.
func (b *Breaker) Opened() uint64 { return b.opened }

// Allow admits an attempt at now: always when closed, never when open, and
// up to HalfOpenMaxRequests probes when half-open. It returns the generation
// the attempt's result must be reported with.
func (b *Breaker) Allow(now time.Time) (generation uint64, ok bool) {
	state, gen := b.State(now)
	switch state {
	case BreakerOpen:
		return gen, false
	case BreakerHalfOpen:
		if b.probes >= b.s.HalfOpenMaxRequests {
			return gen, false
		}
		b.probes++
	}
	return gen, true
}

// OnResult reports an attempt admitted in generation gen. Results from an
// earlier generation are ignored.
func (b *Breaker) OnResult(now time.Time, gen uint64, failed bool) {
	state, cur := b.State(now)
	if gen != cur {
		return
	}
	if failed {
		b.counts.onFailure()
		switch state {
		case BreakerClosed:
			if b.counts.ConsecutiveFailures >= b.s.FailureThreshold {
				b.toState(BreakerOpen, now)
			}
		case BreakerHalfOpen:
			b.toState(BreakerOpen, now)
		}
		return
	}
	b.counts.onSuccess()
	if state == BreakerHalfOpen && b.counts.ConsecutiveSuccesses >= b.s.SuccessThreshold {
		b.toState(BreakerClosed, now)
	}
}

// Trip opens a closed breaker of generation gen at once: the hot path counted
// FailureThreshold consecutive failures itself (it reports no successes, so
// the breaker's own consecutive count cannot see them). A trip for an earlier
// generation, or of a breaker that is not closed, is ignored.
func (b *Breaker) Trip(now time.Time, gen uint64) bool {
	if state, cur := b.State(now); state != BreakerClosed || gen != cur {
		return false
	}
	b.toState(BreakerOpen, now)
	return true
}

// OnWindow judges the failure rate over a window's totals (closed only).
func (b *Breaker) OnWindow(now time.Time, t Totals) {
	if b.s.FailureRate <= 0 || t.Attempts < uint64(b.s.MinimumRequests) {
		return
	}
	// Divide, not multiply: 0.55*100 is 55.00000000000001 in floating point.
	if state, _ := b.State(now); state == BreakerClosed && float64(t.Failures)/float64(t.Attempts) >= b.s.FailureRate {
		b.toState(BreakerOpen, now)
	}
}

func (b *Breaker) toState(s BreakerState, now time.Time) {
	b.state = s
	b.generation++
	b.counts = Counts{}
	b.probes = 0
	b.expiry = time.Time{}
	if s == BreakerOpen {
		b.expiry = now.Add(b.s.Timeout)
		b.opened++
	}
}
