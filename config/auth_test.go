package config

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writePEM writes key's public half as a PEM file and returns its path.
func writePEM(t *testing.T, name string, pub any, blockType string) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	if blockType == "RSA PUBLIC KEY" {
		der = x509.MarshalPKCS1PublicKey(pub.(*rsa.PublicKey))
	}
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: blockType, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// authBucket is a bucket with an [buckets.auth] table holding body.
func authBucket(body string) string {
	return minimal + "[buckets.auth]\n" + body + "\n"
}

const secret32 = "0123456789abcdef0123456789abcdef"

func TestAuthValid(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	rsaPEM := writePEM(t, "rsa.pem", &rsaKey.PublicKey, "PUBLIC KEY")
	rsaPKCS1 := writePEM(t, "rsa1.pem", &rsaKey.PublicKey, "RSA PUBLIC KEY")
	ecPEM := writePEM(t, "ec.pem", &ecKey.PublicKey, "PUBLIC KEY")
	edPEM := writePEM(t, "ed.pem", edPub, "PUBLIC KEY")
	cases := []struct{ name, body string }{
		{"hs256", `algorithms = ["HS256"]` + "\nsecret = \"" + secret32 + "\""},
		{"rs and ps on one rsa key", fmt.Sprintf("algorithms = [\"RS256\", \"PS512\"]\npublic_key_file = %q", rsaPEM)},
		{"pkcs1 rsa key", fmt.Sprintf("algorithms = [\"RS256\"]\npublic_key_file = %q", rsaPKCS1)},
		{"es256", fmt.Sprintf("algorithms = [\"ES256\"]\npublic_key_file = %q", ecPEM)},
		{"eddsa", fmt.Sprintf("algorithms = [\"EdDSA\"]\npublic_key_file = %q", edPEM)},
		{"jwks for several families", `algorithms = ["RS256", "ES256", "EdDSA"]` + "\njwks_url = \"https://idp.example.com/jwks.json\""},
		{"jwks on loopback http", `algorithms = ["ES256"]` + "\njwks_url = \"http://127.0.0.1:9999/jwks\""},
		{"mixed hmac and jwks", `algorithms = ["HS256", "RS256"]` + "\nsecret = \"" + secret32 + "\"\njwks_url = \"https://idp.example.com/jwks\""},
		{"disabled needs no key", "enabled = false"},
		{"every source type", `algorithms = ["HS256"]` + "\nsecret = \"" + secret32 + "\"\n[[buckets.auth.token_sources]]\ntype = \"bearer\"\n[[buckets.auth.token_sources]]\ntype = \"header\"\nname = \"X-Amz-Security-Token\"\n[[buckets.auth.token_sources]]\ntype = \"header\"\nname = \"X-Token\"\nprefix = \"Token \"\n[[buckets.auth.token_sources]]\ntype = \"query\"\nname = \"token\""},
		{"every operator", `algorithms = ["HS256"]` + "\nsecret = \"" + secret32 + "\"\n" + strings.Join([]string{
			`[[buckets.auth.claims]]` + "\nclaim = \"org.role\"\noperator = \"equals\"\nvalue = \"admin\"",
			`[[buckets.auth.claims]]` + "\nclaim = \"tier\"\noperator = \"not_equals\"\nvalue = 3",
			`[[buckets.auth.claims]]` + "\nclaim = \"grp\"\noperator = \"in\"\nvalue = [\"a\", \"b\"]",
			`[[buckets.auth.claims]]` + "\nclaim = \"scope\"\noperator = \"contains\"\nvalue = \"read\"",
			`[[buckets.auth.claims]]` + "\nclaim = \"sub\"\noperator = \"prefix\"\nvalue = \"user-\"",
			`[[buckets.auth.claims]]` + "\nclaim = \"level\"\noperator = \"gte\"\nvalue = 2.5",
			`[[buckets.auth.claims]]` + "\nclaim = \"email_verified\"\noperator = \"exists\"",
		}, "\n")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte(authBucket(tc.body)), "auth.toml")
			if err != nil {
				t.Fatalf("Parse = %v", err)
			}
			a := c.Buckets[0].Auth
			if a.Enabled != nil && !*a.Enabled {
				return
			}
			if !a.IsEnabled() || a.MaxTokenSize != DefaultMaxTokenSize || a.Leeway.Duration != DefaultLeeway || !*a.RequireExp || len(a.TokenSources) == 0 {
				t.Errorf("defaults not applied: %+v", a.AuthSettings)
			}
			if a.PublicKeyFile != "" && a.PublicKey == nil {
				t.Error("public_key_file was not read")
			}
		})
	}
}

