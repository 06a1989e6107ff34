package buckets

import (
	"bytes"
	"crypto/sha256"
	"encoding"
	"encoding/hex"
	"hash"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/valyala/fasthttp"
)

// emptyPayloadHash is the SHA-256 of an empty body: GET and HEAD carry none.
const emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// signedHeader is one header the signer may sign, in the order SigV4's
// canonical request lists them (sorted by lower-case name).
type signedHeader struct {
	lower string // as it appears in the canonical request
	kind  signedKind
	fwd   int // for fromRequest: the index in forwardedHeaders
}

type signedKind uint8

const (
	fromRequest   signedKind = iota // signed when the upstream request carries it
	hostHeader                      // the upstream Host
	contentSHA256                   // x-amz-content-sha256, always
	amzDate                         // x-amz-date, always
	securityToken                   // x-amz-security-token, with temporary credentials
)

// signedHeaders lists every header the upstream request can carry that SigV4
// covers, sorted: Host, the forwarded client headers (forwardedHeaders) and
// the signer's own x-amz headers. User-Agent is not signed, as in the SDK.
var signedHeaders = [...]signedHeader{
	{"host", hostHeader, -1},
	{"if-match", fromRequest, fwd("If-Match")},
	{"if-modified-since", fromRequest, fwd("If-Modified-Since")},
	{"if-none-match", fromRequest, fwd("If-None-Match")},
	{"if-unmodified-since", fromRequest, fwd("If-Unmodified-Since")},
	{"range", fromRequest, fwd("Range")},
	{"x-amz-checksum-mode", fromRequest, fwd("X-Amz-Checksum-Mode")},
	{"x-amz-content-sha256", contentSHA256, -1},
	{"x-amz-date", amzDate, -1},
	{"x-amz-expected-bucket-owner", fromRequest, fwd("X-Amz-Expected-Bucket-Owner")},
	{"x-amz-request-payer", fromRequest, fwd("X-Amz-Request-Payer")},
	{"x-amz-security-token", securityToken, -1},
	{"x-amz-server-side-encryption-customer-algorithm", fromRequest, fwd("X-Amz-Server-Side-Encryption-Customer-Algorithm")},
	{"x-amz-server-side-encryption-customer-key", fromRequest, fwd("X-Amz-Server-Side-Encryption-Customer-Key")},
	{"x-amz-server-side-encryption-customer-key-md5", fromRequest, fwd("X-Amz-Server-Side-Encryption-Customer-Key-Md5")},
}

// fwd returns name's index in forwardedHeaders; the table above cannot name
// a header that is not forwarded.
func fwd(name string) int {
	if i := forwardedIndex([]byte(name)); i >= 0 {
		return i
	}
	panic("buckets: " + name + " is signed but not forwarded")
}

// signingKey is the derived SigV4 key of one day, region and secret, kept
// as the SHA-256 states of its HMAC after the inner and outer pad blocks
// (the two blocks every signature would otherwise hash again).
type signingKey struct {
	id           uint64  // unique in the process, never reused (signingKeyIDs)
	day          [8]byte // "20060102"
	accessKeyID  string
	secret       string
	inner, outer []byte // marshalled sha256 states: key^ipad, key^opad hashed
}

// signingKeyIDs numbers derived keys, from 1: a remembered signature names
// its key by id.
var signingKeyIDs atomic.Uint64

// sigV4 signs one bucket's upstream requests (service s3, one region) over
// fasthttp's own headers, without allocating: it is the SDK's v4.Signer
// (kept as the oracle of a differential test) rewritten for a request whose
// path and query are already canonical. The derived key is cached until the
// day or the credentials change. Its methods are safe for concurrent use; the
// zero value is not usable, use newSigV4.
type sigV4 struct {
	region string
	key    atomic.Pointer[signingKey]
	recent *signatures // sharedSignatures, unless a test gives it its own
}

func newSigV4(region string) *sigV4 { return &sigV4{region: region, recent: sharedSignatures} }

// signBuf is one signing's working space; pooled.
type signBuf struct {
	canon, toSign, auth, mac []byte
	h                        hash.Hash // sha256, restored from a signingKey state
}

var signBufPool = sync.Pool{New: func() any {
	return &signBuf{
		canon:  make([]byte, 0, 1024),
		toSign: make([]byte, 0, 256),
		auth:   make([]byte, 0, 512),
		mac:    make([]byte, 0, 512),
		h:      sha256.New(),
	}
}}

