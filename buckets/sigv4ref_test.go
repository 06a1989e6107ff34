package buckets

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"
)

// refSigV4 is an independent SigV4 implementation for S3 requests, written
// from AWS's "Signature Calculations for the Authorization Header" and checked
// against its published examples in TestRefSigV4AWSExamples. It is the oracle
// for sign and for what the test origin receives, so it shares no code with
// the package: the path is used as sent (S3 does not re-encode it), the query
// is decoded and canonicalised here, and headers are given by lowercase name.
type refSigV4 struct {
	method   string
	host     string
	path     string            // as on the request line
	rawQuery string            // as on the request line, without '?'
	headers  map[string]string // lowercase name → value, host excluded
	signed   []string          // lowercase names to sign, host included
	secret   string
	region   string
	at       time.Time
}

// signature returns the hex signature of r, or an error for a query that is
// not valid percent-encoding.
func (r refSigV4) signature() (string, error) {
	query, err := refCanonicalQuery(r.rawQuery)
	if err != nil {
		return "", err
	}
	signed := append([]string(nil), r.signed...)
	sort.Strings(signed)
	var canonHeaders strings.Builder
	for _, name := range signed {
		v := r.headers[name]
		if name == "host" {
			v = r.host
		}
		fmt.Fprintf(&canonHeaders, "%s:%s\n", name, strings.Join(strings.Fields(v), " "))
	}
	payload := r.headers["x-amz-content-sha256"]
	canonical := strings.Join([]string{
		r.method, r.path, query, canonHeaders.String(), strings.Join(signed, ";"), payload,
	}, "\n")
	date := r.at.UTC().Format("20060102")
	scope := date + "/" + r.region + "/s3/aws4_request"
	sum := sha256.Sum256([]byte(canonical))
	toSign := "AWS4-HMAC-SHA256\n" + r.at.UTC().Format("20060102T150405Z") + "\n" + scope + "\n" + hex.EncodeToString(sum[:])
	key := refHMAC([]byte("AWS4"+r.secret), date)
	key = refHMAC(key, r.region)
	key = refHMAC(key, "s3")
	key = refHMAC(key, "aws4_request")
	return hex.EncodeToString(refHMAC(key, toSign)), nil
}

func refHMAC(key []byte, data string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(data))
	return h.Sum(nil)
}

// refCanonicalQuery decodes raw ('+' is a space) and re-encodes it the SigV4
// way, sorted by encoded name then value.
func refCanonicalQuery(raw string) (string, error) {
	type pair struct{ k, v string }
	var pairs []pair
	for _, part := range strings.Split(raw, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		dk, err := url.QueryUnescape(k)
		if err != nil {
			return "", err
		}
		dv, err := url.QueryUnescape(v)
		if err != nil {
			return "", err
		}
		pairs = append(pairs, pair{refEscape(dk), refEscape(dv)})
	}
	sort.Slice(pairs, func(i, j int) bool {
		if pairs[i].k != pairs[j].k {
			return pairs[i].k < pairs[j].k
		}
		return pairs[i].v < pairs[j].v
	})
	parts := make([]string, len(pairs))
	for i, p := range pairs {
		parts[i] = p.k + "=" + p.v
	}
	return strings.Join(parts, "&"), nil
}

// refEscape is SigV4's URI encoding for query names and values.
func refEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || strings.IndexByte("-_.~", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// authorization is a parsed AWS4-HMAC-SHA256 Authorization header.
type authorization struct {
	credential, signature string
	signedHeaders         []string
}

// parseAuthorization accepts both the SDK's ", " and AWS's "," separators.
func parseAuthorization(h string) (authorization, error) {
	rest, ok := strings.CutPrefix(h, "AWS4-HMAC-SHA256 ")
	if !ok {
		return authorization{}, fmt.Errorf("authorization %q is not AWS4-HMAC-SHA256", h)
	}
	var a authorization
	for _, f := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(f), "=")
		switch k {
		case "Credential":
			a.credential = v
		case "SignedHeaders":
			a.signedHeaders = strings.Split(v, ";")
		case "Signature":
			a.signature = v
		default:
			return authorization{}, fmt.Errorf("authorization %q: unexpected field %q", h, k)
		}
	}
	if a.credential == "" || a.signature == "" || len(a.signedHeaders) == 0 {
		return authorization{}, fmt.Errorf("authorization %q lacks a field", h)
	}
	return a, nil
}
