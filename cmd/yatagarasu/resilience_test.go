package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"yatagarasu/internal/s3server"
)

// faultOrigin is a loopback origin answering with raw bytes chosen per request
// by a script: statuses with or without Retry-After, slow headers or bodies,
// resets before or in the middle of a body. A real S3 server cannot be made
// to fail on cue; this one stands in at that seam only.
type faultOrigin struct {
	ln      net.Listener
	addr    string
	hits    atomic.Int64
	accepts atomic.Int64
	// at records when each request arrived; open holds the connections
	// not yet closed.
	mu     sync.Mutex
	at     []time.Time
	open   map[net.Conn]struct{}
	script atomic.Pointer[func(n int64, c net.Conn) bool]
	wg     sync.WaitGroup
}

// originLinger is how long a fault origin waits, once its test has ended
// and the proxy has been stopped, for the proxy to close its connections.
const originLinger = 10 * time.Second

// reply writes a complete response with body and returns true (keep-alive).
func reply(c net.Conn, status int, headers string, body string) bool {
	fmt.Fprintf(c, "HTTP/1.1 %d %s\r\n%sContent-Length: %d\r\n\r\n%s", status, http.StatusText(status), headers, len(body), body)
	return true
}

const slowDown = `<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message><RequestId>FAULT</RequestId></Error>`

func startFaultOrigin(t *testing.T, script func(n int64, c net.Conn) bool) *faultOrigin {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o := &faultOrigin{ln: ln, addr: ln.Addr().String(), open: map[net.Conn]struct{}{}}
	o.setScript(script)
	o.wg.Add(1)
	go func() {
		defer o.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			o.accepts.Add(1)
			o.mu.Lock()
			o.open[c] = struct{}{}
			o.mu.Unlock()
			o.wg.Add(1)
			go func() {
				defer o.wg.Done()
				defer func() {
					c.Close()
					o.mu.Lock()
					delete(o.open, c)
					o.mu.Unlock()
				}()
				br := bufio.NewReader(c)
				for {
					if !readRequest(br) {
						return
					}
					n := o.hits.Add(1)
					o.mu.Lock()
					o.at = append(o.at, time.Now())
					o.mu.Unlock()
					if !(*o.script.Load())(n, c) {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() {
		// The proxy is stopped by now (cleanups run last-registered first):
		// every connection it had should be closed. One still open is a
		// failure, not a hang of the whole run.
		ln.Close()
		done := make(chan struct{})
		go func() { o.wg.Wait(); close(done) }()
		select {
		case <-done:
			return
		case <-time.After(originLinger):
		}
		o.mu.Lock()
		t.Errorf("%d origin connections still open %s after the test: the proxy never closed them", len(o.open), originLinger)
		for c := range o.open {
			c.Close()
		}
		o.mu.Unlock()
		<-done
	})
	return o
}

func (o *faultOrigin) setScript(f func(n int64, c net.Conn) bool) { o.script.Store(&f) }

// gap returns the time between the arrivals of requests i and i+1 (0-based).
func (o *faultOrigin) gap(i int) time.Duration {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.at[i+1].Sub(o.at[i])
}

// readRequest consumes one request header (GET/HEAD: no body).
func readRequest(br *bufio.Reader) bool {
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return false
		}
		if line == "\r\n" {
			return true
		}
	}
}

// faultBucket is a bucket on the fault origin with extra [buckets.s3] keys.
func faultBucket(name, addr, extra string) string {
	return fmt.Sprintf(`
[[buckets]]
name = %q
path_prefix = "/%s"
[buckets.s3]
bucket = "b"
endpoint = "http://%s"
force_path_style = true
access_key = "AK"
secret_key = "SK"
%s
`, name, name, addr, extra)
}

const fastRetries = `
[buckets.s3.retry]
max_attempts = 3
initial_backoff = "10ms"
max_backoff = "2s"
`

func metricsOf(t *testing.T, p *proxy) string {
	t.Helper()
	_, body := do(t, "GET", p.url+"/metrics")
	return string(body)
}

// metricValue is the value of the series named exactly series (name and
// labels) in the metrics text m; the test fails when it is missing.
func metricValue(t *testing.T, m, series string) float64 {
	t.Helper()
	for line := range strings.Lines(m) {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Fatalf("%s: %v", series, err)
			}
			return f
		}
	}
	t.Fatalf("/metrics lacks %s", series)
	return 0
}

