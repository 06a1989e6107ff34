package buckets

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/valyala/fasthttp"
)

// sigv4Case is one signing: everything sigV4.sign and the SDK's signer read.
type sigv4Case struct {
	method  string
	host    string
	key     string // the object key, escaped into the path as Fetch does
	rawQ    string // the client's raw query, canonicalised as Fetch does
	headers map[string]string
	creds   aws.Credentials
	region  string
	at      time.Time
}

func (c sigv4Case) String() string {
	return fmt.Sprintf("%s %s key=%q q=%q h=%q akid=%q token=%t region=%s at=%s",
		c.method, c.host, c.key, c.rawQ, c.headers, c.creds.AccessKeyID, c.creds.SessionToken != "", c.region, c.at.Format(time.RFC3339Nano))
}

// signBoth signs c with s and with the SDK and reports any difference in the
// headers either adds.
func signBoth(t testing.TB, s *sigV4, c sigv4Case) {
	t.Helper()
	path := appendEscaped([]byte("/bkt/"), []byte(c.key), true)
	query, _, ok := appendCanonicalQuery(nil, nil, []byte(c.rawQ), &QueryFilter{All: true})
	if !ok {
		return // refused before signing
	}
	// Signed twice: the second signing is answered from the signer's
	// remembered signatures when the first was remembered.
	var ours, again, sdk fasthttp.Request
	for _, r := range []*fasthttp.Request{&ours, &again, &sdk} {
		r.Header.SetMethod(c.method)
		for k, v := range c.headers {
			r.Header.Set(k, v)
		}
	}
	if err := s.sign(&ours, c.host, path, query, c.creds, c.at); err != nil {
		t.Fatalf("%v: sign: %v", c, err)
	}
	if err := s.sign(&again, c.host, path, query, c.creds, c.at); err != nil {
		t.Fatalf("%v: sign again: %v", c, err)
	}
	if err := sdkSign(newSDKSigner(), &sdk, "https", c.host, path, query, c.creds, c.region, c.at); err != nil {
		t.Fatalf("%v: SDK sign: %v", c, err)
	}
	for _, h := range []string{"Authorization", "X-Amz-Date", "X-Amz-Content-Sha256", "X-Amz-Security-Token"} {
		want := string(sdk.Header.Peek(h))
		if got := string(ours.Header.Peek(h)); got != want {
			t.Fatalf("%v:\n%s = %q\n SDK: %q", c, h, got, want)
		}
		if got := string(again.Header.Peek(h)); got != want {
			t.Fatalf("%v: signed again:\n%s = %q\n SDK: %q", c, h, got, want)
		}
	}
}

