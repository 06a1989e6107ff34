package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const adminToken = "yatagarasu-admin-token-0123456789"

// liveProxy is a node started from a config file the test can rewrite.
type liveProxy struct {
	*proxy
	file string
	logs *lockedBuffer
}

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

// startLive writes toml (with [server] port 0 and the admin token prepended)
// to a file and starts a node from it, with a short drain grace for removed
// buckets.
func startLive(t *testing.T, toml string) *liveProxy {
	t.Helper()
	file := filepath.Join(t.TempDir(), "live.toml")
	writeConfig(t, file, toml)
	cfg, err := loadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	logs := &lockedBuffer{}
	p := startProxyCfg(t, cfg, nodeOptions{accessLog: logs, drainGrace: 50 * time.Millisecond})
	return &liveProxy{proxy: p, file: file, logs: logs}
}

func writeConfig(t *testing.T, file, toml string) {
	t.Helper()
	full := "[server]\nport = 0\n[admin]\ntoken = \"" + adminToken + "\"\n" + toml
	if err := os.WriteFile(file, []byte(full), 0o600); err != nil {
		t.Fatal(err)
	}
}

// reload POSTs /admin/reload and returns the status and JSON answer.
func (p *liveProxy) reload(t *testing.T, toml string) (int, map[string]any) {
	t.Helper()
	writeConfig(t, p.file, toml)
	resp, body := do(t, "POST", p.url+"/admin/reload", "Authorization: Bearer "+adminToken)
	var out map[string]any
	_ = json.Unmarshal(body, &out)
	return resp.StatusCode, out
}

func TestReloadUnderLoadDropsNothing(t *testing.T) {
	o := startFaultOrigin(t, func(n int64, c net.Conn) bool { return reply(c, 200, "", "steady") })
	base := faultBucket("a", o.addr, "") + faultBucket("b", o.addr, "")
	p := startLive(t, base)

	var ok, failed atomic.Int64
	var failures sync.Map
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			path := []string{"/a/k", "/b/k"}[w%2]
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := client.Get(p.url + path)
				if err != nil {
					failed.Add(1)
					failures.Store(err.Error(), true)
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 200 && string(body) == "steady" {
					ok.Add(1)
				} else {
					failed.Add(1)
					failures.Store(fmt.Sprintf("%d %s", resp.StatusCode, body), true)
				}
			}
		}()
	}
	// Each reload changes something real: a bucket comes and goes, and the
	// buckets under load have their limits changed (so they are rebuilt).
	for i := range 40 {
		toml := base
		if i%2 == 0 {
			toml += faultBucket("extra", o.addr, "")
		}
		toml = strings.Replace(toml, "access_key", fmt.Sprintf("max_concurrent_requests = %d\naccess_key", 100+i), -1)
		if status, out := p.reload(t, toml); status != 200 {
			t.Fatalf("reload %d: %d %v", i, status, out)
		}
	}
	time.Sleep(200 * time.Millisecond)
	close(stop)
	wg.Wait()
	if failed.Load() != 0 {
		var list []string
		failures.Range(func(k, _ any) bool { list = append(list, k.(string)); return true })
		t.Fatalf("%d of %d requests failed during 40 reloads: %v", failed.Load(), ok.Load()+failed.Load(), list)
	}
	if ok.Load() == 0 {
		t.Fatal("no request was made")
	}
	t.Logf("%d requests, none failed, during 40 reloads", ok.Load())
	wantMetrics(t, p.proxy, "config_reload_success_total 40", "config_generation 41")
}

