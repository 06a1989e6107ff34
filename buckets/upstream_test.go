package buckets

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// TestFetchRequestLine checks the request that reaches S3: its target, its
// Host, where it was dialed, and that its signature is valid for exactly
// what was sent.
func TestFetchRequestLine(t *testing.T) {
	tests := []struct {
		name       string
		addressing string // "path", "virtual" (endpoint with the origin's port) or "virtual-no-port"
		key, query string
		wantURI    string
		wantHost   string // {addr} and {port} stand for the origin's
		wantDial   string // the address handed to Options.Dial, for virtual addressing
	}{
		{name: "plain key", addressing: "path", key: "a.txt",
			wantURI: "/bkt/a.txt", wantHost: "{addr}"},
		{name: "escaped key", addressing: "path", key: "dir/a b+c%?#ü.txt",
			wantURI: "/bkt/dir/a%20b%2Bc%25%3F%23%C3%BC.txt", wantHost: "{addr}"},
		{name: "slashes kept", addressing: "path", key: "/a//b/",
			wantURI: "/bkt//a//b/", wantHost: "{addr}"},
		{name: "dot segments sent as they are", addressing: "path", key: "a/./b/../c",
			wantURI: "/bkt/a/./b/../c", wantHost: "{addr}"},
		{name: "query reduced to the canonical read parameters", addressing: "path", key: "a",
			query:   "versionId=v+1&X-Amz-Signature=x&partNumber=2&token=t&X-Amz-Credential=AK%2Fx",
			wantURI: "/bkt/a?partNumber=2&versionId=v%201", wantHost: "{addr}"},
		{name: "query with nothing allowed sends no '?'", addressing: "path", key: "a",
			query: "X-Amz-Signature=x", wantURI: "/bkt/a", wantHost: "{addr}"},
		{name: "virtual-hosted", addressing: "virtual", key: "dir/a b.txt",
			wantURI: "/dir/a%20b.txt", wantHost: "bkt.s3.example.test:{port}", wantDial: "bkt.s3.example.test:{port}"},
		{name: "virtual-hosted on the default port", addressing: "virtual-no-port", key: "a.txt",
			wantURI: "/a.txt", wantHost: "bkt.s3.example.test", wantDial: "bkt.s3.example.test:80"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := startOrigin(t, byKey)
			_, port, _ := net.SplitHostPort(o.addr)
			expand := strings.NewReplacer("{addr}", o.addr, "{port}", port).Replace
			var (
				mu     sync.Mutex
				dialed []string
			)
			// The Dial seam sends a virtual-hosted name to the loopback origin.
			dialOrigin := func(addr string) (net.Conn, error) {
				mu.Lock()
				dialed = append(dialed, addr)
				mu.Unlock()
				return net.Dial("tcp", o.addr)
			}
			var b *Bucket
			switch tt.addressing {
			case "path":
				b = newUpstreamBucket(t, o.addr, "")
			case "virtual":
				b = newBucketFromTOML(t, "endpoint = \"http://s3.example.test:"+port+"\"\n", Options{Dial: dialOrigin})
				publishReady(b)
			case "virtual-no-port":
				b = newBucketFromTOML(t, "endpoint = \"http://s3.example.test\"\n", Options{Dial: dialOrigin})
				publishReady(b)
			}

			if f := fetchAll(t, b, inbound(t, "GET", tt.key, tt.query)); f.err != nil || f.status != 200 {
				t.Fatalf("Fetch = %d, %v; want 200, nil", f.status, f.err)
			}
			reqs := o.requests()
			if len(reqs) != 1 {
				t.Fatalf("origin received %d requests, want 1", len(reqs))
			}
			r := reqs[0]
			if r.method != "GET" || r.uri != tt.wantURI || r.host != expand(tt.wantHost) {
				t.Errorf("origin received %s %s (Host %s), want GET %s (Host %s)", r.method, r.uri, r.host, tt.wantURI, expand(tt.wantHost))
			}
			mu.Lock()
			if tt.wantDial != "" && (len(dialed) != 1 || dialed[0] != expand(tt.wantDial)) {
				t.Errorf("dialed %q, want [%s]", dialed, expand(tt.wantDial))
			}
			mu.Unlock()
			if err := verifySignature(r, "SK", "us-east-1"); err != nil {
				t.Errorf("signature of what the origin received: %v", err)
			}
		})
	}
}

