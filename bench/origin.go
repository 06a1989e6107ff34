package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// The origin: a fast S3-like server answering GET and HEAD on path-style
// /<bucket>/<object> for the synthetic objects of object.go. It runs in its
// own process (the harness re-executes itself with -role origin) so its CPU
// and memory are measured apart from the harness and the proxy.

// originStatsPath is where the origin reports its counters; it is not
// counted as a request itself.
const originStatsPath = "/__origin/stats"

// originStats are the origin's counters since it started, served as JSON.
// The harness takes the difference between two snapshots.
type originStats struct {
	Requests    int64 `json:"requests"`     // every request but the stats endpoint
	Signed      int64 `json:"signed"`       // carried Authorization: AWS4-HMAC-SHA256 ...
	Gets        int64 `json:"gets"`         // GET requests
	Heads       int64 `json:"heads"`        // HEAD requests
	Ranges      int64 `json:"ranges"`       // answered 206
	NotModified int64 `json:"not_modified"` // answered 304
	Errors      int64 `json:"errors"`       // answered 4xx
	Injected    int64 `json:"injected"`     // answered 503 SlowDown by fault injection
	BodyBytes   int64 `json:"body_bytes"`   // body bytes promised in responses
}

// sub returns s - o, counter by counter.
func (s originStats) sub(o originStats) originStats {
	return originStats{
		Requests:    s.Requests - o.Requests,
		Signed:      s.Signed - o.Signed,
		Gets:        s.Gets - o.Gets,
		Heads:       s.Heads - o.Heads,
		Ranges:      s.Ranges - o.Ranges,
		NotModified: s.NotModified - o.NotModified,
		Errors:      s.Errors - o.Errors,
		Injected:    s.Injected - o.Injected,
		BodyBytes:   s.BodyBytes - o.BodyBytes,
	}
}

// origin is the server's state: counters, and the failure mode fixed at
// start; everything else is immutable.
type origin struct {
	requests, signed, gets, heads, ranges, notModified, errors, injected, bodyBytes atomic.Int64
	nextID                                                                          atomic.Uint64
	faults                                                                          faults
}

var (
	sigV4Prefix  = []byte("AWS4-HMAC-SHA256")
	lastModified = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
)

// etagFor is the ETag of an object: fixed per size, because the content is.
func etagFor(size int64) string {
	return `"bench-` + strconv.FormatInt(size, 10) + `"`
}

func (o *origin) snapshot() originStats {
	return originStats{
		Requests:    o.requests.Load(),
		Signed:      o.signed.Load(),
		Gets:        o.gets.Load(),
		Heads:       o.heads.Load(),
		Ranges:      o.ranges.Load(),
		NotModified: o.notModified.Load(),
		Errors:      o.errors.Load(),
		Injected:    o.injected.Load(),
		BodyBytes:   o.bodyBytes.Load(),
	}
}

