// Package config owns yatagarasu's configuration: the TOML file format, its
// defaults, `${ENV}` substitution and validation. Load runs the same code at start
// and on every reload, so a file that starts also reloads and vice versa.
//
// Every key documented here has an effect; a key the proxy cannot honour is not
// parsed and ignored but rejected as unknown, with the file, key and line.
package config

import (
	"time"
)

// Config is one whole configuration file after defaults and validation.
// A *Config returned by Load is immutable: the proxy shares it between goroutines
// without locks, and a reload builds a new one.
type Config struct {
	// Server configures the client-facing listener.
	Server Server `toml:"server"`
	// Admin configures the built-in endpoints (/health, /ready, /metrics, /admin/).
	Admin Admin `toml:"admin"`
	// DemoStore, when present, starts an in-process S3-compatible store seeded
	// with a few objects, so the proxy serves something on a fresh machine. Nil
	// when the file has no [demo_store] table.
	DemoStore *DemoStore `toml:"demo_store"`
	// Auth holds shared authentication blocks, [auth.<name>], which buckets
	// reference with [buckets.auth] use = "<name>".
	Auth map[string]AuthSettings `toml:"auth"`
	// Supervision limits restarts in the supervision tree.
	Supervision Supervision `toml:"supervision"`
	// Log configures the access log and the process log.
	Log Log `toml:"log"`
	// Buckets are the routes: each maps a path prefix to an S3 bucket. At least one.
	Buckets []Bucket `toml:"buckets"`

	// File is the path the configuration was read from (not a TOML key).
	File string `toml:"-"`
}

// Server configures the client-facing HTTP listener.
type Server struct {
	// Address is the host or IP to listen on. Default "127.0.0.1".
	Address string `toml:"address"`
	// Port is the TCP port to listen on. Default 8080 when the key is absent;
	// an explicit 0 asks the OS for a free port (logged at start).
	Port int `toml:"port"`
	// RequestTimeout bounds the time to the first response byte, all upstream
	// attempts and backoffs included; past it the client gets 504. Default
	// "30s".
	RequestTimeout Duration `toml:"request_timeout"`
	// StreamIdleTimeout cuts a streaming response when no byte has moved for
	// this long, on either side; a stream is never cut for being long. The
	// client connection is then closed (a truncated body, never a short 200).
	// Default "60s".
	StreamIdleTimeout Duration `toml:"stream_idle_timeout"`
	// MaxConcurrentRequests is the most requests served at once across all
	// buckets; beyond it a request gets 503 SlowDown with Retry-After at once
	// (nothing queues). A request holds its slot until its response body is
	// written or its client is gone. /health, /ready and /metrics are exempt.
	// Default 1000.
	MaxConcurrentRequests int `toml:"max_concurrent_requests"`
	// TrustedProxies are CIDRs ("10.0.0.0/8", "127.0.0.1/32") whose
	// X-Forwarded-For and Forwarded headers are believed for the client IP
	// (per-IP rate limits, logs). Empty (default): the socket's peer is the
	// client.
	TrustedProxies []string `toml:"trusted_proxies"`
	// Limits bound request sizes.
	Limits Limits `toml:"limits"`
	// Security configures request screening.
	Security Security `toml:"security"`
	// RateLimit configures request rate limits.
	RateLimit RateLimit `toml:"rate_limit"`
	// Resources configures resource-pressure shedding.
	Resources Resources `toml:"resources"`
	// DrainDelay is how long, after SIGTERM/SIGINT, the listener keeps
	// accepting while /ready answers 503, so load balancers notice first.
	// Default "5s".
	DrainDelay Duration `toml:"drain_delay"`
	// ShutdownTimeout is how long in-flight requests (streams included) get
	// to finish once the listener has closed; then the process exits.
	// Default "30s".
	ShutdownTimeout Duration `toml:"shutdown_timeout"`
	// ReleaseIdleBuffers returns a keep-alive connection's read and write
	// buffers and request state to shared pools while it waits for its next
	// request, so an idle client costs ~10 KiB (its goroutine) instead of
	// ~23 KiB (measured: bench idle10k). The price is one 8-byte allocation
	// per request; the extra read fasthttp would make for the next request's
	// first byte is avoided by gateway.PrefetchListener. Default true;
	// restart only.
	ReleaseIdleBuffers *bool `toml:"release_idle_buffers"`
	// TimerSlack is the Linux timer slack the process runs with: how much
	// later than asked the kernel may fire its timers, to batch wake-ups.
	// The Go runtime's monitor thread sleeps 20µs at a time while the
	// process is busy; with the kernel's default slack (50µs) each of those
	// wake-ups costs a context switch, and at half load they were 13% of the
	// proxy's CPU (measured: bench half). A slack of 1ms cuts them to about
	// a thousand a second; timers (deadlines, retry backoffs) may fire up to
	// that much late, which is nothing next to their seconds. The process
	// re-executes itself once at start to apply it (a thread's slack passes
	// to the threads it creates, and the runtime's exist before main runs).
	// Default "1ms"; "0s" keeps the slack it was started with; at most
	// "10ms". Restart only; Linux only (ignored elsewhere).
	TimerSlack Duration `toml:"timer_slack"`
}

