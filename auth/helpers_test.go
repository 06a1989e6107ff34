package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/valyala/fasthttp"

	"yatagarasu/config"
)

// t0 is the instant tokens are verified at unless a test says otherwise.
var t0 = time.Date(2031, time.March, 1, 12, 0, 0, 0, time.UTC)

// testSecret is a 32-byte HS256 secret (config requires at least 32 bytes).
const testSecret = "0123456789abcdef0123456789abcdef"

// bucketTOML is the smallest valid config with one bucket; a test appends the
// body of its [buckets.auth] table.
const bucketTOML = `
[[buckets]]
name = "media"
path_prefix = "/media"
[buckets.s3]
bucket = "media-bucket"
endpoint = "http://127.0.0.1:9000"
force_path_style = true
[buckets.auth]
`

// authSettings runs the auth table body through config.Parse, so defaults and
// validation are the real ones, and returns the bucket's settings.
func authSettings(tb testing.TB, authTOML string) *config.AuthSettings {
	tb.Helper()
	cfg, err := configParse(authTOML)
	if err != nil {
		tb.Fatalf("config.Parse of the auth table failed: %v\n%s", err, authTOML)
	}
	return &cfg.Buckets[0].Auth.AuthSettings
}

// configParse parses the one-bucket config with the given auth table body.
func configParse(authTOML string) (*config.Config, error) {
	return config.Parse([]byte(bucketTOML+authTOML), "auth_test.toml")
}

// newVerifier builds a verifier and its key set from an auth table body.
func newVerifier(tb testing.TB, authTOML string) *Verifier {
	tb.Helper()
	s := authSettings(tb, authTOML)
	return NewVerifier(s, NewKeySet(s))
}

// hsTOML is an auth table that accepts HS256 tokens signed with testSecret.
const hsTOML = `algorithms = ["HS256"]
secret = "` + testSecret + `"
`

// Generated keys. RSA generation is slow (more so under -race), so each key is
// made once per test binary. Private keys exist only in memory.
var (
	rsaKey      = sync.OnceValue(func() *rsa.PrivateKey { return genRSA(2048) })
	rsaKey2     = sync.OnceValue(func() *rsa.PrivateKey { return genRSA(2048) })
	rsaAttacker = sync.OnceValue(func() *rsa.PrivateKey { return genRSA(2048) })
	ecKey       = sync.OnceValue(func() *ecdsa.PrivateKey { return genEC(elliptic.P256()) })
	ecKey2      = sync.OnceValue(func() *ecdsa.PrivateKey { return genEC(elliptic.P256()) })
	ecAttacker  = sync.OnceValue(func() *ecdsa.PrivateKey { return genEC(elliptic.P256()) })
	ec384Key    = sync.OnceValue(func() *ecdsa.PrivateKey { return genEC(elliptic.P384()) })
	edKey       = sync.OnceValue(func() ed25519.PrivateKey {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			panic(err)
		}
		return priv
	})
)

func genRSA(bits int) *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		panic(err)
	}
	return k
}

func genEC(c elliptic.Curve) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		panic(err)
	}
	return k
}

