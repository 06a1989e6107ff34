package buckets

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/valyala/fasthttp"
)

// The example credentials and instant of AWS's "Signature Calculations for the
// Authorization Header: Transferring Payload in a Single Chunk".
var (
	awsExampleCreds = aws.Credentials{
		AccessKeyID:     "AKIAIOSFODNN7EXAMPLE",
		SecretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
	}
	awsExampleTime = time.Date(2013, 5, 24, 0, 0, 0, 0, time.UTC)
)

// awsExamples are the GET examples of that page with their published
// signatures.
var awsExamples = []struct {
	name          string
	path, query   string
	rangeHeader   string
	signedHeaders string
	signature     string
}{
	{"GET Object", "/test.txt", "", "bytes=0-9", "host;range;x-amz-content-sha256;x-amz-date",
		"f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"},
	{"GET Bucket Lifecycle", "/", "lifecycle", "", "host;x-amz-content-sha256;x-amz-date",
		"fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"},
	{"GET Bucket (List Objects)", "/", "max-keys=2&prefix=J", "", "host;x-amz-content-sha256;x-amz-date",
		"34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"},
}

// TestRefSigV4AWSExamples checks the test oracle itself against AWS.
func TestRefSigV4AWSExamples(t *testing.T) {
	for _, ex := range awsExamples {
		t.Run(ex.name, func(t *testing.T) {
			h := map[string]string{"x-amz-content-sha256": emptyPayloadHash, "x-amz-date": "20130524T000000Z"}
			if ex.rangeHeader != "" {
				h["range"] = ex.rangeHeader
			}
			got, err := refSigV4{
				method: "GET", host: "examplebucket.s3.amazonaws.com", path: ex.path, rawQuery: ex.query,
				headers: h, signed: strings.Split(ex.signedHeaders, ";"),
				secret: awsExampleCreds.SecretAccessKey, region: "us-east-1", at: awsExampleTime,
			}.signature()
			if err != nil || got != ex.signature {
				t.Errorf("reference signature = %s, %v; want %s", got, err, ex.signature)
			}
		})
	}
}

// TestSignAWSExamples signs AWS's published examples with sign and compares
// the Authorization header with the published one.
func TestSignAWSExamples(t *testing.T) {
	for _, ex := range awsExamples {
		t.Run(ex.name, func(t *testing.T) {
			var req fasthttp.Request
			req.Header.SetMethod("GET")
			if ex.rangeHeader != "" {
				req.Header.Set("Range", ex.rangeHeader)
			}
			// The query is signed (and sent) in canonical form: "lifecycle=".
			query, _, ok := appendCanonicalQuery(nil, nil, []byte(ex.query), &QueryFilter{All: true})
			if !ok {
				t.Fatalf("appendCanonicalQuery(%q) failed", ex.query)
			}
			err := newSigV4("us-east-1").sign(&req, "examplebucket.s3.amazonaws.com", []byte(ex.path), query,
				awsExampleCreds, awsExampleTime)
			if err != nil {
				t.Fatalf("sign: %v", err)
			}
			auth, err := parseAuthorization(string(req.Header.Peek("Authorization")))
			if err != nil {
				t.Fatal(err)
			}
			want := authorization{
				credential:    "AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request",
				signedHeaders: strings.Split(ex.signedHeaders, ";"),
				signature:     ex.signature,
			}
			if auth.credential != want.credential || strings.Join(auth.signedHeaders, ";") != ex.signedHeaders || auth.signature != want.signature {
				t.Errorf("Authorization = %+v, want %+v", auth, want)
			}
			for name, want := range map[string]string{"X-Amz-Date": "20130524T000000Z", "X-Amz-Content-Sha256": emptyPayloadHash} {
				if got := string(req.Header.Peek(name)); got != want {
					t.Errorf("%s = %q, want %q", name, got, want)
				}
			}
		})
	}
}

