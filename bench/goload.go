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

// The built-in load generator, used when wrk is absent (or by -loader go,
// and always for the big-object scenario, which needs an exact request
// count). It runs as `bench -role load`: N persistent keep-alive
// connections, each sending its next request as soon as the previous
// response has been read (a closed loop), for a fixed duration or request
// count; or, with -rate, requests sent on a fixed schedule whatever the
// responses do (an open loop, openloop.go: the half scenario). Every
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
	rate := fs.Float64("rate", 0, "open loop: send this many requests per second in all, on a fixed schedule (0: closed loop)")
	reconnect := fs.Int64("reconnect", 0, "closed loop: close each connection after this many responses and dial a new one (0: never)")
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
	r, err := goLoad(loadSpec{URL: *target, Conns: *conns, Duration: *dur, Requests: *count, Rate: *rate, Reconnect: *reconnect, Headers: headers})
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

	// The open loop's own figures: latency from the actual send (hist
	// counts from the scheduled one), how late requests were sent when
	// their connection was free (the generator's own timing error), and
	// requests left unsent at the end.
	fromSend, wakeLag histogram
	unsent            int64
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

	workers := make([]loadWorker, spec.Conns)
	var start time.Time
	var sched openSchedule
	var wg sync.WaitGroup
	if spec.Rate > 0 {
		// Open loop: every connection is dialled before the schedule
		// starts, so no request waits for a connect.
		conns := make([]*loadConn, spec.Conns)
		for i := range conns {
			conns[i] = &loadConn{id: i, addr: u.Host, readBufSize: readBufSize}
		}
		connDeadline := time.Now().Add(spec.Duration + time.Minute)
		for _, c := range conns {
			if err := c.dial(connDeadline); err != nil {
				return loadResult{}, fmt.Errorf("bench: load: connect %s: %w", u.Host, err)
			}
		}
		start = time.Now()
		sched = newOpenSchedule(start.Add(time.Millisecond), spec.Duration, spec.Rate, spec.Conns)
		dues := make([]chan time.Time, spec.Conns)
		for i := range workers {
			// Room for every request of the connection: the dispatcher
			// never waits for one that is behind.
			dues[i] = make(chan time.Time, sched.count(i))
			w, c, d := &workers[i], conns[i], dues[i]
			wg.Go(func() { w.runOpen(c, request, d, sched.end) })
		}
		clk := newWallClock()
		dispatch(sched, clk, dispatchQuantum, loadStop.Load, func(conn int, due time.Time) { dues[conn] <- due })
		clk.close()
		for _, d := range dues {
			close(d)
		}
	} else {
		var remaining atomic.Int64
		remaining.Store(spec.Requests)
		start = time.Now()
		deadline := start.Add(spec.Duration)
		for i := range workers {
			w := &workers[i]
			c := &loadConn{id: i, addr: u.Host, readBufSize: readBufSize}
			wg.Go(func() { w.run(c, request, deadline, spec.Requests > 0, &remaining, spec.Reconnect) })
		}
	}
	wg.Wait()
	elapsed := time.Since(start)

	r := loadResult{Loader: loaderGo, Elapsed: elapsed}
	var h, fromSend, wakeLag histogram
	for i := range workers {
		w := &workers[i]
		h.merge(&w.hist)
		fromSend.merge(&w.fromSend)
		wakeLag.merge(&w.wakeLag)
		r.Unsent += w.unsent
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
	r.P50, r.P99, r.P999, r.Max = h.quantile(0.50), h.quantile(0.99), h.quantile(0.999), time.Duration(h.max)
	if spec.Rate > 0 {
		r.Open = &openResult{
			Offered:     spec.Rate,
			Scheduled:   sched.total(),
			Unsent:      r.Unsent,
			SendP50:     fromSend.quantile(0.50),
			SendP99:     fromSend.quantile(0.99),
			SendP999:    fromSend.quantile(0.999),
			WakeLagP50:  wakeLag.quantile(0.50),
			WakeLagP99:  wakeLag.quantile(0.99),
			WakeLagMax:  time.Duration(wakeLag.max),
			WakeLagSeen: int64(wakeLag.n),
		}
	}
	return r, nil
}

// loadConn is one keep-alive connection of the generator: dialled on
// first use, and again after a socket error or a response that closes it.
type loadConn struct {
	id          int
	addr        string
	readBufSize int
	conn        net.Conn
	br          *bufio.Reader
	served      int64 // responses read on conn
}

