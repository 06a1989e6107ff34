package gateway

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"
	"go.uber.org/goleak"

	"yatagarasu/buckets"
	"yatagarasu/config"
)

func TestMain(m *testing.M) {
	// fasthttp's timers end at their next wake-up after a stop.
	goleak.VerifyTestMain(m,
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*HostClient).connsCleaner"),
	)
}

// env is a gateway in front of a scripted origin, both on in-memory
// listeners: the origin answers whatever the test's handler writes, which a
// real S3 server cannot be made to do (cut bodies, hop-by-hop headers…).
type env struct {
	t      *testing.T
	gw     *Gateway
	bucket *buckets.Bucket
	ln     *fasthttputil.InmemoryListener
	logs   *lockedBuffer
}

func newEnv(t *testing.T, origin fasthttp.RequestHandler) *env {
	t.Helper()
	originLn := fasthttputil.NewInmemoryListener()
	originSrv := &fasthttp.Server{Handler: origin}
	go originSrv.Serve(originLn) //nolint:errcheck
	t.Cleanup(func() { _ = originSrv.Shutdown() })
	return newEnvOn(t, originLn)
}

// newRawEnv is newEnv with an origin that writes exact bytes: script gets
// each connection after its request header has been read, and the
// connection is closed when script returns.
func newRawEnv(t *testing.T, script func(c net.Conn)) *env {
	t.Helper()
	originLn := fasthttputil.NewInmemoryListener()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := originLn.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					line, err := br.ReadString('\n')
					if err != nil || line == "\r\n" {
						break
					}
				}
				script(c)
			}()
		}
	}()
	t.Cleanup(func() { originLn.Close(); <-done })
	return newEnvOn(t, originLn)
}

func newEnvOn(t *testing.T, originLn *fasthttputil.InmemoryListener) *env {
	t.Helper()
	cfg, err := config.Parse([]byte(`
[[buckets]]
name = "media"
path_prefix = "/media"
[buckets.s3]
bucket = "bk"
endpoint = "http://origin.test:9000"
force_path_style = true
access_key = "AK"
secret_key = "SK"
timeout = "2s"
`), "test.toml")
	if err != nil {
		t.Fatal(err)
	}
	b, err := buckets.New(cfg.Buckets[0], buckets.Options{Dial: func(string) (net.Conn, error) { return originLn.Dial() }})
	if err != nil {
		t.Fatal(err)
	}
	// The supervisor's job in production: publish a ready state.
	b.Publish(&buckets.Snapshot{State: buckets.Ready, HasCredentials: true, Credentials: aws.Credentials{AccessKeyID: "AK", SecretAccessKey: "SK"}})
	logs := &lockedBuffer{}
	gw := New(Options{Version: "test", BuiltinsOnMain: true, Log: slog.New(slog.NewTextHandler(logs, nil))})
	gw.SetTable(&Table{Router: buckets.NewRouter([]*buckets.Bucket{b}), Generation: 7, Settings: Settings{StreamIdleTimeout: 500 * time.Millisecond}})
	ln := fasthttputil.NewInmemoryListener()
	srv := gw.NewServer("yatagarasu", gw.Handler())
	go srv.Serve(ln) //nolint:errcheck
	t.Cleanup(func() {
		_ = srv.Shutdown()
		b.Close()
	})
	return &env{t: t, gw: gw, bucket: b, ln: ln, logs: logs}
}

// raw sends raw bytes on a fresh connection and returns the whole answer.
func (e *env) raw(req string) string {
	e.t.Helper()
	c, err := e.ln.Dial()
	if err != nil {
		e.t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		e.t.Fatal(err)
	}
	out, _ := io.ReadAll(c)
	return string(out)
}

// get sends one request (Connection: close) and parses the answer.
func (e *env) get(method, target string, headers ...string) (*fasthttp.Response, string) {
	e.t.Helper()
	raw := method + " " + target + " HTTP/1.1\r\nHost: proxy\r\nConnection: close\r\n"
	for _, h := range headers {
		raw += h + "\r\n"
	}
	out := e.raw(raw + "\r\n")
	resp := &fasthttp.Response{}
	if method == "HEAD" {
		resp.SkipBody = true
	}
	if err := resp.Read(bufio.NewReader(strings.NewReader(out))); err != nil {
		e.t.Fatalf("%s %s: unparsable answer %q: %v", method, target, out, err)
	}
	return resp, out
}

