package buckets

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/valyala/fasthttp"

	"yatagarasu/config"
)

// Events is how the hot path reaches a bucket's owner on the rare edges that
// must not wait for its next sample. Implementations must not block (the actor
// side does one Send).
type Events interface {
	// UpstreamFailed reports the first failed attempt since the owner last
	// called ArmEdge.
	UpstreamFailed(b *Bucket)
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
	region  string
	up      *upstream
	signer  *v4.Signer
	creds   *credentialSource
	metrics *Metrics

	snap     atomic.Pointer[Snapshot]
	outcomes Outcomes
	armed    atomic.Bool // an UpstreamFailed event may be sent
	events   atomic.Pointer[eventsBox]
}

type eventsBox struct{ Events }

// New builds a bucket from its configuration. It starts nothing: the bucket is
// NotReady until its owner publishes a Snapshot.
func New(cfg config.Bucket, opts Options) (*Bucket, error) {
	up, err := newUpstream(cfg.S3, opts.Dial)
	if err != nil {
		return nil, err
	}
	b := &Bucket{
		cfg:     cfg,
		name:    cfg.Name,
		prefix:  cfg.PathPrefix,
		region:  cfg.S3.Region,
		up:      up,
		signer:  newSigner(),
		creds:   newCredentialSource(cfg.S3, opts.Credentials),
		metrics: NewMetrics(cfg.Name),
	}
	b.snap.Store(notReadyYet)
	b.metrics.Gauge("connection_pool_size", func() float64 { return float64(cfg.S3.ConnectionPoolSize) })
	b.metrics.Gauge("connection_pool_active", func() float64 { _, busy := up.stats(); return float64(busy) })
	b.metrics.Gauge("connection_pool_idle", func() float64 { open, busy := up.stats(); return float64(open - busy) })
	return b, nil
}

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
	// Key is the object key, percent-decoded once; never empty.
	Key []byte
	// RawQuery is the client's query string without '?', still encoded.
	RawQuery []byte
	// Header is the client's request header; only allow-listed headers are read.
	Header *fasthttp.RequestHeader
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
	sc.path = append(sc.path, '/')
	sc.path = appendEscaped(sc.path, in.Key, true)
	var ok bool
	sc.query, sc.decoded, ok = appendCanonicalQuery(sc.query[:0], sc.decoded, in.RawQuery)
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
	if err := sign(b.signer, req, b.up.scheme, b.up.host, sc.path, sc.query, snap.Credentials, b.region, now); err != nil {
		return err
	}

	req.Header.SetUserAgent("yatagarasu")
	start := time.Now()
	var l lease
	err := b.up.roundTrip(req, resp, &l, start)
	b.metrics.Upstream.UpdateDuration(start)
	if l.tc != nil {
		body.start(b.up, resp, l, in.StreamIdle)
	}
	switch {
	case err == nil:
		failed := resp.StatusCode() >= 500
		if failed {
			b.metrics.Upstream5xx.Inc()
		}
		b.recordAttempt(failed)
	case isKind[*TimeoutError](err):
		b.metrics.UpstreamTimeouts.Inc()
		b.recordAttempt(true)
	case isKind[*ConnError](err):
		b.metrics.UpstreamConnErrors.Inc()
		b.recordAttempt(true)
	default: // the pool is ours, not S3's: not an upstream failure
		b.metrics.PoolExhausted.Inc()
	}
	return err
}

// recordAttempt counts an attempt and, for the first failure since the owner's
// last sample, tells the owner at once.
func (b *Bucket) recordAttempt(failed bool) {
	b.outcomes.record(failed)
	if failed && b.armed.CompareAndSwap(true, false) {
		if e := b.events.Load(); e != nil {
			e.UpstreamFailed(b)
		}
	}
}

func isKind[T error](err error) bool {
	_, ok := err.(T)
	return ok
}
