package buckets

import (
	"bytes"

	"github.com/valyala/fasthttp"
)

// readQueryParams are the GetObject/HeadObject query parameters forwarded to S3
// (and signed). Every other client parameter is dropped: it is either
// meaningless on a read or a credential (X-Amz-Signature, tokens…).
var readQueryParams = [...]string{
	"partNumber",
	"response-cache-control",
	"response-content-disposition",
	"response-content-encoding",
	"response-content-language",
	"response-content-type",
	"response-expires",
	"versionId",
}

// QueryFilter chooses the client query parameters that reach S3. The zero
// QueryFilter keeps the object-read parameters only (readQueryParams).
type QueryFilter struct {
	// All keeps every parameter but credentials (X-Amz-*, which a presigned
	// client URL carries) and those named in Drop: bucket-level requests
	// (listing, location) forward their query as sent.
	All bool
	// Drop names parameters never forwarded (a token's query source).
	Drop []string
}

func (f *QueryFilter) keep(name []byte) bool {
	if !f.All {
		return isReadQueryParam(name)
	}
	if len(name) >= 6 && equalFoldASCII(name[:6], "x-amz-") {
		return false
	}
	for _, d := range f.Drop {
		if string(name) == d {
			return false
		}
	}
	return true
}

func equalFoldASCII(b []byte, lower string) bool {
	for i := range b {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

func isReadQueryParam(key []byte) bool {
	for _, p := range readQueryParams {
		if string(key) == p {
			return true
		}
	}
	return false
}

// forwardedHeaders are the client request headers that reach S3: the range and
// conditional headers, and the x-amz-* headers a read may carry (SSE-C keys,
// checksum mode, requester pays, expected owner). Everything else, client
// credentials (Authorization, X-Amz-Date, X-Amz-Security-Token,
// X-Amz-Content-Sha256) included, is dropped.
var forwardedHeaders = [...]string{
	"Range",
	"If-Match",
	"If-None-Match",
	"If-Modified-Since",
	"If-Unmodified-Since",
	"X-Amz-Server-Side-Encryption-Customer-Algorithm",
	"X-Amz-Server-Side-Encryption-Customer-Key",
	"X-Amz-Server-Side-Encryption-Customer-Key-Md5",
	"X-Amz-Checksum-Mode",
	"X-Amz-Request-Payer",
	"X-Amz-Expected-Bucket-Owner",
}

// queryParam locates one encoded name=value pair in a scratch buffer: the
// name is scratch[start:mid], the value scratch[mid:end].
type queryParam struct{ start, mid, end int }

// appendCanonicalQuery appends to dst the parameters of the client's raw query
// that f keeps, in SigV4 canonical form: each name and value decoded once
// ('+' as a space) and re-encoded with SigV4's rules (unreserved characters
// kept, everything else %XX, a space as %20), sorted by encoded name, then
// encoded value. That is both what is signed and what is sent, and the same
// parameters S3 decodes from the client's own encoding (empty values, "%0A",
// "%2F", base64 tokens ending in "%3D%3D" included). scratch is working space,
// returned for reuse. ok is false when any parameter, kept or not, is
// malformed percent-encoding.
func appendCanonicalQuery(dst, scratch, raw []byte, f *QueryFilter) (out, scratchOut []byte, ok bool) {
	var pairs [8]queryParam
	kept := pairs[:0]
	scratch = scratch[:0]
	var dec [256]byte // decoded name, then value, of one parameter
	for len(raw) > 0 {
		var part []byte
		if i := bytes.IndexByte(raw, '&'); i >= 0 {
			part, raw = raw[:i], raw[i+1:]
		} else {
			part, raw = raw, nil
		}
		if len(part) == 0 {
			continue
		}
		name, value, _ := bytes.Cut(part, []byte{'='})
		n, ok := appendUnescaped(dec[:0], name, true)
		if !ok {
			return dst, scratch, false
		}
		if !f.keep(n) {
			// Still check the value: a malformed escape anywhere is refused.
			if _, ok := appendUnescaped(dec[:0], value, true); !ok {
				return dst, scratch, false
			}
			continue
		}
		p := queryParam{start: len(scratch)}
		scratch = appendEscaped(scratch, n, false)
		p.mid = len(scratch)
		v, ok := appendUnescaped(dec[:0], value, true)
		if !ok {
			return dst, scratch, false
		}
		scratch = appendEscaped(scratch, v, false)
		p.end = len(scratch)
		kept = append(kept, p)
	}
	// Insertion sort: a handful of pairs, and no allocation (sort.Slice has one).
	for i := 1; i < len(kept); i++ {
		for j := i; j > 0 && queryLess(scratch, kept[j], kept[j-1]); j-- {
			kept[j], kept[j-1] = kept[j-1], kept[j]
		}
	}
	for i, p := range kept {
		if i > 0 {
			dst = append(dst, '&')
		}
		dst = append(dst, scratch[p.start:p.mid]...)
		dst = append(dst, '=')
		dst = append(dst, scratch[p.mid:p.end]...)
	}
	return dst, scratch, true
}

// queryLess orders encoded pairs by name, then value, as SigV4's canonical
// query does.
func queryLess(scratch []byte, a, b queryParam) bool {
	if c := bytes.Compare(scratch[a.start:a.mid], scratch[b.start:b.mid]); c != 0 {
		return c < 0
	}
	return bytes.Compare(scratch[a.mid:a.end], scratch[b.mid:b.end]) < 0
}

// forwardedValues holds a request's values of forwardedHeaders, by index; nil
// where the header is absent.
type forwardedValues [len(forwardedHeaders)][]byte

// collect fills v from h in one pass over its headers (a Peek per name would
// normalise and scan eleven times). The first value of a repeated header
// wins, as with Peek. The values alias h's storage.
func (v *forwardedValues) collect(h *fasthttp.RequestHeader) {
	for k, val := range h.All() {
		if len(val) == 0 {
			continue
		}
		if i := forwardedIndex(k); i >= 0 && v[i] == nil {
			v[i] = val
		}
	}
}

// forwardedIndex returns the index in forwardedHeaders of the header named
// key (in fasthttp's normalised form), or -1.
func forwardedIndex(key []byte) int {
	switch {
	case len(key) < 5:
		return -1
	case key[0] == 'R' || key[0] == 'I' || key[0] == 'X':
		for i, name := range forwardedHeaders {
			if string(key) == name {
				return i
			}
		}
	}
	return -1
}

// copyForwardedHeaders copies the allowed client headers into the upstream
// request.
func copyForwardedHeaders(dst *fasthttp.RequestHeader, src *fasthttp.RequestHeader) {
	var v forwardedValues
	v.collect(src)
	for i, val := range v {
		if val != nil {
			dst.SetBytesV(forwardedHeaders[i], val)
		}
	}
}
