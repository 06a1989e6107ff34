package main

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// The origin handler is driven through a bare RequestCtx: no socket, no load.
func TestOriginHandler(t *testing.T) {
	tests := []struct {
		name       string
		method     string
		uri        string
		headers    map[string]string
		wantStatus int
		wantLen    int64 // Content-Length
		wantBody   []byte
		wantHeader map[string]string
		wantSigned int64
	}{
		{
			name: "small object", method: "GET", uri: "/bench/1k",
			wantStatus: 200, wantLen: 1024, wantBody: objectBytes(0, 1024),
			wantHeader: map[string]string{"ETag": `"bench-1024"`, "Accept-Ranges": "bytes",
				"Content-Type": "application/octet-stream", "Last-Modified": "Mon, 01 Jan 2024 00:00:00 GMT"},
		},
		{
			name: "signed request is counted", method: "GET", uri: "/bench/4k",
			headers:    map[string]string{"Authorization": "AWS4-HMAC-SHA256 Credential=AKIDBENCH/20240101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00"},
			wantStatus: 200, wantLen: 4096, wantBody: objectBytes(0, 4096), wantSigned: 1,
		},
		{
			name: "streamed object", method: "GET", uri: "/bench/3m",
			wantStatus: 200, wantLen: 3 << 20, wantBody: objectBytes(0, 3<<20),
		},
		{
			name: "range", method: "GET", uri: "/bench/1m", headers: map[string]string{"Range": "bytes=100-199"},
			wantStatus: 206, wantLen: 100, wantBody: objectBytes(100, 100),
			wantHeader: map[string]string{"Content-Range": "bytes 100-199/1048576"},
		},
		{
			name: "range across the pattern wrap", method: "GET", uri: "/bench/2m",
			headers:    map[string]string{"Range": "bytes=1048570-1048585"},
			wantStatus: 206, wantLen: 16, wantBody: objectBytes(1048570, 16),
		},
		{
			name: "unsatisfiable range", method: "GET", uri: "/bench/1k", headers: map[string]string{"Range": "bytes=4096-"},
			wantStatus: 416, wantHeader: map[string]string{"Content-Range": "bytes */1024"},
		},
		{
			name: "head", method: "HEAD", uri: "/bench/5g",
			wantStatus: 200, wantLen: 5 << 30, wantHeader: map[string]string{"ETag": `"bench-5368709120"`},
		},
		{
			name: "if-none-match", method: "GET", uri: "/bench/1k", headers: map[string]string{"If-None-Match": `"bench-1024"`},
			wantStatus: 304,
		},
		{name: "unknown object", method: "GET", uri: "/bench/nope", wantStatus: 404},
		{name: "bucket only", method: "GET", uri: "/bench/", wantStatus: 404},
		{name: "put", method: "PUT", uri: "/bench/1k", wantStatus: 405},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := &origin{}
			var ctx fasthttp.RequestCtx
			ctx.Request.Header.SetMethod(tt.method)
			ctx.Request.SetRequestURI(tt.uri)
			for k, v := range tt.headers {
				ctx.Request.Header.Set(k, v)
			}
			o.handle(&ctx)
			resp := &ctx.Response
			if resp.StatusCode() != tt.wantStatus {
				t.Fatalf("status %d, want %d; body %q", resp.StatusCode(), tt.wantStatus, resp.Body())
			}
			if resp.Header.Peek("x-amz-request-id") == nil {
				t.Errorf("no x-amz-request-id")
			}
			for k, v := range tt.wantHeader {
				if got := string(resp.Header.Peek(k)); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			if tt.wantStatus >= 400 {
				if !strings.Contains(string(resp.Body()), "<Error><Code>") {
					t.Errorf("error body %q is not S3 XML", resp.Body())
				}
				return
			}
			// fasthttp fills Content-Length from an in-memory body only when
			// writing it; streams and HEAD answers carry it already.
			if resp.IsBodyStream() || tt.method == "HEAD" {
				if int64(resp.Header.ContentLength()) != tt.wantLen {
					t.Errorf("Content-Length %d, want %d", resp.Header.ContentLength(), tt.wantLen)
				}
			} else if int64(len(resp.Body())) != tt.wantLen {
				t.Errorf("body length %d, want %d", len(resp.Body()), tt.wantLen)
			}
			if tt.wantBody != nil {
				var body []byte
				if s := resp.BodyStream(); s != nil {
					var err error
					body, err = io.ReadAll(s)
					if err != nil {
						t.Fatal(err)
					}
				} else {
					body = resp.Body()
				}
				if !bytes.Equal(body, tt.wantBody) {
					t.Errorf("body: %d bytes, want %d matching the pattern", len(body), len(tt.wantBody))
				}
			}
			if st := o.snapshot(); st.Requests != 1 || st.Signed != tt.wantSigned {
				t.Errorf("stats %+v: want 1 request, %d signed", st, tt.wantSigned)
			}
		})
	}
}

// Fault injection: a failed request is answered 503 SlowDown in S3 XML and
// still counted as a request, so upstream and client counts compare.
func TestOriginFaults(t *testing.T) {
	tests := []struct {
		name       string
		rate       float64
		wantStatus int
	}{
		{name: "always fails", rate: 1, wantStatus: 503},
		{name: "never fails", rate: 0, wantStatus: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := newFaults(tt.rate, 1)
			if err != nil {
				t.Fatal(err)
			}
			o := &origin{faults: f}
			var ctx fasthttp.RequestCtx
			ctx.Request.Header.SetMethod("GET")
			ctx.Request.SetRequestURI("/bench/1k")
			o.handle(&ctx)
			resp := &ctx.Response
			if resp.StatusCode() != tt.wantStatus {
				t.Fatalf("status %d, want %d", resp.StatusCode(), tt.wantStatus)
			}
			st := o.snapshot()
			if st.Requests != 1 || st.Gets != 1 {
				t.Errorf("stats %+v: want the request counted", st)
			}
			if tt.wantStatus != 503 {
				if st.Injected != 0 {
					t.Errorf("injected %d, want 0", st.Injected)
				}
				return
			}
			if st.Injected != 1 || st.Errors != 0 {
				t.Errorf("stats %+v: want 1 injected, 0 errors (errors are 4xx)", st)
			}
			if ct := string(resp.Header.ContentType()); ct != "application/xml" {
				t.Errorf("Content-Type %q, want application/xml", ct)
			}
			body := string(resp.Body())
			if !strings.Contains(body, "<Error><Code>SlowDown</Code>") || !strings.Contains(body, "<Resource>/bench/1k</Resource>") {
				t.Errorf("body %q is not an S3 SlowDown error", body)
			}
		})
	}
}
