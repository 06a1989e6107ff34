package gateway

import (
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"yatagarasu/auth"
	"yatagarasu/buckets"
)

// allowedMethods is the Allow header of 405 and OPTIONS answers.
const allowedMethods = "GET, HEAD, OPTIONS"

// unroutedLabel is the bucket label of requests that reach no bucket. It
// cannot collide with a bucket name, which may not contain parentheses.
const unroutedLabel = "(none)"

// Table is the routing state one configuration generation produced. Immutable
// once given to SetTable: a reload publishes a new Table.
type Table struct {
	// Router maps paths to buckets.
	Router *buckets.Router
	// Generation counts successful configuration loads, starting at 1.
	Generation uint64
	// Auth holds the verifier of every bucket that requires a token; a bucket
	// absent from it is public.
	Auth map[*buckets.Bucket]*auth.Verifier

	// guards are built by SetTable from Auth, with their metrics.
	guards map[*buckets.Bucket]*guard
}

// guard is one authenticated bucket's verifier and failure counters.
type guard struct {
	v        *auth.Verifier
	realm    string // WWW-Authenticate value
	failures map[string]*metrics.Counter
}

func newGuard(b *buckets.Bucket, v *auth.Verifier) *guard {
	g := &guard{v: v, realm: `Bearer realm="` + b.Name() + `"`, failures: map[string]*metrics.Counter{}}
	for _, r := range auth.Reasons {
		g.failures[r] = b.Metrics().Set().GetOrCreateCounter(`auth_failures_total{bucket=` + strconv.Quote(b.Name()) + `,reason="` + r + `"}`)
	}
	return g
}

// Options configure a Gateway. Zero values take the defaults named beside them.
type Options struct {
	// Version is reported by /health.
	Version string
	// BuiltinsOnMain serves /health, /ready, /metrics and /admin/ on the main
	// handler, ahead of every bucket prefix. False when they have their own
	// listener ([admin] port).
	BuiltinsOnMain bool
	// StreamIdleTimeout bounds a response stream's wait for the next byte, on
	// either side. Default buckets.DefaultStreamIdleTimeout.
	StreamIdleTimeout time.Duration
	// RequestTimeout bounds the time to the first response byte, all upstream
	// attempts included. Zero: only each attempt's own timeout.
	RequestTimeout time.Duration
	// Log receives errors and lifecycle events. Default slog.Default().
	Log *slog.Logger
}

// Gateway serves client requests. Its methods are safe for concurrent use.
type Gateway struct {
	opts    Options
	log     *slog.Logger
	started time.Time

	table    atomic.Pointer[Table]
	draining atomic.Bool
	inFlight atomic.Int64

	// unrouted counts requests that reached no bucket.
	unrouted *buckets.Metrics
	// server holds node-wide series (in-flight).
	server *metrics.Set
}

// New returns a gateway with an empty routing table: every path is 404 until
// SetTable.
func New(opts Options) *Gateway {
	if opts.StreamIdleTimeout <= 0 {
		opts.StreamIdleTimeout = buckets.DefaultStreamIdleTimeout
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	g := &Gateway{opts: opts, log: opts.Log, started: time.Now(), unrouted: buckets.NewMetrics(unroutedLabel), server: metrics.NewSet()}
	g.table.Store(&Table{Router: buckets.NewRouter(nil)})
	g.server.NewGauge("http_requests_in_flight", func() float64 { return float64(g.inFlight.Load()) })
	return g
}

// SetTable publishes a new routing table; requests already routed finish on
// the buckets they were routed to.
func (g *Gateway) SetTable(t *Table) {
	t.guards = make(map[*buckets.Bucket]*guard, len(t.Auth))
	for b, v := range t.Auth {
		t.guards[b] = newGuard(b, v)
	}
	g.table.Store(t)
}

// CurrentTable returns the routing table in use.
func (g *Gateway) CurrentTable() *Table { return g.table.Load() }

// SetDraining makes /ready answer 503 so load balancers stop sending traffic;
// requests are still served.
func (g *Gateway) SetDraining(v bool) { g.draining.Store(v) }

// InFlight returns the number of requests being served (a streamed response
// counts until its last byte is written or its client is gone).
func (g *Gateway) InFlight() int64 { return g.inFlight.Load() }