// publicPEM is the PKIX "PUBLIC KEY" PEM encoding of pub.
func publicPEM(tb testing.TB, pub crypto.PublicKey) []byte {
	tb.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		tb.Fatalf("MarshalPKIXPublicKey: %v", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// writePEM writes pub as a PEM file in a temporary directory and returns its path.
func writePEM(tb testing.TB, pub crypto.PublicKey) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "key.pem")
	if err := os.WriteFile(path, publicPEM(tb, pub), 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

func seg(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// signRaw signs the exact header and payload JSON texts with m, for tokens
// that golang-jwt would not build (duplicate members, odd types, crit).
func signRaw(tb testing.TB, m jwt.SigningMethod, key any, header, payload string) string {
	tb.Helper()
	signing := seg(header) + "." + seg(payload)
	sig, err := m.Sign(signing, key)
	if err != nil {
		tb.Fatalf("signing with %s: %v", m.Alg(), err)
	}
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// sign builds a token with golang-jwt; hdr adds or replaces header members.
func sign(tb testing.TB, m jwt.SigningMethod, key any, claims jwt.MapClaims, hdr map[string]any) string {
	tb.Helper()
	tok := jwt.NewWithClaims(m, claims)
	for k, v := range hdr {
		tok.Header[k] = v
	}
	s, err := tok.SignedString(key)
	if err != nil {
		tb.Fatalf("signing with %s: %v", m.Alg(), err)
	}
	return s
}

// validClaims are claims that pass the registered checks at t0.
func validClaims() jwt.MapClaims {
	return jwt.MapClaims{"sub": "alice", "exp": t0.Add(time.Hour).Unix()}
}

// hsToken is a valid HS256 token with testSecret, plus extra claims.
func hsToken(tb testing.TB, extra jwt.MapClaims) string {
	tb.Helper()
	c := validClaims()
	for k, v := range extra {
		c[k] = v
	}
	return sign(tb, jwt.SigningMethodHS256, []byte(testSecret), c, nil)
}

// request builds a Request from header name/value pairs, a raw query and a key.
func request(rawQuery, key string, headers ...string) Request {
	h := &fasthttp.RequestHeader{}
	for i := 0; i+1 < len(headers); i += 2 {
		h.Set(headers[i], headers[i+1])
	}
	return Request{Header: h, RawQuery: []byte(rawQuery), Key: []byte(key)}
}

// bearer is a request carrying token as a bearer token.
func bearer(token string) Request { return request("", "", "Authorization", "Bearer "+token) }

// reasonOf is "" for no error, else the failure's reason label.
func reasonOf(err error) string {
	if err == nil {
		return ""
	}
	return ReasonOf(err)
}

// wantReason fails the test unless err has the reason want ("" = accepted).
func wantReason(t *testing.T, err error, want string) {
	t.Helper()
	if got := reasonOf(err); got != want {
		if want == "" {
			t.Errorf("Verify rejected the token (%v), want it accepted", err)
		} else {
			t.Errorf("Verify reason = %q (err: %v), want %q", got, err, want)
		}
		return
	}
	var f *Failure
	if want != "" && want != ReasonMissing && want != ReasonKeysUnavailable {
		if !errors.As(err, &f) || !errors.Is(err, ErrRejected) {
			t.Errorf("Verify error %v (%T) is not a *Failure matching ErrRejected", err, err)
		}
	}
}

// jwkOf is the public JWK of key with kid and alg ("" leaves alg out).
func jwkOf(kid, alg string, pub crypto.PublicKey) map[string]any {
	enc := base64.RawURLEncoding.EncodeToString
	j := map[string]any{"kid": kid, "use": "sig"}
	if alg != "" {
		j["alg"] = alg
	}
	switch k := pub.(type) {
	case *rsa.PublicKey:
		j["kty"], j["n"], j["e"] = "RSA", enc(k.N.Bytes()), enc(big.NewInt(int64(k.E)).Bytes())
	case *ecdsa.PublicKey:
		size := (k.Curve.Params().BitSize + 7) / 8
		raw, err := k.Bytes() // 0x04 || X || Y
		if err != nil {
			panic(err)
		}
		j["kty"], j["crv"] = "EC", k.Curve.Params().Name
		j["x"], j["y"] = enc(raw[1:1+size]), enc(raw[1+size:])
	case ed25519.PublicKey:
		j["kty"], j["crv"], j["x"] = "OKP", "Ed25519", enc(k)
	default:
		panic("jwkOf: unsupported key type")
	}
	return j
}

// jwksDoc is a JWKS document holding keys.
func jwksDoc(keys ...map[string]any) []byte {
	if keys == nil {
		keys = []map[string]any{}
	}
	b, err := json.Marshal(map[string]any{"keys": keys})
	if err != nil {
		panic(err)
	}
	return b
}

// jwksServer is a loopback JWKS endpoint whose answer a test can change, and
// which counts the requests it gets.
type jwksServer struct {
	*httptest.Server
	hits atomic.Int64

	mu     sync.Mutex // guards the following fields
	status int
	body   []byte
}

func newJWKSServer(tb testing.TB, body []byte) *jwksServer {
	s := &jwksServer{status: http.StatusOK, body: body}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		s.mu.Lock()
		status, body := s.status, s.body
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		w.Write(body)
	}))
	tb.Cleanup(s.Close)
	return s
}

// serve makes the server answer status with body from now on.
func (s *jwksServer) serve(status int, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status, s.body = status, body
}

// countingServer counts every request and answers body; tests that must
// prove a URL is never followed assert its count stays 0.
func countingServer(tb testing.TB, body []byte) (*httptest.Server, *atomic.Int64) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Write(body)
	}))
	tb.Cleanup(srv.Close)
	return srv, &hits
}
