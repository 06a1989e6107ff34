package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
)

// Rounds: with -rounds N the closed-loop scenarios and half are measured N
// times (runScenario), and the ratios are judged on their medians. On a
// host where one 10 s run of the same build can be 0.96× or 1.55× nginx,
// a single ratio says little; the median of alternating rounds, printed
// with every round's value, says how far to trust it.

// roundOrder is the order the targets run in round (from 1): as given in
// odd rounds, reversed in even ones, so that a machine drifting over the
// run favours no target. ts is not changed.
func roundOrder[T any](ts []T, round int) []T {
	if round%2 == 1 {
		return ts
	}
	r := slices.Clone(ts)
	slices.Reverse(r)
	return r
}

// ratioMedian is one ratio's median over the rounds in which both rows
// were measured.
type ratioMedian struct {
	Scenario string `json:"scenario"`
	Target   string `json:"target"`
	Versus   string `json:"versus"`
	// Rounds is how many rounds had both rows; the medians are over them.
	Rounds    int     `json:"rounds"`
	ReqPerSec float64 `json:"req_per_sec"`
	P99       float64 `json:"p99"`
	CPUPerReq float64 `json:"cpu_per_req"`
	PeakRSS   float64 `json:"peak_rss"`
	// CPUPerReqRounds is the CPU/req ratio of each of those rounds, in
	// round order: the spread the median hides.
	CPUPerReqRounds []float64 `json:"cpu_per_req_rounds"`
}

// medianRatios groups the per-round ratios by scenario, target and versus,
// in the order each pair first appears, and takes each figure's median.
// Nil when no ratio has a round (every scenario measured once).
func medianRatios(qs []ratio) []ratioMedian {
	type key struct{ scenario, target, versus string }
	var order []key
	groups := map[key][]ratio{}
	for _, q := range qs {
		if q.Round == 0 {
			continue
		}
		k := key{q.Scenario, q.Target, q.Versus}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], q)
	}
	if len(order) == 0 {
		return nil
	}
	out := make([]ratioMedian, 0, len(order))
	for _, k := range order {
		g := groups[k]
		figure := func(f func(ratio) float64) float64 {
			vs := make([]float64, len(g))
			for i, q := range g {
				vs[i] = f(q)
			}
			return median(vs)
		}
		m := ratioMedian{Scenario: k.scenario, Target: k.target, Versus: k.versus, Rounds: len(g),
			ReqPerSec: figure(func(q ratio) float64 { return q.ReqPerSec }),
			P99:       figure(func(q ratio) float64 { return q.P99 }),
			CPUPerReq: figure(func(q ratio) float64 { return q.CPUPerReq }),
			PeakRSS:   figure(func(q ratio) float64 { return q.PeakRSS }),
		}
		for _, q := range g {
			m.CPUPerReqRounds = append(m.CPUPerReqRounds, q.CPUPerReq)
		}
		out = append(out, m)
	}
	return out
}

// printRatioMedians writes the medians' table, with the CPU/req ratio of
// every round.
func printRatioMedians(w io.Writer, ms []ratioMedian) {
	fmt.Fprintln(w, "ratios' medians over the rounds (CPU/req by round: the spread the median hides)")
	t := [][]string{{"scenario", "ratio", "rounds", "req/s", "p99", "CPU/req", "RSS", "CPU/req by round"}}
	for _, m := range ms {
		parts := make([]string, len(m.CPUPerReqRounds))
		for i, v := range m.CPUPerReqRounds {
			parts[i] = fmt.Sprintf("%.2f", v)
		}
		t = append(t, []string{m.Scenario, m.Target + "/" + m.Versus, fmt.Sprint(m.Rounds),
			fmt.Sprintf("%.2fx", m.ReqPerSec), fmt.Sprintf("%.2fx", m.P99), fmt.Sprintf("%.2fx", m.CPUPerReq),
			fmt.Sprintf("%.2fx", m.PeakRSS), strings.Join(parts, " ")})
	}
	writeAligned(w, t, 2)
}
