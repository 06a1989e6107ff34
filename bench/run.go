package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// The measurement loop: for every scenario and target, fresh processes,
// a warm-up, then one measured run bracketed by /proc snapshots.

// env is what every step of a run needs to know.
type env struct {
	opts        options
	root        string  // repository root (holds go.mod)
	baseDir     string  // bench/out or -out
	runDir      string  // baseDir/<timestamp>
	workDir     string  // runDir/work: configs, logs and temp files of the processes
	self        string  // this executable, re-run for -role origin and -role load
	tasksetPath string  // "" when pinning is off
	wrkPath     string  // "" when wrk is not used
	loader      string  // resolved loader: go or wrk
	clkTck      float64 // clock ticks per second for /proc/<pid>/stat
	client      *http.Client
	progress    io.Writer // progress lines (stderr); the report goes to stdout
}

// start starts a child process with this run's pinning.
func (e *env) start(s procSpec) (*proc, error) { return startProc(s, e.tasksetPath) }

// rssInterval is how often VmRSS is sampled during a measured run.
const rssInterval = 100 * time.Millisecond

// runAll measures every scenario against every target. It stops early,
// returning what it has, when ctx ends.
func (e *env) runAll(ctx context.Context, scs []scenario, targets []target) []row {
	var rows []row
	for _, sc := range scs {
		for _, t := range targets {
			if ctx.Err() != nil {
				return rows
			}
			fmt.Fprintf(e.progress, "%-7s %-12s ... ", sc.Name, t.name())
			r := e.runOne(ctx, sc, t)
			if ctx.Err() != nil {
				// Interrupted mid-run: the row is not a measurement.
				fmt.Fprintln(e.progress, "interrupted")
				return rows
			}
			if r.Error != "" {
				fmt.Fprintf(e.progress, "FAILED\n%s\n", indent(r.Error, "    "))
			} else {
				fmt.Fprintf(e.progress, "%s req/s, %s µs CPU/req, %s MiB peak RSS, %d errors\n",
					fmtNum(r.Load.ReqPerSec), fmtNum(r.CPUPerReqUS), fmtNum(r.PeakRSSMiB), r.Load.Errors)
			}
			rows = append(rows, r)
		}
	}
	return rows
}

// runOne measures one scenario against one target with a fresh origin and
// a fresh target process, both stopped before it returns.
func (e *env) runOne(ctx context.Context, sc scenario, t target) row {
	r := row{Scenario: sc.Name, Target: t.name()}
	fail := func(err error) row {
		r.Error = err.Error()
		return r
	}
	dir := filepath.Join(e.workDir, sc.Name+"-"+strings.ReplaceAll(t.name(), ":", "-"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fail(fmt.Errorf("bench: work dir: %w", err))
	}
	o, err := e.startOrigin(ctx, dir)
	if err != nil {
		return fail(err)
	}
	defer o.stop()
	rt, err := t.start(ctx, e, sc, o, dir)
	if err != nil {
		return fail(err)
	}
	defer rt.stop()
	r.Measured = rt.what

	loader := e.loader
	if sc.Requests > 0 {
		loader = loaderGo // only it can stop after an exact number of requests
	}
	if e.opts.warmup > 0 {
		warm := loadSpec{URL: rt.baseURL + "/bench/" + sc.WarmupObject, Conns: sc.Conns,
			Duration: e.opts.warmup, Headers: rt.headers}
		if _, err := e.runLoad(ctx, e.loader, warm, dir, "warmup"); err != nil {
			return fail(fmt.Errorf("bench: warm-up: %w", err))
		}
	}

	// Snapshot, load, snapshot. The load generator is a separate process,
	// so everything between the snapshots is the target's work for it.
	up0, err := o.stats(ctx, e.client)
	if err != nil {
		return fail(err)
	}
	cpu0, err := readCPUTicks(rt.measured.pid())
	if err != nil {
		return fail(err)
	}
	ocpu0, err := readCPUTicks(o.pid())
	if err != nil {
		return fail(err)
	}
	sampler := sampleRSS(rt.measured.pid(), rssInterval)
	t0 := time.Now()
	spec := loadSpec{URL: rt.baseURL + "/bench/" + sc.Object, Conns: sc.Conns, Duration: sc.Duration,
		Requests: sc.Requests, Headers: rt.headers}
	res, loadErr := e.runLoad(ctx, loader, spec, dir, "run")
	wall := time.Since(t0)
	peak := sampler.stop()
	if loadErr != nil {
		return fail(loadErr)
	}
	if rt.measured.exited() {
		return fail(fmt.Errorf("bench: %s exited during the run (%v); log %s", rt.measured.name, rt.measured.waitErr, rt.measured.logPath))
	}
	cpu1, err := readCPUTicks(rt.measured.pid())
	if err != nil {
		return fail(err)
	}
	ocpu1, err := readCPUTicks(o.pid())
	if err != nil {
		return fail(err)
	}
	mem, err := readMem(rt.measured.pid())
	if err != nil {
		return fail(err)
	}
	up1, err := o.stats(ctx, e.client)
	if err != nil {
		return fail(err)
	}

	r.Load = res
	r.WallSeconds = wall.Seconds()
	r.CPUSeconds = float64(cpu1-cpu0) / e.clkTck
	r.OriginCPUSeconds = float64(ocpu1-ocpu0) / e.clkTck
	if res.Requests > 0 {
		r.CPUPerReqUS = r.CPUSeconds / float64(res.Requests) * 1e6
		r.OriginCPUPerReqUS = r.OriginCPUSeconds / float64(res.Requests) * 1e6
	}
	r.CPUUtil = r.CPUSeconds / wall.Seconds()
	r.LoaderCPUUtil = res.CPUSeconds / wall.Seconds()
	r.PeakRSSMiB = float64(max(peak, mem.RSSKiB)) / 1024
	r.HWMMiB = float64(mem.HWMKiB) / 1024
	r.MBPerSec = res.BytesPerSec / 1e6
	r.Upstream = up1.sub(up0)
	if res.Requests > 0 {
		r.UpstreamPerReq = float64(r.Upstream.Requests) / float64(res.Requests)
	}
	return r
}