func wantMetrics(t *testing.T, p *proxy, lines ...string) {
	t.Helper()
	m := metricsOf(t, p)
	for _, l := range lines {
		if !strings.Contains(m, l) {
			t.Errorf("/metrics lacks %s", l)
		}
	}
}

func TestRetries(t *testing.T) {
	t.Run("503 then 500 then 200: the client sees one 200", func(t *testing.T) {
		o := startFaultOrigin(t, func(n int64, c net.Conn) bool {
			switch n {
			case 1:
				return reply(c, 503, "Content-Type: application/xml\r\n", slowDown)
			case 2:
				return reply(c, 500, "", "internal")
			}
			return reply(c, 200, "", "finally")
		})
		p := startProxy(t, faultBucket("f", o.addr, fastRetries), nodeOptions{})
		resp, body := do(t, "GET", p.url+"/f/key")
		if resp.StatusCode != 200 || string(body) != "finally" || o.hits.Load() != 3 {
			t.Fatalf("got %d %q after %d origin requests; want 200 \"finally\" after 3", resp.StatusCode, body, o.hits.Load())
		}
		wantMetrics(t, p, `s3_retry_attempts_total{bucket="f"} 2`, `s3_retry_success_total{bucket="f"} 1`)
	})
	t.Run("exhausted: S3's last answer passes through", func(t *testing.T) {
		o := startFaultOrigin(t, func(n int64, c net.Conn) bool {
			return reply(c, 503, "Content-Type: application/xml\r\n", slowDown)
		})
		p := startProxy(t, faultBucket("f", o.addr, fastRetries), nodeOptions{})
		resp, body := do(t, "GET", p.url+"/f/key")
		if resp.StatusCode != 503 || string(body) != slowDown || o.hits.Load() != 3 {
			t.Fatalf("got %d %q after %d origin requests; want S3's 503 SlowDown after 3", resp.StatusCode, body, o.hits.Load())
		}
		wantMetrics(t, p, `s3_retry_exhausted_total{bucket="f"} 1`, `s3_retry_attempts_total{bucket="f"} 2`)
	})
	for _, status := range []int{400, 403, 404, 412, 416} {
		t.Run(fmt.Sprintf("%d is never retried", status), func(t *testing.T) {
			o := startFaultOrigin(t, func(n int64, c net.Conn) bool { return reply(c, status, "", "no") })
			p := startProxy(t, faultBucket("f", o.addr, fastRetries), nodeOptions{})
			if resp, _ := do(t, "GET", p.url+"/f/key"); resp.StatusCode != status || o.hits.Load() != 1 {
				t.Fatalf("got %d after %d origin requests; want %d after 1", resp.StatusCode, o.hits.Load(), status)
			}
		})
	}
	t.Run("max_attempts = 1 means no retry", func(t *testing.T) {
		o := startFaultOrigin(t, func(n int64, c net.Conn) bool { return reply(c, 503, "", "x") })
		p := startProxy(t, faultBucket("f", o.addr, "[buckets.s3.retry]\nmax_attempts = 1"), nodeOptions{})
		if resp, _ := do(t, "GET", p.url+"/f/key"); resp.StatusCode != 503 || o.hits.Load() != 1 {
			t.Fatalf("got %d after %d origin requests; want 503 after 1", resp.StatusCode, o.hits.Load())
		}
	})
	t.Run("Retry-After is honoured up to max_backoff", func(t *testing.T) {
		o := startFaultOrigin(t, func(n int64, c net.Conn) bool {
			if n == 1 {
				return reply(c, 503, "Retry-After: 1\r\n", "wait")
			}
			return reply(c, 200, "", "ok")
		})
		p := startProxy(t, faultBucket("f", o.addr, fastRetries), nodeOptions{})
		if resp, _ := do(t, "GET", p.url+"/f/key"); resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		// A lower bound the proxy imposes, not a speed: the retry must wait
		// for S3's Retry-After (1s) rather than the 10ms backoff.
		if g := o.gap(0); g < time.Second {
			t.Fatalf("retry after %v, want at least S3's Retry-After of 1s", g)
		}
	})
	t.Run("a reset before the response is retried", func(t *testing.T) {
		o := startFaultOrigin(t, func(n int64, c net.Conn) bool {
			if n == 1 {
				return false // close without answering
			}
			return reply(c, 200, "", "second time")
		})
		p := startProxy(t, faultBucket("f", o.addr, fastRetries), nodeOptions{})
		if resp, body := do(t, "GET", p.url+"/f/key"); resp.StatusCode != 200 || string(body) != "second time" {
			t.Fatalf("got %d %q", resp.StatusCode, body)
		}
	})
	t.Run("refused connections exhaust retries with 502", func(t *testing.T) {
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		addr := ln.Addr().String()
		ln.Close()
		p := startProxy(t, faultBucket("f", addr, fastRetries), nodeOptions{})
		resp, body := do(t, "GET", p.url+"/f/key")
		if resp.StatusCode != 502 || !strings.Contains(string(body), "<Code>BadGateway</Code>") {
			t.Fatalf("got %d %s, want 502 BadGateway", resp.StatusCode, body)
		}
		wantMetrics(t, p, `s3_upstream_errors_total{bucket="f",kind="connection"} 3`)
	})
	t.Run("the budget stops retries in an outage", func(t *testing.T) {
		o := startFaultOrigin(t, func(n int64, c net.Conn) bool { return reply(c, 503, "", "down") })
		extra := fastRetries + "budget_percent = 10\nmin_retries_per_second = 0\n[buckets.s3.circuit_breaker]\nenabled = false\n"
		p := startProxy(t, faultBucket("f", o.addr, extra), nodeOptions{})
		const requests = 40
		for range requests {
			do(t, "GET", p.url+"/f/key")
		}
		// 10% of 40 requests: at most 4 retries, against 80 without a budget.
		if hits := o.hits.Load(); hits > requests+requests/10 {
			t.Fatalf("%d origin requests for %d client requests: the budget did not hold (at most %d)", hits, requests, requests+requests/10)
		}
		if !strings.Contains(metricsOf(t, p), `s3_retry_budget_exhausted_total{bucket="f"} `) {
			t.Fatal("no budget refusal counted")
		}
	})
}