func TestSign(t *testing.T) {
	at := time.Date(2024, 2, 29, 23, 59, 59, 0, time.UTC)
	creds := aws.Credentials{AccessKeyID: "AK", SecretAccessKey: "SK"}
	withToken := aws.Credentials{AccessKeyID: "ASIATEMP", SecretAccessKey: "SK", SessionToken: "TOKEN/+=="}
	tests := []struct {
		name        string
		method      string
		host        string
		path, query string
		headers     map[string]string // on the upstream request before signing
		creds       aws.Credentials
		region      string
		wantSigned  string
	}{
		{
			name: "path-style", method: "GET", host: "s3.amazonaws.com", path: "/examplebucket/test.txt",
			headers: map[string]string{"Range": "bytes=0-9"}, creds: creds, region: "us-east-1",
			wantSigned: "host;range;x-amz-content-sha256;x-amz-date",
		},
		{
			name: "path-style with a port", method: "GET", host: "127.0.0.1:9000", path: "/bkt/a.txt",
			creds: creds, region: "us-east-1", wantSigned: "host;x-amz-content-sha256;x-amz-date",
		},
		{
			name: "session token is sent and signed", method: "GET", host: "bkt.s3.eu-west-1.amazonaws.com", path: "/a.txt",
			creds: withToken, region: "eu-west-1", wantSigned: "host;x-amz-content-sha256;x-amz-date;x-amz-security-token",
		},
		{
			name: "escaped key is signed as sent", method: "GET", host: "s3.amazonaws.com",
			path:  "/bkt/dir/a%20b%2Bc%25%3F%C3%BC",
			creds: creds, region: "us-east-1", wantSigned: "host;x-amz-content-sha256;x-amz-date",
		},
		{
			name: "double and trailing slashes kept", method: "GET", host: "s3.amazonaws.com", path: "/bkt//a/./b/../",
			creds: creds, region: "us-east-1", wantSigned: "host;x-amz-content-sha256;x-amz-date",
		},
		{
			name: "canonical query", method: "GET", host: "s3.amazonaws.com", path: "/bkt/a",
			query: "partNumber=2&response-content-type=text%2Fplain&versionId=v%201",
			creds: creds, region: "us-east-1", wantSigned: "host;x-amz-content-sha256;x-amz-date",
		},
		{
			name: "forwarded headers signed", method: "GET", host: "s3.amazonaws.com", path: "/bkt/a",
			headers: map[string]string{
				"Range": "bytes=5-", "If-None-Match": `"abc"`,
				"X-Amz-Server-Side-Encryption-Customer-Algorithm": "AES256",
			},
			creds: creds, region: "us-east-1",
			wantSigned: "host;if-none-match;range;x-amz-content-sha256;x-amz-date;x-amz-server-side-encryption-customer-algorithm",
		},
		{
			name: "other headers not signed", method: "GET", host: "s3.amazonaws.com", path: "/bkt/a",
			headers: map[string]string{"X-Other": "1", "User-Agent": "yatagarasu"},
			creds:   creds, region: "us-east-1", wantSigned: "host;x-amz-content-sha256;x-amz-date",
		},
		{
			name: "HEAD", method: "HEAD", host: "s3.amazonaws.com", path: "/bkt/a",
			creds: creds, region: "ap-northeast-1", wantSigned: "host;x-amz-content-sha256;x-amz-date",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var req fasthttp.Request
			req.Header.SetMethod(tt.method)
			for k, v := range tt.headers {
				req.Header.Set(k, v)
			}
			if err := newSigV4(tt.region).sign(&req, tt.host, []byte(tt.path), []byte(tt.query), tt.creds, at); err != nil {
				t.Fatalf("sign: %v", err)
			}
			auth, err := parseAuthorization(string(req.Header.Peek("Authorization")))
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(auth.signedHeaders, ";"); got != tt.wantSigned {
				t.Fatalf("SignedHeaders = %s, want %s", got, tt.wantSigned)
			}
			if got, want := auth.credential, tt.creds.AccessKeyID+"/20240229/"+tt.region+"/s3/aws4_request"; got != want {
				t.Fatalf("Credential = %s, want %s", got, want)
			}
			if got := string(req.Header.Peek("X-Amz-Security-Token")); got != tt.creds.SessionToken {
				t.Fatalf("X-Amz-Security-Token = %q, want %q", got, tt.creds.SessionToken)
			}
			h := map[string]string{}
			for k, v := range req.Header.All() {
				h[strings.ToLower(string(k))] = string(v)
			}
			want, err := refSigV4{
				method: tt.method, host: tt.host, path: tt.path, rawQuery: tt.query, headers: h,
				signed: auth.signedHeaders, secret: tt.creds.SecretAccessKey, region: tt.region, at: at,
			}.signature()
			if err != nil {
				t.Fatal(err)
			}
			if auth.signature != want {
				t.Errorf("Signature = %s, want %s (reference implementation)", auth.signature, want)
			}
		})
	}
}

