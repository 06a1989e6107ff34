package config

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/url"
	"os"
	"reflect"
	"slices"
	"strings"
	"time"
)

// BucketAuth is a bucket's [buckets.auth] table. Without the table the bucket
// is public; with it, requests need a verified token unless enabled = false.
type BucketAuth struct {
	// Enabled turns authentication on. Default true when the table is present:
	// a bucket with an auth table is never served unauthenticated by mistake.
	Enabled *bool `toml:"enabled"`
	// Use names a top-level [auth.<name>] block holding the settings, shared
	// (one key set, one JWKS fetch) by every bucket that uses it. With use, the
	// table may hold only enabled.
	Use string `toml:"use"`
	// AuthSettings are the inline settings when Use is empty; after Load they
	// hold the settings in force either way.
	AuthSettings
}

// IsEnabled reports whether the bucket requires a token.
func (a *BucketAuth) IsEnabled() bool { return a != nil && (a.Enabled == nil || *a.Enabled) }

// AuthSettings configure JWT verification.
type AuthSettings struct {
	// Algorithms is the allow-list of JWS algorithms: HS256/384/512,
	// RS256/384/512, PS256/384/512, ES256/384, EdDSA. Required; every one must
	// have a key of its type (secret for HS*, public_key_file or jwks_url for
	// the others).
	Algorithms []string `toml:"algorithms"`
	// Secret is the HMAC key for HS* algorithms, at least as long as the
	// longest allowed HS hash (32, 48 or 64 bytes). Use ${ENV}.
	Secret string `toml:"secret"`
	// PublicKeyFile is a PEM file with an RSA (≥ 2048 bits), ECDSA P-256/P-384
	// or Ed25519 public key (or a certificate holding one), read at load and
	// reload, never per request.
	PublicKeyFile string `toml:"public_key_file"`
	// JWKSURL is a JSON Web Key Set fetched in the background and matched by
	// kid. https, or http on a loopback host only. Keys whose kty/alg the
	// allow-list does not cover are ignored.
	JWKSURL string `toml:"jwks_url"`
	// JWKSRefresh is how often the key set is fetched again. Default "5m".
	JWKSRefresh Duration `toml:"jwks_refresh"`
	// JWKSMinRefresh is the least time between two fetches, including the
	// ones a token with an unknown kid asks for. Default "30s".
	JWKSMinRefresh Duration `toml:"jwks_min_refresh"`
	// TokenSources are tried in order; the first that carries a token is used.
	// Default: a bearer token only.
	TokenSources []TokenSource `toml:"token_sources"`
	// Issuer, when set, must equal the token's iss.
	Issuer string `toml:"issuer"`
	// Audience, when set, must be (one of) the token's aud.
	Audience string `toml:"audience"`
	// Leeway is the clock skew allowed on exp and nbf. Default "30s".
	Leeway Duration `toml:"leeway"`
	// RequireExp refuses tokens without exp. Default true.
	RequireExp *bool `toml:"require_exp"`
	// Claims are rules on the token's claims; all must hold.
	Claims []ClaimRule `toml:"claims"`
	// KeyPrefixClaim names a claim (dotted path) whose value the object key
	// must start with, on a segment boundary: "alice" admits "alice" and
	// "alice/x", not "alice2/x". Empty: no such rule.
	KeyPrefixClaim string `toml:"key_prefix_claim"`
	// MaxTokenSize rejects longer tokens before parsing them. Default 16384
	// bytes. A token in a header is also bounded by the header limit, and one
	// in the query string by the URI length limit.
	MaxTokenSize int `toml:"max_token_size"`

	// PublicKey is the key read from PublicKeyFile (not a TOML key).
	PublicKey crypto.PublicKey `toml:"-"`
}

// TokenSource says where a token is found.
type TokenSource struct {
	// Type is "bearer" (Authorization: Bearer <token>), "header" (the header
	// Name, after an optional Prefix) or "query" (the query parameter Name).
	Type string `toml:"type"`
	// Name is the header or parameter name ("header" and "query" only).
	Name string `toml:"name"`
	// Prefix is stripped from the header value ("header" only), e.g. "Token ".
	Prefix string `toml:"prefix"`
}

// ClaimRule is one condition on a claim.
type ClaimRule struct {
	// Claim is a dotted path into the claims, e.g. "org.role".
	Claim string `toml:"claim"`
	// Operator is equals, not_equals, in, contains, prefix, gt, gte, lt, lte
	// or exists.
	Operator string `toml:"operator"`
	// Value is compared with the claim: a string, number or boolean; an array
	// for in; a number for gt/gte/lt/lte; absent for exists.
	Value any `toml:"value"`
}

// Auth defaults.
const (
	DefaultJWKSRefresh    = 5 * time.Minute
	DefaultJWKSMinRefresh = 30 * time.Second
	DefaultLeeway         = 30 * time.Second
	DefaultMaxTokenSize   = 16 << 10
	maxMaxTokenSize       = 1 << 20
)

