package auth

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strings"
	"testing"
	"unicode/utf8"
)

// wycheproofPath is C2SP/wycheproof's JWS vectors (see the corpora's
// SOURCES.md), in $YATAGARASU_CORPORA, else shared/corpora beside the
// repository. The payloads are not JWT claim sets, so the vectors exercise
// the signature layer: parseCompact and verifySignature.
var wycheproofPath = corporaFile("jws/wycheproof_json_web_signature_test.json")

// corporaFile is name in the shared corpora: $YATAGARASU_CORPORA, then
// ../shared/corpora from the repository root (the tests run in auth/), then
// the workspace's /work/shared/corpora.
func corporaFile(name string) string {
	if d := os.Getenv("YATAGARASU_CORPORA"); d != "" {
		return d + "/" + name
	}
	if _, err := os.Stat("../../shared/corpora/SOURCES.md"); err == nil {
		return "../../shared/corpora/" + name
	}
	return "/work/shared/corpora/" + name
}

type wycheproofFile struct {
	NumberOfTests int               `json:"numberOfTests"`
	TestGroups    []wycheproofGroup `json:"testGroups"`
}

type wycheproofGroup struct {
	Comment string           `json:"comment"`
	Private map[string]any   `json:"private"`
	Public  map[string]any   `json:"public"`
	Tests   []wycheproofTest `json:"tests"`
}

type wycheproofTest struct {
	TcID    int             `json:"tcId"`
	Comment string          `json:"comment"`
	JWS     json.RawMessage `json:"jws"` // a string; an object for JSON serialisation
	Result  string          `json:"result"`
	Flags   []string        `json:"flags"`
}

// wycheproofStricter lists valid vectors that are rejected on purpose, with
// the policy that rejects them.
var wycheproofStricter = map[int]string{
	346: "the JWK names alg PS256 and the token is PS384: a JWK's alg pins the key to that algorithm",
	350: "the JWK names alg PS256 and the token is PS384: a JWK's alg pins the key to that algorithm",
	372: "a '?' inside the header segment: base64url is decoded strictly, so a token has one text",
	373: "a '?' inside the payload segment: base64url is decoded strictly, so a token has one text",
}