// BenchmarkSign signs requests that are not remembered: every slot of the
// signer's table already holds another request of the same second, so every
// signing looks, misses, and computes its signature.
func BenchmarkSign(b *testing.B) {
	signer := newSigV4("eu-west-1")
	signer.recent = newSignatures()
	creds := aws.Credentials{AccessKeyID: "AK", SecretAccessKey: "SK"}
	query := []byte("versionId=abc")
	at := time.Date(2024, 2, 29, 23, 59, 59, 0, time.UTC)
	var req fasthttp.Request
	for i := range 16 * signatureSlots {
		req.Reset()
		req.Header.SetMethod("GET")
		if err := signer.sign(&req, "s3.eu-west-1.amazonaws.com", fmt.Appendf(nil, "/bkt/filler-%d", i), query, creds, at); err != nil {
			b.Fatal(err)
		}
	}
	for i := range signer.recent.slots {
		if signer.recent.slots[i].Load() == nil {
			b.Fatalf("slot %d of %d still empty after the filler requests", i, signatureSlots)
		}
	}
	paths := make([][]byte, 1000)
	for i := range paths {
		paths[i] = fmt.Appendf(nil, "/bkt/photos/2024/summer/beach-%03d.jpg", i)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		req.Reset()
		req.Header.SetMethod("GET")
		req.Header.Set("Range", "bytes=0-1023")
		if err := signer.sign(&req, "s3.eu-west-1.amazonaws.com", paths[i%len(paths)], query, creds, at); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkSignRepeated signs the same request again and again within its
// second, as for a hot object: answered from the remembered signatures.
func BenchmarkSignRepeated(b *testing.B) {
	signer := newSigV4("eu-west-1")
	signer.recent = newSignatures()
	creds := aws.Credentials{AccessKeyID: "AK", SecretAccessKey: "SK"}
	path := []byte("/bkt/photos/2024/summer/beach.jpg")
	query := []byte("versionId=abc")
	at := time.Date(2024, 2, 29, 23, 59, 59, 0, time.UTC)
	var req fasthttp.Request
	b.ReportAllocs()
	for b.Loop() {
		req.Reset()
		req.Header.SetMethod("GET")
		req.Header.Set("Range", "bytes=0-1023")
		if err := signer.sign(&req, "s3.eu-west-1.amazonaws.com", path, query, creds, at); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSignSDK is the same signing through the SDK's signer, for the
// comparison.
func BenchmarkSignSDK(b *testing.B) {
	signer := newSDKSigner()
	creds := aws.Credentials{AccessKeyID: "AK", SecretAccessKey: "SK"}
	path := []byte("/bkt/photos/2024/summer/beach.jpg")
	query := []byte("versionId=abc")
	at := time.Date(2024, 2, 29, 23, 59, 59, 0, time.UTC)
	var req fasthttp.Request
	b.ReportAllocs()
	for b.Loop() {
		req.Reset()
		req.Header.SetMethod("GET")
		req.Header.Set("Range", "bytes=0-1023")
		if err := sdkSign(signer, &req, "https", "s3.eu-west-1.amazonaws.com", path, query, creds, "eu-west-1", at); err != nil {
			b.Fatal(err)
		}
	}
}
