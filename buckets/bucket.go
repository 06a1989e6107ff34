package buckets

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/valyala/fasthttp"

	"yatagarasu/config"
	"yatagarasu/ratelimit"
)

// Events is how the hot path reaches a bucket's owner on the rare edges that
// must not wait for its next sample: never on a request that succeeds first
// time. All methods but RetrySlot must not block (the actor side does one
// Send).
type Events interface {
	// UpstreamFailed reports the first failed attempt since the owner last
	// called ArmEdge.
	UpstreamFailed(b *Bucket)
	// BreakerTrip reports that the closed breaker of generation gen has seen
	// its failure threshold of consecutive failures.
	BreakerTrip(b *Bucket, gen uint64)
	// ProbeResult reports the result of a half-open probe of generation gen.
	ProbeResult(b *Bucket, gen uint64, failed bool)
	// RetrySlot asks whether failed attempt n (1 for the first) may be
	// retried, and after how long: the owner keeps the retry budget and the
	// schedule. It blocks until the owner answers (or a short timeout, which
	// means no); it is called only after a failure.
	RetrySlot(b *Bucket, n int, retryAfter time.Duration) (delay time.Duration, ok bool)
}

// Options are construction-time seams.
type Options struct {
	// Credentials, when non-nil, replaces the provider the configuration names.
	// Tests use it to inject failing or panicking providers.
	Credentials aws.CredentialsProvider
	// Dial, when non-nil, replaces resolving and dialing the endpoint's
	// address. Tests use it to point a virtual-hosted name at a loopback server.
	Dial func(addr string) (net.Conn, error)
}

// Bucket is one route's live state: its settings, upstream pool, credentials,
// outcome counters and the Snapshot its owner publishes. Safe for concurrent
// use. The owner (one bucket supervisor actor) is the only caller of Publish,
// ArmEdge and RefreshCredentials; the hot path calls Snapshot and Fetch.
type Bucket struct {
	cfg     config.Bucket
	name    string
	prefix  string
	up      *upstream
	signer  *sigV4
	creds   *credentialSource
	metrics *Metrics

	retry     RetryPolicy
	breakerOn bool
	breaker   BreakerSettings
	slowCall  time.Duration

	snap     atomic.Pointer[Snapshot]
	outcomes Outcomes
	armed    atomic.Bool // an UpstreamFailed event may be sent
	events   atomic.Pointer[eventsBox]

	// requests counts requests started (first attempts): the retry budget's
	// denominator, sampled by the owner.
	requests atomic.Uint64
	// consecutive counts consecutive failed attempts while the breaker is
	// closed; tripped holds generation+1 of the last trip sent, so one
	// BreakerTrip goes out per generation.
	consecutive atomic.Uint32
	tripped     atomic.Uint64
	// probes counts probes admitted in the current half-open generation.
	probes atomic.Int32

	// maxInFlight is [buckets.s3] max_concurrent_requests (0: none);
	// inFlight counts requests holding a slot.
	maxInFlight int64
	inFlight    atomic.Int64
	// rate is the bucket's rate limit, nil when none; admitted counts the
	// requests it let through (rate_limit_current_rate).
	rate     *ratelimit.Limiter
	admitted atomic.Uint64
	// lastUse is when a request last used the bucket (unix ns; pass-through
	// buckets only).
	lastUse atomic.Int64
}

type eventsBox struct{ Events }

