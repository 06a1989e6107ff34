package buckets

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/valyala/fasthttp"
)

// origin is a real fasthttp server on 127.0.0.1:0 standing in for S3. It
// records every request it receives and counts the connections it accepted.
type origin struct {
	addr     string
	accepted atomic.Int64

	mu   sync.Mutex // guards the following field
	reqs []seenRequest
}

// seenRequest is what the origin received, copied out of the RequestCtx.
type seenRequest struct {
	method string
	uri    string // the raw request target: path and query as sent
	host   string
	header map[string]string // names as fasthttp normalises them ("X-Amz-Date")
}

// startOrigin serves h until the test ends.
func startOrigin(t testing.TB, h fasthttp.RequestHandler) *origin {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	o := &origin{addr: ln.Addr().String()}
	srv := &fasthttp.Server{
		Handler: func(ctx *fasthttp.RequestCtx) {
			o.record(ctx)
			h(ctx)
		},
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(&countingListener{Listener: ln, accepted: &o.accepted})
	}()
	t.Cleanup(func() {
		// Shutdown returns at once if Serve has not registered the listener
		// yet; closing it as well makes Serve return in that case too.
		_ = srv.Shutdown()
		_ = ln.Close()
		<-done
	})
	return o
}

func (o *origin) record(ctx *fasthttp.RequestCtx) {
	r := seenRequest{
		method: string(ctx.Method()),
		uri:    string(ctx.Request.Header.RequestURI()),
		host:   string(ctx.Host()),
		header: map[string]string{},
	}
	for k, v := range ctx.Request.Header.All() {
		r.header[string(k)] = string(v)
	}
	o.mu.Lock()
	o.reqs = append(o.reqs, r)
	o.mu.Unlock()
}

// requests returns a copy of what the origin has received so far.
func (o *origin) requests() []seenRequest {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]seenRequest(nil), o.reqs...)
}

// countingListener counts accepted connections.
type countingListener struct {
	net.Listener
	accepted *atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.accepted.Add(1)
	}
	return c, err
}

// holdingListener accepts connections and never answers on them, until the
// test ends. It returns the address.
func holdingListener(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return ln.Addr().String()
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// testCreds are the credentials the tests' owner publishes.
var testCreds = aws.Credentials{AccessKeyID: "AK", SecretAccessKey: "SK"}

// newUpstreamBucket builds bucket "x" (S3 bucket "bkt") for the path-style
// endpoint http://addr with extra [buckets.s3] lines, and publishes a Ready
// snapshot as its owner would.
func newUpstreamBucket(t testing.TB, addr, extra string) *Bucket {
	t.Helper()
	b := newBucketFromTOML(t, "endpoint = \"http://"+addr+"\"\nforce_path_style = true\n"+
		"access_key = \"AK\"\nsecret_key = \"SK\"\n"+extra, Options{})
	publishReady(b)
	return b
}

func publishReady(b *Bucket) {
	b.Publish(&Snapshot{State: Ready, HasCredentials: true, Credentials: testCreds})
}

// inbound is a client GET for key with rawQuery and header lines.
func inbound(t testing.TB, method, key, rawQuery string, headers ...string) *Inbound {
	return &Inbound{
		Method:   []byte(method),
		Key:      []byte(key),
		RawQuery: []byte(rawQuery),
		Header:   parseRequestHeader(t, headers...),
	}
}

// fetched is one request's outcome, as the gateway would see it.
type fetched struct {
	status int
	body   string
	err    error // from Fetch
}

// get fetches key through b and streams the whole body through a Body.
func get(t testing.TB, b *Bucket, key string, headers ...string) fetched {
	t.Helper()
	return fetchAll(t, b, inbound(t, "GET", key, "", headers...))
}

func fetchAll(t testing.TB, b *Bucket, in *Inbound) fetched {
	t.Helper()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)
	var body Body
	if err := b.Fetch(in, resp, &body, t0); err != nil {
		if body.Active() {
			t.Errorf("Fetch(%s) failed with %v but armed the body", in.Key, err)
			body.Finish()
		}
		return fetched{err: err}
	}
	var data []byte
	if body.Active() {
		var err error
		data, err = io.ReadAll(&body)
		body.Finish()
		if err != nil {
			t.Fatalf("reading the body of %s: %v", in.Key, err)
		}
	}
	return fetched{status: resp.StatusCode(), body: string(data)}
}

// byKey answers each request with the status named by the last path segment
// ("/bkt/503" → 503, anything else → 200) and a short body.
func byKey(ctx *fasthttp.RequestCtx) {
	path := string(ctx.Path())
	switch {
	case strings.HasSuffix(path, "/503"):
		ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
		ctx.SetBodyString("<Error><Code>SlowDown</Code></Error>")
	case strings.HasSuffix(path, "/404"):
		ctx.SetStatusCode(fasthttp.StatusNotFound)
		ctx.SetBodyString("<Error><Code>NoSuchKey</Code></Error>")
	default:
		ctx.SetBodyString("hello from " + path)
	}
}

// scriptedOrigin is a raw TCP server for what a well-behaved HTTP server will
// not do: serve(i, c) handles the i-th accepted connection (from 0) and must
// return. It returns the address and the count of accepted connections.
func scriptedOrigin(t testing.TB, serve func(i int, c net.Conn)) (string, *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	accepted := new(atomic.Int64)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			i := int(accepted.Add(1) - 1)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				serve(i, c)
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		wg.Wait()
	})
	return ln.Addr().String(), accepted
}

// readRequest reads one HTTP request from c, or fails after 5s.
func readRequest(c net.Conn) error {
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := http.ReadRequest(bufio.NewReader(c))
	return err
}
