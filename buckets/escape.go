package buckets

// shouldEscape reports whether SigV4's URI encoding escapes c: everything but
// the unreserved characters A-Z a-z 0-9 - _ . ~ (and '/' in paths).
func shouldEscape(c byte, path bool) bool {
	switch {
	case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		return false
	case c == '-', c == '_', c == '.', c == '~':
		return false
	case c == '/':
		return !path
	}
	return true
}

const upperhex = "0123456789ABCDEF"

// appendEscaped appends s in SigV4's canonical URI encoding (uppercase hex,
// space as %20): the form S3 expects in both the request line and the
// canonical request, so what is sent is what is signed.
func appendEscaped(dst []byte, s []byte, path bool) []byte {
	for _, c := range s {
		if shouldEscape(c, path) {
			dst = append(dst, '%', upperhex[c>>4], upperhex[c&15])
		} else {
			dst = append(dst, c)
		}
	}
	return dst
}

// unhex returns the value of a hex digit and whether c is one.
func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// appendUnescaped appends the percent-decoding of s to dst; with plusSpace, a
// '+' decodes to a space (query strings). ok is false on a malformed escape (a
// '%' not followed by two hex digits), and dst is then unspecified.
func appendUnescaped(dst, s []byte, plusSpace bool) (_ []byte, ok bool) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '%':
			if i+2 >= len(s) {
				return dst, false
			}
			hi, ok1 := unhex(s[i+1])
			lo, ok2 := unhex(s[i+2])
			if !ok1 || !ok2 {
				return dst, false
			}
			dst = append(dst, hi<<4|lo)
			i += 2
		case c == '+' && plusSpace:
			dst = append(dst, ' ')
		default:
			dst = append(dst, c)
		}
	}
	return dst, true
}

// AppendUnescapedPath appends the percent-decoding of a request path ('+' stays
// '+'); ok is false on a malformed escape. The gateway decodes exactly once.
func AppendUnescapedPath(dst, path []byte) ([]byte, bool) {
	return appendUnescaped(dst, path, false)
}
