package auth

import (
	"fmt"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TestVerifiedCacheKeepsOnlyVerifiedTokens: a token is remembered once its
// signature verified, never when it did not.
func TestVerifiedCacheKeepsOnlyVerifiedTokens(t *testing.T) {
	v := newVerifier(t, hsTOML)
	tok := hsToken(t, nil)
	for i := range 3 {
		if _, err := v.Verify(bearer(tok), t0); err != nil {
			t.Fatalf("Verify #%d = %v, want accepted", i+1, err)
		}
	}
	if n := v.cache.len(); n != 1 {
		t.Fatalf("cache holds %d tokens after verifying one token three times, want 1", n)
	}
	bad := []struct{ token, reason string }{
		{tamperLastChar(tok), ReasonSignature},
		{sign(t, jwt.SigningMethodHS256, []byte("another secret of at least 32 bytes!!"), validClaims(), nil), ReasonSignature},
		{"a.b", ReasonMalformed},
		{sign(t, jwt.SigningMethodHS384, []byte(testSecret), validClaims(), nil), ReasonAlgorithm},
	}
	for _, b := range bad {
		for range 2 { // the second time must not be answered from the cache either
			_, err := v.Verify(bearer(b.token), t0)
			wantReason(t, err, b.reason)
		}
	}
	if n := v.cache.len(); n != 1 {
		t.Errorf("cache holds %d tokens after rejected ones, want 1", n)
	}
}

// tamperLastChar changes the signature's last character.
func tamperLastChar(tok string) string {
	c := tok[len(tok)-2] // not the very last: its low bits may be unused padding
	r := byte('A')
	if c == 'A' {
		r = 'B'
	}
	return tok[:len(tok)-2] + string(r) + tok[len(tok)-1:]
}

// TestVerifiedCacheRechecksClaims: a cached token's claims are checked again
// on every request, against that request's time and key.
func TestVerifiedCacheRechecksClaims(t *testing.T) {
	v := newVerifier(t, hsTOML+`key_prefix_claim = "folder"
`)
	tok := hsToken(t, jwt.MapClaims{
		"folder": "alice/",
		"nbf":    t0.Add(-time.Minute).Unix(),
		"exp":    t0.Add(time.Hour).Unix(),
	})
	at := func(now time.Time, key string) error {
		_, err := v.Verify(Request{Header: bearer(tok).Header, Key: []byte(key)}, now)
		return err
	}
	steps := []struct {
		now  time.Time
		key  string
		want string
	}{
		{t0, "alice/a.txt", ""},                               // verified, cached
		{t0, "bob/a.txt", ReasonKeyPrefix},                    // same token, other key
		{t0.Add(2 * time.Hour), "alice/a.txt", ReasonExpired}, // same token, later
		{t0.Add(-time.Hour), "alice/a.txt", ReasonNotYetValid},
		{t0.Add(30 * time.Minute), "alice/b.txt", ""},
	}
	for i, s := range steps {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			wantReason(t, at(s.now, s.key), s.want)
		})
	}
	if n := v.cache.len(); n != 1 {
		t.Errorf("cache holds %d tokens, want 1", n)
	}
}

// TestVerifiedCacheFlushedByKeyChange: when the JWKS changes, tokens verified
// under the old keys are verified again, so a removed key stops working at
// once for tokens already seen.
func TestVerifiedCacheFlushedByKeyChange(t *testing.T) {
	k1, k2 := rsaKey(), rsaKey2()
	srv := newJWKSServer(t, jwksDoc(jwkOf("k1", "RS256", &k1.PublicKey)))
	v := newVerifier(t, jwksTOML(srv.URL))
	if _, err := v.Keys().Refresh(ctx, t0); err != nil {
		t.Fatal(err)
	}
	tok := rsTok(t, k1, "k1")
	for range 2 {
		if _, err := v.Verify(bearer(tok), t0); err != nil {
			t.Fatalf("Verify under k1 = %v, want accepted", err)
		}
	}
	// k1 is removed: the cached token must fail now, not at eviction.
	srv.serve(200, jwksDoc(jwkOf("k2", "RS256", &k2.PublicKey)))
	if changed, err := v.Keys().Refresh(ctx, t0.Add(time.Hour)); !changed || err != nil {
		t.Fatalf("Refresh to k2 = %v, %v; want true, nil", changed, err)
	}
	_, err := v.Verify(bearer(tok), t0)
	wantReason(t, err, ReasonUnknownKey)
	// Both keys: the token verifies (and is cached) again.
	srv.serve(200, jwksDoc(jwkOf("k1", "RS256", &k1.PublicKey), jwkOf("k2", "RS256", &k2.PublicKey)))
	if changed, err := v.Keys().Refresh(ctx, t0.Add(2*time.Hour)); !changed || err != nil {
		t.Fatalf("Refresh to k1+k2 = %v, %v; want true, nil", changed, err)
	}
	if _, err := v.Verify(bearer(tok), t0); err != nil {
		t.Errorf("Verify under k1+k2 = %v, want accepted", err)
	}
}

// TestVerifiedCacheIsBounded: the cache forgets the least recently used token
// beyond its size, and a forgotten token still verifies (afresh).
func TestVerifiedCacheIsBounded(t *testing.T) {
	v := newVerifier(t, hsTOML)
	v.cache = newVerifiedCache(4)
	var toks []string
	for i := range 6 {
		tok := hsToken(t, jwt.MapClaims{"jti": fmt.Sprint(i)})
		toks = append(toks, tok)
		if _, err := v.Verify(bearer(tok), t0); err != nil {
			t.Fatal(err)
		}
	}
	if n := v.cache.len(); n != 4 {
		t.Errorf("cache of size 4 holds %d tokens after 6, want 4", n)
	}
	if _, err := v.Verify(bearer(toks[0]), t0); err != nil {
		t.Errorf("Verify of an evicted token = %v, want accepted", err)
	}
}