// New builds a bucket from its configuration. It starts nothing: the bucket is
// NotReady until its owner publishes a Snapshot.
func New(cfg config.Bucket, opts Options) (*Bucket, error) {
	up, err := newUpstream(cfg.S3, opts.Dial)
	if err != nil {
		return nil, err
	}
	cb := cfg.S3.CircuitBreaker
	b := &Bucket{
		cfg:     cfg,
		name:    cfg.Name,
		prefix:  cfg.PathPrefix,
		up:      up,
		signer:  newSigV4(cfg.S3.Region),
		creds:   newCredentialSource(cfg.S3, opts.Credentials),
		metrics: NewMetrics(cfg.Name),
		retry: RetryPolicy{
			MaxAttempts: cfg.S3.Retry.MaxAttempts,
			Initial:     cfg.S3.Retry.InitialBackoff.Duration,
			Max:         cfg.S3.Retry.MaxBackoff.Duration,
		},
		breakerOn: cb.IsEnabled(),
		breaker: BreakerSettings{
			FailureThreshold:    uint32(cb.FailureThreshold),
			SuccessThreshold:    uint32(cb.SuccessThreshold),
			Timeout:             cb.Timeout.Duration,
			HalfOpenMaxRequests: uint32(cb.HalfOpenMaxRequests),
			FailureRate:         cb.FailureRate,
			MinimumRequests:     uint32(cb.MinimumRequests),
		}.withDefaults(),
		slowCall:    cb.SlowCallDuration.Duration,
		maxInFlight: int64(cfg.S3.MaxConcurrentRequests),
	}
	if r := cfg.S3.RateLimit; r != nil {
		b.rate = ratelimit.NewLimiter(ratelimit.Rule{Rate: r.RequestsPerSecond, Burst: r.Burst})
		b.metrics.Gauge("rate_limit_current_rate", ratePerSecond(&b.admitted, time.Now))
	}
	b.metrics.Gauge("http_requests_in_flight", func() float64 { return float64(b.inFlight.Load()) })
	up.poolWait = b.metrics.PoolWait
	b.snap.Store(notReadyYet)
	b.metrics.Gauge("circuit_breaker_state", func() float64 { return float64(b.snap.Load().Breaker.State) })
	b.metrics.Gauge("circuit_breaker_failures", func() float64 { return float64(b.consecutive.Load()) })
	b.metrics.Gauge("connection_pool_size", func() float64 { return float64(cfg.S3.ConnectionPoolSize) })
	b.metrics.Gauge("connection_pool_active", func() float64 { _, busy := up.stats(); return float64(busy) })
	b.metrics.Gauge("connection_pool_idle", func() float64 { open, busy := up.stats(); return float64(open - busy) })
	return b, nil
}

// PassThrough reports whether b is a pass-through rule (s3.bucket "*"): it
// serves nothing itself; the gateway resolves each request's real bucket.
func (b *Bucket) PassThrough() bool { return b.cfg.IsPassThrough() }

// Touch records a use at now (unix nanoseconds), for idle eviction.
func (b *Bucket) Touch(now int64) { b.lastUse.Store(now) }

// LastUse returns the last Touch.
func (b *Bucket) LastUse() int64 { return b.lastUse.Load() }

// Name is the bucket's configured name (the metrics label).
func (b *Bucket) Name() string { return b.name }

// Prefix is the bucket's path_prefix.
func (b *Bucket) Prefix() string { return b.prefix }

// Config returns the configuration the bucket was built from.
func (b *Bucket) Config() config.Bucket { return b.cfg }

// Metrics returns the bucket's series.
func (b *Bucket) Metrics() *Metrics { return b.metrics }

// Snapshot returns the state last published by the owner.
func (b *Bucket) Snapshot() *Snapshot { return b.snap.Load() }

// Publish makes s the bucket's state. Owner only; s must not change afterwards.
func (b *Bucket) Publish(s *Snapshot) { b.snap.Store(s) }

// SetEvents sets where edge events go; nil stops them.
func (b *Bucket) SetEvents(e Events) {
	if e == nil {
		b.events.Store(nil)
		return
	}
	b.events.Store(&eventsBox{e})
}

// ArmEdge lets the next failed attempt send UpstreamFailed again. Owner only,
// after it has taken its sample.
func (b *Bucket) ArmEdge() { b.armed.Store(true) }

// Outcomes returns the attempt totals since the bucket was built.
func (b *Bucket) Outcomes() Totals { return b.outcomes.Load() }

// PoolStats reports the upstream pool's open and busy connections.
func (b *Bucket) PoolStats() (open, busy int64) { return b.up.stats() }

// Acquire takes one of the bucket's concurrency slots, or reports that all
// are taken (the caller answers 503 at once: nothing queues). A taken slot
// must be given back with Release once the response body is written or the
// client is gone.
func (b *Bucket) Acquire() bool {
	n := b.inFlight.Add(1)
	if b.maxInFlight > 0 && n > b.maxInFlight {
		b.inFlight.Add(-1)
		return false
	}
	return true
}

// Release gives back a slot taken by Acquire.
func (b *Bucket) Release() { b.inFlight.Add(-1) }