func (e *env) metrics() string {
	var buf bytes.Buffer
	e.gw.WriteMetrics(&buf)
	return buf.String()
}

func TestErrorAnswers(t *testing.T) {
	e := newEnv(t, func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("object") })
	cases := []struct {
		name, method, target string
		status               int
		code                 string
	}{
		{"unknown prefix", "GET", "/nope/x", 404, "NoSuchBucket"},
		{"prefix needs a boundary", "GET", "/mediax/x", 404, "NoSuchBucket"},
		{"bucket root", "GET", "/media", 403, "AccessDenied"},
		{"bucket root with slash", "GET", "/media/", 403, "AccessDenied"},
		{"put", "PUT", "/media/x", 405, "MethodNotAllowed"},
		{"delete", "DELETE", "/media/x", 405, "MethodNotAllowed"},
		{"malformed escape", "GET", "/media/%zz", 400, "InvalidURI"},
		{"truncated escape", "GET", "/media/%4", 400, "InvalidURI"},
		{"asterisk target", "GET", "*", 400, "BadRequest"},
		{"malformed query", "GET", "/media/x?versionId=%G0", 400, "InvalidArgument"},
		{"unknown admin endpoint", "GET", "/admin/reload", 404, "NotFound"},
		{"post to a built-in", "POST", "/health", 405, "MethodNotAllowed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, out := e.get(tc.method, tc.target)
			if resp.StatusCode() != tc.status {
				t.Fatalf("%s %s = %d, want %d:\n%s", tc.method, tc.target, resp.StatusCode(), tc.status, out)
			}
			rid := string(resp.Header.Peek("X-Request-Id"))
			want := fmt.Sprintf("<Error><Code>%s</Code><Message>", tc.code)
			if !strings.Contains(string(resp.Body()), want) || !strings.Contains(string(resp.Body()), "<RequestId>"+rid+"</RequestId>") {
				t.Fatalf("body %s: want code %s and request id %s", resp.Body(), tc.code, rid)
			}
			if string(resp.Header.ContentType()) != "application/xml" {
				t.Errorf("Content-Type %q, want application/xml", resp.Header.ContentType())
			}
			if tc.status == 405 && string(resp.Header.Peek("Allow")) != allowedMethods {
				t.Errorf("405 without Allow: %q", resp.Header.Peek("Allow"))
			}
		})
	}
}

func TestOptions(t *testing.T) {
	e := newEnv(t, func(*fasthttp.RequestCtx) {})
	resp, out := e.get("OPTIONS", "/anything")
	if resp.StatusCode() != 204 || string(resp.Header.Peek("Allow")) != allowedMethods || len(resp.Body()) != 0 {
		t.Fatalf("OPTIONS answered:\n%s", out)
	}
}

