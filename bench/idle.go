package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// The idle10k scenario: what an idle keep-alive client costs a target. The
// harness itself opens N connections to the target (no load generator: it
// only holds sockets), each completing one GET so that the target has set
// up whatever a served connection keeps, leaves them all idle for a few
// seconds and reads the target's VmRSS. The connections are plain sockets
// held in a slice: a few goroutines open them, none waits on one.

// idleResult is what idle10k measured of one target.
type idleResult struct {
	Wanted int `json:"wanted"` // connections to open (after planIdle)
	Opened int `json:"opened"` // connections whose GET was answered 2xx and that stayed open
	// OpenAtRead is how many of Opened the target still held open when
	// its RSS was read (a closed one reads as EOF).
	OpenAtRead int    `json:"open_at_read"`
	Failed     int    `json:"failed"`                // connects or GETs that failed, or were answered with a close
	FirstError string `json:"first_error,omitempty"` // the first of those failures
	// RSSBeforeKiB is VmRSS of the fresh target before any connection,
	// RSSIdleKiB with all of them idle; KiBPerConn is the difference over
	// Opened. HWMKiB is VmHWM at the end.
	RSSBeforeKiB uint64  `json:"rss_before_kib"`
	RSSIdleKiB   uint64  `json:"rss_idle_kib"`
	HWMKiB       uint64  `json:"hwm_kib"`
	KiBPerConn   float64 `json:"kib_per_conn"`
	OpenSeconds  float64 `json:"open_seconds"` // opening all of them and their GETs
	IdleSeconds  float64 `json:"idle_seconds"` // from the last GET answered to the RSS read
}

// idleSettle is how long a fresh target is left alone before its RSS is
// read as the baseline.
const idleSettle = 500 * time.Millisecond

// measureIdle runs idle10k against the started target rt; r is its row so
// far.
func (e *env) measureIdle(ctx context.Context, sc scenario, rt *running, r row) row {
	fail := func(err error) row {
		r.Error = err.Error()
		return r
	}
	u, err := url.Parse(rt.baseURL + "/bench/" + sc.Object)
	if err != nil {
		return fail(fmt.Errorf("bench: idle url: %w", err))
	}
	if err := requireLoopback(u.Host); err != nil {
		return fail(err)
	}
	pid := rt.measured.pid()
	sleepCtx(ctx, idleSettle)
	before, err := readMem(pid)
	if err != nil {
		return fail(err)
	}
	res := &idleResult{Wanted: sc.Idle, RSSBeforeKiB: before.RSSKiB}
	sampler := sampleRSS(pid, rssInterval)
	t0 := time.Now()
	held := openIdle(ctx, u.Host, idleRequest(u, rt.headers), sc.Idle, sc.Conns, res)
	defer closeIdle(held)
	opened := time.Now()
	res.OpenSeconds = opened.Sub(t0).Seconds()
	sleepCtx(ctx, sc.IdleFor)
	if ctx.Err() != nil {
		sampler.stop()
		return fail(ctx.Err())
	}
	res.OpenAtRead = countOpen(held)
	mem, err := readMem(pid)
	peak := sampler.stop()
	if err != nil {
		return fail(err)
	}
	res.IdleSeconds = time.Since(opened).Seconds()
	res.RSSIdleKiB, res.HWMKiB = mem.RSSKiB, mem.HWMKiB
	res.KiBPerConn = kibPerConn(before.RSSKiB, mem.RSSKiB, res.Opened)
	if rt.measured.exited() {
		return fail(fmt.Errorf("bench: %s exited while holding idle connections (%v); log %s", rt.measured.name, rt.measured.waitErr, rt.measured.logPath))
	}
	r.Idle = res
	r.PeakRSSMiB = float64(max(peak, mem.RSSKiB)) / 1024
	r.HWMMiB = float64(mem.HWMKiB) / 1024
	r.WallSeconds = time.Since(t0).Seconds()
	return r
}

// kibPerConn is the RSS growth per connection, (idle − before) / n, in
// KiB; negative growth (the target gave memory back) reads as such.
func kibPerConn(beforeKiB, idleKiB uint64, n int) float64 {
	if n <= 0 {
		return 0
	}
	return (float64(idleKiB) - float64(beforeKiB)) / float64(n)
}

// idleRequest is the GET each idle connection sends once: HTTP/1.1, so
// the connection stays open, with the profile's headers.
func idleRequest(u *url.URL, headers []string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: yatagarasu-bench\r\n", u.RequestURI(), u.Host)
	for _, h := range headers {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("\r\n")
	return []byte(b.String())
}

// openIdle opens n connections to addr, parallel at a time, each sending
// request and reading its response, and returns those that got a 2xx and
// stayed open. Failures are counted in res.
func openIdle(ctx context.Context, addr string, request []byte, n, parallel int, res *idleResult) []net.Conn {
	held := make([]net.Conn, n)
	var next atomic.Int64
	var mu sync.Mutex
	failed := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		res.Failed++
		if res.FirstError == "" {
			res.FirstError = err.Error()
		}
	}
	var wg sync.WaitGroup
	for range max(parallel, 1) {
		wg.Go(func() {
			br := bufio.NewReaderSize(nil, 16<<10)
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				c, err := getOnce(addr, request, br)
				if err != nil {
					failed(fmt.Errorf("connection %d: %w", i, err))
					continue
				}
				held[i] = c
			}
		})
	}
	wg.Wait()
	out := held[:0]
	for _, c := range held {
		if c != nil {
			out = append(out, c)
		}
	}
	res.Opened = len(out)
	return out
}