// InFlight returns the requests holding a slot.
func (b *Bucket) InFlight() int64 { return b.inFlight.Load() }

// AllowRate applies the bucket's rate limit at now: ok, or how long until a
// request would be admitted. A bucket without a limit admits everything.
func (b *Bucket) AllowRate(now time.Time) (bool, time.Duration) {
	if b.rate == nil {
		return true, 0
	}
	ok, wait := b.rate.Allow(now)
	if ok {
		b.admitted.Add(1)
	}
	return ok, wait
}

// ratePerSecond returns a gauge function: the rate at which *n grew since the
// previous call (a scrape), per second.
func ratePerSecond(n *atomic.Uint64, now func() time.Time) func() float64 {
	var mu sync.Mutex
	last, at := n.Load(), now()
	return func() float64 {
		mu.Lock()
		defer mu.Unlock()
		cur, t := n.Load(), now()
		elapsed := t.Sub(at).Seconds()
		rate := 0.0
		if elapsed > 0 {
			rate = float64(cur-last) / elapsed
		}
		last, at = cur, t
		return rate
	}
}

// BreakerEnabled reports whether the bucket has a circuit breaker.
func (b *Bucket) BreakerEnabled() bool { return b.breakerOn }

// BreakerSettings returns the breaker's settings, for its owner's Breaker.
func (b *Bucket) BreakerSettings() BreakerSettings { return b.breaker }

// BreakerWindow is the failure-rate window of the breaker's settings.
func (b *Bucket) BreakerWindow() time.Duration { return b.cfg.S3.CircuitBreaker.Window.Duration }

// RetrySettings returns the retry schedule and budget settings.
func (b *Bucket) RetrySettings() (RetryPolicy, int, int) {
	return b.retry, b.cfg.S3.Retry.BudgetPercent, *b.cfg.S3.Retry.MinRetriesPerSecond
}

// RequestsStarted returns the requests started since the bucket was built.
func (b *Bucket) RequestsStarted() uint64 { return b.requests.Load() }

// BreakerChanged resets the hot path's breaker counters for a new breaker
// generation. Owner only, before it publishes the new state.
func (b *Bucket) BreakerChanged() {
	b.consecutive.Store(0)
	b.probes.Store(0)
}

// RefreshCredentials retrieves credentials, refreshing them when they are close
// to expiry. Owner only (it may block on the network); the result reaches the
// hot path through the next Snapshot.
func (b *Bucket) RefreshCredentials(ctx context.Context) (aws.Credentials, error) {
	return b.creds.retrieve(ctx)
}

// Close releases the bucket's idle upstream connections. Requests still in
// flight finish; their connections close when released.
func (b *Bucket) Close() { b.up.close() }

// Inbound is the client request as the gateway hands it to Fetch. Its slices
// belong to the fasthttp request and are valid only during the handler.
type Inbound struct {
	// Method is "GET" or "HEAD".
	Method []byte
	// Key is the object key, percent-decoded once; empty for a bucket-level
	// request (listing, HeadBucket, location), which goes to the bucket root.
	Key []byte
	// Query chooses the query parameters forwarded.
	Query QueryFilter
	// RawQuery is the client's query string without '?', still encoded.
	RawQuery []byte
	// Header is the client's request header; only allow-listed headers are read.
	Header *fasthttp.RequestHeader
	// Deadline bounds the time to the response headers, all attempts and
	// backoffs included ([server] request_timeout). Zero: the per-attempt
	// timeout alone.
	Deadline time.Time
	// Attempts is set by Fetch: the upstream attempts it made.
	Attempts int
	// StreamIdle bounds the wait for each chunk of the response body. Zero
	// means DefaultStreamIdleTimeout.
	StreamIdle time.Duration
}

