package main

import (
	"fmt"
	"strings"
	"time"
)

// Scenarios: which object is fetched, over how many connections, for how
// long. Each scenario runs against every target with fresh processes.

// scenario is one load shape.
type scenario struct {
	Name     string        `json:"name"`
	Object   string        `json:"object"`             // object name, which is its size: "1k", "1m", "1g"
	Conns    int           `json:"connections"`        // client connections
	Duration time.Duration `json:"duration_ns"`        // measured run (a cap in count mode)
	Requests int64         `json:"requests,omitempty"` // count mode: exactly this many sequential GETs
	// WarmupObject is fetched during the warm-up; the big scenario warms up
	// on 1 MiB objects rather than spending seconds on a whole stream.
	WarmupObject string `json:"warmup_object"`

	// Resilience scenarios break the origin: FailRate of its answers are
	// 503 SlowDown, drawn per request, or it is dead (DeadOrigin: every
	// connection refused). They measure yatagarasu with the config profile
	// Profile whatever -profiles says, and direct (the raw failure rate)
	// when the origin is alive; nginx and haproxy do not retry, so they are
	// not compared. They always use the Go loader, which counts statuses.
	FailRate   float64 `json:"fail_rate,omitempty"`
	DeadOrigin bool    `json:"dead_origin,omitempty"`
	Profile    string  `json:"profile,omitempty"`
	// Opening is the dead origin's first, measured phase (in place of the
	// warm-up), during which the breaker opens; the measured run after it
	// is the breaker's steady state, followed by a serial phase of
	// Duration on one connection: the fail-fast latency without queueing.
	Opening time.Duration `json:"opening_ns,omitempty"`

	// Kind is the shape of the load: "" a closed loop (the main table),
	// kindOpen an open loop at a fixed rate (half), kindIdle connections
	// opened and left idle (idle10k). Both have tables of their own.
	Kind string `json:"kind,omitempty"`
	// RateOf is, for kindOpen, the offered rate as a fraction of
	// yatagarasu's (public profile) closed-loop 1k req/s measured earlier
	// in the same run; Rate is that rate in req/s, once known.
	RateOf float64 `json:"rate_of,omitempty"`
	Rate   float64 `json:"rate,omitempty"`
	// Idle is, for kindIdle, the keep-alive connections opened (each
	// after one GET of Object, Conns at a time) and then held idle for
	// IdleFor before the target's RSS is read. The run may lower it to
	// what the open-file limits hold (planIdle).
	Idle    int           `json:"idle_connections,omitempty"`
	IdleFor time.Duration `json:"idle_for_ns,omitempty"`
	// PublicOnly: yatagarasu is measured with the public profile only,
	// whatever -profiles says. The large objects: what a profile adds per
	// request is lost in a 1 MiB body, and each row costs time.
	PublicOnly bool `json:"public_only,omitempty"`
	// Calibration marks a 1k run added only because half needs
	// yatagarasu's saturating rate and 1k was not selected: it measures
	// yatagarasu (public) alone.
	Calibration bool `json:"calibration,omitempty"`
}

// Scenario kinds (scenario.Kind); "" is the closed loop.
const (
	kindOpen = "open"
	kindIdle = "idle"
)

// The half and idle10k scenarios' fixed figures.
const (
	halfRateOf  = 0.5             // half: offered rate over yatagarasu's saturating 1k req/s
	idleConns   = 10_000          // idle10k: idle connections wanted
	idleFor     = 3 * time.Second // idle10k: how long they stay idle before RSS is read
	idleOpeners = 64              // idle10k: connections being opened (and GETs in flight) at once
)

// resilience reports whether the scenario breaks the origin.
func (s scenario) resilience() bool { return s.FailRate > 0 || s.DeadOrigin }

// repeated reports whether -rounds repeats the scenario: the closed loops
// and half, whose single runs vary most on a noisy host. The resilience
// scenarios judge counts, not speed, and idle10k memory, so they run once.
func (s scenario) repeated() bool { return !s.resilience() && s.Kind != kindIdle }

// scenarioNames lists every scenario in run order; "big" is the streaming
// one, named after its object (-big).
var scenarioNames = []string{"1k", "half", "idle10k", "1m", "1m-256", "big", "fail5", "fail30", "fail30-nobreaker", "dead"}

// The yatagarasu profiles of the resilience scenarios: defaults spelled
// out, and the same with the circuit breaker off.
const (
	resilienceProfile          = "resilience"
	resilienceNoBreakerProfile = "resilience-nobreaker"
)

// minOpening is the shortest breaker-opening phase of the dead scenario.
const minOpening = time.Second

// countModeCap bounds a count-mode run: 3 x 5 GiB through a slow proxy must
// fit, a hung one must not hang the harness.
const countModeCap = 10 * time.Minute

