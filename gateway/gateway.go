package gateway

import (
	"log/slog"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"yatagarasu/auth"
	"yatagarasu/buckets"
	"yatagarasu/config"
	"yatagarasu/ratelimit"
	"yatagarasu/resources"
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
	// Settings are the generation's [server] settings.
	Settings Settings

	// policies are built by SetTable: each routed bucket's guard (nil when
	// public) and screening settings.
	policies map[*buckets.Bucket]*policy
	// dynamic holds the policies of pass-through rules' real buckets, built
	// on first sight from their rule's, until Gateway.Forget.
	dynamic sync.Map // *buckets.Bucket → *policy
}

// policy is what the gateway applies to one bucket's requests.
type policy struct {
	guard          *guard // nil: public
	blockInjection bool
	allowList      bool
	tokenParams    []string         // query parameters holding tokens: never forwarded
	rateLimited    *metrics.Counter // rate_limit_exceeded_total{scope="bucket"}
	globalLimited  *metrics.Counter // … scope="global"
	perIPLimited   *metrics.Counter // … scope="per_ip"
	concurrency    *metrics.Counter // concurrency_limit_rejections_total{scope="bucket"}
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

// Options configure a Gateway for its lifetime; what a reload may change is in
// Table.Settings. Zero values take the defaults named beside them.
type Options struct {
	// Version is reported by /health.
	Version string
	// BuiltinsOnMain serves /health, /ready, /metrics and /admin/ on the main
	// handler, ahead of every bucket prefix. False when they have their own
	// listener ([admin] port).
	BuiltinsOnMain bool
	// Limits size the server's read buffer, fixed at listen time
	// (max_uri_length + max_header_size). Zero fields take config defaults.
	Limits config.Limits
	// KeepIdleBuffers keeps each keep-alive connection's buffers while it is
	// idle ([server] release_idle_buffers = false): no allocation per
	// request, ~13 KiB more per idle connection.
	KeepIdleBuffers bool
	// Pressure, when non-nil, is the resource monitor's level: at Critical
	// per-request histograms and access-log lines stop, at Exhausted new
	// requests get 503.
	Pressure *resources.Pressure
	// AccessLog, when non-nil, gets one line per request.
	AccessLog *AccessLog
	// Reload, when non-nil, is what POST /admin/reload runs: it returns the
	// new generation or why the configuration was refused.
	Reload func() (uint64, error)
	// Dynamic resolves the real buckets of pass-through rules; nil: no rule
	// can serve (requests to one get 404).
	Dynamic DynamicBuckets
	// Log receives errors and lifecycle events. Default slog.Default().
	Log *slog.Logger
}

// DynamicBuckets resolves the real buckets behind pass-through rules.
// Implementations must be safe for concurrent use.
type DynamicBuckets interface {
	// Bucket returns the real bucket name served by the pass-through rule,
	// creating and starting it on first use. ErrBucketNotAllowed when the
	// name matches none of the rule's globs.
	Bucket(rule *buckets.Bucket, name string) (*buckets.Bucket, error)
	// Each calls f for every live real bucket (for /metrics).
	Each(f func(*buckets.Bucket))
}

// Settings are the [server] settings a reload may change; they travel with
// the Table. Zero values take the defaults named beside them.
type Settings struct {
	// RequestTimeout bounds the time to the first response byte, all upstream
	// attempts included. Zero: only each attempt's own timeout.
	RequestTimeout time.Duration
	// StreamIdleTimeout bounds a stream's wait for its next byte, on either
	// side. Default buckets.DefaultStreamIdleTimeout.
	StreamIdleTimeout time.Duration
	// Limits bound request sizes. Zero fields take config defaults; the
	// header and URI limits are also bounded by the read buffer (Options).
	Limits config.Limits
	// MaxConcurrentRequests bounds requests in flight (503 beyond). Default
	// config.DefaultMaxConcurrentRequests.
	MaxConcurrentRequests int
	// BlockInjection is [server.security] block_injection_patterns, the
	// default of buckets that do not override it.
	BlockInjection bool
	// TrustedProxies are the peers whose forwarding headers name the client.
	TrustedProxies []netip.Prefix
	// GlobalRate, when non-nil, limits all requests together; PerIPRate each
	// client IP.
	GlobalRate *ratelimit.Limiter
	PerIPRate  *ratelimit.Table
	// AdminToken protects /admin/; empty disables it.
	AdminToken string

	trusted trustedProxies
}

func (s *Settings) applyDefaults() {
	if s.StreamIdleTimeout <= 0 {
		s.StreamIdleTimeout = buckets.DefaultStreamIdleTimeout
	}
	if s.Limits.MaxRequestSize == 0 {
		s.Limits.MaxRequestSize = config.DefaultMaxRequestSize
	}
	if s.Limits.MaxHeaderSize == 0 {
		s.Limits.MaxHeaderSize = config.DefaultMaxHeaderSize
	}
	if s.Limits.MaxURILength == 0 {
		s.Limits.MaxURILength = config.DefaultMaxURILength
	}
	if s.MaxConcurrentRequests == 0 {
		s.MaxConcurrentRequests = config.DefaultMaxConcurrentRequests
	}
	s.trusted = s.TrustedProxies
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
	// rejections counts security_rejections_total by reason;
	// concurrencyGlobal, rateGlobal and ratePerIP count global refusals.
	rejections                      map[string]*metrics.Counter
	concurrencyGlobal, pressureShed *metrics.Counter
	trusted                         trustedProxies
}

// New returns a gateway with an empty routing table: every path is 404 until
// SetTable.
func New(opts Options) *Gateway {
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if opts.Limits.MaxRequestSize == 0 {
		opts.Limits.MaxRequestSize = config.DefaultMaxRequestSize
	}
	if opts.Limits.MaxHeaderSize == 0 {
		opts.Limits.MaxHeaderSize = config.DefaultMaxHeaderSize
	}
	if opts.Limits.MaxURILength == 0 {
		opts.Limits.MaxURILength = config.DefaultMaxURILength
	}
	if opts.Pressure == nil {
		opts.Pressure = &resources.Pressure{}
	}
	g := &Gateway{opts: opts, log: opts.Log, started: time.Now(), unrouted: buckets.NewMetrics(unroutedLabel),
		server: metrics.NewSet(), rejections: map[string]*metrics.Counter{}}
	g.SetTable(&Table{Router: buckets.NewRouter(nil)})
	g.server.NewGauge("http_requests_in_flight", func() float64 { return float64(g.inFlight.Load()) })
	for _, r := range securityReasons {
		g.rejections[r] = g.server.NewCounter(`security_rejections_total{reason="` + r + `"}`)
	}
	g.concurrencyGlobal = g.server.NewCounter(`concurrency_limit_rejections_total{scope="global"}`)
	g.server.NewGauge("file_descriptors_used", func() float64 { return float64(g.opts.Pressure.Last().FDs) })
	g.server.NewGauge("file_descriptors_limit", func() float64 { return float64(g.opts.Pressure.Last().FDLimit) })
	g.server.NewGauge("memory_allocated_bytes", func() float64 { return float64(g.opts.Pressure.Last().Memory) })
	g.server.NewGauge("memory_limit_bytes", func() float64 { return float64(g.opts.Pressure.Last().MemLimit) })
	g.server.NewGauge("resource_pressure_level", func() float64 { return float64(g.opts.Pressure.Level()) })
	g.pressureShed = g.server.NewCounter(`resource_pressure_rejections_total`)
	return g
}

// SetTable publishes a new routing table; requests already routed finish on
// the buckets they were routed to.
func (g *Gateway) SetTable(t *Table) {
	t.Settings.applyDefaults()
	t.policies = make(map[*buckets.Bucket]*policy, len(t.Router.Buckets()))
	for _, b := range t.Router.Buckets() {
		t.policies[b] = t.newPolicy(b, b)
	}
	g.table.Store(t)
}

// newPolicy builds b's policy from the settings of its entry: b itself, or the
// pass-through rule b was created by.
func (t *Table) newPolicy(b, entry *buckets.Bucket) *policy {
	set, label := b.Metrics().Set(), `bucket=`+strconv.Quote(b.Name())
	p := &policy{
		blockInjection: entry.Config().Security.BlocksInjection(config.Security{BlockInjectionPatterns: &t.Settings.BlockInjection}),
		allowList:      entry.Config().AllowList,
		rateLimited:    set.GetOrCreateCounter(`rate_limit_exceeded_total{scope="bucket",` + label + `}`),
		globalLimited:  set.GetOrCreateCounter(`rate_limit_exceeded_total{scope="global",` + label + `}`),
		perIPLimited:   set.GetOrCreateCounter(`rate_limit_exceeded_total{scope="per_ip",` + label + `}`),
		concurrency:    set.GetOrCreateCounter(`concurrency_limit_rejections_total{scope="bucket",` + label + `}`),
	}
	if v := t.Auth[entry]; v != nil {
		p.guard = newGuard(b, v)
		p.tokenParams = queryTokenNames(v.QueryParams())
	}
	return p
}

// dynamicPolicy returns the policy of a pass-through rule's real bucket b.
func (t *Table) dynamicPolicy(b, rule *buckets.Bucket) *policy {
	if p, ok := t.dynamic.Load(b); ok {
		return p.(*policy)
	}
	p, _ := t.dynamic.LoadOrStore(b, t.newPolicy(b, rule))
	return p.(*policy)
}

// Forget drops the policy the current table built on first sight of b, a
// pass-through rule's real bucket, once b no longer serves (evicted, or its
// rule gone) and has drained. The table would otherwise keep b, and every
// bucket evicted before it, reachable until the next reload. Buckets the
// table routes itself have nothing to forget.
func (g *Gateway) Forget(b *buckets.Bucket) { g.table.Load().dynamic.Delete(b) }

// Metrics returns the set of node-wide series, for series the gateway does
// not own (the configuration's) to join /metrics.
func (g *Gateway) Metrics() *metrics.Set { return g.server }

// CurrentTable returns the routing table in use.
func (g *Gateway) CurrentTable() *Table { return g.table.Load() }

// SetDraining makes /ready answer 503 so load balancers stop sending traffic;
// requests are still served.
func (g *Gateway) SetDraining(v bool) { g.draining.Store(v) }

// InFlight returns the number of requests being served (a streamed response
// counts until its last byte is written or its client is gone).
func (g *Gateway) InFlight() int64 { return g.inFlight.Load() }
