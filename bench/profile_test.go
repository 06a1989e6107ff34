package main

import (
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/golang-jwt/jwt/v5"
)

// rateRule mirrors a rate-limit table.
type rateRule struct {
	RequestsPerSecond float64 `toml:"requests_per_second"`
	Burst             int     `toml:"burst"`
	MaxTrackedIPs     int     `toml:"max_tracked_ips"`
}

// benchTOML mirrors every key a profile's generated config may hold, so
// that decoding with no undecoded key proves each one sits in the table
// meant for it (a key after the wrong header would land elsewhere).
type benchTOML struct {
	Server struct {
		Address               string `toml:"address"`
		Port                  int    `toml:"port"`
		RequestTimeout        string `toml:"request_timeout"`
		MaxConcurrentRequests int    `toml:"max_concurrent_requests"`
		ReleaseIdleBuffers    *bool  `toml:"release_idle_buffers"`
		RateLimit             struct {
			Enabled *bool     `toml:"enabled"`
			Global  *rateRule `toml:"global"`
			PerIP   *rateRule `toml:"per_ip"`
		} `toml:"rate_limit"`
	} `toml:"server"`
	Admin struct {
		Token string `toml:"token"`
	} `toml:"admin"`
	Log struct {
		Access *bool `toml:"access"`
	} `toml:"log"`
	Buckets []struct {
		Name       string `toml:"name"`
		PathPrefix string `toml:"path_prefix"`
		S3         struct {
			Bucket                string    `toml:"bucket"`
			Region                string    `toml:"region"`
			Endpoint              string    `toml:"endpoint"`
			ForcePathStyle        bool      `toml:"force_path_style"`
			AccessKey             string    `toml:"access_key"`
			SecretKey             string    `toml:"secret_key"`
			ConnectionPoolSize    int       `toml:"connection_pool_size"`
			MaxIdleConnections    int       `toml:"max_idle_connections"`
			MaxConcurrentRequests int       `toml:"max_concurrent_requests"`
			RateLimit             *rateRule `toml:"rate_limit"`
			Retry                 *struct {
				MaxAttempts         int    `toml:"max_attempts"`
				InitialBackoff      string `toml:"initial_backoff"`
				MaxBackoff          string `toml:"max_backoff"`
				BudgetPercent       int    `toml:"budget_percent"`
				MinRetriesPerSecond int    `toml:"min_retries_per_second"`
			} `toml:"retry"`
			CircuitBreaker *struct {
				Enabled             bool    `toml:"enabled"`
				FailureThreshold    int     `toml:"failure_threshold"`
				SuccessThreshold    int     `toml:"success_threshold"`
				Timeout             string  `toml:"timeout"`
				HalfOpenMaxRequests int     `toml:"half_open_max_requests"`
				FailureRate         float64 `toml:"failure_rate"`
				Window              string  `toml:"window"`
				MinimumRequests     int     `toml:"minimum_requests"`
				SlowCallDuration    string  `toml:"slow_call_duration"`
			} `toml:"circuit_breaker"`
		} `toml:"s3"`
		Auth *struct {
			Algorithms    []string `toml:"algorithms"`
			Secret        string   `toml:"secret"`
			PublicKeyFile string   `toml:"public_key_file"`
		} `toml:"auth"`
	} `toml:"buckets"`
}

