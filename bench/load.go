package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// The load-generator interface of the harness: one loadSpec in, one
// loadResult out, whichever generator (wrk or the built-in Go one) ran it.
// Both run as separate processes pinned next to the origin, so their CPU
// never counts against the process under test.

// Loader names, as given to -loader.
const (
	loaderAuto = "auto"
	loaderGo   = "go"
	loaderWrk  = "wrk"
)

// loadSpec is one run of load against one URL.
type loadSpec struct {
	URL      string        // http://127.0.0.1:port/bench/<object>
	Conns    int           // persistent keep-alive connections
	Duration time.Duration // how long to send requests (a cap in count mode)
	Requests int64         // when > 0: stop after this many requests (count mode)
	Headers  []string      // extra request headers, "Name: value"
	// Rate, when > 0, makes it an open loop (Go loader only): this many
	// requests per second in all, sent on a fixed schedule for Duration.
	Rate float64
	// Reconnect, when > 0, closes each connection after this many
	// responses and dials a new one (Go loader, closed loop only), as real
	// clients come and go; 0 keeps every connection for the whole run.
	Reconnect int64
}

// loadResult is what a generator measured. Durations are nanoseconds in JSON.
type loadResult struct {
	Loader       string `json:"loader"`
	Requests     int64  `json:"requests"`      // completed responses, any status
	Errors       int64  `json:"errors"`        // StatusErrors + SocketErrors
	StatusErrors int64  `json:"status_errors"` // non-2xx responses (wrk: status >= 400)
	SocketErrors int64  `json:"socket_errors"` // connect/read/write failures and timeouts
	// Statuses counts completed responses by status (Go loader only; wrk
	// does not report them).
	Statuses    map[int]int64 `json:"statuses,omitempty"`
	Bytes       int64         `json:"bytes"` // response bytes received, headers included
	Elapsed     time.Duration `json:"elapsed_ns"`
	ReqPerSec   float64       `json:"req_per_sec"`
	BytesPerSec float64       `json:"bytes_per_sec"`
	P50         time.Duration `json:"p50_ns"`
	P99         time.Duration `json:"p99_ns"`
	P999        time.Duration `json:"p999_ns,omitempty"` // Go loader only (wrk --latency stops at 99%)
	Max         time.Duration `json:"max_ns"`
	// Unsent and Open are the open loop's (Go loader with a rate).
	Unsent     int64       `json:"unsent,omitempty"`
	Open       *openResult `json:"open,omitempty"`
	CPUSeconds float64     `json:"cpu_seconds"` // the generator process's own user+system time
	// Failures describes the first failed requests (Go loader only), in
	// time order: status and body, or the socket error.
	Failures []loadFailure `json:"failures,omitempty"`
}

// openResult is what an open-loop run adds to its loadResult. The
// loadResult's latencies count from each request's scheduled send.
type openResult struct {
	Offered   float64 `json:"offered_rate"` // req/s asked for
	Scheduled int64   `json:"scheduled"`    // requests due within the run
	Unsent    int64   `json:"unsent"`       // due, but their connection was still behind when the run ended
	// Latency from the actual send, as a closed loop would report it: the
	// difference to the loadResult's is the time requests waited for
	// their connection behind a slow response.
	SendP50  time.Duration `json:"send_p50_ns"`
	SendP99  time.Duration `json:"send_p99_ns"`
	SendP999 time.Duration `json:"send_p999_ns"`
	// How late the generator sent requests whose connection was free when
	// they were due (its timer and scheduling error, part of every
	// latency), over WakeLagSeen such requests.
	WakeLagP50  time.Duration `json:"wake_lag_p50_ns"`
	WakeLagP99  time.Duration `json:"wake_lag_p99_ns"`
	WakeLagMax  time.Duration `json:"wake_lag_max_ns"`
	WakeLagSeen int64         `json:"wake_lag_requests"`
}

// requireLoopback refuses any address that is not on this machine's
// loopback: the harness must never send load anywhere else.
func requireLoopback(hostport string) error {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("bench: %q is not a loopback address", hostport)
	}
	return nil
}

// runLoad runs spec with the named loader ("go" or "wrk") in a child
// process pinned to the load CPU, and returns what it measured.
func (e *env) runLoad(ctx context.Context, loader string, spec loadSpec, logDir, tag string) (loadResult, error) {
	u, err := url.Parse(spec.URL)
	if err != nil {
		return loadResult{}, fmt.Errorf("bench: load url: %w", err)
	}
	if err := requireLoopback(u.Host); err != nil {
		return loadResult{}, err
	}
	if loader == loaderWrk && spec.Requests == 0 && spec.Rate == 0 {
		return e.runWrk(ctx, spec, filepath.Join(logDir, tag+"-wrk.log"))
	}
	return e.runGoLoad(ctx, spec, filepath.Join(logDir, tag+"-goload.log"))
}

// runGoLoad runs the built-in generator as `bench -role load` and decodes
// the JSON result it prints.
func (e *env) runGoLoad(ctx context.Context, spec loadSpec, logPath string) (loadResult, error) {
	g, err := e.startGoLoad(spec, logPath)
	if err != nil {
		return loadResult{}, err
	}
	return g.wait(ctx)
}

// goLoadRun is a running `bench -role load`.
type goLoadRun struct {
	p   *proc
	out *bytes.Buffer // its stdout: the JSON result once it has exited
}

// startGoLoad starts the built-in generator and returns without waiting.
func (e *env) startGoLoad(spec loadSpec, logPath string) (*goLoadRun, error) {
	argv := []string{e.self, "-role", "load",
		"-url", spec.URL,
		"-c", strconv.Itoa(spec.Conns),
		"-d", spec.Duration.String(),
		"-n", strconv.FormatInt(spec.Requests, 10),
	}
	if spec.Rate > 0 {
		argv = append(argv, "-rate", strconv.FormatFloat(spec.Rate, 'f', -1, 64))
	}
	if spec.Reconnect > 0 {
		argv = append(argv, "-reconnect", strconv.FormatInt(spec.Reconnect, 10))
	}
	for _, h := range spec.Headers {
		argv = append(argv, "-H", h)
	}
	out := &bytes.Buffer{}
	p, err := e.start(procSpec{name: "go loader", argv: argv, cpu: cpuLoad, logPath: logPath, stdout: out})
	if err != nil {
		return nil, err
	}
	return &goLoadRun{p: p, out: out}, nil
}

// finish asks the generator to stop after the requests in flight
// (SIGUSR1); wait then returns what it measured.
func (g *goLoadRun) finish() {
	if !g.p.exited() {
		_ = syscall.Kill(g.p.pid(), syscall.SIGUSR1)
	}
}

// wait waits for the generator to exit (stopping it when ctx ends first)
// and decodes its result.
func (g *goLoadRun) wait(ctx context.Context) (loadResult, error) {
	if err := waitProc(ctx, g.p); err != nil {
		return loadResult{}, fmt.Errorf("bench: go loader: %w\n%s", err, indent(g.p.logTail(20), "    "))
	}
	var r loadResult
	if err := json.Unmarshal(g.out.Bytes(), &r); err != nil {
		return loadResult{}, fmt.Errorf("bench: go loader output: %w", err)
	}
	r.CPUSeconds = g.p.cpuSeconds()
	return r, nil
}

// waitProc waits for p to exit, or stops it when ctx ends first.
func waitProc(ctx context.Context, p *proc) error {
	select {
	case <-p.done:
		return p.waitErr
	case <-ctx.Done():
		p.stop()
		return ctx.Err()
	}
}