// errIdleClosed is a GET answered with Connection: close.
var errIdleClosed = errors.New("the target closed the connection after the GET")

// getOnce connects, sends request, reads the response through br and
// returns the connection, still open, without deadlines.
func getOnce(addr string, request []byte, br *bufio.Reader) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(request); err != nil {
		_ = c.Close()
		return nil, err
	}
	br.Reset(c)
	resp, err := readResponse(br, false)
	br.Reset(nil)
	switch {
	case err != nil:
	case resp.status/100 != 2:
		err = fmt.Errorf("status %d", resp.status)
	case resp.close:
		err = errIdleClosed
	}
	if err != nil {
		_ = c.Close()
		return nil, err
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}

// countOpen counts the connections the peer has not closed: a
// non-blocking peek finds nothing to read (EAGAIN) on an open idle one,
// and EOF or an error on a closed one.
func countOpen(conns []net.Conn) int {
	open := 0
	var b [1]byte
	for _, c := range conns {
		sc, ok := c.(syscall.Conn)
		if !ok {
			continue
		}
		rc, err := sc.SyscallConn()
		if err != nil {
			continue
		}
		alive := false
		_ = rc.Control(func(fd uintptr) {
			_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
			alive = errors.Is(err, syscall.EAGAIN)
		})
		if alive {
			open++
		}
	}
	return open
}

// closeIdle closes the connections at once with a reset (SO_LINGER 0), so
// that tens of thousands of closes leave no TIME_WAIT ports behind.
func closeIdle(conns []net.Conn) {
	for _, c := range conns {
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		_ = c.Close()
	}
}

// fdLimits are the limits that bound how many connections idle10k can hold.
type fdLimits struct {
	// Soft and Hard are the harness's RLIMIT_NOFILE once the soft limit
	// was raised to the hard one (raiseNofile); its children inherit Soft.
	Soft uint64 `json:"soft"`
	Hard uint64 `json:"hard"`
	// SoftBefore is the soft limit the harness started with.
	SoftBefore uint64 `json:"soft_before"`
	// CanRaise: the harness, and so nginx and haproxy, may raise their
	// hard limit too (CAP_SYS_RESOURCE; root usually, not in every
	// container).
	CanRaise bool `json:"cap_sys_resource"`
	// Ports is the size of net.ipv4.ip_local_port_range (0: unknown): each
	// connection to one target takes a local port of its own.
	Ports int `json:"ephemeral_ports,omitempty"`
}

// idleReserve is the file descriptors kept free for everything else a
// process has open (listeners, logs, upstream pool, probes).
const idleReserve = 256

// planIdle returns how many idle connections every target can be given
// (the same for all, so the figures compare), want or less, and why it is
// less. conns is the targets' client connection count besides the idle
// ones (their upstream pools); targets names the targets measured.
func planIdle(want int, lim fdLimits, conns int, targets []string) (int, []string) {
	n := want
	var why []string
	limitTo := func(limit int, reason string) {
		limit = max(limit, 1)
		if limit < n {
			n = limit
			why = append(why, reason)
		}
	}
	limitTo(int(lim.Soft)-idleReserve, fmt.Sprintf("the harness holds the client sockets and may open %d files (RLIMIT_NOFILE soft, hard %d)", lim.Soft, lim.Hard))
	if lim.Ports > 0 {
		limitTo(lim.Ports-1024, fmt.Sprintf("%d local ports (net.ipv4.ip_local_port_range), 1024 kept free", lim.Ports))
	}
	for _, t := range targets {
		switch {
		case t == targetDirect:
			limitTo(int(lim.Hard)-idleReserve, fmt.Sprintf("the origin (direct) may open %d files", lim.Hard))
		case isYatagarasu(t):
			// Go raises its soft limit to the hard one; the proxy warns at
			// 80 % of it and starts shedding at 90 %.
			limitTo(int(float64(lim.Hard)*0.8)-conns-idleReserve,
				fmt.Sprintf("%s warns above 80%% of its %d open files and sheds load from 90%%", t, lim.Hard))
		case t == targetNginx && !lim.CanRaise:
			// Idle connections are closed once fewer than 1/16 of
			// worker_connections are free.
			limitTo((int(lim.Hard)-idleReserve)*15/16-2*conns,
				fmt.Sprintf("nginx cannot raise worker_rlimit_nofile above %d (no CAP_SYS_RESOURCE) and keeps 1/16 of worker_connections free", lim.Hard))
		case t == targetHAProxy && !lim.CanRaise:
			limitTo(int(lim.Hard)-2*conns-idleReserve,
				fmt.Sprintf("haproxy cannot raise its open-file limit above %d (no CAP_SYS_RESOURCE)", lim.Hard))
		}
	}
	return n, why
}

