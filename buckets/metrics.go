package buckets

import (
	"fmt"
	"strconv"
	"sync/atomic"

	"github.com/VictoriaMetrics/metrics"
)

// Method indexes the request methods that have their own metrics label;
// everything else is counted as MethodOther so a client cannot mint series.
type Method uint8

const (
	MethodGET Method = iota
	MethodHEAD
	MethodOPTIONS
	MethodOther
	numMethods
)

var methodLabels = [numMethods]string{"GET", "HEAD", "OPTIONS", "OTHER"}

// MethodOf classifies a request method.
func MethodOf(m []byte) Method {
	switch string(m) {
	case "GET":
		return MethodGET
	case "HEAD":
		return MethodHEAD
	case "OPTIONS":
		return MethodOPTIONS
	}
	return MethodOther
}

// String returns the metrics label.
func (m Method) String() string { return methodLabels[m] }

// Latency histogram bounds, in seconds.
var (
	requestBuckets  = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300}
	upstreamBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30}
)

// Metrics are one bucket's series, created once in their own metrics.Set when
// the bucket is built and dropped with it. Safe for concurrent use.
type Metrics struct {
	set   *metrics.Set
	label string // `bucket="name"`, quoted for the exposition format

	// requests caches http_requests_total{bucket,method,status} counters,
	// created on first use so no name is formatted per request.
	requests [numMethods][600]atomic.Pointer[metrics.Counter]

	// Duration observes whole requests, first byte in to last byte out.
	Duration *metrics.PrometheusHistogram
	// Upstream observes each upstream attempt until its response headers.
	Upstream *metrics.PrometheusHistogram
	// BytesOut counts response body bytes written to clients.
	BytesOut *metrics.Counter
	// UpstreamTimeouts, UpstreamConnErrors and Upstream5xx count failed attempts.
	UpstreamTimeouts, UpstreamConnErrors, Upstream5xx *metrics.Counter
	// PoolExhausted counts requests that found no free upstream connection.
	PoolExhausted *metrics.Counter
	// PoolWait observes, in milliseconds, how long a request that found every
	// pooled connection busy waited for one (connection_wait_timeout bounds it).
	PoolWait *metrics.PrometheusHistogram
	// StreamsCutUpstream counts responses whose upstream body broke mid-stream;
	// StreamsCutClient those whose client went away mid-stream.
	StreamsCutUpstream, StreamsCutClient *metrics.Counter
	// Panics counts panics recovered while serving this bucket's requests.
	Panics *metrics.Counter
	// RetryAttempts counts retries sent; RetrySuccess requests that succeeded
	// after at least one retry; RetryExhausted requests that failed with
	// every attempt used; RetryBudgetExhausted retries refused by the budget.
	RetryAttempts, RetrySuccess, RetryExhausted, RetryBudgetExhausted *metrics.Counter
	// BreakerOpened counts the times the breaker opened; BreakerRejected the
	// requests it answered without touching S3.
	BreakerOpened, BreakerRejected *metrics.Counter
}

// NewMetrics creates the series for the bucket named name.
func NewMetrics(name string) *Metrics {
	m := &Metrics{set: metrics.NewSet(), label: `bucket=` + strconv.Quote(name)}
	m.Duration = m.set.NewPrometheusHistogramExt(m.name("http_request_duration_seconds", ""), requestBuckets)
	m.Upstream = m.set.NewPrometheusHistogramExt(m.name("s3_upstream_duration_seconds", ""), upstreamBuckets)
	m.BytesOut = m.set.NewCounter(m.name("http_response_bytes_total", ""))
	m.UpstreamTimeouts = m.set.NewCounter(m.name("s3_upstream_errors_total", `kind="timeout"`))
	m.UpstreamConnErrors = m.set.NewCounter(m.name("s3_upstream_errors_total", `kind="connection"`))
	m.Upstream5xx = m.set.NewCounter(m.name("s3_upstream_errors_total", `kind="5xx"`))
	m.PoolExhausted = m.set.NewCounter(m.name("connection_pool_exhausted_total", ""))
	m.PoolWait = m.set.NewPrometheusHistogramExt(m.name("connection_pool_wait_time_ms", ""), []float64{0.1, 0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000})
	m.StreamsCutUpstream = m.set.NewCounter(m.name("http_streams_cut_total", `side="upstream"`))
	m.StreamsCutClient = m.set.NewCounter(m.name("http_streams_cut_total", `side="client"`))
	m.Panics = m.set.NewCounter(m.name("panics_total", ""))
	m.RetryAttempts = m.set.NewCounter(m.name("s3_retry_attempts_total", ""))
	m.RetrySuccess = m.set.NewCounter(m.name("s3_retry_success_total", ""))
	m.RetryExhausted = m.set.NewCounter(m.name("s3_retry_exhausted_total", ""))
	m.RetryBudgetExhausted = m.set.NewCounter(m.name("s3_retry_budget_exhausted_total", ""))
	m.BreakerOpened = m.set.NewCounter(m.name("circuit_breaker_opened_total", ""))
	m.BreakerRejected = m.set.NewCounter(m.name("circuit_breaker_rejected_total", ""))
	return m
}

// name formats `metric{bucket="x",extra}`.
func (m *Metrics) name(metric, extra string) string {
	if extra == "" {
		return metric + "{" + m.label + "}"
	}
	return metric + "{" + m.label + "," + extra + "}"
}

// Set returns the metrics.Set holding every series of the bucket, for
// /metrics to write.
func (m *Metrics) Set() *metrics.Set { return m.set }

// Gauge registers a gauge series `metric{bucket="x"}` computed by f at scrape time.
func (m *Metrics) Gauge(metric string, f func() float64) {
	m.set.NewGauge(m.name(metric, ""), f)
}

// Request returns the http_requests_total counter for method and status,
// creating it on first use; status outside 100–599 is clamped to 599.
func (m *Metrics) Request(method Method, status int) *metrics.Counter {
	if status < 100 || status > 599 {
		status = 599
	}
	slot := &m.requests[method][status]
	if c := slot.Load(); c != nil {
		return c
	}
	c := m.set.GetOrCreateCounter(m.name("http_requests_total", fmt.Sprintf(`method=%q,status="%d"`, method.String(), status)))
	slot.Store(c)
	return c
}
