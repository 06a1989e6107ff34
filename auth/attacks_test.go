package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// jwksVerifier serves keys on a loopback JWKS endpoint, builds a verifier for
// the auth table body extra plus jwks_url, and loads the set at t0.
func jwksVerifier(tb testing.TB, extra string, keys ...map[string]any) (*Verifier, *jwksServer) {
	tb.Helper()
	srv := newJWKSServer(tb, jwksDoc(keys...))
	v := newVerifier(tb, extra+`jwks_url = "`+srv.URL+`"`+"\n")
	if _, err := v.Keys().Refresh(context.Background(), t0); err != nil {
		tb.Fatalf("first Refresh: %v", err)
	}
	return v, srv
}

// selfSignedCert is a DER certificate for the attacker's EC key.
func selfSignedCert(tb testing.TB, key *ecdsa.PrivateKey) []byte {
	tb.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "idp.example"},
		NotBefore:    t0.Add(-time.Hour),
		NotAfter:     t0.Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatalf("CreateCertificate: %v", err)
	}
	return der
}

// TestAlgorithmConfusion: a verifier that allows HS256 and an asymmetric
// algorithm must check HS256 tokens with its secret only, never with the
// public key's bytes (which are public, so anyone could compute the MAC).
func TestAlgorithmConfusion(t *testing.T) {
	rsaPub := &rsaKey().PublicKey
	ecPub := &ecKey().PublicKey
	rsaPEM := publicPEM(t, rsaPub)
	rsaDER, _ := x509.MarshalPKIXPublicKey(rsaPub)
	rsaPKCS1 := x509.MarshalPKCS1PublicKey(rsaPub)
	ecPEM := publicPEM(t, ecPub)
	ecDER, _ := x509.MarshalPKIXPublicKey(ecPub)
	ecPoint, _ := ecPub.Bytes()
	rsaJWK := jwkOf("k1", "", rsaPub)
	nBytes, _ := base64.RawURLEncoding.DecodeString(rsaJWK["n"].(string))

	hsRSA := newVerifier(t, `algorithms = ["HS256", "RS256"]
secret = "`+testSecret+`"
public_key_file = "`+writePEM(t, rsaPub)+`"
`)
	hsEC := newVerifier(t, `algorithms = ["HS256", "ES256"]
secret = "`+testSecret+`"
public_key_file = "`+writePEM(t, ecPub)+`"
`)
	rsaOnly := newVerifier(t, `algorithms = ["RS256"]
public_key_file = "`+writePEM(t, rsaPub)+`"
`)
	hsJWKS, jwksSrv := jwksVerifier(t, `algorithms = ["HS256", "RS256"]
secret = "`+testSecret+`"
`, rsaJWK)
	jwksBody := jwksDoc(rsaJWK)

	hs := func(key []byte, hdr map[string]any) string {
		return sign(t, jwt.SigningMethodHS256, key, validClaims(), hdr)
	}
	tests := []struct {
		name  string
		v     *Verifier
		token string
		want  string
	}{
		{"control: secret", hsRSA, hs([]byte(testSecret), nil), ""},
		{"control: RSA key", hsRSA, sign(t, jwt.SigningMethodRS256, rsaKey(), validClaims(), nil), ""},
		{"HS256 keyed with the RSA PEM", hsRSA, hs(rsaPEM, nil), ReasonSignature},
		{"HS256 keyed with the RSA PEM, no trailing newline", hsRSA, hs(rsaPEM[:len(rsaPEM)-1], nil), ReasonSignature},
		{"HS256 keyed with the RSA PKIX DER", hsRSA, hs(rsaDER, nil), ReasonSignature},
		{"HS256 keyed with the RSA PKCS#1 DER", hsRSA, hs(rsaPKCS1, nil), ReasonSignature},
		{"HS256 keyed with the RSA modulus", hsRSA, hs(nBytes, nil), ReasonSignature},
		{"HS256 keyed with the EC PEM", hsEC, hs(ecPEM, nil), ReasonSignature},
		{"HS256 keyed with the EC PKIX DER", hsEC, hs(ecDER, nil), ReasonSignature},
		{"HS256 keyed with the EC point", hsEC, hs(ecPoint, nil), ReasonSignature},
		{"HS256 keyed with the RSA PEM, HS256 not allowed", rsaOnly, hs(rsaPEM, nil), ReasonAlgorithm},
		{"HS256 keyed with the JWKS document", hsJWKS, hs(jwksBody, map[string]any{"kid": "k1"}), ReasonSignature},
		{"HS256 keyed with the JWK modulus, JWK's kid", hsJWKS, hs(nBytes, map[string]any{"kid": "k1"}), ReasonSignature},
		{"HS256 keyed with the JWK's n text", hsJWKS, hs([]byte(rsaJWK["n"].(string)), map[string]any{"kid": "k1"}), ReasonSignature},
		{"HS256 keyed with an empty key", hsRSA, signRaw(t, jwt.SigningMethodHS256, []byte{}, hsHeader, `{"sub":"alice",`+expJSON+`}`), ReasonSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.v.Verify(bearer(tt.token), t0)
			wantReason(t, err, tt.want)
		})
	}
	if n := jwksSrv.hits.Load(); n != 1 {
		t.Errorf("JWKS server got %d requests, want 1 (the test's Refresh only)", n)
	}
}