func TestTimeouts(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	slowHeaders := func(n int64, c net.Conn) bool {
		select {
		case <-release:
		case <-time.After(5 * time.Second):
		}
		return false
	}
	t.Run("a slow upstream gives 504 after the attempt timeout", func(t *testing.T) {
		o := startFaultOrigin(t, slowHeaders)
		p := startProxy(t, faultBucket("f", o.addr, "timeout = \"400ms\"\nconnect_timeout = \"200ms\"\n[buckets.s3.retry]\nmax_attempts = 1"), nodeOptions{})
		start := time.Now()
		resp, body := do(t, "GET", p.url+"/f/key")
		took := time.Since(start)
		if resp.StatusCode != 504 || !strings.Contains(string(body), "<Code>GatewayTimeout</Code>") {
			t.Fatalf("got %d %s, want 504", resp.StatusCode, body)
		}
		// The lower bound is the proxy's doing; the upper one only catches a
		// timeout that never fires (the figure itself is logged, not judged).
		if took < 400*time.Millisecond || took > 2*time.Second {
			t.Fatalf("504 after %v; want it once the 400ms attempt timeout passed", took)
		}
		t.Logf("504 after %v for a 400ms timeout (+%.0f%%)", took, 100*(took.Seconds()/0.4-1))
		wantMetrics(t, p, `s3_upstream_errors_total{bucket="f",kind="timeout"} 1`)
	})
	t.Run("request_timeout bounds all attempts together", func(t *testing.T) {
		o := startFaultOrigin(t, slowHeaders)
		toml := "[server]\nrequest_timeout = \"700ms\"\n" + faultBucket("f", o.addr, "timeout = \"500ms\"\nconnect_timeout = \"200ms\"\n"+fastRetries)
		p := startProxyRaw(t, toml)
		resp, body := do(t, "GET", p.url+"/f/key")
		if resp.StatusCode != 504 || !strings.Contains(string(body), "within the request timeout") {
			t.Fatalf("got %d %s, want 504 for the request timeout", resp.StatusCode, body)
		}
		// 500ms, a 10-15ms backoff, then what is left of 700ms: two attempts,
		// never the third.
		if hits := o.hits.Load(); hits != 2 {
			t.Fatalf("%d origin requests, want 2 within the request timeout", hits)
		}
	})
}