// profileConfig renders and decodes the config of the named profile, made
// ready (withAuth) with its files in dir.
func profileConfig(t *testing.T, name, dir string) (benchTOML, profile) {
	t.Helper()
	p, ok := profileNamed(name)
	if !ok {
		t.Fatalf("no profile %q", name)
	}
	p, err := withAuth(p, dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg := yatagarasuConfig(yatagarasuParams{Port: 18080, OriginAddr: "127.0.0.1:19000", PoolSize: 80, AdminToken: benchAdminToken}, p)
	var c benchTOML
	md, err := toml.Decode(cfg, &c)
	if err != nil {
		t.Fatalf("invalid TOML: %v\n%s", err, cfg)
	}
	if u := md.Undecoded(); len(u) > 0 {
		t.Fatalf("keys outside the expected tables: %v\n%s", u, cfg)
	}
	if len(c.Buckets) != 1 || c.Buckets[0].Name != "bench" || c.Buckets[0].S3.ConnectionPoolSize != 80 {
		t.Fatalf("bucket not as generated: %+v\n%s", c.Buckets, cfg)
	}
	if c.Admin.Token != benchAdminToken {
		t.Fatalf("admin token %q, want %q", c.Admin.Token, benchAdminToken)
	}
	return c, p
}

// The profiles' keys land in their tables with the values the issue
// fixes; the public profile adds nothing but the admin token.
func TestProfileConfigs(t *testing.T) {
	limits := func(t *testing.T, c benchTOML) {
		t.Helper()
		s, b := c.Server, c.Buckets[0].S3
		if s.MaxConcurrentRequests != 10000 || s.RateLimit.Enabled == nil || !*s.RateLimit.Enabled {
			t.Errorf("server limits = %+v", s)
		}
		for name, r := range map[string]*rateRule{"global": s.RateLimit.Global, "per_ip": s.RateLimit.PerIP, "bucket": b.RateLimit} {
			if r == nil || r.RequestsPerSecond != 1e7 || r.Burst != 1e7 {
				t.Errorf("%s rate limit = %+v, want 1e7/s, burst 1e7", name, r)
			}
		}
		if b.MaxConcurrentRequests != 5000 {
			t.Errorf("bucket max_concurrent_requests = %d, want 5000", b.MaxConcurrentRequests)
		}
		cb := b.CircuitBreaker
		if cb == nil || !cb.Enabled || cb.FailureThreshold != 5 || cb.SuccessThreshold != 2 || cb.Timeout != "60s" ||
			cb.HalfOpenMaxRequests != 3 || cb.FailureRate != 0 || cb.Window != "10s" || cb.MinimumRequests != 20 || cb.SlowCallDuration != "0s" {
			t.Errorf("circuit breaker = %+v, want the defaults", cb)
		}
	}
	noLimits := func(t *testing.T, c benchTOML) {
		t.Helper()
		s, b := c.Server, c.Buckets[0].S3
		if s.MaxConcurrentRequests != 0 || s.RateLimit.Global != nil || s.RateLimit.PerIP != nil || b.RateLimit != nil ||
			b.MaxConcurrentRequests != 0 || b.CircuitBreaker != nil {
			t.Errorf("unexpected limits: server %+v, bucket %+v", s, b)
		}
	}
	auth := func(alg string) func(*testing.T, benchTOML) {
		return func(t *testing.T, c benchTOML) {
			t.Helper()
			a := c.Buckets[0].Auth
			if a == nil || !slices.Equal(a.Algorithms, []string{alg}) {
				t.Fatalf("auth = %+v, want algorithms [%s]", a, alg)
			}
			switch alg {
			case authHS256:
				if len(a.Secret) < 32 || a.PublicKeyFile != "" {
					t.Errorf("HS256 auth = %+v, want a secret of 32+ bytes and no key file", a)
				}
			case authES256:
				if a.Secret != "" || !filepath.IsAbs(a.PublicKeyFile) {
					t.Errorf("ES256 auth = %+v, want an absolute public_key_file and no secret", a)
				}
				if _, err := os.Stat(a.PublicKeyFile); err != nil {
					t.Errorf("public key file: %v", err)
				}
			}
		}
	}
	noAuth := func(t *testing.T, c benchTOML) {
		t.Helper()
		if c.Buckets[0].Auth != nil {
			t.Errorf("unexpected auth %+v", c.Buckets[0].Auth)
		}
	}
	tests := []struct {
		name        string
		checks      []func(*testing.T, benchTOML)
		accessLog   *bool // nil: not written (the proxy's default, on)
		keepBuffers bool
		token       bool // sends a bearer token
	}{
		{name: "public", checks: []func(*testing.T, benchTOML){noLimits, noAuth}},
		{name: "noaccesslog", checks: []func(*testing.T, benchTOML){noLimits, noAuth}, accessLog: new(false)},
		{name: "keepbuffers", checks: []func(*testing.T, benchTOML){noLimits, noAuth}, keepBuffers: true},
		{name: "limits", checks: []func(*testing.T, benchTOML){limits, noAuth}},
		{name: "auth-hs256", checks: []func(*testing.T, benchTOML){limits, auth(authHS256)}, token: true},
		{name: "auth-es256", checks: []func(*testing.T, benchTOML){limits, auth(authES256)}, token: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, p := profileConfig(t, tt.name, t.TempDir())
			for _, check := range tt.checks {
				check(t, c)
			}
			switch {
			case tt.accessLog == nil && c.Log.Access != nil:
				t.Errorf("[log] access = %v, want it unset (on by default)", *c.Log.Access)
			case tt.accessLog != nil && (c.Log.Access == nil || *c.Log.Access != *tt.accessLog):
				t.Errorf("[log] access = %v, want %v", c.Log.Access, *tt.accessLog)
			}
			if got := c.Server.ReleaseIdleBuffers != nil && !*c.Server.ReleaseIdleBuffers; got != tt.keepBuffers {
				t.Errorf("release_idle_buffers = false: %v, want %v", got, tt.keepBuffers)
			}
			hasToken := slices.ContainsFunc(p.Headers, func(h string) bool { return strings.HasPrefix(h, "Authorization: Bearer ") })
			if hasToken != tt.token {
				t.Errorf("headers %q: bearer token %v, want %v", p.Headers, hasToken, tt.token)
			}
		})
	}
}

