package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// minimal is the smallest valid file; cases append to or replace parts of it.
const minimal = `
[[buckets]]
name = "media"
path_prefix = "/media"
[buckets.s3]
bucket = "media-bucket"
endpoint = "http://127.0.0.1:9000"
force_path_style = true
`

func TestDefaults(t *testing.T) {
	c, err := Parse([]byte(minimal), "test.toml")
	if err != nil {
		t.Fatalf("Parse(minimal) = %v, want no error", err)
	}
	s := c.Buckets[0].S3
	checks := []struct {
		name      string
		got, want any
	}{
		{"server.address", c.Server.Address, DefaultAddress},
		{"server.port", c.Server.Port, DefaultPort},
		{"admin.port", c.Admin.Port, 0},
		{"s3.region", s.Region, DefaultRegion},
		{"s3.connection_pool_size", s.ConnectionPoolSize, DefaultConnectionPoolSize},
		{"s3.max_idle_connections", *s.MaxIdleConnections, DefaultMaxIdleConnections},
		{"s3.idle_timeout", s.IdleTimeout.Duration, DefaultIdleTimeout},
		{"s3.connection_wait_timeout", s.ConnectionWaitTimeout.Duration, DefaultConnectionWaitTimeout},
		{"s3.timeout", s.Timeout.Duration, DefaultTimeout},
		{"s3.connect_timeout", s.ConnectTimeout.Duration, DefaultConnectTimeout},
		{"server.request_timeout", c.Server.RequestTimeout.Duration, DefaultRequestTimeout},
		{"server.stream_idle_timeout", c.Server.StreamIdleTimeout.Duration, DefaultStreamIdleTimeout},
		{"server.timer_slack", c.Server.TimerSlack.Duration, DefaultTimerSlack},
		{"supervision.max_restarts", c.Supervision.MaxRestarts, DefaultMaxRestarts},
		{"supervision.within", c.Supervision.Within.Duration, DefaultRestartWindow},
		{"retry.max_attempts", s.Retry.MaxAttempts, DefaultMaxAttempts},
		{"retry.initial_backoff", s.Retry.InitialBackoff.Duration, DefaultInitialBackoff},
		{"retry.max_backoff", s.Retry.MaxBackoff.Duration, DefaultMaxBackoff},
		{"retry.budget_percent", s.Retry.BudgetPercent, DefaultBudgetPercent},
		{"retry.min_retries_per_second", *s.Retry.MinRetriesPerSecond, DefaultMinRetriesPerSecond},
		{"circuit_breaker.enabled", s.CircuitBreaker.IsEnabled(), true},
		{"circuit_breaker.failure_threshold", s.CircuitBreaker.FailureThreshold, DefaultFailureThreshold},
		{"circuit_breaker.success_threshold", s.CircuitBreaker.SuccessThreshold, DefaultSuccessThreshold},
		{"circuit_breaker.timeout", s.CircuitBreaker.Timeout.Duration, DefaultBreakerTimeout},
		{"circuit_breaker.half_open_max_requests", s.CircuitBreaker.HalfOpenMaxRequests, DefaultHalfOpenMaxRequests},
		{"circuit_breaker.window", s.CircuitBreaker.Window.Duration, DefaultBreakerWindow},
		{"circuit_breaker.minimum_requests", s.CircuitBreaker.MinimumRequests, DefaultMinimumRequests},
		{"file", c.File, "test.toml"},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
}

func TestExplicitValues(t *testing.T) {
	src := `
[server]
address = "0.0.0.0"
port = 0
[admin]
port = 9091
[demo_store]
address = "127.0.0.1:9900"
[[buckets]]
name = "a"
path_prefix = "/"
[buckets.s3]
bucket = "a"
region = "eu-west-1"
access_key = "AK"
secret_key = "SK"
session_token = "TOKEN"
connection_pool_size = 4
max_idle_connections = 0
idle_timeout = "5s"
connection_wait_timeout = "0s"
timeout = "2s"
connect_timeout = "250ms"
`
	c, err := Parse([]byte(src), "x.toml")
	if err != nil {
		t.Fatalf("Parse = %v", err)
	}
	s := c.Buckets[0].S3
	if c.Server.Port != 0 || c.Server.Address != "0.0.0.0" || c.Admin.Port != 9091 {
		t.Errorf("server/admin = %+v %+v, want explicit values", c.Server, c.Admin)
	}
	if c.DemoStore == nil || c.DemoStore.Bucket != DefaultDemoBucket {
		t.Errorf("demo_store = %+v, want bucket %q", c.DemoStore, DefaultDemoBucket)
	}
	if *s.MaxIdleConnections != 0 || s.ConnectionWaitTimeout.Duration != 0 || !s.ConnectionWaitTimeout.IsSet() {
		t.Errorf("explicit zeros lost: max_idle=%d wait=%v", *s.MaxIdleConnections, s.ConnectionWaitTimeout)
	}
	if s.ConnectTimeout.Duration != 250*time.Millisecond || s.Timeout.Duration != 2*time.Second {
		t.Errorf("timeouts = %v/%v", s.ConnectTimeout, s.Timeout)
	}
}

func TestEnvSubstitution(t *testing.T) {
	t.Setenv("YTG_SECRET", "s3cr3t")
	t.Setenv("YTG_EMPTY", "")
	t.Setenv("YTG_TIMEOUT", "3s")
	src := minimal + `
access_key = "AK-${YTG_EMPTY}x"
secret_key = "${YTG_SECRET}"
session_token = "$${LITERAL}"
timeout = "${YTG_TIMEOUT}"
`
	c, err := Parse([]byte(src), "env.toml")
	if err != nil {
		t.Fatalf("Parse = %v", err)
	}
	s := c.Buckets[0].S3
	if s.SecretKey != "s3cr3t" || s.AccessKey != "AK-x" || s.SessionToken != "${LITERAL}" || s.Timeout.Duration != 3*time.Second {
		t.Errorf("got access=%q secret=%q token=%q timeout=%v", s.AccessKey, s.SecretKey, s.SessionToken, s.Timeout)
	}
}

// TestInvalid has a case for every validation error: each names the key, its
// line and a reason.
func TestInvalid(t *testing.T) {
	os.Unsetenv("YTG_UNSET_VARIABLE")
	bucket := func(extra string) string {
		return "[[buckets]]\nname = \"b\"\npath_prefix = \"/b\"\n[buckets.s3]\nbucket = \"bk\"\nendpoint = \"http://127.0.0.1:9000\"\nforce_path_style = true\n" + extra
	}
	cases := []struct {
		name     string
		src      string
		wantKey  string
		wantLine int
		reason   string
	}{
		{"toml syntax", "[server\nport = 1", "", 2, "expected"},
		{"integer duration", bucket("timeout = 20"), "buckets.s3.timeout", 8, "durations are strings"},
		{"bad duration", bucket(`timeout = "20 seconds"`), "buckets.s3.timeout", 8, "does not parse"},
		{"negative duration", bucket(`timeout = "-1s"`), "buckets.s3.timeout", 8, "negative"},
		{"wrong type", "[server]\nport = \"80\"\n" + bucket(""), "server.port", 2, "incompatible types"},
		{"unknown top-level key", "colour = 1\n" + bucket(""), "colour", 1, "unknown key"},
		{"unknown server key", "[server]\nprot = 1\n" + bucket(""), "server.prot", 2, "accepts: address, drain_delay, limits"},
		{"unknown s3 key", bucket("max_idle = 3"), "buckets[0].s3.max_idle", 8, "unknown key"},
		{"unset env", bucket(`secret_key = "${YTG_UNSET_VARIABLE}"` + "\naccess_key = \"a\""), "buckets[0].s3.secret_key", 8, "YTG_UNSET_VARIABLE is not set"},
		{"unterminated env", bucket(`access_key = "${OOPS"` + "\nsecret_key = \"a\""), "buckets[0].s3.access_key", 8, "unterminated"},
		{"invalid env name", bucket(`access_key = "${1A}"` + "\nsecret_key = \"a\""), "buckets[0].s3.access_key", 8, "invalid environment variable name"},
		{"env in duration", bucket(`timeout = "${YTG_UNSET_VARIABLE}"`), "buckets.s3.timeout", 8, "not set"},
		{"server address with port", "[server]\naddress = \"1.2.3.4:80\"\n" + bucket(""), "server.address", 2, "without a port"},
		{"server port range", "[server]\nport = 70000\n" + bucket(""), "server.port", 2, "0 to 65535"},
		{"admin port range", "[admin]\nport = -1\n" + bucket(""), "admin.port", 2, "0 to 65535"},
		{"admin port clash", "[server]\nport = 8080\n[admin]\nport = 8080\n" + bucket(""), "admin.port", 4, "must differ"},
		{"demo address missing", "[demo_store]\nbucket = \"d\"\n" + bucket(""), "demo_store.address", 1, "is required"},
		{"demo address malformed", "[demo_store]\naddress = \"127.0.0.1\"\n" + bucket(""), "demo_store.address", 2, "host:port"},
		{"demo address not loopback", "[demo_store]\naddress = \"0.0.0.0:9900\"\n" + bucket(""), "demo_store.address", 2, "loopback"},
		{"demo port", "[demo_store]\naddress = \"127.0.0.1:x\"\n" + bucket(""), "demo_store.address", 2, "1 to 65535"},
		{"demo bucket", "[demo_store]\naddress = \"127.0.0.1:9\"\nbucket = \"a b\"\n" + bucket(""), "demo_store.bucket", 3, "only letters"},
		{"no buckets", "[server]\nport = 1\n", "buckets", 0, "at least one"},
		{"name missing", "[[buckets]]\npath_prefix = \"/b\"\n[buckets.s3]\nbucket = \"bk\"\n", "buckets[0].name", 1, "is required"},
		{"name chars", "[[buckets]]\nname = \"a b\"\npath_prefix = \"/b\"\n[buckets.s3]\nbucket = \"bk\"\n", "buckets[0].name", 2, "metrics label"},
		{"duplicate name", bucket("") + "[[buckets]]\nname = \"b\"\npath_prefix = \"/c\"\n[buckets.s3]\nbucket = \"bk\"\nendpoint = \"http://127.0.0.1:9000\"\nforce_path_style = true\n", "buckets[1].name", 9, "already the name of buckets[0]"},
		{"duplicate prefix", bucket("") + "[[buckets]]\nname = \"c\"\npath_prefix = \"/b\"\n[buckets.s3]\nbucket = \"bk\"\nendpoint = \"http://127.0.0.1:9000\"\nforce_path_style = true\n", "buckets[1].path_prefix", 10, "already the prefix"},
		{"prefix missing", "[[buckets]]\nname = \"b\"\n[buckets.s3]\nbucket = \"bk\"\n", "buckets[0].path_prefix", 1, "is required"},
		{"prefix no slash", "[[buckets]]\nname = \"b\"\npath_prefix = \"b\"\n[buckets.s3]\nbucket = \"bk\"\n", "buckets[0].path_prefix", 3, "must start with '/'"},
		{"prefix trailing slash", "[[buckets]]\nname = \"b\"\npath_prefix = \"/b/\"\n[buckets.s3]\nbucket = \"bk\"\n", "buckets[0].path_prefix", 3, "must not end"},
		{"prefix encoded", "[[buckets]]\nname = \"b\"\npath_prefix = \"/b%20c\"\n[buckets.s3]\nbucket = \"bk\"\n", "buckets[0].path_prefix", 3, "decoded path"},
		{"prefix dot segment", "[[buckets]]\nname = \"b\"\npath_prefix = \"/a/../b\"\n[buckets.s3]\nbucket = \"bk\"\n", "buckets[0].path_prefix", 3, "'..' segment"},
		{"prefix empty segment", "[[buckets]]\nname = \"b\"\npath_prefix = \"/a//b\"\n[buckets.s3]\nbucket = \"bk\"\n", "buckets[0].path_prefix", 3, "empty"},
		{"prefix control char", "[[buckets]]\nname = \"b\"\npath_prefix = \"/a\\tb\"\n[buckets.s3]\nbucket = \"bk\"\n", "buckets[0].path_prefix", 3, "control character"},
		{"s3 bucket missing", "[[buckets]]\nname = \"b\"\npath_prefix = \"/b\"\n[buckets.s3]\nregion = \"us-east-1\"\n", "buckets[0].s3.bucket", 4, "is required"},
		{"s3 bucket chars", "[[buckets]]\nname = \"b\"\npath_prefix = \"/b\"\n[buckets.s3]\nbucket = \"a/b\"\n", "buckets[0].s3.bucket", 5, "only letters"},
		{"s3 bucket long", "[[buckets]]\nname = \"b\"\npath_prefix = \"/b\"\n[buckets.s3]\nbucket = \"" + strings.Repeat("a", 256) + "\"\n", "buckets[0].s3.bucket", 5, "at most 255"},
		{"region", bucket(`region = "EU West"`), "buckets[0].s3.region", 8, "not a region"},
		{"endpoint scheme", "[[buckets]]\nname = \"b\"\npath_prefix = \"/b\"\n[buckets.s3]\nbucket = \"bk\"\nendpoint = \"ftp://x.example\"\n", "buckets[0].s3.endpoint", 6, "http:// or https://"},
		{"endpoint not url", "[[buckets]]\nname = \"b\"\npath_prefix = \"/b\"\n[buckets.s3]\nbucket = \"bk\"\nendpoint = \"http://a b:%zz\"\n", "buckets[0].s3.endpoint", 6, "not a URL"},
		{"endpoint no host", "[[buckets]]\nname = \"b\"\npath_prefix = \"/b\"\n[buckets.s3]\nbucket = \"bk\"\nendpoint = \"http://\"\n", "buckets[0].s3.endpoint", 6, "no host"},
		{"endpoint userinfo", "[[buckets]]\nname = \"b\"\npath_prefix = \"/b\"\n[buckets.s3]\nbucket = \"bk\"\nendpoint = \"http://u:p@s3.example.com\"\n", "buckets[0].s3.endpoint", 6, "credentials"},
		{"endpoint path", "[[buckets]]\nname = \"b\"\npath_prefix = \"/b\"\n[buckets.s3]\nbucket = \"bk\"\nendpoint = \"http://s3.example.com/x\"\n", "buckets[0].s3.endpoint", 6, "without a path"},
		{"endpoint port", "[[buckets]]\nname = \"b\"\npath_prefix = \"/b\"\n[buckets.s3]\nbucket = \"bk\"\nendpoint = \"http://s3.example.com:99999\"\n", "buckets[0].s3.endpoint", 6, "1 to 65535"},
		{"virtual-hosted on IP", "[[buckets]]\nname = \"b\"\npath_prefix = \"/b\"\n[buckets.s3]\nbucket = \"bk\"\nendpoint = \"http://127.0.0.1:9000\"\n", "buckets[0].s3.endpoint", 6, "force_path_style = true"},
		{"access without secret", bucket(`access_key = "a"`), "buckets[0].s3.access_key", 8, "go together"},
		{"token without keys", bucket(`session_token = "t"`), "buckets[0].s3.session_token", 8, "needs access_key"},
		{"pool size", bucket("connection_pool_size = -1"), "buckets[0].s3.connection_pool_size", 8, "from 1 to"},
		{"pool size huge", bucket("connection_pool_size = 1000000"), "buckets[0].s3.connection_pool_size", 8, "from 1 to"},
		{"max idle over pool", bucket("connection_pool_size = 2\nmax_idle_connections = 3"), "buckets[0].s3.max_idle_connections", 9, "0 to connection_pool_size (2)"},
		{"max idle negative", bucket("max_idle_connections = -1"), "buckets[0].s3.max_idle_connections", 8, "from 0"},
		{"idle timeout zero", bucket(`idle_timeout = "0s"`), "buckets[0].s3.idle_timeout", 8, "positive"},
		{"timeout zero", bucket(`timeout = "0s"` + "\nconnect_timeout = \"1s\""), "buckets[0].s3.timeout", 8, "positive"},
		{"connect timeout zero", bucket(`connect_timeout = "0s"`), "buckets[0].s3.connect_timeout", 8, "positive"},
		{"connect over timeout", bucket(`timeout = "1s"` + "\nconnect_timeout = \"2s\""), "buckets[0].s3.connect_timeout", 9, "must not exceed timeout"},
		{"request timeout zero", "[server]\nrequest_timeout = \"0s\"\n" + bucket(""), "server.request_timeout", 2, "must be positive"},
		{"stream idle zero", "[server]\nstream_idle_timeout = \"0s\"\n" + bucket(""), "server.stream_idle_timeout", 2, "must be positive"},
		{"max restarts negative", "[supervision]\nmax_restarts = -1\n" + bucket(""), "supervision.max_restarts", 2, "from 0 to 1000"},
		{"restart window zero", "[supervision]\nwithin = \"0s\"\n" + bucket(""), "supervision.within", 2, "must be positive"},
		{"max attempts zero", bucket("[buckets.s3.retry]\nmax_attempts = -1"), "buckets[0].s3.retry.max_attempts", 9, "from 1 (no retry) to 10"},
		{"max attempts huge", bucket("[buckets.s3.retry]\nmax_attempts = 11"), "buckets[0].s3.retry.max_attempts", 9, "from 1 (no retry) to 10"},
		{"initial backoff zero", bucket("[buckets.s3.retry]\ninitial_backoff = \"0s\""), "buckets[0].s3.retry.initial_backoff", 9, "must be positive"},
		{"max below initial", bucket("[buckets.s3.retry]\ninitial_backoff = \"2s\"\nmax_backoff = \"1s\""), "buckets[0].s3.retry.max_backoff", 10, "must be at least initial_backoff"},
		{"budget percent", bucket("[buckets.s3.retry]\nbudget_percent = 101"), "buckets[0].s3.retry.budget_percent", 9, "from 1 to 100"},
		{"min retries negative", bucket("[buckets.s3.retry]\nmin_retries_per_second = -1"), "buckets[0].s3.retry.min_retries_per_second", 9, "must not be negative"},
		{"failure threshold", bucket("[buckets.s3.circuit_breaker]\nfailure_threshold = -1"), "buckets[0].s3.circuit_breaker.failure_threshold", 9, "at least 1"},
		{"success threshold", bucket("[buckets.s3.circuit_breaker]\nsuccess_threshold = -2"), "buckets[0].s3.circuit_breaker.success_threshold", 9, "at least 1"},
		{"breaker timeout", bucket("[buckets.s3.circuit_breaker]\ntimeout = \"0s\""), "buckets[0].s3.circuit_breaker.timeout", 9, "must be positive"},
		{"half open below success", bucket("[buckets.s3.circuit_breaker]\nsuccess_threshold = 4\nhalf_open_max_requests = 2"), "buckets[0].s3.circuit_breaker.half_open_max_requests", 10, "could never close"},
		{"failure rate", bucket("[buckets.s3.circuit_breaker]\nfailure_rate = 1.5"), "buckets[0].s3.circuit_breaker.failure_rate", 9, "from 0 (off) to 1"},
		{"breaker window", bucket("[buckets.s3.circuit_breaker]\nwindow = \"1m\""), "buckets[0].s3.circuit_breaker.window", 9, "at most 10s"},
		{"minimum requests", bucket("[buckets.s3.circuit_breaker]\nminimum_requests = -1"), "buckets[0].s3.circuit_breaker.minimum_requests", 9, "at least 1"},
		{"pass-through not at root", "[[buckets]]\nname = \"p\"\npath_prefix = \"/p\"\nallowed_buckets = [\"a\"]\n[buckets.s3]\nbucket = \"*\"\n", "buckets[0].path_prefix", 3, "must have path_prefix"},
		{"pass-through without globs", "[[buckets]]\nname = \"p\"\npath_prefix = \"/\"\n[buckets.s3]\nbucket = \"*\"\n", "buckets[0].allowed_buckets", 1, "needs allowed_buckets"},
		{"bad glob", "[[buckets]]\nname = \"p\"\npath_prefix = \"/\"\nallowed_buckets = [\"a[\"]\n[buckets.s3]\nbucket = \"*\"\n", "buckets[0].allowed_buckets[0]", 4, "not a bucket-name glob"},
		{"glob with slash", "[[buckets]]\nname = \"p\"\npath_prefix = \"/\"\nallowed_buckets = [\"a/b\"]\n[buckets.s3]\nbucket = \"*\"\n", "buckets[0].allowed_buckets[0]", 4, "not a bucket-name glob"},
		{"allowed buckets on a normal entry", "[[buckets]]\nname = \"p\"\npath_prefix = \"/p\"\nallowed_buckets = [\"a\"]\n[buckets.s3]\nbucket = \"bk\"\n", "buckets[0].allowed_buckets", 4, "only a pass-through rule"},
		{"max dynamic on a normal entry", "[[buckets]]\nname = \"p\"\npath_prefix = \"/p\"\nmax_dynamic_buckets = 3\n[buckets.s3]\nbucket = \"bk\"\n", "buckets[0].max_dynamic_buckets", 4, "only a pass-through rule"},
		{"max dynamic range", "[[buckets]]\nname = \"p\"\npath_prefix = \"/\"\nallowed_buckets = [\"a\"]\nmax_dynamic_buckets = -1\n[buckets.s3]\nbucket = \"*\"\n", "buckets[0].max_dynamic_buckets", 5, "from 1 to 100000"},
		{"admin token short", "[admin]\ntoken = \"short\"\n" + bucket(""), "admin.token", 2, "at least 16"},
		{"log format", "[log]\nformat = \"xml\"\n" + bucket(""), "log.format", 2, "must be"},
		{"log level", "[log]\nlevel = \"loud\"\n" + bucket(""), "log.level", 2, "must be debug"},
		{"drain delay", "[server]\ndrain_delay = \"1h\"\n" + bucket(""), "server.drain_delay", 2, "from 0s to 10m"},
		{"timer slack too long", "[server]\ntimer_slack = \"1s\"\n" + bucket(""), "server.timer_slack", 2, "from 0s to 10ms"},
		{"timer slack negative", "[server]\ntimer_slack = \"-1ms\"\n" + bucket(""), "server.timer_slack", 2, "is negative"},
		{"shutdown timeout", "[server]\nshutdown_timeout = \"0s\"\n" + bucket(""), "server.shutdown_timeout", 2, "must be positive"},
		{"max concurrent", "[server]\nmax_concurrent_requests = -1\n" + bucket(""), "server.max_concurrent_requests", 2, "at least 1"},
		{"trusted proxy", "[server]\ntrusted_proxies = [\"10.0.0/8\"]\n" + bucket(""), "server.trusted_proxies[0]", 2, "not a CIDR"},
		{"max request size", "[server.limits]\nmax_request_size = -5\n" + bucket(""), "server.limits.max_request_size", 2, "positive number of bytes"},
		{"max header size", "[server.limits]\nmax_header_size = 10\n" + bucket(""), "server.limits.max_header_size", 2, "from 1024"},
		{"max uri length", "[server.limits]\nmax_uri_length = 10\n" + bucket(""), "server.limits.max_uri_length", 2, "from 64"},
		{"global rate", "[server.rate_limit.global]\nrequests_per_second = 0\n" + bucket(""), "server.rate_limit.global.requests_per_second", 2, "must be positive"},
		{"per ip burst", "[server.rate_limit.per_ip]\nrequests_per_second = 1\nburst = -1\n" + bucket(""), "server.rate_limit.per_ip.burst", 3, "at least 1"},
		{"per ip table", "[server.rate_limit.per_ip]\nrequests_per_second = 1\nmax_tracked_ips = -1\n" + bucket(""), "server.rate_limit.per_ip.max_tracked_ips", 3, "from 1 to"},
		{"bucket rate", bucket("[buckets.s3.rate_limit]\nrequests_per_second = -2"), "buckets[0].s3.rate_limit.requests_per_second", 9, "must be positive"},
		{"bucket concurrency", bucket("max_concurrent_requests = -1"), "buckets[0].s3.max_concurrent_requests", 8, "must not be negative"},
		{"memory limit small", "[server.resources]\nmemory_limit = 1000\n" + bucket(""), "server.resources.memory_limit", 2, "at least 16 MiB"},
		{"sample interval", "[server.resources]\nsample_interval = \"0s\"\n" + bucket(""), "server.resources.sample_interval", 2, "must be positive"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.src), "bad.toml")
			if err == nil {
				t.Fatalf("Parse accepted the file, want an error about %q", tc.reason)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v does not match ErrInvalid", err)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.reason) {
				t.Errorf("error = %q, want it to contain %q", msg, tc.reason)
			}
			if !strings.HasPrefix(msg, "bad.toml") {
				t.Errorf("error = %q, want it to start with the file name", msg)
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %T is not a *config.Error", err)
			}
			if tc.wantKey != "" && !strings.Contains(msg, tc.wantKey) {
				t.Errorf("error = %q, want key %q", msg, tc.wantKey)
			}
			if tc.wantLine != 0 && !strings.Contains(msg, fmt.Sprintf("bad.toml:%d:", tc.wantLine)) {
				t.Errorf("error = %q, want line %d", msg, tc.wantLine)
			}
		})
	}
}

