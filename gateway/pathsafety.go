package gateway

import (
	"bytes"
	"unicode/utf8"

	"yatagarasu/buckets"
)

// injectionPatterns are matched case-insensitively on the once-decoded path
// when [server.security] block_injection_patterns is on. Nothing broader: a
// lone quote, '=' or '&' is an ordinary key character.
var injectionPatterns = []string{"'; drop table", "' or '1'='1", "<script", "javascript:"}

// checkPath screens the once-decoded request path. It rejects what no S3 key
// should carry and what a backend or log viewer may interpret: control
// characters and NUL, invalid UTF-8 (overlong encodings of '.' and '/'
// included), "." and ".." segments separated by '/' or '\', and such segments
// or control characters that a second decode would produce
// ("%252e%252e%252f"). Keys that merely contain '%' or "%2F" pass. It returns
// a rejection reason or "". scratch is reused for the second decode.
func checkPath(decoded []byte, blockInjection bool, scratch *[]byte) string {
	for _, c := range decoded {
		if c < 0x20 || c == 0x7f {
			return reasonControlChar
		}
	}
	if !utf8.Valid(decoded) {
		return reasonInvalidUTF8
	}
	if hasDotSegment(decoded) {
		return reasonDotSegment
	}
	if bytes.IndexByte(decoded, '%') >= 0 {
		// A second decode that fails is just a key with a '%' in it.
		if twice, ok := buckets.AppendUnescapedPath((*scratch)[:0], decoded); ok {
			*scratch = twice
			if hasDotSegment(twice) {
				return reasonDoubleEncoding
			}
			for _, c := range twice {
				if c < 0x20 || c == 0x7f {
					return reasonDoubleEncoding
				}
			}
		}
	}
	if blockInjection && hasInjection(decoded) {
		return reasonInjection
	}
	return ""
}

// hasInjection reports whether s contains an injection pattern, in one pass:
// only where a pattern's first byte appears is the pattern compared.
func hasInjection(s []byte) bool {
	for i, c := range s {
		switch c {
		case '\'', '<', 'j', 'J':
			for _, p := range injectionPatterns {
				if (p[0] == c || p[0] == c+'a'-'A') && i+len(p) <= len(s) && equalFold(s[i:i+len(p)], p) {
					return true
				}
			}
		}
	}
	return false
}

// hasDotSegment reports whether p has a "." or ".." segment, with '/' and '\'
// both counted as separators.
func hasDotSegment(p []byte) bool {
	start := 0
	for i := 0; i <= len(p); i++ {
		if i == len(p) || p[i] == '/' || p[i] == '\\' {
			seg := p[start:i]
			if (len(seg) == 1 && seg[0] == '.') || (len(seg) == 2 && seg[0] == '.' && seg[1] == '.') {
				return true
			}
			start = i + 1
		}
	}
	return false
}