// sign adds SigV4 headers (X-Amz-Content-Sha256, X-Amz-Date, Authorization
// and, for temporary credentials, X-Amz-Security-Token) to req, whose method
// and forwarded headers are set. host is the Host header as sent (without a
// default port: it is signed as is), path the escaped path and query the
// canonical query (appendCanonicalQuery), both exactly as sent.
func (s *sigV4) sign(req *fasthttp.Request, host string, path, query []byte, creds aws.Credentials, now time.Time) error {
	if creds.AccessKeyID == "" || creds.SecretAccessKey == "" {
		return ErrSigning
	}
	now = now.UTC()
	var stamp [16]byte // "20060102T150405Z"
	appendAmzDate(stamp[:0], now)
	day := [8]byte(stamp[:8])

	req.Header.Set("X-Amz-Content-Sha256", emptyPayloadHash)
	req.Header.SetBytesV("X-Amz-Date", stamp[:])
	if creds.SessionToken != "" {
		req.Header.Set("X-Amz-Security-Token", creds.SessionToken)
	} else {
		req.Header.Del("X-Amz-Security-Token")
	}

	var fv forwardedValues
	fv.collect(&req.Header)
	b := signBufPool.Get().(*signBuf)
	defer signBufPool.Put(b)

	// The canonical request, with the signed-header list built beside it in
	// b.auth (which later becomes the Authorization value around it).
	c := append(b.canon[:0], req.Header.Method()...)
	c = append(c, '\n')
	c = append(c, path...)
	c = append(c, '\n')
	c = append(c, query...)
	c = append(c, '\n')
	a := append(b.auth[:0], "AWS4-HMAC-SHA256 Credential="...)
	a = append(a, creds.AccessKeyID...)
	a = append(a, '/')
	a = append(a, day[:]...)
	a = append(a, '/')
	a = append(a, s.region...)
	a = append(a, "/s3/aws4_request, SignedHeaders="...)
	list := len(a) // the signed-header list is a[list:]
	first := true
	for i := range signedHeaders {
		h := &signedHeaders[i]
		var v []byte
		switch h.kind {
		case hostHeader:
			c = append(c, h.lower...)
			c = append(c, ':')
			c = appendCanonicalValue(c, []byte(host))
		case contentSHA256:
			c = append(c, h.lower...)
			c = append(c, ':')
			c = append(c, emptyPayloadHash...)
		case amzDate:
			c = append(c, h.lower...)
			c = append(c, ':')
			c = append(c, stamp[:]...)
		case securityToken:
			if creds.SessionToken == "" {
				continue
			}
			c = append(c, h.lower...)
			c = append(c, ':')
			c = appendCanonicalValue(c, []byte(creds.SessionToken))
		default:
			if v = fv[h.fwd]; v == nil {
				continue
			}
			c = append(c, h.lower...)
			c = append(c, ':')
			c = appendCanonicalValue(c, v)
		}
		c = append(c, '\n')
		if !first {
			a = append(a, ';')
		}
		first = false
		a = append(a, h.lower...)
	}
	c = append(c, '\n')
	c = append(c, a[list:]...)
	c = append(c, '\n')
	c = append(c, emptyPayloadHash...)
	b.canon = c

	k := s.signingKey(day, creds, &b.mac)
	slot := s.recent.slot(c)
	if e := slot.Load(); e != nil && e.keyID == k.id && bytes.Equal(e.canon(), c) {
		req.Header.SetBytesV("Authorization", e.auth())
		return nil
	}

	// The string to sign.
	sum := sha256.Sum256(c)
	t := append(b.toSign[:0], "AWS4-HMAC-SHA256\n"...)
	t = append(t, stamp[:]...)
	t = append(t, '\n')
	t = append(t, day[:]...)
	t = append(t, '/')
	t = append(t, s.region...)
	t = append(t, "/s3/aws4_request\n"...)
	t = hex.AppendEncode(t, sum[:])
	b.toSign = t

	sig := k.mac(b, t)
	a = append(a, ", Signature="...)
	a = hex.AppendEncode(a, sig)
	b.auth = a
	req.Header.SetBytesV("Authorization", a)
	s.recent.remember(slot, k.id, stamp, c, a)
	return nil
}

