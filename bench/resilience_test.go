package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

func TestNewPhase(t *testing.T) {
	load := loadResult{Requests: 10_000, StatusErrors: 30, SocketErrors: 2,
		Statuses: map[int]int64{200: 9970, 503: 25, 502: 5}, P50: time.Millisecond, P99: 120 * time.Millisecond}
	before := &proxyMetrics{Attempts: 100, Retries: 10, BreakerState: 0}
	after := &proxyMetrics{Attempts: 10_600, Retries: 510, BudgetExhausted: 3, BreakerState: 0}

	p := newPhase("fail5", "yatagarasu:resilience", phaseRun, load, 10_520, upstreamFromOrigin, before, after)
	if p.ClientRequests != 10_002 || p.OK != 9970 || p.Status503 != 25 || p.OtherErrors != 7 {
		t.Errorf("counts: %d requests, %d ok, %d 503, %d other; want 10002, 9970, 25, 7",
			p.ClientRequests, p.OK, p.Status503, p.OtherErrors)
	}
	if want := 100 * 9970.0 / 10_002; p.SuccessPct != want {
		t.Errorf("success %v%%, want %v%%", p.SuccessPct, want)
	}
	if p.Amplification != 1.052 {
		t.Errorf("amplification %v, want 1.052 (upstream over completed requests)", p.Amplification)
	}
	if p.Proxy == nil || p.Proxy.Retries != 500 || p.Proxy.Attempts != 10_500 || p.Proxy.BudgetExhausted != 3 {
		t.Errorf("proxy delta %+v, want 500 retries, 10500 attempts, 3 refused", p.Proxy)
	}
	if p.FailFast || p.BreakerBefore != "closed" || p.BreakerAfter != "closed" {
		t.Errorf("breaker %s→%s fail-fast %v, want closed→closed, not fail-fast", p.BreakerBefore, p.BreakerAfter, p.FailFast)
	}

	direct := newPhase("fail5", "direct", phaseRun, load, 10_000, upstreamFromOrigin, nil, nil)
	if direct.Proxy != nil || direct.FailFast || direct.BreakerBefore != "" {
		t.Errorf("direct phase %+v: want no proxy figures", direct)
	}
	if goals := goalsFor(direct); goals != nil {
		t.Errorf("goals for direct: %+v", goals)
	}
}