// startProxyRaw is startProxy for a config that has its own [server] table
// (port 0 is added to it).
func startProxyRaw(t *testing.T, toml string) *proxy {
	t.Helper()
	return startProxyWith(t, strings.Replace(toml, "[server]\n", "[server]\nport = 0\n", 1), nodeOptions{})
}

func TestCutMidBodyLeaksNothing(t *testing.T) {
	o := startFaultOrigin(t, func(n int64, c net.Conn) bool {
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n%s", strings.Repeat("x", 5000))
		return false // reset mid-body
	})
	p := startProxy(t, faultBucket("f", o.addr, fastRetries), nodeOptions{})
	do(t, "GET", p.url+"/ready") // warm the client's connection
	baseline := runtime.NumGoroutine()
	for range 20 {
		resp, err := client.Get(p.url + "/f/key")
		if err != nil {
			t.Fatal(err)
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err == nil || n >= 100000 {
			t.Fatalf("read %d bytes, err %v: want a truncated body and an error", n, err)
		}
	}
	if hits := o.hits.Load(); hits != 20 {
		t.Errorf("%d origin requests for 20 client requests: bytes had reached the client, nothing may be retried", hits)
	}
	eventuallyT(t, "goroutines and pool slots back to baseline", func() bool {
		open, busy := p.buckets()[0].PoolStats()
		return busy == 0 && open == 0 && runtime.NumGoroutine() <= baseline+2
	})
	wantMetrics(t, p, `http_streams_cut_total{bucket="f",side="upstream"} 20`)
}

func TestCircuitBreaker(t *testing.T) {
	var healthy atomic.Bool
	o := startFaultOrigin(t, func(n int64, c net.Conn) bool {
		if healthy.Load() {
			return reply(c, 200, "", "ok")
		}
		return reply(c, 503, "", "down")
	})
	other := startFaultOrigin(t, func(n int64, c net.Conn) bool { return reply(c, 200, "", "other ok") })
	breaker := "[buckets.s3.retry]\nmax_attempts = 1\n[buckets.s3.circuit_breaker]\nfailure_threshold = 3\nsuccess_threshold = 2\nhalf_open_max_requests = 2\ntimeout = \"2s\"\n"
	p := startProxy(t, faultBucket("f", o.addr, breaker)+faultBucket("g", other.addr, breaker), nodeOptions{})

	for range 3 {
		do(t, "GET", p.url+"/f/key")
	}
	eventuallyT(t, "the breaker to open", func() bool {
		_, body := do(t, "GET", p.url+"/ready")
		return strings.Contains(string(body), "circuit breaker open")
	})
	hits := o.hits.Load()
	resp, body := do(t, "GET", p.url+"/f/key")
	if resp.StatusCode != 503 || !strings.Contains(string(body), "<Code>ServiceUnavailable</Code>") || resp.Header.Get("Retry-After") == "" || o.hits.Load() != hits {
		t.Fatalf("while open: %d %q Retry-After %q, %d origin requests; want an immediate 503 with Retry-After and none", resp.StatusCode, body, resp.Header.Get("Retry-After"), o.hits.Load()-hits)
	}
	if resp, body := do(t, "GET", p.url+"/g/key"); resp.StatusCode != 200 {
		t.Fatalf("the other bucket: %d %s; one dead bucket must not affect another", resp.StatusCode, body)
	}
	wantMetrics(t, p, `circuit_breaker_state{bucket="f"} 1`, `circuit_breaker_state{bucket="g"} 0`, `circuit_breaker_opened_total{bucket="f"} 1`)

	healthy.Store(true)
	eventuallyT(t, "probes to close the breaker", func() bool {
		resp, _ := do(t, "GET", p.url+"/f/key")
		return resp.StatusCode == 200 && strings.Contains(metricsOf(t, p), `circuit_breaker_state{bucket="f"} 0`)
	})
}

// TestRealS3StoppedAndRestarted stops the real S3 server mid-test: requests
// fail (502), the breaker opens and answers at once, and once S3 is back the
// probes close it.
func TestRealS3StoppedAndRestarted(t *testing.T) {
	s := s3server.Start(t, s3server.Versitygw)
	s.CreateBucket(t, "restart")
	s.Put(t, "restart", "k.txt", []byte("survives restarts"), "text/plain", nil)
	toml := fmt.Sprintf(`
[[buckets]]
name = "r"
path_prefix = "/r"
[buckets.s3]
bucket = "restart"
endpoint = %q
force_path_style = true
access_key = %q
secret_key = %q
connect_timeout = "500ms"
timeout = "1s"
[buckets.s3.retry]
max_attempts = 2
initial_backoff = "10ms"
[buckets.s3.circuit_breaker]
failure_threshold = 4
timeout = "1s"
`, s.URL, s3server.AccessKey, s3server.SecretKey)
	p := startProxy(t, toml, nodeOptions{})
	if resp, body := do(t, "GET", p.url+"/r/k.txt"); resp.StatusCode != 200 || string(body) != "survives restarts" {
		t.Fatalf("before the stop: %d %s", resp.StatusCode, body)
	}
	s.Stop()
	for range 2 {
		if resp, _ := do(t, "GET", p.url+"/r/k.txt"); resp.StatusCode != 502 {
			t.Fatalf("with S3 down: %d, want 502 after the retries", resp.StatusCode)
		}
	}
	eventuallyT(t, "the breaker to open", func() bool {
		resp, _ := do(t, "GET", p.url+"/r/k.txt")
		return resp.StatusCode == 503 && resp.Header.Get("Retry-After") != ""
	})
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	eventuallyT(t, "service to come back through the probes", func() bool {
		resp, body := do(t, "GET", p.url+"/r/k.txt")
		return resp.StatusCode == 200 && string(body) == "survives restarts"
	})
}

func TestSupervisionBudgetFromConfig(t *testing.T) {
	prov := &flakyProvider{panicOn: map[int64]bool{1: true, 2: true, 3: true, 4: true, 5: true, 6: true}}
	toml := "[supervision]\nmax_restarts = 1\nwithin = \"1m\"\n" + bucketTOML("media", "/media", mediaBucket, "") + bucketTOML("data", "/data", dataBucket, "")
	p := startProxy(t, toml, nodeOptions{credentials: map[string]aws.CredentialsProvider{"media": prov}})
	eventuallyT(t, "the budget to be spent", func() bool {
		_, body := do(t, "GET", p.url+"/ready")
		return strings.Contains(string(body), "exceeded its restart budget (1 in 1m0s)")
	})
	if resp, _ := do(t, "GET", p.url+"/media/x"); resp.StatusCode != 503 {
		t.Fatalf("media with its budget spent: %d, want 503", resp.StatusCode)
	}
	origin.Put(t, dataBucket, "budget.txt", []byte("fine"), "text/plain", nil)
	if resp, body := do(t, "GET", p.url+"/data/budget.txt"); resp.StatusCode != 200 || string(body) != "fine" {
		t.Fatalf("the other bucket: %d %s", resp.StatusCode, body)
	}
}