func TestAuthInvalid(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	smallRSA, _ := rsa.GenerateKey(rand.Reader, 1024)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p521, _ := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	rsaPEM := writePEM(t, "rsa.pem", &rsaKey.PublicKey, "PUBLIC KEY")
	ecPEM := writePEM(t, "ec.pem", &ecKey.PublicKey, "PUBLIC KEY")
	small := writePEM(t, "small.pem", &smallRSA.PublicKey, "PUBLIC KEY")
	p521PEM := writePEM(t, "p521.pem", &p521.PublicKey, "PUBLIC KEY")
	privPath := filepath.Join(t.TempDir(), "priv.pem")
	der, _ := x509.MarshalPKCS8PrivateKey(rsaKey)
	_ = os.WriteFile(privPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
	notPEM := filepath.Join(t.TempDir(), "not.pem")
	_ = os.WriteFile(notPEM, []byte("hello"), 0o600)
	hs := `algorithms = ["HS256"]` + "\nsecret = \"" + secret32 + "\"\n"
	cases := []struct {
		name, body, key, reason string
	}{
		{"no algorithms", "secret = \"" + secret32 + "\"", "buckets[0].auth.algorithms", "is required"},
		{"unknown algorithm", `algorithms = ["HS256", "ES512"]` + "\nsecret = \"" + secret32 + "\"", "buckets[0].auth.algorithms", `"ES512" is not supported`},
		{"alg none", `algorithms = ["none"]`, "buckets[0].auth.algorithms", `"none" is never accepted`},
		{"no key at all", `algorithms = ["RS256"]`, "buckets[0].auth", "no key is configured"},
		{"enabled without anything", "enabled = true", "buckets[0].auth", "no key is configured"},
		{"hs without secret", `algorithms = ["HS256"]` + fmt.Sprintf("\npublic_key_file = %q", rsaPEM), "buckets[0].auth.algorithms", "HS* algorithms need secret"},
		{"secret without hs", `algorithms = ["RS256"]` + "\nsecret = \"" + secret32 + "\"" + fmt.Sprintf("\npublic_key_file = %q", rsaPEM), "buckets[0].auth.secret", "no HS* algorithm is allowed"},
		{"short secret", `algorithms = ["HS256"]` + "\nsecret = \"short\"", "buckets[0].auth.secret", "need at least 32"},
		{"secret too short for hs512", `algorithms = ["HS256", "HS512"]` + "\nsecret = \"" + secret32 + "\"", "buckets[0].auth.secret", "need at least 64"},
		{"rs256 with an ec key", fmt.Sprintf("algorithms = [\"RS256\"]\npublic_key_file = %q", ecPEM), "buckets[0].auth.public_key_file", "holds a p256 key but no algorithm of that type"},
		{"es256 next to an rsa key", fmt.Sprintf("algorithms = [\"RS256\", \"ES256\"]\npublic_key_file = %q", rsaPEM), "buckets[0].auth.algorithms", "ES256 does not match the rsa key"},
		{"asymmetric without key", hs + `algorithms = ["HS256", "ES256"]`, "", ""},
		{"rsa too small", fmt.Sprintf("algorithms = [\"RS256\"]\npublic_key_file = %q", small), "buckets[0].auth.public_key_file", "at least 2048"},
		{"unsupported curve", fmt.Sprintf("algorithms = [\"ES256\"]\npublic_key_file = %q", p521PEM), "buckets[0].auth.public_key_file", "P-521 is not supported"},
		{"private key given", fmt.Sprintf("algorithms = [\"RS256\"]\npublic_key_file = %q", privPath), "buckets[0].auth.public_key_file", "never give a private key"},
		{"not pem", fmt.Sprintf("algorithms = [\"RS256\"]\npublic_key_file = %q", notPEM), "buckets[0].auth.public_key_file", "holds no PEM block"},
		{"missing pem file", `algorithms = ["RS256"]` + "\npublic_key_file = \"/nonexistent/key.pem\"", "buckets[0].auth.public_key_file", "no such file"},
		{"jwks over http", `algorithms = ["RS256"]` + "\njwks_url = \"http://idp.example.com/jwks\"", "buckets[0].auth.jwks_url", "must be https"},
		{"jwks not a url", `algorithms = ["RS256"]` + "\njwks_url = \"jwks.json\"", "buckets[0].auth.jwks_url", "not an absolute URL"},
		{"jwks with only hmac", hs + "jwks_url = \"https://idp.example.com/jwks\"", "buckets[0].auth.jwks_url", "symmetric keys are never taken from a JWKS"},
		{"jwks refresh zero", `algorithms = ["RS256"]` + "\njwks_url = \"https://idp/j\"\njwks_refresh = \"0s\"", "buckets[0].auth.jwks_refresh", "must be positive"},
		{"min refresh over refresh", `algorithms = ["RS256"]` + "\njwks_url = \"https://idp/j\"\njwks_refresh = \"10s\"\njwks_min_refresh = \"1m\"", "buckets[0].auth.jwks_min_refresh", "at most jwks_refresh"},
		{"token size zero", hs + "max_token_size = -1", "buckets[0].auth.max_token_size", "from 1 to"},
		{"token size huge", hs + "max_token_size = 2000000", "buckets[0].auth.max_token_size", "from 1 to"},
		{"bearer with name", hs + "[[buckets.auth.token_sources]]\ntype = \"bearer\"\nname = \"x\"", "buckets[0].auth.token_sources[0]", "takes no name"},
		{"header without name", hs + "[[buckets.auth.token_sources]]\ntype = \"header\"", "buckets[0].auth.token_sources[0].name", "needs a header name"},
		{"header bad name", hs + "[[buckets.auth.token_sources]]\ntype = \"header\"\nname = \"X Token\"", "buckets[0].auth.token_sources[0].name", "needs a header name"},
		{"query without name", hs + "[[buckets.auth.token_sources]]\ntype = \"query\"", "buckets[0].auth.token_sources[0].name", "needs a parameter name"},
		{"query with prefix", hs + "[[buckets.auth.token_sources]]\ntype = \"query\"\nname = \"t\"\nprefix = \"x\"", "buckets[0].auth.token_sources[0].prefix", "only header sources"},
		{"unknown source", hs + "[[buckets.auth.token_sources]]\ntype = \"cookie\"", "buckets[0].auth.token_sources[0].type", "must be bearer, header or query"},
		{"claim path empty", hs + "[[buckets.auth.claims]]\nclaim = \"a..b\"\noperator = \"exists\"", "buckets[0].auth.claims[0].claim", "dotted path"},
		{"unknown operator", hs + "[[buckets.auth.claims]]\nclaim = \"a\"\noperator = \"matches\"\nvalue = \"x\"", "buckets[0].auth.claims[0].operator", "must be one of"},
		{"exists with value", hs + "[[buckets.auth.claims]]\nclaim = \"a\"\noperator = \"exists\"\nvalue = 1", "buckets[0].auth.claims[0].value", "takes no value"},
		{"in without array", hs + "[[buckets.auth.claims]]\nclaim = \"a\"\noperator = \"in\"\nvalue = \"x\"", "buckets[0].auth.claims[0].value", "needs an array"},
		{"gt with string", hs + "[[buckets.auth.claims]]\nclaim = \"a\"\noperator = \"gt\"\nvalue = \"3\"", "buckets[0].auth.claims[0].value", "needs a number"},
		{"prefix with number", hs + "[[buckets.auth.claims]]\nclaim = \"a\"\noperator = \"prefix\"\nvalue = 3", "buckets[0].auth.claims[0].value", "needs a string"},
		{"equals without value", hs + "[[buckets.auth.claims]]\nclaim = \"a\"\noperator = \"equals\"", "buckets[0].auth.claims[0].value", "needs a string, number or boolean"},
		{"key prefix claim path", hs + "key_prefix_claim = \".x\"", "buckets[0].auth.key_prefix_claim", "dotted path"},
		{"unknown auth key", hs + "algorithm = \"HS256\"", "buckets[0].auth.algorithm", "unknown key"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "asymmetric without key" {
				tc.body = `algorithms = ["HS256", "ES256"]` + "\nsecret = \"" + secret32 + "\""
				tc.key, tc.reason = "buckets[0].auth.algorithms", "ES256 needs public_key_file or jwks_url"
			}
			_, err := Parse([]byte(authBucket(tc.body)), "auth.toml")
			if err == nil {
				t.Fatalf("Parse accepted it; want %s: %s", tc.key, tc.reason)
			}
			if !strings.Contains(err.Error(), tc.key+": ") || !strings.Contains(err.Error(), tc.reason) {
				t.Fatalf("error = %v\nwant %s: …%s…", err, tc.key, tc.reason)
			}
		})
	}
}