// TestAlgorithmSwap: a token signed by a JWKS key whose alg header is changed
// to another allowed algorithm, of another family or the same one, must not
// verify (and must not panic on a key of the wrong type).
func TestAlgorithmSwap(t *testing.T) {
	v, _ := jwksVerifier(t, `algorithms = ["RS256", "RS384", "PS256", "ES256", "EdDSA"]
`,
		jwkOf("rsa", "", &rsaKey().PublicKey),
		jwkOf("rsa-pinned", "RS256", &rsaKey2().PublicKey),
		jwkOf("ec", "", &ecKey().PublicKey),
		jwkOf("ed", "", edKey().Public()),
	)
	// swap re-labels a signed token's header alg, keeping kid and signature.
	swap := func(tok, alg string) string {
		_, p, s := parts(tok)
		var hdr string
		switch kid := kidOf(t, tok); kid {
		case "":
			hdr = `{"alg":"` + alg + `"}`
		default:
			hdr = `{"alg":"` + alg + `","kid":"` + kid + `"}`
		}
		return seg(hdr) + "." + p + "." + s
	}
	rs := sign(t, jwt.SigningMethodRS256, rsaKey(), validClaims(), map[string]any{"kid": "rsa"})
	es := sign(t, jwt.SigningMethodES256, ecKey(), validClaims(), map[string]any{"kid": "ec"})
	ed := sign(t, jwt.SigningMethodEdDSA, edKey(), validClaims(), map[string]any{"kid": "ed"})
	tests := []struct {
		name  string
		token string
		want  string
	}{
		{"control: RS256", rs, ""},
		{"control: ES256", es, ""},
		{"control: EdDSA", ed, ""},
		{"RS256 relabelled ES256", swap(rs, "ES256"), ReasonSignature},
		{"RS256 relabelled EdDSA", swap(rs, "EdDSA"), ReasonSignature},
		{"RS256 relabelled PS256", swap(rs, "PS256"), ReasonSignature},
		{"ES256 relabelled RS256", swap(es, "RS256"), ReasonSignature},
		{"ES256 relabelled EdDSA", swap(es, "EdDSA"), ReasonSignature},
		{"EdDSA relabelled ES256", swap(ed, "ES256"), ReasonSignature},
		{"EdDSA relabelled RS256", swap(ed, "RS256"), ReasonSignature},
		// A JWK that names its alg is used for that alg only, even when the
		// signature would verify under another allowed one.
		{"key pinned to RS256 signing RS384", sign(t, jwt.SigningMethodRS384, rsaKey2(), validClaims(), map[string]any{"kid": "rsa-pinned"}), ReasonSignature},
		{"control: key pinned to RS256", sign(t, jwt.SigningMethodRS256, rsaKey2(), validClaims(), map[string]any{"kid": "rsa-pinned"}), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := v.Verify(bearer(tt.token), t0)
			wantReason(t, err, tt.want)
		})
	}
}

// kidOf reads the kid of a token built by sign.
func kidOf(tb testing.TB, tok string) string {
	tb.Helper()
	j, err := parseCompact([]byte(tok))
	if err != nil {
		tb.Fatalf("parseCompact of a test token: %v", err)
	}
	return j.header.Kid
}

