package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The resilience report: what the client got while the origin failed at
// random or was dead, how many requests reached the origin for it (retry
// amplification), and the proxy's own account of retries, retry-budget
// refusals and the circuit breaker, read from its /metrics.

// resiliencePhase is one measured phase of a resilience scenario against
// one target: the whole measured run, or for the dead origin the
// breaker-opening phase and the steady state after it.
type resiliencePhase struct {
	Scenario string `json:"scenario"`
	Target   string `json:"target"`
	// Phase is "run", or for the dead origin "opening" (a fresh proxy
	// whose breaker opens), "steady" (the breaker open, the scenario's
	// connections) and "serial" (the breaker open, one connection).
	Phase string `json:"phase"`

	ClientRequests int64         `json:"client_requests"` // responses + socket errors
	OK             int64         `json:"ok"`              // 2xx responses
	SuccessPct     float64       `json:"success_pct"`     // 100 · OK / ClientRequests
	Status503      int64         `json:"status_503"`      // 503 responses: the proxy's own or the origin's passed on
	OtherErrors    int64         `json:"other_errors"`    // other non-2xx responses + socket errors
	SocketErrors   int64         `json:"socket_errors"`
	Statuses       map[int]int64 `json:"statuses"`
	ReqPerSec      float64       `json:"req_per_sec"` // completed client requests per second
	// Upstream is what reached the origin: the origin's own request count,
	// or the proxy's upstream attempts (UpstreamFrom "proxy") when the
	// origin is dead and cannot count.
	Upstream     int64  `json:"upstream"`
	UpstreamFrom string `json:"upstream_from"`
	// Amplification is Upstream over completed client requests.
	Amplification float64       `json:"amplification"`
	P50           time.Duration `json:"p50_ns"`
	P99           time.Duration `json:"p99_ns"`
	// Proxy is the proxy's counters over the phase (nil for direct).
	Proxy *proxyMetrics `json:"proxy,omitempty"`
	// BreakerBefore and BreakerAfter are the breaker's state at the
	// phase's ends; FailFast says it stayed open throughout, without
	// reopening or letting a probe through, so P50 and P99 are the latency
	// of requests failed fast by the open breaker.
	BreakerBefore string `json:"breaker_before,omitempty"`
	BreakerAfter  string `json:"breaker_after,omitempty"`
	FailFast      bool   `json:"fail_fast"`
	// OpenedInWarmup counts the breaker's openings in the unmeasured
	// warm-up before a run phase.
	OpenedInWarmup int64 `json:"breaker_opened_in_warmup,omitempty"`
}

// Phase names.
const (
	phaseRun     = "run"
	phaseOpening = "opening"
	phaseSteady  = "steady"
	phaseSerial  = "serial"
)

// Where the upstream count comes from.
const (
	upstreamFromOrigin = "origin"
	upstreamFromProxy  = "proxy"
)

// newPhase computes a phase from the load generator's result, the requests
// that reached upstream and, for the proxy, its metrics at both ends.
func newPhase(scenarioName, targetName, phase string, load loadResult, upstream int64, from string, before, after *proxyMetrics) resiliencePhase {
	p := resiliencePhase{
		Scenario:       scenarioName,
		Target:         targetName,
		Phase:          phase,
		ClientRequests: load.Requests + load.SocketErrors,
		OK:             load.Requests - load.StatusErrors,
		Status503:      load.Statuses[503],
		SocketErrors:   load.SocketErrors,
		Statuses:       load.Statuses,
		ReqPerSec:      load.ReqPerSec,
		Upstream:       upstream,
		UpstreamFrom:   from,
		P50:            load.P50,
		P99:            load.P99,
	}
	p.OtherErrors = load.StatusErrors - p.Status503 + load.SocketErrors
	if p.ClientRequests > 0 {
		p.SuccessPct = 100 * float64(p.OK) / float64(p.ClientRequests)
	}
	if load.Requests > 0 {
		p.Amplification = float64(upstream) / float64(load.Requests)
	}
	if before != nil && after != nil {
		d := after.sub(*before)
		p.Proxy = &d
		p.BreakerBefore = breakerStateName(before.BreakerState)
		p.BreakerAfter = breakerStateName(after.BreakerState)
		p.FailFast = before.BreakerState == 1 && after.BreakerState == 1 && d.BreakerOpened == 0 && d.Attempts == 0
	}
	return p
}

// resilienceGoal is a target a phase is held to, from the issue. A goal
// that the phase cannot judge (the breaker kept the retries from running)
// says why in skip.
type resilienceGoal struct {
	what string
	met  bool
	skip string
}

// goalsFor returns the goals the issue sets for a proxy phase (none for
// direct).
func goalsFor(p resiliencePhase) []resilienceGoal {
	if p.Proxy == nil {
		return nil
	}
	amp := func(limit float64) resilienceGoal {
		return resilienceGoal{what: fmt.Sprintf("amplification %.3fx <= %.1fx", p.Amplification, limit), met: p.Amplification <= limit}
	}
	var goals []resilienceGoal
	switch {
	case p.Phase == phaseRun && p.Scenario == "fail5":
		goals = []resilienceGoal{
			{what: fmt.Sprintf("success %.3f%% >= 99.9%%", p.SuccessPct), met: p.SuccessPct >= 99.9},
			amp(1.1),
		}
	case p.Phase == phaseRun:
		goals = []resilienceGoal{budgetGoal(p)}
	case p.Phase == phaseOpening:
		goals = []resilienceGoal{amp(1.2)}
	case p.Phase == phaseSteady || p.Phase == phaseSerial:
		// Once open, only half-open probes may reach the origin, and none
		// within the first breaker timeout.
		goals = []resilienceGoal{{what: "breaker open throughout, no attempt reached the origin", met: p.FailFast}}
		if p.Phase == phaseSerial {
			goals = append(goals, resilienceGoal{what: fmt.Sprintf("fail-fast p99 %s < 1ms", fmtLatency(p.P99)),
				met: p.FailFast && p.P99 < time.Millisecond})
		}
	}
	if p.Phase == phaseRun && p.Proxy.BreakerRejected > 0 {
		for i := range goals {
			goals[i].skip = fmt.Sprintf("the open breaker rejected %d requests, so the retries were not exercised", p.Proxy.BreakerRejected)
		}
	}
	return goals
}

