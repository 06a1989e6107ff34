package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
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

	// Filled while the scenarios run, for results.json: half's rate and
	// where it came from, why idle10k held fewer connections than
	// wanted, the CPU profile of the 1k run.
	fd         fdLimits
	half       *halfRun
	idleNotes  []string
	cpuProfile *cpuProfile
}

// start starts a child process with this run's pinning.
func (e *env) start(s procSpec) (*proc, error) { return startProc(s, e.tasksetPath) }

// rssInterval is how often VmRSS is sampled during a measured run.
const rssInterval = 100 * time.Millisecond

// runAll measures every scenario against every target it applies to. It
// stops early, returning what it has, when ctx ends. It settles what
// depends on the run as it goes, in scs too (so results.json has it):
// half's rate from the 1k row of yatagarasu, idle10k's connection count
// from the file limits.
func (e *env) runAll(ctx context.Context, scs []scenario, targets []target) []row {
	var rows []row
	for i := range scs {
		sc := &scs[i]
		switch sc.Kind {
		case kindOpen:
			h := e.halfBase(ctx, scs, targets, rows, sc.RateOf)
			if ctx.Err() != nil {
				return rows
			}
			e.half = &h
			if h.Skipped != "" {
				fmt.Fprintf(e.progress, "%-7s skipped: %s\n", sc.Name, h.Skipped)
				continue
			}
			sc.Rate = h.Rate
			fmt.Fprintf(e.progress, "%-7s offered rate R = %.0f req/s for every target (%g%% of yatagarasu's %.0f req/s, %s)\n",
				sc.Name, h.Rate, 100*h.RateOf, h.Base, h.BaseFrom)
		case kindIdle:
			var names []string
			for _, t := range targetsFor(*sc, targets) {
				names = append(names, t.name())
			}
			n, why := planIdle(sc.Idle, e.fd, sc.Conns+poolHeadroom, names)
			for _, w := range why {
				fmt.Fprintf(e.progress, "%-7s %d connections, not %d: %s\n", sc.Name, n, sc.Idle, w)
			}
			e.idleNotes = append(e.idleNotes, why...)
			sc.Idle = n
		}
		rows = append(rows, e.runScenario(ctx, *sc, targets)...)
		if ctx.Err() != nil {
			return rows
		}
	}
	return rows
}

// halfBase settles half's rate: it takes yatagarasu's (public) req/s from
// the 1k rows measured before it (one per round) and, until it has
// -half-base figures, runs 1k against yatagarasu (public) alone again,
// each time with fresh processes; the rate is rateOf times their median.
// One closed-loop figure can be a quarter off on a noisy host, and half's
// load, so its p99, would move with it. The extra runs add no rows to the
// table.
func (e *env) halfBase(ctx context.Context, scs []scenario, targets []target, rows []row, rateOf float64) halfRun {
	var samples []float64
	calibrated := false
	var oneK scenario
	for _, sc := range scs {
		if sc.Name == "1k" && sc.Kind == "" {
			oneK, calibrated = sc, sc.Calibration
		}
	}
	failed := 0
	for _, r := range rows {
		if r.Scenario == "1k" && r.Target == targetYatagarasu && r.Kind == "" {
			if r.Error != "" || r.Load.ReqPerSec <= 0 {
				failed++ // another round may still set the rate
				continue
			}
			samples = append(samples, r.Load.ReqPerSec)
		}
	}
	if len(samples) == 0 && failed > 0 {
		return halfRun{RateOf: rateOf, Skipped: "yatagarasu's 1k run, which sets the rate, failed"}
	}
	fromRows := len(samples)
	if len(samples) > 0 && oneK.Name != "" {
		cal := oneK
		cal.Calibration = true
		ts := targetsFor(cal, targets)
		for len(samples) < e.opts.halfBase && len(ts) == 1 && ctx.Err() == nil {
			fmt.Fprintf(e.progress, "%-7s %-12s ... ", "half", fmt.Sprintf("1k again (%d of %d)", len(samples)+1, e.opts.halfBase))
			r := e.runOne(ctx, cal, ts[0], 0)
			if r.Error != "" || r.Load.ReqPerSec <= 0 {
				if ctx.Err() == nil {
					fmt.Fprintf(e.progress, "FAILED\n%s\n", indent(r.Error, "    "))
				}
				return halfRun{RateOf: rateOf, Skipped: "a 1k run of yatagarasu that sets the rate failed: " + r.Error}
			}
			fmt.Fprintf(e.progress, "%s req/s\n", fmtNum(r.Load.ReqPerSec))
			samples = append(samples, r.Load.ReqPerSec)
		}
	}
	return halfRate(rateOf, samples, fromRows, calibrated)
}

