package auth

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"yatagarasu/config"
)

const hsHeader = `{"alg":"HS256","typ":"JWT"}`

// hsRaw signs header and payload texts with testSecret.
func hsRaw(tb testing.TB, header, payload string) string {
	tb.Helper()
	return signRaw(tb, jwt.SigningMethodHS256, []byte(testSecret), header, payload)
}

// expJSON is a payload member list with a valid exp at t0.
var expJSON = fmt.Sprintf(`"exp":%d`, t0.Add(time.Hour).Unix())

// nonCanonical sets the unused low bits of a base64url segment's last
// character: the decoded bytes are unchanged, the text is not.
func nonCanonical(tb testing.TB, s string) string {
	tb.Helper()
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	unused := map[int]uint{2: 4, 3: 2}[len(s)%4]
	if unused == 0 {
		tb.Fatalf("segment of length %d has no unused bits", len(s))
	}
	i := strings.IndexByte(alphabet, s[len(s)-1])
	out := s[:len(s)-1] + string(alphabet[i|1])
	if a, b := mustDecodeLoose(tb, s), mustDecodeLoose(tb, out); string(a) != string(b) {
		tb.Fatalf("nonCanonical changed the decoded bytes")
	}
	return out
}

func mustDecodeLoose(tb testing.TB, s string) []byte {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		tb.Fatalf("decoding %q: %v", s, err)
	}
	return b
}

// parts splits a compact token.
func parts(tok string) (h, p, s string) {
	x := strings.Split(tok, ".")
	return x[0], x[1], x[2]
}