func (o *origin) handle(ctx *fasthttp.RequestCtx) {
	path := ctx.Path()
	if string(path) == originStatsPath {
		b, _ := json.Marshal(o.snapshot())
		ctx.SetContentType("application/json")
		ctx.SetBody(b)
		return
	}
	o.requests.Add(1)
	if bytes.HasPrefix(ctx.Request.Header.Peek("Authorization"), sigV4Prefix) {
		o.signed.Add(1)
	}
	seq := o.nextID.Add(1)
	reqID := strconv.FormatUint(seq, 16)
	h := &ctx.Response.Header
	h.Set("x-amz-request-id", reqID)

	head := ctx.IsHead()
	switch {
	case head:
		o.heads.Add(1)
	case ctx.IsGet():
		o.gets.Add(1)
	default:
		o.fail(ctx, fasthttp.StatusMethodNotAllowed, "MethodNotAllowed",
			"The specified method is not allowed against this resource.", string(path), reqID)
		return
	}
	if o.faults.fail(seq) {
		// Counted in requests like any other: the harness compares what
		// reached the origin with what the client got.
		o.injected.Add(1)
		writeS3Error(ctx, fasthttp.StatusServiceUnavailable, "SlowDown", "Please reduce your request rate.", string(path), reqID)
		return
	}

	// Path style: /<bucket>/<object>; the bucket name is not checked.
	rest := bytes.TrimPrefix(path, []byte("/"))
	slash := bytes.IndexByte(rest, '/')
	if slash <= 0 || slash == len(rest)-1 {
		o.fail(ctx, fasthttp.StatusNotFound, "NoSuchKey", "The specified key does not exist.", string(path), reqID)
		return
	}
	key := string(rest[slash+1:])
	size, err := parseSize(key)
	if err != nil {
		o.fail(ctx, fasthttp.StatusNotFound, "NoSuchKey", "The specified key does not exist.", key, reqID)
		return
	}

	etag := etagFor(size)
	h.Set("ETag", etag)
	h.SetLastModified(lastModified)
	h.Set("Accept-Ranges", "bytes")
	h.SetContentType("application/octet-stream")
	if inm := ctx.Request.Header.Peek("If-None-Match"); len(inm) > 0 && string(inm) == etag {
		o.notModified.Add(1)
		ctx.SetStatusCode(fasthttp.StatusNotModified)
		ctx.Response.SkipBody = true
		return
	}

	start, length, kind := int64(0), size, rangeNone
	if rh := ctx.Request.Header.Peek("Range"); len(rh) > 0 {
		start, length, kind = parseRange(string(rh), size)
	}
	switch kind {
	case rangeUnsatisfiable:
		h.Set("Content-Range", "bytes */"+strconv.FormatInt(size, 10))
		o.fail(ctx, fasthttp.StatusRequestedRangeNotSatisfiable, "InvalidRange",
			"The requested range is not satisfiable", key, reqID)
		return
	case rangeOK:
		o.ranges.Add(1)
		ctx.SetStatusCode(fasthttp.StatusPartialContent)
		h.Set("Content-Range", "bytes "+strconv.FormatInt(start, 10)+"-"+
			strconv.FormatInt(start+length-1, 10)+"/"+strconv.FormatInt(size, 10))
	}

	if head {
		// No body: fasthttp keeps an explicit Content-Length when SkipBody is set.
		h.SetContentLength(int(length))
		ctx.Response.SkipBody = true
		return
	}
	o.bodyBytes.Add(length)
	if first := start % patternSize; first+length <= patternSize {
		// Fits in the pattern: reference it, no copy and no allocation.
		ctx.Response.SetBodyRaw(pattern[first : first+length])
		return
	}
	ctx.Response.SetBodyStream(&patternReader{off: start, remaining: length}, int(length))
}

// fail answers a 4xx with an S3-style XML error body and counts it.
func (o *origin) fail(ctx *fasthttp.RequestCtx, status int, code, msg, resource, reqID string) {
	o.errors.Add(1)
	writeS3Error(ctx, status, code, msg, resource, reqID)
}

// writeS3Error answers with an S3-style XML error body.
func writeS3Error(ctx *fasthttp.RequestCtx, status int, code, msg, resource, reqID string) {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n<Error><Code>")
	b.WriteString(code)
	b.WriteString("</Code><Message>")
	_ = xml.EscapeText(&b, []byte(msg))
	b.WriteString("</Message><Resource>")
	_ = xml.EscapeText(&b, []byte(resource))
	b.WriteString("</Resource><RequestId>")
	b.WriteString(reqID)
	b.WriteString("</RequestId></Error>")
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/xml")
	ctx.SetBody(b.Bytes())
}