// halfRate is half's rate: rateOf times the median of samples, yatagarasu's
// (public) closed-loop 1k req/s, the first fromRows from the 1k scenario's
// rounds (calibrated: run only for this, 1k was not selected), the others
// run for half alone.
func halfRate(rateOf float64, samples []float64, fromRows int, calibrated bool) halfRun {
	h := halfRun{RateOf: rateOf, Samples: samples}
	if len(samples) == 0 {
		h.Skipped = "no 1k figure of yatagarasu (public profile) to take half of: half needs the yatagarasu target"
		return h
	}
	h.Base, h.BaseFrom = median(samples), "1k"
	if fromRows > 1 {
		h.BaseFrom = fmt.Sprintf("1k's %d rounds", fromRows)
	}
	if calibrated {
		h.BaseFrom += " (run for this only)"
	}
	if n := len(samples); n > 1 {
		parts := make([]string, n)
		for i, v := range samples {
			parts[i] = fmt.Sprintf("%.0f", v)
		}
		from := h.BaseFrom
		if n > fromRows {
			from += fmt.Sprintf(" and %d run for half", n-fromRows)
		}
		h.BaseFrom = fmt.Sprintf("the median of %d closed-loop runs: %s (%s)", n, from, strings.Join(parts, ", "))
	}
	h.Rate = h.RateOf * h.Base
	return h
}