// ReleasesIdleBuffers reports whether idle connections give their buffers
// back (release_idle_buffers, default true).
func (s Server) ReleasesIdleBuffers() bool {
	return s.ReleaseIdleBuffers == nil || *s.ReleaseIdleBuffers
}

// Limits are [server.limits]; sizes are integer bytes.
type Limits struct {
	// MaxRequestSize bounds a request body, judged by its Content-Length
	// before a byte of it is read → 413. (GET and HEAD may carry no body at
	// all → 400; the proxy never buffers request bodies.) Default 104857600
	// (100 MiB).
	MaxRequestSize int64 `toml:"max_request_size"`
	// MaxHeaderSize bounds the header section (request line excluded) → 431.
	// Default 8192.
	MaxHeaderSize int `toml:"max_header_size"`
	// MaxURILength bounds the request target (path and query) → 414.
	// Default 2048. Query-string tokens count against it.
	MaxURILength int `toml:"max_uri_length"`
}

// Security is [server.security] (and [buckets.security], which overrides it
// for one bucket).
type Security struct {
	// BlockInjectionPatterns answers 400 to paths whose once-decoded form
	// contains "'; drop table", "' or '1'='1", "<script" or "javascript:"
	// (case-insensitive). Default true. S3 keys that really contain such text
	// need it off for their bucket ([buckets.security]).
	BlockInjectionPatterns *bool `toml:"block_injection_patterns"`
}

// RateLimit is [server.rate_limit]. A limit applies when its table is present.
// Limits are token buckets computed with GCRA (the generic cell rate
// algorithm): the same long-run rate as a sliding window, O(1) memory per key
// (one timestamp) and no bursts at window edges.
type RateLimit struct {
	// Enabled switches every rate limit (global, per IP, per bucket) on or
	// off. Default true.
	Enabled *bool `toml:"enabled"`
	// Global limits all requests together.
	Global *RateLimitRule `toml:"global"`
	// PerIP limits each client IP; see MaxTrackedIPs.
	PerIP *PerIPRateLimit `toml:"per_ip"`
}

// RateLimitRule is one token bucket.
type RateLimitRule struct {
	// RequestsPerSecond is the sustained rate. Required, positive.
	RequestsPerSecond float64 `toml:"requests_per_second"`
	// Burst is how many requests may come at once. Default: the rate (at
	// least 1).
	Burst int `toml:"burst"`
}

// PerIPRateLimit is a rule applied to each client IP separately.
type PerIPRateLimit struct {
	RateLimitRule
	// MaxTrackedIPs bounds the per-IP table: idle entries are evicted, and a
	// full table evicts the least recently seen. Default 100000.
	MaxTrackedIPs int `toml:"max_tracked_ips"`
}

// Resources is [server.resources].
type Resources struct {
	// MemoryLimit is the memory the process may use, in bytes: at 80% of it a
	// warning, at 90% per-request histograms and access-log lines stop
	// (counters stay), at 95% new requests get 503 with Retry-After; below
	// 80% everything resumes. Go's soft memory limit is set to it. Default:
	// the smallest limit on the process's cgroup path (a systemd MemoryMax, a
	// container limit), else 80% of RAM.
	MemoryLimit int64 `toml:"memory_limit"`
	// SampleInterval is how often open file descriptors and memory are
	// sampled. Default "1s".
	SampleInterval Duration `toml:"sample_interval"`
}