func TestFailureReasons(t *testing.T) {
	good := hsToken(t, nil)
	gh, gp, gs := parts(good)
	otherPayload := seg(fmt.Sprintf(`{"sub":"mallory",%s}`, expJSON))
	// flip one character in the middle of the signature
	tamperedSig := gs[:10] + map[bool]string{true: "A", false: "B"}[gs[10] != 'A'] + gs[11:]
	noneHeaders := []string{`{"alg":"none"}`, `{"alg":"None"}`, `{"alg":"NONE"}`, `{"alg":"nOnE"}`}
	longSecret := strings.Repeat("k", 64)

	withIssAud := hsTOML + `issuer = "https://idp.example"
audience = "media"
`
	small := hsTOML + "max_token_size = 200\n"
	noExpOK := hsTOML + "require_exp = false\n"
	noLeeway := hsTOML + `leeway = "0s"` + "\n"
	bigLeeway := hsTOML + `leeway = "5m"` + "\n"

	type tc struct {
		name     string
		authTOML string // hsTOML when empty
		token    string
		want     string // reason, "" = accepted
	}
	tests := []tc{
		{name: "valid token", token: good, want: ""},

		{name: "too large garbage", authTOML: small, token: strings.Repeat("!", 201), want: ReasonTooLarge},
		{name: "too large valid token", authTOML: small, token: hsToken(t, map[string]any{"pad": strings.Repeat("x", 200)}), want: ReasonTooLarge},
		{name: "garbage at the size limit is parsed", authTOML: small, token: strings.Repeat("!", 200), want: ReasonMalformed},

		{name: "two parts", token: gh + "." + gp, want: ReasonMalformed},
		{name: "four parts", token: good + "." + gs, want: ReasonMalformed},
		{name: "five-part JWE", token: seg(`{"alg":"RSA-OAEP","enc":"A256GCM"}`) + ".OKOawDo13gRp2ojaHV7LFpZcgV7T6DVZKTyKOMTYUmKoTCVJRgckCL9kiMT03JGeipsEdY3mx_etLbbWSrFr05kLzcSr4qKAq7YN7e9jwQRb23nfa6c9d-StnImGyFDbSv04uVuxIp5Zms1gNxKKK2Da14B8S4rzVRltdYwam_lDp5XnZAYpQdb76FdIKLaVmqgfwX7XWRxv2322i-vDxRfqNzo_tETKzpVLzfiwQyeyPGLBIO56YJ7eObdv0je81860ppamavo35UgoRdbYaBcoh9QcfylQr66oc6vFWXRcZ_ZT2LawVCWTIy3brGPi6UklfCpIMfIjf7iGdXKHzg.48V1_ALb6US04U3b.5eym8TW_c8SuK0ltJ3rpYIzOeDQz7TALvtu6UG9oMo4vpzs9tX_EFShS8iB7j6jiSdiwkIr3ajwQzaBtQD_A.XFBoMYUZodetZdvTiFvSkQ", want: ReasonMalformed},
		{name: "empty header", token: "." + gp + "." + gs, want: ReasonMalformed},
		{name: "empty payload", token: gh + ".." + gs, want: ReasonSignature},
		{name: "empty signature", token: gh + "." + gp + ".", want: ReasonSignature},
		{name: "dots only", token: "..", want: ReasonMalformed},
		{name: "non-base64url char in header", token: gh[:4] + "+" + gh[5:] + "." + gp + "." + gs, want: ReasonMalformed},
		{name: "standard base64 slash in payload", token: gh + "." + gp[:4] + "/" + gp[5:] + "." + gs, want: ReasonMalformed},
		{name: "space inside signature", token: gh + "." + gp + "." + gs[:5] + " " + gs[5:], want: ReasonMalformed},
		{name: "padded header", token: seg(`{"alg":"HS256"}`) + "=." + gp + "." + gs, want: ReasonMalformed},
		{name: "padded signature", token: gh + "." + gp + "." + gs + "=", want: ReasonMalformed},
		// A lenient decoder reads the same signature bytes, so this would verify:
		// the strict decoder keeps one text per token.
		{name: "signature with non-canonical trailing bits", token: gh + "." + gp + "." + nonCanonical(t, gs), want: ReasonMalformed},
		{name: "header not JSON", token: seg(`alg=HS256`) + "." + gp + "." + gs, want: ReasonMalformed},
		{name: "header JSON array", token: seg(`["alg","HS256"]`) + "." + gp + "." + gs, want: ReasonMalformed},
		{name: "header JSON string", token: seg(`"HS256"`) + "." + gp + "." + gs, want: ReasonMalformed},
		{name: "header trailing garbage", token: seg(`{"alg":"HS256"}x`) + "." + gp + "." + gs, want: ReasonMalformed},
		{name: "header two objects", token: seg(`{"alg":"HS256"}{}`) + "." + gp + "." + gs, want: ReasonMalformed},
		{name: "header alg not a string", token: seg(`{"alg":256}`) + "." + gp + "." + gs, want: ReasonMalformed},
		{name: "header truncated JSON", token: seg(`{"alg":"HS256"`) + "." + gp + "." + gs, want: ReasonMalformed},
		{name: "payload not JSON", token: hsRaw(t, hsHeader, "sub=alice"), want: ReasonMalformed},
		{name: "payload JSON array", token: hsRaw(t, hsHeader, `[`+expJSON[6:]+`]`), want: ReasonMalformed},
		{name: "payload trailing garbage", token: hsRaw(t, hsHeader, `{"sub":"alice",`+expJSON+`} garbage`), want: ReasonMalformed},
		{name: "payload two objects", token: hsRaw(t, hsHeader, `{"sub":"alice",`+expJSON+`}{}`), want: ReasonMalformed},
		{name: "exp as a string", token: hsRaw(t, hsHeader, fmt.Sprintf(`{"sub":"alice","exp":"%d"}`, t0.Add(time.Hour).Unix())), want: ReasonMalformed},
		{name: "exp as a date string", token: hsRaw(t, hsHeader, `{"sub":"alice","exp":"2031-03-01T13:00:00Z"}`), want: ReasonMalformed},
		{name: "nbf as a string", token: hsRaw(t, hsHeader, `{"sub":"alice","nbf":"0",`+expJSON+`}`), want: ReasonMalformed},
		{name: "crit header", token: hsRaw(t, `{"alg":"HS256","crit":["exp"],"exp":1}`, `{"sub":"alice",`+expJSON+`}`), want: ReasonMalformed},
		{name: "b64 false header", token: hsRaw(t, `{"alg":"HS256","b64":false,"crit":["b64"]}`, `{"sub":"alice",`+expJSON+`}`), want: ReasonMalformed},
		{name: "b64 false header without crit", token: hsRaw(t, `{"alg":"HS256","b64":false}`, `{"sub":"alice",`+expJSON+`}`), want: ReasonMalformed},
		{name: "b64 true header", token: hsRaw(t, `{"alg":"HS256","b64":true}`, `{"sub":"alice",`+expJSON+`}`), want: ReasonMalformed},

		{name: "duplicate alg in header", token: hsRaw(t, `{"alg":"HS256","alg":"HS256"}`, `{"sub":"alice",`+expJSON+`}`), want: ReasonDuplicateMember},
		{name: "duplicate alg in header, escaped name", token: hsRaw(t, `{"alg":"HS256","\u0061lg":"none"}`, `{"sub":"alice",`+expJSON+`}`), want: ReasonDuplicateMember},
		{name: "duplicate kid in header", token: hsRaw(t, `{"alg":"HS256","kid":"a","kid":"b"}`, `{"sub":"alice",`+expJSON+`}`), want: ReasonDuplicateMember},
		{name: "duplicate sub in payload", token: hsRaw(t, hsHeader, `{"sub":"alice","sub":"admin",`+expJSON+`}`), want: ReasonDuplicateMember},
		{name: "duplicate exp in payload", token: hsRaw(t, hsHeader, `{"sub":"alice",`+expJSON+`,"exp":99999999999}`), want: ReasonDuplicateMember},
		{name: "duplicate inside an object claim", token: hsRaw(t, hsHeader, `{"sub":"alice","org":{"role":"viewer","role":"admin"},`+expJSON+`}`), want: ReasonDuplicateMember},
		{name: "duplicate inside an object in an array", token: hsRaw(t, hsHeader, `{"sub":"alice","grants":[{"p":"a"},{"p":"b","p":"c"}],`+expJSON+`}`), want: ReasonDuplicateMember},
		{name: "same name in sibling objects is fine", token: hsRaw(t, hsHeader, `{"sub":"alice","a":{"x":1},"b":{"x":2},"c":[{"x":1},{"x":2}],`+expJSON+`}`), want: ""},

		{name: "alg HS512 not allowed", token: sign(t, jwt.SigningMethodHS512, []byte(longSecret), validClaims(), nil), want: ReasonAlgorithm},
		{name: "alg RS256 not allowed", token: seg(`{"alg":"RS256"}`) + "." + gp + "." + gs, want: ReasonAlgorithm},
		{name: "alg lower case hs256", token: hsRaw(t, `{"alg":"hs256"}`, `{"sub":"alice",`+expJSON+`}`), want: ReasonAlgorithm},
		{name: "alg missing", token: hsRaw(t, `{"typ":"JWT"}`, `{"sub":"alice",`+expJSON+`}`), want: ReasonAlgorithm},
		{name: "alg empty", token: hsRaw(t, `{"alg":""}`, `{"sub":"alice",`+expJSON+`}`), want: ReasonAlgorithm},
		{name: "alg unknown", token: hsRaw(t, `{"alg":"HS1"}`, `{"sub":"alice",`+expJSON+`}`), want: ReasonAlgorithm},

		{name: "tampered payload", token: gh + "." + otherPayload + "." + gs, want: ReasonSignature},
		{name: "tampered signature", token: gh + "." + gp + "." + tamperedSig, want: ReasonSignature},
		{name: "truncated signature", token: gh + "." + gp + "." + gs[:20], want: ReasonSignature},
		{name: "wrong secret", token: sign(t, jwt.SigningMethodHS256, []byte("another-secret-of-thirty-two-byt"), validClaims(), nil), want: ReasonSignature},
		{name: "signature of another token", token: gh + "." + gp + "." + func() string { _, _, s := parts(hsToken(t, map[string]any{"sub": "bob"})); return s }(), want: ReasonSignature},

		{name: "expired beyond leeway", token: hsToken(t, map[string]any{"exp": t0.Add(-31 * time.Second).Unix()}), want: ReasonExpired},
		{name: "expired exactly at the leeway", token: hsToken(t, map[string]any{"exp": t0.Add(-30 * time.Second).Unix()}), want: ReasonExpired},
		{name: "expired within leeway is accepted", token: hsToken(t, map[string]any{"exp": t0.Add(-29 * time.Second).Unix()}), want: ""},
		{name: "expired with zero leeway", authTOML: noLeeway, token: hsToken(t, map[string]any{"exp": t0.Add(-1 * time.Second).Unix()}), want: ReasonExpired},
		{name: "exp equal to now with zero leeway", authTOML: noLeeway, token: hsToken(t, map[string]any{"exp": t0.Unix()}), want: ReasonExpired},
		{name: "expired within a 5m leeway", authTOML: bigLeeway, token: hsToken(t, map[string]any{"exp": t0.Add(-4 * time.Minute).Unix()}), want: ""},
		{name: "fractional exp", token: hsRaw(t, hsHeader, fmt.Sprintf(`{"sub":"alice","exp":%d.5}`, t0.Add(-30*time.Second).Unix())), want: ""},
		{name: "no exp, require_exp default", token: hsRaw(t, hsHeader, `{"sub":"alice"}`), want: ReasonExpired},
		{name: "no exp, require_exp false", authTOML: noExpOK, token: hsRaw(t, hsHeader, `{"sub":"alice"}`), want: ""},
		{name: "exp null", token: hsRaw(t, hsHeader, `{"sub":"alice","exp":null}`), want: ReasonMalformed},

		{name: "nbf beyond leeway", token: hsToken(t, map[string]any{"nbf": t0.Add(31 * time.Second).Unix()}), want: ReasonNotYetValid},
		{name: "nbf within leeway is accepted", token: hsToken(t, map[string]any{"nbf": t0.Add(29 * time.Second).Unix()}), want: ""},
		{name: "nbf exactly at the leeway is accepted", token: hsToken(t, map[string]any{"nbf": t0.Add(30 * time.Second).Unix()}), want: ""},
		{name: "nbf in the past", token: hsToken(t, map[string]any{"nbf": t0.Add(-time.Hour).Unix()}), want: ""},
		{name: "nbf with zero leeway", authTOML: noLeeway, token: hsToken(t, map[string]any{"nbf": t0.Add(time.Second).Unix()}), want: ReasonNotYetValid},

		{name: "issuer and audience match", authTOML: withIssAud, token: hsToken(t, map[string]any{"iss": "https://idp.example", "aud": "media"}), want: ""},
		{name: "wrong issuer", authTOML: withIssAud, token: hsToken(t, map[string]any{"iss": "https://evil.example", "aud": "media"}), want: ReasonIssuer},
		{name: "issuer differs in case", authTOML: withIssAud, token: hsToken(t, map[string]any{"iss": "https://IDP.example", "aud": "media"}), want: ReasonIssuer},
		{name: "missing issuer", authTOML: withIssAud, token: hsToken(t, map[string]any{"aud": "media"}), want: ReasonIssuer},
		{name: "issuer as array", authTOML: withIssAud, token: hsToken(t, map[string]any{"iss": []string{"https://idp.example"}, "aud": "media"}), want: ReasonIssuer},
		{name: "wrong string audience", authTOML: withIssAud, token: hsToken(t, map[string]any{"iss": "https://idp.example", "aud": "other"}), want: ReasonAudience},
		{name: "array audience including ours", authTOML: withIssAud, token: hsToken(t, map[string]any{"iss": "https://idp.example", "aud": []string{"other", "media"}}), want: ""},
		{name: "array audience without ours", authTOML: withIssAud, token: hsToken(t, map[string]any{"iss": "https://idp.example", "aud": []string{"other", "media2"}}), want: ReasonAudience},
		{name: "empty array audience", authTOML: withIssAud, token: hsToken(t, map[string]any{"iss": "https://idp.example", "aud": []string{}}), want: ReasonAudience},
		{name: "missing audience", authTOML: withIssAud, token: hsToken(t, map[string]any{"iss": "https://idp.example"}), want: ReasonAudience},
		{name: "audience as a number", authTOML: withIssAud, token: hsToken(t, map[string]any{"iss": "https://idp.example", "aud": 7}), want: ReasonAudience},
		{name: "no audience configured accepts any", token: hsToken(t, map[string]any{"aud": "whatever"}), want: ""},
	}
	for _, h := range noneHeaders {
		tests = append(tests,
			tc{name: "alg " + h + " with empty signature", token: seg(h) + "." + gp + ".", want: ReasonAlgorithm},
			tc{name: "alg " + h + " with a signature", token: seg(h) + "." + gp + "." + gs, want: ReasonAlgorithm},
		)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			authTOML := tt.authTOML
			if authTOML == "" {
				authTOML = hsTOML
			}
			v := newVerifier(t, authTOML)
			_, err := v.Verify(bearer(tt.token), t0)
			wantReason(t, err, tt.want)
		})
	}
}

