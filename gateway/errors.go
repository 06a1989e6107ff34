package gateway

import (
	"errors"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"yatagarasu/auth"
	"yatagarasu/buckets"
)

// Gateway-made failures. Each maps to one status and S3 error code in
// classify; callers match with errors.Is.
var (
	// ErrNoRoute: no bucket's path_prefix matches the path.
	ErrNoRoute = errors.New("gateway: no bucket for this path")
	// ErrMethodNotAllowed: the method is not GET, HEAD or OPTIONS.
	ErrMethodNotAllowed = errors.New("gateway: method not allowed")
	// ErrBadPath: the request target is not an origin-form path or its
	// percent-encoding is malformed.
	ErrBadPath = errors.New("gateway: malformed request path")
	// ErrListingDisabled: the request names a bucket itself, not an object.
	ErrListingDisabled = errors.New("gateway: listing is not enabled for this bucket")
	// ErrNotFound: an unknown built-in endpoint.
	ErrNotFound = errors.New("gateway: no such endpoint")
	// ErrPanic: request handling panicked; the panic was recovered.
	ErrPanic = errors.New("gateway: internal error")
	// ErrBadRequest: the HTTP request could not be parsed.
	ErrBadRequest = errors.New("gateway: malformed HTTP request")
	// ErrHeaderTooLarge: the request line and headers exceed the read buffer.
	ErrHeaderTooLarge = errors.New("gateway: request header too large")
	// ErrBodyTooLarge: the request body exceeds the limit.
	ErrBodyTooLarge = errors.New("gateway: request body too large")
	// ErrURITooLong: the request target exceeds max_uri_length.
	ErrURITooLong = errors.New("gateway: request target too long")
	// ErrUnsafePath: the path carries dot-segments, control characters,
	// invalid UTF-8 or an injection pattern.
	ErrUnsafePath = errors.New("gateway: unsafe request path")
	// ErrTooManyInFlight: a concurrency limit is reached.
	ErrTooManyInFlight = errors.New("gateway: too many requests in flight")
	// ErrOverloaded: the resource monitor sheds new requests.
	ErrOverloaded = errors.New("gateway: resources exhausted")
	// ErrAdminUnauthorized: an admin request without a bearer token.
	ErrAdminUnauthorized = errors.New("gateway: admin token required")
	// ErrAdminForbidden: an admin request with a wrong token.
	ErrAdminForbidden = errors.New("gateway: admin token rejected")
	// ErrBucketNotAllowed: a pass-through rule does not serve that bucket.
	ErrBucketNotAllowed = errors.New("gateway: bucket not served by this proxy")
	// ErrSlowRequest: the request was not read in time.
	ErrSlowRequest = errors.New("gateway: request not received in time")
)

// RateLimitedError is a request refused by a rate limit, with the time until
// it would be admitted.
type RateLimitedError struct{ Wait time.Duration }

func (e *RateLimitedError) Error() string { return "gateway: rate limit exceeded" }

// RetryAfter is how long the client should wait.
func (e *RateLimitedError) RetryAfter() time.Duration { return e.Wait }

// s3Error is what a client sees for one failure.
type s3Error struct {
	status  int
	code    string
	message string
	// retryAfter, when non-zero, is sent as Retry-After (seconds).
	retryAfter int
}