// median returns the middle value of vs (the mean of the two middle ones
// for an even count); vs is not changed. 0 for none.
func median(vs []float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// runScenario measures one scenario against every target it applies to,
// -rounds times when the scenario is repeated (each row then carries its
// round, from 1), the targets' order reversed in every even round so that
// a drift of the machine over the run favours no target. It stops early,
// returning what it has, when ctx ends.
func (e *env) runScenario(ctx context.Context, sc scenario, targets []target) []row {
	var rows []row
	rounds := 1
	if sc.repeated() {
		rounds = e.opts.rounds
	}
	ts := targetsFor(sc, targets)
	for round := 1; round <= rounds; round++ {
		order := roundOrder(ts, round)
		tag := 0 // a single measurement has no round
		if rounds > 1 {
			tag = round
		}
		for _, t := range order {
			if ctx.Err() != nil {
				return rows
			}
			r, ok := e.runReported(ctx, sc, t, tag)
			if !ok {
				return rows
			}
			rows = append(rows, r)
		}
	}
	return rows
}

// runReported measures sc against t in round (0: not repeated) and writes
// the progress line; ok is false when ctx ended during the run, whose row
// is then not a measurement.
func (e *env) runReported(ctx context.Context, sc scenario, t target, round int) (r row, ok bool) {
	fmt.Fprintf(e.progress, "%-7s %-12s ... ", sc.Name, roundName(t.name(), round))
	profiled := e.cpuProfile
	r = e.runOne(ctx, sc, t, round)
	if ctx.Err() != nil {
		fmt.Fprintln(e.progress, "interrupted")
		return r, false
	}
	switch {
	case r.Error != "":
		fmt.Fprintf(e.progress, "FAILED\n%s\n", indent(r.Error, "    "))
	case len(r.Resilience) > 0:
		var parts []string
		for _, p := range r.Resilience {
			parts = append(parts, fmt.Sprintf("%s: %d requests, %.3f%% ok, %.3f up/req, p99 %s",
				p.Phase, p.ClientRequests, p.SuccessPct, p.Amplification, fmtLatency(p.P99)))
		}
		fmt.Fprintln(e.progress, strings.Join(parts, "; "))
	case r.Idle != nil:
		fmt.Fprintf(e.progress, "%d conns held (%d failed), RSS %s -> %s MiB, %.2f KiB/conn\n",
			r.Idle.Opened, r.Idle.Failed, fmtNum(float64(r.Idle.RSSBeforeKiB)/1024), fmtNum(float64(r.Idle.RSSIdleKiB)/1024), r.Idle.KiBPerConn)
	case r.Kind == kindOpen:
		fmt.Fprintf(e.progress, "%s req/s of %s offered (%d unsent), p99 %s, p99.9 %s, %s µs CPU/req, %d errors\n",
			fmtNum(r.Load.ReqPerSec), fmtNum(sc.Rate), r.Load.Unsent, fmtLatency(r.Load.P99), fmtLatency(r.Load.P999),
			fmtNum(r.CPUPerReqUS), r.Load.Errors)
	default:
		fmt.Fprintf(e.progress, "%s req/s, %s µs CPU/req, %s MiB peak RSS, %d errors\n",
			fmtNum(r.Load.ReqPerSec), fmtNum(r.CPUPerReqUS), fmtNum(r.PeakRSSMiB), r.Load.Errors)
	}
	if e.cpuProfile != profiled {
		fmt.Fprintln(e.progress, e.cpuProfile.progressLine())
	}
	return r, true
}

// faultsLabel describes a scenario's origin failure mode for a row.
func faultsLabel(sc scenario) string {
	switch {
	case sc.DeadOrigin:
		return "dead (connection refused)"
	case sc.FailRate > 0:
		return fmt.Sprintf("503 SlowDown at %g%%", 100*sc.FailRate)
	}
	return ""
}

// runOne measures one scenario against one target with a fresh origin and
// a fresh target process, both stopped before it returns. round is the
// row's round (0: the scenario is measured once).
func (e *env) runOne(ctx context.Context, sc scenario, t target, round int) row {
	r := row{Scenario: sc.Name, Target: t.name(), Faults: faultsLabel(sc), Kind: sc.Kind, Round: round}
	fail := func(err error) row {
		r.Error = err.Error()
		return r
	}
	name := sc.Name + "-" + strings.ReplaceAll(t.name(), ":", "-")
	if round > 0 {
		name += fmt.Sprintf("-r%d", round) // -keep keeps every round's logs
	}
	dir := filepath.Join(e.workDir, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fail(fmt.Errorf("bench: work dir: %w", err))
	}
	o, err := e.startOrigin(ctx, dir, sc)
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
	if sc.Kind == kindIdle {
		return e.measureIdle(ctx, sc, rt, r)
	}

	loader, warmLoader := e.loader, e.loader
	if sc.Requests > 0 {
		loader = loaderGo // only it can stop after an exact number of requests
	}
	if sc.resilience() {
		loader, warmLoader = loaderGo, loaderGo // only it counts responses by status
	}
	if sc.Rate > 0 {
		loader, warmLoader = loaderGo, loaderGo // only it has an open loop
	}
	// In a resilience scenario the proxy's metrics are read around each
	// phase: m0 before the warm-up, m1 before the run, m2 after it.
	track := sc.resilience() && rt.metricsURL != ""
	var m0, m1, m2 proxyMetrics
	readMetrics := func(m *proxyMetrics) error {
		if !track {
			return nil
		}
		var err error
		*m, err = fetchProxyMetrics(ctx, e.client, rt.metricsURL)
		return err
	}
	if err := readMetrics(&m0); err != nil {
		return fail(err)
	}
	// The dead origin's warm-up is its measured opening phase: a fresh
	// proxy whose breaker has yet to open.
	warmFor, warmTag := e.opts.warmup, "warmup"
	if sc.DeadOrigin {
		warmFor, warmTag = sc.Opening, "opening"
	}
	var opening loadResult
	if warmFor > 0 {
		warm := loadSpec{URL: rt.baseURL + "/bench/" + sc.WarmupObject, Conns: sc.Conns,
			Duration: warmFor, Rate: sc.Rate, Headers: rt.headers}
		if opening, err = e.runLoad(ctx, warmLoader, warm, dir, warmTag); err != nil {
			return fail(fmt.Errorf("bench: %s: %w", warmTag, err))
		}
	}
	if err := readMetrics(&m1); err != nil {
		return fail(err)
	}

	// Snapshot, load, snapshot. The load generator is a separate process,
	// so everything between the snapshots is the target's work for it.
	var up0, up1 originStats
	var ocpu0, ocpu1 uint64
	if o.alive() {
		if up0, err = o.stats(ctx, e.client); err != nil {
			return fail(err)
		}
	}
	cpu0, err := readCPUTicks(rt.measured.pid())
	if err != nil {
		return fail(err)
	}
	if o.alive() {
		if ocpu0, err = readCPUTicks(o.pid()); err != nil {
			return fail(err)
		}
	}
	sampler := sampleRSS(rt.measured.pid(), rssInterval)
	t0 := time.Now()
	spec := loadSpec{URL: rt.baseURL + "/bench/" + sc.Object, Conns: sc.Conns, Duration: sc.Duration,
		Requests: sc.Requests, Rate: sc.Rate, Headers: rt.headers}
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
	if o.alive() {
		if ocpu1, err = readCPUTicks(o.pid()); err != nil {
			return fail(err)
		}
	}
	mem, err := readMem(rt.measured.pid())
	if err != nil {
		return fail(err)
	}
	if o.alive() {
		if up1, err = o.stats(ctx, e.client); err != nil {
			return fail(err)
		}
	}
	if err := readMetrics(&m2); err != nil {
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
	upstream, from := r.Upstream.Requests, upstreamFromOrigin
	if !o.alive() {
		// Nothing listens to count: the proxy's own attempts stand in.
		upstream, from = m2.sub(m1).Attempts, upstreamFromProxy
	}
	if res.Requests > 0 {
		r.UpstreamPerReq = float64(upstream) / float64(res.Requests)
	}

	// The hot path's CPU profile, under the same load again, once the
	// measured run is over and read.
	if y, ok := t.(*yatagarasuTarget); ok && sc.Name == "1k" && sc.Kind == "" && !sc.Calibration &&
		t.name() == targetYatagarasu && e.cpuProfile == nil {
		e.cpuProfile = e.captureCPUProfile(ctx, sc, y, rt, loader, spec, dir)
	}
	if !sc.resilience() {
		return r
	}
	if !sc.DeadOrigin {
		p := newPhase(sc.Name, r.Target, phaseRun, res, upstream, from, nil, nil)
		if track {
			p = newPhase(sc.Name, r.Target, phaseRun, res, upstream, from, &m1, &m2)
			p.OpenedInWarmup = m1.sub(m0).BreakerOpened
		}
		r.Resilience = append(r.Resilience, p)
		return r
	}
	// Dead origin: only yatagarasu runs (targetsFor), so track is set.
	r.Resilience = append(r.Resilience,
		newPhase(sc.Name, r.Target, phaseOpening, opening, m1.sub(m0).Attempts, upstreamFromProxy, &m0, &m1),
		newPhase(sc.Name, r.Target, phaseSteady, res, upstream, from, &m1, &m2))
	// Then one connection, one request at a time: the fail-fast latency
	// itself, where the steady phase's 64 connections measure mostly
	// their own queueing behind one proxy core.
	serial := loadSpec{URL: spec.URL, Conns: 1, Duration: sc.Duration, Headers: rt.headers}
	sres, err := e.runLoad(ctx, loaderGo, serial, dir, "serial")
	if err != nil {
		return fail(fmt.Errorf("bench: serial phase: %w", err))
	}
	var m3 proxyMetrics
	if err := readMetrics(&m3); err != nil {
		return fail(err)
	}
	r.Resilience = append(r.Resilience,
		newPhase(sc.Name, r.Target, phaseSerial, sres, m3.sub(m2).Attempts, upstreamFromProxy, &m2, &m3))
	return r
}
