package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// The half scenario: latency at half of the saturating load. Its rate R is
// half of yatagarasu's (public profile) closed-loop 1k req/s measured
// earlier in the same run; every target then gets R, sent by the Go
// loader's open loop (openloop.go), so latency counts from when each
// request was due and a slow response shows in the requests behind it.
// The goal: yatagarasu's p99 at R at most halfGoalRatio times nginx's.

// halfGoalRatio is the most yatagarasu's p99 may be over nginx's at half
// load.
const halfGoalRatio = 1.2

// halfRun is the half scenario's calibration, table and goal in
// results.json.
type halfRun struct {
	// Base is the median of Samples, yatagarasu's (public) closed-loop
	// req/s in the 1k scenario of this run and in the 1k runs made again
	// for half (-half-base in all); BaseFrom says which runs. Rate =
	// RateOf × Base, offered to every target.
	Base     float64   `json:"base_req_per_sec"`
	Samples  []float64 `json:"base_samples,omitempty"`
	BaseFrom string    `json:"base_from,omitempty"`
	RateOf   float64   `json:"rate_of"`
	Rate     float64   `json:"rate"`
	// Skipped says why half did not run (no 1k figure of yatagarasu).
	Skipped string    `json:"skipped,omitempty"`
	Rows    []halfRow `json:"rows,omitempty"`
	// Goal is the goal's verdict: on the one measurement, or with -rounds
	// on the median of the rounds' ratios (RoundGoals, one per round).
	Goal       *halfGoal  `json:"goal,omitempty"`
	RoundGoals []halfGoal `json:"round_goals,omitempty"`
}

// halfRow is one target at the offered rate.
type halfRow struct {
	Target   string  `json:"target"`
	Round    int     `json:"round,omitempty"` // 0: measured once
	Offered  float64 `json:"offered_rate"`
	Achieved float64 `json:"achieved_rate"` // responses per second of the run
	Unsent   int64   `json:"unsent"`
	Errors   int64   `json:"errors"`
	// Latency from the scheduled send.
	P50  time.Duration `json:"p50_ns"`
	P99  time.Duration `json:"p99_ns"`
	P999 time.Duration `json:"p999_ns"`
	Max  time.Duration `json:"max_ns"`
	// SendP99 is p99 from the actual send; WakeLagP99 the loader's own
	// lateness on a free connection (see openResult).
	SendP99     time.Duration `json:"send_p99_ns"`
	WakeLagP99  time.Duration `json:"wake_lag_p99_ns"`
	CPUPerReqUS float64       `json:"cpu_us_per_req"`
	CPUUtil     float64       `json:"cpu_util"`
	// P99VsNginx and CPUVsNginx divide this target's p99 and CPU/req by
	// nginx's in the same scenario (0 without nginx).
	P99VsNginx float64 `json:"p99_vs_nginx,omitempty"`
	CPUVsNginx float64 `json:"cpu_vs_nginx,omitempty"`
	Measured   string  `json:"measured"`
	Error      string  `json:"error,omitempty"`
}

// halfGoal judges yatagarasu's (public) p99 against nginx's.
type halfGoal struct {
	Target   string        `json:"target"`
	P99      time.Duration `json:"p99_ns"`
	NginxP99 time.Duration `json:"nginx_p99_ns"`
	Ratio    float64       `json:"ratio"`
	Limit    float64       `json:"limit"`
	Met      bool          `json:"met"`
	// Note says why the goal could not be judged (then Met is false).
	Note string `json:"note,omitempty"`
	// Round is the round judged (0: the only measurement, or the median).
	// For the median, Ratios are the judged rounds' ratios in round order,
	// Ratio their median, P99 and NginxP99 the medians of their p99s, and
	// Unjudged the rounds left out (see each round's Note).
	Round    int       `json:"round,omitempty"`
	Ratios   []float64 `json:"round_ratios,omitempty"`
	Unjudged int       `json:"unjudged_rounds,omitempty"`
}