// tomlString quotes s as a TOML basic string, escaping every control rune.
func tomlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func TestWycheproofJWS(t *testing.T) {
	data, err := os.ReadFile(wycheproofPath)
	if err != nil {
		t.Fatalf("reading the Wycheproof vectors: %v", err)
	}
	var file wycheproofFile
	if err := json.Unmarshal(data, &file); err != nil {
		t.Fatalf("decoding %s: %v", wycheproofPath, err)
	}
	srv := newJWKSServer(t, nil)

	var (
		total, run, accepted, rejected, stricter int
		hmacViaEnv, hmacTooShort, defective      int
		skipped                                  = map[string]int{}
		stricterSeen                             = map[int]bool{}
	)
	for gi, g := range file.TestGroups {
		total += len(g.Tests)
		key := g.Public
		if key == nil {
			key = g.Private
		}
		kty, _ := key["kty"].(string)
		crv, _ := key["crv"].(string)
		var authTOML string
		switch {
		case kty == "RSA":
			authTOML = `algorithms = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"]` + "\n"
		case kty == "EC" && crv == "P-256":
			authTOML = `algorithms = ["ES256"]` + "\n"
		case kty == "EC" && crv == "P-384":
			authTOML = `algorithms = ["ES384"]` + "\n"
		case kty == "OKP" && crv == "Ed25519":
			authTOML = `algorithms = ["EdDSA"]` + "\n"
		case kty == "oct":
			k, err := base64.RawURLEncoding.DecodeString(key["k"].(string))
			if err != nil {
				t.Fatalf("group %d: oct key: %v", gi, err)
			}
			if len(k) < 32 {
				hmacTooShort += len(g.Tests)
				skipped["HMAC key under the 32 bytes config requires for HS256"] += len(g.Tests)
				continue
			}
			secret := tomlString(string(k))
			if !utf8.Valid(k) {
				// A TOML string holds UTF-8 only: a random key goes through
				// ${ENV} substitution, as an operator would have to.
				t.Setenv("WYCHEPROOF_HMAC_KEY", string(k))
				secret = `"${WYCHEPROOF_HMAC_KEY}"`
				hmacViaEnv += len(g.Tests)
			}
			authTOML = `algorithms = ["HS256"]` + "\nsecret = " + secret + "\n"
		default:
			skipped[fmt.Sprintf("key %s %s: no algorithm the verifier supports", kty, crv)] += len(g.Tests)
			continue
		}
		if kty != "oct" {
			doc, err := json.Marshal(map[string]any{"keys": []any{key}})
			if err != nil {
				t.Fatal(err)
			}
			srv.serve(http.StatusOK, doc)
			authTOML += `jwks_url = "` + srv.URL + `"` + "\n"
		}
		s := authSettings(t, authTOML)
		if kty == "oct" {
			k, _ := base64.RawURLEncoding.DecodeString(key["k"].(string))
			if s.Secret != string(k) {
				t.Fatalf("group %d: the configured secret is not the vector key", gi)
			}
		}
		// Upstream defect: some invalid vectors are byte-for-byte a valid
		// vector of the same group (invalidBase64Padding, tcIds 367 and 370,
		// lost their '=' padding). They cannot be both; count them apart and
		// check the padded forms they were meant to carry instead.
		validText := map[string]int{}
		for _, tc := range g.Tests {
			var jws string
			if json.Unmarshal(tc.JWS, &jws) == nil && tc.Result == "valid" {
				validText[jws] = tc.TcID
			}
		}
		keys := NewKeySet(s)
		v := NewVerifier(s, keys)
		if keys.HasJWKS() {
			if _, err := keys.Refresh(ctx, t0); err != nil {
				t.Fatalf("group %d: loading the group's key: %v", gi, err)
			}
		}
		for _, tc := range g.Tests {
			var jws string
			if err := json.Unmarshal(tc.JWS, &jws); err != nil {
				jws = string(tc.JWS) // JSON serialisation: must be refused as it is
			}
			if twin, ok := validText[jws]; ok && tc.Result == "invalid" {
				defective++
				t.Logf("tcId %d (%s): defective upstream vector, identical to valid tcId %d; checking its padded forms instead", tc.TcID, tc.Comment, twin)
				h, p, sig := parts(jws)
				for _, padded := range []string{h + "=." + p + "." + sig, h + "." + p + "==." + sig, h + "." + p + "." + sig + "="} {
					if j, err := parseCompact([]byte(padded)); err == nil {
						if v.verifySignature(j, t0) == nil {
							t.Errorf("tcId %d: padded form %q accepted", tc.TcID, padded)
						}
					}
				}
				continue
			}
			run++
			j, err := parseCompact([]byte(jws))
			if err == nil {
				err = v.verifySignature(j, t0)
			}
			if err == nil {
				accepted++
			} else {
				rejected++
			}
			why, allowed := wycheproofStricter[tc.TcID]
			switch {
			case tc.Result == "invalid" && err == nil:
				t.Errorf("tcId %d (%s, group %q, flags %v): invalid vector accepted", tc.TcID, tc.Comment, g.Comment, tc.Flags)
			case tc.Result == "valid" && err != nil && allowed:
				stricter++
				stricterSeen[tc.TcID] = true
				t.Logf("tcId %d (%s): valid vector rejected by policy (%s): %v", tc.TcID, tc.Comment, why, err)
			case tc.Result == "valid" && err != nil:
				t.Errorf("tcId %d (%s, group %q): valid vector rejected: %v", tc.TcID, tc.Comment, g.Comment, err)
			case tc.Result == "valid" && allowed:
				t.Errorf("tcId %d is listed as rejected by policy but was accepted; drop it from wycheproofStricter", tc.TcID)
			}
		}
	}
	for id := range wycheproofStricter {
		if !stricterSeen[id] {
			t.Errorf("wycheproofStricter lists tcId %d, which did not run as a rejected valid vector", id)
		}
	}
	if total != file.NumberOfTests {
		t.Errorf("read %d vectors, the file says %d", total, file.NumberOfTests)
	}
	var skips []string
	nSkipped := 0
	for why, n := range skipped {
		skips = append(skips, fmt.Sprintf("%d (%s)", n, why))
		nSkipped += n
	}
	sort.Strings(skips)
	t.Logf("Wycheproof JWS: %d vectors; run %d, skipped %d: %s; defective (invalid but identical to a valid vector) %d", total, run, nSkipped, strings.Join(skips, "; "), defective)
	t.Logf("Wycheproof JWS: accepted %d, rejected %d (of which %d valid vectors by stricter policy)", accepted, rejected, stricter)
	t.Logf("Wycheproof JWS: HMAC vectors not runnable for the 32-byte minimum: %d; run through ${ENV} because the key is not UTF-8: %d", hmacTooShort, hmacViaEnv)
}
