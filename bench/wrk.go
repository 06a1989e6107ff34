package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// wrk as the load generator: the harness runs it with --latency, captures
// its report and parses requests, errors, req/s, transfer rate and the
// 50th/99th latency percentiles out of it.

var errWrkOutput = errors.New("unexpected wrk output")

// runWrk runs wrk for spec and parses its report. wrk's output is kept in
// logPath (after anything it printed on stderr) next to the other logs.
func (e *env) runWrk(ctx context.Context, spec loadSpec, logPath string) (loadResult, error) {
	// One thread when pinned: wrk shares CPU 0 with the origin, and a second
	// thread on the same core only adds context switches.
	threads := 2
	if e.tasksetPath != "" || spec.Conns < 2 {
		threads = 1
	}
	argv := []string{e.wrkPath,
		"-t" + strconv.Itoa(threads),
		"-c" + strconv.Itoa(spec.Conns),
		"-d" + wrkDuration(spec.Duration),
		"--timeout", "10s",
		"--latency",
	}
	for _, h := range spec.Headers {
		argv = append(argv, "-H", h)
	}
	argv = append(argv, spec.URL)
	var out bytes.Buffer
	p, err := e.start(procSpec{name: "wrk", argv: argv, cpu: cpuLoad, logPath: logPath, stdout: &out})
	if err != nil {
		return loadResult{}, err
	}
	if err := waitProc(ctx, p); err != nil {
		return loadResult{}, fmt.Errorf("bench: wrk: %w\n%s", err, indent(p.logTail(20), "    "))
	}
	if f, err := os.OpenFile(logPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644); err == nil {
		_, _ = f.Write(out.Bytes()) // stderr is already there; keep the report too
		_ = f.Close()
	}
	r, err := parseWrk(out.String())
	if err != nil {
		return loadResult{}, err
	}
	r.CPUSeconds = p.cpuSeconds()
	return r, nil
}

// wrkDuration formats d for wrk's -d, which takes whole seconds (or a
// unit suffix); sub-second parts are rounded up so a run is never empty.
func wrkDuration(d time.Duration) string {
	s := int64((d + time.Second - 1) / time.Second)
	return strconv.FormatInt(max(s, 1), 10) + "s"
}

// parseWrk parses the report wrk 4.x prints with --latency:
//
//	Latency Distribution
//	   50%  490.00us
//	   99%    1.02ms
//	375123 requests in 3.00s, 420.12MB read
//	Socket errors: connect 0, read 0, write 0, timeout 12
//	Non-2xx or 3xx responses: 5
//	Requests/sec: 125012.34
//	Transfer/sec:    140.01MB
//
// wrk counts a response with status >= 400 as "Non-2xx or 3xx".
func parseWrk(out string) (loadResult, error) {
	r := loadResult{Loader: loaderWrk}
	var seen struct{ p50, p99, total, rps bool }
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		f := strings.Fields(line)
		switch {
		case len(f) == 2 && (f[0] == "50%" || f[0] == "99%"):
			d, err := parseWrkTime(f[1])
			if err != nil {
				return r, err
			}
			if f[0] == "50%" {
				r.P50, seen.p50 = d, true
			} else {
				r.P99, seen.p99 = d, true
			}
		case len(f) >= 2 && f[0] == "Latency" && !seen.total:
			// "Latency 512.36us 120.55us 5.12ms 90.12%": Max is the 4th column.
			if len(f) >= 4 {
				if d, err := parseWrkTime(f[3]); err == nil {
					r.Max = d
				}
			}
		case len(f) >= 6 && f[1] == "requests" && f[2] == "in":
			// "375123 requests in 3.00s, 420.12MB read"
			n, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return r, fmt.Errorf("bench: wrk requests %q: %w", line, errWrkOutput)
			}
			el, err := parseWrkTime(strings.TrimSuffix(f[3], ","))
			if err != nil {
				return r, err
			}
			b, err := parseWrkBytes(f[4])
			if err != nil {
				return r, err
			}
			r.Requests, r.Elapsed, r.Bytes, seen.total = n, el, int64(b), true
		case strings.HasPrefix(line, "Socket errors:"):
			// "Socket errors: connect 0, read 0, write 0, timeout 12"
			for _, part := range strings.Split(strings.TrimPrefix(line, "Socket errors:"), ",") {
				kv := strings.Fields(part)
				if len(kv) != 2 {
					return r, fmt.Errorf("bench: wrk socket errors %q: %w", line, errWrkOutput)
				}
				n, err := strconv.ParseInt(kv[1], 10, 64)
				if err != nil {
					return r, fmt.Errorf("bench: wrk socket errors %q: %w", line, errWrkOutput)
				}
				r.SocketErrors += n
			}
		case strings.HasPrefix(line, "Non-2xx or 3xx responses:"):
			n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimPrefix(line, "Non-2xx or 3xx responses:")), 10, 64)
			if err != nil {
				return r, fmt.Errorf("bench: wrk non-2xx %q: %w", line, errWrkOutput)
			}
			r.StatusErrors = n
		case strings.HasPrefix(line, "Requests/sec:"):
			v, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimPrefix(line, "Requests/sec:")), 64)
			if err != nil {
				return r, fmt.Errorf("bench: wrk req/s %q: %w", line, errWrkOutput)
			}
			r.ReqPerSec, seen.rps = v, true
		case strings.HasPrefix(line, "Transfer/sec:"):
			v, err := parseWrkBytes(strings.TrimSpace(strings.TrimPrefix(line, "Transfer/sec:")))
			if err != nil {
				return r, err
			}
			r.BytesPerSec = v
		}
	}
	if !seen.p50 || !seen.p99 || !seen.total || !seen.rps {
		return r, fmt.Errorf("bench: wrk report lacks latency distribution, totals or req/s (was --latency given?): %w", errWrkOutput)
	}
	r.Errors = r.StatusErrors + r.SocketErrors
	return r, nil
}

// parseWrkTime parses wrk's time format: a number with a unit of us, ms,
// s, m or h ("490.00us", "1.02ms", "3.00s", "1.50m").
func parseWrkTime(s string) (time.Duration, error) {
	units := []struct {
		suffix string
		scale  float64
	}{
		{"us", float64(time.Microsecond)},
		{"ms", float64(time.Millisecond)},
		{"s", float64(time.Second)},
		{"m", float64(time.Minute)},
		{"h", float64(time.Hour)},
	}
	for _, u := range units {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			v, err := strconv.ParseFloat(num, 64)
			if err != nil {
				break
			}
			return time.Duration(v * u.scale), nil
		}
	}
	return 0, fmt.Errorf("bench: wrk time %q: %w", s, errWrkOutput)
}

// parseWrkBytes parses wrk's binary sizes ("512.00B", "420.12MB",
// "1.00GB"): K, M, G, T are powers of 1024.
func parseWrkBytes(s string) (float64, error) {
	num, ok := strings.CutSuffix(s, "B")
	if !ok {
		return 0, fmt.Errorf("bench: wrk size %q: %w", s, errWrkOutput)
	}
	scale := 1.0
	if n := len(num); n > 0 {
		if i := strings.IndexByte("KMGTP", num[n-1]); i >= 0 {
			scale = float64(uint64(1) << (10 * (i + 1)))
			num = num[:n-1]
		}
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, fmt.Errorf("bench: wrk size %q: %w", s, errWrkOutput)
	}
	return v * scale, nil
}
