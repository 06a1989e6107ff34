package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/base64"
	"errors"
	"io"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var ctx = context.Background()

// rsTok is a valid RS256 token signed by key with kid.
func rsTok(tb testing.TB, key any, kid string) string {
	tb.Helper()
	return sign(tb, jwt.SigningMethodRS256, key, validClaims(), map[string]any{"kid": kid})
}

// jwksTOML is an auth table fetching RS256 keys from url.
func jwksTOML(url string) string {
	return `algorithms = ["RS256"]
jwks_url = "` + url + `"
`
}

func TestStaticKeySet(t *testing.T) {
	s := authSettings(t, hsTOML)
	k := NewKeySet(s)
	if ok, reason := k.Ready(); !ok || reason != "" {
		t.Errorf("Ready() = %v, %q for a secret; want true, \"\"", ok, reason)
	}
	if k.HasJWKS() {
		t.Errorf("HasJWKS() = true without jwks_url")
	}
	changed, err := k.Refresh(ctx, t0)
	if changed || err != nil {
		t.Errorf("Refresh without jwks_url = %v, %v; want false, nil", changed, err)
	}
	if g := k.Generation(); g != 0 {
		t.Errorf("Generation() = %d for static keys, want 0", g)
	}
}

func TestJWKSLoad(t *testing.T) {
	srv := newJWKSServer(t, jwksDoc(jwkOf("k1", "RS256", &rsaKey().PublicKey)))
	v := newVerifier(t, jwksTOML(srv.URL)+`jwks_refresh = "10m"
jwks_min_refresh = "1m"
`)
	k := v.Keys()
	if !k.HasJWKS() || k.RefreshInterval() != 10*time.Minute || k.MinRefreshInterval() != time.Minute {
		t.Errorf("HasJWKS, RefreshInterval, MinRefreshInterval = %v, %v, %v; want true, 10m, 1m",
			k.HasJWKS(), k.RefreshInterval(), k.MinRefreshInterval())
	}
	tok := rsTok(t, rsaKey(), "k1")
	if ok, _ := k.Ready(); ok {
		t.Fatalf("Ready() = true before the first fetch")
	}
	if _, err := v.Verify(bearer(tok), t0); !errors.Is(err, ErrKeysUnavailable) {
		t.Fatalf("Verify before Refresh = %v, want ErrKeysUnavailable", err)
	}
	changed, err := k.Refresh(ctx, t0)
	if !changed || err != nil {
		t.Fatalf("first Refresh = %v, %v; want true, nil", changed, err)
	}
	if ok, reason := k.Ready(); !ok {
		t.Fatalf("Ready() = false (%s) after a good fetch", reason)
	}
	if g := k.Generation(); g != 1 {
		t.Errorf("Generation() = %d after the first fetch, want 1", g)
	}
	if _, err := v.Verify(bearer(tok), t0); err != nil {
		t.Errorf("Verify with the JWKS key = %v, want accepted", err)
	}
	// Without kid, every key of the algorithm's family is tried.
	noKid := sign(t, jwt.SigningMethodRS256, rsaKey(), validClaims(), nil)
	if _, err := v.Verify(bearer(noKid), t0); err != nil {
		t.Errorf("Verify without kid = %v, want accepted", err)
	}
	_, err = v.Verify(bearer(rsTok(t, rsaKey(), "k2")), t0)
	wantReason(t, err, ReasonUnknownKey)
	if n := srv.hits.Load(); n != 1 {
		t.Errorf("JWKS server got %d requests, want 1", n)
	}
}

