package main

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"
)

func TestHalfRate(t *testing.T) {
	closed := func(target string, rps float64, failed bool) row {
		r := row{Scenario: "1k", Target: target}
		r.Load.ReqPerSec = rps
		if failed {
			r.Error = "boom"
		}
		return r
	}
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
			h := halfRate(0.5, tt.rows, tt.calibrated)
			if (h.Skipped != "") != tt.wantSkip {
				t.Fatalf("skipped = %q, want skipped %v", h.Skipped, tt.wantSkip)
			}
			if h.Rate != tt.wantRate || (!tt.wantSkip && h.BaseFrom != tt.wantFrom) {
				t.Fatalf("rate %g from %q, want %g from %q", h.Rate, h.BaseFrom, tt.wantRate, tt.wantFrom)
			}
		})
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