// verifySignature recomputes the signature of a received request with the
// reference implementation.
func verifySignature(r seenRequest, secret, region string) error {
	auth, err := parseAuthorization(r.header["Authorization"])
	if err != nil {
		return err
	}
	at, err := time.Parse("20060102T150405Z", r.header["X-Amz-Date"])
	if err != nil {
		return err
	}
	h := map[string]string{}
	for k, v := range r.header {
		h[strings.ToLower(k)] = v
	}
	path, query, _ := strings.Cut(r.uri, "?")
	want, err := refSigV4{
		method: r.method, host: r.host, path: path, rawQuery: query, headers: h,
		signed: auth.signedHeaders, secret: secret, region: region, at: at,
	}.signature()
	if err != nil {
		return err
	}
	if auth.signature != want {
		return errors.New("Signature=" + auth.signature + ", reference computes " + want)
	}
	return nil
}

func TestFetchHeaders(t *testing.T) {
	o := startOrigin(t, byKey)
	b := newUpstreamBucket(t, o.addr, "")
	f := get(t, b, "a.txt",
		"Range: bytes=0-9",
		`If-None-Match: "e1"`,
		"X-Amz-Checksum-Mode: ENABLED",
		"X-Amz-Request-Payer: requester",
		"X-Amz-Server-Side-Encryption-Customer-Algorithm: AES256",
		"Authorization: AWS4-HMAC-SHA256 Credential=CLIENTKEY/20240101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00",
		"X-Amz-Date: 19990101T000000Z",
		"X-Amz-Security-Token: client-token",
		"X-Amz-Content-Sha256: UNSIGNED-PAYLOAD",
		"X-Amz-Acl: public-read",
		"Cookie: session=secret",
		"X-Forwarded-For: 10.0.0.1",
	)
	if f.err != nil {
		t.Fatalf("Fetch: %v", f.err)
	}
	reqs := o.requests()
	if len(reqs) != 1 {
		t.Fatalf("origin received %d requests, want 1", len(reqs))
	}
	got := reqs[0].header
	tests := []struct {
		name   string
		header string
		want   string // "" means absent
	}{
		{"Range forwarded", "Range", "bytes=0-9"},
		{"If-None-Match forwarded", "If-None-Match", `"e1"`},
		{"checksum mode forwarded", "X-Amz-Checksum-Mode", "ENABLED"},
		{"request payer forwarded", "X-Amz-Request-Payer", "requester"},
		{"SSE-C algorithm forwarded", "X-Amz-Server-Side-Encryption-Customer-Algorithm", "AES256"},
		{"our date, not the client's", "X-Amz-Date", "20240102T030405Z"},
		{"our payload hash, not the client's", "X-Amz-Content-Sha256", emptyPayloadHash},
		{"client session token dropped", "X-Amz-Security-Token", ""},
		{"client ACL dropped", "X-Amz-Acl", ""},
		{"client cookie dropped", "Cookie", ""},
		{"X-Forwarded-For dropped", "X-Forwarded-For", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if v := got[tt.header]; v != tt.want {
				t.Errorf("origin saw %s = %q, want %q", tt.header, v, tt.want)
			}
		})
	}
	t.Run("our Authorization, not the client's", func(t *testing.T) {
		const want = "AWS4-HMAC-SHA256 Credential=AK/20240102/us-east-1/s3/aws4_request,"
		if v := got["Authorization"]; !strings.HasPrefix(v, want) {
			t.Errorf("origin saw Authorization = %q, want it to start %q", v, want)
		}
	})
}

func TestFetchNotReady(t *testing.T) {
	tests := []struct {
		name    string
		publish *Snapshot // nil: the owner never published
		wantErr string
	}{
		{"never published", nil, "buckets: bucket not ready: starting"},
		{"published not ready", &Snapshot{State: NotReady, Reason: "credentials: sts down"},
			"buckets: bucket not ready: credentials: sts down"},
		{"ready without credentials", &Snapshot{State: Ready}, "buckets: bucket not ready: "},
		{"degraded without credentials", &Snapshot{State: Degraded, Reason: "x"}, "buckets: bucket not ready: x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := startOrigin(t, byKey)
			b := newBucketFromTOML(t, "endpoint = \"http://"+o.addr+"\"\nforce_path_style = true\n", Options{})
			if tt.publish != nil {
				b.Publish(tt.publish)
			}
			f := get(t, b, "a.txt")
			if !errors.Is(f.err, ErrNotReady) || f.err.Error() != tt.wantErr {
				t.Fatalf("Fetch error = %v, want %q (ErrNotReady)", f.err, tt.wantErr)
			}
			if n := o.accepted.Load(); n != 0 {
				t.Errorf("origin accepted %d connections, want none", n)
			}
			if got := b.Outcomes(); got != (Totals{}) {
				t.Errorf("Outcomes() = %+v, want none", got)
			}
		})
	}
}