func TestPassThrough(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	e := newEnv(t, func(ctx *fasthttp.RequestCtx) {
		mu.Lock()
		seen = append(seen, string(ctx.Request.Header.RequestURI()))
		mu.Unlock()
		h := &ctx.Response.Header
		switch string(ctx.Path()) {
		case "/bk/not-modified":
			ctx.SetStatusCode(304)
			h.Set("ETag", `"abc"`)
			h.Set("Last-Modified", "Wed, 21 Oct 2015 07:28:00 GMT")
		case "/bk/hop":
			h.Set("Keep-Alive", "timeout=5")
			h.Set("Proxy-Authenticate", "Basic")
			h.Set("Upgrade", "h2c")
			h.Set("X-Request-Id", "from-origin")
			h.Set("Server", "AmazonS3")
			h.Set("X-Amz-Meta-A", "1")
			h.Add("X-Amz-Meta-Multi", "one")
			h.Add("X-Amz-Meta-Multi", "two")
			ctx.SetBodyString("hop body")
		case "/bk/head":
			h.SetContentLength(123456)
		case "/bk/chunked":
			ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
				for i := range 5 {
					fmt.Fprintf(w, "chunk%d;", i)
					_ = w.Flush()
				}
			})
		}
	})
	t.Run("304 keeps its validators", func(t *testing.T) {
		resp, out := e.get("GET", "/media/not-modified", `If-None-Match: "abc"`)
		if resp.StatusCode() != 304 || string(resp.Header.Peek("ETag")) != `"abc"` || string(resp.Header.Peek("Last-Modified")) != "Wed, 21 Oct 2015 07:28:00 GMT" {
			t.Fatalf("304 answered:\n%s", out)
		}
	})
	t.Run("hop-by-hop and own headers dropped, metadata kept", func(t *testing.T) {
		resp, out := e.get("GET", "/media/hop")
		for _, h := range []string{"Keep-Alive", "Proxy-Authenticate", "Upgrade"} {
			if len(resp.Header.Peek(h)) != 0 {
				t.Errorf("%s passed through:\n%s", h, out)
			}
		}
		if string(resp.Header.Peek("X-Request-Id")) == "from-origin" || strings.Count(out, "X-Request-Id") != 1 {
			t.Errorf("X-Request-Id must be the proxy's own, once:\n%s", out)
		}
		if strings.Contains(out, "AmazonS3") {
			t.Errorf("origin's Server header passed through:\n%s", out)
		}
		if string(resp.Header.Peek("X-Amz-Meta-A")) != "1" || strings.Count(out, "X-Amz-Meta-Multi") != 2 || string(resp.Body()) != "hop body" {
			t.Errorf("metadata or body lost:\n%s", out)
		}
	})
	t.Run("HEAD keeps the object's Content-Length", func(t *testing.T) {
		_, out := e.get("HEAD", "/media/head")
		if !strings.Contains(out, "Content-Length: 123456\r\n") {
			t.Fatalf("HEAD answered:\n%s", out)
		}
	})
	t.Run("chunked upstream streams to the client", func(t *testing.T) {
		resp, out := e.get("GET", "/media/chunked")
		if string(resp.Body()) != "chunk0;chunk1;chunk2;chunk3;chunk4;" || !strings.Contains(out, "Transfer-Encoding: chunked") {
			t.Fatalf("chunked answered:\n%s", out)
		}
	})
	t.Run("key and query reach S3 encoded once", func(t *testing.T) {
		e.get("GET", "/media/a%20b/%E6%97%A5+c%2Fd?response-content-type=text%2Fplain&junk=1")
		mu.Lock()
		defer mu.Unlock()
		got := seen[len(seen)-1]
		want := "/bk/a%20b/%E6%97%A5%2Bc/d?response-content-type=text%2Fplain"
		if got != want {
			t.Fatalf("origin saw %s, want %s", got, want)
		}
	})
}

func TestNoInventedContentType(t *testing.T) {
	e := newRawEnv(t, func(c net.Conn) {
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nno type")
	})
	_, out := e.get("GET", "/media/untyped")
	if strings.Contains(out, "Content-Type") || !strings.HasSuffix(out, "no type") {
		t.Fatalf("S3 sent no Content-Type; the proxy answered:\n%s", out)
	}
}

func TestUpstreamCutMidBodyClosesClient(t *testing.T) {
	e := newRawEnv(t, func(c net.Conn) {
		// Promise 100000 bytes (a streamed body), send 20000, then drop the
		// connection.
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n"+strings.Repeat("x", 20000))
	})
	out := e.raw("GET /media/cut HTTP/1.1\r\nHost: p\r\n\r\n")
	head, body, _ := strings.Cut(out, "\r\n\r\n")
	if !strings.Contains(head, "Content-Length: 100000") || len(body) != 20000 {
		t.Fatalf("want headers promising 100000 bytes, 20000 delivered, then EOF; got %d body bytes:\n%s", len(body), head)
	}
	// raw returned before its deadline: the proxy closed the connection (a
	// keep-alive connection would have stayed open).
	if m := e.metrics(); !strings.Contains(m, `http_streams_cut_total{bucket="media",side="upstream"} 1`) {
		t.Errorf("cut not counted:\n%s", m)
	}
}

