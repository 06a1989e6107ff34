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

// The SDK's SigV4 signer, bridged to fasthttp: the oracle sigV4 is tested
// against (TestSigV4MatchesSDK), and what BenchmarkSignSDK measures.

// newSDKSigner returns the SDK's SigV4 signer configured for S3: the path is
// already in S3's single-encoded form, so the signer must not escape it again.
func newSDKSigner() *v4.Signer {
	return v4.NewSigner(func(o *v4.SignerOptions) {
		o.DisableURIPathEscaping = true
	})
}

// sdkSign adds SigV4 headers (Authorization, X-Amz-Date, X-Amz-Content-Sha256 and,
// for temporary credentials, X-Amz-Security-Token) to req, whose Host header,
// escaped path and canonical query are final.
// The SDK's signer needs a *net/http.Request, so the headers are copied into
// one and the result copied back.
func sdkSign(signer *v4.Signer, req *fasthttp.Request, scheme, host string, path, query []byte, creds aws.Credentials, region string, now time.Time) error {
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
	for _, name := range forwardedHeaders {
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
