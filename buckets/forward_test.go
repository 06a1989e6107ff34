package buckets

import (
	"bufio"
	"bytes"
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

func TestAppendCanonicalQuery(t *testing.T) {
	tests := []struct {
		name   string
		raw    string
		want   string
		wantOK bool
	}{
		{"empty", "", "", true},
		{"one allowed", "versionId=abc", "versionId=abc", true},
		{"every allowed name kept",
			"versionId=v&partNumber=2&response-cache-control=no-cache&response-content-disposition=inline" +
				"&response-content-encoding=gzip&response-content-language=en&response-content-type=text%2Fplain&response-expires=0",
			"partNumber=2&response-cache-control=no-cache&response-content-disposition=inline&response-content-encoding=gzip" +
				"&response-content-language=en&response-content-type=text%2Fplain&response-expires=0&versionId=v",
			true},
		{"credentials and unknown names dropped",
			"X-Amz-Signature=sig&versionId=v1&X-Amz-Credential=AK%2F20240101&X-Amz-Security-Token=tok&token=t&foo=bar" +
				"&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20240101T000000Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host",
			"versionId=v1", true},
		{"names are case-sensitive", "versionid=v&VersionId=w&PARTNUMBER=1", "", true},
		{"nothing allowed", "foo=bar&token=x", "", true},
		{"sorted by name", "versionId=v&partNumber=3&response-content-type=a", "partNumber=3&response-content-type=a&versionId=v", true},
		{"sorted by value for the same name", "versionId=b&versionId=a&versionId=c", "versionId=a&versionId=b&versionId=c", true},
		{"plus decodes to a space and re-encodes as %20", "response-content-disposition=attachment;+filename=a+b.txt",
			"response-content-disposition=attachment%3B%20filename%3Da%20b.txt", true},
		{"%2B stays a plus", "response-content-type=a%2Bb", "response-content-type=a%2Bb", true},
		{"lowercase escapes re-encoded uppercase", "response-content-type=text%2fplain", "response-content-type=text%2Fplain", true},
		{"unreserved escapes decoded", "versionId=%41%7E", "versionId=A~", true},
		{"escaped name decoded", "version%49d=x", "versionId=x", true},
		{"empty value kept", "versionId=", "versionId=", true},
		{"missing = is an empty value", "versionId", "versionId=", true},
		{"value holding =", "versionId=a=b", "versionId=a%3Db", true},
		{"empty parts skipped", "&&versionId=v&&", "versionId=v", true},
		{"malformed allowed value", "versionId=%zz", "", false},
		{"malformed dropped value", "versionId=v&foo=%4", "", false},
		{"malformed dropped name", "%g0=x&versionId=v", "", false},
		{"lone percent at the end", "versionId=v&x=%", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, ok := appendCanonicalQuery([]byte("q:"), nil, []byte(tt.raw), &QueryFilter{})
			if ok != tt.wantOK {
				t.Fatalf("appendCanonicalQuery(%q) ok = %v, want %v", tt.raw, ok, tt.wantOK)
			}
			if ok && string(got) != "q:"+tt.want {
				t.Errorf("appendCanonicalQuery(%q) = %q, want %q", tt.raw, got, "q:"+tt.want)
			}
		})
	}
}

// TestAppendCanonicalQueryManyParams passes more allowed parameters than the
// function's local array holds.
func TestAppendCanonicalQueryManyParams(t *testing.T) {
	var raw, want []string
	for _, v := range []string{"j", "i", "h", "g", "f", "e", "d", "c", "b", "a", "k", "l"} {
		raw = append(raw, "versionId="+v)
	}
	raw = append(raw, "partNumber=1", "response-expires=0")
	want = append(want, "partNumber=1", "response-expires=0")
	for _, v := range []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l"} {
		want = append(want, "versionId="+v)
	}
	got, _, ok := appendCanonicalQuery(nil, nil, []byte(strings.Join(raw, "&")), &QueryFilter{})
	if !ok || string(got) != strings.Join(want, "&") {
		t.Errorf("appendCanonicalQuery(14 allowed params) = %q, %v; want %q, true", got, ok, strings.Join(want, "&"))
	}
}

// TestAppendCanonicalQueryReusesScratch checks that a scratch buffer returned
// by one call serves the next without leaking its contents.
func TestAppendCanonicalQueryReusesScratch(t *testing.T) {
	_, scratch, _ := appendCanonicalQuery(nil, nil, []byte("versionId=first-call-value&foo=bar"), &QueryFilter{})
	got, _, ok := appendCanonicalQuery(nil, scratch, []byte("partNumber=2"), &QueryFilter{})
	if !ok || string(got) != "partNumber=2" {
		t.Errorf("second call with reused scratch = %q, %v; want %q, true", got, ok, "partNumber=2")
	}
}

// allowedReadParams is the allow-list as the S3 API names it, kept apart from
// the package's own list so the test notices a change to either.
var allowedReadParams = []string{
	"partNumber", "versionId", "response-cache-control", "response-content-disposition",
	"response-content-encoding", "response-content-language", "response-content-type", "response-expires",
}

// refReadQuery is appendCanonicalQuery by other means: net/url decodes, the
// reference encoder encodes, sort.Slice orders by decoded name then value.
func refReadQuery(raw string) (string, bool) {
	type pair struct{ k, v string }
	var pairs []pair
	for _, part := range strings.Split(raw, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		dk, err1 := url.QueryUnescape(k)
		dv, err2 := url.QueryUnescape(v)
		if err1 != nil || err2 != nil {
			return "", false
		}
		if slices.Contains(allowedReadParams, dk) {
			pairs = append(pairs, pair{dk, dv})
		}
	}
	sort.SliceStable(pairs, func(i, j int) bool {
		if pairs[i].k != pairs[j].k {
			return pairs[i].k < pairs[j].k
		}
		return pairs[i].v < pairs[j].v
	})
	parts := make([]string, len(pairs))
	for i, p := range pairs {
		parts[i] = refEscape(p.k) + "=" + refEscape(p.v)
	}
	return strings.Join(parts, "&"), true
}