// TestSmallBodyFailureIsCleanError: a body small enough to be read whole
// before the answer starts (smallBodyMax) that S3 cuts or stalls becomes a
// whole 502 or 504 XML answer instead of a truncated 200.
func TestSmallBodyFailureIsCleanError(t *testing.T) {
	for _, tc := range []struct {
		name, code string
		status     int
		stall      bool
	}{
		{"cut", "BadGateway", 502, false},
		{"stalled", "GatewayTimeout", 504, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			release := make(chan struct{})
			e := newRawEnv(t, func(c net.Conn) {
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nETag: \"x\"\r\n\r\n"+strings.Repeat("x", 100))
				if tc.stall {
					<-release
				}
			})
			t.Cleanup(func() { close(release) })
			resp, out := e.get("GET", "/media/small")
			if resp.StatusCode() != tc.status || !strings.Contains(out, "<Code>"+tc.code+"</Code>") ||
				len(resp.Header.Peek("ETag")) != 0 || len(resp.Header.Peek("X-Request-Id")) == 0 {
				t.Fatalf("answered:\n%s\nwant a whole %d %s with no header of S3's", out, tc.status, tc.code)
			}
			if m := e.metrics(); !strings.Contains(m, `http_streams_cut_total{bucket="media",side="upstream"} 1`) {
				t.Errorf("cut not counted:\n%s", m)
			}
		})
	}
}

func TestStalledUpstreamIsCutAfterIdleTimeout(t *testing.T) {
	release := make(chan struct{})
	e := newRawEnv(t, func(c net.Conn) {
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\nabc")
		<-release
	})
	t.Cleanup(func() { close(release) })
	start := time.Now()
	out := e.raw("GET /media/stall HTTP/1.1\r\nHost: p\r\n\r\n")
	if !strings.HasSuffix(out, "\r\n\r\nabc") {
		t.Fatalf("got %q, want the 3 bytes that came, then a closed connection", out)
	}
	// Not a timing assertion: raw's deadline is 5s; without the 500ms idle
	// timeout the connection would have stayed open until then.
	if time.Since(start) >= 5*time.Second {
		t.Fatal("the stalled stream was not cut by the idle timeout")
	}
}

func TestPanicIsRecovered(t *testing.T) {
	e := newEnv(t, func(ctx *fasthttp.RequestCtx) { ctx.SetStatusCode(500) })
	// The edge-event seam runs on the request's goroutine: a panicking
	// implementation stands for any bug in request handling.
	e.bucket.SetEvents(panicEvents{})
	e.bucket.ArmEdge()
	resp, out := e.get("GET", "/media/boom")
	if resp.StatusCode() != 500 || !strings.Contains(string(resp.Body()), "<Code>InternalError</Code>") || !resp.ConnectionClose() {
		t.Fatalf("panic answered:\n%s", out)
	}
	if m := e.metrics(); !strings.Contains(m, `panics_total{bucket="media"} 1`) {
		t.Errorf("panic not counted:\n%s", m)
	}
	if !strings.Contains(e.logs.String(), "panic while serving a request") || !strings.Contains(e.logs.String(), "goroutine") {
		t.Errorf("panic not logged with its stack:\n%s", e.logs.String())
	}
	// The bucket still serves: nothing was restarted or marked down.
	resp, _ = e.get("GET", "/media/after")
	if resp.StatusCode() != 500 { // the origin's own 500, passed through
		t.Fatalf("after the panic: %d", resp.StatusCode())
	}
}

type panicEvents struct{}

func (panicEvents) UpstreamFailed(*buckets.Bucket)            { panic("bug in an edge handler") }
func (panicEvents) BreakerTrip(*buckets.Bucket, uint64)       {}
func (panicEvents) ProbeResult(*buckets.Bucket, uint64, bool) {}
func (panicEvents) RetrySlot(*buckets.Bucket, int, time.Duration) (time.Duration, bool) {
	return 0, false
}