func TestReloadSemantics(t *testing.T) {
	var down atomic.Bool
	o := startFaultOrigin(t, func(n int64, c net.Conn) bool {
		if down.Load() {
			return reply(c, 503, "", "down")
		}
		return reply(c, 200, "", "ok")
	})
	breaker := "[buckets.s3.retry]\nmax_attempts = 1\n[buckets.s3.circuit_breaker]\nfailure_threshold = 2\ntimeout = \"1h\"\n"
	base := faultBucket("keep", o.addr, breaker) + faultBucket("gone", o.addr, "")
	p := startLive(t, base)

	// Open keep's breaker.
	down.Store(true)
	for range 2 {
		do(t, "GET", p.url+"/keep/k")
	}
	eventuallyT(t, "keep's breaker open", func() bool { return strings.Contains(metricsOf(t, p.proxy), `circuit_breaker_state{bucket="keep"} 1`) })
	down.Store(false)

	t.Run("invalid file: 400 with the reason, the old config stays", func(t *testing.T) {
		status, out := p.reload(t, base+"[[buckets]]\nname = \"broken\"\npath_prefix = \"nope\"\n")
		if status != 400 || !strings.Contains(fmt.Sprint(out["error"]), "path_prefix") || out["generation"] != float64(1) {
			t.Fatalf("%d %v: want 400 naming path_prefix, generation still 1", status, out)
		}
		if resp, _ := do(t, "GET", p.url+"/gone/k"); resp.StatusCode != 200 {
			t.Fatalf("after a refused reload: %d", resp.StatusCode)
		}
		wantMetrics(t, p.proxy, "config_reload_failure_total 1", "config_generation 1")
	})
	t.Run("add, remove, and an unrelated edit keeps breaker state", func(t *testing.T) {
		status, out := p.reload(t, faultBucket("keep", o.addr, breaker)+faultBucket("new", o.addr, ""))
		if status != 200 || out["generation"] != float64(2) {
			t.Fatalf("%d %v", status, out)
		}
		if resp, body := do(t, "GET", p.url+"/new/k"); resp.StatusCode != 200 || string(body) != "ok" {
			t.Fatalf("the added bucket: %d %s", resp.StatusCode, body)
		}
		if resp, _ := do(t, "GET", p.url+"/gone/k"); resp.StatusCode != 404 {
			t.Fatalf("the removed bucket: %d, want 404", resp.StatusCode)
		}
		if resp, _ := do(t, "GET", p.url+"/keep/k"); resp.StatusCode != 503 {
			t.Fatalf("keep's breaker after an unrelated edit: %d, want still open (503)", resp.StatusCode)
		}
		_, health := do(t, "GET", p.url+"/health")
		if !strings.Contains(string(health), `"generation": 2`) {
			t.Fatalf("/health: %s", health)
		}
	})
	t.Run("a changed bucket is rebuilt", func(t *testing.T) {
		status, _ := p.reload(t, faultBucket("keep", o.addr, breaker+"[buckets.s3.rate_limit]\nrequests_per_second = 0.01\nburst = 1\n")+faultBucket("new", o.addr, ""))
		if status != 200 {
			t.Fatal(status)
		}
		got := []int{}
		for range 2 {
			resp, _ := do(t, "GET", p.url+"/keep/k")
			got = append(got, resp.StatusCode)
		}
		if fmt.Sprint(got) != "[200 429]" {
			t.Fatalf("keep after its change: %v, want a fresh breaker (200) and the new rate limit (429)", got)
		}
	})
	t.Run("restart-only keys are kept, hot keys applied", func(t *testing.T) {
		toml := "[server.limits]\nmax_header_size = 4096\n" + faultBucket("keep", o.addr, breaker) + faultBucket("new", o.addr, "")
		// max_header_size fixes the read buffer (restart-only); the body limit is hot.
		toml = strings.Replace(toml, "[server.limits]\n", "[server.limits]\nmax_request_size = 1000\n", 1)
		if status, _ := p.reload(t, toml); status != 200 {
			t.Fatal(status)
		}
		if !strings.Contains(p.logOutput(), "max_header_size") {
			t.Error("no warning about the restart-only key")
		}
		if resp, _ := do(t, "GET", p.url+"/new/k", "X-Big: "+strings.Repeat("a", 5000)); resp.StatusCode != 200 {
			t.Errorf("a 5 KB header after lowering max_header_size to 4096: %d, want 200 (the running 8192 stays)", resp.StatusCode)
		}
		raw := rawRequest(t, p.addr(), "GET /new/k HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n"+strings.Repeat("a", 5000))
		if !strings.HasPrefix(raw, "HTTP/1.1 413") {
			t.Errorf("a 5000-byte body after max_request_size = 1000: %.40q, want 413 (hot)", raw)
		}
	})
}