// halfTable fills h's rows and goal from the half scenario's rows: each
// round's rows are compared with that round's nginx row; with more than
// one round the goal is judged on the median (medianHalfGoal).
func halfTable(h *halfRun, rows []row) {
	h.Rows, h.RoundGoals, h.Goal = nil, nil, nil
	var rounds []int
	for _, r := range rows {
		if r.Kind == kindOpen && !slices.Contains(rounds, r.Round) {
			rounds = append(rounds, r.Round)
		}
	}
	for _, round := range rounds {
		g := halfRound(h, rows, round)
		if g == nil {
			continue
		}
		if round == 0 {
			h.Goal = g
			continue
		}
		g.Round = round
		h.RoundGoals = append(h.RoundGoals, *g)
	}
	if len(h.RoundGoals) > 0 {
		h.Goal = medianHalfGoal(h.RoundGoals)
	}
}

// halfRound appends round's rows to h.Rows and judges the goal on them.
func halfRound(h *halfRun, rows []row, round int) *halfGoal {
	var nginx *row
	for i, r := range rows {
		if r.Kind == kindOpen && r.Round == round && r.Target == targetNginx && r.Error == "" {
			nginx = &rows[i]
		}
	}
	div := func(a, b float64) float64 {
		if b == 0 {
			return 0
		}
		return a / b
	}
	first := len(h.Rows)
	for _, r := range rows {
		if r.Kind != kindOpen || r.Round != round {
			continue
		}
		hr := halfRow{Target: r.Target, Round: r.Round, Measured: r.Measured, Error: r.Error}
		if r.Error == "" {
			hr.Offered, hr.Achieved, hr.Unsent, hr.Errors = h.Rate, r.Load.ReqPerSec, r.Load.Unsent, r.Load.Errors
			hr.P50, hr.P99, hr.P999, hr.Max = r.Load.P50, r.Load.P99, r.Load.P999, r.Load.Max
			if o := r.Load.Open; o != nil {
				hr.Offered, hr.SendP99, hr.WakeLagP99 = o.Offered, o.SendP99, o.WakeLagP99
			}
			hr.CPUPerReqUS, hr.CPUUtil = r.CPUPerReqUS, r.CPUUtil
			if nginx != nil {
				hr.P99VsNginx = div(float64(r.Load.P99), float64(nginx.Load.P99))
				hr.CPUVsNginx = div(r.CPUPerReqUS, nginx.CPUPerReqUS)
			}
		}
		h.Rows = append(h.Rows, hr)
	}
	var nginxP99 time.Duration
	if nginx != nil {
		nginxP99 = nginx.Load.P99
	}
	return judgeHalf(h.Rows[first:], nginxP99)
}

// medianHalfGoal judges the goal on the median of the judged rounds'
// ratios; rounds that could not be judged are counted, not guessed.
func medianHalfGoal(rounds []halfGoal) *halfGoal {
	g := &halfGoal{Target: rounds[0].Target, Limit: halfGoalRatio}
	var p99s, nginxP99s []float64
	for _, r := range rounds {
		if r.Note != "" {
			g.Unjudged++
			if g.Note == "" {
				g.Note = fmt.Sprintf("round %d: %s", r.Round, r.Note)
			}
			continue
		}
		g.Ratios = append(g.Ratios, r.Ratio)
		p99s, nginxP99s = append(p99s, float64(r.P99)), append(nginxP99s, float64(r.NginxP99))
	}
	if len(g.Ratios) == 0 {
		g.Note = "no round could be judged; " + g.Note
		return g
	}
	g.Note = ""
	g.Ratio = median(g.Ratios)
	g.P99, g.NginxP99 = time.Duration(median(p99s)), time.Duration(median(nginxP99s))
	g.Met = g.Ratio <= halfGoalRatio
	return g
}

// judgeHalf checks the goal on the public yatagarasu row: its p99 at most
// halfGoalRatio × nginxP99 (0: nginx was not measured). Nil when half
// measured no yatagarasu row.
func judgeHalf(rows []halfRow, nginxP99 time.Duration) *halfGoal {
	for _, r := range rows {
		if r.Target != targetYatagarasu {
			continue
		}
		g := &halfGoal{Target: r.Target, P99: r.P99, NginxP99: nginxP99, Limit: halfGoalRatio}
		if r.Error == "" && nginxP99 > 0 {
			g.Ratio = float64(r.P99) / float64(nginxP99)
		}
		switch {
		case r.Error != "":
			g.Note = "yatagarasu was not measured: " + r.Error
		case nginxP99 <= 0:
			g.Note = "no nginx row to compare with"
		case r.Unsent > 0:
			g.Note = fmt.Sprintf("yatagarasu could not take the rate (%d requests unsent)", r.Unsent)
		default:
			g.Met = g.Ratio <= halfGoalRatio
		}
		return g
	}
	return nil
}

