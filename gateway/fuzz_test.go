package gateway

import (
	"bufio"
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/valyala/fasthttp"

	"yatagarasu/buckets"
)

// FuzzCheckPath feeds checkPath once-decoded paths. Whatever it accepts has,
// in its own bytes and after a second (forgiving) decode, no "." or ".."
// segment between '/' or '\' (overlong UTF-8 read as the ASCII it encodes)
// and no control byte; it is valid UTF-8; and with injection blocking on it
// carries no injection pattern. Blocking injection refuses exactly the
// paths with a pattern, nothing broader.
func FuzzCheckPath(f *testing.F) {
	for _, file := range []string{"directory_traversal.txt", "deep_traversal.txt", "traversals-8-deep-exotic-encoding.txt"} {
		for _, p := range traversalPayloads(f, file) {
			raw := []byte("/media/" + p)
			f.Add(raw)
			if once, ok := buckets.AppendUnescapedPath(nil, raw); ok {
				f.Add(once) // what the handler passes to checkPath
			}
		}
	}
	for _, s := range []string{
		"/media/k", "/media/100%", "/media/%2e%2e/x", "/media/a%2fb", "/media/<script>", "/media/' OR '1'='1",
		"/media/'; DROP TABLE t", "/media/JavaScript:x", "/media/日本", "/media/....//x", "/media/..;/x",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, decoded []byte) {
		scratch := make([]byte, 0, 16) // small: the second decode must grow it
		open := checkPath(decoded, false, &scratch)
		blocking := checkPath(decoded, true, &scratch)
		if open != "" && blocking != open {
			t.Fatalf("checkPath(%q) = %q without injection blocking but %q with it", decoded, open, blocking)
		}
		if blocking == "" && hasPattern(decoded) {
			t.Fatalf("checkPath(%q, blocking) accepted an injection pattern", decoded)
		}
		if open != "" {
			return
		}
		if blocking != "" && !hasPattern(decoded) {
			t.Fatalf("checkPath(%q, blocking) = %q, but it carries no pattern", decoded, blocking)
		}
		if !utf8.Valid(decoded) {
			t.Fatalf("checkPath accepted invalid UTF-8 %q", decoded)
		}
		if hasControl(decoded) || hasDotSeg(decoded) {
			t.Fatalf("checkPath accepted %q: a control byte or dot segment", decoded)
		}
		twice := foldOverlong(lenientUnescape(decoded))
		if hasControl(twice) || hasDotSeg(twice) {
			t.Fatalf("checkPath accepted %q: decoded again it is %q, with a control byte or dot segment", decoded, twice)
		}
	})
}

// hasPattern is the fuzz oracle for the injection patterns: ASCII
// case-insensitive substring search.
func hasPattern(s []byte) bool {
	lower := asciiLower(string(s))
	for _, p := range []string{"'; drop table", "' or '1'='1", "<script", "javascript:"} {
		if strings.Contains(lower, p) {
			return true
		}
	}
	return false
}

// asciiLower lowers ASCII letters only, as HTTP and the patterns do.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// FuzzScanHeaders feeds scanHeaders raw header blocks. Whatever it accepts
// has at most one Content-Length and one Transfer-Encoding, not both, no
// obs-fold line, no line ending in a bare LF, and facts that match those
// lines. When fasthttp parses the
// same block into a request, both read the same framing: fasthttp's
// Content-Length (-1 chunked, -2 none) is what scanHeaders found.
func FuzzScanHeaders(f *testing.F) {
	for _, sc := range append(smugglerGadgets(f), gardenTrophies(f)...) {
		if _, rest, ok := bytes.Cut(sc.raw, []byte("\n")); ok {
			f.Add(rest) // the header block (and any body)
		}
	}
	for _, s := range []string{
		"Host: a\r\n\r\n",
		"Host: a\r\nContent-Length: 5\r\n\r\n",
		"Host: a\r\nTransfer-Encoding: chunked\r\n\r\n",
		"Host: a\r\nX: a\r\n b\r\n\r\n",
		"Host: a\r\nX: a\nContent-Length: 1\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		facts, reason := scanHeaders(raw)
		if reason == "" {
			checkAcceptedHeaders(t, raw, facts)
		}
		// The same block behind a request line, through fasthttp.
		req := append([]byte("GET /media/k HTTP/1.1\r\n"), raw...)
		var h fasthttp.RequestHeader
		if err := h.Read(bufio.NewReaderSize(bytes.NewReader(req), len(req)+16)); err != nil {
			return
		}
		facts, reason = scanHeaders(h.RawHeaders())
		if reason != "" {
			return
		}
		checkAcceptedHeaders(t, h.RawHeaders(), facts)
		want := facts.contentLength
		switch {
		case facts.chunked:
			want = -1
		case want < 0:
			want = -2
		}
		if got := h.ContentLength(); int64(got) != want {
			t.Fatalf("framing differs: scanHeaders found %+v, fasthttp Content-Length %d, in %q", facts, got, h.RawHeaders())
		}
		if facts.hosts == 0 && len(h.Host()) > 0 {
			t.Fatalf("scanHeaders found no Host, fasthttp found %q, in %q", h.Host(), h.RawHeaders())
		}
	})
}

// checkAcceptedHeaders checks a header block scanHeaders accepted, line by
// line. Every line ends in CRLF: one that ends in a bare LF is a line to
// fasthttp but part of a field value to a CRLF-only parser, so the two would
// not see the same fields.
func checkAcceptedHeaders(t *testing.T, raw []byte, facts headerFacts) {
	t.Helper()
	cl, te, hosts := 0, 0, 0
	lines := strings.Split(string(raw), "\n")
	for i, line := range lines {
		if i < len(lines)-1 && !strings.HasSuffix(line, "\r") {
			t.Fatalf("accepted a line ending in a bare LF, %q, in %q", line, raw)
		}
		line = strings.TrimSuffix(line, "\r")
		if line == "" {
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			t.Fatalf("accepted an obs-fold line %q in %q", line, raw)
		}
		name, _, _ := strings.Cut(line, ":")
		switch asciiLower(name) {
		case "content-length":
			cl++
		case "transfer-encoding":
			te++
		case "host":
			hosts++
		}
	}
	if cl > 1 || te > 1 || (cl > 0 && te > 0) {
		t.Fatalf("accepted %d Content-Length and %d Transfer-Encoding lines in %q", cl, te, raw)
	}
	if (cl == 1) != (facts.contentLength >= 0) || (te == 1) != facts.chunked || hosts != facts.hosts {
		t.Fatalf("facts %+v for %d Content-Length, %d Transfer-Encoding, %d Host lines in %q", facts, cl, te, hosts, raw)
	}
}
