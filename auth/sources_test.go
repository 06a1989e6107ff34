package auth

import (
	"bufio"
	"errors"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// sigV4 is an Authorization header an AWS SDK or CLI sends: not a bearer token.
const sigV4 = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20310301/us-east-1/s3/aws4_request, " +
	"SignedHeaders=host;x-amz-date, Signature=fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024"

func TestTokenSources(t *testing.T) {
	good := hsToken(t, nil)
	other := hsToken(t, map[string]any{"sub": "bob"}) // a second valid token, to tell sources apart
	pctDots := strings.ReplaceAll(good, ".", "%2E")

	bearerOnly := hsTOML
	headerPrefixed := hsTOML + `
[[buckets.auth.token_sources]]
type = "header"
name = "X-Auth"
prefix = "Token "
`
	headerBare := hsTOML + `
[[buckets.auth.token_sources]]
type = "header"
name = "X-Auth"
`
	query := hsTOML + `
[[buckets.auth.token_sources]]
type = "query"
name = "access_token"
`
	bearerThenQuery := hsTOML + `
[[buckets.auth.token_sources]]
type = "bearer"
[[buckets.auth.token_sources]]
type = "query"
name = "access_token"
`
	queryThenBearer := hsTOML + `
[[buckets.auth.token_sources]]
type = "query"
name = "access_token"
[[buckets.auth.token_sources]]
type = "bearer"
`
	// The recipe for S3 SDKs and the AWS CLI: they sign with SigV4 (their own
	// Authorization header) and pass the JWT as the session token.
	amzRecipe := hsTOML + `
[[buckets.auth.token_sources]]
type = "bearer"
[[buckets.auth.token_sources]]
type = "header"
name = "X-Amz-Security-Token"
`
	headerThenBearer := hsTOML + `
[[buckets.auth.token_sources]]
type = "header"
name = "X-Auth"
prefix = "Token "
[[buckets.auth.token_sources]]
type = "bearer"
`

	tests := []struct {
		name     string
		authTOML string
		req      Request
		wantSub  string // "" with wantErr
		wantErr  error  // ErrMissingToken, or nil
	}{
		{"bearer", bearerOnly, bearer(good), "alice", nil},
		{"bearer lower case scheme", bearerOnly, request("", "", "Authorization", "bearer "+good), "alice", nil},
		{"bearer upper case scheme", bearerOnly, request("", "", "Authorization", "BEARER "+good), "alice", nil},
		{"bearer mixed case scheme", bearerOnly, request("", "", "Authorization", "bEaReR "+good), "alice", nil},
		{"bearer spaces around token", bearerOnly, request("", "", "Authorization", "Bearer    "+good+"   "), "alice", nil},
		{"bearer scheme without token", bearerOnly, request("", "", "Authorization", "Bearer    "), "", ErrMissingToken},
		{"bearer scheme alone", bearerOnly, request("", "", "Authorization", "Bearer"), "", ErrMissingToken},
		{"basic scheme is not bearer", bearerOnly, request("", "", "Authorization", "Basic "+good), "", ErrMissingToken},
		{"sigv4 is not bearer", bearerOnly, request("", "", "Authorization", sigV4), "", ErrMissingToken},
		{"default source ignores other headers", bearerOnly, request("access_token="+good, "", "X-Auth", good), "", ErrMissingToken},
		{"no header at all", bearerOnly, request("", ""), "", ErrMissingToken},

		{"header with prefix", headerPrefixed, request("", "", "X-Auth", "Token "+good), "alice", nil},
		{"header name is case-insensitive", headerPrefixed, request("", "", "x-auth", "Token "+good), "alice", nil},
		{"header lacking the prefix is skipped", headerPrefixed, request("", "", "X-Auth", good), "", ErrMissingToken},
		{"header with another prefix is skipped", headerPrefixed, request("", "", "X-Auth", "Bearer "+good), "", ErrMissingToken},
		{"header prefix only", headerPrefixed, request("", "", "X-Auth", "Token "), "", ErrMissingToken},
		{"header without prefix", headerBare, request("", "", "X-Auth", good), "alice", nil},
		{"header without prefix, spaces trimmed", headerBare, request("", "", "X-Auth", "  "+good+"  "), "alice", nil},
		{"header source ignores bearer", headerBare, bearer(good), "", ErrMissingToken},

		{"query", query, request("access_token="+good, ""), "alice", nil},
		{"query among other parameters", query, request("x-id=GetObject&access_token="+good+"&v=2", ""), "alice", nil},
		{"query percent-encoded", query, request("access_token="+pctDots, ""), "alice", nil},
		{"query other parameter name ignored", query, request("token="+good, ""), "", ErrMissingToken},
		{"query name is exact", query, request("access_token_x="+good+"&Access_Token="+good, ""), "", ErrMissingToken},
		{"query empty value", query, request("access_token=", ""), "", ErrMissingToken},
		{"query first occurrence wins", query, request("access_token="+other+"&access_token="+good, ""), "bob", nil},

		{"order: bearer before query, both present", bearerThenQuery, request("access_token="+other, "", "Authorization", "Bearer "+good), "alice", nil},
		{"order: query before bearer, both present", queryThenBearer, request("access_token="+other, "", "Authorization", "Bearer "+good), "bob", nil},
		{"order: falls through to the second source", bearerThenQuery, request("access_token="+other, ""), "bob", nil},
		{"order: header before bearer, both present", headerThenBearer, request("", "", "X-Auth", "Token "+other, "Authorization", "Bearer "+good), "bob", nil},
		{"order: none present", bearerThenQuery, request("a=b", "", "X-Auth", good), "", ErrMissingToken},

		{"x-amz-security-token with sigv4 authorization", amzRecipe, request("", "", "Authorization", sigV4, "X-Amz-Security-Token", good), "alice", nil},
		{"x-amz-security-token alone", amzRecipe, request("", "", "X-Amz-Security-Token", good), "alice", nil},
		{"sigv4 without security token", amzRecipe, request("", "", "Authorization", sigV4), "", ErrMissingToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newVerifier(t, tt.authTOML)
			res, err := v.Verify(tt.req, t0)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Verify error = %v, want %v", err, tt.wantErr)
				}
				if ReasonOf(err) != ReasonMissing || !IsMissing(err) {
					t.Errorf("ReasonOf = %q, IsMissing = %v; want %q, true", ReasonOf(err), IsMissing(err), ReasonMissing)
				}
				return
			}
			if err != nil {
				t.Fatalf("Verify error = %v, want the token accepted", err)
			}
			if res.Subject != tt.wantSub {
				t.Errorf("Subject = %q, want %q (the token of the wrong source was used)", res.Subject, tt.wantSub)
			}
		})
	}
}

// TestBearerFromWire reads the header as fasthttp parses it off the wire, where
// optional whitespace around the field value is stripped.
func TestBearerFromWire(t *testing.T) {
	v := newVerifier(t, hsTOML)
	good := hsToken(t, nil)
	raw := "GET /media/x HTTP/1.1\r\nHost: a\r\nAuthorization:   Bearer \t" + good + " \t \r\n\r\n"
	var h fasthttp.RequestHeader
	if err := h.Read(bufio.NewReader(strings.NewReader(raw))); err != nil {
		t.Fatalf("parsing the request header: %v", err)
	}
	if _, err := v.Verify(Request{Header: &h}, t0); err != nil {
		t.Errorf("Verify error = %v, want the bearer token found despite surrounding whitespace", err)
	}
}