// Admin configures where the built-in endpoints are served.
type Admin struct {
	// Port, when non-zero, moves /health, /ready, /metrics and /admin/ to a
	// separate listener on Address:Port; the main listener then routes every
	// path to the buckets. Zero (the default) serves them on the main listener,
	// where they win over every bucket prefix, "/" included.
	Port int `toml:"port"`
	// Address is the host or IP of the admin listener. Default "127.0.0.1":
	// set it (e.g. "0.0.0.0") for a load balancer's health check or a
	// Prometheus on another host, and keep [admin] token set.
	Address string `toml:"address"`
	// Token protects /admin/ (POST /admin/reload, /admin/pprof/): requests
	// must send "Authorization: Bearer <token>". Empty (default): the admin
	// endpoints are disabled. Use ${ENV}; at least 16 characters.
	Token string `toml:"token"`
}

// Log is [log].
type Log struct {
	// Format is "json" (default) or "text", for both logs.
	Format string `toml:"format"`
	// Level is the process log's level: "debug", "info" (default), "warn" or
	// "error". The access log is not filtered by level.
	Level string `toml:"level"`
	// Access writes one line per request to stdout. Default true.
	Access *bool `toml:"access"`
}

// AccessEnabled reports whether the access log is on.
func (l Log) AccessEnabled() bool { return l.Access == nil || *l.Access }

// Supervision is the restart budget of every bucket's children (credential
// refresher, JWKS fetcher) and of the bucket supervisors themselves. Past the
// budget the bucket is marked not ready and its supervisor is re-created by
// the root after a backoff (1s, doubling, up to 30s).
type Supervision struct {
	// MaxRestarts is the most restarts allowed within Within. Default 5.
	MaxRestarts int `toml:"max_restarts"`
	// Within is the budget's window. Default "1m".
	Within Duration `toml:"within"`
}

// DemoStore configures the embedded demo S3 store (see package demostore).
type DemoStore struct {
	// Address is the loopback host:port the store listens on. Required.
	Address string `toml:"address"`
	// Bucket is the bucket created and seeded with sample objects. Default "demo".
	Bucket string `toml:"bucket"`
}

// Bucket is one route: requests whose path starts with PathPrefix are served
// from the S3 bucket described by S3.
type Bucket struct {
	// Name identifies the route in logs, /ready and the `bucket` metrics label.
	// Required, unique, letters, digits, '.', '_' and '-' only.
	Name string `toml:"name"`
	// PathPrefix is matched against the decoded request path on a segment
	// boundary ("/data" matches "/data/x" but not "/database/x"); the longest
	// matching prefix wins. "/" matches every path. Required, unique, starts
	// with "/", no trailing "/" (except "/" itself), no empty, "." or ".."
	// segments, no '%', '?', '#' or '\'.
	PathPrefix string `toml:"path_prefix"`
	// S3 describes the upstream bucket.
	S3 S3 `toml:"s3"`
	// Auth, when present (and enabled), requires a verified JWT on every
	// request. Nil: the bucket is public.
	Auth *BucketAuth `toml:"auth"`
	// Security overrides [server.security] for this bucket.
	Security Security `toml:"security"`
	// AllowList lets clients list the bucket: GET on the prefix itself with
	// ListObjectsV2 (list-type=2) or ListObjects v1 parameters, forwarded and
	// signed as sent. Default false: such requests get 403 AccessDenied.
	AllowList bool `toml:"allow_list"`
	// AllowedBuckets makes this entry a pass-through rule: with path_prefix
	// "/" and s3.bucket "*", a path /<bucket>/<key> is served from the real
	// bucket <bucket> when its name matches one of these globs ("public-*",
	// "assets"; path.Match syntax). Each real bucket gets its own state
	// (breaker, limits, pool, metrics label = its name), created on first use.
	AllowedBuckets []string `toml:"allowed_buckets"`
	// MaxDynamicBuckets bounds the real buckets a pass-through rule keeps;
	// beyond it the least recently used idle one is dropped. Default 1000.
	MaxDynamicBuckets int `toml:"max_dynamic_buckets"`
}

// IsPassThrough reports whether the entry is a pass-through rule.
func (b *Bucket) IsPassThrough() bool { return b.S3.Bucket == "*" }