// logOutput returns the node's process log (tests log through t.Log; the
// warning is checked through the last reload's effect instead when absent).
func (p *liveProxy) logOutput() string { return testLogs.String() }

func TestAdminEndpoints(t *testing.T) {
	o := startFaultOrigin(t, func(n int64, c net.Conn) bool { return reply(c, 200, "", "ok") })
	p := startLive(t, faultBucket("a", o.addr, ""))
	cases := []struct {
		name, method, path, header string
		status                     int
	}{
		{"no token", "POST", "/admin/reload", "", 401},
		{"wrong token", "POST", "/admin/reload", "Authorization: Bearer not-the-token-at-all", 403},
		{"GET reload", "GET", "/admin/reload", "Authorization: Bearer " + adminToken, 405},
		{"reload", "POST", "/admin/reload", "Authorization: Bearer " + adminToken, 200},
		{"pprof without token", "GET", "/admin/pprof/", "", 401},
		{"pprof index", "GET", "/admin/pprof/", "Authorization: Bearer " + adminToken, 200},
		{"pprof goroutines", "GET", "/admin/pprof/goroutine?debug=1", "Authorization: Bearer " + adminToken, 200},
		{"unknown admin path", "GET", "/admin/nothing", "Authorization: Bearer " + adminToken, 404},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var headers []string
			if tc.header != "" {
				headers = append(headers, tc.header)
			}
			if resp, body := do(t, tc.method, p.url+tc.path, headers...); resp.StatusCode != tc.status {
				t.Fatalf("%s %s = %d %.200s, want %d", tc.method, tc.path, resp.StatusCode, body, tc.status)
			}
		})
	}
	t.Run("disabled without a token", func(t *testing.T) {
		q := startProxy(t, faultBucket("a", o.addr, ""), nodeOptions{})
		if resp, _ := do(t, "POST", q.url+"/admin/reload", "Authorization: Bearer anything-at-all-here"); resp.StatusCode != 404 {
			t.Fatalf("%d, want 404: no token configured, no admin endpoints", resp.StatusCode)
		}
	})
}

func TestAccessLog(t *testing.T) {
	o := startFaultOrigin(t, func(n int64, c net.Conn) bool { return reply(c, 200, "", "logged") })
	authTOML := fmt.Sprintf("[buckets.auth]\nalgorithms = [\"HS256\"]\nsecret = %q\n[[buckets.auth.token_sources]]\ntype = \"query\"\nname = \"token\"\n[[buckets.auth.token_sources]]\ntype = \"bearer\"\n", jwtSecret)
	p := startLive(t, faultBucket("sec", o.addr, "")+authTOML+faultBucket("pub", o.addr, ""))
	tok := hsToken(t, jwt.MapClaims{"sub": "carol"})
	do(t, "GET", p.url+"/sec/reports/q1.txt?token="+tok+"&versionId=v1")
	do(t, "GET", p.url+"/sec/reports/q1.txt", "Authorization: Bearer "+tok)
	do(t, "GET", p.url+"/sec/reports/q1.txt", "Authorization: Bearer garbage")
	do(t, "GET", p.url+"/pub/a%20b.txt")
	do(t, "GET", p.url+"/health") // built-ins are not logged
	var lines []map[string]any
	eventuallyT(t, "four access-log lines (flushed within a second)", func() bool {
		lines = nil
		sc := bufio.NewScanner(strings.NewReader(p.logs.String()))
		for sc.Scan() {
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				t.Fatalf("not a JSON line: %q", sc.Text())
			}
			lines = append(lines, m)
		}
		return len(lines) >= 4
	})
	if len(lines) != 4 {
		t.Fatalf("%d lines, want 4 (one per request, none for /health):\n%s", len(lines), p.logs.String())
	}
	if strings.Contains(p.logs.String(), tok) || strings.Contains(p.logs.String(), "garbage") || strings.Contains(p.logs.String(), "versionId") {
		t.Fatalf("the access log holds a token or a query string:\n%s", p.logs.String())
	}
	first := lines[0]
	for k, want := range map[string]any{"msg": "request", "method": "GET", "bucket": "sec", "key": "reports/q1.txt", "status": float64(200), "bytes": float64(6), "attempts": float64(1), "subject": "carol", "breaker": "closed", "client_ip": "127.0.0.1"} {
		if first[k] != want {
			t.Errorf("%s = %v, want %v", k, first[k], want)
		}
	}
	if id, _ := first["request_id"].(string); len(id) != 16 {
		t.Errorf("request_id %v", first["request_id"])
	}
	if lines[2]["status"] != float64(403) || lines[2]["reason"] != "malformed" {
		t.Errorf("the rejected token's line: %v", lines[2])
	}
	if lines[3]["key"] != "a b.txt" {
		t.Errorf("decoded key: %v", lines[3]["key"])
	}
}