// TestJWKSKeyFiltering: keys the allow-list cannot use, symmetric keys, keys
// for encryption and keys that do not parse are left out of the set without
// failing the fetch.
func TestJWKSKeyFiltering(t *testing.T) {
	enc := base64.RawURLEncoding.EncodeToString
	ecOff := jwkOf("ec-off-curve", "ES256", &ecKey2().PublicKey)
	y, _ := base64.RawURLEncoding.DecodeString(ecOff["y"].(string))
	y[len(y)-1] ^= 1 // the point leaves the curve
	ecOff["y"] = enc(y)
	rsaSmall := genRSA(1024)
	rsaEven := jwkOf("rsa-even-e", "", &rsaKey2().PublicKey)
	rsaEven["e"] = enc(big.NewInt(65536).Bytes())
	rsaEnc := jwkOf("rsa-enc", "", &rsaKey2().PublicKey)
	rsaEnc["use"] = "enc"
	ecShort := jwkOf("ec-short", "ES256", &ecKey2().PublicKey)
	ecShort["x"] = ecShort["x"].(string)[:20]
	ec384 := jwkOf("ec-p384", "", &ec384Key().PublicKey)
	ecWrongCrv := jwkOf("ec-wrong-crv", "", &ecKey2().PublicKey)
	ecWrongCrv["crv"] = "P-384"
	octKey := []byte("the-oct-key-of-thirty-two-bytes!")
	keys := []map[string]any{
		jwkOf("rs", "RS256", &rsaKey().PublicKey),
		jwkOf("rs-no-alg", "", &rsaKey().PublicKey),
		jwkOf("ec", "ES256", &ecKey().PublicKey),
		jwkOf("rs512", "RS512", &rsaKey2().PublicKey),
		jwkOf("ps256", "PS256", &rsaKey2().PublicKey),
		{"kty": "oct", "kid": "oct", "alg": "HS256", "k": enc(octKey)},
		rsaEnc,
		ec384,
		ecWrongCrv,
		jwkOf("ed", "EdDSA", edKey().Public()),
		ecOff,
		ecShort,
		jwkOf("rsa-1024", "RS256", &rsaSmall.PublicKey),
		rsaEven,
		{"kty": "RSA", "kid": "rsa-bad-n", "n": "***", "e": "AQAB"},
		{"kty": "RSA", "kid": "rsa-big-e", "n": jwkOf("", "", &rsaKey2().PublicKey)["n"], "e": enc([]byte{1, 0, 0, 0, 1})},
		{"kty": "dragon", "kid": "unknown-kty"},
	}
	body := jwksDoc(keys...)
	// a member that is not a JSON object is skipped too
	body = []byte(strings.Replace(string(body), `{"keys":[`, `{"keys":[42,"x",null,`, 1))
	srv := newJWKSServer(t, body)
	v := newVerifier(t, `algorithms = ["RS256", "ES256", "HS256"]
secret = "`+testSecret+`"
jwks_url = "`+srv.URL+`"
`)
	if _, err := v.Keys().Refresh(ctx, t0); err != nil {
		t.Fatalf("Refresh = %v; keys that cannot be used must be skipped, not fail the fetch", err)
	}
	set := v.Keys().jwks.Load()
	var kept []string
	for _, k := range set.all {
		kept = append(kept, k.kid)
	}
	if got, want := strings.Join(kept, ","), "rs,rs-no-alg,ec"; got != want {
		t.Errorf("kept keys %s, want %s", got, want)
	}

	rs256 := func(key any, kid string) string { return rsTok(t, key, kid) }
	es256 := func(key *ecdsa.PrivateKey, kid string) string {
		return sign(t, jwt.SigningMethodES256, key, validClaims(), map[string]any{"kid": kid})
	}
	tests := []struct {
		name  string
		token string
		want  string
	}{
		{"RSA key with alg RS256", rs256(rsaKey(), "rs"), ""},
		{"RSA key without alg", rs256(rsaKey(), "rs-no-alg"), ""},
		{"P-256 key", es256(ecKey(), "ec"), ""},
		{"RSA key listed for RS512 only", rs256(rsaKey2(), "rs512"), ReasonUnknownKey},
		{"RSA key listed for PS256 only", rs256(rsaKey2(), "ps256"), ReasonUnknownKey},
		{"oct key never used, HS256 checks the secret", sign(t, jwt.SigningMethodHS256, octKey, validClaims(), map[string]any{"kid": "oct"}), ReasonSignature},
		{"RSA key for encryption", rs256(rsaKey2(), "rsa-enc"), ReasonUnknownKey},
		{"P-384 key with ES384 not allowed", sign(t, jwt.SigningMethodES384, ec384Key(), validClaims(), map[string]any{"kid": "ec-p384"}), ReasonAlgorithm},
		{"P-256 point labelled P-384", es256(ecKey2(), "ec-wrong-crv"), ReasonUnknownKey},
		{"EC point off the curve", es256(ecKey2(), "ec-off-curve"), ReasonUnknownKey},
		{"EC coordinate too short", es256(ecKey2(), "ec-short"), ReasonUnknownKey},
		{"RSA key of 1024 bits", rs256(rsaSmall, "rsa-1024"), ReasonUnknownKey},
		{"RSA key with an even exponent", rs256(rsaKey2(), "rsa-even-e"), ReasonUnknownKey},
		{"RSA key with a bad modulus", rs256(rsaKey2(), "rsa-bad-n"), ReasonUnknownKey},
		{"RSA key with a 5-byte exponent", rs256(rsaKey2(), "rsa-big-e"), ReasonUnknownKey},
		{"unknown kty", rs256(rsaKey2(), "unknown-kty"), ReasonUnknownKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := v.Verify(bearer(tt.token), t0)
			wantReason(t, err, tt.want)
		})
	}
}

