package config

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"
)

// maxPoolSize caps connection_pool_size: beyond it a typo, not a plan.
const maxPoolSize = 100_000

// validate reports every invalid value; it runs after defaults are applied.
func (c *Config) validate(p *problems) {
	validHost(p, "server.address", c.Server.Address)
	validPort(p, "server.port", c.Server.Port)
	if c.Server.RequestTimeout.Duration <= 0 {
		p.add("server.request_timeout", "must be positive")
	}
	if c.Server.StreamIdleTimeout.Duration <= 0 {
		p.add("server.stream_idle_timeout", "must be positive")
	}
	if c.Server.MaxConcurrentRequests < 1 {
		p.add("server.max_concurrent_requests", "must be at least 1, got %d", c.Server.MaxConcurrentRequests)
	}
	for i, cidr := range c.Server.TrustedProxies {
		if _, err := netip.ParsePrefix(cidr); err != nil {
			if _, err2 := netip.ParseAddr(cidr); err2 != nil {
				p.add(fmt.Sprintf("server.trusted_proxies[%d]", i), "%q is not a CIDR (\"10.0.0.0/8\") or an IP address", cidr)
			}
		}
	}
	l := c.Server.Limits
	if l.MaxRequestSize < 1 {
		p.add("server.limits.max_request_size", "must be a positive number of bytes, got %d", l.MaxRequestSize)
	}
	if l.MaxHeaderSize < 1024 || l.MaxHeaderSize > 1<<20 {
		p.add("server.limits.max_header_size", "must be from 1024 to 1048576 bytes, got %d", l.MaxHeaderSize)
	}
	if l.MaxURILength < 64 || l.MaxURILength > 1<<20 {
		p.add("server.limits.max_uri_length", "must be from 64 to 1048576 bytes, got %d", l.MaxURILength)
	}
	if g := c.Server.RateLimit.Global; g != nil {
		g.validate(p, "server.rate_limit.global")
	}
	if pi := c.Server.RateLimit.PerIP; pi != nil {
		pi.RateLimitRule.validate(p, "server.rate_limit.per_ip")
		if pi.MaxTrackedIPs < 1 || pi.MaxTrackedIPs > 100_000_000 {
			p.add("server.rate_limit.per_ip.max_tracked_ips", "must be from 1 to 100000000, got %d", pi.MaxTrackedIPs)
		}
	}
	if m := c.Server.Resources.MemoryLimit; m < 0 || (m > 0 && m < 16<<20) {
		p.add("server.resources.memory_limit", "must be at least 16 MiB (16777216 bytes), or 0 for the default; got %d", m)
	}
	if c.Server.Resources.SampleInterval.Duration <= 0 {
		p.add("server.resources.sample_interval", "must be positive")
	}
	if c.Supervision.MaxRestarts < 0 || c.Supervision.MaxRestarts > 1000 {
		p.add("supervision.max_restarts", "must be from 0 to 1000, got %d", c.Supervision.MaxRestarts)
	}
	if c.Supervision.Within.Duration <= 0 {
		p.add("supervision.within", "must be positive")
	}
	validPort(p, "admin.port", c.Admin.Port)
	validHost(p, "admin.address", c.Admin.Address)
	if c.Admin.Port != 0 && c.Admin.Port == c.Server.Port {
		p.add("admin.port", "must differ from server.port (%d)", c.Server.Port)
	}
	if t := c.Admin.Token; t != "" && len(t) < 16 {
		p.add("admin.token", "must be at least 16 characters (or empty to disable /admin/)")
	}
	if c.Server.DrainDelay.Duration < 0 || c.Server.DrainDelay.Duration > 10*time.Minute {
		p.add("server.drain_delay", "must be from 0s to 10m")
	}
	if c.Server.ShutdownTimeout.Duration <= 0 {
		p.add("server.shutdown_timeout", "must be positive")
	}
	if c.Server.TimerSlack.Duration < 0 || c.Server.TimerSlack.Duration > 10*time.Millisecond {
		p.add("server.timer_slack", "must be from 0s to 10ms")
	}
	switch c.Log.Format {
	case "json", "text":
	default:
		p.add("log.format", "%q must be \"json\" or \"text\"", c.Log.Format)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		p.add("log.level", "%q must be debug, info, warn or error", c.Log.Level)
	}
	if d := c.DemoStore; d != nil {
		host, port, err := net.SplitHostPort(d.Address)
		switch {
		case d.Address == "":
			p.add("demo_store.address", "is required: a loopback host:port such as \"127.0.0.1:9900\"")
		case err != nil:
			p.add("demo_store.address", "must be host:port: %v", err)
		case !isLoopback(host):
			p.add("demo_store.address", "must be a loopback address (127.0.0.1, ::1 or localhost): the demo store has no authentication")
		default:
			if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
				p.add("demo_store.address", "port %q must be a number from 1 to 65535", port)
			}
		}
		if reason := bucketNameProblem(d.Bucket); reason != "" {
			p.add("demo_store.bucket", "%s", reason)
		}
	}

	if len(c.Buckets) == 0 {
		p.add("buckets", "at least one [[buckets]] entry is required")
	}
	names := map[string]int{}
	prefixes := map[string]int{}
	for i := range c.Buckets {
		b := &c.Buckets[i]
		key := fmt.Sprintf("buckets[%d]", i)
		switch {
		case b.Name == "":
			p.add(key+".name", "is required")
		case !isLabel(b.Name):
			p.add(key+".name", "%q may hold only letters, digits, '.', '_' and '-' (it is a metrics label)", b.Name)
		}
		if j, dup := names[b.Name]; dup && b.Name != "" {
			p.add(key+".name", "%q is already the name of buckets[%d]", b.Name, j)
		}
		names[b.Name] = i
		if reason := prefixProblem(b.PathPrefix); reason != "" {
			p.add(key+".path_prefix", "%s", reason)
		} else if j, dup := prefixes[b.PathPrefix]; dup {
			p.add(key+".path_prefix", "%q is already the prefix of buckets[%d]", b.PathPrefix, j)
		}
		prefixes[b.PathPrefix] = i
		b.S3.validate(p, key+".s3")
		switch {
		case b.IsPassThrough():
			if b.PathPrefix != "/" {
				p.add(key+".path_prefix", "a pass-through rule (s3.bucket = \"*\") must have path_prefix = \"/\"")
			}
			if len(b.AllowedBuckets) == 0 {
				p.add(key+".allowed_buckets", "a pass-through rule (s3.bucket = \"*\") needs allowed_buckets, e.g. [\"public-*\"]: which real buckets it may serve")
			}
			for j, glob := range b.AllowedBuckets {
				if _, err := path.Match(glob, "x"); err != nil || glob == "" || strings.Contains(glob, "/") {
					p.add(fmt.Sprintf("%s.allowed_buckets[%d]", key, j), "%q is not a bucket-name glob (path.Match syntax, no '/')", glob)
				}
			}
			if b.MaxDynamicBuckets < 1 || b.MaxDynamicBuckets > 100_000 {
				p.add(key+".max_dynamic_buckets", "must be from 1 to 100000, got %d", b.MaxDynamicBuckets)
			}
		case len(b.AllowedBuckets) > 0:
			p.add(key+".allowed_buckets", "only a pass-through rule (path_prefix = \"/\", s3.bucket = \"*\") takes allowed_buckets")
		case b.MaxDynamicBuckets != 0:
			p.add(key+".max_dynamic_buckets", "only a pass-through rule (s3.bucket = \"*\") takes max_dynamic_buckets")
		}
	}
}

