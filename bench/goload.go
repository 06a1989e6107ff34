package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// The built-in closed-loop load generator, used when wrk is absent (or by
// -loader go, and always for the big-object scenario, which needs an exact
// request count). It runs as `bench -role load`: N persistent keep-alive
// connections, each sending its next request as soon as the previous
// response has been read, for a fixed duration or request count. Every
// latency goes into a histogram; bodies are read and discarded.
//
// SIGUSR1 ends the run early and cleanly (the soak's reload phase runs the
// load until its reloads are done): every connection finishes the request
// it is in, then the result is printed as usual.

// loadStop is set by SIGUSR1: the connections stop after their current
// request.
var loadStop atomic.Bool

// maxFailures bounds the failed requests a run describes (status and body,
// or the socket error); all of them are counted.
const maxFailures = 50

// loadFailure is one failed request as the client saw it.
type loadFailure struct {
	Time   time.Time `json:"time"`             // when the failure was seen
	Conn   int       `json:"conn"`             // connection number
	Status int       `json:"status,omitempty"` // non-2xx status, 0 for a socket error
	Body   string    `json:"body,omitempty"`   // first bytes of the response body
	Error  string    `json:"error,omitempty"`  // socket error
}

// headerList collects repeated -H flags.
type headerList []string

func (h *headerList) String() string     { return strings.Join(*h, ", ") }
func (h *headerList) Set(v string) error { *h = append(*h, v); return nil }

// runLoadRole is the entry point of `bench -role load`; it prints one
// loadResult as JSON on stdout.
func runLoadRole(args []string) error {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	target := fs.String("url", "", "http://127.0.0.1:port/path (loopback only)")
	conns := fs.Int("c", 64, "connections")
	dur := fs.Duration("d", 10*time.Second, "duration (a cap when -n is set)")
	count := fs.Int64("n", 0, "stop after this many requests (0: run for -d)")
	var headers headerList
	fs.Var(&headers, "H", "extra request header \"Name: value\" (repeatable)")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("bench: load flags: %w", err)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGUSR1)
	go func() {
		<-sig
		loadStop.Store(true)
	}()
	r, err := goLoad(loadSpec{URL: *target, Conns: *conns, Duration: *dur, Requests: *count, Headers: headers})
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(r)
}

// loadWorker is one connection's state; merged into the result at the end.
type loadWorker struct {
	hist                                 histogram
	requests, statusErrs, sockErrs, recv int64
	statuses                             [1000]int64 // by status; a status line has three digits
	failures                             []loadFailure
	capture                              []byte // body of the last failed response
}

// fail records a failed request, up to maxFailures per connection.
func (w *loadWorker) fail(conn, status int, body []byte, err error) {
	if len(w.failures) >= maxFailures {
		return
	}
	f := loadFailure{Time: time.Now(), Conn: conn, Status: status, Body: string(body)}
	if err != nil {
		f.Error = err.Error()
	}
	w.failures = append(w.failures, f)
}