func TestJWKSDocumentErrors(t *testing.T) {
	good := jwksDoc(jwkOf("k1", "RS256", &rsaKey().PublicKey))
	// A valid key set of exactly the size limit is accepted.
	atLimit := padJWKS(good, maxJWKSSize)
	overLimit := padJWKS(good, maxJWKSSize+1)
	tests := []struct {
		name   string
		status int
		body   []byte
		ok     bool
	}{
		{"good", 200, good, true},
		{"empty key list", 200, []byte(`{"keys":[]}`), true},
		{"exactly 1 MiB", 200, atLimit, true},
		{"over 1 MiB", 200, overLimit, false},
		{"status 500", 500, good, false},
		{"status 404", 404, good, false},
		{"status 204", 204, nil, false},
		{"not JSON", 200, []byte(`<html>login</html>`), false},
		{"truncated JSON", 200, good[:len(good)-2], false},
		{"keys null", 200, []byte(`{"keys":null}`), false},
		{"no keys member", 200, []byte(`{"issuer":"x"}`), false},
		{"keys not an array", 200, []byte(`{"keys":{"kid":"k1"}}`), false},
		{"a JSON array", 200, []byte(`[]`), false},
		{"empty body", 200, []byte{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newJWKSServer(t, tt.body)
			srv.serve(tt.status, tt.body)
			k := NewKeySet(authSettings(t, jwksTOML(srv.URL)))
			_, err := k.Refresh(ctx, t0)
			if ready, _ := k.Ready(); (err == nil) != tt.ok || ready != tt.ok {
				t.Errorf("Refresh error = %v, Ready = %v; want loaded = %v", err, ready, tt.ok)
			}
			if !tt.ok {
				if _, reason := k.Ready(); !strings.Contains(reason, "not loaded") {
					t.Errorf("Ready reason = %q, want it to say the set is not loaded", reason)
				}
			}
		})
	}
}

// padJWKS grows a JWKS document to exactly size bytes with an ignored member.
func padJWKS(doc []byte, size int) []byte {
	prefix := `{"pad":"`
	rest := `",` + string(doc[1:])
	return []byte(prefix + strings.Repeat("x", size-len(prefix)-len(rest)) + rest)
}

