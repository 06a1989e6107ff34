package gateway

import (
	"bytes"
	"unicode/utf8"
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
		// Decode again as a forgiving backend would: a malformed escape
		// elsewhere must not switch the check off ("%252e%252e%252f…%25zz").
		twice := appendUnescapedLenient((*scratch)[:0], decoded)
		*scratch = twice
		if hasDotSegment(twice) || hasOverlong(twice) {
			return reasonDoubleEncoding
		}
		for _, c := range twice {
			if c < 0x20 || c == 0x7f {
				return reasonDoubleEncoding
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

// appendUnescapedLenient appends p with every well-formed %XX escape decoded
// and any other '%' kept literally, the way a forgiving decoder further down
// would read it. It allocates only when dst is too small.
func appendUnescapedLenient(dst, p []byte) []byte {
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c == '%' && i+2 < len(p) && isHex(p[i+1]) && isHex(p[i+2]) {
			dst = append(dst, unhex(p[i+1])<<4|unhex(p[i+2]))
			i += 2
			continue
		}
		dst = append(dst, c)
	}
	return dst
}

// hasOverlong reports whether p holds the lead of an overlong UTF-8 sequence
// (C0/C1, E0 80–9F, F0 80–8F), the forms lenient decoders fold into '.', '/',
// '\' or NUL. Other invalid UTF-8 in a twice-decoded key is left alone: a key
// such as "100%cafe" legitimately decodes to a stray byte.
func hasOverlong(p []byte) bool {
	for i, c := range p {
		switch {
		case c == 0xc0 || c == 0xc1:
			return true
		case c == 0xe0 && i+1 < len(p) && p[i+1] >= 0x80 && p[i+1] < 0xa0:
			return true
		case c == 0xf0 && i+1 < len(p) && p[i+1] >= 0x80 && p[i+1] < 0x90:
			return true
		}
	}
	return false
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}