// runOriginRole is the entry point of `bench -role origin`. It serves on
// the listener inherited as fd 3 (-fd 3, how the harness starts it, so no
// port can be stolen between picking and binding) or on -addr.
func runOriginRole(args []string) error {
	fs := flag.NewFlagSet("origin", flag.ContinueOnError)
	addr := fs.String("addr", "", "listen address, e.g. 127.0.0.1:9000 (loopback only)")
	fd := fs.Int("fd", 0, "serve on this inherited listening socket instead of -addr")
	failRate := fs.Float64("fail-rate", 0, "answer this fraction of requests (0..1), drawn independently, with 503 SlowDown")
	failSeed := fs.Uint64("fail-seed", 1, "seed of the -fail-rate draws")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("bench: origin flags: %w", err)
	}
	flt, err := newFaults(*failRate, *failSeed)
	if err != nil {
		return err
	}
	var ln net.Listener
	switch {
	case *fd > 0:
		f := os.NewFile(uintptr(*fd), "origin-listener")
		ln, err = net.FileListener(f)
		_ = f.Close()
	case *addr != "":
		if err = requireLoopback(*addr); err == nil {
			ln, err = net.Listen("tcp", *addr)
		}
	default:
		err = errors.New("need -addr or -fd")
	}
	if err != nil {
		return fmt.Errorf("bench: origin listen: %w", err)
	}
	o := &origin{faults: flt}
	// No read, write or idle timeouts: a proxy's pooled keep-alive
	// connections may idle between warm-up and the measured run.
	srv := &fasthttp.Server{
		Handler:                      o.handle,
		Name:                         "AmazonS3",
		DisablePreParseMultipartForm: true,
		NoDefaultContentType:         true,
	}
	return srv.Serve(ln)
}

// originProc is a running origin as seen from the harness, or a dead one:
// then proc is nil and addr a port that refuses connections.
type originProc struct {
	*proc
	addr    string // 127.0.0.1:port
	release func() // frees a dead origin's port
}

// alive reports whether an origin process serves addr.
func (o *originProc) alive() bool { return o.proc != nil }

// stop ends the origin process, or frees the dead origin's port.
func (o *originProc) stop() {
	if o.proc != nil {
		o.proc.stop()
	}
	if o.release != nil {
		o.release() // a raw close: never twice, the number may be another socket's by then
		o.release = nil
	}
}

// startOrigin starts a fresh origin process pinned to CPU 0, on a listener
// the harness opened, failing as scenario sc says, and waits until it
// answers its stats endpoint. For a dead origin it starts nothing and
// reserves a port that refuses every connection.
func (e *env) startOrigin(ctx context.Context, dir string, sc scenario) (*originProc, error) {
	if sc.DeadOrigin {
		addr, release, err := refusingPort()
		if err != nil {
			return nil, err
		}
		return &originProc{addr: addr, release: release}, nil
	}
	argv := []string{e.self, "-role", "origin", "-fd", "3"}
	if sc.FailRate > 0 {
		argv = append(argv, "-fail-rate", strconv.FormatFloat(sc.FailRate, 'g', -1, 64),
			"-fail-seed", strconv.FormatUint(e.opts.faultSeed, 10))
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("bench: origin listener: %w", err)
	}
	f, err := ln.(*net.TCPListener).File()
	addr := ln.Addr().String()
	_ = ln.Close() // f is a dup: the socket stays open for the child
	if err != nil {
		return nil, fmt.Errorf("bench: origin listener fd: %w", err)
	}
	defer f.Close()
	p, err := e.start(procSpec{
		name:    "origin",
		argv:    argv,
		cpu:     cpuLoad,
		logPath: filepath.Join(dir, "origin.log"),
		files:   []*os.File{f},
	})
	if err != nil {
		return nil, err
	}
	o := &originProc{proc: p, addr: addr}
	if err := e.waitHTTP(ctx, "http://"+addr+originStatsPath, 10*time.Second, p); err != nil {
		p.stop()
		return nil, err
	}
	return o, nil
}

// stats fetches the origin's counters.
func (o *originProc) stats(ctx context.Context, c *http.Client) (originStats, error) {
	var s originStats
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+o.addr+originStatsPath, nil)
	if err != nil {
		return s, fmt.Errorf("bench: origin stats: %w", err)
	}
	resp, err := c.Do(req)
	if err != nil {
		return s, fmt.Errorf("bench: origin stats: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return s, fmt.Errorf("bench: origin stats: %w", err)
	}
	if err := json.Unmarshal(body, &s); err != nil {
		return s, fmt.Errorf("bench: origin stats: %w", err)
	}
	return s, nil
}