// TestJWKSFailedFetchKeepsLastGood: once a set is loaded, a failed fetch
// keeps it in use and Ready true, and leaves Generation alone.
func TestJWKSFailedFetchKeepsLastGood(t *testing.T) {
	good := jwksDoc(jwkOf("k1", "RS256", &rsaKey().PublicKey))
	srv := newJWKSServer(t, good)
	v := newVerifier(t, jwksTOML(srv.URL))
	k := v.Keys()
	if _, err := k.Refresh(ctx, t0); err != nil {
		t.Fatalf("first Refresh: %v", err)
	}
	tok := rsTok(t, rsaKey(), "k1")
	gen := k.Generation()
	failures := []struct {
		name   string
		status int
		body   []byte
	}{
		{"status 500", 500, good},
		{"invalid JSON", 200, []byte(`{"keys":[`)},
		{"over 1 MiB", 200, padJWKS(good, maxJWKSSize+1)},
		{"not a key set", 200, []byte(`{"error":"maintenance"}`)},
	}
	now := t0
	for _, f := range failures {
		t.Run(f.name, func(t *testing.T) {
			srv.serve(f.status, f.body)
			now = now.Add(k.MinRefreshInterval())
			before := srv.hits.Load()
			changed, err := k.Refresh(ctx, now)
			if err == nil || changed {
				t.Errorf("Refresh = %v, %v; want false and an error", changed, err)
			}
			if srv.hits.Load() != before+1 {
				t.Errorf("Refresh did not fetch")
			}
			if ok, reason := k.Ready(); !ok {
				t.Errorf("Ready() = false (%s) after a failed refresh; the last good set must stay", reason)
			}
			if g := k.Generation(); g != gen {
				t.Errorf("Generation() = %d after a failed fetch, want %d", g, gen)
			}
			if _, err := v.Verify(bearer(tok), now); err != nil {
				t.Errorf("Verify with the last good key = %v, want accepted", err)
			}
		})
	}
	t.Run("server gone", func(t *testing.T) {
		srv.Close()
		now = now.Add(k.MinRefreshInterval())
		if _, err := k.Refresh(ctx, now); err == nil {
			t.Errorf("Refresh against a closed server = nil error")
		}
		if ok, _ := k.Ready(); !ok {
			t.Errorf("Ready() = false after a failed refresh")
		}
		if _, err := v.Verify(bearer(tok), now); err != nil {
			t.Errorf("Verify with the last good key = %v, want accepted", err)
		}
	})
}

// TestJWKSRefreshPacing: before the first good fetch every Refresh fetches
// (callers pace their own retries); after it, Refresh fetches at most once per
// jwks_min_refresh, counted from the last attempt.
func TestJWKSRefreshPacing(t *testing.T) {
	good := jwksDoc(jwkOf("k1", "RS256", &rsaKey().PublicKey))
	srv := newJWKSServer(t, good)
	srv.serve(http.StatusServiceUnavailable, nil)
	k := NewKeySet(authSettings(t, jwksTOML(srv.URL)+`jwks_min_refresh = "30s"`+"\n"))
	steps := []struct {
		name     string
		at       time.Duration
		serveOK  bool
		wantHits int64
		wantErr  bool
	}{
		{"first attempt fails", 0, false, 1, true},
		{"retry at once still fetches before a good fetch", time.Second, false, 2, true},
		{"retry at the same instant still fetches", time.Second, true, 3, false},
		{"within min refresh of the good fetch: no fetch", 2 * time.Second, true, 3, false},
		{"just under min refresh: no fetch", 30*time.Second + time.Second - time.Nanosecond, true, 3, false},
		{"at min refresh: fetch", 31 * time.Second, false, 4, true},
		{"a failed attempt also starts the interval", 40 * time.Second, true, 4, false},
		{"min refresh after the failed attempt: fetch", 61 * time.Second, true, 5, false},
	}
	for _, s := range steps {
		if s.serveOK {
			srv.serve(http.StatusOK, good)
		} else {
			srv.serve(http.StatusInternalServerError, nil)
		}
		_, err := k.Refresh(ctx, t0.Add(s.at))
		if got := srv.hits.Load(); got != s.wantHits {
			t.Errorf("%s: server hits = %d, want %d", s.name, got, s.wantHits)
		}
		if (err != nil) != s.wantErr {
			t.Errorf("%s: Refresh error = %v, want error: %v", s.name, err, s.wantErr)
		}
	}
}

