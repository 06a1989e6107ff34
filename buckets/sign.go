package buckets

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/valyala/fasthttp"
)

// emptyPayloadHash is the SHA-256 of an empty body: GET and HEAD carry none.
const emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// newSigner returns the SDK's SigV4 signer configured for S3: the path is
// already in S3's single-encoded form, so the signer must not escape it again.
func newSigner() *v4.Signer {
	return v4.NewSigner(func(o *v4.SignerOptions) {
		o.DisableURIPathEscaping = true
	})
}

// signHeaders are the upstream request headers that are copied into the
// bridge request and therefore signed (besides Host and the x-amz headers the
// signer adds itself).
var signHeaders = forwardedHeaders

// sign adds SigV4 headers (Authorization, X-Amz-Date, X-Amz-Content-Sha256 and,
// for temporary credentials, X-Amz-Security-Token) to req, whose Host header,
// escaped path and canonical query are final.
//
// This is the one bridge between fasthttp and the SDK's signer, which needs a
// *net/http.Request; it costs a few allocations per request (see
// BenchmarkSign) and is the place a signer over fasthttp's own headers would
// replace, with this one kept as its oracle.
func sign(signer *v4.Signer, req *fasthttp.Request, scheme, host string, path, query []byte, creds aws.Credentials, region string, now time.Time) error {
	hr := &http.Request{
		Method: string(req.Header.Method()),
		URL: &url.URL{
			Scheme:   scheme,
			Host:     host,
			Opaque:   "//" + host + string(path),
			RawQuery: string(query),
		},
		Host:   host,
		Header: make(http.Header, 4),
	}
	for _, name := range signHeaders {
		if v := req.Header.Peek(name); len(v) > 0 {
			hr.Header[name] = []string{string(v)}
		}
	}
	hr.Header["X-Amz-Content-Sha256"] = []string{emptyPayloadHash}
	if err := signer.SignHTTP(context.Background(), creds, hr, emptyPayloadHash, "s3", region, now); err != nil {
		return fmt.Errorf("%w: %w", ErrSigning, err)
	}
	req.Header.Set("X-Amz-Content-Sha256", emptyPayloadHash)
	req.Header.Set("X-Amz-Date", hr.Header.Get("X-Amz-Date"))
	if tok := hr.Header.Get("X-Amz-Security-Token"); tok != "" {
		req.Header.Set("X-Amz-Security-Token", tok)
	}
	req.Header.Set("Authorization", hr.Header.Get("Authorization"))
	return nil
}