func TestFetchDegradedServes(t *testing.T) {
	o := startOrigin(t, byKey)
	b := newUpstreamBucket(t, o.addr, "")
	b.Publish(&Snapshot{State: Degraded, Reason: "3 of 4 failed", HasCredentials: true, Credentials: testCreds})
	if f := get(t, b, "a.txt"); f.err != nil || f.status != 200 {
		t.Errorf("Fetch on a degraded bucket = %d, %v; want 200, nil", f.status, f.err)
	}
}

func TestFetchBadQuery(t *testing.T) {
	o := startOrigin(t, byKey)
	b := newUpstreamBucket(t, o.addr, "")
	f := fetchAll(t, b, inbound(t, "GET", "a.txt", "versionId=v&x=%zz"))
	if !errors.Is(f.err, ErrBadQuery) {
		t.Fatalf("Fetch error = %v, want ErrBadQuery", f.err)
	}
	if n := o.accepted.Load(); n != 0 {
		t.Errorf("origin accepted %d connections for a malformed query, want none", n)
	}
}

// upstreamKind starts one kind of upstream and returns its address and the
// extra [buckets.s3] settings it needs.
type upstreamKind func(t *testing.T) (addr, extra string)

var (
	answering upstreamKind = func(t *testing.T) (string, string) { return startOrigin(t, byKey).addr, "" }
	refusing  upstreamKind = func(t *testing.T) (string, string) { return closedPort(t), "" }
	silent    upstreamKind = func(t *testing.T) (string, string) { return holdingListener(t), "timeout = \"200ms\"\n" }
)

func TestFetchOutcomes(t *testing.T) {
	tests := []struct {
		name       string
		upstream   upstreamKind
		key        string
		wantStatus int
		wantErr    error
		wantTotals Totals
	}{
		{"200 is a success", answering, "a.txt", 200, nil, Totals{Attempts: 1}},
		{"404 is a success: S3 answered", answering, "404", 404, nil, Totals{Attempts: 1}},
		{"5xx is a response and a failure", answering, "503", 503, nil, Totals{Attempts: 1, Failures: 1}},
		{"refused connection", refusing, "a.txt", 0, ErrUpstreamUnreachable, Totals{Attempts: 1, Failures: 1}},
		{"no answer within the timeout", silent, "a.txt", 0, ErrUpstreamTimeout, Totals{Attempts: 1, Failures: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr, extra := tt.upstream(t)
			b := newUpstreamBucket(t, addr, extra)
			f := get(t, b, tt.key)
			if !errors.Is(f.err, tt.wantErr) || f.status != tt.wantStatus {
				t.Fatalf("Fetch = %d, %v; want %d, %v", f.status, f.err, tt.wantStatus, tt.wantErr)
			}
			if got := b.Outcomes(); got != tt.wantTotals {
				t.Errorf("Outcomes() = %+v, want %+v", got, tt.wantTotals)
			}
		})
	}
}

func TestFetchErrorTypes(t *testing.T) {
	t.Run("refused connection is a *ConnError", func(t *testing.T) {
		b := newUpstreamBucket(t, closedPort(t), "")
		err := get(t, b, "a.txt").err
		var ce *ConnError
		if !errors.As(err, &ce) || !errors.Is(err, ErrUpstreamUnreachable) {
			t.Fatalf("Fetch error = %v (%T), want a *ConnError matching ErrUpstreamUnreachable", err, err)
		}
		var timeout interface{ Timeout() bool }
		if errors.As(err, &timeout) && timeout.Timeout() {
			t.Errorf("refused connection error %v reports Timeout() = true", err)
		}
	})
	t.Run("no answer is a *TimeoutError", func(t *testing.T) {
		b := newUpstreamBucket(t, holdingListener(t), "timeout = \"200ms\"\n")
		err := get(t, b, "a.txt").err
		var te *TimeoutError
		if !errors.As(err, &te) || !errors.Is(err, ErrUpstreamTimeout) || !te.Timeout() {
			t.Fatalf("Fetch error = %v (%T), want a *TimeoutError matching ErrUpstreamTimeout with Timeout() true", err, err)
		}
	})
}