func TestFailFastAndGoals(t *testing.T) {
	open := proxyMetrics{BreakerState: 1, BreakerOpened: 1, BreakerRejected: 100, Attempts: 40}
	tests := []struct {
		name      string
		scenario  string
		phase     string
		load      loadResult
		upstream  int64
		before    proxyMetrics
		after     proxyMetrics
		wantFast  bool
		wantGoals []string // "met", "NOT MET" or "skip", in order
	}{
		{
			name: "fail5 meets both", scenario: "fail5", phase: phaseRun,
			load:     loadResult{Requests: 100_000, StatusErrors: 5, Statuses: map[int]int64{503: 5}},
			upstream: 105_300, wantGoals: []string{"met", "met"},
		},
		{
			name: "fail5 too many failures", scenario: "fail5", phase: phaseRun,
			load:     loadResult{Requests: 100_000, StatusErrors: 200, Statuses: map[int]int64{503: 200}},
			upstream: 105_300, wantGoals: []string{"NOT MET", "met"},
		},
		{
			name: "budget cap includes the per-second floor", scenario: "fail30-nobreaker", phase: phaseRun,
			load:     loadResult{Requests: 22_500, StatusErrors: 3500, ReqPerSec: 2250},
			upstream: 27_090, wantGoals: []string{"met"}, // 1.204 <= 1.2 + 10/2250
		},
		{
			name: "budget cap exceeded", scenario: "fail30-nobreaker", phase: phaseRun,
			load:     loadResult{Requests: 22_500, StatusErrors: 3500, ReqPerSec: 2250},
			upstream: 27_225, wantGoals: []string{"NOT MET"}, // 1.21
		},
		{
			name: "fail30 with the breaker open is not judged", scenario: "fail30", phase: phaseRun,
			load:   loadResult{Requests: 1000, StatusErrors: 1000, Statuses: map[int]int64{503: 1000}},
			before: open, after: proxyMetrics{BreakerState: 1, BreakerOpened: 1, BreakerRejected: 1100, Attempts: 40},
			wantFast: true, wantGoals: []string{"skip"},
		},
		{
			name: "steady fail fast", scenario: "dead", phase: phaseSteady,
			load:   loadResult{Requests: 1000, StatusErrors: 1000, P99: 3 * time.Millisecond},
			before: open, after: proxyMetrics{BreakerState: 1, BreakerOpened: 1, BreakerRejected: 1100, Attempts: 40},
			wantFast: true, wantGoals: []string{"met"},
		},
		{
			name: "serial fail fast under 1ms", scenario: "dead", phase: phaseSerial,
			load:   loadResult{Requests: 1000, StatusErrors: 1000, P99: 300 * time.Microsecond},
			before: open, after: proxyMetrics{BreakerState: 1, BreakerOpened: 1, BreakerRejected: 1100, Attempts: 40},
			wantFast: true, wantGoals: []string{"met", "met"},
		},
		{
			name: "a probe got through", scenario: "dead", phase: phaseSerial,
			load:   loadResult{Requests: 1000, StatusErrors: 1000, P99: 300 * time.Microsecond},
			before: open, after: proxyMetrics{BreakerState: 1, BreakerOpened: 2, BreakerRejected: 1100, Attempts: 43},
			wantFast: false, wantGoals: []string{"NOT MET", "NOT MET"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPhase(tt.scenario, "yatagarasu:resilience", tt.phase, tt.load, tt.upstream, upstreamFromOrigin, &tt.before, &tt.after)
			if p.FailFast != tt.wantFast {
				t.Errorf("fail-fast %v, want %v", p.FailFast, tt.wantFast)
			}
			goals := goalsFor(p)
			if len(goals) != len(tt.wantGoals) {
				t.Fatalf("goals %+v, want %v", goals, tt.wantGoals)
			}
			for i, g := range goals {
				got := "NOT MET"
				switch {
				case g.skip != "":
					got = "skip"
				case g.met:
					got = "met"
				}
				if got != tt.wantGoals[i] {
					t.Errorf("goal %q: %s, want %s", g.what, got, tt.wantGoals[i])
				}
			}
		})
	}
}

func TestPrintResilience(t *testing.T) {
	phases := []resiliencePhase{
		newPhase("fail5", "direct", phaseRun, loadResult{Requests: 1000, StatusErrors: 50, Statuses: map[int]int64{200: 950, 503: 50}},
			1000, upstreamFromOrigin, nil, nil),
		newPhase("dead", "yatagarasu:resilience", phaseSteady, loadResult{Requests: 500, StatusErrors: 500, Statuses: map[int]int64{503: 500},
			P50: 200 * time.Microsecond, P99: 900 * time.Microsecond},
			0, upstreamFromProxy, &proxyMetrics{BreakerState: 1}, &proxyMetrics{BreakerState: 1, BreakerRejected: 500}),
	}
	var b bytes.Buffer
	printResilience(&b, phases)
	out := b.String()
	for _, want := range []string{
		"resilience (",
		"fail5     direct*                run",
		"95.000",
		"0.000†",
		"open→open",
		"fail5 direct run: non-2xx by status 503:50; socket errors 0",
		"dead yatagarasu:resilience steady: breaker open throughout: p50 200µs, p99 900µs are the fail-fast latency",
		"goal dead yatagarasu:resilience steady: breaker open throughout, no attempt reached the origin: met",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	var empty bytes.Buffer
	printResilience(&empty, nil)
	if empty.Len() != 0 {
		t.Errorf("no phases printed %q", empty.String())
	}
}

func TestFmtStatuses(t *testing.T) {
	got := fmtStatuses(map[int]int64{200: 10, 503: 3, 502: 1, 504: 0})
	if got != "502:1 503:3" {
		t.Fatalf("fmtStatuses = %q", got)
	}
}

func TestTargetsFor(t *testing.T) {
	all := []target{directTarget{}, &yatagarasuTarget{bin: "/y", prof: profiles[0]},
		&yatagarasuTarget{bin: "/y", prof: profile{Name: "other"}}, nginxTarget{bin: "/n"}, haproxyTarget{bin: "/h"}}
	names := func(ts []target) string {
		var n []string
		for _, t := range ts {
			n = append(n, t.name())
		}
		return strings.Join(n, ",")
	}
	scs, err := buildScenarios("1k,fail5,fail30-nobreaker,dead", time.Second, 0, 0, "1g", 1)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"1k":               "direct,yatagarasu,yatagarasu:other,nginx,haproxy",
		"fail5":            "direct,yatagarasu:resilience",
		"fail30-nobreaker": "direct,yatagarasu:resilience-nobreaker",
		"dead":             "yatagarasu:resilience",
	}
	for _, sc := range scs {
		if got := names(targetsFor(sc, all)); got != want[sc.Name] {
			t.Errorf("%s: targets %s, want %s", sc.Name, got, want[sc.Name])
		}
		if sc.Name == "dead" && sc.Opening != minOpening {
			t.Errorf("dead opening %v with no warm-up, want %v", sc.Opening, minOpening)
		}
	}
	if got := names(targetsFor(scs[1], []target{directTarget{}, nginxTarget{bin: "/n"}})); got != "direct" {
		t.Errorf("fail5 without yatagarasu: targets %s, want direct", got)
	}
}

