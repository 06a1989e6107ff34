package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const jwtSecret = "yatagarasu-integration-secret-0123456789abcdef"

// hsToken signs claims with the test secret; exp defaults to an hour ahead.
func hsToken(t *testing.T, claims jwt.MapClaims) string {
	t.Helper()
	if _, ok := claims["exp"]; !ok {
		claims["exp"] = time.Now().Add(time.Hour).Unix()
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(jwtSecret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestAuthHS256ThroughProxy(t *testing.T) {
	authTOML := fmt.Sprintf(`
[buckets.auth]
algorithms = ["HS256"]
secret = %q
issuer = "ytg-tests"
key_prefix_claim = "folder"
[[buckets.auth.token_sources]]
type = "bearer"
[[buckets.auth.token_sources]]
type = "header"
name = "X-Amz-Security-Token"
[[buckets.auth.token_sources]]
type = "query"
name = "token"
[[buckets.auth.claims]]
claim = "org.role"
operator = "in"
value = ["reader", "admin"]
`, jwtSecret)
	p := startProxy(t, bucketTOML("secure", "/secure", mediaBucket, "")+authTOML+bucketTOML("public", "/public", mediaBucket, ""), nodeOptions{})
	origin.Put(t, mediaBucket, "alice/report.txt", []byte("alice's report"), "text/plain", nil)
	origin.Put(t, mediaBucket, "bob/report.txt", []byte("bob's report"), "text/plain", nil)
	good := hsToken(t, jwt.MapClaims{"iss": "ytg-tests", "sub": "alice", "folder": "alice", "org": map[string]any{"role": "reader"}})
	url := p.url + "/secure/alice/report.txt"

	t.Run("no token is 401 with a Bearer challenge", func(t *testing.T) {
		resp, body := do(t, "GET", url)
		if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != `Bearer realm="secure"` || !strings.Contains(string(body), "<Code>AccessDenied</Code>") {
			t.Fatalf("no token: %d %q %s", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body)
		}
	})
	for _, src := range []struct {
		name   string
		target string
		header string
	}{
		{"bearer", url, "Authorization: Bearer " + good},
		{"x-amz-security-token header", url, "X-Amz-Security-Token: " + good},
		{"query parameter", url + "?token=" + good, ""},
	} {
		t.Run("token from "+src.name, func(t *testing.T) {
			var headers []string
			if src.header != "" {
				headers = append(headers, src.header)
			}
			resp, body := do(t, "GET", src.target, headers...)
			if resp.StatusCode != 200 || string(body) != "alice's report" {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
		})
	}
	rejected := []struct {
		name, token, reason string
	}{
		{"bad signature", tamperSignature(good), "signature"},
		{"expired", hsToken(t, jwt.MapClaims{"iss": "ytg-tests", "folder": "alice", "org": map[string]any{"role": "reader"}, "exp": time.Now().Add(-time.Hour).Unix()}), "expired"},
		{"wrong issuer", hsToken(t, jwt.MapClaims{"iss": "someone-else", "folder": "alice", "org": map[string]any{"role": "reader"}}), "issuer"},
		{"claim rule", hsToken(t, jwt.MapClaims{"iss": "ytg-tests", "folder": "alice", "org": map[string]any{"role": "guest"}}), "claims"},
		{"other folder", hsToken(t, jwt.MapClaims{"iss": "ytg-tests", "folder": "bob", "org": map[string]any{"role": "reader"}}), "key_prefix"},
		{"alg none", "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0." + base64.RawURLEncoding.EncodeToString([]byte(`{"iss":"ytg-tests","folder":"alice"}`)) + ".", "algorithm"},
		{"garbage", "not-a-jwt", "malformed"},
	}
	for _, rj := range rejected {
		t.Run("403 for "+rj.name, func(t *testing.T) {
			resp, body := do(t, "GET", url, "Authorization: Bearer "+rj.token)
			if resp.StatusCode != 403 || !strings.Contains(string(body), "<Code>AccessDenied</Code>") || strings.Contains(string(body), rj.reason) {
				t.Fatalf("%d %s: want 403 AccessDenied that does not tell the client why", resp.StatusCode, body)
			}
		})
	}
	t.Run("the bucket root is not revealed without a token", func(t *testing.T) {
		if resp, _ := do(t, "GET", p.url+"/secure/"); resp.StatusCode != 401 {
			t.Fatalf("GET /secure/ = %d, want 401 before anything else", resp.StatusCode)
		}
	})
	t.Run("a public bucket next door needs nothing", func(t *testing.T) {
		if resp, body := do(t, "GET", p.url+"/public/bob/report.txt"); resp.StatusCode != 200 || string(body) != "bob's report" {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
	})
	t.Run("failures are counted by reason", func(t *testing.T) {
		_, body := do(t, "GET", p.url+"/metrics")
		for _, want := range []string{
			`auth_failures_total{bucket="secure",reason="missing"} 2`,
			`auth_failures_total{bucket="secure",reason="signature"} 1`,
			`auth_failures_total{bucket="secure",reason="key_prefix"} 1`,
			`auth_failures_total{bucket="secure",reason="algorithm"} 1`,
			`http_requests_total{bucket="secure",method="GET",status="401"} 2`,
		} {
			if !strings.Contains(string(body), want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
	})
	t.Run("aws cli with the token as its session token", func(t *testing.T) {
		aws := requireClient(t, "aws")
		dir := t.TempDir()
		cfg := filepath.Join(dir, "config")
		if err := os.WriteFile(cfg, []byte("[default]\nregion = us-east-1\ns3 =\n  addressing_style = path\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, "report.txt")
		cmd := exec.Command(aws, "s3", "cp", "--endpoint-url", p.url, "s3://secure/alice/report.txt", out)
		cmd.Env = append(os.Environ(), "AWS_CONFIG_FILE="+cfg, "AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(dir, "none"),
			"AWS_ACCESS_KEY_ID=x", "AWS_SECRET_ACCESS_KEY=x", "AWS_SESSION_TOKEN="+good, "AWS_EC2_METADATA_DISABLED=true")
		if msg, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("aws s3 cp: %v\n%s", err, msg)
		}
		sameFile(t, out, []byte("alice's report"))
	})
}

func TestAuthSharedBlockAndAudience(t *testing.T) {
	shared := fmt.Sprintf(`
[auth.team-a]
algorithms = ["HS256"]
secret = %q
audience = "team-a"

[auth.team-b]
algorithms = ["HS256"]
secret = %q
audience = "team-b"
`, jwtSecret, jwtSecret)
	toml := shared +
		bucketTOML("a1", "/a1", mediaBucket, "") + "[buckets.auth]\nuse = \"team-a\"\n" +
		bucketTOML("a2", "/a2", dataBucket, "") + "[buckets.auth]\nuse = \"team-a\"\n" +
		bucketTOML("b", "/b", otherBucket, "") + "[buckets.auth]\nuse = \"team-b\"\n"
	p := startProxy(t, toml, nodeOptions{})
	for _, b := range []string{mediaBucket, dataBucket, otherBucket} {
		origin.Put(t, b, "shared.txt", []byte("shared"), "text/plain", nil)
	}
	teamA := hsToken(t, jwt.MapClaims{"aud": []string{"team-a"}})
	for _, tc := range []struct {
		path   string
		status int
	}{{"/a1/shared.txt", 200}, {"/a2/shared.txt", 200}, {"/b/shared.txt", 403}} {
		if resp, body := do(t, "GET", p.url+tc.path, "Authorization: Bearer "+teamA); resp.StatusCode != tc.status {
			t.Errorf("team-a token on %s: %d %s, want %d", tc.path, resp.StatusCode, body, tc.status)
		}
	}
}

// jwksServer serves a JSON Web Key Set that a test can swap or break.
type jwksServer struct {
	*httptest.Server
	mu   sync.Mutex
	body []byte // nil: answer 500
	hits atomic.Int64
}

func newJWKSServer(t *testing.T) *jwksServer {
	s := &jwksServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		s.mu.Lock()
		body := s.body
		s.mu.Unlock()
		if body == nil {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	t.Cleanup(s.Close)
	return s
}

// serve publishes the given keys, by kid.
func (s *jwksServer) serve(keys map[string]*ecdsa.PrivateKey) {
	var doc struct {
		Keys []map[string]string `json:"keys"`
	}
	for kid, k := range keys {
		x, y := k.X.FillBytes(make([]byte, 32)), k.Y.FillBytes(make([]byte, 32))
		doc.Keys = append(doc.Keys, map[string]string{"kty": "EC", "crv": "P-256", "kid": kid, "alg": "ES256", "use": "sig",
			"x": base64.RawURLEncoding.EncodeToString(x), "y": base64.RawURLEncoding.EncodeToString(y)})
	}
	body, _ := json.Marshal(doc)
	s.mu.Lock()
	s.body = body
	s.mu.Unlock()
}

func esToken(t *testing.T, key *ecdsa.PrivateKey, kid string) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{"sub": "jwks-user", "exp": time.Now().Add(time.Hour).Unix()})
	tok.Header["kid"] = kid
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestAuthJWKSRotation(t *testing.T) {
	keyA, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	keyB, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	js := newJWKSServer(t) // down at first
	authTOML := fmt.Sprintf(`
[buckets.auth]
algorithms = ["ES256"]
jwks_url = %q
jwks_refresh = "1h"
jwks_min_refresh = "200ms"
`, js.URL)
	p := startProxy(t, bucketTOML("idp", "/idp", mediaBucket, "")+authTOML, nodeOptions{})
	origin.Put(t, mediaBucket, "jwks.txt", []byte("signed by the idp"), "text/plain", nil)
	url := p.url + "/idp/jwks.txt"

	// Until the first good fetch: not ready, 503, and /ready says why.
	eventuallyT(t, "a failed fetch", func() bool { return js.hits.Load() >= 1 })
	if resp, body := do(t, "GET", url, "Authorization: Bearer "+esToken(t, keyA, "a")); resp.StatusCode != 503 {
		t.Fatalf("before the key set loads: %d %s, want 503", resp.StatusCode, body)
	}
	_, ready := do(t, "GET", p.url+"/ready")
	if !strings.Contains(string(ready), `"state": "not ready"`) || !strings.Contains(string(ready), "auth: key set not loaded") {
		t.Fatalf("/ready before the key set loads:\n%s", ready)
	}

	js.serve(map[string]*ecdsa.PrivateKey{"a": keyA})
	eventuallyT(t, "the key set to load (fetcher backoff)", func() bool {
		resp, _ := do(t, "GET", url, "Authorization: Bearer "+esToken(t, keyA, "a"))
		return resp.StatusCode == 200
	})

	// Rotation: the IdP now publishes only key b. A token signed with b is
	// refused once (unknown kid), which makes the fetcher refresh.
	js.serve(map[string]*ecdsa.PrivateKey{"b": keyB})
	eventuallyT(t, "the rotated key to be fetched", func() bool {
		resp, _ := do(t, "GET", url, "Authorization: Bearer "+esToken(t, keyB, "b"))
		return resp.StatusCode == 200
	})
	if resp, _ := do(t, "GET", url, "Authorization: Bearer "+esToken(t, keyA, "a")); resp.StatusCode != 403 {
		t.Fatalf("a token of the retired key: %d, want 403", resp.StatusCode)
	}
	// A failed fetch keeps the last good set.
	js.mu.Lock()
	js.body = nil
	js.mu.Unlock()
	before := js.hits.Load()
	eventuallyT(t, "a refresh attempt", func() bool {
		// Asks are rate-limited to one per jwks_min_refresh: keep asking.
		do(t, "GET", url, "Authorization: Bearer "+esToken(t, keyA, "unknown-kid"))
		return js.hits.Load() > before
	})
	if resp, _ := do(t, "GET", url, "Authorization: Bearer "+esToken(t, keyB, "b")); resp.StatusCode != 200 {
		t.Fatalf("after a failed fetch: %d, want the last good key set still in use", resp.StatusCode)
	}
}

// eventuallyT polls cond for up to 10s: it waits for actors and timers on
// their own goroutines.
func eventuallyT(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// tamperSignature changes one character in the middle of the signature, so
// the token stays well-formed but no longer verifies.
func tamperSignature(tok string) string {
	i := strings.LastIndexByte(tok, '.') + 5
	c := byte('A')
	if tok[i] == 'A' {
		c = 'B'
	}
	return tok[:i] + string(c) + tok[i+1:]
}