// goLoad runs spec in this process.
func goLoad(spec loadSpec) (loadResult, error) {
	// Bodies are discarded through the read buffer, one read syscall per
	// buffer: few connections (the big stream) get 1 MiB so the generator
	// keeps up with the proxy; many connections get 64 KiB each.
	readBufSize := 64 << 10
	if spec.Conns <= 4 {
		readBufSize = 1 << 20
	}
	u, err := url.Parse(spec.URL)
	if err != nil || u.Scheme != "http" {
		return loadResult{}, fmt.Errorf("bench: load url %q: need http://host:port/path", spec.URL)
	}
	if err := requireLoopback(u.Host); err != nil {
		return loadResult{}, err
	}
	if spec.Conns < 1 {
		return loadResult{}, fmt.Errorf("bench: load: need at least one connection")
	}
	var req strings.Builder
	fmt.Fprintf(&req, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: yatagarasu-bench\r\n", u.RequestURI(), u.Host)
	for _, h := range spec.Headers {
		req.WriteString(h + "\r\n")
	}
	req.WriteString("\r\n")
	request := []byte(req.String())

	var remaining atomic.Int64
	remaining.Store(spec.Requests)
	workers := make([]loadWorker, spec.Conns)
	start := time.Now()
	deadline := start.Add(spec.Duration)
	var wg sync.WaitGroup
	for i := range workers {
		w := &workers[i]
		wg.Go(func() { w.run(i, u.Host, request, readBufSize, deadline, spec.Requests > 0, &remaining) })
	}
	wg.Wait()
	elapsed := time.Since(start)

	r := loadResult{Loader: loaderGo, Elapsed: elapsed}
	var h histogram
	for i := range workers {
		w := &workers[i]
		h.merge(&w.hist)
		r.Requests += w.requests
		r.StatusErrors += w.statusErrs
		r.SocketErrors += w.sockErrs
		r.Bytes += w.recv
		r.Failures = append(r.Failures, w.failures...)
		for st, n := range w.statuses {
			if n > 0 {
				if r.Statuses == nil {
					r.Statuses = map[int]int64{}
				}
				r.Statuses[st] += n
			}
		}
	}
	r.Errors = r.StatusErrors + r.SocketErrors
	slices.SortFunc(r.Failures, func(a, b loadFailure) int { return a.Time.Compare(b.Time) })
	if len(r.Failures) > maxFailures {
		r.Failures = r.Failures[:maxFailures]
	}
	if s := elapsed.Seconds(); s > 0 {
		r.ReqPerSec = float64(r.Requests) / s
		r.BytesPerSec = float64(r.Bytes) / s
	}
	r.P50, r.P99, r.Max = h.quantile(0.50), h.quantile(0.99), time.Duration(h.max)
	return r, nil
}

// run is connection number id's closed loop. It stops at the deadline, on
// SIGUSR1 (loadStop) or, in count mode, when the shared budget of requests
// is used up. A request started before then is allowed to finish. Failed
// requests are counted and the first ones described (w.fail).
func (w *loadWorker) run(id int, addr string, request []byte, readBufSize int, deadline time.Time, counted bool, remaining *atomic.Int64) {
	var conn net.Conn
	var br *bufio.Reader
	defer func() {
		if conn != nil {
			_ = conn.Close()
		}
	}()
	// Connection deadline: generous, only to unstick a dead peer.
	connDeadline := deadline.Add(time.Minute)
	for time.Now().Before(deadline) && !loadStop.Load() {
		if counted && remaining.Add(-1) < 0 {
			return
		}
		if conn == nil {
			c, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				w.sockErrs++
				w.fail(id, 0, nil, err)
				time.Sleep(10 * time.Millisecond) // don't spin on a refused port
				continue
			}
			_ = c.SetDeadline(connDeadline)
			conn = c
			if br == nil {
				br = bufio.NewReaderSize(c, readBufSize)
			} else {
				br.Reset(c)
			}
		}
		t0 := time.Now()
		if _, err := conn.Write(request); err != nil {
			w.sockErrs++
			w.fail(id, 0, nil, err)
			_ = conn.Close()
			conn = nil
			continue
		}
		var capture *[]byte
		if len(w.failures) < maxFailures {
			capture = &w.capture
		}
		resp, err := readResponseCapture(br, false, capture)
		w.recv += resp.bytes
		if err != nil {
			w.sockErrs++
			w.fail(id, resp.status, nil, err)
			_ = conn.Close()
			conn = nil
			continue
		}
		w.hist.record(time.Since(t0))
		w.requests++
		w.statuses[resp.status]++
		if resp.status/100 != 2 {
			w.statusErrs++
			w.fail(id, resp.status, w.capture, nil)
			w.capture = w.capture[:0]
		}
		if resp.close {
			_ = conn.Close()
			conn = nil
		}
	}
}
