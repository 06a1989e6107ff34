package auth

import (
	"crypto/ed25519"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// BenchmarkVerify measures the whole hot path (extract, parse, signature,
// claims) for a valid bearer token of each algorithm family, keys from a PEM
// file or the secret: uncached (a token seen for the first time) and cached
// (the same token again: hash, cache lookup, claims).
func BenchmarkVerify(b *testing.B) {
	cases := []struct {
		name   string
		method jwt.SigningMethod
		key    func() any
		pub    func() any
	}{
		{"HS256", jwt.SigningMethodHS256, func() any { return []byte(testSecret) }, nil},
		{"RS256", jwt.SigningMethodRS256, func() any { return rsaKey() }, func() any { return &rsaKey().PublicKey }},
		{"PS256", jwt.SigningMethodPS256, func() any { return rsaKey() }, func() any { return &rsaKey().PublicKey }},
		{"ES256", jwt.SigningMethodES256, func() any { return ecKey() }, func() any { return &ecKey().PublicKey }},
		{"ES384", jwt.SigningMethodES384, func() any { return ec384Key() }, func() any { return &ec384Key().PublicKey }},
		{"EdDSA", jwt.SigningMethodEdDSA, func() any { return edKey() }, func() any { return edKey().Public().(ed25519.PublicKey) }},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			authTOML := hsTOML
			if c.pub != nil {
				authTOML = `algorithms = ["` + c.method.Alg() + `"]
public_key_file = "` + writePEM(b, c.pub()) + `"
`
			}
			r := bearer(sign(b, c.method, c.key(), validClaims(), nil))
			for _, cached := range []bool{false, true} {
				name := "uncached"
				if cached {
					name = "cached" // a client reusing its token
				}
				b.Run(name, func(b *testing.B) {
					v := newVerifier(b, authTOML)
					if !cached {
						v.cache = nil
					}
					if _, err := v.Verify(r, t0); err != nil {
						b.Fatalf("Verify of the benchmark token: %v", err)
					}
					b.ReportAllocs()
					for b.Loop() {
						if _, err := v.Verify(r, t0); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		})
	}
}

// BenchmarkVerifyMissingToken is the cost of a request without a token (the
// 401 path), which must not allocate.
func BenchmarkVerifyMissingToken(b *testing.B) {
	v := newVerifier(b, hsTOML)
	r := request("x-id=GetObject", "alice/x", "Authorization", sigV4)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(r, t0); err != ErrMissingToken {
			b.Fatal(err)
		}
	}
}