func TestFetchNoFreeConnections(t *testing.T) {
	o := startOrigin(t, byKey)
	b := newUpstreamBucket(t, o.addr, "connection_pool_size = 1\nconnection_wait_timeout = \"0s\"\n")
	first, body := startStream(t, b, "a.txt")
	defer fasthttp.ReleaseResponse(first)
	defer body.Finish()

	err := get(t, b, "b.txt").err
	if !errors.Is(err, ErrNoFreeConnections) {
		t.Fatalf("second Fetch while the first body is unread: error = %v, want ErrNoFreeConnections", err)
	}
	if got, want := b.Outcomes(), (Totals{Attempts: 1}); got != want {
		t.Errorf("Outcomes() = %+v, want %+v: a full pool is not an upstream failure", got, want)
	}
}

// TestFetchWaitForConnectionOutlastsTimeout: with connection_wait_timeout
// longer than timeout, a request that finds the pool full is still a pool
// exhaustion (503 SlowDown), not an upstream timeout: no request reached S3.
// (fasthttp cuts the wait at the request timeout and reports ErrTimeout.)
func TestFetchWaitForConnectionOutlastsTimeout(t *testing.T) {
	o := startOrigin(t, byKey)
	b := newUpstreamBucket(t, o.addr, "connection_pool_size = 1\nconnection_wait_timeout = \"1s\"\ntimeout = \"200ms\"\n")
	first, body := startStream(t, b, "a.txt")
	defer fasthttp.ReleaseResponse(first)
	defer body.Finish()

	err := get(t, b, "b.txt").err
	if !errors.Is(err, ErrNoFreeConnections) {
		t.Errorf("second Fetch while the only connection is busy: error = %v (%T), want ErrNoFreeConnections", err, err)
	}
	if got, want := b.Outcomes(), (Totals{Attempts: 1}); got != want {
		t.Errorf("Outcomes() = %+v, want %+v: a full pool is not an upstream failure", got, want)
	}
}

// startStream fetches key and leaves its body armed and unread; the caller
// finishes the body and releases the response.
func startStream(t testing.TB, b *Bucket, key string) (*fasthttp.Response, *Body) {
	t.Helper()
	resp := fasthttp.AcquireResponse()
	body := new(Body)
	if err := b.Fetch(inbound(t, "GET", key, ""), resp, body, t0); err != nil {
		fasthttp.ReleaseResponse(resp)
		t.Fatalf("Fetch(%s): %v", key, err)
	}
	if !body.Active() {
		fasthttp.ReleaseResponse(resp)
		t.Fatalf("Fetch(%s) left the body inactive, want a body stream", key)
	}
	return resp, body
}

func TestBodyStreamsExactBytes(t *testing.T) {
	payload := make([]byte, 3<<20+17)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range payload {
		payload[i] = byte(rng.Uint32())
	}
	tests := []struct {
		name    string
		payload []byte
		chunked bool
	}{
		{"content-length", payload, false},
		{"chunked", payload, true},
		{"empty", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := startOrigin(t, func(ctx *fasthttp.RequestCtx) {
				if tt.chunked {
					ctx.SetBodyStream(bytes.NewReader(tt.payload), -1)
					return
				}
				ctx.SetBody(tt.payload)
			})
			b := newUpstreamBucket(t, o.addr, "")
			resp, body := startStream(t, b, "big.bin")
			defer fasthttp.ReleaseResponse(resp)
			got, err := io.ReadAll(body)
			n, bodyErr := body.Len(), body.Err()
			body.Finish()
			if err != nil || !bytes.Equal(got, tt.payload) {
				t.Fatalf("read %d bytes, %v; want the %d bytes sent, nil", len(got), err, len(tt.payload))
			}
			if n != int64(len(tt.payload)) || bodyErr != nil {
				t.Errorf("Len(), Err() = %d, %v; want %d, nil", n, bodyErr, len(tt.payload))
			}
		})
	}
}

func TestFetchHEADHasNoBody(t *testing.T) {
	o := startOrigin(t, byKey)
	b := newUpstreamBucket(t, o.addr, "")
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)
	var body Body
	if err := b.Fetch(inbound(t, "HEAD", "a.txt", ""), resp, &body, t0); err != nil {
		t.Fatalf("Fetch(HEAD): %v", err)
	}
	if body.Active() {
		body.Finish()
		t.Fatalf("Body.Active() after HEAD = true, want false: there is no body")
	}
	if open, busy := b.PoolStats(); open != 1 || busy != 0 {
		t.Errorf("PoolStats() after HEAD = %d open, %d busy; want 1, 0", open, busy)
	}
}

