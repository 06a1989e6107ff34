package supervision

import "time"

// Budget limits restarts: at most Max restarts in any window of length Within.
// The zero Budget allows none. Defaults for the tree are in package config.
type Budget struct {
	// Max is the most restarts allowed inside Within; 0 means never restart.
	Max int
	// Within is the window's length; 0 means forever (Max restarts in total).
	Within time.Duration
}

// Tracker applies a Budget to one child's failures. It has no clock: callers
// pass the failure's instant. The zero Tracker has a zero Budget. Not safe for
// concurrent use.
type Tracker struct {
	Budget Budget
	times  []time.Time // restarts inside the window, oldest first
}

// Allow records a failure at now and reports whether restarting stays within
// the budget. Once it returns false the tracker starts over, so a child that
// is re-created later gets a fresh budget.
func (t *Tracker) Allow(now time.Time) bool {
	if t.Budget.Within > 0 {
		cut := 0
		for cut < len(t.times) && now.Sub(t.times[cut]) >= t.Budget.Within {
			cut++
		}
		t.times = append(t.times[:0], t.times[cut:]...)
	}
	if len(t.times) >= t.Budget.Max {
		t.times = t.times[:0]
		return false
	}
	t.times = append(t.times, now)
	return true
}

// Restarts returns how many restarts are inside the window as of the last Allow.
func (t *Tracker) Restarts() int { return len(t.times) }
