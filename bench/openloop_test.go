package main

import (
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestOpenSchedule(t *testing.T) {
	tests := []struct {
		name    string
		d       time.Duration
		rate    float64
		conns   int
		conn    int
		k       int64
		wantDue time.Duration // from the start
		count   int64         // requests of conn
		total   int64
	}{
		// 1000/s over 4 connections: one every 4 ms each, staggered by 1 ms.
		{name: "first of conn 0", d: time.Second, rate: 1000, conns: 4, conn: 0, k: 0, wantDue: 0, count: 250, total: 1000},
		{name: "first of conn 3", d: time.Second, rate: 1000, conns: 4, conn: 3, k: 0, wantDue: 3 * time.Millisecond, count: 250, total: 1000},
		{name: "second of conn 1", d: time.Second, rate: 1000, conns: 4, conn: 1, k: 1, wantDue: 5 * time.Millisecond, count: 250, total: 1000},
		// 10 requests over 4 connections: 3, 3, 2, 2.
		{name: "uneven split, conn 1", d: 10 * time.Millisecond, rate: 1000, conns: 4, conn: 1, k: 2, wantDue: 9 * time.Millisecond, count: 3, total: 10},
		{name: "uneven split, conn 2", d: 10 * time.Millisecond, rate: 1000, conns: 4, conn: 2, k: 1, wantDue: 6 * time.Millisecond, count: 2, total: 10},
		// A rate whose interval is not a whole nanosecond count; 3000 over
		// 7 connections: 429 for conns 0-3, 428 for 4-6.
		{name: "1/3 µs", d: time.Millisecond, rate: 3e6, conns: 7, conn: 6, k: 1, wantDue: 4333, count: 428, total: 3000},
		// More connections than requests.
		{name: "idle connection", d: 2 * time.Millisecond, rate: 1000, conns: 4, conn: 3, k: 0, wantDue: 3 * time.Millisecond, count: 0, total: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newOpenSchedule(t0, tt.d, tt.rate, tt.conns)
			if got := s.due(tt.conn, tt.k).Sub(t0); got != tt.wantDue {
				t.Errorf("due(%d, %d) = %v, want %v", tt.conn, tt.k, got, tt.wantDue)
			}
			if got := s.count(tt.conn); got != tt.count {
				t.Errorf("count(%d) = %d, want %d", tt.conn, got, tt.count)
			}
			if got := s.total(); got != tt.total {
				t.Errorf("total = %d, want %d", got, tt.total)
			}
			// Every counted request is due before the end, the next is not.
			n := s.count(tt.conn)
			if n > 0 && !s.due(tt.conn, n-1).Before(s.end) {
				t.Errorf("request %d of conn %d is due at the end or later", n-1, tt.conn)
			}
			if s.due(tt.conn, n).Before(s.end) {
				t.Errorf("request %d of conn %d is due before the end but not counted", n, tt.conn)
			}
		})
	}
}

// fakeClock is a clock that moves only when told: sleeping jumps to the
// wake-up time (plus a fixed lateness), a request takes its service time.
type fakeClock struct {
	t     time.Time
	late  time.Duration // added to every sleep, as a real timer's lateness
	slept int
}

func (c *fakeClock) now() time.Time { return c.t }

func (c *fakeClock) sleepUntil(t time.Time) {
	c.slept++
	if t.After(c.t) {
		c.t = t.Add(c.late)
	}
}