// mainChildEnv makes the test binary run main's run() with the arguments in
// YTG_MAIN_ARGS (see TestMain): the drain tests need a real process to signal.
const mainChildEnv = "YTG_MAIN_ARGS"

// startMainChild runs main's run() on the config file in a child process
// (the test binary, see mainChildEnv) and returns once url/ready answers 200.
// The caller stops it; one still running when the test ends is killed.
func startMainChild(t *testing.T, file, url string) (*exec.Cmd, *lockedBuffer) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), mainChildEnv+"=-config\x1f"+file)
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() }) // a no-op once it has exited
	eventuallyT(t, "the child to listen", func() bool {
		resp, err := http.Get(url + "/ready")
		if err == nil {
			resp.Body.Close()
			return resp.StatusCode == 200
		}
		return false
	})
	return cmd, out
}

func TestDrainOnSIGTERM(t *testing.T) {
	o, free := heldOrigin(t)
	file := filepath.Join(t.TempDir(), "drain.toml")
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	toml := fmt.Sprintf("[server]\nport = %d\ndrain_delay = \"1s\"\nshutdown_timeout = \"20s\"\n[log]\naccess = false\n", port) + faultBucket("f", o.addr, "")
	if err := os.WriteFile(file, []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	start := func() (*exec.Cmd, *lockedBuffer) { return startMainChild(t, file, url) }

	t.Run("ready goes 503, the listener stays for drain_delay, the stream finishes, exit 0", func(t *testing.T) {
		cmd, out := start()
		stream := openStream(t, url+"/f/k")
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		eventuallyT(t, "/ready to answer 503", func() bool {
			resp, err := http.Get(url + "/ready")
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == 503
		})
		// Within drain_delay new requests are still served.
		if resp, err := http.Get(url + "/health"); err != nil || resp.StatusCode != 200 {
			t.Fatalf("during drain_delay: %v %v", resp, err)
		}
		eventuallyT(t, "the listener to close after drain_delay", func() bool {
			c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
			if err != nil {
				return true
			}
			c.Close()
			return false
		})
		free() // the in-flight stream can now finish
		n, err := io.Copy(io.Discard, stream.Body)
		stream.Body.Close()
		if err != nil || n != 1<<20-100 {
			t.Fatalf("the stream in flight got %d more bytes, err %v; want all of them", n, err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("exit: %v\n%s", err, out.String())
			}
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			t.Fatalf("did not exit\n%s", out.String())
		}
	})
	t.Run("a second signal exits at once", func(t *testing.T) {
		cmd, out := start()
		_ = cmd.Process.Signal(syscall.SIGTERM)
		time.Sleep(100 * time.Millisecond)
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err == nil {
				t.Fatal("exit 0 after a second signal, want 1")
			}
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			t.Fatalf("still running after the second signal\n%s", out.String())
		}
	})
	t.Run("SIGHUP reloads", func(t *testing.T) {
		cmd, out := start()
		defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
		if err := os.WriteFile(file, []byte(toml+faultBucket("g", o.addr, "")), 0o600); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Process.Signal(syscall.SIGHUP)
		eventuallyT(t, "the new bucket after SIGHUP", func() bool {
			resp, err := http.Get(url + "/health")
			if err != nil {
				return false
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return strings.Contains(string(body), `"generation": 2`)
		})
		if !strings.Contains(out.String(), "configuration reloaded") {
			t.Errorf("no reload logged:\n%s", out.String())
		}
	})
}
