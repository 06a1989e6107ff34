package auth

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"github.com/valyala/fasthttp"
)

// fuzzSeeds are real tokens and near-misses of every shape the table tests
// use, so the fuzzer starts from the interesting structure.
func fuzzSeeds(tb testing.TB) []string {
	payload := `{"sub":"alice",` + expJSON + `}`
	good := hsToken(tb, nil)
	gh, gp, gs := parts(good)
	return []string{
		good,
		hsToken(tb, map[string]any{"aud": []string{"a", "b"}, "org": map[string]any{"role": "admin"}, "nbf": t0.Unix()}),
		sign(tb, jwt.SigningMethodES256, ecKey(), validClaims(), map[string]any{"kid": "k1"}),
		sign(tb, jwt.SigningMethodHS256, []byte(testSecret), jwt.MapClaims{"sub": "x"}, nil),
		hsRaw(tb, `{"alg":"HS256","alg":"HS256"}`, payload),
		hsRaw(tb, hsHeader, `{"sub":"a","sub":"b",`+expJSON+`}`),
		hsRaw(tb, `{"alg":"HS256","crit":["b64"],"b64":false}`, payload),
		hsRaw(tb, hsHeader, `{"exp":"soon"}`),
		hsRaw(tb, hsHeader, `{"exp":1e300,"nbf":-1e300,"n":[[[[{}]]]]}`),
		seg(`{"alg":"none"}`) + "." + gp + ".",
		seg(`{"alg":"ES256","kid":"../../etc/passwd","jku":"http://127.0.0.1:1/"}`) + "." + gp + "." + gs,
		gh + "=." + gp + "." + gs,
		gh + "." + gp,
		good + "." + gs + "." + gs,
		"",
		".",
		"..",
		"a.b.c",
		"\x00\xff.\x80.",
	}
}

// FuzzVerify feeds token bytes through Verify as a bearer token. Verify must
// not panic, must answer with one of its documented errors, and any token it
// accepts must also verify under golang-jwt's own parser with the same keys.
func FuzzVerify(f *testing.F) {
	v := newVerifier(f, `algorithms = ["HS256", "ES256"]
secret = "`+testSecret+`"
public_key_file = "`+writePEM(f, &ecKey().PublicKey)+`"
`)
	for _, s := range fuzzSeeds(f) {
		f.Add([]byte(s))
	}
	parser := jwt.NewParser(jwt.WithValidMethods([]string{"HS256", "ES256"}), jwt.WithoutClaimsValidation(), jwt.WithStrictDecoding())
	keyFunc := func(tok *jwt.Token) (any, error) {
		if tok.Method.Alg() == "HS256" {
			return []byte(testSecret), nil
		}
		return &ecKey().PublicKey, nil
	}
	f.Fuzz(func(t *testing.T, token []byte) {
		h := &fasthttp.RequestHeader{}
		h.SetBytesV("Authorization", append([]byte("Bearer "), token...))
		r := Request{Header: h, Key: []byte("alice/x")}
		_, err := v.Verify(r, t0)
		var fail *Failure
		switch {
		case err == nil:
		case errors.Is(err, ErrMissingToken):
			return
		case errors.As(err, &fail):
			if !slices.Contains(Reasons, fail.Reason) {
				t.Fatalf("Verify failed with reason %q, which Reasons does not list", fail.Reason)
			}
			return
		default:
			t.Fatalf("Verify = %v (%T), want nil, ErrMissingToken or a *Failure", err, err)
		}
		used := v.extract(r)
		if _, err := parser.Parse(string(used), keyFunc); err != nil {
			t.Fatalf("Verify accepted %q, golang-jwt rejects it: %v", used, err)
		}
	})
}

// maxDepth is the JSON nesting depth of data, ignoring strings.
func maxDepth(data []byte) int {
	depth, deepest, inString, escaped := 0, 0, false, false
	for _, c := range data {
		switch {
		case inString && escaped:
			escaped = false
		case inString && c == '\\':
			escaped = true
		case inString && c == '"':
			inString = false
		case inString:
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			depth++
			deepest = max(deepest, depth)
		case c == '}' || c == ']':
			depth--
		}
	}
	return deepest
}

// FuzzCheckObject: checkObject never panics, and what it accepts is one JSON
// object that encoding/json decodes (unless nested deeper than encoding/json's
// 10000 levels, which decodeClaims then refuses).
func FuzzCheckObject(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"a":1}`, `{"a":{"b":[1,{"c":null}]}}`, `{"a":1,"a":2}`, `{"a":{"b":1,"b":2}}`,
		`{"\u0061":1,"a":2}`, `[]`, `{"a":1}x`, `{"a":1}{}`, `{"a":`, `{"a":1,}`, `{1:2}`,
		`{"alg":"HS256","typ":"JWT"}`, "{\"a\":\"\xff\"}", `  {"a" : [ ] }  `, `"x"`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		err := checkObject(data)
		if err == nil {
			var m map[string]any
			if uerr := json.Unmarshal(data, &m); uerr != nil && maxDepth(data) <= 10000 {
				t.Fatalf("checkObject accepted %q, encoding/json refuses it: %v", data, uerr)
			}
			if !bytes.Contains(data, []byte("{")) {
				t.Fatalf("checkObject accepted %q, which holds no object", data)
			}
			return
		}
		var f *Failure
		if !errors.As(err, &f) || (f.Reason != ReasonMalformed && f.Reason != ReasonDuplicateMember) {
			t.Fatalf("checkObject(%q) = %v, want a malformed or duplicate_member Failure", data, err)
		}
	})
}
