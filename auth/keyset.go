package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"yatagarasu/config"
)

// maxJWKSSize bounds a fetched key set document.
const maxJWKSSize = 1 << 20

// family is a key type that algorithms share: hmac, rsa, p256, p384, ed25519.
type family string

var algFamily = map[string]family{
	"HS256": "hmac", "HS384": "hmac", "HS512": "hmac",
	"RS256": "rsa", "RS384": "rsa", "RS512": "rsa",
	"PS256": "rsa", "PS384": "rsa", "PS512": "rsa",
	"ES256": "p256", "ES384": "p384",
	"EdDSA": "ed25519",
}

// publicKey is one verification key.
type publicKey struct {
	kid    string
	alg    string // the JWK's alg, "" when it names none
	family family
	key    crypto.PublicKey
}

// jwkSet is one fetched key set. Immutable once published.
type jwkSet struct {
	byKid map[string][]publicKey
	all   []publicKey
}

// KeySet holds the keys of one auth configuration: its HMAC secret, its PEM
// public key, and with jwks_url the last good JSON Web Key Set. Buckets that
// share an [auth.<name>] block share one KeySet. Safe for concurrent use: the
// hot path reads the JWKS through an atomic pointer; Refresh, called by the
// JWKS fetcher actors, replaces it.
type KeySet struct {
	secret     []byte
	pem        *publicKey
	url        string
	allowed    map[family]map[string]bool // family → allowed algorithms
	refresh    time.Duration
	minRefresh time.Duration
	client     *http.Client

	jwks atomic.Pointer[jwkSet]
	// generation counts key set changes (a successful fetch that changed the
	// keys); caches of verified signatures are keyed by it.
	generation atomic.Uint64
	// lastAsk is when a refresh was last asked for (unix nanoseconds).
	lastAsk atomic.Int64

	mu          sync.Mutex // guards the following fields
	lastAttempt time.Time
	lastSuccess time.Time
	lastErr     error
	subscribers map[int]func()
	nextSub     int
}

// NewKeySet builds the key set of s, a validated configuration. It fetches
// nothing: a JWKS is loaded by Refresh.
func NewKeySet(s *config.AuthSettings) *KeySet {
	k := &KeySet{
		secret:     []byte(s.Secret),
		url:        s.JWKSURL,
		allowed:    map[family]map[string]bool{},
		refresh:    s.JWKSRefresh.Duration,
		minRefresh: s.JWKSMinRefresh.Duration,
		client:     &http.Client{Timeout: 10 * time.Second, CheckRedirect: checkJWKSRedirect},
	}
	for _, alg := range s.Algorithms {
		f := algFamily[alg]
		if k.allowed[f] == nil {
			k.allowed[f] = map[string]bool{}
		}
		k.allowed[f][alg] = true
	}
	if s.PublicKey != nil {
		if f := familyOf(s.PublicKey); f != "" {
			k.pem = &publicKey{family: f, key: s.PublicKey}
		}
	}
	return k
}

// HasJWKS reports whether the set is fetched from a URL.
func (k *KeySet) HasJWKS() bool { return k.url != "" }

// Ready reports whether the set can verify tokens: always for static keys,
// after the first good fetch for a JWKS. reason says why not.
func (k *KeySet) Ready() (ok bool, reason string) {
	if k.url == "" || k.jwks.Load() != nil {
		return true, ""
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.lastErr != nil {
		return false, "auth: key set not loaded: " + k.lastErr.Error()
	}
	return false, "auth: key set not loaded yet"
}

// Generation changes whenever the keys change.
func (k *KeySet) Generation() uint64 { return k.generation.Load() }

// Subscribe registers f to be called when a token names a kid the set does
// not hold (at most once per jwks_min_refresh across all subscribers): the
// fetcher actors' Send. Every bucket sharing the set has a fetcher; the calls
// must not block. The returned function unsubscribes.
func (k *KeySet) Subscribe(f func()) (unsubscribe func()) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.subscribers == nil {
		k.subscribers = map[int]func(){}
	}
	id := k.nextSub
	k.nextSub++
	k.subscribers[id] = f
	return func() {
		k.mu.Lock()
		defer k.mu.Unlock()
		delete(k.subscribers, id)
	}
}