// The resilience profiles must render a config TOML accepts, with the
// retry and breaker tables inside the bucket and the timeout in [server].
func TestResilienceProfileConfig(t *testing.T) {
	for _, name := range []string{resilienceProfile, resilienceNoBreakerProfile} {
		t.Run(name, func(t *testing.T) {
			prof, ok := profileNamed(name)
			if !ok {
				t.Fatalf("no profile %q", name)
			}
			cfg := yatagarasuConfig(yatagarasuParams{Port: 18080, OriginAddr: "127.0.0.1:19000", PoolSize: 80}, prof)
			var doc struct {
				Server struct {
					Port           int    `toml:"port"`
					RequestTimeout string `toml:"request_timeout"`
				} `toml:"server"`
				Buckets []struct {
					S3 struct {
						Endpoint string `toml:"endpoint"`
						Retry    struct {
							MaxAttempts    int    `toml:"max_attempts"`
							InitialBackoff string `toml:"initial_backoff"`
							BudgetPercent  int    `toml:"budget_percent"`
						} `toml:"retry"`
						Breaker struct {
							Enabled          bool   `toml:"enabled"`
							FailureThreshold int    `toml:"failure_threshold"`
							Timeout          string `toml:"timeout"`
						} `toml:"circuit_breaker"`
					} `toml:"s3"`
				} `toml:"buckets"`
			}
			if _, err := toml.Decode(cfg, &doc); err != nil {
				t.Fatalf("config does not parse: %v\n%s", err, cfg)
			}
			if doc.Server.Port != 18080 || doc.Server.RequestTimeout != "30s" {
				t.Errorf("server %+v, want port 18080, request_timeout 30s", doc.Server)
			}
			if len(doc.Buckets) != 1 {
				t.Fatalf("%d buckets, want 1", len(doc.Buckets))
			}
			s3 := doc.Buckets[0].S3
			if s3.Endpoint != "http://127.0.0.1:19000" || s3.Retry.MaxAttempts != 3 || s3.Retry.InitialBackoff != "100ms" ||
				s3.Retry.BudgetPercent != 20 || s3.Breaker.FailureThreshold != 5 || s3.Breaker.Timeout != "60s" {
				t.Errorf("bucket s3 %+v: want the defaults spelled out", s3)
			}
			if want := name == resilienceProfile; s3.Breaker.Enabled != want {
				t.Errorf("breaker enabled = %v, want %v", s3.Breaker.Enabled, want)
			}
		})
	}
}