// Every known profile renders valid TOML with every key in a known table.
func TestEveryProfileDecodes(t *testing.T) {
	for _, p := range profiles {
		t.Run(p.Name, func(t *testing.T) {
			profileConfig(t, p.Name, t.TempDir())
		})
	}
}

// The auth profiles' token verifies with the key the proxy is given, with
// the algorithm its allow-list names, and carries sub and a far exp.
func TestAuthTokens(t *testing.T) {
	tests := []struct {
		name string
		alg  string
	}{
		{name: "auth-hs256", alg: authHS256},
		{name: "auth-es256", alg: authES256},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, p := profileConfig(t, tt.name, t.TempDir())
			var token string
			for _, h := range p.Headers {
				if v, ok := strings.CutPrefix(h, "Authorization: Bearer "); ok {
					token = v
				}
			}
			a := c.Buckets[0].Auth
			keyFunc := func(*jwt.Token) (any, error) {
				if tt.alg == authHS256 {
					return []byte(a.Secret), nil
				}
				b, err := os.ReadFile(a.PublicKeyFile)
				if err != nil {
					return nil, err
				}
				block, _ := pem.Decode(b)
				if block == nil || block.Type != "PUBLIC KEY" {
					t.Fatalf("key file is not a PEM public key:\n%s", b)
				}
				pub, err := x509.ParsePKIXPublicKey(block.Bytes)
				if err != nil {
					return nil, err
				}
				if _, ok := pub.(*ecdsa.PublicKey); !ok {
					t.Fatalf("key is %T, want ECDSA", pub)
				}
				return pub, nil
			}
			var claims jwt.RegisteredClaims
			tok, err := jwt.ParseWithClaims(token, &claims, keyFunc, jwt.WithValidMethods([]string{tt.alg}))
			if err != nil || !tok.Valid {
				t.Fatalf("token %q does not verify: %v", token, err)
			}
			if claims.Subject != authSubject || claims.ExpiresAt == nil || claims.ExpiresAt.Before(time.Now().AddDate(50, 0, 0)) {
				t.Fatalf("claims = %+v, want sub %q and exp decades away", claims, authSubject)
			}
		})
	}
	if _, err := withAuth(profile{Name: "x", Auth: "RS999"}, t.TempDir()); err == nil {
		t.Fatal("withAuth accepted an unknown algorithm")
	}
}