// askRefresh tells the fetchers a kid was missing, rate-limited.
func (k *KeySet) askRefresh(now time.Time) {
	last := k.lastAsk.Load()
	if now.UnixNano()-last < int64(k.minRefresh) || !k.lastAsk.CompareAndSwap(last, now.UnixNano()) {
		return
	}
	k.mu.Lock()
	subs := make([]func(), 0, len(k.subscribers))
	for _, f := range k.subscribers {
		subs = append(subs, f)
	}
	k.mu.Unlock()
	for _, f := range subs {
		f()
	}
}

// RefreshInterval is the scheduled interval between fetches.
func (k *KeySet) RefreshInterval() time.Duration { return k.refresh }

// MinRefreshInterval is the least time between two fetches once loaded.
func (k *KeySet) MinRefreshInterval() time.Duration { return k.minRefresh }

// Refresh fetches the JWKS, unless a set is loaded and the last attempt is
// less than jwks_min_refresh ago (then it returns false, nil without
// fetching: several fetchers share a set, and unknown kids must not turn into
// a flood of fetches). Before the first good fetch, callers pace their own
// retries. On a failure the last good set stays in use. changed reports that
// the keys changed.
func (k *KeySet) Refresh(ctx context.Context, now time.Time) (changed bool, err error) {
	if k.url == "" {
		return false, nil
	}
	k.mu.Lock()
	if k.jwks.Load() != nil && now.Sub(k.lastAttempt) < k.minRefresh {
		k.mu.Unlock()
		return false, nil
	}
	k.lastAttempt = now
	k.mu.Unlock()

	set, err := k.fetch(ctx)
	k.mu.Lock()
	defer k.mu.Unlock()
	if err != nil {
		k.lastErr = err
		return false, err
	}
	k.lastErr, k.lastSuccess = nil, now
	old := k.jwks.Load()
	k.jwks.Store(set)
	if old == nil || !sameKeys(old, set) {
		k.generation.Add(1)
		return true, nil
	}
	return false, nil
}

func (k *KeySet) fetch(ctx context.Context) (*jwkSet, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.url, nil)
	if err != nil {
		return nil, fmt.Errorf("auth: jwks request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := k.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("auth: fetching jwks: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("auth: fetching jwks: %s answered %d", k.url, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSSize+1))
	if err != nil {
		return nil, fmt.Errorf("auth: reading jwks: %w", err)
	}
	if len(body) > maxJWKSSize {
		return nil, fmt.Errorf("auth: jwks larger than %d bytes", maxJWKSSize)
	}
	return k.parseJWKS(body)
}

// jwk is the JSON of one key; fields beyond these are ignored.
type jwk struct {
	Kty    string   `json:"kty"`
	Kid    string   `json:"kid"`
	Alg    string   `json:"alg"`
	Use    string   `json:"use"`
	KeyOps []string `json:"key_ops"`
	N      string   `json:"n"`
	E      string   `json:"e"`
	Crv    string   `json:"crv"`
	X      string   `json:"x"`
	Y      string   `json:"y"`
}

// parseJWKS keeps the keys the allow-list can use: public signing keys of an
// allowed family (and, when the JWK names one, an allowed alg). Symmetric
// ("oct") keys are never taken from a URL. Keys that do not parse are skipped,
// not fatal; a document that is not a JWKS is an error.
func (k *KeySet) parseJWKS(body []byte) (*jwkSet, error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil || doc.Keys == nil {
		return nil, fmt.Errorf("auth: jwks is not a JSON Web Key Set")
	}
	set := &jwkSet{byKid: map[string][]publicKey{}}
	for _, raw := range doc.Keys {
		var j jwk
		if json.Unmarshal(raw, &j) != nil || (j.Use != "" && j.Use != "sig") || (j.KeyOps != nil && !slices.Contains(j.KeyOps, "verify")) {
			continue
		}
		key, f := j.publicKey()
		if key == nil || k.allowed[f] == nil || (j.Alg != "" && !k.allowed[f][j.Alg]) {
			continue
		}
		pk := publicKey{kid: j.Kid, alg: j.Alg, family: f, key: key}
		set.all = append(set.all, pk)
		set.byKid[j.Kid] = append(set.byKid[j.Kid], pk)
	}
	return set, nil
}