func TestConnectionReuse(t *testing.T) {
	chunked := func(ctx *fasthttp.RequestCtx) { ctx.SetBodyStream(strings.NewReader("a chunked body"), -1) }
	empty := func(ctx *fasthttp.RequestCtx) { ctx.SetBody(nil) }
	closing := func(ctx *fasthttp.RequestCtx) { ctx.SetConnectionClose(); ctx.SetBodyString("bye") }
	tests := []struct {
		name         string
		origin       fasthttp.RequestHandler // nil: byKey
		extra        string
		read         int // bytes to read before Finish; -1 reads to the end
		wantAccepted int64
		wantOpen     int64
	}{
		{"fully read bodies reuse one connection", nil, "", -1, 1, 1},
		{"fully read chunked bodies reuse one connection", chunked, "", -1, 1, 1},
		{"empty bodies reuse one connection", empty, "", -1, 1, 1},
		{"an unread body closes its connection", nil, "", 0, 3, 0},
		{"a partly read body closes its connection", nil, "", 1, 3, 0},
		{"a partly read chunked body closes its connection", chunked, "", 1, 3, 0},
		{"max_idle_connections = 0 closes every connection", nil, "max_idle_connections = 0\n", -1, 3, 0},
		{"Connection: close from S3 closes the connection", closing, "", -1, 3, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.origin
			if h == nil {
				h = byKey
			}
			o := startOrigin(t, h)
			b := newUpstreamBucket(t, o.addr, tt.extra)
			for i := 0; i < 3; i++ {
				resp, body := startStream(t, b, "a.txt")
				var err error
				if tt.read < 0 {
					_, err = io.Copy(io.Discard, body)
				} else {
					_, err = io.ReadFull(body, make([]byte, tt.read))
				}
				body.Finish()
				fasthttp.ReleaseResponse(resp)
				if err != nil {
					t.Fatalf("request %d: reading: %v", i, err)
				}
				if _, busy := b.PoolStats(); busy != 0 {
					t.Fatalf("request %d: PoolStats() busy = %d after Finish, want 0", i, busy)
				}
			}
			if n := o.accepted.Load(); n != tt.wantAccepted {
				t.Errorf("origin accepted %d connections for 3 requests, want %d", n, tt.wantAccepted)
			}
			if open, _ := b.PoolStats(); open != tt.wantOpen {
				t.Errorf("PoolStats() open = %d after 3 requests, want %d", open, tt.wantOpen)
			}
		})
	}
}

func TestMaxIdleOverlappingStreams(t *testing.T) {
	o := startOrigin(t, byKey)
	b := newUpstreamBucket(t, o.addr, "max_idle_connections = 1\n")
	type stream struct {
		resp *fasthttp.Response
		body *Body
	}
	var streams []stream
	for i := 0; i < 3; i++ {
		resp, body := startStream(t, b, "a.txt")
		streams = append(streams, stream{resp, body})
	}
	if open, busy := b.PoolStats(); open != 3 || busy != 3 {
		t.Fatalf("PoolStats() with 3 streams unread = %d open, %d busy; want 3, 3", open, busy)
	}
	for i, s := range streams {
		_, err := io.Copy(io.Discard, s.body)
		s.body.Finish()
		fasthttp.ReleaseResponse(s.resp)
		if err != nil {
			t.Fatalf("stream %d: %v", i, err)
		}
	}
	if open, busy := b.PoolStats(); open != 1 || busy != 0 {
		t.Errorf("PoolStats() after the 3 streams finished = %d open, %d busy; want 1, 0 (max_idle_connections = 1)", open, busy)
	}
	if f := get(t, b, "a.txt"); f.err != nil || o.accepted.Load() != 3 {
		t.Errorf("a fourth request: %v, origin accepted %d connections; want nil, 3 (the idle one reused)", f.err, o.accepted.Load())
	}
}