func (s *S3) validate(p *problems, key string) {
	if reason := bucketNameProblem(s.Bucket); reason != "" && s.Bucket != "*" {
		p.add(key+".bucket", "%s", reason)
	}
	if !isRegion(s.Region) {
		p.add(key+".region", "%q is not a region name (lowercase letters, digits and '-', e.g. \"eu-west-1\")", s.Region)
	}
	if s.Endpoint != "" {
		u, err := url.Parse(s.Endpoint)
		switch {
		case err != nil:
			p.add(key+".endpoint", "is not a URL: %v", err)
		case u.Scheme != "http" && u.Scheme != "https":
			p.add(key+".endpoint", "%q must start with http:// or https://", s.Endpoint)
		case u.Host == "" || u.Hostname() == "":
			p.add(key+".endpoint", "%q has no host", s.Endpoint)
		case u.User != nil:
			p.add(key+".endpoint", "must not contain credentials; use access_key and secret_key")
		case (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "":
			p.add(key+".endpoint", "%q must be only scheme://host[:port], without a path or query", s.Endpoint)
		case !s.ForcePathStyle && (net.ParseIP(u.Hostname()) != nil || !strings.Contains(u.Hostname(), ".")):
			p.add(key+".endpoint", "host %q cannot take a virtual-hosted bucket name (<bucket>.%s); set force_path_style = true", u.Hostname(), u.Hostname())
		default:
			if port := u.Port(); port != "" {
				if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
					p.add(key+".endpoint", "port %q must be a number from 1 to 65535", port)
				}
			}
		}
	}
	if (s.AccessKey == "") != (s.SecretKey == "") {
		p.add(key+".access_key", "access_key and secret_key go together: give both, or neither to use the default AWS credential chain")
	}
	if s.SessionToken != "" && s.AccessKey == "" {
		p.add(key+".session_token", "needs access_key and secret_key")
	}
	if s.ConnectionPoolSize < 1 || s.ConnectionPoolSize > maxPoolSize {
		p.add(key+".connection_pool_size", "must be from 1 to %d, got %d", maxPoolSize, s.ConnectionPoolSize)
	}
	if n := *s.MaxIdleConnections; n < 0 || n > s.ConnectionPoolSize {
		p.add(key+".max_idle_connections", "must be from 0 to connection_pool_size (%d), got %d", s.ConnectionPoolSize, n)
	}
	if s.IdleTimeout.Duration <= 0 {
		p.add(key+".idle_timeout", "must be positive")
	}
	if s.Timeout.Duration <= 0 {
		p.add(key+".timeout", "must be positive")
	}
	if s.ConnectTimeout.Duration <= 0 {
		p.add(key+".connect_timeout", "must be positive")
	} else if s.ConnectTimeout.Duration > s.Timeout.Duration {
		p.add(key+".connect_timeout", "(%v) must not exceed timeout (%v)", s.ConnectTimeout.Duration, s.Timeout.Duration)
	}
	if s.MaxConcurrentRequests < 0 {
		p.add(key+".max_concurrent_requests", "must not be negative (0: no bucket limit)")
	}
	if s.RateLimit != nil {
		s.RateLimit.validate(p, key+".rate_limit")
	}
	r := s.Retry
	if r.MaxAttempts < 1 || r.MaxAttempts > 10 {
		p.add(key+".retry.max_attempts", "must be from 1 (no retry) to 10, got %d", r.MaxAttempts)
	}
	if r.InitialBackoff.Duration <= 0 {
		p.add(key+".retry.initial_backoff", "must be positive")
	}
	if r.MaxBackoff.Duration < r.InitialBackoff.Duration {
		p.add(key+".retry.max_backoff", "(%v) must be at least initial_backoff (%v)", r.MaxBackoff.Duration, r.InitialBackoff.Duration)
	}
	if r.BudgetPercent < 1 || r.BudgetPercent > 100 {
		p.add(key+".retry.budget_percent", "must be from 1 to 100, got %d", r.BudgetPercent)
	}
	if *r.MinRetriesPerSecond < 0 {
		p.add(key+".retry.min_retries_per_second", "must not be negative")
	}
	cb := s.CircuitBreaker
	if cb.FailureThreshold < 1 {
		p.add(key+".circuit_breaker.failure_threshold", "must be at least 1, got %d", cb.FailureThreshold)
	}
	if cb.SuccessThreshold < 1 {
		p.add(key+".circuit_breaker.success_threshold", "must be at least 1, got %d", cb.SuccessThreshold)
	}
	if cb.Timeout.Duration <= 0 {
		p.add(key+".circuit_breaker.timeout", "must be positive")
	}
	if cb.HalfOpenMaxRequests < cb.SuccessThreshold {
		p.add(key+".circuit_breaker.half_open_max_requests", "(%d) must be at least success_threshold (%d), or the breaker could never close", cb.HalfOpenMaxRequests, cb.SuccessThreshold)
	}
	if cb.FailureRate < 0 || cb.FailureRate > 1 {
		p.add(key+".circuit_breaker.failure_rate", "must be from 0 (off) to 1, got %v", cb.FailureRate)
	}
	if cb.Window.Duration <= 0 || cb.Window.Duration > DefaultBreakerWindow {
		p.add(key+".circuit_breaker.window", "must be positive and at most %v", DefaultBreakerWindow)
	}
	if cb.MinimumRequests < 1 {
		p.add(key+".circuit_breaker.minimum_requests", "must be at least 1, got %d", cb.MinimumRequests)
	}
}