// TestJWKSRotation: the issuer switches to a new key. A token with the new
// kid fails unknown_key and asks the fetchers for a refresh (once per
// jwks_min_refresh); after the refresh it verifies.
func TestJWKSRotation(t *testing.T) {
	setA := jwksDoc(jwkOf("a1", "RS256", &rsaKey().PublicKey))
	setB := jwksDoc(jwkOf("b1", "RS256", &rsaKey2().PublicKey))
	srv := newJWKSServer(t, setA)
	v := newVerifier(t, jwksTOML(srv.URL)+`jwks_min_refresh = "30s"`+"\n")
	k := v.Keys()
	var asked1, asked2 atomic.Int64
	unsub1 := k.Subscribe(func() { asked1.Add(1) })
	k.Subscribe(func() { asked2.Add(1) })

	if changed, err := k.Refresh(ctx, t0); !changed || err != nil {
		t.Fatalf("Refresh(t0) = %v, %v; want true, nil", changed, err)
	}
	oldTok, newTok := rsTok(t, rsaKey(), "a1"), rsTok(t, rsaKey2(), "b1")
	check := func(step, tok string, now time.Time, want string, wantAsked int64) {
		t.Helper()
		_, err := v.Verify(bearer(tok), now)
		if got := reasonOf(err); got != want {
			t.Errorf("%s: Verify reason = %q (%v), want %q", step, got, err, want)
		}
		if got := asked2.Load(); got != wantAsked {
			t.Errorf("%s: subscribers notified %d times, want %d", step, got, wantAsked)
		}
	}
	check("old key before rotation", oldTok, t0.Add(time.Second), "", 0)

	srv.serve(http.StatusOK, setB)
	check("new kid before refresh", newTok, t0.Add(time.Second), ReasonUnknownKey, 1)
	check("new kid again, same second", newTok, t0.Add(time.Second), ReasonUnknownKey, 1)
	check("new kid again within min refresh", newTok, t0.Add(30*time.Second), ReasonUnknownKey, 1)
	if got := asked1.Load(); got != 1 {
		t.Errorf("first subscriber notified %d times, want 1", got)
	}
	if changed, err := k.Refresh(ctx, t0.Add(20*time.Second)); changed || err != nil {
		t.Errorf("Refresh within min refresh of the last attempt = %v, %v; want false, nil", changed, err)
	}
	if n := srv.hits.Load(); n != 1 {
		t.Errorf("server hits = %d after a Refresh within min refresh, want 1", n)
	}
	unsub1()
	check("new kid after min refresh asks again", newTok, t0.Add(31*time.Second), ReasonUnknownKey, 2)
	if got := asked1.Load(); got != 1 {
		t.Errorf("unsubscribed subscriber notified %d times, want 1", got)
	}

	genBefore := k.Generation()
	if changed, err := k.Refresh(ctx, t0.Add(32*time.Second)); !changed || err != nil {
		t.Fatalf("Refresh after rotation = %v, %v; want true, nil", changed, err)
	}
	if g := k.Generation(); g == genBefore {
		t.Errorf("Generation() unchanged (%d) after the keys changed", g)
	}
	check("new kid after refresh", newTok, t0.Add(33*time.Second), "", 2)
	check("old kid after rotation", oldTok, t0.Add(33*time.Second), ReasonUnknownKey, 2)
}

func TestJWKSGeneration(t *testing.T) {
	a := jwkOf("a1", "RS256", &rsaKey().PublicKey)
	b := jwkOf("b1", "RS256", &rsaKey2().PublicKey)
	bRenamed := jwkOf("b2", "RS256", &rsaKey2().PublicKey)
	bNoAlg := jwkOf("b1", "", &rsaKey2().PublicKey)
	srv := newJWKSServer(t, jwksDoc(a))
	k := NewKeySet(authSettings(t, jwksTOML(srv.URL)+`jwks_min_refresh = "1s"`+"\n"))
	steps := []struct {
		name    string
		doc     []byte
		changed bool
	}{
		{"first fetch", jwksDoc(a), true},
		{"same set", jwksDoc(a), false},
		{"same set, other member order", []byte(`{"keys":[{"e":"` + a["e"].(string) + `","n":"` + a["n"].(string) + `","alg":"RS256","kty":"RSA","kid":"a1"}]}`), false},
		{"same set, unusable key added", jwksDoc(a, map[string]any{"kty": "oct", "k": "AAAA", "kid": "x"}), false},
		{"key added", jwksDoc(a, b), true},
		{"same two keys", jwksDoc(a, b), false},
		{"kid renamed", jwksDoc(a, bRenamed), true},
		{"alg dropped", jwksDoc(a, bNoAlg), true},
		{"key removed", jwksDoc(a), true},
		{"all keys removed", jwksDoc(), true},
	}
	gen := k.Generation()
	for i, s := range steps {
		srv.serve(http.StatusOK, s.doc)
		changed, err := k.Refresh(ctx, t0.Add(time.Duration(i)*time.Minute))
		if err != nil {
			t.Fatalf("%s: Refresh: %v", s.name, err)
		}
		g := k.Generation()
		if changed != s.changed || (g != gen) != s.changed {
			t.Errorf("%s: changed = %v, Generation %d → %d; want changed = %v and a new generation only then", s.name, changed, gen, g, s.changed)
		}
		gen = g
	}
}