// dial connects; deadline is the connection's I/O deadline, generous,
// only to unstick a dead peer.
func (c *loadConn) dial(deadline time.Time) error {
	nc, err := net.DialTimeout("tcp", c.addr, 5*time.Second)
	if err != nil {
		return err
	}
	_ = nc.SetDeadline(deadline)
	c.conn, c.served = nc, 0
	if c.br == nil {
		c.br = bufio.NewReaderSize(nc, c.readBufSize)
	} else {
		c.br.Reset(nc)
	}
	return nil
}

// close drops the connection.
func (c *loadConn) close() {
	if c.conn != nil {
		_ = c.conn.Close()
		c.conn = nil
	}
}

// roundTrip sends request and reads the response, dialling first when the
// connection is closed. It returns when the request was sent (after the
// dial) and whether a response was read; the status is counted in w, and
// a non-2xx response or a socket error described (w.fail). dialFailed
// says the error was the dial.
func (c *loadConn) roundTrip(w *loadWorker, request []byte, connDeadline time.Time) (sent time.Time, ok, dialFailed bool) {
	if c.conn == nil {
		if err := c.dial(connDeadline); err != nil {
			w.sockErrs++
			w.fail(c.id, 0, nil, err)
			return time.Time{}, false, true
		}
	}
	sent = time.Now()
	if _, err := c.conn.Write(request); err != nil {
		w.sockErrs++
		w.fail(c.id, 0, nil, err)
		c.close()
		return sent, false, false
	}
	var capture *[]byte
	if len(w.failures) < maxFailures {
		capture = &w.capture
	}
	resp, err := readResponseCapture(c.br, false, capture)
	w.recv += resp.bytes
	if err != nil {
		w.sockErrs++
		w.fail(c.id, resp.status, nil, err)
		c.close()
		return sent, false, false
	}
	w.requests++
	w.statuses[resp.status]++
	if resp.status/100 != 2 {
		w.statusErrs++
		w.fail(c.id, resp.status, w.capture, nil)
		w.capture = w.capture[:0]
	}
	if resp.close {
		c.close()
	}
	return sent, true, false
}

// run is connection c's closed loop. It stops at the deadline, on
// SIGUSR1 (loadStop) or, in count mode, when the shared budget of requests
// is used up. A request started before then is allowed to finish. Failed
// requests are counted and the first ones described (w.fail). With
// reconnect > 0 the connection is closed after every reconnect responses
// on it, and the next request dials a new one.
func (w *loadWorker) run(c *loadConn, request []byte, deadline time.Time, counted bool, remaining *atomic.Int64, reconnect int64) {
	defer c.close()
	// Connection deadline: generous, only to unstick a dead peer.
	connDeadline := deadline.Add(time.Minute)
	for time.Now().Before(deadline) && !loadStop.Load() {
		if counted && remaining.Add(-1) < 0 {
			return
		}
		sent, ok, dialFailed := c.roundTrip(w, request, connDeadline)
		if dialFailed {
			time.Sleep(10 * time.Millisecond) // don't spin on a refused port
			continue
		}
		if ok {
			w.hist.record(time.Since(sent))
			if c.served++; reconnect > 0 && c.served >= reconnect {
				c.close()
			}
		}
	}
}

// runOpen is connection c's side of an open loop (serve): it sends a
// request for every due time the dispatcher releases to it until dues is
// closed. Latency counts from when each request was due; w.fromSend keeps
// it from the actual send, and w.wakeLag how late a request was sent when
// its connection was free at its due time: the generator's own timing
// error (timer, dispatch, scheduling).
func (w *loadWorker) runOpen(c *loadConn, request []byte, dues <-chan time.Time, end time.Time) {
	defer c.close()
	connDeadline := end.Add(time.Minute)
	var prevDone time.Time
	send := func() (time.Time, bool) {
		sent, ok, _ := c.roundTrip(w, request, connDeadline)
		return sent, ok
	}
	w.unsent = serve(dues, end.Add(openGrace), realClock{}, send, func(t openTiming) {
		w.hist.record(t.done.Sub(t.due))
		w.fromSend.record(t.done.Sub(t.sent))
		if prevDone.Before(t.due) {
			w.wakeLag.record(t.sent.Sub(t.due))
		}
		prevDone = t.done
	})
}
