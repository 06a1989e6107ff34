package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
)

// The proxy's own view of a resilience scenario: its Prometheus /metrics,
// read before and after a phase. Only the series of the bench bucket are
// kept, as the counters the report needs.

// benchBucket is the bucket label of the generated config's only bucket.
const benchBucket = "bench"

// sample is one series of the Prometheus text format.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

var errMetricsText = errors.New("malformed metrics text")

// parseMetricsText parses the Prometheus text exposition format: one
// `name{label="value",...} value [timestamp]` per line; comments and blank
// lines are skipped.
func parseMetricsText(text string) ([]sample, error) {
	var out []sample
	for n, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		s, err := parseSampleLine(line)
		if err != nil {
			return nil, fmt.Errorf("bench: metrics line %d %q: %w", n+1, line, err)
		}
		out = append(out, s)
	}
	return out, nil
}

func parseSampleLine(line string) (sample, error) {
	var s sample
	i := strings.IndexAny(line, "{ \t")
	if i <= 0 {
		return s, errMetricsText
	}
	s.name = line[:i]
	rest := line[i:]
	if rest[0] == '{' {
		labels, after, err := parseLabels(rest[1:])
		if err != nil {
			return s, err
		}
		s.labels, rest = labels, after
	}
	fields := strings.Fields(rest)
	if len(fields) < 1 || len(fields) > 2 {
		return s, errMetricsText
	}
	v, err := strconv.ParseFloat(fields[0], 64) // also NaN, +Inf, -Inf
	if err != nil {
		return s, errMetricsText
	}
	s.value = v
	return s, nil
}

// parseLabels reads `a="x",b="y"}` and returns the labels and what follows
// the closing brace. Values may hold \", \\ and \n escapes.
func parseLabels(s string) (map[string]string, string, error) {
	labels := map[string]string{}
	for {
		s = strings.TrimLeft(s, " \t")
		if strings.HasPrefix(s, "}") {
			return labels, s[1:], nil
		}
		eq := strings.IndexByte(s, '=')
		if eq <= 0 || eq+1 >= len(s) || s[eq+1] != '"' {
			return nil, "", errMetricsText
		}
		name := strings.TrimSpace(s[:eq])
		var v strings.Builder
		i := eq + 2
		for ; i < len(s) && s[i] != '"'; i++ {
			c := s[i]
			if c == '\\' && i+1 < len(s) {
				i++
				switch s[i] {
				case 'n':
					c = '\n'
				default:
					c = s[i] // \" and \\
				}
			}
			v.WriteByte(c)
		}
		if i >= len(s) {
			return nil, "", errMetricsText
		}
		labels[name] = v.String()
		s = strings.TrimLeft(s[i+1:], " \t")
		if strings.HasPrefix(s, ",") {
			s = s[1:]
		} else if !strings.HasPrefix(s, "}") {
			return nil, "", errMetricsText
		}
	}
}

// proxyMetrics are the bench bucket's resilience counters. As deltas
// (sub) they cover one phase; BreakerState is a gauge, not a counter.
type proxyMetrics struct {
	// Requests counts client requests by status (http_requests_total).
	Requests map[int]int64 `json:"requests_by_status"`
	// Attempts is every upstream attempt handed to a connection:
	// s3_upstream_duration_seconds_count (one observation per attempt)
	// less connection_pool_exhausted_total (observed, but nothing sent).
	Attempts        int64    `json:"upstream_attempts"`
	UpstreamErrors  int64    `json:"upstream_errors"`   // s3_upstream_errors_total, all kinds
	Retries         int64    `json:"retries"`           // s3_retry_attempts_total: retries sent
	RetrySuccess    int64    `json:"retry_success"`     // s3_retry_success_total
	RetryExhausted  int64    `json:"retry_exhausted"`   // s3_retry_exhausted_total
	BudgetExhausted int64    `json:"budget_exhausted"`  // s3_retry_budget_exhausted_total: retries refused
	BreakerOpened   int64    `json:"breaker_opened"`    // circuit_breaker_opened_total
	BreakerRejected int64    `json:"breaker_rejected"`  // circuit_breaker_rejected_total: answered 503 without S3
	PoolExhausted   int64    `json:"pool_exhausted"`    // connection_pool_exhausted_total
	BreakerState    int64    `json:"breaker_state"`     // circuit_breaker_state: 0 closed, 1 open, 2 half-open
	Missing         []string `json:"missing,omitempty"` // expected series the proxy did not expose
}

