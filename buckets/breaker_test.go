package buckets

import (
	"testing"
	"time"
)

func TestBreakerSettingsDefaults(t *testing.T) {
	tests := []struct {
		name string
		in   BreakerSettings
		want BreakerSettings
	}{
		{
			name: "zero settings take every default",
			in:   BreakerSettings{},
			want: BreakerSettings{FailureThreshold: 5, SuccessThreshold: 2, Timeout: 60 * time.Second, HalfOpenMaxRequests: 2, MinimumRequests: 20},
		},
		{
			name: "half-open probes default to the success threshold",
			in:   BreakerSettings{SuccessThreshold: 4},
			want: BreakerSettings{FailureThreshold: 5, SuccessThreshold: 4, Timeout: 60 * time.Second, HalfOpenMaxRequests: 4, MinimumRequests: 20},
		},
		{
			name: "negative timeout takes the default",
			in:   BreakerSettings{Timeout: -time.Second},
			want: BreakerSettings{FailureThreshold: 5, SuccessThreshold: 2, Timeout: 60 * time.Second, HalfOpenMaxRequests: 2, MinimumRequests: 20},
		},
		{
			name: "explicit values are kept",
			in:   BreakerSettings{FailureThreshold: 3, SuccessThreshold: 1, Timeout: 5 * time.Second, HalfOpenMaxRequests: 7, FailureRate: 0.25, MinimumRequests: 50},
			want: BreakerSettings{FailureThreshold: 3, SuccessThreshold: 1, Timeout: 5 * time.Second, HalfOpenMaxRequests: 7, FailureRate: 0.25, MinimumRequests: 50},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := NewBreaker(tt.in).Settings(); got != tt.want {
				t.Errorf("NewBreaker(%+v).Settings() = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

// breakerOp is what one step of a breaker scenario does.
type breakerOp int

const (
	opState   breakerOp = iota // only observe State(now)
	opAllow                    // Allow(now); wantOK is its answer
	opSuccess                  // OnResult(now, gen, false)
	opFailure                  // OnResult(now, gen, true)
	opTrip                     // Trip(now, gen); wantOK is its answer
	opWindow                   // OnWindow(now, totals)
)

var breakerOpNames = [...]string{"State", "Allow", "success", "failure", "Trip", "OnWindow"}

func (o breakerOp) String() string { return breakerOpNames[o] }

// breakerStep is one step of a breaker scenario: at t0+at, do op (times
// times, once when zero), then expect State(t0+at) to be wantState in
// generation wantGen.
type breakerStep struct {
	name      string
	at        time.Duration
	op        breakerOp
	times     int
	gen       uint64 // reported with opSuccess, opFailure and opTrip
	totals    Totals // for opWindow
	wantOK    bool   // Allow's or Trip's answer
	wantState BreakerState
	wantGen   uint64
}

func TestBreakerTransitions(t *testing.T) {
	fail := func(name string, at time.Duration, gen uint64, state BreakerState, wantGen uint64) breakerStep {
		return breakerStep{name: name, at: at, op: opFailure, gen: gen, wantState: state, wantGen: wantGen}
	}
	const timeout = 60 * time.Second
	tests := []struct {
		name     string
		settings BreakerSettings
		steps    []breakerStep
	}{
		{
			name: "FailureThreshold consecutive failures open it until Timeout",
			steps: []breakerStep{
				{name: "new breaker is closed", op: opState, wantState: BreakerClosed, wantGen: 0},
				{name: "closed admits", op: opAllow, wantOK: true, wantState: BreakerClosed, wantGen: 0},
				{name: "4 failures", op: opFailure, times: 4, gen: 0, wantState: BreakerClosed, wantGen: 0},
				fail("5th failure opens", 0, 0, BreakerOpen, 1),
				{name: "open refuses", at: time.Second, op: opAllow, wantOK: false, wantState: BreakerOpen, wantGen: 1},
				{name: "still open a nanosecond before expiry", at: timeout - time.Nanosecond, op: opState, wantState: BreakerOpen, wantGen: 1},
				{name: "half-open exactly at expiry", at: timeout, op: opState, wantState: BreakerHalfOpen, wantGen: 2},
			},
		},
		{
			name: "a success resets the consecutive failures",
			steps: []breakerStep{
				{name: "4 failures", op: opFailure, times: 4, gen: 0, wantState: BreakerClosed, wantGen: 0},
				{name: "a success", op: opSuccess, gen: 0, wantState: BreakerClosed, wantGen: 0},
				{name: "4 more failures", op: opFailure, times: 4, gen: 0, wantState: BreakerClosed, wantGen: 0},
				fail("the 5th in a row opens", 0, 0, BreakerOpen, 1),
			},
		},
		{
			name: "half-open admits HalfOpenMaxRequests probes and SuccessThreshold successes close it",
			steps: []breakerStep{
				{name: "trip", op: opTrip, gen: 0, wantOK: true, wantState: BreakerOpen, wantGen: 1},
				{name: "probes 1 and 2 admitted", at: timeout, op: opAllow, times: 2, wantOK: true, wantState: BreakerHalfOpen, wantGen: 2},
				{name: "probe 3 refused", at: timeout, op: opAllow, wantOK: false, wantState: BreakerHalfOpen, wantGen: 2},
				{name: "1st success keeps it half-open", at: timeout + time.Second, op: opSuccess, gen: 2, wantState: BreakerHalfOpen, wantGen: 2},
				{name: "a result does not free a probe slot", at: timeout + time.Second, op: opAllow, wantOK: false, wantState: BreakerHalfOpen, wantGen: 2},
				{name: "2nd success closes", at: timeout + 2*time.Second, op: opSuccess, gen: 2, wantState: BreakerClosed, wantGen: 3},
				{name: "closed admits again", at: timeout + 2*time.Second, op: opAllow, wantOK: true, wantState: BreakerClosed, wantGen: 3},
			},
		},
		{
			name:     "HalfOpenMaxRequests above SuccessThreshold",
			settings: BreakerSettings{SuccessThreshold: 2, HalfOpenMaxRequests: 3, Timeout: 10 * time.Second},
			steps: []breakerStep{
				{name: "trip", op: opTrip, gen: 0, wantOK: true, wantState: BreakerOpen, wantGen: 1},
				{name: "probes 1 to 3 admitted", at: 10 * time.Second, op: opAllow, times: 3, wantOK: true, wantState: BreakerHalfOpen, wantGen: 2},
				{name: "probe 4 refused", at: 10 * time.Second, op: opAllow, wantOK: false, wantState: BreakerHalfOpen, wantGen: 2},
				{name: "2 successes close", at: 11 * time.Second, op: opSuccess, times: 2, gen: 2, wantState: BreakerClosed, wantGen: 3},
			},
		},
		{
			name: "a probe failure reopens with an expiry from its own instant",
			steps: []breakerStep{
				{name: "trip", op: opTrip, gen: 0, wantOK: true, wantState: BreakerOpen, wantGen: 1},
				{name: "probe admitted", at: timeout, op: opAllow, wantOK: true, wantState: BreakerHalfOpen, wantGen: 2},
				fail("probe failure reopens", timeout+10*time.Second, 2, BreakerOpen, 3),
				{name: "open refuses", at: timeout + 20*time.Second, op: opAllow, wantOK: false, wantState: BreakerOpen, wantGen: 3},
				{name: "open a nanosecond before the new expiry", at: 2*timeout + 10*time.Second - time.Nanosecond, op: opState, wantState: BreakerOpen, wantGen: 3},
				{name: "half-open at the new expiry", at: 2*timeout + 10*time.Second, op: opState, wantState: BreakerHalfOpen, wantGen: 4},
			},
		},
		{
			name: "a slow success from an earlier generation is ignored",
			steps: []breakerStep{
				{name: "slow request admitted", op: opAllow, wantOK: true, wantState: BreakerClosed, wantGen: 0},
				{name: "5 failures open", at: time.Second, op: opFailure, times: 5, gen: 0, wantState: BreakerOpen, wantGen: 1},
				{name: "slow success while open", at: 2 * time.Second, op: opSuccess, gen: 0, wantState: BreakerOpen, wantGen: 1},
				{name: "half-open", at: time.Second + timeout, op: opState, wantState: BreakerHalfOpen, wantGen: 2},
				{name: "slow success while half-open", at: time.Second + timeout, op: opSuccess, gen: 0, wantState: BreakerHalfOpen, wantGen: 2},
				{name: "success reported with the open generation", at: time.Second + timeout, op: opSuccess, gen: 1, wantState: BreakerHalfOpen, wantGen: 2},
				{name: "one real probe success is not enough", at: time.Second + timeout, op: opSuccess, gen: 2, wantState: BreakerHalfOpen, wantGen: 2},
				{name: "the second closes", at: time.Second + timeout, op: opSuccess, gen: 2, wantState: BreakerClosed, wantGen: 3},
			},
		},
		{
			name: "a late failure from an earlier generation does not reopen a half-open breaker",
			steps: []breakerStep{
				{name: "5 failures open", op: opFailure, times: 5, gen: 0, wantState: BreakerOpen, wantGen: 1},
				{name: "half-open", at: timeout, op: opState, wantState: BreakerHalfOpen, wantGen: 2},
				fail("late failure from the closed generation", timeout, 0, BreakerHalfOpen, 2),
				fail("failure reported with the open generation", timeout, 1, BreakerHalfOpen, 2),
				fail("a probe failure reopens", timeout, 2, BreakerOpen, 3),
			},
		},
		{
			name: "a late failure from an earlier closed generation does not count",
			steps: []breakerStep{
				{name: "trip", op: opTrip, gen: 0, wantOK: true, wantState: BreakerOpen, wantGen: 1},
				{name: "2 probe successes close", at: timeout, op: opSuccess, times: 2, gen: 2, wantState: BreakerClosed, wantGen: 3},
				{name: "5 late failures from generation 0", at: timeout, op: opFailure, times: 5, gen: 0, wantState: BreakerClosed, wantGen: 3},
			},
		},
		{
			name: "Trip opens a closed breaker of its generation only",
			steps: []breakerStep{
				{name: "trip closed", op: opTrip, gen: 0, wantOK: true, wantState: BreakerOpen, wantGen: 1},
				{name: "trip open", at: time.Second, op: opTrip, gen: 1, wantOK: false, wantState: BreakerOpen, wantGen: 1},
				{name: "stale trip while open", at: time.Second, op: opTrip, gen: 0, wantOK: false, wantState: BreakerOpen, wantGen: 1},
				{name: "trip does not move the expiry", at: timeout - time.Nanosecond, op: opState, wantState: BreakerOpen, wantGen: 1},
				{name: "trip half-open", at: timeout, op: opTrip, gen: 2, wantOK: false, wantState: BreakerHalfOpen, wantGen: 2},
				{name: "2 successes close", at: timeout, op: opSuccess, times: 2, gen: 2, wantState: BreakerClosed, wantGen: 3},
				{name: "trip with the half-open generation", at: timeout, op: opTrip, gen: 2, wantOK: false, wantState: BreakerClosed, wantGen: 3},
				{name: "trip with the first closed generation", at: timeout, op: opTrip, gen: 0, wantOK: false, wantState: BreakerClosed, wantGen: 3},
				{name: "trip with the current generation", at: timeout + time.Second, op: opTrip, gen: 3, wantOK: true, wantState: BreakerOpen, wantGen: 4},
				{name: "open until its own expiry", at: 2*timeout + time.Second - time.Nanosecond, op: opState, wantState: BreakerOpen, wantGen: 4},
				{name: "half-open at its expiry", at: 2*timeout + time.Second, op: opState, wantState: BreakerHalfOpen, wantGen: 5},
			},
		},
		{
			name:     "OnWindow only judges a closed breaker",
			settings: BreakerSettings{FailureRate: 0.5},
			steps: []breakerStep{
				{name: "trip", op: opTrip, gen: 0, wantOK: true, wantState: BreakerOpen, wantGen: 1},
				{name: "failing window while open", at: time.Second, op: opWindow, totals: Totals{Attempts: 20, Failures: 20}, wantState: BreakerOpen, wantGen: 1},
				{name: "expiry unchanged", at: timeout - time.Nanosecond, op: opState, wantState: BreakerOpen, wantGen: 1},
				{name: "failing window while half-open", at: timeout, op: opWindow, totals: Totals{Attempts: 20, Failures: 20}, wantState: BreakerHalfOpen, wantGen: 2},
				{name: "2 successes close", at: timeout, op: opSuccess, times: 2, gen: 2, wantState: BreakerClosed, wantGen: 3},
				{name: "failing window while closed opens", at: timeout + time.Second, op: opWindow, totals: Totals{Attempts: 20, Failures: 10}, wantState: BreakerOpen, wantGen: 4},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			b := NewBreaker(tt.settings)
			for _, s := range tt.steps {
				now := t0.Add(s.at)
				for i := range max(s.times, 1) {
					s.run(t, b, now, i)
				}
				if state, gen := b.State(now); state != s.wantState || gen != s.wantGen {
					t.Fatalf("%s: after %v at t0+%v, State = %v in generation %d, want %v in generation %d",
						s.name, s.op, s.at, state, gen, s.wantState, s.wantGen)
				}
			}
		})
	}
}

// run does the step's op once and checks what Allow or Trip answered.
func (s breakerStep) run(t *testing.T, b *Breaker, now time.Time, i int) {
	t.Helper()
	switch s.op {
	case opState:
	case opAllow:
		gen, ok := b.Allow(now)
		if ok != s.wantOK || gen != s.wantGen {
			t.Fatalf("%s: Allow #%d at t0+%v = (generation %d, %v), want (generation %d, %v)", s.name, i+1, s.at, gen, ok, s.wantGen, s.wantOK)
		}
	case opSuccess:
		b.OnResult(now, s.gen, false)
	case opFailure:
		b.OnResult(now, s.gen, true)
	case opTrip:
		if ok := b.Trip(now, s.gen); ok != s.wantOK {
			t.Fatalf("%s: Trip(t0+%v, generation %d) = %v, want %v", s.name, s.at, s.gen, ok, s.wantOK)
		}
	case opWindow:
		b.OnWindow(now, s.totals)
	default:
		t.Fatalf("%s: unknown op %d", s.name, s.op)
	}
}

func TestBreakerOnWindow(t *testing.T) {
	tests := []struct {
		name     string
		settings BreakerSettings
		totals   Totals
		want     BreakerState
	}{
		{"off when FailureRate is zero", BreakerSettings{}, Totals{Attempts: 100, Failures: 100}, BreakerClosed},
		{"not judged below MinimumRequests", BreakerSettings{FailureRate: 0.5}, Totals{Attempts: 19, Failures: 19}, BreakerClosed},
		{"judged at MinimumRequests", BreakerSettings{FailureRate: 0.5}, Totals{Attempts: 20, Failures: 20}, BreakerOpen},
		{"custom MinimumRequests", BreakerSettings{FailureRate: 0.5, MinimumRequests: 4}, Totals{Attempts: 4, Failures: 2}, BreakerOpen},
		{"custom MinimumRequests not reached", BreakerSettings{FailureRate: 0.5, MinimumRequests: 40}, Totals{Attempts: 39, Failures: 39}, BreakerClosed},
		{"below the rate", BreakerSettings{FailureRate: 0.5}, Totals{Attempts: 20, Failures: 9}, BreakerClosed},
		{"exactly the rate", BreakerSettings{FailureRate: 0.5}, Totals{Attempts: 20, Failures: 10}, BreakerOpen},
		{"above the rate", BreakerSettings{FailureRate: 0.5}, Totals{Attempts: 40, Failures: 30}, BreakerOpen},
		{"rate 1 needs every attempt failed", BreakerSettings{FailureRate: 1}, Totals{Attempts: 20, Failures: 19}, BreakerClosed},
		{"rate 1 with every attempt failed", BreakerSettings{FailureRate: 1}, Totals{Attempts: 20, Failures: 20}, BreakerOpen},
		{"just below 0.55", BreakerSettings{FailureRate: 0.55}, Totals{Attempts: 100, Failures: 54}, BreakerClosed},
		// 0.55*100 is 55.00000000000001 in float64; 55 of 100 is exactly 55%.
		{"exactly 0.55", BreakerSettings{FailureRate: 0.55}, Totals{Attempts: 100, Failures: 55}, BreakerOpen},
		// 0.28*25 is 7.000000000000001 in float64; 7 of 25 is exactly 28%.
		{"exactly 0.28", BreakerSettings{FailureRate: 0.28}, Totals{Attempts: 25, Failures: 7}, BreakerOpen},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			b := NewBreaker(tt.settings)
			b.OnWindow(t0, tt.totals)
			if got, _ := b.State(t0); got != tt.want {
				t.Errorf("FailureRate %v, MinimumRequests %d: OnWindow(%+v) leaves the breaker %v, want %v",
					b.Settings().FailureRate, b.Settings().MinimumRequests, tt.totals, got, tt.want)
			}
		})
	}
}

func TestBreakerExpiryAndOpened(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b := NewBreaker(BreakerSettings{Timeout: 10 * time.Second})
	check := func(what string, now time.Time, wantExpiry time.Time, wantOpened uint64) {
		t.Helper()
		b.State(now)
		if got := b.Expiry(); !got.Equal(wantExpiry) {
			t.Fatalf("%s: Expiry() = %v, want %v", what, got, wantExpiry)
		}
		if got := b.Opened(); got != wantOpened {
			t.Fatalf("%s: Opened() = %d, want %d", what, got, wantOpened)
		}
	}
	check("new", t0, time.Time{}, 0)

	for range 5 {
		b.OnResult(t0.Add(time.Second), 0, true)
	}
	check("opened by failures at t0+1s", t0.Add(time.Second), t0.Add(11*time.Second), 1)
	check("half-open at expiry", t0.Add(11*time.Second), time.Time{}, 1)

	_, gen := b.State(t0.Add(12 * time.Second))
	b.OnResult(t0.Add(12*time.Second), gen, true)
	check("reopened by a probe failure at t0+12s", t0.Add(12*time.Second), t0.Add(22*time.Second), 2)

	_, gen = b.State(t0.Add(22 * time.Second))
	b.OnResult(t0.Add(22*time.Second), gen, false)
	b.OnResult(t0.Add(22*time.Second), gen, false)
	check("closed by probe successes", t0.Add(22*time.Second), time.Time{}, 2)

	_, gen = b.State(t0.Add(30 * time.Second))
	b.Trip(t0.Add(30*time.Second), gen)
	check("tripped at t0+30s", t0.Add(30*time.Second), t0.Add(40*time.Second), 3)

	b.Trip(t0.Add(31*time.Second), gen+1) // not closed: ignored
	check("a second trip while open", t0.Add(31*time.Second), t0.Add(40*time.Second), 3)
}

func TestBreakerCountsResetOnStateChange(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b := NewBreaker(BreakerSettings{})
	check := func(what string, want Counts) {
		t.Helper()
		if got := b.Counts(); got != want {
			t.Fatalf("%s: Counts() = %+v, want %+v", what, got, want)
		}
	}
	check("new", Counts{})

	for range 4 {
		b.OnResult(t0, 0, true)
	}
	b.OnResult(t0, 0, false)
	check("4 failures and a success", Counts{Requests: 5, TotalSuccesses: 1, TotalFailures: 4, ConsecutiveSuccesses: 1})

	b.OnResult(t0, 0, true)
	check("then a failure", Counts{Requests: 6, TotalSuccesses: 1, TotalFailures: 5, ConsecutiveFailures: 1})

	for range 4 {
		b.OnResult(t0, 0, true)
	}
	check("opened", Counts{})

	b.OnResult(t0, 0, false)
	check("stale success while open", Counts{})

	_, gen := b.State(t0.Add(time.Minute))
	check("half-open", Counts{})

	b.OnResult(t0.Add(time.Minute), gen, false)
	check("one probe success", Counts{Requests: 1, TotalSuccesses: 1, ConsecutiveSuccesses: 1})

	b.OnResult(t0.Add(time.Minute), gen, false)
	check("closed", Counts{})
}

func TestBreakerStateString(t *testing.T) {
	tests := []struct {
		name  string
		state BreakerState
		want  string
	}{
		{"closed", BreakerClosed, "closed"},
		{"open", BreakerOpen, "open"},
		{"half-open", BreakerHalfOpen, "half-open"},
		{"unknown", BreakerState(7), "BreakerState(7)"},
		{"negative", BreakerState(-1), "BreakerState(-1)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.state.String(); got != tt.want {
				t.Errorf("BreakerState(%d).String() = %q, want %q", int32(tt.state), got, tt.want)
			}
		})
	}
}

func BenchmarkBreakerAllow(b *testing.B) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b.Run("closed", func(b *testing.B) {
		br := NewBreaker(BreakerSettings{})
		b.ReportAllocs()
		for b.Loop() {
			br.Allow(t0)
		}
	})
	b.Run("open", func(b *testing.B) {
		br := NewBreaker(BreakerSettings{})
		br.Trip(t0, 0)
		b.ReportAllocs()
		for b.Loop() {
			br.Allow(t0.Add(time.Second))
		}
	})
}