// TestNotBeforeFarFuture: an nbf too large for time.Unix's int64 seconds is
// still a date in the far future, so the token is not yet valid (it must not
// wrap around into the past).
func TestNotBeforeFarFuture(t *testing.T) {
	v := newVerifier(t, hsTOML)
	for _, nbf := range []string{"1e300", "9223372036854775807", "1e19", "9.2e18"} {
		t.Run("nbf="+nbf, func(t *testing.T) {
			tok := hsRaw(t, hsHeader, `{"sub":"alice","nbf":`+nbf+`,`+expJSON+`}`)
			_, err := v.Verify(bearer(tok), t0)
			wantReason(t, err, ReasonNotYetValid)
		})
	}
}

// TestOtherBucketAudience: two buckets share an issuer and secret but not an
// audience; a token minted for one does not open the other.
func TestOtherBucketAudience(t *testing.T) {
	doc := `
[[buckets]]
name = "photos"
path_prefix = "/photos"
[buckets.s3]
bucket = "photos"
endpoint = "http://127.0.0.1:9000"
force_path_style = true
[buckets.auth]
algorithms = ["HS256"]
secret = "` + testSecret + `"
audience = "photos"

[[buckets]]
name = "invoices"
path_prefix = "/invoices"
[buckets.s3]
bucket = "invoices"
endpoint = "http://127.0.0.1:9000"
force_path_style = true
[buckets.auth]
algorithms = ["HS256"]
secret = "` + testSecret + `"
audience = "invoices"
`
	cfg, err := config.Parse([]byte(doc), "two.toml")
	if err != nil {
		t.Fatalf("config.Parse: %v", err)
	}
	verifier := func(i int) *Verifier {
		s := &cfg.Buckets[i].Auth.AuthSettings
		return NewVerifier(s, NewKeySet(s))
	}
	photos, invoices := verifier(0), verifier(1)
	tok := hsToken(t, map[string]any{"aud": "photos"})
	if _, err := photos.Verify(bearer(tok), t0); err != nil {
		t.Fatalf("photos bucket rejected its own token: %v", err)
	}
	_, err = invoices.Verify(bearer(tok), t0)
	wantReason(t, err, ReasonAudience)
}