// raiseNofile raises the harness's RLIMIT_NOFILE soft limit to the hard
// one (inherited by every child it starts) and returns the limits.
func raiseNofile() (fdLimits, error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return fdLimits{}, fmt.Errorf("bench: getrlimit: %w", err)
	}
	lim := fdLimits{Soft: rl.Cur, Hard: rl.Max, SoftBefore: rl.Cur, CanRaise: canRaiseLimits(), Ports: localPorts()}
	if rl.Cur < rl.Max {
		rl.Cur = rl.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
			return lim, fmt.Errorf("bench: raise RLIMIT_NOFILE to %d: %w", rl.Max, err)
		}
		lim.Soft = rl.Max
	}
	return lim, nil
}

// capSysResource is CAP_SYS_RESOURCE's bit in the capability sets.
const capSysResource = 24

// canRaiseLimits reports whether this process has CAP_SYS_RESOURCE, which
// lets it (and the children it starts, as root) raise a hard limit.
func canRaiseLimits() bool {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return false
	}
	eff, ok := parseCapEff(string(b))
	return ok && eff&(1<<capSysResource) != 0
}

// parseCapEff extracts the effective capability set ("CapEff:
// 000001fffeffffff") from /proc/<pid>/status.
func parseCapEff(status string) (uint64, bool) {
	for line := range strings.Lines(status) {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return n, err == nil
		}
	}
	return 0, false
}

// localPorts is the size of the ephemeral port range, 0 when unknown.
func localPorts() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0
	}
	return parsePortRange(string(b))
}

// parsePortRange parses "32768\t60999\n" into the number of ports.
func parsePortRange(s string) int {
	f := strings.Fields(s)
	if len(f) != 2 {
		return 0
	}
	lo, err1 := strconv.Atoi(f[0])
	hi, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil || hi < lo {
		return 0
	}
	return hi - lo + 1
}

// printIdle writes the idle10k table: per target the connections held,
// its RSS before and with them idle, and the growth per connection.
func printIdle(w io.Writer, res *results) {
	var sc scenario
	for _, s := range res.Scenarios {
		if s.Kind == kindIdle {
			sc = s
		}
	}
	fmt.Fprintf(w, "idle10k: %d keep-alive connections per target, each after one GET /bench/%s, then idle %s; RSS of the target (direct*: the origin's)\n",
		sc.Idle, sc.Object, sc.IdleFor)
	for _, n := range res.IdleNotes {
		fmt.Fprintf(w, "  fewer than %d: %s\n", idleConns, n)
	}
	var nginx float64
	for _, r := range res.Rows {
		if r.Kind == kindIdle && r.Target == targetNginx && r.Idle != nil {
			nginx = r.Idle.KiBPerConn
		}
	}
	t := [][]string{{"target", "conns", "open at read", "failed", "RSS before MiB", "RSS idle MiB", "KiB/conn", "KiB/conn / nginx", "open s"}}
	var notes []string
	for _, r := range res.Rows {
		if r.Kind != kindIdle {
			continue
		}
		name := r.Target
		if r.Measured == "origin" {
			name += "*"
		}
		if r.Error != "" || r.Idle == nil {
			notes = append(notes, fmt.Sprintf("FAILED idle10k %s: %s", r.Target, r.Error))
			t = append(t, []string{name, "FAILED", "-", "-", "-", "-", "-", "-", "-"})
			continue
		}
		d := r.Idle
		vs := "-"
		if nginx > 0 {
			vs = fmt.Sprintf("%.2fx", d.KiBPerConn/nginx)
		}
		t = append(t, []string{name, fmt.Sprint(d.Opened), fmt.Sprint(d.OpenAtRead), fmt.Sprint(d.Failed),
			fmtNum(float64(d.RSSBeforeKiB) / 1024), fmtNum(float64(d.RSSIdleKiB) / 1024), fmt.Sprintf("%.2f", d.KiBPerConn),
			vs, fmt.Sprintf("%.2f", d.OpenSeconds)})
		if d.Failed > 0 {
			notes = append(notes, fmt.Sprintf("idle10k %s: %d of %d connections failed, first: %s", r.Target, d.Failed, d.Wanted, d.FirstError))
		}
		if d.OpenAtRead < d.Opened {
			notes = append(notes, fmt.Sprintf("idle10k %s: closed %d idle connections within %.1fs", r.Target, d.Opened-d.OpenAtRead, d.IdleSeconds))
		}
	}
	writeAligned(w, t, 1)
	for _, n := range notes {
		fmt.Fprintln(w, n)
	}
}