// Algorithms holds every algorithm the proxy can verify, by key family.
var algorithmFamily = map[string]string{
	"HS256": "hmac", "HS384": "hmac", "HS512": "hmac",
	"RS256": "rsa", "RS384": "rsa", "RS512": "rsa",
	"PS256": "rsa", "PS384": "rsa", "PS512": "rsa",
	"ES256": "p256", "ES384": "p384",
	"EdDSA": "ed25519",
}

// hmacMinSecret is the least secret length for each HMAC algorithm (RFC 7518
// §3.2: a key at least as long as the hash).
var hmacMinSecret = map[string]int{"HS256": 32, "HS384": 48, "HS512": 64}

var claimOperators = []string{"equals", "not_equals", "in", "contains", "prefix", "gt", "gte", "lt", "lte", "exists"}

// resolveAuth fills each bucket's settings from its `use` block, applies the
// auth defaults and validates every block once.
func (c *Config) resolveAuth(p *problems) {
	for name := range c.Auth {
		s := c.Auth[name]
		s.applyDefaults()
		s.validate(p, "auth."+name)
		c.Auth[name] = s
	}
	for i := range c.Buckets {
		a := c.Buckets[i].Auth
		if a == nil {
			continue
		}
		key := fmt.Sprintf("buckets[%d].auth", i)
		if a.Use == "" {
			a.applyDefaults()
			if a.IsEnabled() {
				a.AuthSettings.validate(p, key)
			}
			continue
		}
		if !reflect.ValueOf(a.AuthSettings).IsZero() {
			p.add(key+".use", "with use = %q the table may hold only enabled: the settings live in [auth.%s]", a.Use, a.Use)
		}
		shared, ok := c.Auth[a.Use]
		if !ok {
			p.add(key+".use", "no [auth.%s] block", a.Use)
			continue
		}
		a.AuthSettings = shared
	}
}

func (s *AuthSettings) applyDefaults() {
	s.JWKSRefresh = s.JWKSRefresh.orDefault(DefaultJWKSRefresh)
	s.JWKSMinRefresh = s.JWKSMinRefresh.orDefault(DefaultJWKSMinRefresh)
	s.Leeway = s.Leeway.orDefault(DefaultLeeway)
	if s.RequireExp == nil {
		t := true
		s.RequireExp = &t
	}
	if s.MaxTokenSize == 0 {
		s.MaxTokenSize = DefaultMaxTokenSize
	}
	if len(s.TokenSources) == 0 {
		s.TokenSources = []TokenSource{{Type: "bearer"}}
	}
}

