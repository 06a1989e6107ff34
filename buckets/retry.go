package buckets

import (
	"errors"
	"net/http"
	"strconv"
	"time"
)

// RetryPolicy is the retry schedule of one bucket ([buckets.s3.retry]).
type RetryPolicy struct {
	// MaxAttempts counts all attempts, the first included; 1 means no retry.
	MaxAttempts int
	// Initial is the base delay before the first retry; Max caps the base
	// delay and S3's Retry-After.
	Initial, Max time.Duration
}

// Delay returns the wait before retry n (n = 1 before the second attempt):
// base = min(Initial·2^(n−1), Max), plus jitter·base/2 on top (jitter in
// [0, 1)), so never below the base; raised to retryAfter (S3's Retry-After,
// capped at Max) when that is longer.
func (p RetryPolicy) Delay(n int, jitter float64, retryAfter time.Duration) time.Duration {
	base := p.Max
	if n >= 1 && n <= 63 && p.Initial > 0 && p.Initial <= p.Max>>(n-1) {
		base = p.Initial << (n - 1) // cannot overflow: at most Max
	}
	d := base + time.Duration(jitter*float64(base)/2)
	if ra := min(retryAfter, p.Max); ra > d {
		d = ra
	}
	return d
}

// RetryableStatus reports whether an S3 answer with this status is worth
// another attempt: 500 (InternalError), 502, 503 (SlowDown, ServiceUnavailable)
// and 504. Never a 4xx: the request itself is at fault, or the answer (404,
// 412, 416…) is final.
func RetryableStatus(status int) bool {
	switch status {
	case 500, 502, 503, 504:
		return true
	}
	return false
}

// maxRetryAfter caps what a Retry-After can ask for.
const maxRetryAfter = 24 * time.Hour

// ParseRetryAfter reads a Retry-After header: delay-seconds or an HTTP date
// (any of the three forms RFC 9110 allows), capped at 24h. It returns 0 when
// v is empty, malformed or in the past.
func ParseRetryAfter(v []byte, now time.Time) time.Duration {
	if len(v) == 0 {
		return 0
	}
	// Atoi clamps out-of-range numbers and says so: a huge delay is the cap.
	if secs, err := strconv.Atoi(string(v)); err == nil || errors.Is(err, strconv.ErrRange) {
		if secs <= 0 {
			return 0
		}
		return min(time.Duration(min(secs, 86400))*time.Second, maxRetryAfter)
	}
	if t, err := http.ParseTime(string(v)); err == nil {
		if d := t.Sub(now); d > 0 {
			return min(d, maxRetryAfter)
		}
	}
	return 0
}

// RetryBudget caps retries: over the last window, retries may not exceed
// Percent% of the requests started plus MinPerSecond per second of the
// window, so an outage is not multiplied. It has no clock: its owner pushes
// one sample per tick (requests started since the last tick) and asks Allow
// for each retry. The zero RetryBudget is unusable; use NewRetryBudget. Not
// safe for concurrent use: it belongs to the bucket's supervisor.
type RetryBudget struct {
	percent  uint64
	floor    uint64 // MinPerSecond × window seconds
	requests *Window
	retries  *Window
	granted  uint64 // retries granted since the last tick
}

// NewRetryBudget returns a budget over slots ticks of tick each.
func NewRetryBudget(percent, minPerSecond int, slots int, tick time.Duration) *RetryBudget {
	window := time.Duration(slots) * tick
	return &RetryBudget{
		percent:  uint64(percent),
		floor:    uint64(minPerSecond) * uint64(window) / uint64(time.Second),
		requests: NewWindow(slots),
		retries:  NewWindow(slots),
	}
}

// Tick closes the current slot with the requests started in it.
func (r *RetryBudget) Tick(requestsStarted uint64) {
	r.requests.Push(Totals{Attempts: requestsStarted})
	r.retries.Push(Totals{Attempts: r.granted})
	r.granted = 0
}

// Allow grants one retry if the budget has room, counting the requests
// started since the last tick (pending) as in the window.
func (r *RetryBudget) Allow(pending uint64) bool {
	requests := r.requests.Sum().Attempts + pending
	retries := r.retries.Sum().Attempts + r.granted
	if retries+1 > requests*r.percent/100+r.floor {
		return false
	}
	r.granted++
	return true
}