// TestHeaderKeyReferencesIgnored: kid only selects among configured keys; jku,
// x5u, x5c and jwk are never followed or used. Tokens are signed with the
// attacker's key and name the attacker's key in every way a header can; the
// attacker's servers must see no request.
func TestHeaderKeyReferencesIgnored(t *testing.T) {
	attacker := ecAttacker()
	attackerJWK := jwkOf("attacker", "ES256", &attacker.PublicKey)
	attackerJWKS := jwksDoc(attackerJWK)
	kidSrv, kidHits := countingServer(t, attackerJWKS)
	jkuSrv, jkuHits := countingServer(t, attackerJWKS)
	x5uSrv, x5uHits := countingServer(t, publicPEM(t, &attacker.PublicKey))
	pemPath := filepath.Join(t.TempDir(), "attacker.pem")
	if err := os.WriteFile(pemPath, publicPEM(t, &attacker.PublicKey), 0o600); err != nil {
		t.Fatal(err)
	}
	cert := base64.StdEncoding.EncodeToString(selfSignedCert(t, attacker))

	// Three verifiers: a loaded JWKS (legitimate kid "k1"), a PEM key, and an
	// HMAC secret (kid tricks aimed at key files: "/dev/null" is an empty key).
	withJWKS, jwksSrv := jwksVerifier(t, `algorithms = ["ES256"]
`, jwkOf("k1", "ES256", &ecKey().PublicKey))
	withPEM := newVerifier(t, `algorithms = ["ES256"]
public_key_file = "`+writePEM(t, &ecKey().PublicKey)+`"
`)
	withSecret := newVerifier(t, hsTOML)

	es := func(hdr map[string]any) string {
		return sign(t, jwt.SigningMethodES256, attacker, validClaims(), hdr)
	}
	kids := map[string]string{
		"path traversal":   "../../../../etc/passwd",
		"absolute path":    "/etc/passwd",
		"attacker PEM":     pemPath,
		"URL":              kidSrv.URL + "/key",
		"https URL":        "https://evil.example/key",
		"SQL injection":    "x' UNION SELECT 'attacker-key' --",
		"null byte":        "k1\x00",
		"legitimate kid":   "k1",
		"command":          "$(curl " + kidSrv.URL + ")",
		"attacker's own":   "attacker",
		"file URL":         "file://" + pemPath,
		"jwks URL as kid":  jkuSrv.URL,
		"empty-string kid": "",
	}
	type tc struct {
		name  string
		v     *Verifier
		token string
		want  string
	}
	var tests []tc
	for name, kid := range kids {
		// Against the JWKS, a kid it does not hold is unknown_key; the
		// legitimate kid and no kid reach the signature check.
		want := ReasonUnknownKey
		if kid == "k1" || kid == "" {
			want = ReasonSignature
		}
		hdr := map[string]any{"kid": kid}
		if kid == "" {
			hdr = nil
		}
		tests = append(tests,
			tc{"jwks, kid " + name, withJWKS, es(hdr), want},
			tc{"pem, kid " + name, withPEM, es(hdr), ReasonSignature},
		)
	}
	tests = append(tests,
		tc{"secret, kid /dev/null, empty HMAC key", withSecret,
			sign(t, jwt.SigningMethodHS256, []byte{}, validClaims(), map[string]any{"kid": "/dev/null"}), ReasonSignature},
		tc{"secret, kid of a PEM file, keyed with the file", withSecret,
			sign(t, jwt.SigningMethodHS256, publicPEM(t, &attacker.PublicKey), validClaims(), map[string]any{"kid": pemPath}), ReasonSignature},
		tc{"secret, kid SQL injection keyed with the injected value", withSecret,
			sign(t, jwt.SigningMethodHS256, []byte("attacker-key"), validClaims(), map[string]any{"kid": "x' UNION SELECT 'attacker-key' --"}), ReasonSignature},
	)
	for _, v := range []struct {
		name string
		v    *Verifier
		kid  string
		want string
	}{{"jwks", withJWKS, "attacker", ReasonUnknownKey}, {"jwks", withJWKS, "k1", ReasonSignature}, {"pem", withPEM, "attacker", ReasonSignature}} {
		tests = append(tests,
			tc{v.name + ", jku to attacker JWKS, kid " + v.kid, v.v, es(map[string]any{"kid": v.kid, "jku": jkuSrv.URL}), v.want},
			tc{v.name + ", x5u to attacker PEM, kid " + v.kid, v.v, es(map[string]any{"kid": v.kid, "x5u": x5uSrv.URL}), v.want},
			tc{v.name + ", embedded jwk, kid " + v.kid, v.v, es(map[string]any{"kid": v.kid, "jwk": attackerJWK}), v.want},
			tc{v.name + ", embedded x5c, kid " + v.kid, v.v, es(map[string]any{"kid": v.kid, "x5c": []string{cert}}), v.want},
			tc{v.name + ", jku, x5u, jwk and x5c together, kid " + v.kid, v.v,
				es(map[string]any{"kid": v.kid, "jku": jkuSrv.URL, "x5u": x5uSrv.URL, "jwk": attackerJWK, "x5c": []string{cert}}), v.want},
		)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.v.Verify(bearer(tt.token), t0)
			wantReason(t, err, tt.want)
		})
	}
	// A legitimate token with the same headers is still accepted: the headers
	// are ignored, not a reason to refuse.
	legit := sign(t, jwt.SigningMethodES256, ecKey(), validClaims(), map[string]any{"kid": "k1", "jku": jkuSrv.URL, "x5u": x5uSrv.URL})
	if _, err := withJWKS.Verify(bearer(legit), t0); err != nil {
		t.Errorf("a legitimate token with ignored jku/x5u headers was rejected: %v", err)
	}
	for name, hits := range map[string]int64{"kid URL": kidHits.Load(), "jku": jkuHits.Load(), "x5u": x5uHits.Load()} {
		if hits != 0 {
			t.Errorf("the %s server got %d requests, want 0: a header URL was followed", name, hits)
		}
	}
	if n := jwksSrv.hits.Load(); n != 1 {
		t.Errorf("the configured JWKS server got %d requests, want 1 (the test's Refresh; Verify never fetches)", n)
	}
}