// TestMaxIdleBodilessResponses: answers without a body (HEAD, 304) give
// their connection back inside Fetch; max_idle_connections must hold for
// them as for streamed bodies, which go back through Body.Finish.
func TestMaxIdleBodilessResponses(t *testing.T) {
	tests := []struct {
		name   string
		method string
		status int
	}{
		{"HEAD", "HEAD", 200},
		{"304 Not Modified", "GET", 304},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const n = 3
			var arrived sync.WaitGroup
			arrived.Add(n)
			allIn := make(chan struct{})
			go func() { arrived.Wait(); close(allIn) }()
			o := startOrigin(t, func(ctx *fasthttp.RequestCtx) {
				// Hold each answer until all n requests are in, so they
				// overlap and need n connections.
				arrived.Done()
				select {
				case <-allIn:
				case <-time.After(5 * time.Second):
				}
				ctx.SetStatusCode(tt.status)
				// As S3 does: a HEAD answer carries the object's
				// Content-Length (fasthttp sends no body for it), and
				// without one the server would close the connection.
				ctx.SetBodyString("object")
			})
			b := newUpstreamBucket(t, o.addr, "max_idle_connections = 1\n")
			errs := make(chan error, n)
			for i := 0; i < n; i++ {
				// One Inbound each: Peek on a shared header is not safe for
				// concurrent use.
				in := inbound(t, tt.method, "a.txt", "")
				go func() {
					resp := fasthttp.AcquireResponse()
					defer fasthttp.ReleaseResponse(resp)
					var body Body
					err := b.Fetch(in, resp, &body, t0)
					if body.Active() {
						body.Finish()
						err = errors.New("Fetch armed a body for a response without one")
					}
					errs <- err
				}()
			}
			for i := 0; i < n; i++ {
				if err := <-errs; err != nil {
					t.Fatalf("Fetch: %v", err)
				}
			}
			if got := o.accepted.Load(); got != n {
				t.Fatalf("origin accepted %d connections, want %d overlapping", got, n)
			}
			if open, busy := b.PoolStats(); open > 1 || busy != 0 {
				t.Errorf("PoolStats() after %d overlapping %s requests = %d open, %d busy; want at most 1 open (max_idle_connections = 1), 0 busy",
					n, tt.name, open, busy)
			}
		})
	}
}

func TestBodyIdleTimeout(t *testing.T) {
	half := bytes.Repeat([]byte("x"), 1000)
	release := make(chan struct{})
	o := startOrigin(t, func(ctx *fasthttp.RequestCtx) {
		ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
			_, _ = w.Write(half)
			_ = w.Flush()
			// Stall: the second half never comes (the bounded wait keeps a
			// broken test from hanging).
			select {
			case <-release:
			case <-time.After(10 * time.Second):
			}
		})
	})
	t.Cleanup(func() { close(release) }) // before the origin's Shutdown
	b := newUpstreamBucket(t, o.addr, "")

	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)
	in := inbound(t, "GET", "stall", "")
	in.StreamIdle = 200 * time.Millisecond
	var body Body
	if err := b.Fetch(in, resp, &body, t0); err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	if !body.Active() {
		t.Fatalf("Body.Active() = false, want a body stream")
	}
	got, err := io.ReadAll(&body)
	bodyErr := body.Err()
	body.Finish()
	var timeout interface{ Timeout() bool }
	if !errors.As(err, &timeout) || !timeout.Timeout() {
		t.Fatalf("reading a stalled body: %d bytes, error %v; want the first %d bytes, then a timeout", len(got), err, len(half))
	}
	if !bytes.Equal(got, half) {
		t.Errorf("read %d bytes before the stall, want the %d sent", len(got), len(half))
	}
	if bodyErr == nil {
		t.Errorf("Err() = nil after a stalled stream, want the read error")
	}
	if open, busy := b.PoolStats(); open != 0 || busy != 0 {
		t.Errorf("PoolStats() after a stalled stream = %d open, %d busy; want 0, 0: the connection cannot be reused", open, busy)
	}
}

// failureEvents records UpstreamFailed calls.
type failureEvents struct {
	mu    sync.Mutex // guards the following field
	calls []string
}

func (e *failureEvents) UpstreamFailed(b *Bucket) {
	e.mu.Lock()
	e.calls = append(e.calls, b.Name())
	e.mu.Unlock()
}

// The other edges are not what this fake records: no breaker trips or probes
// happen below the failure threshold, and without an owner there is no retry.
func (e *failureEvents) BreakerTrip(*Bucket, uint64)       {}
func (e *failureEvents) ProbeResult(*Bucket, uint64, bool) {}
func (e *failureEvents) RetrySlot(*Bucket, int, time.Duration) (time.Duration, bool) {
	return 0, false
}

func (e *failureEvents) count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.calls)
}