func TestParseErrorsAreXML(t *testing.T) {
	e := newEnv(t, func(*fasthttp.RequestCtx) {})
	cases := []struct {
		name   string
		raw    string
		status string
		code   string
	}{
		{"header over the buffer", "GET /media/x HTTP/1.1\r\nHost: p\r\nX-Big: " + strings.Repeat("a", 9000) + "\r\n\r\n", "431", "RequestHeaderSectionTooLarge"},
		{"garbage request line", "NONSENSE\r\n\r\n", "400", "BadRequest"},
		{"body over the limit", "POST /media/x HTTP/1.1\r\nHost: p\r\nContent-Length: 200000000\r\n\r\n" + strings.Repeat("a", 8192), "413", "EntityTooLarge"},
		{"declared body never sent: refused from the headers", "GET /media/x HTTP/1.1\r\nHost: p\r\nContent-Length: 10\r\n\r\n", "400", "BadRequest"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := e.raw(tc.raw)
			if !strings.HasPrefix(out, "HTTP/1.1 "+tc.status) || !strings.Contains(out, "<Code>"+tc.code+"</Code>") || !strings.Contains(out, "X-Request-Id: ") {
				t.Fatalf("answered:\n%s\nwant %s %s with a request id", out, tc.status, tc.code)
			}
		})
	}
}

func TestReadyReflectsBuckets(t *testing.T) {
	e := newEnv(t, func(*fasthttp.RequestCtx) {})
	resp, out := e.get("GET", "/ready")
	if resp.StatusCode() != 200 || !strings.Contains(out, `"generation": 7`) || !strings.Contains(out, `"state": "ready"`) {
		t.Fatalf("/ready:\n%s", out)
	}
	e.bucket.Publish(&buckets.Snapshot{State: buckets.Degraded, Reason: "some failures", HasCredentials: true})
	if resp, out := e.get("GET", "/ready"); resp.StatusCode() != 200 || !strings.Contains(out, `"reason": "some failures"`) {
		t.Fatalf("/ready with a degraded bucket:\n%s", out)
	}
	e.bucket.Publish(&buckets.Snapshot{State: buckets.NotReady, Reason: "credentials: none"})
	if resp, out := e.get("GET", "/ready"); resp.StatusCode() != 503 || !strings.Contains(out, `"status": "not ready"`) {
		t.Fatalf("/ready with no serving bucket:\n%s", out)
	}
	resp, out = e.get("GET", "/media/x")
	if resp.StatusCode() != 503 || !strings.Contains(out, "<Code>ServiceUnavailable</Code>") || strings.Contains(out, "credentials") {
		t.Fatalf("request to a not-ready bucket:\n%s", out)
	}
}

func TestRequestIDsAreUnique(t *testing.T) {
	seen := map[[requestIDLen]byte]bool{}
	for range 10000 {
		id := newRequestID()
		if seen[id] {
			t.Fatalf("request id %s repeated", id)
		}
		seen[id] = true
		for _, c := range id {
			if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'F') {
				t.Fatalf("request id %s is not uppercase hex", id)
			}
		}
	}
}

func TestClassifyCoversEverySentinel(t *testing.T) {
	cases := []struct {
		err    error
		status int
	}{
		{ErrNoRoute, 404}, {ErrNotFound, 404}, {ErrMethodNotAllowed, 405}, {ErrBadPath, 400},
		{buckets.ErrBadQuery, 400}, {ErrBadRequest, 400}, {ErrHeaderTooLarge, 431}, {ErrBodyTooLarge, 413},
		{ErrListingDisabled, 403}, {buckets.ErrNotReady, 503}, {buckets.ErrNoFreeConnections, 503},
		{&buckets.TimeoutError{Err: io.EOF}, 504}, {&buckets.ConnError{Err: io.EOF}, 502},
		{ErrPanic, 500}, {buckets.ErrSigning, 500}, {fmt.Errorf("wrapped: %w", ErrNoRoute), 404},
	}
	for _, tc := range cases {
		if got := classify(tc.err).status; got != tc.status {
			t.Errorf("classify(%v) = %d, want %d", tc.err, got, tc.status)
		}
	}
}

func TestXMLEscaping(t *testing.T) {
	got := string(appendXMLEscaped(nil, `<a href="x">&'</a>`))
	if want := "&lt;a href=&quot;x&quot;&gt;&amp;&apos;&lt;/a&gt;"; got != want {
		t.Fatalf("escaped %q, want %q", got, want)
	}
}

// lockedBuffer is a log sink shared with server goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}
