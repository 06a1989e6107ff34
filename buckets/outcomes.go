package buckets

import (
	"sync/atomic"
	"time"
)

// Totals counts upstream attempts and how many of them failed (5xx, timeout,
// connection error; a 4xx is a success: S3 answered).
type Totals struct {
	Attempts uint64
	Failures uint64
}

// Sub returns t - o, field by field.
func (t Totals) Sub(o Totals) Totals {
	return Totals{Attempts: t.Attempts - o.Attempts, Failures: t.Failures - o.Failures}
}

// Outcomes accumulates attempt outcomes. Safe for concurrent use: the hot path
// adds without locks, the owner reads with Load and keeps its own last sample.
type Outcomes struct {
	attempts atomic.Uint64
	failures atomic.Uint64
}

// record counts one attempt.
func (o *Outcomes) record(failed bool) {
	o.attempts.Add(1)
	if failed {
		o.failures.Add(1)
	}
}

// Load returns the totals since the bucket was created.
func (o *Outcomes) Load() Totals {
	return Totals{Attempts: o.attempts.Load(), Failures: o.failures.Load()}
}

// WindowLength is how far back Snapshot.Recent looks.
const WindowLength = 10 * time.Second

// Window sums the last n samples pushed into it: the owner pushes one delta
// per tick, so a window of n slots covers n ticks. It has no clock of its own.
// The zero Window is unusable; use NewWindow. Not safe for concurrent use: it
// belongs to the bucket's owner.
type Window struct {
	slots []Totals
	next  int
	sum   Totals
}

// NewWindow returns a window over the last n pushes (n ≥ 1).
func NewWindow(n int) *Window {
	return &Window{slots: make([]Totals, max(n, 1))}
}

// Push adds the newest sample and forgets the oldest.
func (w *Window) Push(t Totals) {
	old := w.slots[w.next]
	w.sum = w.sum.Sub(old)
	w.sum.Attempts += t.Attempts
	w.sum.Failures += t.Failures
	w.slots[w.next] = t
	w.next = (w.next + 1) % len(w.slots)
}

// Sum returns the totals over the window.
func (w *Window) Sum() Totals { return w.sum }

// SumLast returns the totals of the last k pushes (all of them when k is at
// least the window's length).
func (w *Window) SumLast(k int) Totals {
	if k >= len(w.slots) {
		return w.sum
	}
	var t Totals
	for i := 1; i <= k; i++ {
		s := w.slots[(w.next-i+len(w.slots))%len(w.slots)]
		t.Attempts += s.Attempts
		t.Failures += s.Failures
	}
	return t
}
