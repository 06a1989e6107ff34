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

func TestHalfBaseFromRows(t *testing.T) {
	closed := func(target string, rps float64, failed bool) row {
		r := row{Scenario: "1k", Target: target}
		r.Load.ReqPerSec = rps
		if failed {
			r.Error = "boom"
		}
		return r
	}
	oneK := scenario{Name: "1k", Object: "1k"}
	tests := []struct {
		name       string
		rows       []row
		calibrated bool
		wantRate   float64
		wantFrom   string
		wantSkip   bool
	}{
		{name: "half of the public row", rows: []row{closed("direct", 100000, false), closed("yatagarasu", 50000, false),
			closed("yatagarasu:auth-hs256", 40000, false)}, wantRate: 25000, wantFrom: "1k"},
		{name: "calibration run", rows: []row{closed("yatagarasu", 30000, false)}, calibrated: true,
			wantRate: 15000, wantFrom: "1k (run for this only)"},
		{name: "failed 1k", rows: []row{closed("yatagarasu", 0, true)}, wantSkip: true},
		{name: "no yatagarasu", rows: []row{closed("nginx", 40000, false)}, wantSkip: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// -half-base 1: the 1k row is enough, nothing is run again.
			e := &env{opts: options{halfBase: 1}, progress: io.Discard}
			sc := oneK
			sc.Calibration = tt.calibrated
			h := e.halfBase(t.Context(), []scenario{sc, {Name: "half", Kind: kindOpen, RateOf: 0.5}}, nil, tt.rows, 0.5)
			if (h.Skipped != "") != tt.wantSkip {
				t.Fatalf("skipped = %q, want skipped %v", h.Skipped, tt.wantSkip)
			}
			if h.Rate != tt.wantRate || (!tt.wantSkip && h.BaseFrom != tt.wantFrom) {
				t.Fatalf("rate %g from %q, want %g from %q", h.Rate, h.BaseFrom, tt.wantRate, tt.wantFrom)
			}
		})
	}
}

func TestHalfRateIsHalfTheMedian(t *testing.T) {
	tests := []struct {
		name     string
		samples  []float64
		wantBase float64
		wantFrom string
	}{
		{name: "one", samples: []float64{30000}, wantBase: 30000, wantFrom: "1k"},
		// An outlier high run does not set the rate.
		{name: "three", samples: []float64{30400, 22000, 23000}, wantBase: 23000,
			wantFrom: "the median of 3 closed-loop runs: 1k and 2 run for half (30400, 22000, 23000)"},
		{name: "four", samples: []float64{4, 1, 3, 2}, wantBase: 2.5,
			wantFrom: "the median of 4 closed-loop runs: 1k and 3 run for half (4, 1, 3, 2)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := slices.Clone(tt.samples)
			h := halfRate(0.5, in, 1, false)
			if h.Skipped != "" || h.Base != tt.wantBase || h.Rate != tt.wantBase/2 || h.BaseFrom != tt.wantFrom {
				t.Fatalf("halfRate = base %g rate %g from %q (skipped %q), want base %g rate %g from %q",
					h.Base, h.Rate, h.BaseFrom, h.Skipped, tt.wantBase, tt.wantBase/2, tt.wantFrom)
			}
			if !slices.Equal(in, tt.samples) || !slices.Equal(h.Samples, tt.samples) {
				t.Fatalf("samples %v kept as %v (input now %v), want them as measured", tt.samples, h.Samples, in)
			}
		})
	}
	if h := halfRate(0.5, nil, 0, false); h.Skipped == "" {
		t.Fatalf("halfRate with no sample = %+v, want skipped", h)
	}
}

func TestHalfTableAndGoal(t *testing.T) {
	open := func(target string, p99 time.Duration, cpu float64, unsent int64) row {
		r := row{Scenario: "half", Target: target, Kind: kindOpen, Measured: "proxy", CPUPerReqUS: cpu}
		r.Load.P99, r.Load.Unsent, r.Load.ReqPerSec = p99, unsent, 1000
		r.Load.Open = &openResult{Offered: 1000, WakeLagP99: 50 * time.Microsecond}
		return r
	}
	ms := time.Millisecond
	tests := []struct {
		name      string
		rows      []row
		wantMet   bool
		wantRatio float64
		wantNote  bool
		wantLine  string
	}{
		{name: "met", rows: []row{open("yatagarasu", 11*ms/10, 20, 0), open("nginx", ms, 10, 0)},
			wantMet: true, wantRatio: 1.1, wantLine: "1.10x: met"},
		{name: "not met", rows: []row{open("yatagarasu", 2*ms, 20, 0), open("nginx", ms, 10, 0)},
			wantRatio: 2, wantLine: "2.00x: NOT met"},
		{name: "profiles do not decide", rows: []row{open("yatagarasu", ms, 20, 0), open("yatagarasu:auth-es256", 5*ms, 30, 0), open("nginx", ms, 10, 0)},
			wantMet: true, wantRatio: 1, wantLine: "1.00x: met"},
		{name: "unsent requests", rows: []row{open("yatagarasu", ms, 20, 3), open("nginx", ms, 10, 0)},
			wantRatio: 1, wantNote: true, wantLine: "not judged (yatagarasu could not take the rate (3 requests unsent))"},
		{name: "no nginx", rows: []row{open("yatagarasu", ms, 20, 0)}, wantNote: true, wantLine: "not judged (no nginx row"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &halfRun{Base: 2000, BaseFrom: "1k", RateOf: 0.5, Rate: 1000}
			halfTable(h, append(tt.rows, row{Scenario: "1k", Target: "nginx"})) // closed-loop rows are ignored
			if len(h.Rows) != len(tt.rows) {
				t.Fatalf("%d half rows, want %d", len(h.Rows), len(tt.rows))
			}
			g := h.Goal
			if g == nil || g.Met != tt.wantMet || (g.Note != "") != tt.wantNote || math.Abs(g.Ratio-tt.wantRatio) > 1e-9 {
				t.Fatalf("goal = %+v, want met %v, ratio %g, note %v", g, tt.wantMet, tt.wantRatio, tt.wantNote)
			}
			var b bytes.Buffer
			printHalf(&b, h)
			if !strings.Contains(b.String(), tt.wantLine) {
				t.Fatalf("table lacks %q:\n%s", tt.wantLine, b.String())
			}
			if !strings.Contains(b.String(), "R = 1000 req/s") {
				t.Fatalf("table does not state R:\n%s", b.String())
			}
		})
	}
}