// prefixProblem says what is wrong with a path_prefix, or "".
func prefixProblem(prefix string) string {
	switch {
	case prefix == "":
		return "is required, e.g. \"/media\" (or \"/\" for every path)"
	case prefix[0] != '/':
		return fmt.Sprintf("%q must start with '/'", prefix)
	case prefix == "/":
		return ""
	case strings.HasSuffix(prefix, "/"):
		return fmt.Sprintf("%q must not end with '/': prefixes match on segment boundaries already", prefix)
	case strings.ContainsAny(prefix, "%?#\\"):
		return fmt.Sprintf("%q must not contain '%%', '?', '#' or '\\': write the decoded path", prefix)
	}
	for _, seg := range strings.Split(prefix[1:], "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Sprintf("%q has an empty, '.' or '..' segment", prefix)
		}
	}
	for _, c := range prefix {
		if c < 0x20 || c == 0x7f {
			return fmt.Sprintf("%q contains a control character", prefix)
		}
	}
	return ""
}

// BucketNameProblem says what is wrong with an S3 bucket name, or "": the
// names S3-compatible servers accept. Pass-through rules check the names
// clients ask for with it.
func BucketNameProblem(name string) string { return bucketNameProblem(name) }

// bucketNameProblem accepts the names S3-compatible servers use (AWS's rules
// are stricter; S3 itself rejects what it does not take).
func bucketNameProblem(name string) string {
	switch {
	case name == "":
		return "is required"
	case len(name) > 255:
		return "must be at most 255 characters"
	case !isLabel(name):
		return fmt.Sprintf("%q may hold only letters, digits, '.', '_' and '-'", name)
	}
	return ""
}

func isLabel(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func isRegion(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

func validHost(p *problems, key, host string) {
	if net.ParseIP(host) != nil {
		return
	}
	if host == "" || strings.ContainsAny(host, ":/ []") {
		p.add(key, "%q must be a host name or an IP address without a port", host)
	}
}

func validPort(p *problems, key string, port int) {
	if port < 0 || port > 65535 {
		p.add(key, "must be from 0 to 65535, got %d", port)
	}
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (r *RateLimitRule) validate(p *problems, key string) {
	if r.RequestsPerSecond <= 0 || r.RequestsPerSecond > 1e9 {
		p.add(key+".requests_per_second", "must be positive (and at most 1e9), got %v", r.RequestsPerSecond)
	}
	if r.Burst < 1 {
		p.add(key+".burst", "must be at least 1, got %d", r.Burst)
	}
}