// classify maps an error to the client's status, S3 error code and message.
// Messages are for clients: they never include internal reasons (credential
// errors, addresses), which go to logs and /ready instead.
func classify(err error) s3Error {
	switch {
	case errors.Is(err, ErrNoRoute):
		return s3Error{status: fasthttp.StatusNotFound, code: "NoSuchBucket", message: "The specified bucket does not exist."}
	case errors.Is(err, ErrNotFound):
		return s3Error{status: fasthttp.StatusNotFound, code: "NotFound", message: "No such endpoint."}
	case errors.Is(err, ErrMethodNotAllowed):
		return s3Error{status: fasthttp.StatusMethodNotAllowed, code: "MethodNotAllowed", message: "The specified method is not allowed against this resource."}
	case errors.Is(err, ErrBadPath):
		return s3Error{status: fasthttp.StatusBadRequest, code: "InvalidURI", message: "Couldn't parse the specified URI."}
	case errors.Is(err, buckets.ErrBadQuery):
		return s3Error{status: fasthttp.StatusBadRequest, code: "InvalidArgument", message: "The query string is not valid percent-encoding."}
	case errors.Is(err, ErrBadRequest):
		return s3Error{status: fasthttp.StatusBadRequest, code: "BadRequest", message: "The HTTP request could not be parsed."}
	case errors.Is(err, ErrHeaderTooLarge):
		return s3Error{status: fasthttp.StatusRequestHeaderFieldsTooLarge, code: "RequestHeaderSectionTooLarge", message: "Your request header section exceeds the maximum allowed size."}
	case errors.Is(err, ErrAdminUnauthorized):
		return s3Error{status: fasthttp.StatusUnauthorized, code: "AccessDenied", message: "An admin token is required."}
	case errors.Is(err, ErrAdminForbidden):
		return s3Error{status: fasthttp.StatusForbidden, code: "AccessDenied", message: "Access Denied"}
	case errors.Is(err, ErrSlowRequest):
		return s3Error{status: fasthttp.StatusRequestTimeout, code: "RequestTimeout", message: "Your socket connection to the server was not read from within the timeout period."}
	case errors.Is(err, ErrURITooLong):
		return s3Error{status: fasthttp.StatusRequestURITooLong, code: "RequestURITooLong", message: "The request URI is too long."}
	case errors.Is(err, ErrUnsafePath):
		return s3Error{status: fasthttp.StatusBadRequest, code: "InvalidRequest", message: "The request path is not acceptable."}
	case errors.Is(err, ErrTooManyInFlight), errors.Is(err, ErrOverloaded):
		return s3Error{status: fasthttp.StatusServiceUnavailable, code: "SlowDown", message: "Please reduce your request rate.", retryAfter: 1}
	case isRateLimited(err):
		return s3Error{status: fasthttp.StatusTooManyRequests, code: "SlowDown", message: "Please reduce your request rate.", retryAfter: retryAfterSeconds(err)}
	case errors.Is(err, ErrBodyTooLarge):
		return s3Error{status: fasthttp.StatusRequestEntityTooLarge, code: "EntityTooLarge", message: "Your request body exceeds the maximum allowed size."}
	case isSubresource(err):
		return s3Error{status: fasthttp.StatusForbidden, code: "AccessDenied", message: err.(*SubresourceError).Name + " is not available through this read-only proxy."}
	case errors.Is(err, ErrBucketNotAllowed):
		return s3Error{status: fasthttp.StatusForbidden, code: "AccessDenied", message: "This bucket is not served by this proxy."}
	case errors.Is(err, ErrListingDisabled):
		return s3Error{status: fasthttp.StatusForbidden, code: "AccessDenied", message: "Listing is not enabled for this bucket (allow_list)."}
	case errors.Is(err, auth.ErrMissingToken):
		return s3Error{status: fasthttp.StatusUnauthorized, code: "AccessDenied", message: "A bearer token is required."}
	case errors.Is(err, auth.ErrRejected):
		return s3Error{status: fasthttp.StatusForbidden, code: "AccessDenied", message: "Access Denied"}
	case errors.Is(err, auth.ErrKeysUnavailable):
		return s3Error{status: fasthttp.StatusServiceUnavailable, code: "ServiceUnavailable", message: "The bucket is temporarily unavailable. Please retry.", retryAfter: 1}
	case errors.Is(err, buckets.ErrNotReady):
		return s3Error{status: fasthttp.StatusServiceUnavailable, code: "ServiceUnavailable", message: "The bucket is temporarily unavailable. Please retry.", retryAfter: 1}
	case errors.Is(err, buckets.ErrBreakerOpen):
		return s3Error{status: fasthttp.StatusServiceUnavailable, code: "ServiceUnavailable", message: "The storage backend is failing; requests are paused. Please retry.", retryAfter: retryAfterSeconds(err)}
	case errors.Is(err, buckets.ErrNoFreeConnections):
		return s3Error{status: fasthttp.StatusServiceUnavailable, code: "SlowDown", message: "Please reduce your request rate.", retryAfter: 1}
	case errors.Is(err, buckets.ErrRequestTimeout):
		return s3Error{status: fasthttp.StatusGatewayTimeout, code: "GatewayTimeout", message: "The storage backend did not answer within the request timeout."}
	case errors.Is(err, buckets.ErrUpstreamTimeout):
		return s3Error{status: fasthttp.StatusGatewayTimeout, code: "GatewayTimeout", message: "The storage backend did not answer in time."}
	case errors.Is(err, buckets.ErrUpstreamUnreachable):
		return s3Error{status: fasthttp.StatusBadGateway, code: "BadGateway", message: "The storage backend could not be reached."}
	}
	return s3Error{status: fasthttp.StatusInternalServerError, code: "InternalError", message: "We encountered an internal error. Please try again."}
}

func isSubresource(err error) bool {
	_, ok := err.(*SubresourceError)
	return ok
}

func isRateLimited(err error) bool {
	var r *RateLimitedError
	return errors.As(err, &r)
}

// retryAfterSeconds reads an error's RetryAfter, rounded up to whole seconds
// (at least 1).
func retryAfterSeconds(err error) int {
	var ra interface{ RetryAfter() time.Duration }
	if !errors.As(err, &ra) {
		return 1
	}
	return max(int((ra.RetryAfter()+time.Second-1)/time.Second), 1)
}

// writeError answers the request with err as S3-style XML (no body for HEAD,
// as S3 does) and returns the status sent.
func writeError(ctx *fasthttp.RequestCtx, err error, requestID []byte) int {
	e := classify(err)
	resp := &ctx.Response
	resp.ResetBody()
	resp.SetStatusCode(e.status)
	if e.retryAfter > 0 {
		resp.Header.Set("Retry-After", strconv.Itoa(e.retryAfter))
	}
	if e.status == fasthttp.StatusMethodNotAllowed {
		resp.Header.Set("Allow", allowedMethods)
	}
	resp.Header.SetContentType("application/xml")
	var scratch [512]byte
	buf := append(scratch[:0], `<?xml version="1.0" encoding="UTF-8"?>`+"\n<Error><Code>"...)
	buf = appendXMLEscaped(buf, e.code)
	buf = append(buf, "</Code><Message>"...)
	buf = appendXMLEscaped(buf, e.message)
	buf = append(buf, "</Message><RequestId>"...)
	buf = append(buf, requestID...)
	buf = append(buf, "</RequestId></Error>"...)
	resp.SetBody(buf)
	if ctx.IsHead() {
		resp.SkipBody = true
	}
	return e.status
}

// appendXMLEscaped appends s with XML's five special characters escaped.
func appendXMLEscaped(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '<':
			dst = append(dst, "&lt;"...)
		case '>':
			dst = append(dst, "&gt;"...)
		case '&':
			dst = append(dst, "&amp;"...)
		case '"':
			dst = append(dst, "&quot;"...)
		case '\'':
			dst = append(dst, "&apos;"...)
		default:
			dst = append(dst, c)
		}
	}
	return dst
}