// signingKey returns the derived key for day and creds, from the cache when
// neither has changed since the last signing.
func (s *sigV4) signingKey(day [8]byte, creds aws.Credentials, scratch *[]byte) *signingKey {
	if k := s.key.Load(); k != nil && k.day == day && k.accessKeyID == creds.AccessKeyID && k.secret == creds.SecretAccessKey {
		return k
	}
	k := &signingKey{id: signingKeyIDs.Add(1), day: day, accessKeyID: creds.AccessKeyID, secret: creds.SecretAccessKey}
	seed := append([]byte("AWS4"), creds.SecretAccessKey...)
	kDate := hmacSHA256(scratch, seed, day[:])
	kRegion := hmacSHA256(scratch, kDate[:], []byte(s.region))
	kService := hmacSHA256(scratch, kRegion[:], []byte("s3"))
	key := hmacSHA256(scratch, kService[:], []byte("aws4_request"))
	k.inner, k.outer = padState(key[:], 0x36), padState(key[:], 0x5c)
	s.key.Store(k)
	return k
}

// padState is the marshalled sha256 state after hashing the HMAC pad block
// of key (at most a block long) xored with pad.
func padState(key []byte, pad byte) []byte {
	var block [sha256.BlockSize]byte
	copy(block[:], key)
	for i := range block {
		block[i] ^= pad
	}
	h := sha256.New()
	h.Write(block[:])
	state, err := h.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		panic("buckets: sha256 state: " + err.Error()) // sha256 always marshals
	}
	return state
}

// mac returns HMAC-SHA256 of msg under the derived key, in b.mac, resuming from the pad
// states instead of hashing the pad blocks again.
func (k *signingKey) mac(b *signBuf, msg []byte) []byte {
	u := b.h.(encoding.BinaryUnmarshaler)
	_ = u.UnmarshalBinary(k.inner) // a state MarshalBinary made: cannot fail
	b.h.Write(msg)
	inner := b.h.Sum(b.mac[:0]) // b.mac, not a local array: it would escape
	_ = u.UnmarshalBinary(k.outer)
	b.h.Write(inner)
	b.mac = b.h.Sum(inner)
	return b.mac[sha256.Size:]
}

// hmacSHA256 is HMAC-SHA256 (RFC 2104) computed with sha256.Sum256 over
// scratch, which it grows as needed: crypto/hmac allocates its hash states on
// every use. Keys longer than a block are hashed first, as HMAC requires.
func hmacSHA256(scratch *[]byte, key, msg []byte) [sha256.Size]byte {
	const block = sha256.BlockSize
	var k [block]byte
	if len(key) > block {
		h := sha256.Sum256(key)
		copy(k[:], h[:])
	} else {
		copy(k[:], key)
	}
	buf := (*scratch)[:0]
	for _, c := range k {
		buf = append(buf, c^0x36)
	}
	buf = append(buf, msg...)
	inner := sha256.Sum256(buf)
	buf = buf[:0]
	for _, c := range k {
		buf = append(buf, c^0x5c)
	}
	buf = append(buf, inner[:]...)
	*scratch = buf
	return sha256.Sum256(buf)
}

// appendCanonicalValue appends a header value as SigV4 canonicalises it (and
// the SDK does): runs of spaces collapsed to one, then surrounding whitespace
// trimmed.
func appendCanonicalValue(dst, v []byte) []byte {
	v = bytes.TrimSpace(v)
	for i, c := range v {
		if c == ' ' && i > 0 && v[i-1] == ' ' {
			continue
		}
		dst = append(dst, c)
	}
	return dst
}

// appendAmzDate appends t (UTC) as "20060102T150405Z" without the cost of
// time.Format's layout parsing.
func appendAmzDate(dst []byte, t time.Time) []byte {
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	dst = appendDigits(dst, y, 4)
	dst = appendDigits(dst, int(mo), 2)
	dst = appendDigits(dst, d, 2)
	dst = append(dst, 'T')
	dst = appendDigits(dst, h, 2)
	dst = appendDigits(dst, mi, 2)
	dst = appendDigits(dst, s, 2)
	return append(dst, 'Z')
}

func appendDigits(dst []byte, v, width int) []byte {
	var b [4]byte
	for i := width - 1; i >= 0; i-- {
		b[i] = byte('0' + v%10)
		v /= 10
	}
	return append(dst, b[:width]...)
}