// TestSigV4MatchesSDK signs a table of awkward requests, then thousands of
// random ones, with one signer (so its key cache sees the day, the region's
// credentials and the secret change) and with the SDK's v4.Signer, and wants
// byte-identical headers.
func TestSigV4MatchesSDK(t *testing.T) {
	creds := aws.Credentials{AccessKeyID: "AKIAIOSFODNN7EXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}
	temp := aws.Credentials{AccessKeyID: "ASIATEMP", SecretAccessKey: "s3cr3t", SessionToken: "FwoGZXIvYXdzEJr//////////wEaD+/=="}
	at := time.Date(2024, 2, 29, 23, 59, 59, 999_999_999, time.UTC)
	s := newSigV4("eu-west-1")
	table := []sigv4Case{
		{method: "GET", host: "bkt.s3.eu-west-1.amazonaws.com", key: "a.txt"},
		{method: "HEAD", host: "127.0.0.1:9000", key: "dir/sub/file name+plus%.bin"},
		{method: "GET", host: "[::1]:9000", key: "ü/日本/🦀"},
		{method: "GET", host: "s3.eu-west-1.amazonaws.com", key: ""},
		{method: "GET", host: "h", key: "k", rawQ: "versionId=3%2F4&partNumber=1&response-content-type=text/plain;charset=utf-8"},
		{method: "GET", host: "h", key: "k", rawQ: "list-type=2&prefix=a+b&delimiter=%2F&continuation-token=AbC%3D%3D&start-after="},
		{method: "GET", host: "h", key: "k", rawQ: "b=2&a=2&a=1&a=&A=0&%7E=~&a%20b=c"},
		{method: "GET", host: "h", key: "k", rawQ: "location"},
		{method: "GET", host: "h", key: "k", headers: map[string]string{"Range": "bytes=0-9"}},
		{method: "GET", host: "h", key: "k", headers: map[string]string{"Range": "  bytes=0-9  ", "If-None-Match": `"a   b"`}},
		{method: "GET", host: "h", key: "k", headers: map[string]string{"If-Match": "\t\"x\" \t ", "If-Modified-Since": "Wed, 21 Oct 2015 07:28:00 GMT"}},
		{method: "GET", host: "h", key: "k", headers: map[string]string{"If-Unmodified-Since": "x\u00a0", "X-Amz-Checksum-Mode": "ENABLED"}},
		{method: "GET", host: "h", key: "k", headers: map[string]string{
			"X-Amz-Server-Side-Encryption-Customer-Algorithm": "AES256",
			"X-Amz-Server-Side-Encryption-Customer-Key":       "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
			"X-Amz-Server-Side-Encryption-Customer-Key-Md5":   "zZ5FnqTmnB3JxYQ2lxkyCA==",
			"X-Amz-Request-Payer":                             "requester",
			"X-Amz-Expected-Bucket-Owner":                     "111122223333",
		}},
		{method: "GET", host: "h", key: "k", headers: map[string]string{"User-Agent": "x", "X-Other": "y"}},
		{method: "GET", host: "h", key: "k", creds: temp},
		{method: "GET", host: "h", key: "k", region: "us-east-1"},
		{method: "GET", host: "h", key: "k", at: at.Add(time.Nanosecond)}, // the next day
		{method: "GET", host: "h", key: "k", at: time.Date(2038, 1, 19, 3, 14, 8, 0, time.FixedZone("JST", 9*3600))},
		{method: "GET", host: "h", key: "k", at: time.Date(1999, 12, 31, 23, 59, 59, 0, time.UTC)},
	}
	for _, c := range table {
		if c.creds.AccessKeyID == "" {
			c.creds = creds
		}
		if c.at.IsZero() {
			c.at = at
		}
		if c.region == "" {
			c.region = "eu-west-1"
		}
		signer := s
		if c.region != s.region {
			signer = newSigV4(c.region)
		}
		signBoth(t, signer, c)
	}

	rng := rand.New(rand.NewPCG(1, 2))
	secrets := []aws.Credentials{creds, temp, {AccessKeyID: "AK2", SecretAccessKey: strings.Repeat("k", 100)}}
	for range 3000 {
		c := sigv4Case{
			method: []string{"GET", "HEAD"}[rng.IntN(2)],
			host:   []string{"h", "127.0.0.1:9000", "bkt.s3.eu-west-1.amazonaws.com", "[::1]:1"}[rng.IntN(4)],
			key:    randText(rng, 40),
			rawQ:   randQuery(rng),
			creds:  secrets[rng.IntN(len(secrets))],
			region: "eu-west-1",
			at:     time.Unix(rng.Int64N(4e9), rng.Int64N(1e9)),
		}
		c.headers = map[string]string{}
		for _, h := range forwardedHeaders {
			if rng.IntN(3) == 0 {
				c.headers[h] = strings.TrimSpace(randText(rng, 20)) + " "[:rng.IntN(2)]
				if c.headers[h] == "" || strings.TrimSpace(c.headers[h]) == "" {
					delete(c.headers, h) // fasthttp drops empty values, and so does the forwarding
				}
			}
		}
		signBoth(t, s, c)
	}
}

// randText returns up to n runes drawn from the characters that make signing
// interesting: reserved and unreserved ASCII, spaces and tabs, '%', '+',
// multi-byte UTF-8.
func randText(rng *rand.Rand, n int) string {
	const pool = "aZ09-_.~ !\"#$&'()*+,/:;<=>?@[]^`{|}\t  %+=ü日🦀\u00a0"
	runes := []rune(pool)
	var b strings.Builder
	for range rng.IntN(n + 1) {
		b.WriteRune(runes[rng.IntN(len(runes))])
	}
	return b.String()
}

// randQuery returns a raw query of a few pairs, mostly well-formed.
func randQuery(rng *rand.Rand) string {
	var parts []string
	for range rng.IntN(5) {
		k := []string{"prefix", "a", "A", "versionId", "x y", "%41", "k%3D", ""}[rng.IntN(8)]
		v := []string{"", "1", "a+b", "%2F", "%25", "%E6%97%A5", "~-._", "=", "%zz"}[rng.IntN(9)]
		if rng.IntN(4) == 0 {
			parts = append(parts, k)
		} else {
			parts = append(parts, k+"="+v)
		}
	}
	return strings.Join(parts, "&")
}

// FuzzSigV4MatchesSDK lets the fuzzer choose the key, query, one header value,
// the secret and the instant.
func FuzzSigV4MatchesSDK(f *testing.F) {
	f.Add("a.txt", "versionId=1", "bytes=0-9", "secret", int64(1709251199))
	f.Add("dir/a b+c%", "prefix=a+b&delimiter=%2F", "  \"a  b\" ", "k", int64(0))
	f.Add("ü", "a&a=&b=%7E", "\t", strings.Repeat("s", 70), int64(4102444800))
	s := newSigV4("ap-northeast-1")
	f.Fuzz(func(t *testing.T, key, rawQ, value, secret string, unix int64) {
		if secret == "" || unix < 0 || unix > 253402300799 {
			return // no credentials: both refuse; years past 9999 have no SigV4 form
		}
		for _, c := range value {
			if c < 0x20 && c != '\t' || c == 0x7f {
				return // refused by the gateway before any signing
			}
		}
		c := sigv4Case{
			method: "GET", host: "h", key: key, rawQ: rawQ,
			creds:  aws.Credentials{AccessKeyID: "AK", SecretAccessKey: secret},
			region: "ap-northeast-1", at: time.Unix(unix, 0),
		}
		if strings.TrimSpace(value) != "" {
			c.headers = map[string]string{"If-None-Match": value}
		}
		signBoth(t, s, c)
	})
}