// S3 describes one upstream S3 bucket and how to reach it.
type S3 struct {
	// Bucket is the S3 bucket name. Required.
	Bucket string `toml:"bucket"`
	// Region is the SigV4 signing region. Default "us-east-1".
	Region string `toml:"region"`
	// Endpoint is the base URL of an S3-compatible server, "http://host:port" or
	// "https://host[:port]" with no path or query. Empty means AWS:
	// https://s3.<region>.amazonaws.com.
	Endpoint string `toml:"endpoint"`
	// ForcePathStyle addresses the bucket as <endpoint>/<bucket>/<key> instead of
	// the virtual-hosted <bucket>.<endpoint host>/<key>. Default false.
	ForcePathStyle bool `toml:"force_path_style"`
	// AccessKey and SecretKey are static credentials; give both or neither.
	// When neither is given, aws-sdk-go-v2's default credential chain is used
	// (environment, shared config files, SSO, container and instance roles),
	// refreshed in the background before expiry.
	AccessKey string `toml:"access_key"`
	// SecretKey: see AccessKey.
	SecretKey string `toml:"secret_key"`
	// SessionToken goes with temporary static credentials; requires AccessKey.
	SessionToken string `toml:"session_token"`

	// ConnectionPoolSize is the most connections open to the endpoint at once.
	// Default 50.
	ConnectionPoolSize int `toml:"connection_pool_size"`
	// MaxIdleConnections is the most connections kept open while idle; a
	// connection released beyond this is closed. Default 10; at most
	// ConnectionPoolSize; 0 closes every connection after its request. A
	// pointer only so that an explicit 0 differs from an absent key: never nil
	// in a Config returned by Load.
	MaxIdleConnections *int `toml:"max_idle_connections"`
	// IdleTimeout closes a pooled connection left unused this long. Default "90s".
	IdleTimeout Duration `toml:"idle_timeout"`
	// ConnectionWaitTimeout is how long a request waits for a free connection
	// when all ConnectionPoolSize are busy, before 503 SlowDown. Default "1s";
	// "0s" fails at once.
	ConnectionWaitTimeout Duration `toml:"connection_wait_timeout"`
	// Timeout bounds one upstream attempt, from taking a connection until the
	// response headers arrive. Default "20s".
	Timeout Duration `toml:"timeout"`
	// ConnectTimeout bounds establishing a new TCP (and TLS) connection.
	// Default "5s"; at most Timeout.
	ConnectTimeout Duration `toml:"connect_timeout"`
	// MaxConcurrentRequests, when positive, is the most requests served at
	// once for this bucket (503 SlowDown beyond it, nothing queues). Zero
	// (default): only the server's limit.
	MaxConcurrentRequests int `toml:"max_concurrent_requests"`
	// RateLimit, when present, limits this bucket's request rate.
	RateLimit *RateLimitRule `toml:"rate_limit"`
	// Retry configures retries of failed upstream attempts.
	Retry Retry `toml:"retry"`
	// CircuitBreaker configures the bucket's breaker (on by default).
	CircuitBreaker CircuitBreaker `toml:"circuit_breaker"`
}

// Retry configures [buckets.s3.retry]. Retried: 500, 502, 503, 504, and
// connection errors, resets and timeouts before the first response byte.
// Never retried: any 4xx, or anything after a byte reached the client.
//
// The delay before retry n (n = 1 for the second attempt) is
//
//	base(n) = min(initial_backoff · 2^(n−1), max_backoff)
//	delay   = base(n) + uniform jitter in [0, base(n)/2]
//
// raised to S3's Retry-After (capped at max_backoff) when it sends one, and
// never past what is left of request_timeout. With the defaults: 100ms,
// 200ms (each plus up to 50%).
type Retry struct {
	// MaxAttempts counts all attempts, the first included, as the AWS SDKs
	// do: 1 means no retry. Default 3.
	MaxAttempts int `toml:"max_attempts"`
	// InitialBackoff is the base delay before the first retry. Default "100ms".
	InitialBackoff Duration `toml:"initial_backoff"`
	// MaxBackoff caps the base delay and a Retry-After. Default "1s".
	MaxBackoff Duration `toml:"max_backoff"`
	// BudgetPercent caps retries in the last 10s at this percentage of the
	// requests started in those 10s, plus MinRetriesPerSecond × 10; past it
	// a failure is returned instead of retried, so an outage is not
	// multiplied. Default 20.
	BudgetPercent int `toml:"budget_percent"`
	// MinRetriesPerSecond is the budget's floor for quiet buckets. Default 10;
	// 0 leaves only the percentage. A pointer only so an explicit 0 differs
	// from an absent key: never nil in a Config returned by Load.
	MinRetriesPerSecond *int `toml:"min_retries_per_second"`
}