// printHalf writes the half table and its goal.
func printHalf(w io.Writer, h *halfRun) {
	if h.Skipped != "" {
		fmt.Fprintf(w, "half: skipped (%s)\n", h.Skipped)
		return
	}
	fmt.Fprintf(w, "half: open loop at R = %.0f req/s for every target = %g%% of yatagarasu's closed-loop %.0f req/s (%s); latency from each request's scheduled send\n",
		h.Rate, 100*h.RateOf, h.Base, h.BaseFrom)
	t := [][]string{{"target", "offered", "achieved", "unsent", "p50", "p99", "p99.9", "max", "p99 sent", "CPU µs/req", "CPU%", "errors", "p99/nginx", "CPU/nginx", "gen lag p99"}}
	var failed []string
	for _, r := range h.Rows {
		name := roundName(r.Target, r.Round)
		if r.Measured == "origin" {
			name += "*"
		}
		if r.Error != "" {
			failed = append(failed, fmt.Sprintf("half %s: %s", roundName(r.Target, r.Round), r.Error))
			t = append(t, []string{name, "FAILED", "-", "-", "-", "-", "-", "-", "-", "-", "-", "-", "-", "-", "-"})
			continue
		}
		t = append(t, []string{name, fmtNum(r.Offered), fmtNum(r.Achieved), fmt.Sprint(r.Unsent),
			fmtLatency(r.P50), fmtLatency(r.P99), fmtLatency(r.P999), fmtLatency(r.Max), fmtLatency(r.SendP99),
			fmtNum(r.CPUPerReqUS), fmt.Sprintf("%.0f", 100*r.CPUUtil), fmt.Sprint(r.Errors),
			fmtRatio(r.P99VsNginx), fmtRatio(r.CPUVsNginx), fmtLatency(r.WakeLagP99)})
	}
	writeAligned(w, t, 1)
	for _, f := range failed {
		fmt.Fprintf(w, "FAILED %s\n", f)
	}
	for _, g := range h.RoundGoals {
		printHalfGoal(w, &g)
	}
	if g := h.Goal; g != nil {
		printHalfGoal(w, g)
	}
}

// printHalfGoal writes one verdict line: a round's, the only one's, or the
// median's (with every judged round's ratio).
func printHalfGoal(w io.Writer, g *halfGoal) {
	label := "goal half"
	switch {
	case g.Round > 0:
		label = fmt.Sprintf("half round %d", g.Round)
	case len(g.Ratios) > 0:
		parts := make([]string, len(g.Ratios))
		for i, v := range g.Ratios {
			parts[i] = fmt.Sprintf("%.2fx", v)
		}
		label = fmt.Sprintf("goal half, median of %d rounds (%s", len(g.Ratios), strings.Join(parts, ", "))
		if g.Unjudged > 0 {
			label += fmt.Sprintf("; %d not judged", g.Unjudged)
		}
		label += ")"
	}
	switch {
	case g.Note != "" && g.Ratio > 0:
		fmt.Fprintf(w, "%s: yatagarasu p99 %s = %.2fx nginx's: not judged (%s)\n", label, fmtLatency(g.P99), g.Ratio, g.Note)
	case g.Note != "":
		fmt.Fprintf(w, "%s: yatagarasu p99 <= %.1fx nginx p99: not judged (%s)\n", label, g.Limit, g.Note)
	default:
		verdict := "met"
		if !g.Met {
			verdict = "NOT met"
		}
		if len(g.Ratios) > 0 {
			// The medians of the p99s need not divide to the median ratio.
			fmt.Fprintf(w, "%s: yatagarasu p99 <= %.1fx nginx p99: %.2fx (median p99s %s vs %s): %s\n",
				label, g.Limit, g.Ratio, fmtLatency(g.P99), fmtLatency(g.NginxP99), verdict)
			return
		}
		fmt.Fprintf(w, "%s: yatagarasu p99 <= %.1fx nginx p99: %s vs %s = %.2fx: %s\n",
			label, g.Limit, fmtLatency(g.P99), fmtLatency(g.NginxP99), g.Ratio, verdict)
	}
}

// fmtRatio prints a ratio as "1.23x", "-" when there is none.
func fmtRatio(v float64) string {
	if v == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fx", v)
}
