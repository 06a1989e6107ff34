package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"yatagarasu/config"
)

// heldOrigin answers every request with headers and the first bytes of a
// 1 MiB body, then holds the rest until released: a response in progress.
func heldOrigin(t *testing.T) (*faultOrigin, func()) {
	t.Helper()
	release := make(chan struct{})
	var once sync.Once
	o := startFaultOrigin(t, func(n int64, c net.Conn) bool {
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", 1<<20, strings.Repeat("x", 1000))
		<-release
		_, _ = c.Write(bytes.Repeat([]byte("y"), 1<<20-1000))
		return true
	})
	free := func() { once.Do(func() { close(release) }) }
	t.Cleanup(free)
	return o, free
}

// openStream starts a GET and reads its first bytes, leaving it in flight.
func openStream(t *testing.T, url string) *http.Response {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		resp.Body.Close()
		t.Fatalf("stream: %d", resp.StatusCode)
	}
	if _, err := io.ReadFull(resp.Body, make([]byte, 100)); err != nil {
		t.Fatal(err)
	}
	return resp
}

func TestConcurrencyLimits(t *testing.T) {
	t.Run("server limit: N admitted, the rest 503 at once, the slot held until the body is done", func(t *testing.T) {
		o, free := heldOrigin(t)
		p := startProxyRaw(t, "[server]\nmax_concurrent_requests = 3\n"+faultBucket("f", o.addr, ""))
		var streams []*http.Response
		for range 3 {
			streams = append(streams, openStream(t, p.url+"/f/k"))
		}
		resp, body := do(t, "GET", p.url+"/f/k")
		if resp.StatusCode != 503 || !strings.Contains(string(body), "<Code>SlowDown</Code>") || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("4th request: %d %s, want 503 SlowDown with Retry-After", resp.StatusCode, body)
		}
		if o.hits.Load() != 3 {
			t.Fatalf("origin saw %d requests, want 3: a refused request must not reach it", o.hits.Load())
		}
		// Built-ins are exempt.
		if resp, _ := do(t, "GET", p.url+"/health"); resp.StatusCode != 200 {
			t.Fatalf("/health at the limit: %d", resp.StatusCode)
		}
		free()
		for _, s := range streams {
			_, _ = io.Copy(io.Discard, s.Body)
			s.Body.Close()
		}
		eventuallyT(t, "slots back", func() bool { return p.gw.InFlight() == 0 })
		if resp, _ := do(t, "GET", p.url+"/f/k"); resp.StatusCode != 200 {
			t.Fatalf("after the streams ended: %d, want 200", resp.StatusCode)
		}
		wantMetrics(t, p, `concurrency_limit_rejections_total{scope="global"} 1`)
	})
	t.Run("bucket limit leaves other buckets alone", func(t *testing.T) {
		o, free := heldOrigin(t)
		other := startFaultOrigin(t, func(n int64, c net.Conn) bool { return reply(c, 200, "", "other") })
		p := startProxy(t, faultBucket("f", o.addr, "max_concurrent_requests = 1")+faultBucket("g", other.addr, ""), nodeOptions{})
		s := openStream(t, p.url+"/f/k")
		if resp, _ := do(t, "GET", p.url+"/f/k"); resp.StatusCode != 503 {
			t.Fatalf("second request to f: %d, want 503", resp.StatusCode)
		}
		if resp, body := do(t, "GET", p.url+"/g/k"); resp.StatusCode != 200 || string(body) != "other" {
			t.Fatalf("bucket g: %d %s", resp.StatusCode, body)
		}
		free()
		_, _ = io.Copy(io.Discard, s.Body)
		s.Body.Close()
		wantMetrics(t, p, `concurrency_limit_rejections_total{scope="bucket",bucket="f"} 1`)
	})
	t.Run("a client that leaves mid-body frees its slot and upstream connection", func(t *testing.T) {
		o, free := heldOrigin(t)
		p := startProxyRaw(t, "[server]\nmax_concurrent_requests = 1\n"+faultBucket("f", o.addr, ""))
		c, err := net.Dial("tcp", p.addr())
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "GET /f/k HTTP/1.1\r\nHost: p\r\n\r\n")
		if _, err := io.ReadFull(c, make([]byte, 200)); err != nil {
			t.Fatal(err)
		}
		c.Close() // gone, 1 MiB unread
		free()    // the origin writes the rest; the proxy's write to the client fails
		eventuallyT(t, "the slot and the upstream connection back", func() bool {
			open, busy := p.buckets()[0].PoolStats()
			return p.gw.InFlight() == 0 && busy == 0 && open == 0
		})
		if resp, _ := do(t, "GET", p.url+"/f/k"); resp.StatusCode != 200 {
			t.Fatalf("next request: %d", resp.StatusCode)
		}
		wantMetrics(t, p, `http_streams_cut_total{bucket="f",side="client"} 1`)
	})
}