// TestAttackerCurveKey: ES tokens signed with a key that is not configured,
// or on another curve, never verify.
func TestAttackerCurveKey(t *testing.T) {
	v := newVerifier(t, `algorithms = ["ES256"]
public_key_file = "`+writePEM(t, &ecKey().PublicKey)+`"
`)
	p384 := genEC(elliptic.P384())
	es384 := sign(t, jwt.SigningMethodES384, p384, validClaims(), nil)
	_, p, s := parts(es384)
	tests := []struct {
		name  string
		token string
		want  string
	}{
		{"control", sign(t, jwt.SigningMethodES256, ecKey(), validClaims(), nil), ""},
		{"ES384 not allowed", es384, ReasonAlgorithm},
		{"P-384 signature labelled ES256", seg(`{"alg":"ES256"}`) + "." + p + "." + s, ReasonSignature},
		{"ES256 with another P-256 key", sign(t, jwt.SigningMethodES256, ecKey2(), validClaims(), nil), ReasonSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := v.Verify(bearer(tt.token), t0)
			wantReason(t, err, tt.want)
		})
	}
}

// TestHeaderMemberCaseVariants: JOSE member names are case-sensitive (RFC
// 7515 §4), so in {"alg":"none","Alg":"HS256"} the alg is "none" for every
// other implementation, and "ALG" or "KID" are unknown members to ignore. Go's
// struct decoding matches names case-insensitively (with Unicode folding) and
// keeps the last match: the same disagreement about what was signed that
// duplicate members are refused for. Each case wants the outcome of reading
// the exact names "alg" and "kid".
func TestHeaderMemberCaseVariants(t *testing.T) {
	hsRSA := newVerifier(t, `algorithms = ["HS256", "RS256"]
secret = "`+testSecret+`"
public_key_file = "`+writePEM(t, &rsaKey().PublicKey)+`"
`)
	es, _ := jwksVerifier(t, `algorithms = ["ES256"]
`, jwkOf("k1", "ES256", &ecKey().PublicKey))
	payload := `{"sub":"alice",` + expJSON + `}`
	hmac := func(header string) string { return hsRaw(t, header, payload) }
	ec := func(header string) string { return signRaw(t, jwt.SigningMethodES256, ecKey(), header, payload) }
	tests := []struct {
		name  string
		v     *Verifier
		token string
		want  string
	}{
		{"control: exact names", es, ec(`{"alg":"ES256","kid":"k1"}`), ""},
		// alg is RS256: an HMAC is not an RS256 signature.
		{"alg RS256 then ALG HS256", hsRSA, hmac(`{"alg":"RS256","ALG":"HS256"}`), ReasonSignature},
		{"alg none then Alg HS256", hsRSA, hmac(`{"alg":"none","Alg":"HS256"}`), ReasonAlgorithm},
		{"ALG only: no alg member", hsRSA, hmac(`{"ALG":"HS256"}`), ReasonAlgorithm},
		{"aLg only: no alg member", hsRSA, hmac(`{"aLg":"HS256","typ":"JWT"}`), ReasonAlgorithm},
		// kid is "evil", which the set does not hold; KID is ignored.
		{"kid evil then KID k1", es, ec(`{"alg":"ES256","kid":"evil","KID":"k1"}`), ReasonUnknownKey},
		{"kid evil then Kelvin-sign kid k1", es, ec(`{"alg":"ES256","kid":"evil","\u212aid":"k1"}`), ReasonUnknownKey},
		// kid is k1; KID is ignored.
		{"kid k1 then KID evil", es, ec(`{"alg":"ES256","kid":"k1","KID":"evil"}`), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.v.Verify(bearer(tt.token), t0)
			wantReason(t, err, tt.want)
		})
	}
}