// validate checks one settings block, fail-closed: every allowed algorithm
// must have a usable key of its type, and every key must serve an algorithm.
func (s *AuthSettings) validate(p *problems, key string) {
	if len(s.Algorithms) == 0 {
		p.add(key+".algorithms", "is required: list the JWS algorithms to accept, e.g. [\"HS256\"] or [\"ES256\", \"RS256\"]")
	}
	families := map[string]bool{}
	for _, alg := range s.Algorithms {
		f, ok := algorithmFamily[alg]
		if !ok {
			p.add(key+".algorithms", "%q is not supported; use HS256/384/512, RS256/384/512, PS256/384/512, ES256/384 or EdDSA (\"none\" is never accepted)", alg)
			continue
		}
		families[f] = true
	}
	if s.Secret == "" && s.PublicKeyFile == "" && s.JWKSURL == "" {
		p.add(key, "authentication is enabled but no key is configured: set secret, public_key_file or jwks_url (or enabled = false)")
	}
	if s.Secret != "" && !families["hmac"] {
		p.add(key+".secret", "no HS* algorithm is allowed, so the secret would never be used; add one to algorithms or remove the secret")
	}
	if families["hmac"] {
		if s.Secret == "" {
			p.add(key+".algorithms", "HS* algorithms need secret")
		}
		need := 0
		for _, alg := range s.Algorithms {
			need = max(need, hmacMinSecret[alg])
		}
		if s.Secret != "" && len(s.Secret) < need {
			p.add(key+".secret", "is %d bytes; the HS algorithms allowed need at least %d", len(s.Secret), need)
		}
	}
	var pemFamily string
	if s.PublicKeyFile != "" {
		pub, fam, err := readPublicKey(s.PublicKeyFile)
		if err != nil {
			p.add(key+".public_key_file", "%v", err)
		} else {
			s.PublicKey, pemFamily = pub, fam
			if !families[fam] {
				p.add(key+".public_key_file", "holds a %s key but no algorithm of that type is allowed (%s)", fam, strings.Join(s.Algorithms, ", "))
			}
		}
	}
	for _, alg := range s.Algorithms {
		f := algorithmFamily[alg]
		if f == "" || f == "hmac" || s.JWKSURL != "" {
			continue
		}
		if s.PublicKeyFile == "" {
			p.add(key+".algorithms", "%s needs public_key_file or jwks_url", alg)
		} else if pemFamily != "" && f != pemFamily {
			p.add(key+".algorithms", "%s does not match the %s key in public_key_file (and there is no jwks_url for it)", alg, pemFamily)
		}
	}
	if s.JWKSURL != "" {
		u, err := url.Parse(s.JWKSURL)
		switch {
		case err != nil || u.Host == "":
			p.add(key+".jwks_url", "%q is not an absolute URL", s.JWKSURL)
		case u.Scheme == "https":
		case u.Scheme == "http" && isLoopback(u.Hostname()):
		default:
			p.add(key+".jwks_url", "must be https (http only on a loopback host): keys fetched in clear text could be replaced")
		}
		onlyHMAC := true
		for f := range families {
			onlyHMAC = onlyHMAC && f == "hmac"
		}
		if onlyHMAC {
			p.add(key+".jwks_url", "only HS* algorithms are allowed, and symmetric keys are never taken from a JWKS; allow an asymmetric algorithm or remove jwks_url")
		}
	}
	if s.JWKSRefresh.Duration <= 0 {
		p.add(key+".jwks_refresh", "must be positive")
	}
	if s.JWKSMinRefresh.Duration <= 0 || s.JWKSMinRefresh.Duration > s.JWKSRefresh.Duration {
		p.add(key+".jwks_min_refresh", "must be positive and at most jwks_refresh (%v)", s.JWKSRefresh.Duration)
	}
	if s.MaxTokenSize < 1 || s.MaxTokenSize > maxMaxTokenSize {
		p.add(key+".max_token_size", "must be from 1 to %d bytes, got %d", maxMaxTokenSize, s.MaxTokenSize)
	}
	for i, ts := range s.TokenSources {
		k := fmt.Sprintf("%s.token_sources[%d]", key, i)
		switch ts.Type {
		case "bearer":
			if ts.Name != "" || ts.Prefix != "" {
				p.add(k, "a bearer source takes no name or prefix (it reads Authorization: Bearer)")
			}
		case "header":
			if !isHeaderName(ts.Name) {
				p.add(k+".name", "a header source needs a header name, got %q", ts.Name)
			}
		case "query":
			if ts.Name == "" || strings.ContainsAny(ts.Name, "&=#? ") {
				p.add(k+".name", "a query source needs a parameter name, got %q", ts.Name)
			}
			if ts.Prefix != "" {
				p.add(k+".prefix", "only header sources take a prefix")
			}
		default:
			p.add(k+".type", "%q must be bearer, header or query", ts.Type)
		}
	}
	for i, r := range s.Claims {
		k := fmt.Sprintf("%s.claims[%d]", key, i)
		if !validClaimPath(r.Claim) {
			p.add(k+".claim", "%q must be a claim name or a dotted path like \"org.role\"", r.Claim)
		}
		if !slices.Contains(claimOperators, r.Operator) {
			p.add(k+".operator", "%q must be one of %s", r.Operator, strings.Join(claimOperators, ", "))
			continue
		}
		switch r.Operator {
		case "exists":
			if r.Value != nil {
				p.add(k+".value", "exists takes no value")
			}
		case "in":
			if _, ok := r.Value.([]any); !ok {
				p.add(k+".value", "in needs an array, e.g. [\"admin\", \"editor\"]")
			}
		case "gt", "gte", "lt", "lte":
			switch r.Value.(type) {
			case int64, float64:
			default:
				p.add(k+".value", "%s needs a number", r.Operator)
			}
		case "prefix":
			if _, ok := r.Value.(string); !ok {
				p.add(k+".value", "prefix needs a string")
			}
		default:
			switch r.Value.(type) {
			case string, int64, float64, bool:
			default:
				p.add(k+".value", "%s needs a string, number or boolean", r.Operator)
			}
		}
	}
	if s.KeyPrefixClaim != "" && !validClaimPath(s.KeyPrefixClaim) {
		p.add(key+".key_prefix_claim", "%q must be a claim name or a dotted path", s.KeyPrefixClaim)
	}
}

func validClaimPath(path string) bool {
	if path == "" {
		return false
	}
	for _, seg := range strings.Split(path, ".") {
		if seg == "" {
			return false
		}
	}
	return true
}

func isHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// readPublicKey reads a PEM public key (or certificate) and names its family.
func readPublicKey(path string) (crypto.PublicKey, string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, "", err
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, "", fmt.Errorf("%s holds no PEM block", path)
	}
	var pub any
	switch block.Type {
	case "PUBLIC KEY":
		pub, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		pub, err = x509.ParsePKCS1PublicKey(block.Bytes)
	case "CERTIFICATE":
		var cert *x509.Certificate
		if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
			pub = cert.PublicKey
		}
	default:
		return nil, "", fmt.Errorf("%s: PEM block %q is not a public key or certificate (never give a private key)", path, block.Type)
	}
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", path, err)
	}
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return nil, "", fmt.Errorf("%s: RSA key of %d bits; at least 2048 are required", path, k.N.BitLen())
		}
		return k, "rsa", nil
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return k, "p256", nil
		case elliptic.P384():
			return k, "p384", nil
		}
		return nil, "", fmt.Errorf("%s: ECDSA curve %s is not supported (P-256 for ES256, P-384 for ES384)", path, k.Curve.Params().Name)
	case ed25519.PublicKey:
		return k, "ed25519", nil
	}
	return nil, "", fmt.Errorf("%s: unsupported key type %T", path, pub)
}