func TestPoolReuse(t *testing.T) {
	o := startFaultOrigin(t, func(n int64, c net.Conn) bool { return reply(c, 200, "", "pooled") })
	p := startProxy(t, faultBucket("f", o.addr, "connection_pool_size = 4\nmax_idle_connections = 2"), nodeOptions{})
	for range 20 {
		if resp, body := do(t, "GET", p.url+"/f/k"); resp.StatusCode != 200 || string(body) != "pooled" {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
	}
	if n := o.accepts.Load(); n != 1 {
		t.Fatalf("20 sequential requests used %d upstream connections, want 1", n)
	}
	// The server completes a request just after the client has its last
	// byte: wait for the connection to be handed back.
	eventuallyT(t, "one idle pooled connection", func() bool {
		open, busy := p.buckets()[0].PoolStats()
		return open == 1 && busy == 0
	})
	wantMetrics(t, p, `connection_pool_idle{bucket="f"} 1`, `connection_pool_active{bucket="f"} 0`, `connection_pool_wait_time_ms_count{bucket="f"}`)
}

func TestRateLimits(t *testing.T) {
	o := startFaultOrigin(t, func(n int64, c net.Conn) bool { return reply(c, 200, "", "ok") })
	statuses := func(p *proxy, path string, n int, headers ...string) []int {
		var out []int
		for range n {
			resp, _ := do(t, "GET", p.url+path, headers...)
			out = append(out, resp.StatusCode)
		}
		return out
	}
	t.Run("global", func(t *testing.T) {
		p := startProxyRaw(t, "[server]\n[server.rate_limit.global]\nrequests_per_second = 0.5\nburst = 2\n"+faultBucket("f", o.addr, "")+faultBucket("g", o.addr, ""))
		got := append(statuses(p, "/f/k", 2), statuses(p, "/g/k", 1)...)
		if fmt.Sprint(got) != "[200 200 429]" {
			t.Fatalf("statuses %v, want [200 200 429]: the burst is shared by all buckets", got)
		}
		resp, body := do(t, "GET", p.url+"/f/k")
		ra, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
		if resp.StatusCode != 429 || !strings.Contains(string(body), "<Code>SlowDown</Code>") || ra < 1 || ra > 2 {
			t.Fatalf("%d Retry-After %q %s; want 429 SlowDown, Retry-After 1-2s (a token every 2s)", resp.StatusCode, resp.Header.Get("Retry-After"), body)
		}
		wantMetrics(t, p, `rate_limit_exceeded_total{scope="global",bucket="f"} 1`, `rate_limit_exceeded_total{scope="global",bucket="g"} 1`)
	})
	t.Run("per bucket", func(t *testing.T) {
		p := startProxy(t, faultBucket("f", o.addr, "[buckets.s3.rate_limit]\nrequests_per_second = 0.1\nburst = 1")+faultBucket("g", o.addr, ""), nodeOptions{})
		if got := fmt.Sprint(statuses(p, "/f/k", 2), statuses(p, "/g/k", 3)); got != "[200 429] [200 200 200]" {
			t.Fatalf("statuses %s", got)
		}
		wantMetrics(t, p, `rate_limit_exceeded_total{scope="bucket",bucket="f"} 1`, `rate_limit_current_rate{bucket="f"}`)
	})
	perIP := "[server.rate_limit.per_ip]\nrequests_per_second = 0.1\nburst = 1\n"
	t.Run("per IP behind a trusted proxy", func(t *testing.T) {
		p := startProxyRaw(t, "[server]\ntrusted_proxies = [\"127.0.0.1/32\"]\n"+perIP+faultBucket("f", o.addr, ""))
		a := statuses(p, "/f/k", 2, "X-Forwarded-For: 203.0.113.7")
		b := statuses(p, "/f/k", 1, "X-Forwarded-For: 203.0.113.7, 198.51.100.9")
		c := statuses(p, "/f/k", 1, "Forwarded: for=\"[2001:db8::1]:443\"")
		if got := fmt.Sprint(a, b, c); got != "[200 429] [200] [200]" {
			t.Fatalf("statuses %s: each forwarded client (right-most untrusted address) has its own bucket", got)
		}
	})
	t.Run("per IP ignores forwarding headers from untrusted peers", func(t *testing.T) {
		p := startProxyRaw(t, "[server]\n"+perIP+faultBucket("f", o.addr, ""))
		a := statuses(p, "/f/k", 1, "X-Forwarded-For: 203.0.113.7")
		b := statuses(p, "/f/k", 1, "X-Forwarded-For: 198.51.100.9")
		if got := fmt.Sprint(a, b); got != "[200] [429]" {
			t.Fatalf("statuses %s: a spoofed X-Forwarded-For must not buy a new bucket", got)
		}
		wantMetrics(t, p, `rate_limit_exceeded_total{scope="per_ip",bucket="f"} 1`)
	})
	t.Run("enabled = false switches every limit off", func(t *testing.T) {
		p := startProxyRaw(t, "[server]\n[server.rate_limit]\nenabled = false\n[server.rate_limit.global]\nrequests_per_second = 0.1\nburst = 1\n"+faultBucket("f", o.addr, ""))
		if got := fmt.Sprint(statuses(p, "/f/k", 3)); got != "[200 200 200]" {
			t.Fatalf("statuses %s", got)
		}
	})
	t.Run("built-ins are exempt", func(t *testing.T) {
		p := startProxyRaw(t, "[server]\n[server.rate_limit.global]\nrequests_per_second = 0.1\nburst = 1\n"+faultBucket("f", o.addr, ""))
		statuses(p, "/f/k", 2)
		for _, path := range []string{"/health", "/ready", "/metrics"} {
			if resp, _ := do(t, "GET", p.url+path); resp.StatusCode != 200 {
				t.Fatalf("%s under a spent global limit: %d", path, resp.StatusCode)
			}
		}
	})
}

// pressureChildEnv selects the subprocess mode of the test binary (see
// TestMain): the resource tests change process-wide limits.
const pressureChildEnv = "YTG_PRESSURE_CHILD"

func TestResourcePressure(t *testing.T) {
	for _, mode := range []string{"fd", "memory"} {
		t.Run(mode, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), pressureChildEnv+"="+mode)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("the %s pressure subprocess failed: %v\n%s", mode, err, out)
			}
			t.Logf("%s", out)
		})
	}
}