func TestKeysUnavailable(t *testing.T) {
	srv := newJWKSServer(t, jwksDoc(jwkOf("k1", "RS256", &rsaKey().PublicKey)))
	v := newVerifier(t, `algorithms = ["RS256"]
jwks_url = "`+srv.URL+`"
max_token_size = 1000
`)
	if ok, reason := v.Keys().Ready(); ok || reason == "" {
		t.Errorf("Ready() = %v, %q before any fetch; want false with a reason", ok, reason)
	}
	tok := sign(t, jwt.SigningMethodRS256, rsaKey(), validClaims(), map[string]any{"kid": "k1"})
	_, err := v.Verify(bearer(tok), t0)
	if !errors.Is(err, ErrKeysUnavailable) || ReasonOf(err) != ReasonKeysUnavailable || errors.Is(err, ErrRejected) {
		t.Errorf("Verify before the first fetch = %v (reason %q), want ErrKeysUnavailable (%q), not a rejection", err, ReasonOf(err), ReasonKeysUnavailable)
	}
	// No token is still a missing token, and an oversized one is still too
	// large: neither depends on keys.
	if _, err := v.Verify(request("", ""), t0); !errors.Is(err, ErrMissingToken) {
		t.Errorf("Verify without a token before the first fetch = %v, want ErrMissingToken", err)
	}
	_, err = v.Verify(bearer(strings.Repeat("x", 1001)), t0)
	wantReason(t, err, ReasonTooLarge)
	if n := srv.hits.Load(); n != 0 {
		t.Errorf("Verify fetched the JWKS %d times; fetching belongs to Refresh", n)
	}
}