// TestUnknownKidWithPEMAsksRefresh: with both a PEM key and a JWKS, a token
// naming a kid the set does not hold still asks the fetchers for a refresh
// (a rotated-in key must not wait for the scheduled jwks_refresh).
func TestUnknownKidWithPEMAsksRefresh(t *testing.T) {
	srv := newJWKSServer(t, jwksDoc(jwkOf("a1", "RS256", &rsaKey().PublicKey)))
	v := newVerifier(t, `algorithms = ["RS256", "ES256"]
public_key_file = "`+writePEM(t, &ecKey().PublicKey)+`"
jwks_url = "`+srv.URL+`"
`)
	if _, err := v.Keys().Refresh(ctx, t0); err != nil {
		t.Fatal(err)
	}
	var asked atomic.Int64
	v.Keys().Subscribe(func() { asked.Add(1) })

	// The PEM key has no kid: its tokens may name any kid and still verify.
	pemTok := sign(t, jwt.SigningMethodES256, ecKey(), validClaims(), map[string]any{"kid": "pem-key"})
	if _, err := v.Verify(bearer(pemTok), t0); err != nil {
		t.Errorf("Verify of a PEM-signed token with a kid unknown to the JWKS = %v, want accepted", err)
	}
	rotated := sign(t, jwt.SigningMethodES256, ecKey2(), validClaims(), map[string]any{"kid": "b1"})
	_, err := v.Verify(bearer(rotated), t0.Add(time.Minute))
	wantReason(t, err, ReasonUnknownKey)
	if n := asked.Load(); n != 1 {
		t.Errorf("subscribers notified %d times for an unknown kid, want 1", n)
	}
}

// redirectTransport stands in for the network at the http.Client seam: the
// case needs an https JWKS host that redirects to a clear-text host that is
// not loopback, which a unit test cannot run for real.
type redirectTransport struct {
	mu   sync.Mutex // guards the following field
	hits map[string]int
	body []byte // what the clear-text host serves
}

func (rt *redirectTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	rt.mu.Lock()
	rt.hits[req.URL.Scheme+"://"+req.URL.Host]++
	rt.mu.Unlock()
	resp := &http.Response{Request: req, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(""))}
	switch req.URL.Host {
	case "idp.example":
		resp.StatusCode = http.StatusFound
		resp.Header.Set("Location", "http://cdn.example/jwks.json")
	default:
		resp.StatusCode = http.StatusOK
		resp.Body = io.NopCloser(strings.NewReader(string(rt.body)))
	}
	return resp, nil
}

// TestJWKSRedirectToClearText: config allows an http jwks_url only on a
// loopback host ("keys fetched in clear text could be replaced"); a redirect
// from the https URL to http elsewhere must not get around that.
func TestJWKSRedirectToClearText(t *testing.T) {
	attacker := ecAttacker()
	rt := &redirectTransport{hits: map[string]int{}, body: jwksDoc(jwkOf("a1", "ES256", &attacker.PublicKey))}
	v := newVerifier(t, `algorithms = ["ES256"]
jwks_url = "https://idp.example/.well-known/jwks.json"
`)
	v.Keys().client.Transport = rt // the client's own redirect policy stays in force
	_, err := v.Keys().Refresh(ctx, t0)
	if err == nil {
		t.Errorf("Refresh followed a redirect to http://cdn.example and succeeded, want an error")
	}
	if n := rt.hits["http://cdn.example"]; n != 0 {
		t.Errorf("the clear-text host got %d requests, want 0", n)
	}
	tok := sign(t, jwt.SigningMethodES256, attacker, validClaims(), map[string]any{"kid": "a1"})
	if _, err := v.Verify(bearer(tok), t0); err == nil {
		t.Errorf("a token signed with a key fetched in clear text was accepted")
	}
}