// pressureChild runs in a subprocess: it lowers a limit, pushes usage past
// 95% of it, checks that requests are shed and built-ins still answer, then
// releases the usage and checks recovery. It returns the exit code.
func pressureChild(mode string) int {
	fail := func(format string, args ...any) int {
		fmt.Printf("FAIL: "+format+"\n", args...)
		return 1
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail("%v", err)
	}
	defer ln.Close()
	go serveOK(ln)
	toml := "[server]\nport = 0\n[server.resources]\nsample_interval = \"20ms\"\n"
	var hog [][]byte
	var files []*os.File
	switch mode {
	case "fd":
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: 128, Max: 128}); err != nil {
			return fail("setrlimit: %v", err)
		}
	case "memory":
		toml += "memory_limit = 268435456\n" // 256 MiB
	}
	toml += faultBucket("f", ln.Addr().String(), "")
	cfg, err := config.Parse([]byte(toml), "pressure.toml")
	if err != nil {
		return fail("%v", err)
	}
	n, err := startNode(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), nodeOptions{})
	if err != nil {
		return fail("startNode: %v", err)
	}
	defer n.stop(context.Background()) //nolint:errcheck
	url := "http://" + n.addr()
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	get := func(path string) int {
		resp, err := hc.Get(url + path)
		if err != nil {
			return 0
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	waitLevel := func(want string) bool {
		for range 250 {
			if n.pressure.Level().String() == want {
				return true
			}
			time.Sleep(20 * time.Millisecond)
		}
		return false
	}
	if get("/f/k") != 200 {
		return fail("before any pressure the request failed")
	}
	switch mode {
	case "fd":
		// Up to 97% of the 128 allowed: 124 descriptors in use.
		for openFDs() < 124 {
			f, err := os.Open(os.DevNull)
			if err != nil {
				return fail("opening files: %v", err)
			}
			files = append(files, f)
		}
	case "memory":
		for range 256 {
			b := make([]byte, 1<<20)
			for i := range b {
				b[i] = 1
			}
			hog = append(hog, b)
		}
	}
	if !waitLevel("exhausted") {
		return fail("level %v, want exhausted (sample %+v)", n.pressure.Level(), n.pressure.Last())
	}
	if len(files) > 0 {
		files[0].Close() // room for the test's own connection
		files = files[1:]
	}
	if st := get("/f/k"); st != 503 {
		return fail("under pressure GET = %d, want 503", st)
	}
	for _, path := range []string{"/health", "/metrics"} {
		if st := get(path); st != 200 {
			return fail("under pressure %s = %d, want 200", path, st)
		}
	}
	for _, f := range files {
		f.Close()
	}
	hog = nil
	runtime.GC()
	debug.FreeOSMemory()
	if !waitLevel("normal") {
		return fail("level %v after release, want normal (sample %+v)", n.pressure.Level(), n.pressure.Last())
	}
	if st := get("/f/k"); st != 200 {
		return fail("after recovery GET = %d, want 200", st)
	}
	fmt.Printf("%s pressure: shed at exhausted, recovered at normal\n", mode)
	return 0
}

// openFDs counts this process's open file descriptors.
func openFDs() int {
	entries, _ := os.ReadDir("/proc/self/fd")
	return len(entries)
}

// serveOK answers every request on ln with a small 200, for pressureChild.
func serveOK(ln net.Listener) {
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) })}
	_ = srv.Serve(ln)
}