// scratch holds one request's temporary buffers; pooled.
type scratch struct {
	uri, path, query, decoded []byte
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// Fetch sends the signed upstream request for in and reads the response status
// and headers into resp. If the response has a body, body is armed to stream
// it (body.Active()) and must be finished with body.Finish, which hands the
// connection back; otherwise the connection is back already. S3's own error
// answers (4xx, 5xx) are not errors here: they are responses to pass through.
// Errors are ErrNotReady, ErrBadQuery, ErrSigning, ErrNoFreeConnections,
// *TimeoutError or *ConnError.
func (b *Bucket) Fetch(in *Inbound, resp *fasthttp.Response, body *Body, now time.Time) error {
	snap := b.snap.Load()
	if snap.State == NotReady || !snap.HasCredentials {
		return fmt.Errorf("%w: %s", ErrNotReady, snap.Reason)
	}
	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)

	sc.path = append(sc.path[:0], b.up.pathPrefix...)
	if len(in.Key) > 0 || len(sc.path) == 0 {
		sc.path = append(sc.path, '/') // the bucket root is "/<bucket>" path-style, "/" virtual-hosted
	}
	sc.path = appendEscaped(sc.path, in.Key, true)
	var ok bool
	sc.query, sc.decoded, ok = appendCanonicalQuery(sc.query[:0], sc.decoded, in.RawQuery, &in.Query)
	if !ok {
		return ErrBadQuery
	}
	// The request line is exactly these bytes: Host and the request-target
	// are set directly, so fasthttp never parses (and normalises) a URI.
	sc.uri = append(sc.uri[:0], sc.path...)
	if len(sc.query) > 0 {
		sc.uri = append(sc.uri, '?')
		sc.uri = append(sc.uri, sc.query...)
	}

	req := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(req)
	req.Header.SetHost(b.up.host)
	req.Header.SetRequestURIBytes(sc.uri)
	req.Header.SetMethodBytes(in.Method)
	copyForwardedHeaders(&req.Header, in.Header)
	if err := b.signer.sign(req, b.up.host, sc.path, sc.query, snap.Credentials, now); err != nil {
		return err
	}

	req.Header.SetUserAgent("yatagarasu")
	return b.attempts(req, resp, body, in, snap)
}

// attempts sends req until an attempt succeeds, fails in a way that must not
// be retried, or the attempts, the retry budget or the deadline run out. The
// last attempt's answer is what the client gets: S3's own 5xx response (body
// and all) when S3 answered, an error otherwise.
func (b *Bucket) attempts(req *fasthttp.Request, resp *fasthttp.Response, body *Body, in *Inbound, snap *Snapshot) error {
	b.requests.Add(1)
	now := time.Now()
	for n := 1; ; n++ {
		in.Attempts = n - 1
		gen, probe, err := b.admit(snap, now)
		if err != nil {
			if n > 1 {
				b.metrics.RetryExhausted.Inc()
			}
			return err
		}
		if n > 1 {
			b.metrics.RetryAttempts.Inc() // a retry actually sent
		}
		timeout := b.up.timeout
		if !in.Deadline.IsZero() {
			timeout = min(timeout, in.Deadline.Sub(now))
		}
		if timeout <= 0 {
			return errRequestTimeout
		}
		var l lease
		in.Attempts = n
		err = b.up.roundTrip(req, resp, &l, now, timeout)
		took := time.Since(now)
		b.metrics.Upstream.Update(took.Seconds())
		if errors.Is(err, ErrNoFreeConnections) {
			// The pool is ours: nothing reached S3, so no attempt is counted
			// (a half-open probe slot is given back).
			b.metrics.PoolExhausted.Inc()
			if probe {
				b.probes.Add(-1)
			}
			return err
		}
		failed := b.classifyAttempt(err, resp, took)
		if failed && !in.Deadline.IsZero() && isKind[*TimeoutError](err) && !time.Now().Before(in.Deadline) {
			err = errRequestTimeout // the whole request's time, not just this attempt's
		}
		if probe {
			b.reportProbe(gen, failed)
		} else {
			b.recordAttempt(failed, gen)
		}
		retryable := isKind[*TimeoutError](err) || isKind[*ConnError](err) || (err == nil && RetryableStatus(resp.StatusCode()))
		if !retryable {
			if err == nil && n > 1 {
				b.metrics.RetrySuccess.Inc()
			}
			if l.tc != nil {
				body.start(b.up, resp, l, in.StreamIdle)
			}
			return err
		}
		delay, ok := b.retryDelay(n, resp, err, in.Deadline)
		if !ok {
			if l.tc != nil {
				body.start(b.up, resp, l, in.StreamIdle)
			}
			return err
		}
		if l.tc != nil {
			drain(b.up, resp, l)
		}
		time.Sleep(delay)
		now = time.Now()
		snap = b.snap.Load()
	}
}