func TestSeveralProblemsReportedTogether(t *testing.T) {
	src := "[server]\nport = 99999\n[[buckets]]\nname = \"\"\npath_prefix = \"x\"\n[buckets.s3]\nbucket = \"\"\n"
	_, err := Parse([]byte(src), "multi.toml")
	if err == nil {
		t.Fatal("Parse accepted the file")
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != 4 {
		t.Fatalf("got %d problems, want 4 (port, name, prefix, bucket):\n%v", len(lines), err)
	}
	if !strings.HasPrefix(lines[0], "multi.toml:2: server.port") {
		t.Errorf("first problem = %q, want the port on line 2 (problems sorted by line)", lines[0])
	}
}

func TestUnknownKeyInEveryArrayElement(t *testing.T) {
	src := minimal + "bogus = 1\n" + strings.Replace(minimal, `"/media"`, `"/other"`, 1) + "bogus = 2\n"
	src = strings.Replace(src, `name = "media"`, `name = "first"`, 1)
	_, err := Parse([]byte(src), "u.toml")
	if err == nil {
		t.Fatal("Parse accepted unknown keys")
	}
	for _, want := range []string{"buckets[0].s3.bogus", "buckets[1].s3.bogus"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error = %v, want it to name %s", err, want)
		}
	}
}

func TestLoadFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "y.toml")
	if err := os.WriteFile(path, []byte(minimal), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil || c.File != path {
		t.Fatalf("Load = %v, %v", c, err)
	}
	_, err = Load(filepath.Join(dir, "missing.toml"))
	if err == nil || errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "missing.toml") {
		t.Errorf("Load(missing) = %v, want an I/O error naming the file", err)
	}
}

// TestRepoConfig keeps the repository's annotated config.toml valid.
func TestRepoConfig(t *testing.T) {
	if _, err := Load("../config.toml"); err != nil {
		t.Fatalf("config.toml does not load: %v", err)
	}
}

func ExampleParse() {
	_, err := Parse([]byte(`
[[buckets]]
name = "media"
path_prefix = "/media"
[buckets.s3]
bucket = "media"
timeout = 20
`), "config.toml")
	fmt.Println(err)
	// Output:
	// config.toml:7: buckets.s3.timeout: durations are strings with a unit, like "20s" or "250ms"; got 20 (int64)
}