func TestAuthSharedBlocks(t *testing.T) {
	t.Setenv("YTG_JWT_SECRET", secret32)
	src := `
[auth.corp]
algorithms = ["HS256"]
secret = "${YTG_JWT_SECRET}"
audience = "corp"

[[buckets]]
name = "a"
path_prefix = "/a"
[buckets.s3]
bucket = "a"
[buckets.auth]
use = "corp"

[[buckets]]
name = "b"
path_prefix = "/b"
[buckets.s3]
bucket = "b"
[buckets.auth]
use = "corp"
enabled = false
`
	c, err := Parse([]byte(src), "shared.toml")
	if err != nil {
		t.Fatal(err)
	}
	a, b := c.Buckets[0].Auth, c.Buckets[1].Auth
	if !a.IsEnabled() || a.Secret != secret32 || a.Audience != "corp" || a.Use != "corp" {
		t.Errorf("bucket a's auth = %+v, want the corp block with the secret from the environment", a.AuthSettings)
	}
	if b.IsEnabled() {
		t.Error("bucket b: enabled = false ignored")
	}

	cases := []struct{ name, src, want string }{
		{"unknown block", strings.Replace(src, `use = "corp"`+"\n\n", `use = "nope"`+"\n\n", 1), `buckets[0].auth.use: no [auth.nope] block`},
		{"use with settings", strings.Replace(src, `use = "corp"`+"\n\n", `use = "corp"`+"\nissuer = \"x\"\n\n", 1), "with use = \"corp\" the table may hold only enabled"},
		{"invalid shared block", strings.Replace(src, `audience = "corp"`, `audience = "corp"`+"\nmax_token_size = 0\nleeway = 5", 1), "auth.corp.leeway"},
		{"unknown key in a shared block", strings.Replace(src, `audience = "corp"`, `audience = "corp"`+"\nscopes = 1", 1), "auth.corp.scopes: unknown key; this table accepts: algorithms, audience"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.src), "shared.toml")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Parse = %v, want an error with %q", err, tc.want)
			}
		})
	}
}