// classifyAttempt counts an attempt's failure metrics and says whether it
// failed (for the breaker and the outcome window): 5xx, timeouts, connection
// errors, and attempts slower than slow_call_duration.
func (b *Bucket) classifyAttempt(err error, resp *fasthttp.Response, took time.Duration) bool {
	switch {
	case err == nil:
		if resp.StatusCode() >= 500 {
			b.metrics.Upstream5xx.Inc()
			return true
		}
		return b.slowCall > 0 && took > b.slowCall
	case isKind[*TimeoutError](err):
		b.metrics.UpstreamTimeouts.Inc()
		return true
	case isKind[*ConnError](err):
		b.metrics.UpstreamConnErrors.Inc()
		return true
	}
	return false
}

// retryDelay decides whether attempt n is retried, and after how long.
func (b *Bucket) retryDelay(n int, resp *fasthttp.Response, err error, deadline time.Time) (time.Duration, bool) {
	if n >= b.retry.MaxAttempts {
		b.metrics.RetryExhausted.Inc()
		return 0, false
	}
	var retryAfter time.Duration
	if err == nil {
		retryAfter = ParseRetryAfter(resp.Header.Peek("Retry-After"), time.Now())
	}
	e := b.events.Load()
	if e == nil {
		return 0, false // no owner, no budget: no retry
	}
	delay, ok := e.RetrySlot(b, n, retryAfter)
	if !ok {
		b.metrics.RetryBudgetExhausted.Inc()
		return 0, false
	}
	if !deadline.IsZero() && time.Until(deadline) <= delay {
		b.metrics.RetryExhausted.Inc()
		return 0, false // it would end past request_timeout
	}
	return delay, true
}

// maxDrain is the most of a failed attempt's body read to keep its
// connection; a longer body closes the connection instead.
const maxDrain = 64 << 10

// drain discards a failed attempt's body before a retry.
func drain(u *upstream, resp *fasthttp.Response, l lease) {
	var b Body
	b.start(u, resp, l, 0)
	_, _ = io.CopyN(io.Discard, &b, maxDrain+1)
	b.Finish()
}

// admit applies the breaker to one attempt: it returns the generation to
// report the result with and whether the attempt is a half-open probe, or
// *BreakerOpenError.
func (b *Bucket) admit(snap *Snapshot, now time.Time) (gen uint64, probe bool, err error) {
	if !b.breakerOn {
		return 0, false, nil
	}
	br := snap.Breaker
	switch br.State {
	case BreakerOpen:
		b.metrics.BreakerRejected.Inc()
		return br.Generation, false, &BreakerOpenError{Wait: max(br.OpenUntil.Sub(now), 0)}
	case BreakerHalfOpen:
		if b.probes.Add(1) > int32(b.breaker.HalfOpenMaxRequests) {
			b.probes.Add(-1)
			b.metrics.BreakerRejected.Inc()
			return br.Generation, false, &BreakerOpenError{Wait: time.Second}
		}
		return br.Generation, true, nil
	}
	return br.Generation, false, nil
}

// recordAttempt counts a (non-probe) attempt. The first failure since the
// owner's last sample tells the owner at once; FailureThreshold consecutive
// failures trip the breaker, once per generation.
func (b *Bucket) recordAttempt(failed bool, gen uint64) {
	b.outcomes.record(failed)
	e := b.events.Load()
	if !failed {
		if b.breakerOn && b.consecutive.Load() != 0 {
			b.consecutive.Store(0) // written only when needed: a shared cache line
		}
		return
	}
	if b.armed.CompareAndSwap(true, false) && e != nil {
		e.UpstreamFailed(b)
	}
	if !b.breakerOn {
		return
	}
	if b.consecutive.Add(1) >= b.breaker.FailureThreshold {
		if last := b.tripped.Load(); last != gen+1 && b.tripped.CompareAndSwap(last, gen+1) && e != nil {
			e.BreakerTrip(b, gen)
		}
	}
}

// reportProbe counts a half-open probe and hands its result to the owner.
func (b *Bucket) reportProbe(gen uint64, failed bool) {
	b.outcomes.record(failed)
	if e := b.events.Load(); e != nil {
		e.ProbeResult(b, gen, failed)
	}
}

func isKind[T error](err error) bool {
	_, ok := err.(T)
	return ok
}
