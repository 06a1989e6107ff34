package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"go.uber.org/goleak"

	"yatagarasu/config"
	"yatagarasu/internal/s3server"
)

// origin is the real S3 server every integration test in this package uses.
var origin *s3server.Server

// Buckets on the origin.
const (
	mediaBucket = "ytg-media"
	dataBucket  = "ytg-data"
	otherBucket = "ytg-other"
)

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	if mode := os.Getenv(pressureChildEnv); mode != "" {
		return pressureChild(mode)
	}
	if args, ok := os.LookupEnv(mainChildEnv); ok {
		startsProcess = true
		return run(strings.Split(args, "\x1f"), os.Stdout, os.Stderr)
	}
	root, err := os.MkdirTemp("", "ytg-s3-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(root)
	origin, err = s3server.StartProcess(s3server.Versitygw, root)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx := context.Background()
	for _, b := range []string{mediaBucket, dataBucket, otherBucket} {
		if _, err := origin.Client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
			fmt.Fprintln(os.Stderr, "creating bucket:", err)
			origin.Stop()
			return 1
		}
	}
	code := m.Run()
	origin.Stop()
	if code == 0 {
		// Every node a test started has been stopped by its cleanup: nothing
		// of ours may still run. Ignored, because they are not ours or end on
		// their own: protoactor's event stream, the SDK client's idle
		// connections, and fasthttp's timers, which exit at their next wake-up
		// after a stop (the process-wide date updater, a stopped server's
		// worker-pool cleaner within 10s, a closed HostClient's connection
		// cleaner within its idle timeout).
		if err := goleak.Find(
			goleak.IgnoreTopFunction("github.com/asynkron/protoactor-go/actor.(*eventStream).run"),
			goleak.IgnoreAnyFunction("net/http.(*persistConn).readLoop"),
			goleak.IgnoreAnyFunction("net/http.(*persistConn).writeLoop"),
			goleak.IgnoreAnyFunction("github.com/asynkron/protoactor-go/actor.NewDeadLetter.NewThrottle.func4.1"),
			goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
			goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
			goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*HostClient).connsCleaner"),
		); err != nil {
			fmt.Fprintln(os.Stderr, "goroutine leak:", err)
			return 1
		}
	}
	return code
}

// proxy is a node under test with its address.
type proxy struct {
	*node
	url      string
	adminURL string
}

// bucketTOML renders one [[buckets]] entry pointing at the origin.
func bucketTOML(name, prefix, bucket string, extra string) string {
	return fmt.Sprintf(`
[[buckets]]
name = %q
path_prefix = %q
[buckets.s3]
bucket = %q
endpoint = %q
force_path_style = true
access_key = %q
secret_key = %q
region = %q
%s
`, name, prefix, bucket, origin.URL, s3server.AccessKey, s3server.SecretKey, s3server.Region, extra)
}

// startProxy starts a node on a free port from the TOML text (a [server]
// table with port = 0 is prepended) and stops it when the test ends.
func startProxy(t *testing.T, toml string, opts nodeOptions) *proxy {
	t.Helper()
	return startProxyWith(t, "[server]\nport = 0\n"+toml, opts)
}

// startProxyWith starts a node from the whole TOML text as given.
func startProxyWith(t testing.TB, toml string, opts nodeOptions) *proxy {
	t.Helper()
	cfg, err := config.Parse([]byte(toml), t.Name()+".toml")
	if err != nil {
		t.Fatalf("test config: %v", err)
	}
	return startProxyCfg(t, cfg, opts)
}

// loadFile reads a configuration file.
func loadFile(path string) (*config.Config, error) { return config.Load(path) }

// testLogs collects every test node's warnings and errors, for tests that
// check what was logged.
var testLogs = &lockedBuffer{}

// startProxyCfg starts a node from a loaded configuration.
func startProxyCfg(t testing.TB, cfg *config.Config, opts nodeOptions) *proxy {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.MultiWriter(testWriter{t}, testLogs), &slog.HandlerOptions{Level: slog.LevelWarn}))
	if opts.accessLog == nil {
		opts.accessLog = io.Discard
	}
	n, err := startNode(cfg, log, opts)
	if err != nil {
		t.Fatalf("startNode: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := n.stop(ctx); err != nil {
			t.Errorf("stopping node: %v", err)
		}
	})
	p := &proxy{node: n, url: "http://" + n.addr(), adminURL: "http://" + n.adminAddr()}
	p.waitReady(t)
	return p
}

// waitReady polls /ready until every bucket has left the "starting" state.
func (p *proxy) waitReady(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		starting := false
		for _, b := range p.buckets() {
			if s := b.Snapshot(); s.Reason == "starting" || s.Reason == "credentials: not loaded yet" {
				starting = true
			}
		}
		if !starting {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("buckets did not finish starting within 10s")
}

// testWriter sends log lines to t.Log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// client is a plain HTTP client that never reuses state between tests.
var client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableCompression: true}}

// do sends a request with optional headers ("Name: value") and returns the
// response with its body read.
func do(t *testing.T, method, url string, headers ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, url, err)
	}
	return resp, body
}

// rawRequest sends bytes on a new connection and returns everything the
// server answers until it closes or the deadline passes. It bypasses
// net/http, which would clean up the paths the tests need to send raw.
func rawRequest(t *testing.T, addr, raw string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(c)
	return string(out)
}
