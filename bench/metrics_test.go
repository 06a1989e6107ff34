package main

import (
	"math"
	"reflect"
	"slices"
	"testing"
)

// metricsText is the shape of yatagarasu's /metrics (VictoriaMetrics
// exposition), trimmed, with a second bucket that must be ignored.
const metricsText = `# HELP ignored
# TYPE http_requests_total counter
circuit_breaker_opened_total{bucket="bench"} 1
circuit_breaker_rejected_total{bucket="bench"} 6
circuit_breaker_state{bucket="bench"} 1
circuit_breaker_state{bucket="other"} 0
connection_pool_exhausted_total{bucket="bench"} 2
http_requests_total{bucket="bench",method="GET",status="502"} 1
http_requests_total{bucket="bench",method="GET",status="503"} 6
http_requests_total{bucket="bench",method="HEAD",status="503"} 4
http_requests_total{bucket="other",method="GET",status="200"} 99
s3_retry_attempts_total{bucket="bench"} 4
s3_retry_budget_exhausted_total{bucket="bench"} 3
s3_retry_exhausted_total{bucket="bench"} 2
s3_retry_success_total{bucket="bench"} 0
s3_upstream_duration_seconds_bucket{bucket="bench",le="+Inf"} 7
s3_upstream_duration_seconds_sum{bucket="bench"} 0.0013332749999999999
s3_upstream_duration_seconds_count{bucket="bench"} 7
s3_upstream_errors_total{bucket="bench",kind="5xx"} 0
s3_upstream_errors_total{bucket="bench",kind="connection"} 5
s3_upstream_errors_total{bucket="bench",kind="timeout"} 1.2e+01
go_goroutines 12
process_start_time_seconds 1.7e9 1700000000000
`

func TestParseMetricsText(t *testing.T) {
	samples, err := parseMetricsText(metricsText)
	if err != nil {
		t.Fatal(err)
	}
	got := metricsOfBucket(samples, "bench")
	want := proxyMetrics{
		Requests:        map[int]int64{502: 1, 503: 10},
		Attempts:        5, // 7 observed - 2 pool exhausted
		UpstreamErrors:  17,
		Retries:         4,
		RetryExhausted:  2,
		BudgetExhausted: 3,
		BreakerOpened:   1,
		BreakerRejected: 6,
		PoolExhausted:   2,
		BreakerState:    1,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("metricsOfBucket =\n%+v\nwant\n%+v", got, want)
	}
}

func TestParseSampleLine(t *testing.T) {
	tests := []struct {
		name    string
		line    string
		want    sample
		wantErr bool
	}{
		{name: "no labels", line: "go_goroutines 12", want: sample{name: "go_goroutines", value: 12}},
		{name: "timestamp", line: `up{job="x"} 1 1700000000000`, want: sample{name: "up", labels: map[string]string{"job": "x"}, value: 1}},
		{name: "escapes and separators in a value", line: `m{a="x\"y\\z\n",b="1,}2"} 3`,
			want: sample{name: "m", labels: map[string]string{"a": "x\"y\\z\n", "b": "1,}2"}, value: 3}},
		{name: "spaces and trailing comma", line: `m{ a="1", } +Inf`, want: sample{name: "m", labels: map[string]string{"a": "1"}, value: posInf}},
		{name: "no value", line: `m{a="1"}`, wantErr: true},
		{name: "bad value", line: "m one", wantErr: true},
		{name: "unterminated label", line: `m{a="1} 2`, wantErr: true},
		{name: "unquoted label", line: `m{a=1} 2`, wantErr: true},
		{name: "no name", line: `{a="1"} 2`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseSampleLine(tt.line)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("parseSampleLine(%q) = %+v, want an error", tt.line, got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.name != tt.want.name || got.value != tt.want.value || !reflect.DeepEqual(nonNil(got.labels), nonNil(tt.want.labels)) {
				t.Fatalf("parseSampleLine(%q) = %+v, want %+v", tt.line, got, tt.want)
			}
		})
	}
}

var posInf = math.Inf(1)

func nonNil(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

func TestMetricsMissingAndSub(t *testing.T) {
	samples, err := parseMetricsText("http_requests_total{bucket=\"bench\",method=\"GET\",status=\"200\"} 10\n")
	if err != nil {
		t.Fatal(err)
	}
	before := metricsOfBucket(samples, "bench")
	if !slices.Contains(before.Missing, "s3_retry_attempts_total") || !slices.Contains(before.Missing, "circuit_breaker_state") {
		t.Errorf("missing = %v, want the resilience series listed", before.Missing)
	}

	after := proxyMetrics{Requests: map[int]int64{200: 25, 503: 3}, Attempts: 30, Retries: 5, BreakerOpened: 1, BreakerState: 1}
	before = proxyMetrics{Requests: map[int]int64{200: 10}, Attempts: 12, Retries: 1, BreakerState: 0}
	d := after.sub(before)
	want := proxyMetrics{Requests: map[int]int64{200: 15, 503: 3}, Attempts: 18, Retries: 4, BreakerOpened: 1, BreakerState: 1}
	if !reflect.DeepEqual(d, want) {
		t.Fatalf("sub = %+v, want %+v", d, want)
	}
}

func TestParseMetricsTextRejectsGarbage(t *testing.T) {
	if _, err := parseMetricsText("ok 1\n<html>\n"); err == nil {
		t.Fatal("parseMetricsText accepted an HTML line")
	}
}

func BenchmarkParseMetricsText(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		s, err := parseMetricsText(metricsText)
		if err != nil {
			b.Fatal(err)
		}
		_ = metricsOfBucket(s, "bench")
	}
}