func TestUpstreamFailedEvents(t *testing.T) {
	o := startOrigin(t, byKey)
	b := newUpstreamBucket(t, o.addr, "")
	events := &failureEvents{}
	b.SetEvents(events)
	steps := []struct {
		name string
		op   string // "arm", "fail" (a 503), "ok" (a 200), "unset" (SetEvents(nil))
		want int    // events so far
	}{
		{"a failure before the first ArmEdge is not sent", "fail", 0},
		{"arm", "arm", 0},
		{"a success sends nothing", "ok", 0},
		{"the first failure after ArmEdge is sent", "fail", 1},
		{"the second failure is not", "fail", 1},
		{"re-arm", "arm", 1},
		{"the next failure is sent", "fail", 2},
		{"re-arm, then stop events", "arm", 2},
		{"unset", "unset", 2},
		{"with no Events nothing is sent", "fail", 2},
	}
	for i, s := range steps {
		switch s.op {
		case "arm":
			b.ArmEdge()
		case "unset":
			b.SetEvents(nil)
		case "fail":
			if f := get(t, b, "503"); f.status != 503 {
				t.Fatalf("step %d: Fetch = %d, %v; want 503", i, f.status, f.err)
			}
		case "ok":
			if f := get(t, b, "a.txt"); f.status != 200 {
				t.Fatalf("step %d: Fetch = %d, %v; want 200", i, f.status, f.err)
			}
		}
		if got := events.count(); got != s.want {
			t.Fatalf("step %d (%s): %d UpstreamFailed events, want %d", i, s.name, got, s.want)
		}
	}
	if events.calls[0] != "x" {
		t.Errorf("UpstreamFailed got bucket %q, want %q", events.calls[0], "x")
	}
}

func TestFetchMetrics(t *testing.T) {
	tests := []struct {
		name      string
		upstream  upstreamKind
		extra     string
		keys      []string
		streaming int // requests left streaming (unread) before keys are fetched
		wantLines []string
	}{
		{
			name: "5xx", upstream: answering, keys: []string{"503", "a.txt", "404"},
			wantLines: []string{
				`s3_upstream_errors_total{bucket="x",kind="5xx"} 1`,
				`s3_upstream_errors_total{bucket="x",kind="timeout"} 0`,
				`s3_upstream_errors_total{bucket="x",kind="connection"} 0`,
				`s3_upstream_duration_seconds_count{bucket="x"} 3`,
			},
		},
		{
			name: "connection", upstream: refusing, keys: []string{"a.txt", "b.txt"},
			wantLines: []string{
				`s3_upstream_errors_total{bucket="x",kind="connection"} 2`,
				`s3_upstream_errors_total{bucket="x",kind="5xx"} 0`,
				`s3_upstream_errors_total{bucket="x",kind="timeout"} 0`,
			},
		},
		{
			name: "timeout", upstream: silent, keys: []string{"a.txt"},
			wantLines: []string{
				`s3_upstream_errors_total{bucket="x",kind="timeout"} 1`,
				`s3_upstream_errors_total{bucket="x",kind="connection"} 0`,
			},
		},
		{
			name: "pool exhausted", upstream: answering, extra: "connection_pool_size = 1\nconnection_wait_timeout = \"0s\"\n",
			streaming: 1, keys: []string{"b.txt"},
			wantLines: []string{
				`connection_pool_exhausted_total{bucket="x"} 1`,
				`connection_pool_size{bucket="x"} 1`,
				`connection_pool_active{bucket="x"} 1`,
				`connection_pool_idle{bucket="x"} 0`,
				`s3_upstream_errors_total{bucket="x",kind="5xx"} 0`,
			},
		},
		{
			name: "pool idle after a finished stream", upstream: answering, keys: []string{"a.txt"},
			wantLines: []string{
				`connection_pool_size{bucket="x"} 50`,
				`connection_pool_active{bucket="x"} 0`,
				`connection_pool_idle{bucket="x"} 1`,
				`connection_pool_exhausted_total{bucket="x"} 0`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr, extra := tt.upstream(t)
			b := newUpstreamBucket(t, addr, extra+tt.extra)
			for i := 0; i < tt.streaming; i++ {
				resp, body := startStream(t, b, "held")
				defer fasthttp.ReleaseResponse(resp)
				defer body.Finish()
			}
			for _, k := range tt.keys {
				get(t, b, k)
			}
			var buf bytes.Buffer
			b.Metrics().Set().WritePrometheus(&buf)
			for _, line := range tt.wantLines {
				if !hasLine(buf.String(), line) {
					t.Errorf("metrics lack %q; got:\n%s", line, buf.String())
				}
			}
		})
	}
}

func TestCloseDropsIdleConnections(t *testing.T) {
	o := startOrigin(t, byKey)
	b := newUpstreamBucket(t, o.addr, "")
	for _, k := range []string{"a", "b"} {
		if f := get(t, b, k); f.err != nil {
			t.Fatalf("Fetch(%s): %v", k, f.err)
		}
	}
	if open, _ := b.PoolStats(); open != 1 {
		t.Fatalf("PoolStats() open = %d before Close, want 1", open)
	}
	b.Close()
	if open, busy := b.PoolStats(); open != 0 || busy != 0 {
		t.Errorf("PoolStats() after Close = %d open, %d busy; want 0, 0", open, busy)
	}
}

