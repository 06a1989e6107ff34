package main

import (
	"time"
)

// The open loop of the Go load generator (`bench -role load -rate R`), used
// by the half scenario: requests are sent on a fixed schedule whatever the
// target's latency, so a slow response delays the requests behind it and
// that delay is measured, not hidden (coordinated omission).
//
// Request i of the run (i = 0, 1, 2, ...) is due at start + i/R. The N
// connections take turns: connection c sends requests c, c+N, c+2N, ...,
// one every N/R, the connections staggered by 1/R. One dispatcher wakes
// when each request is due and hands it to its connection's goroutine,
// which sends it at once, or, when still busy with the previous one, as
// soon as that response has been read; its latency counts from when it was
// due. Requests due before the end of the run are sent; one still unsent
// shortly after the run ends (its connection far behind) is counted as
// unsent, and a run with unsent requests offered more than the target
// could take.

// openSchedule is the fixed schedule of an open-loop run.
type openSchedule struct {
	start time.Time     // when request 0 is due
	end   time.Time     // requests due from here on are not part of the run
	rate  float64       // requests per second over all connections
	conns int           // connections taking turns
	span  time.Duration // end - start
}

// newOpenSchedule returns the schedule of rate requests per second over
// conns connections from start for d.
func newOpenSchedule(start time.Time, d time.Duration, rate float64, conns int) openSchedule {
	return openSchedule{start: start, end: start.Add(d), rate: rate, conns: conns, span: d}
}

// offset is when request i is due, from the start.
func (s openSchedule) offset(i int64) time.Duration {
	return time.Duration(float64(i) * 1e9 / s.rate)
}

// due is when connection conn's k-th request (k = 0, 1, ...) is due.
func (s openSchedule) due(conn int, k int64) time.Time {
	return s.start.Add(s.offset(int64(conn) + k*int64(s.conns)))
}

// count is how many requests connection conn sends: those due before end.
func (s openSchedule) count(conn int) int64 {
	var n int64
	// The closed form, then corrected for float rounding at the edge.
	total := int64(s.span.Seconds() * s.rate)
	if total > int64(conn) {
		n = (total - int64(conn) + int64(s.conns) - 1) / int64(s.conns)
	}
	for n > 0 && !s.due(conn, n-1).Before(s.end) {
		n--
	}
	for s.due(conn, n).Before(s.end) {
		n++
	}
	return n
}

// total is how many requests the schedule holds over all connections.
func (s openSchedule) total() int64 {
	var n int64
	for c := range s.conns {
		n += s.count(c)
	}
	return n
}

// clock is the time source of the open loop: the real one in the load
// generator, a fake one in the tests, which then run without sleeping.
type clock interface {
	now() time.Time
	sleepUntil(t time.Time)
}

// openTiming is what the open loop records of one request.
type openTiming struct {
	due, sent, done time.Time
}

// dispatchQuantum is the least time between two wake-ups of the
// dispatcher: requests due closer together than that are released in
// batches, each up to this late (which its latency counts), rather than
// paying a timer's system calls each. At the half scenario's ~25 000 req/s
// (one due every 40 µs) it halves the generator's wake-ups.
const dispatchQuantum = 50 * time.Microsecond

// dispatch releases the schedule's requests in due order: it sleeps until
// the next one is due (or, when that is less than quantum after its last
// wake-up, until then), and releases at once every request due by the time
// it wakes, handing each to its connection (release). One timer for the
// whole run, however many connections. It stops early when stop() turns
// true.
func dispatch(s openSchedule, clk clock, quantum time.Duration, stop func() bool, release func(conn int, due time.Time)) {
	var woke time.Time
	for i := int64(0); ; i++ {
		due := s.start.Add(s.offset(i))
		if !due.Before(s.end) || stop() {
			return
		}
		if clk.now().Before(due) {
			at := due
			if next := woke.Add(quantum); at.Before(next) {
				at = next
			}
			clk.sleepUntil(at)
			woke = clk.now()
		}
		release(int(i%int64(s.conns)), due)
	}
}

// openGrace is how long after the end of the run a connection still
// behind may send what was due before the end: a healthy target's last
// responses are late by its latency, an overloaded one's by its backlog.
const openGrace = 100 * time.Millisecond

// serve is one connection's side of the open loop: it sends the requests
// released to it (dues, in order; closed when the run is over) one at a
// time, each as soon as it is released and the previous response has been
// read, through send, which returns when the request went out and whether
// a response came (false: a socket error, counted by send). record gets
// the times of every answered request. A request that reaches the front
// at cutoff or later (the end of the run plus openGrace), its connection
// still behind, is not sent but counted: serve returns how many.
func serve(dues <-chan time.Time, cutoff time.Time, clk clock,
	send func() (sent time.Time, ok bool), record func(openTiming)) (unsent int64) {
	for due := range dues {
		now := clk.now()
		if !now.Before(cutoff) {
			unsent++
			continue
		}
		if now.Before(due) { // released early: only a coarse clock does that
			clk.sleepUntil(due)
		}
		sent, ok := send()
		if !ok {
			continue
		}
		record(openTiming{due: due, sent: sent, done: clk.now()})
	}
	return unsent
}