// budgetGoal holds a run to the retry budget's design: retries in a window
// at most budgetPercent% of the requests started in it plus
// minRetriesPerSecond per second, so amplification at most
// 1 + budgetPercent/100 + minRetriesPerSecond/(req/s).
func budgetGoal(p resiliencePhase) resilienceGoal {
	limit := 1 + float64(budgetPercent)/100
	what := fmt.Sprintf("amplification %.3fx <= %.3fx (retry budget: %d%%)", p.Amplification, limit, budgetPercent)
	if p.ReqPerSec > 0 {
		limit += minRetriesPerSecond / p.ReqPerSec
		what = fmt.Sprintf("amplification %.3fx <= %.3fx (retry budget: %d%% + %d/s at %.0f req/s)",
			p.Amplification, limit, budgetPercent, minRetriesPerSecond, p.ReqPerSec)
	}
	return resilienceGoal{what: what, met: p.Amplification <= limit}
}

// fmtStatuses lists the non-2xx statuses, e.g. "502:64 503:1200".
func fmtStatuses(st map[int]int64) string {
	var parts []string
	for _, s := range slices.Sorted(maps.Keys(st)) {
		if s/100 != 2 && st[s] > 0 {
			parts = append(parts, strconv.Itoa(s)+":"+strconv.FormatInt(st[s], 10))
		}
	}
	return strings.Join(parts, " ")
}

// printResilience writes the resilience table and the goals.
func printResilience(w io.Writer, phases []resiliencePhase) {
	if len(phases) == 0 {
		return
	}
	fmt.Fprintln(w, "resilience (origin failing at random or dead; up/req = requests reaching the origin per completed client request)")
	t := [][]string{{"scenario", "target", "phase", "requests", "ok %", "503", "other", "upstream", "up/req", "p50", "p99",
		"retries", "budget-refused", "breaker opened", "breaker rejected", "breaker"}}
	dash := func(p *proxyMetrics, v func(*proxyMetrics) int64) string {
		if p == nil {
			return "-"
		}
		return strconv.FormatInt(v(p), 10)
	}
	var notes []string
	for _, p := range phases {
		name := p.Target
		if p.Proxy == nil {
			name += "*"
		}
		up := fmt.Sprintf("%.3f", p.Amplification)
		if p.UpstreamFrom == upstreamFromProxy {
			up += "†"
		}
		breaker := "-"
		if p.Proxy != nil {
			breaker = p.BreakerBefore + "→" + p.BreakerAfter
		}
		t = append(t, []string{p.Scenario, name, p.Phase, strconv.FormatInt(p.ClientRequests, 10),
			fmt.Sprintf("%.3f", p.SuccessPct), strconv.FormatInt(p.Status503, 10), strconv.FormatInt(p.OtherErrors, 10),
			strconv.FormatInt(p.Upstream, 10), up,
			fmtLatency(p.P50), fmtLatency(p.P99),
			dash(p.Proxy, func(m *proxyMetrics) int64 { return m.Retries }),
			dash(p.Proxy, func(m *proxyMetrics) int64 { return m.BudgetExhausted }),
			dash(p.Proxy, func(m *proxyMetrics) int64 { return m.BreakerOpened }),
			dash(p.Proxy, func(m *proxyMetrics) int64 { return m.BreakerRejected }),
			breaker})
		if s := fmtStatuses(p.Statuses); s != "" {
			notes = append(notes, fmt.Sprintf("%s %s %s: non-2xx by status %s; socket errors %d", p.Scenario, p.Target, p.Phase, s, p.SocketErrors))
		}
		if p.Proxy != nil && len(p.Proxy.Missing) > 0 {
			notes = append(notes, fmt.Sprintf("%s %s %s: the proxy's /metrics lacks %s (counted as 0)",
				p.Scenario, p.Target, p.Phase, strings.Join(p.Proxy.Missing, ", ")))
		}
		if p.OpenedInWarmup > 0 {
			notes = append(notes, fmt.Sprintf("%s %s %s: the breaker opened %d time(s) during the warm-up",
				p.Scenario, p.Target, p.Phase, p.OpenedInWarmup))
		}
		if p.FailFast {
			notes = append(notes, fmt.Sprintf("%s %s %s: breaker open throughout: p50 %s, p99 %s are the fail-fast latency",
				p.Scenario, p.Target, p.Phase, fmtLatency(p.P50), fmtLatency(p.P99)))
		}
	}
	writeAligned(w, t, 3)
	fmt.Fprintln(w, "* direct: the origin alone, its raw failure rate.  † dead origin: upstream is the proxy's upstream attempts (its /metrics).")
	for _, n := range notes {
		fmt.Fprintln(w, n)
	}
	for _, p := range phases {
		for _, g := range goalsFor(p) {
			verdict := "met"
			switch {
			case g.skip != "":
				verdict = "not judged (" + g.skip + ")"
			case !g.met:
				verdict = "NOT MET"
			}
			fmt.Fprintf(w, "goal %s %s %s: %s: %s\n", p.Scenario, p.Target, p.Phase, g.what, verdict)
		}
	}
}
