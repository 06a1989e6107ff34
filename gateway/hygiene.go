package gateway

import (
	"bytes"

	"github.com/valyala/fasthttp"

	"yatagarasu/buckets"
	"yatagarasu/config"
)

// Rejection reasons: the `reason` label of security_rejections_total.
const (
	reasonURITooLong       = "uri_too_long"
	reasonHeaderTooLarge   = "header_too_large"
	reasonBodyTooLarge     = "body_too_large"
	reasonBodyOnRead       = "body_on_get"
	reasonBadTarget        = "bad_target"
	reasonBadHeader        = "bad_header"
	reasonObsFold          = "obs_fold"
	reasonHost             = "host"
	reasonContentLength    = "content_length"
	reasonTransferEncoding = "transfer_encoding"
	reasonControlChar      = "control_char"
	reasonDotSegment       = "dot_segment"
	reasonDoubleEncoding   = "double_encoding"
	reasonInvalidUTF8      = "invalid_utf8"
	reasonBadEscape        = "bad_escape"
	reasonInjection        = "injection"
	reasonUnparsable       = "unparsable"
	reasonSlowRequest      = "slow_request"
)

var securityReasons = []string{reasonURITooLong, reasonHeaderTooLarge, reasonBodyTooLarge, reasonBodyOnRead,
	reasonBadTarget, reasonBadHeader, reasonObsFold, reasonHost, reasonContentLength, reasonTransferEncoding,
	reasonControlChar, reasonDotSegment, reasonDoubleEncoding, reasonInvalidUTF8, reasonBadEscape, reasonInjection,
	reasonUnparsable, reasonSlowRequest}

// headerFacts is what scanHeaders learns about the framing headers.
type headerFacts struct {
	hosts         int
	contentLength int64 // -1 when absent
	chunked       bool  // Transfer-Encoding: chunked
}

// scanHeaders checks the raw header block (the lines after the request line,
// as the client sent them) for the shapes request smuggling and header
// injection use, which a parser may otherwise accept or resolve differently
// from the next hop: obs-fold continuation lines, malformed names, control
// characters in values, repeated Host, repeated or non-numeric
// Content-Length, any Transfer-Encoding but a single "chunked", and
// Content-Length next to Transfer-Encoding. It returns a reason or "". It
// does not allocate.
func scanHeaders(raw []byte) (headerFacts, string) {
	f := headerFacts{contentLength: -1}
	te := 0
	for len(raw) > 0 {
		var line []byte
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			// A bare LF would end a line here but not for a CRLF-only parser
			// further down: two parsers, two readings of one request.
			if i == 0 || raw[i-1] != '\r' {
				return f, reasonBadHeader
			}
			line, raw = raw[:i-1], raw[i+1:]
		} else {
			line, raw = raw, nil
		}
		if len(line) == 0 {
			continue // the blank line that ends the block
		}
		if line[0] == ' ' || line[0] == '\t' {
			return f, reasonObsFold
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || !isToken(line[:colon]) {
			return f, reasonBadHeader
		}
		name, value := line[:colon], trimOWS(line[colon+1:])
		for _, c := range value {
			if (c < 0x20 && c != '\t') || c == 0x7f {
				return f, reasonControlChar
			}
		}
		switch {
		case equalFold(name, "host"):
			f.hosts++
		case equalFold(name, "content-length"):
			if f.contentLength >= 0 || len(value) == 0 || len(value) > 18 {
				return f, reasonContentLength
			}
			var n int64
			for _, c := range value {
				if c < '0' || c > '9' {
					return f, reasonContentLength
				}
				n = n*10 + int64(c-'0')
			}
			f.contentLength = n
		case equalFold(name, "transfer-encoding"):
			te++
			if te > 1 || !equalFold(value, "chunked") {
				return f, reasonTransferEncoding
			}
			f.chunked = true
		}
	}
	if f.chunked && f.contentLength >= 0 {
		return f, reasonTransferEncoding
	}
	return f, ""
}

// checkRequest applies [server.limits] and the framing rules to a request
// fasthttp has parsed, before anything is decoded or routed. It returns the
// error to answer with (nil: go on) and the rejection reason.
func checkRequest(ctx *fasthttp.RequestCtx, l *config.Limits, m buckets.Method, uri []byte) (error, string) {
	if len(uri) > l.MaxURILength {
		return ErrURITooLong, reasonURITooLong
	}
	if len(uri) == 0 || uri[0] != '/' {
		return ErrBadPath, reasonBadTarget
	}
	raw := ctx.Request.Header.RawHeaders()
	if len(raw) > l.MaxHeaderSize {
		return ErrHeaderTooLarge, reasonHeaderTooLarge
	}
	f, reason := scanHeaders(raw)
	if reason != "" {
		return ErrBadRequest, reason
	}
	if f.hosts > 1 || (f.hosts == 0 && ctx.Request.Header.IsHTTP11()) {
		return ErrBadRequest, reasonHost
	}
	if f.contentLength > l.MaxRequestSize {
		return ErrBodyTooLarge, reasonBodyTooLarge
	}
	if (f.chunked || f.contentLength > 0) && m != buckets.MethodOther {
		return ErrBadRequest, reasonBodyOnRead
	}
	return nil, ""
}

// tokenChars marks the bytes allowed in an RFC 9110 token.
var tokenChars = func() (t [256]bool) {
	for c := '!'; c <= '~'; c++ {
		t[c] = true
	}
	for _, c := range `"(),/:;<=>?@[\]{}` {
		t[c] = false
	}
	return t
}()

// isToken reports whether b is an RFC 9110 token (a header name).
func isToken(b []byte) bool {
	for _, c := range b {
		if !tokenChars[c] {
			return false
		}
	}
	return len(b) > 0
}

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// equalFold compares b with the lowercase ASCII s, ignoring case.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}