// TestJWKSConcurrentUse runs Verify from several goroutines while Refresh
// swaps key sets (for the race detector) and checks every answer is one of
// the two a consistent set could give.
func TestJWKSConcurrentUse(t *testing.T) {
	setA := jwksDoc(jwkOf("a1", "ES256", &ecKey().PublicKey))
	setB := jwksDoc(jwkOf("b1", "ES256", &ecKey2().PublicKey))
	srv := newJWKSServer(t, setA)
	v := newVerifier(t, `algorithms = ["ES256"]
jwks_url = "`+srv.URL+`"
jwks_min_refresh = "1s"
`)
	if _, err := v.Keys().Refresh(ctx, t0); err != nil {
		t.Fatal(err)
	}
	var asked atomic.Int64
	v.Keys().Subscribe(func() { asked.Add(1) })
	tokA := sign(t, jwt.SigningMethodES256, ecKey(), validClaims(), map[string]any{"kid": "a1"})
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for g := range 4 {
		wg.Go(func() {
			for i := range 200 {
				_, err := v.Verify(bearer(tokA), t0.Add(time.Duration(g*1000+i)*time.Millisecond))
				if r := reasonOf(err); r != "" && r != ReasonUnknownKey {
					errs <- err
					return
				}
			}
		})
	}
	for i := 1; i <= 20; i++ {
		srv.serve(http.StatusOK, [][]byte{setA, setB}[i%2])
		if _, err := v.Keys().Refresh(ctx, t0.Add(time.Duration(i)*time.Second)); err != nil {
			t.Errorf("Refresh %d: %v", i, err)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("Verify during refreshes = %v, want accepted or unknown_key", err)
	}
}

// TestECKeyOffCurveIsParsedNowhere checks parseJWKS directly with a point
// whose coordinates fit but which is not on P-256, and one at infinity.
func TestECKeyOffCurveIsParsedNowhere(t *testing.T) {
	k := NewKeySet(authSettings(t, `algorithms = ["ES256"]
jwks_url = "https://idp.example/jwks"
`))
	zero := base64.RawURLEncoding.EncodeToString(make([]byte, 32))
	x, y := elliptic.P256().Params().Gx, elliptic.P256().Params().Gy
	enc := func(b *big.Int) string { return base64.RawURLEncoding.EncodeToString(b.FillBytes(make([]byte, 32))) }
	docs := map[string]string{
		"point at infinity":    `{"keys":[{"kty":"EC","crv":"P-256","kid":"z","x":"` + zero + `","y":"` + zero + `"}]}`,
		"generator y+1":        `{"keys":[{"kty":"EC","crv":"P-256","kid":"g","x":"` + enc(x) + `","y":"` + enc(new(big.Int).Add(y, big.NewInt(1))) + `"}]}`,
		"x equal to p":         `{"keys":[{"kty":"EC","crv":"P-256","kid":"p","x":"` + enc(elliptic.P256().Params().P) + `","y":"` + enc(y) + `"}]}`,
		"control: generator":   `{"keys":[{"kty":"EC","crv":"P-256","kid":"ok","x":"` + enc(x) + `","y":"` + enc(y) + `"}]}`,
		"coordinates too long": `{"keys":[{"kty":"EC","crv":"P-256","kid":"l","x":"AA` + enc(x) + `","y":"` + enc(y) + `"}]}`,
	}
	for name, doc := range docs {
		t.Run(name, func(t *testing.T) {
			set, err := k.parseJWKS([]byte(doc))
			if err != nil {
				t.Fatalf("parseJWKS: %v", err)
			}
			want := 0
			if strings.HasPrefix(name, "control") {
				want = 1
			}
			if len(set.all) != want {
				t.Errorf("parseJWKS kept %d keys, want %d", len(set.all), want)
			}
		})
	}
}