// metricsOfBucket extracts the bucket's counters from parsed samples.
func metricsOfBucket(samples []sample, bucket string) proxyMetrics {
	m := proxyMetrics{Requests: map[int]int64{}}
	seen := map[string]bool{}
	count := func(v float64) int64 { return int64(math.Round(v)) }
	for _, s := range samples {
		if s.labels["bucket"] != bucket {
			continue
		}
		seen[s.name] = true
		v := count(s.value)
		switch s.name {
		case "http_requests_total":
			if st, err := strconv.Atoi(s.labels["status"]); err == nil {
				m.Requests[st] += v
			}
		case "s3_upstream_duration_seconds_count":
			m.Attempts += v
		case "s3_upstream_errors_total":
			m.UpstreamErrors += v
		case "s3_retry_attempts_total":
			m.Retries += v
		case "s3_retry_success_total":
			m.RetrySuccess += v
		case "s3_retry_exhausted_total":
			m.RetryExhausted += v
		case "s3_retry_budget_exhausted_total":
			m.BudgetExhausted += v
		case "circuit_breaker_opened_total":
			m.BreakerOpened += v
		case "circuit_breaker_rejected_total":
			m.BreakerRejected += v
		case "connection_pool_exhausted_total":
			m.PoolExhausted += v
		case "circuit_breaker_state":
			m.BreakerState = v
		}
	}
	m.Attempts -= m.PoolExhausted
	for _, name := range []string{"s3_upstream_duration_seconds_count", "s3_retry_attempts_total",
		"s3_retry_budget_exhausted_total", "circuit_breaker_opened_total", "circuit_breaker_rejected_total",
		"circuit_breaker_state"} {
		if !seen[name] {
			m.Missing = append(m.Missing, name)
		}
	}
	return m
}

// sub returns m - o counter by counter; the gauge and the missing series
// are m's.
func (m proxyMetrics) sub(o proxyMetrics) proxyMetrics {
	d := m
	d.Requests = map[int]int64{}
	for st, v := range m.Requests {
		if v -= o.Requests[st]; v != 0 {
			d.Requests[st] = v
		}
	}
	d.Attempts -= o.Attempts
	d.UpstreamErrors -= o.UpstreamErrors
	d.Retries -= o.Retries
	d.RetrySuccess -= o.RetrySuccess
	d.RetryExhausted -= o.RetryExhausted
	d.BudgetExhausted -= o.BudgetExhausted
	d.BreakerOpened -= o.BreakerOpened
	d.BreakerRejected -= o.BreakerRejected
	d.PoolExhausted -= o.PoolExhausted
	return d
}

// breakerStateName names a circuit_breaker_state value.
func breakerStateName(v int64) string {
	switch v {
	case 0:
		return "closed"
	case 1:
		return "open"
	case 2:
		return "half-open"
	}
	return strconv.FormatInt(v, 10)
}

// fetchProxyMetrics reads url (the proxy's /metrics) and returns the bench
// bucket's counters.
func fetchProxyMetrics(ctx context.Context, c *http.Client, url string) (proxyMetrics, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return proxyMetrics{}, fmt.Errorf("bench: proxy metrics: %w", err)
	}
	resp, err := c.Do(req)
	if err != nil {
		return proxyMetrics{}, fmt.Errorf("bench: proxy metrics: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return proxyMetrics{}, fmt.Errorf("bench: proxy metrics: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return proxyMetrics{}, fmt.Errorf("bench: proxy metrics: %s", resp.Status)
	}
	samples, err := parseMetricsText(string(body))
	if err != nil {
		return proxyMetrics{}, err
	}
	return metricsOfBucket(samples, benchBucket), nil
}