// TestCloseClosesBusyConnectionsWhenReleased: a stream still being read when
// its bucket is closed (a retired bucket whose drain timed out) finishes, and
// its connection is then closed rather than kept idle for idle_timeout.
func TestCloseClosesBusyConnectionsWhenReleased(t *testing.T) {
	o := startOrigin(t, byKey)
	b := newUpstreamBucket(t, o.addr, "")
	resp, body := startStream(t, b, "a.txt")
	defer fasthttp.ReleaseResponse(resp)
	b.Close()
	data, err := io.ReadAll(body)
	body.Finish()
	if err != nil || string(data) != "hello from /bkt/a.txt" {
		t.Fatalf("stream after Close: %q, %v; want the whole body", data, err)
	}
	if open, busy := b.PoolStats(); open != 0 || busy != 0 {
		t.Errorf("PoolStats() after the stream finished = %d open, %d busy; want 0, 0", open, busy)
	}
}

// TestFetchStaleConnection covers the one retry Fetch makes: a pooled
// connection that the server closed while it was idle fails before any
// response byte, and the request goes once more on a new connection.
func TestFetchStaleConnection(t *testing.T) {
	const ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
	// answerThenClose answers one request and closes without saying so, as a
	// server dropping an idle keep-alive connection does.
	answerThenClose := func(_ int, c net.Conn) {
		if readRequest(c) == nil {
			_, _ = io.WriteString(c, ok)
		}
	}
	// closeUnanswered reads the request and closes without an answer.
	closeUnanswered := func(_ int, c net.Conn) { _ = readRequest(c) }
	tests := []struct {
		name         string
		serve        func(i int, c net.Conn)
		want         []error // per request, in order; nil is a 200
		wantAccepted int64
		wantTotals   Totals
	}{
		{
			name:         "a pooled connection the server closed is retried on a new one",
			serve:        answerThenClose,
			want:         []error{nil, nil, nil},
			wantAccepted: 3,
			wantTotals:   Totals{Attempts: 3},
		},
		{
			name:         "a new connection closed without an answer is not retried",
			serve:        closeUnanswered,
			want:         []error{ErrUpstreamUnreachable},
			wantAccepted: 1,
			wantTotals:   Totals{Attempts: 1, Failures: 1},
		},
		{
			name: "the retry happens once",
			serve: func(i int, c net.Conn) {
				if i == 0 {
					answerThenClose(i, c)
					return
				}
				closeUnanswered(i, c)
			},
			want:         []error{nil, ErrUpstreamUnreachable},
			wantAccepted: 2,
			wantTotals:   Totals{Attempts: 2, Failures: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr, accepted := scriptedOrigin(t, tt.serve)
			b := newUpstreamBucket(t, addr, "")
			for i, want := range tt.want {
				f := get(t, b, "a.txt")
				if !errors.Is(f.err, want) || (want == nil && (f.status != 200 || f.body != "ok")) {
					t.Fatalf("request %d: Fetch = %d %q, %v; want %v", i, f.status, f.body, f.err, want)
				}
			}
			if n := accepted.Load(); n != tt.wantAccepted {
				t.Errorf("origin accepted %d connections, want %d", n, tt.wantAccepted)
			}
			if got := b.Outcomes(); got != tt.wantTotals {
				t.Errorf("Outcomes() = %+v, want %+v: a stale pooled connection is not an upstream failure", got, tt.wantTotals)
			}
		})
	}
}

// TestFetchBodyUntilClose: a response with neither Content-Length nor chunked
// encoding ends when S3 closes the connection, which therefore cannot be reused.
func TestFetchBodyUntilClose(t *testing.T) {
	addr, accepted := scriptedOrigin(t, func(_ int, c net.Conn) {
		if readRequest(c) == nil {
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\n\r\nuntil the end")
		}
	})
	b := newUpstreamBucket(t, addr, "")
	if f := get(t, b, "a.txt"); f.err != nil || f.body != "until the end" {
		t.Fatalf("Fetch = %q, %v; want %q, nil", f.body, f.err, "until the end")
	}
	if open, busy := b.PoolStats(); open != 0 || busy != 0 || accepted.Load() != 1 {
		t.Errorf("PoolStats() = %d open, %d busy after a body read to the close, %d accepted; want 0, 0, 1", open, busy, accepted.Load())
	}
}
