package auth

import (
	"bytes"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/valyala/fasthttp"

	"yatagarasu/config"
)

// Request is what Verify reads from a client request; its slices belong to the
// request and are valid only during the handler.
type Request struct {
	// Header is the client's request header.
	Header *fasthttp.RequestHeader
	// RawQuery is the query string without '?', still encoded.
	RawQuery []byte
	// Key is the object key, decoded once.
	Key []byte
}

// Result describes an accepted token.
type Result struct {
	// Subject is the token's sub claim (for the access log), "" if absent.
	Subject string
}

// Verifier checks one bucket's tokens. Immutable and safe for concurrent use;
// a reload builds a new one.
type Verifier struct {
	keys       *KeySet
	sources    []config.TokenSource
	maxSize    int
	methods    map[string]jwt.SigningMethod // the allow-list
	leeway     time.Duration
	requireExp bool
	issuer     string
	audience   string
	rules      []claimRule
	prefixPath []string
	cache      *verifiedCache // nil: every token is verified afresh (benchmarks)
}

// NewVerifier builds the verifier of s (validated by package config) over keys.
func NewVerifier(s *config.AuthSettings, keys *KeySet) *Verifier {
	v := &Verifier{
		keys:       keys,
		sources:    s.TokenSources,
		maxSize:    s.MaxTokenSize,
		methods:    map[string]jwt.SigningMethod{},
		leeway:     s.Leeway.Duration,
		requireExp: s.RequireExp == nil || *s.RequireExp,
		issuer:     s.Issuer,
		audience:   s.Audience,
		rules:      compileRules(s.Claims),
		cache:      newVerifiedCache(VerifiedCacheSize),
	}
	for _, alg := range s.Algorithms {
		m := jwt.GetSigningMethod(alg)
		if pss, ok := m.(*jwt.SigningMethodRSAPSS); ok {
			// RFC 7518 §3.5: the salt is as long as the hash. golang-jwt
			// verifies with PSSSaltLengthAuto, which accepts any salt length.
			m = &jwt.SigningMethodRSAPSS{SigningMethodRSA: pss.SigningMethodRSA, Options: pss.Options,
				VerifyOptions: &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}}
		}
		if m != nil && alg != "none" {
			v.methods[alg] = m
		}
	}
	if s.KeyPrefixClaim != "" {
		v.prefixPath = strings.Split(s.KeyPrefixClaim, ".")
	}
	return v
}

// QueryParams returns the names of the query parameters that carry tokens.
func (v *Verifier) QueryParams() []string {
	var out []string
	for _, s := range v.sources {
		if s.Type == "query" {
			out = append(out, s.Name)
		}
	}
	return out
}

// Keys returns the verifier's key set.
func (v *Verifier) Keys() *KeySet { return v.keys }

// Verify authenticates r at now. Errors: ErrMissingToken (401),
// ErrKeysUnavailable (503) or a *Failure (403) whose Reason says why.
func (v *Verifier) Verify(r Request, now time.Time) (Result, error) {
	token := v.extract(r)
	if token == nil {
		return Result{}, ErrMissingToken
	}
	if len(token) > v.maxSize {
		return Result{}, reject(ReasonTooLarge, "token of %d bytes, limit %d", len(token), v.maxSize)
	}
	if ok, _ := v.keys.Ready(); !ok {
		return Result{}, ErrKeysUnavailable
	}
	claims, err := v.verified(token, now)
	if err != nil {
		return Result{}, err
	}
	if err := v.checkRegistered(claims, now); err != nil {
		return Result{}, err
	}
	for _, rule := range v.rules {
		if !rule.holds(claims) {
			return Result{}, reject(ReasonClaims, "rule on %s not satisfied", strings.Join(rule.path, "."))
		}
	}
	if v.prefixPath != nil {
		pv, _ := lookup(claims, v.prefixPath)
		prefix, _ := pv.(string)
		if !keyAllowed(r.Key, prefix) {
			return Result{}, reject(ReasonKeyPrefix, "key outside the token's prefix")
		}
	}
	sub, _ := claims["sub"].(string)
	return Result{Subject: sub}, nil
}