// buildScenarios returns the scenarios named in list ("all" or a comma
// list of 1k, half, idle10k, 1m, 1m-256, 1g/5g/big, fail5, fail30,
// fail30-nobreaker and dead), in run order. half needs the 1k figure of
// the same run: when 1k is not listed, a calibration 1k run of yatagarasu
// alone is added before it.
// connOverride > 0 replaces the connection count of every scenario except
// the big stream, which is one connection by definition, and idle10k,
// whose count is its point. warmup sets the dead scenario's opening phase
// (at least minOpening).
func buildScenarios(list string, duration, warmup time.Duration, connOverride int, big string, bigRequests int64) ([]scenario, error) {
	if big != "1g" && big != "5g" {
		return nil, fmt.Errorf("bench: -big %q: want 1g or 5g", big)
	}
	if bigRequests < 1 {
		return nil, fmt.Errorf("bench: -big-requests %d: want at least 1", bigRequests)
	}
	conns := func(n int) int {
		if connOverride > 0 {
			return connOverride
		}
		return n
	}
	all := map[string]scenario{
		"1k": {Name: "1k", Object: "1k", Conns: conns(64), Duration: duration, WarmupObject: "1k"},
		"half": {Name: "half", Object: "1k", Conns: conns(64), Duration: duration, WarmupObject: "1k",
			Kind: kindOpen, RateOf: halfRateOf},
		"idle10k": {Name: "idle10k", Object: "1k", Conns: idleOpeners, WarmupObject: "1k",
			Kind: kindIdle, Idle: idleConns, IdleFor: idleFor},
		"1m":     {Name: "1m", Object: "1m", Conns: conns(64), Duration: duration, WarmupObject: "1m", PublicOnly: true},
		"1m-256": {Name: "1m-256", Object: "1m", Conns: conns(256), Duration: duration, WarmupObject: "1m", PublicOnly: true},
		"big": {Name: big, Object: big, Conns: 1, Duration: countModeCap, Requests: bigRequests, WarmupObject: "1m",
			PublicOnly: true},
		"fail5": {Name: "fail5", Object: "1k", Conns: conns(64), Duration: duration, WarmupObject: "1k",
			FailRate: 0.05, Profile: resilienceProfile},
		"fail30": {Name: "fail30", Object: "1k", Conns: conns(64), Duration: duration, WarmupObject: "1k",
			FailRate: 0.30, Profile: resilienceProfile},
		// At 30% a closed breaker sees 5 consecutive failures within a few
		// thousand attempts and then rejects everything for its timeout:
		// without it, the retry budget is what limits amplification.
		"fail30-nobreaker": {Name: "fail30-nobreaker", Object: "1k", Conns: conns(64), Duration: duration, WarmupObject: "1k",
			FailRate: 0.30, Profile: resilienceNoBreakerProfile},
		"dead": {Name: "dead", Object: "1k", Conns: conns(64), Duration: duration, WarmupObject: "1k",
			DeadOrigin: true, Profile: resilienceProfile, Opening: max(warmup, minOpening)},
	}
	want := map[string]bool{}
	for name := range strings.SplitSeq(list, ",") {
		name = strings.TrimSpace(name)
		switch name {
		case "":
			continue
		case "all":
			for _, n := range scenarioNames {
				want[n] = true
			}
		case "big", "1g", "5g":
			want["big"] = true
		default:
			if _, ok := all[name]; !ok {
				return nil, fmt.Errorf("bench: unknown scenario %q (have 1k, half, idle10k, 1m, 1m-256, 1g/5g/big, fail5, fail30, fail30-nobreaker, dead, all)", name)
			}
			want[name] = true
		}
	}
	var out []scenario
	for _, n := range scenarioNames {
		if n == "half" && want[n] && !want["1k"] {
			cal := all["1k"]
			cal.Calibration = true
			out = append(out, cal)
		}
		if want[n] {
			out = append(out, all[n])
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("bench: no scenario selected")
	}
	return out, nil
}

// describe says in one line what load the scenario sends.
func (s scenario) describe() string {
	if s.Requests > 0 {
		return fmt.Sprintf("%-7s %d conn x %d sequential GET /bench/%s (%s stream, go loader), yatagarasu with the public profile only",
			s.Name, s.Conns, s.Requests, s.Object, s.Object)
	}
	load := fmt.Sprintf("%-7s %d conns x %s closed-loop GET /bench/%s", s.Name, s.Conns, s.Duration, s.Object)
	switch {
	case s.Kind == kindOpen:
		rate := fmt.Sprintf("%g%% of yatagarasu's 1k req/s", 100*s.RateOf)
		if s.Rate > 0 {
			rate = fmt.Sprintf("%.0f req/s (%s)", s.Rate, rate)
		}
		return fmt.Sprintf("%-7s %d conns x %s open-loop GET /bench/%s at %s, the same for every target; latency from the scheduled send, go loader",
			s.Name, s.Conns, s.Duration, s.Object, rate)
	case s.Kind == kindIdle:
		return fmt.Sprintf("%-7s %d keep-alive conns, each after one GET /bench/%s (%d opening at once), idle %s, then RSS",
			s.Name, s.Idle, s.Object, s.Conns, s.IdleFor)
	case s.Calibration:
		return load + ", yatagarasu only: its req/s sets half's rate (1k not selected)"
	case s.PublicOnly:
		return load + ", yatagarasu with the public profile only"
	case s.DeadOrigin:
		return fmt.Sprintf("%s, origin dead (connection refused), after a measured %s breaker-opening phase, then 1 conn x %s; yatagarasu:%s, go loader",
			load, s.Opening, s.Duration, s.Profile)
	case s.FailRate > 0:
		return fmt.Sprintf("%s, origin answers %g%% at random with 503 SlowDown; direct and yatagarasu:%s, go loader",
			load, 100*s.FailRate, s.Profile)
	}
	return load
}