func (j *jwk) publicKey() (crypto.PublicKey, family) {
	dec := base64.RawURLEncoding
	switch j.Kty {
	case "RSA":
		n, err1 := dec.DecodeString(j.N)
		e, err2 := dec.DecodeString(j.E)
		if err1 != nil || err2 != nil || len(e) == 0 || len(e) > 4 {
			return nil, ""
		}
		key := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
		if key.N.BitLen() < 2048 || key.E < 3 || key.E%2 == 0 {
			return nil, ""
		}
		return key, "rsa"
	case "EC":
		var curve elliptic.Curve
		var f family
		switch j.Crv {
		case "P-256":
			curve, f = elliptic.P256(), "p256"
		case "P-384":
			curve, f = elliptic.P384(), "p384"
		default:
			return nil, ""
		}
		x, err1 := dec.DecodeString(j.X)
		y, err2 := dec.DecodeString(j.Y)
		size := (curve.Params().BitSize + 7) / 8
		if err1 != nil || err2 != nil || len(x) != size || len(y) != size {
			return nil, ""
		}
		point := append(append([]byte{4}, x...), y...)
		key, err := ecdsa.ParseUncompressedPublicKey(curve, point) // rejects points off the curve
		if err != nil {
			return nil, ""
		}
		return key, f
	case "OKP":
		x, err := dec.DecodeString(j.X)
		if j.Crv != "Ed25519" || err != nil || len(x) != ed25519.PublicKeySize {
			return nil, ""
		}
		return ed25519.PublicKey(x), "ed25519"
	}
	return nil, ""
}

// candidates returns the keys that may have signed a token with alg and kid,
// and whether the kid was unknown to a loaded JWKS.
func (k *KeySet) candidates(dst []publicKey, alg, kid string) (_ []publicKey, unknownKid bool) {
	f := algFamily[alg]
	if f == "hmac" {
		return dst, false // the secret is not a publicKey; see Verifier
	}
	set := k.jwks.Load()
	if kid != "" && set != nil {
		keys, ok := set.byKid[kid]
		for _, pk := range keys {
			if pk.family == f && (pk.alg == "" || pk.alg == alg) {
				dst = append(dst, pk)
			}
		}
		unknownKid = !ok
		if ok || k.pem == nil {
			return dst, unknownKid
		}
	}
	if k.pem != nil && k.pem.family == f {
		dst = append(dst, *k.pem)
	}
	if kid == "" && set != nil {
		for _, pk := range set.all {
			if pk.family == f && (pk.alg == "" || pk.alg == alg) {
				dst = append(dst, pk)
			}
		}
	}
	return dst, unknownKid
}

func familyOf(key crypto.PublicKey) family {
	switch k := key.(type) {
	case *rsa.PublicKey:
		return "rsa"
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return "p256"
		case elliptic.P384():
			return "p384"
		}
	case ed25519.PublicKey:
		return "ed25519"
	}
	return ""
}

// sameKeys reports whether two sets hold the same keys under the same kids.
func sameKeys(a, b *jwkSet) bool {
	if len(a.all) != len(b.all) {
		return false
	}
	for i := range a.all {
		x, y := a.all[i], b.all[i]
		if x.kid != y.kid || x.alg != y.alg || x.family != y.family {
			return false
		}
		if eq, ok := x.key.(interface{ Equal(crypto.PublicKey) bool }); !ok || !eq.Equal(y.key) {
			return false
		}
	}
	return true
}

// checkJWKSRedirect holds every redirect to jwks_url's own rule: https, or
// http on a loopback host. Otherwise a redirect would fetch keys in clear text.
func checkJWKSRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 5 {
		return errors.New("auth: jwks: too many redirects")
	}
	host := req.URL.Hostname()
	ip := net.ParseIP(host)
	if req.URL.Scheme == "https" || req.URL.Scheme == "http" && (host == "localhost" || ip != nil && ip.IsLoopback()) {
		return nil
	}
	return fmt.Errorf("auth: jwks: refusing a redirect to %s", req.URL.Redacted())
}