// verified returns the claims of token once its structure and signature
// check out, from the cache when this token verified before under the
// current keys.
func (v *Verifier) verified(token []byte, now time.Time) (map[string]any, error) {
	gen := v.keys.Generation() // read first: keys changing meanwhile leave a stale entry
	h := sha256.Sum256(token)
	if v.cache != nil {
		if e, ok := v.cache.get(h, gen); ok {
			return e.claims, nil
		}
	}
	j, err := parseCompact(token)
	if err != nil {
		return nil, err
	}
	if err := v.verifySignature(j, now); err != nil {
		return nil, err
	}
	claims, err := decodeClaims(j.payload)
	if err != nil {
		return nil, err
	}
	if v.cache != nil {
		v.cache.add(h, &verified{claims: claims, keyGen: gen})
	}
	return claims, nil
}

// verifySignature checks the algorithm against the allow-list and the
// signature against the configured keys of that algorithm's type only: an
// HS256 token is checked with the secret, never with a public key (no
// algorithm confusion), and a kid only selects among configured keys.
func (v *Verifier) verifySignature(j *compactJWS, now time.Time) error {
	alg := j.header.Alg
	method, ok := v.methods[alg]
	if !ok {
		return reject(ReasonAlgorithm, "algorithm %q is not allowed", truncate(alg))
	}
	signing := string(j.signingString)
	if algFamily[alg] == "hmac" {
		if len(v.keys.secret) > 0 && method.Verify(signing, j.signature, v.keys.secret) == nil {
			return nil
		}
		return reject(ReasonSignature, "signature does not verify")
	}
	var buf [4]publicKey
	keys, unknown := v.keys.candidates(buf[:0], alg, j.header.Kid)
	for _, k := range keys {
		if method.Verify(signing, j.signature, k.key) == nil {
			return nil
		}
	}
	if unknown {
		v.keys.askRefresh(now)
		return reject(ReasonUnknownKey, "no key with this kid")
	}
	return reject(ReasonSignature, "signature does not verify")
}

// decodeClaims checks the payload's structure and decodes it with numbers
// kept exact.
func decodeClaims(payload []byte) (map[string]any, error) {
	if err := checkObject(payload); err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var claims map[string]any
	if err := dec.Decode(&claims); err != nil {
		return nil, reject(ReasonMalformed, "claims: %v", err)
	}
	return claims, nil
}

// extract returns the token of the first configured source that carries one,
// or nil.
func (v *Verifier) extract(r Request) []byte {
	for _, s := range v.sources {
		switch s.Type {
		case "bearer":
			h := r.Header.Peek("Authorization")
			if len(h) > 7 && strings.EqualFold(string(h[:7]), "bearer ") {
				if t := bytes.TrimSpace(h[7:]); len(t) > 0 {
					return t
				}
			}
		case "header":
			h := r.Header.Peek(s.Name)
			if len(h) == 0 || !bytes.HasPrefix(h, []byte(s.Prefix)) {
				continue
			}
			if t := bytes.TrimSpace(h[len(s.Prefix):]); len(t) > 0 {
				return t
			}
		case "query":
			if t := queryValue(r.RawQuery, s.Name); len(t) > 0 {
				return t
			}
		}
	}
	return nil
}

// queryValue returns the decoded value of the first parameter named name.
func queryValue(raw []byte, name string) []byte {
	for len(raw) > 0 {
		var part []byte
		if i := bytes.IndexByte(raw, '&'); i >= 0 {
			part, raw = raw[:i], raw[i+1:]
		} else {
			part, raw = raw, nil
		}
		k, val, _ := bytes.Cut(part, []byte{'='})
		if string(k) != name {
			continue
		}
		s, err := url.QueryUnescape(string(val))
		if err != nil {
			return nil
		}
		return []byte(s)
	}
	return nil
}

// IsMissing reports whether err means no token was presented.
func IsMissing(err error) bool { return errors.Is(err, ErrMissingToken) }