func TestSubject(t *testing.T) {
	v := newVerifier(t, hsTOML)
	tests := []struct {
		name    string
		payload string
		want    string
	}{
		{"sub string", `{"sub":"alice@example.com",` + expJSON + `}`, "alice@example.com"},
		{"no sub", `{` + expJSON + `}`, ""},
		{"sub number", `{"sub":42,` + expJSON + `}`, ""},
		{"sub unicode", `{"sub":"\u00e9l\u00e8ve",` + expJSON + `}`, "élève"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := v.Verify(bearer(hsRaw(t, hsHeader, tt.payload)), t0)
			if err != nil {
				t.Fatalf("Verify = %v, want accepted", err)
			}
			if res.Subject != tt.want {
				t.Errorf("Subject = %q, want %q", res.Subject, tt.want)
			}
		})
	}
}

func TestFailureError(t *testing.T) {
	f := reject(ReasonSignature, "signature does not verify")
	if !errors.Is(f, ErrRejected) {
		t.Errorf("errors.Is(%v, ErrRejected) = false, want true", f)
	}
	if got, want := f.Error(), "auth: token rejected: signature: signature does not verify"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if got, want := (&Failure{Reason: ReasonClaims}).Error(), "auth: token rejected: claims"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if got := ReasonOf(fmt.Errorf("wrapped: %w", f)); got != ReasonSignature {
		t.Errorf("ReasonOf(wrapped failure) = %q, want %q", got, ReasonSignature)
	}
	seen := map[string]bool{}
	for _, r := range Reasons {
		if seen[r] {
			t.Errorf("Reasons lists %q twice", r)
		}
		seen[r] = true
	}
}