// CircuitBreaker configures [buckets.s3.circuit_breaker]. Every upstream
// attempt counts: 5xx, timeouts and connection errors are failures, any other
// answer (4xx included) a success.
type CircuitBreaker struct {
	// Enabled turns the breaker on. Default true.
	Enabled *bool `toml:"enabled"`
	// FailureThreshold consecutive failures open the breaker. Default 5.
	FailureThreshold int `toml:"failure_threshold"`
	// SuccessThreshold successes in half-open close it. Default 2.
	SuccessThreshold int `toml:"success_threshold"`
	// Timeout is how long the breaker stays open (requests fail fast with
	// 503 and Retry-After) before letting probes through. Default "60s".
	Timeout Duration `toml:"timeout"`
	// HalfOpenMaxRequests is the most probes let through while half-open; a
	// probe failure reopens the breaker. Default 3; at least SuccessThreshold.
	HalfOpenMaxRequests int `toml:"half_open_max_requests"`
	// FailureRate, when set (0 < rate ≤ 1), also opens the breaker when at
	// least this share of the attempts in the last Window failed, judged only
	// once MinimumRequests attempts are in the window. Zero: off.
	FailureRate float64 `toml:"failure_rate"`
	// Window is the failure-rate window. Default "10s"; at most "10s" (the
	// supervisor's outcome window).
	Window Duration `toml:"window"`
	// MinimumRequests attempts must be in the window before the rate judges.
	// Default 20.
	MinimumRequests int `toml:"minimum_requests"`
	// SlowCallDuration, when set, counts an attempt whose response headers
	// took longer than this as a failure. Zero: off.
	SlowCallDuration Duration `toml:"slow_call_duration"`
}

// BlocksInjection reports whether injection patterns are blocked, given the
// server-wide setting as the fallback.
func (s Security) BlocksInjection(server Security) bool {
	switch {
	case s.BlockInjectionPatterns != nil:
		return *s.BlockInjectionPatterns
	case server.BlockInjectionPatterns != nil:
		return *server.BlockInjectionPatterns
	}
	return true
}

// IsEnabled reports whether rate limiting is on.
func (r RateLimit) IsEnabled() bool { return r.Enabled == nil || *r.Enabled }

// IsEnabled reports whether the breaker is on.
func (c CircuitBreaker) IsEnabled() bool { return c.Enabled == nil || *c.Enabled }

// Defaults, exported so documentation and tests name them once.
const (
	DefaultAddress               = "127.0.0.1"
	DefaultPort                  = 8080
	DefaultRegion                = "us-east-1"
	DefaultDemoBucket            = "demo"
	DefaultConnectionPoolSize    = 50
	DefaultMaxIdleConnections    = 10
	DefaultIdleTimeout           = 90 * time.Second
	DefaultConnectionWaitTimeout = time.Second
	DefaultTimeout               = 20 * time.Second
	DefaultConnectTimeout        = 5 * time.Second
	DefaultRequestTimeout        = 30 * time.Second
	DefaultStreamIdleTimeout     = 60 * time.Second
	DefaultTimerSlack            = time.Millisecond
	DefaultMaxAttempts           = 3
	DefaultInitialBackoff        = 100 * time.Millisecond
	DefaultMaxBackoff            = time.Second
	DefaultBudgetPercent         = 20
	DefaultMinRetriesPerSecond   = 10
	DefaultFailureThreshold      = 5
	DefaultSuccessThreshold      = 2
	DefaultBreakerTimeout        = 60 * time.Second
	DefaultHalfOpenMaxRequests   = 3
	DefaultBreakerWindow         = 10 * time.Second
	DefaultMinimumRequests       = 20
	DefaultMaxRestarts           = 5
	DefaultMaxConcurrentRequests = 1000
	DefaultMaxRequestSize        = 100 << 20
	DefaultMaxHeaderSize         = 8 << 10
	DefaultMaxURILength          = 2 << 10
	DefaultMaxTrackedIPs         = 100_000
	DefaultSampleInterval        = time.Second
	DefaultDrainDelay            = 5 * time.Second
	DefaultMaxDynamicBuckets     = 1000
	DefaultShutdownTimeout       = 30 * time.Second
	DefaultRestartWindow         = time.Minute
)
