package main

import (
	"bytes"
	"io"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestRoundOrderAlternates(t *testing.T) {
	ts := []string{"direct", "yatagarasu", "nginx"}
	for round, want := range map[int][]string{
		1: {"direct", "yatagarasu", "nginx"},
		2: {"nginx", "yatagarasu", "direct"},
		3: {"direct", "yatagarasu", "nginx"},
	} {
		if got := roundOrder(ts, round); !slices.Equal(got, want) {
			t.Errorf("round %d: %v, want %v", round, got, want)
		}
	}
	if !slices.Equal(ts, []string{"direct", "yatagarasu", "nginx"}) {
		t.Fatalf("roundOrder changed its input: %v", ts)
	}
}

// closedRow is a 1k row of one round with a CPU cost and a req/s.
func closedRow(target string, round int, cpu, rps float64) row {
	r := row{Scenario: "1k", Target: target, Round: round, CPUPerReqUS: cpu, PeakRSSMiB: 10}
	r.Load.ReqPerSec, r.Load.P99 = rps, time.Millisecond
	return r
}

func TestRatiosPairRowsOfTheSameRound(t *testing.T) {
	rows := []row{
		closedRow("yatagarasu", 1, 30, 30000), closedRow("nginx", 1, 25, 36000),
		closedRow("nginx", 2, 30, 30000), closedRow("yatagarasu", 2, 45, 20000),
		closedRow("yatagarasu", 3, 27, 33000), closedRow("nginx", 3, 30, 30000),
	}
	qs := computeRatios(rows)
	if len(qs) != 3 {
		t.Fatalf("%d ratios, want one per round: %+v", len(qs), qs)
	}
	for i, want := range []float64{30.0 / 25, 45.0 / 30, 27.0 / 30} {
		if qs[i].Round != i+1 || math.Abs(qs[i].CPUPerReq-want) > 1e-9 {
			t.Errorf("ratio %d = round %d, CPU %g; want round %d, CPU %g", i, qs[i].Round, qs[i].CPUPerReq, i+1, want)
		}
	}

	ms := medianRatios(qs)
	if len(ms) != 1 {
		t.Fatalf("medians = %+v, want one for yatagarasu/nginx", ms)
	}
	m := ms[0]
	if m.Scenario != "1k" || m.Target != "yatagarasu" || m.Versus != "nginx" || m.Rounds != 3 {
		t.Fatalf("median = %+v", m)
	}
	if math.Abs(m.CPUPerReq-1.2) > 1e-9 || math.Abs(m.ReqPerSec-30000.0/36000) > 1e-9 || m.PeakRSS != 1 {
		t.Fatalf("median CPU %g req/s %g RSS %g, want 1.2, %g, 1", m.CPUPerReq, m.ReqPerSec, m.PeakRSS, 30000.0/36000)
	}
	if !slices.Equal(m.CPUPerReqRounds, []float64{qs[0].CPUPerReq, qs[1].CPUPerReq, qs[2].CPUPerReq}) {
		t.Fatalf("rounds' CPU ratios %v, want them in round order", m.CPUPerReqRounds)
	}

	var b bytes.Buffer
	printPerfTable(&b, &results{Rows: rows, Ratios: qs, RatioMedians: ms})
	for _, want := range []string{"yatagarasu #2", "yatagarasu/nginx #3", "ratios' medians over the rounds", "1.20x", "1.20 1.50 0.90"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
}

func TestNoMediansForASingleMeasurement(t *testing.T) {
	qs := computeRatios([]row{closedRow("yatagarasu", 0, 30, 30000), closedRow("nginx", 0, 25, 36000)})
	if len(qs) != 1 || qs[0].Round != 0 {
		t.Fatalf("ratios = %+v", qs)
	}
	if ms := medianRatios(qs); ms != nil {
		t.Fatalf("medians of one measurement = %+v, want none", ms)
	}
}

func TestHalfGoalOnTheMedianOfRounds(t *testing.T) {
	open := func(target string, round int, p99 time.Duration) row {
		r := row{Scenario: "half", Target: target, Round: round, Kind: kindOpen, Measured: "proxy", CPUPerReqUS: 40}
		r.Load.P99, r.Load.ReqPerSec = p99, 1000
		return r
	}
	ms := time.Millisecond
	tests := []struct {
		name         string
		rows         []row
		wantRatios   []float64
		wantRatio    float64
		wantMet      bool
		wantUnjudged int
		wantLines    []string
	}{
		{
			// One bad round of three does not decide.
			name: "median met",
			rows: []row{
				open("yatagarasu", 1, 1*ms), open("nginx", 1, 1*ms),
				open("nginx", 2, 1*ms), open("yatagarasu", 2, 26*ms),
				open("yatagarasu", 3, 11*ms/10), open("nginx", 3, 1*ms),
			},
			wantRatios: []float64{1, 26, 1.1}, wantRatio: 1.1, wantMet: true,
			wantLines: []string{"half round 2: yatagarasu p99 <= 1.2x nginx p99: 26.00ms vs 1.00ms = 26.00x: NOT met",
				"goal half, median of 3 rounds (1.00x, 26.00x, 1.10x): yatagarasu p99 <= 1.2x nginx p99: 1.10x (median p99s 1.10ms vs 1.00ms): met"},
		},
		{
			name: "median not met",
			rows: []row{
				open("yatagarasu", 1, 2*ms), open("nginx", 1, 1*ms),
				open("yatagarasu", 2, 1*ms), open("nginx", 2, 1*ms),
				open("yatagarasu", 3, 3*ms), open("nginx", 3, 1*ms),
			},
			wantRatios: []float64{2, 1, 3}, wantRatio: 2,
			wantLines: []string{"goal half, median of 3 rounds (2.00x, 1.00x, 3.00x): yatagarasu p99 <= 1.2x nginx p99: 2.00x (median p99s 2.00ms vs 1.00ms): NOT met"},
		},
		{
			// A round without nginx is counted, not guessed.
			name: "a round not judged",
			rows: []row{
				open("yatagarasu", 1, 1*ms), open("nginx", 1, 1*ms),
				open("yatagarasu", 2, 1*ms),
			},
			wantRatios: []float64{1}, wantRatio: 1, wantMet: true, wantUnjudged: 1,
			wantLines: []string{"half round 2: yatagarasu p99 <= 1.2x nginx p99: not judged (no nginx row to compare with)",
				"goal half, median of 1 rounds (1.00x; 1 not judged)"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &halfRun{Base: 2000, BaseFrom: "1k", RateOf: 0.5, Rate: 1000}
			halfTable(h, tt.rows)
			if len(h.Rows) != len(tt.rows) || len(h.RoundGoals) != len(roundsOf(tt.rows)) {
				t.Fatalf("%d rows, %d round goals", len(h.Rows), len(h.RoundGoals))
			}
			g := h.Goal
			if g == nil || g.Round != 0 || g.Met != tt.wantMet || g.Unjudged != tt.wantUnjudged ||
				math.Abs(g.Ratio-tt.wantRatio) > 1e-9 || !slices.Equal(g.Ratios, tt.wantRatios) {
				t.Fatalf("goal = %+v, want ratio %g of %v, met %v, %d unjudged", g, tt.wantRatio, tt.wantRatios, tt.wantMet, tt.wantUnjudged)
			}
			var b bytes.Buffer
			printHalf(&b, h)
			for _, l := range tt.wantLines {
				if !strings.Contains(b.String(), l) {
					t.Errorf("half table lacks %q:\n%s", l, b.String())
				}
			}
			if !strings.Contains(b.String(), "yatagarasu #2") {
				t.Errorf("half table does not label rounds:\n%s", b.String())
			}
		})
	}
}

// roundsOf lists the distinct rounds of rows.
func roundsOf(rows []row) []int {
	var out []int
	for _, r := range rows {
		if !slices.Contains(out, r.Round) {
			out = append(out, r.Round)
		}
	}
	return out
}

func TestHalfBaseFromRounds(t *testing.T) {
	rows := []row{closedRow("yatagarasu", 1, 30, 30000), closedRow("yatagarasu", 2, 0, 0), closedRow("yatagarasu", 3, 30, 20000)}
	rows[1].Error = "boom"
	e := &env{opts: options{halfBase: 2}, progress: io.Discard}
	h := e.halfBase(t.Context(), []scenario{{Name: "1k", Object: "1k"}, {Name: "half", Kind: kindOpen, RateOf: 0.5}}, nil, rows, 0.5)
	// The failed round is left out; the two others are enough.
	if h.Skipped != "" || h.Rate != 12500 {
		t.Fatalf("half rate %g (skipped %q), want 12500 from the two measured rounds", h.Rate, h.Skipped)
	}
	if want := "the median of 2 closed-loop runs: 1k's 2 rounds (30000, 20000)"; h.BaseFrom != want {
		t.Fatalf("from %q, want %q", h.BaseFrom, want)
	}
}

func TestRoundsFlag(t *testing.T) {
	if _, err := parseFlags([]string{"-rounds", "0"}); err == nil || !strings.Contains(err.Error(), "-rounds 0") {
		t.Fatalf("-rounds 0: %v, want an error naming it", err)
	}
	o, err := parseFlags([]string{"-rounds", "3"})
	if err != nil || o.rounds != 3 {
		t.Fatalf("-rounds 3: %+v, %v", o.rounds, err)
	}
	if o, err := parseFlags(nil); err != nil || o.rounds != 1 {
		t.Fatalf("default rounds %d, %v; want 1", o.rounds, err)
	}
}