// One connection's side of the open loop, run on a fake clock: no test
// sleeps. Its due times are released all at once here; serve waits for
// each (the fake clock jumps), as if the dispatcher released it on time.
func TestOpenLoopServe(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name string
		// 1 connection's schedule: one request every interval for d.
		interval, d time.Duration
		late        time.Duration             // timer lateness of the fake clock
		grace       time.Duration             // sends allowed this long after the end
		service     func(k int) time.Duration // time request k takes
		fails       func(k int) bool          // request k gets a socket error
		want        []time.Duration           // recorded latencies, from due to done
		wantSent    []time.Duration           // recorded send times, from the start
		wantUnsent  int64
	}{
		{
			name: "fast target: latency is the service time, sends on schedule", interval: 10 * ms, d: 40 * ms,
			service: func(int) time.Duration { return ms },
			want:    []time.Duration{ms, ms, ms, ms}, wantSent: []time.Duration{0, 10 * ms, 20 * ms, 30 * ms},
		},
		{
			// Request 0 takes 35 ms: requests 1-3 were due at 10, 20, 30 ms
			// and wait behind it; their latency counts that wait
			// (coordinated omission is not hidden).
			name: "one stall delays the requests behind it", interval: 10 * ms, d: 50 * ms,
			service: func(k int) time.Duration {
				if k == 0 {
					return 35 * ms
				}
				return ms
			},
			want:     []time.Duration{35 * ms, 26 * ms, 17 * ms, 8 * ms, ms},
			wantSent: []time.Duration{0, 35 * ms, 36 * ms, 37 * ms, 40 * ms},
		},
		{
			// Every request takes 25 ms on a 10 ms schedule: the run ends
			// (at 40 ms) with the connection still behind, so requests due
			// at 20 and 30 ms are never sent and are counted as unsent.
			name: "overloaded target leaves requests unsent", interval: 10 * ms, d: 40 * ms,
			service: func(int) time.Duration { return 25 * ms },
			want:    []time.Duration{25 * ms, 40 * ms}, wantSent: []time.Duration{0, 25 * ms}, wantUnsent: 2,
		},
		{
			// The same with a 30 ms grace after the end (at 40 ms): the
			// request due at 20 ms goes at 50 ms, the one due at 30 ms
			// would go at 75 ms, past the cutoff at 70 ms.
			name: "grace lets a late connection catch up", interval: 10 * ms, d: 40 * ms, grace: 30 * ms,
			service: func(int) time.Duration { return 25 * ms },
			want:    []time.Duration{25 * ms, 40 * ms, 55 * ms}, wantSent: []time.Duration{0, 25 * ms, 50 * ms}, wantUnsent: 1,
		},
		{
			name: "timer lateness counts", interval: 10 * ms, d: 30 * ms, late: 200 * time.Microsecond,
			service:  func(int) time.Duration { return ms },
			want:     []time.Duration{ms, ms + 200*time.Microsecond, ms + 200*time.Microsecond},
			wantSent: []time.Duration{0, 10*ms + 200*time.Microsecond, 20*ms + 200*time.Microsecond},
		},
		{
			name: "failed requests are not recorded", interval: 10 * ms, d: 30 * ms,
			service: func(int) time.Duration { return ms },
			fails:   func(k int) bool { return k == 1 },
			want:    []time.Duration{ms, ms}, wantSent: []time.Duration{0, 20 * ms},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := &fakeClock{t: t0, late: tt.late}
			s := newOpenSchedule(t0, tt.d, float64(time.Second)/float64(tt.interval), 1)
			dues := make(chan time.Time, s.count(0))
			for k := range s.count(0) {
				dues <- s.due(0, k)
			}
			close(dues)
			k := 0
			send := func() (time.Time, bool) {
				sent := clk.t
				clk.t = clk.t.Add(tt.service(k))
				failed := tt.fails != nil && tt.fails(k)
				k++
				return sent, !failed
			}
			var got, sent []time.Duration
			unsent := serve(dues, s.end.Add(tt.grace), clk, send, func(o openTiming) {
				got = append(got, o.done.Sub(o.due))
				sent = append(sent, o.sent.Sub(t0))
			})
			if !equalDurations(got, tt.want) {
				t.Errorf("latencies %v, want %v", got, tt.want)
			}
			if !equalDurations(sent, tt.wantSent) {
				t.Errorf("sent at %v, want %v", sent, tt.wantSent)
			}
			if unsent != tt.wantUnsent {
				t.Errorf("unsent %d, want %d", unsent, tt.wantUnsent)
			}
		})
	}
}

// The dispatcher releases requests in due order to their connections,
// sleeping only when the next one is not yet due.
func TestOpenLoopDispatch(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name      string
		rate      float64
		quantum   time.Duration
		startLate time.Duration // the dispatcher starts this long after request 0 was due
		stopAfter int           // stop() turns true after this many releases (0: never)
		wantN     int
		wantSleep int
		maxLate   time.Duration // how late a release may be
	}{
		{name: "on time", rate: 1000, wantN: 10, wantSleep: 9},
		{name: "quantum shorter than the gaps changes nothing", rate: 1000, quantum: 50 * time.Microsecond, wantN: 10, wantSleep: 9},
		// 5.5 ms late: requests 0-5 go at once, then it sleeps for 6-9.
		{name: "late start batches", rate: 1000, startLate: 5500 * time.Microsecond, wantN: 10, wantSleep: 4, maxLate: 5500 * time.Microsecond},
		{name: "stop", rate: 1000, stopAfter: 4, wantN: 4, wantSleep: 3},
		// 1 every 10 µs, one wake-up per 50 µs (at 10, 60, ..., 9960 and
		// 10010 µs): batches of 5, 40 µs late at most.
		{name: "dense schedule batches", rate: 100_000, quantum: 50 * time.Microsecond, wantN: 1000, wantSleep: 201, maxLate: 40 * time.Microsecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := &fakeClock{t: t0.Add(tt.startLate)}
			s := newOpenSchedule(t0, 10*ms, tt.rate, 3)
			var conns []int
			var dues []time.Duration
			var releasedAt []time.Time
			stop := func() bool { return tt.stopAfter > 0 && len(conns) >= tt.stopAfter }
			dispatch(s, clk, tt.quantum, stop, func(conn int, due time.Time) {
				conns = append(conns, conn)
				dues = append(dues, due.Sub(t0))
				releasedAt = append(releasedAt, clk.t)
			})
			if len(conns) != tt.wantN || clk.slept != tt.wantSleep {
				t.Fatalf("released %d, slept %d; want %d, %d", len(conns), clk.slept, tt.wantN, tt.wantSleep)
			}
			for i := range conns {
				wantDue := s.offset(int64(i))
				if conns[i] != i%3 || dues[i] != wantDue {
					t.Fatalf("release %d: conn %d due %v, want conn %d due %v", i, conns[i], dues[i], i%3, wantDue)
				}
				if late := releasedAt[i].Sub(t0.Add(dues[i])); late < 0 || late > tt.maxLate {
					t.Fatalf("release %d at %v, due %v: %v late, want 0 to %v", i, releasedAt[i].Sub(t0), dues[i], late, tt.maxLate)
				}
			}
		})
	}
}

func equalDurations(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