func FuzzAppendCanonicalQuery(f *testing.F) {
	for _, s := range []string{
		"", "versionId=abc", "versionId=b&versionId=a&partNumber=1", "X-Amz-Signature=x&versionId=v",
		"response-content-type=a+b", "versionId=%zz", "%", "&&=&", "versionId", "a=b=c", "version%49d=%7e",
		"versionId=1&versionId=2&versionId=3&versionId=4&versionId=5&versionId=6&versionId=7&versionId=8&versionId=9",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		out, _, ok := appendCanonicalQuery(nil, nil, raw, &QueryFilter{})
		want, wantOK := refReadQuery(string(raw))
		if ok != wantOK {
			t.Fatalf("appendCanonicalQuery(%q) ok = %v, want %v", raw, ok, wantOK)
		}
		if !ok {
			return
		}
		if string(out) != want {
			t.Fatalf("appendCanonicalQuery(%q) = %q, want %q", raw, out, want)
		}
		if len(out) == 0 {
			return
		}
		for _, part := range bytes.Split(out, []byte{'&'}) {
			if name, _, _ := bytes.Cut(part, []byte{'='}); !slices.Contains(allowedReadParams, string(name)) {
				t.Fatalf("appendCanonicalQuery(%q) = %q: name %q is not an allowed read parameter", raw, out, name)
			}
		}
	})
}

func TestCopyForwardedHeaders(t *testing.T) {
	tests := []struct {
		name    string
		header  string // as sent by the client
		value   string
		forward bool
	}{
		{"Range", "Range", "bytes=0-9", true},
		{"If-Match", "If-Match", `"etag"`, true},
		{"If-None-Match", "If-None-Match", `"etag"`, true},
		{"If-Modified-Since", "If-Modified-Since", "Wed, 21 Oct 2015 07:28:00 GMT", true},
		{"If-Unmodified-Since", "If-Unmodified-Since", "Wed, 21 Oct 2015 07:28:00 GMT", true},
		{"SSE-C algorithm", "X-Amz-Server-Side-Encryption-Customer-Algorithm", "AES256", true},
		{"SSE-C key", "X-Amz-Server-Side-Encryption-Customer-Key", "a2V5", true},
		{"SSE-C key MD5, any case", "x-amz-server-side-encryption-customer-key-MD5", "bWQ1", true},
		{"checksum mode", "X-Amz-Checksum-Mode", "ENABLED", true},
		{"request payer", "X-Amz-Request-Payer", "requester", true},
		{"expected owner", "X-Amz-Expected-Bucket-Owner", "111122223333", true},
		{"lowercase range", "range", "bytes=1-2", true},
		{"Authorization", "Authorization", "AWS4-HMAC-SHA256 Credential=CLIENT/x", false},
		{"X-Amz-Date", "X-Amz-Date", "20240101T000000Z", false},
		{"X-Amz-Security-Token", "X-Amz-Security-Token", "client-token", false},
		{"X-Amz-Content-Sha256", "X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD", false},
		{"X-Amz-Acl", "X-Amz-Acl", "public-read", false},
		{"Cookie", "Cookie", "session=secret", false},
		{"X-Forwarded-For", "X-Forwarded-For", "10.0.0.1", false},
		{"Accept-Encoding", "Accept-Encoding", "gzip", false},
		{"X-Amz-Meta-Foo", "X-Amz-Meta-Foo", "bar", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := parseRequestHeader(t, tt.header+": "+tt.value)
			var dst fasthttp.RequestHeader
			copyForwardedHeaders(&dst, src)
			got := string(dst.Peek(tt.header))
			switch {
			case tt.forward && got != tt.value:
				t.Errorf("after copyForwardedHeaders, %s = %q, want %q", tt.header, got, tt.value)
			case !tt.forward && got != "":
				t.Errorf("after copyForwardedHeaders, %s = %q, want it dropped", tt.header, got)
			}
		})
	}
}

// TestCopyForwardedHeadersOnlyAllowed copies a header set holding everything
// at once and checks that nothing else reached the upstream request.
func TestCopyForwardedHeadersOnlyAllowed(t *testing.T) {
	src := parseRequestHeader(t,
		"Range: bytes=0-9",
		"Authorization: AWS4-HMAC-SHA256 Credential=CLIENT/x",
		"Cookie: a=b",
		"X-Forwarded-For: 10.0.0.1",
		"X-Amz-Security-Token: tok",
		"If-None-Match: \"e\"",
		"User-Agent: curl",
	)
	var dst fasthttp.RequestHeader
	copyForwardedHeaders(&dst, src)
	var got []string
	for k, v := range dst.All() {
		got = append(got, string(k)+": "+string(v))
	}
	want := []string{"Range: bytes=0-9", `If-None-Match: "e"`}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("upstream headers = %q, want %q", got, want)
	}
}

// parseRequestHeader parses a client GET request with the given header lines,
// as the gateway's fasthttp server would.
func parseRequestHeader(t testing.TB, lines ...string) *fasthttp.RequestHeader {
	t.Helper()
	raw := "GET /media/a HTTP/1.1\r\nHost: proxy\r\n" + strings.Join(lines, "\r\n") + "\r\n\r\n"
	var req fasthttp.Request
	if err := req.Read(bufio.NewReader(strings.NewReader(raw))); err != nil {
		t.Fatalf("parsing test request: %v", err)
	}
	h := new(fasthttp.RequestHeader)
	req.Header.CopyTo(h)
	return h
}
