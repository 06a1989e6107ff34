package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The soak (`bench -soak`): one yatagarasu process, started once and
// watched for leaks while it works.
//
//  1. requests: -soak-requests 1 KiB GETs (or -soak-duration of them) over
//     64 connections, each redialled after soakReconnect responses, with the
//     access log on;
//  2. reloads: -soak-reloads POST /admin/reload while the same load runs,
//     each switching to a config that really rebuilds something (soakcalc.go);
//  3. streams: one 1 GiB and one 5 GiB GET through the proxy.
//
// Beside the load of phases 1 and 2, clients hang up mid-body
// (soakleave.go). Through phases 1 and 2 the proxy's RSS and open
// descriptors (/proc), Go heap in use and goroutines (/metrics) are sampled
// every second. Each load phase reports
// the mean of the first 10 % of its samples after the warm-up against the
// last 10 %, and the goroutines before the load against ~3 s after it.

// Fixed parameters of the soak.
const (
	soakObject       = "1k"
	soakDefaultConns = 64
	soakReconnect    = 1000              // responses per load connection before it is closed and dialled again
	soakInterval     = time.Second       // sampling period of phases 1 and 2
	soakAfterDelay   = 3 * time.Second   // after the load: the goroutines' goal sample
	soakSettleMax    = 150 * time.Second // after the load: how long to wait for the goroutines to come back
	soakStallAfter   = 30 * time.Second  // no request completed this long: the phase is stopped
	soakCountCap     = 6 * time.Hour     // cap of the request phase in count mode
	soakReloadCap    = 24 * time.Hour    // the reload phase's load runs until the reloads are done
	soakStreamCap    = 30 * time.Minute  // one big stream
	soakReloadWait   = 30 * time.Second  // one POST /admin/reload
	soakPhaseIdle    = "idle"            // samples between load phases
	soakPhaseRequest = "requests"        // phase 1
	soakPhaseReload  = "reloads"         // phase 2
	soakLogKeep      = 10                // proxy warnings/errors quoted in the report
	soakMetricsLimit = 16 << 20          // bytes of /metrics read
	soakValidateWait = 20 * time.Second  // yatagarasu -validate of one variant
	soakRSSInterval  = rssInterval       // peak RSS sampling while streaming
)

// soakSample is one sample of the proxy, taken every second through
// phases 1 and 2 and around each load phase.
type soakSample struct {
	T      float64 `json:"t"`     // seconds since the soak started
	Phase  string  `json:"phase"` // requests, reloads or idle
	Warmup bool    `json:"warmup,omitempty"`
	RSSMiB float64 `json:"rss_mib"`  // VmRSS from /proc/<pid>/status
	FDs    float64 `json:"open_fds"` // entries of /proc/<pid>/fd
	// From /metrics: go_memstats_heap_inuse_bytes, go_goroutines and the
	// proxy's own process_resident_memory_bytes.
	HeapMiB       float64 `json:"heap_inuse_mib"`
	HeapAllocMiB  float64 `json:"heap_alloc_mib"` // go_memstats_alloc_bytes: live + not yet collected
	Goroutines    float64 `json:"goroutines"`
	ProcessRSSMiB float64 `json:"process_rss_mib"`
	Requests      float64 `json:"requests"` // http_requests_total so far, every bucket
	Generation    float64 `json:"generation"`
	ReloadOK      float64 `json:"reload_ok"`
	ReloadFailed  float64 `json:"reload_failed"`
	GCs           float64 `json:"gc_cycles"`    // go_gc_duration_seconds_count so far
	CutClient     float64 `json:"cut_client"`   // http_streams_cut_total{side="client"} so far, every bucket
	Series        int     `json:"series"`       // series on /metrics
	AccessLines   int64   `json:"access_lines"` // access-log lines the proxy wrote so far
	Err           string  `json:"error,omitempty"`
}

// soakReload is one POST /admin/reload.
type soakReload struct {
	N          int     `json:"n"` // 1-based
	Change     string  `json:"change"`
	At         float64 `json:"t"`  // sent, seconds since the soak started
	Millis     float64 `json:"ms"` // until the answer
	Status     int     `json:"status"`
	Generation int64   `json:"generation"`
	Error      string  `json:"error,omitempty"` // the proxy's reason, or the client's error
}

// soakReloads is the reload phase's account of its reloads.
type soakReloads struct {
	Requested int `json:"requested"`
	OK        int `json:"ok"`
	Failed    int `json:"failed"`
	// GenerationGaps counts successful reloads whose generation was not
	// the previous one + 1.
	GenerationGaps int     `json:"generation_gaps"`
	Seconds        float64 `json:"seconds"` // first POST to last answer
	PerSecond      float64 `json:"per_second"`
	P50Millis      float64 `json:"p50_ms"`
	P99Millis      float64 `json:"p99_ms"`
	MaxMillis      float64 `json:"max_ms"`
	// The proxy's config_reload_success_total and _failure_total over the
	// phase.
	ProxyOK     int64        `json:"proxy_ok"`
	ProxyFailed int64        `json:"proxy_failed"`
	Log         []soakReload `json:"log"`
}

// soakPhase is one load phase (requests or reloads).
type soakPhase struct {
	Name string     `json:"name"`
	Load loadResult `json:"load"`
	// Seconds since the soak started: load start, end of the warm-up
	// (samples before it are excluded from the growth figures), load end.
	Start     float64 `json:"start_s"`
	WarmupEnd float64 `json:"warmup_end_s"`
	End       float64 `json:"end_s"`
	// Before: the idle proxy just before the load; After: soakAfterDelay
	// after it ended (the goroutines' goal); Settled: the first sample
	// after it with no more goroutines than Before, SettledAfter seconds
	// after the load ended, or -1 and the last sample when that did not
	// happen within soakSettleMax.
	Before       soakSample `json:"before"`
	After        soakSample `json:"after"`
	Settled      soakSample `json:"settled"`
	SettledAfter float64    `json:"settled_after_s"`
	// First 10 % vs last 10 % of the samples after the warm-up, and the
	// GC cycles the proxy ran between the first and the last of them: with
	// few, heap and RSS growth mostly say where in its GC cycle each
	// window fell.
	MeasuredGCs int         `json:"measured_gc_cycles"`
	RSS         growthStats `json:"rss_mib"`
	Heap        growthStats `json:"heap_inuse_mib"`
	Goroutines  growthStats `json:"goroutines"`
	FDs         growthStats `json:"open_fds"`
	// Leavers are the clients that hung up mid-body beside the load
	// (soakleave.go).
	Leavers *soakLeavers `json:"leavers,omitempty"`
	// AccessLines the proxy wrote between Before and After; Upstream the
	// requests the origin received over the same span.
	AccessLines int64        `json:"access_lines"`
	Upstream    int64        `json:"upstream_requests"`
	Reloads     *soakReloads `json:"reloads,omitempty"`
	// The live heap (go_memstats_alloc_bytes right after two forced GCs,
	// GET /admin/pprof/heap?gc=1) before the load, soakAfterDelay after
	// it, and once the goroutines came back (or soakSettleMax passed):
	// what the proxy really holds, without the garbage a sample between
	// two GCs also counts. HeapProfiles are those heap profiles (for go
	// tool pprof -base).
	LiveHeapBeforeMiB  float64  `json:"live_heap_before_mib"`
	LiveHeapAfterMiB   float64  `json:"live_heap_after_mib"`
	LiveHeapSettledMiB float64  `json:"live_heap_settled_mib"`
	HeapProfiles       []string `json:"heap_profiles,omitempty"`
	// GoroutineDumps are the proxy's goroutine profiles (pprof, debug=1:
	// grouped by stack) taken with Before and Settled, files in the run
	// folder: what to diff when the goroutines did not come back.
	GoroutineDumps []string `json:"goroutine_dumps,omitempty"`
	Error          string   `json:"error,omitempty"`
}

// soakStream is one big object streamed through the proxy.
type soakStream struct {
	Object       string     `json:"object"`
	Proxy        string     `json:"proxy"` // soaked (phases 1 and 2 ran on it) or fresh
	Size         int64      `json:"size"`
	Load         loadResult `json:"load"`
	Complete     bool       `json:"complete"` // one 200 with at least Size bytes, no error
	Bytes        int64      `json:"bytes"`    // received, headers included
	Seconds      float64    `json:"seconds"`
	MBPerSec     float64    `json:"mb_per_sec"`     // MB = 10^6 bytes
	RSSBeforeMiB float64    `json:"rss_before_mib"` // VmRSS just before
	PeakRSSMiB   float64    `json:"peak_rss_mib"`   // max VmRSS sampled every 100 ms
	CPUSeconds   float64    `json:"cpu_seconds"`    // the proxy's
	Error        string     `json:"error,omitempty"`
}

// soakProxyLog summarises the proxy's own log (stderr).
type soakProxyLog struct {
	Lines    int      `json:"lines"`
	Warnings int      `json:"warnings"`
	Errors   int      `json:"errors"`
	First    []string `json:"first,omitempty"` // first warnings and errors
}

// soakResults is everything soak.json holds.
type soakResults struct {
	Started     time.Time `json:"started"`
	Command     string    `json:"command"`
	Nproc       int       `json:"nproc"`
	LoadAvg     string    `json:"loadavg_start"` // /proc/loadavg: 1, 5, 15 min
	LoadAvgEnd  string    `json:"loadavg_end"`
	MachineBusy float64   `json:"machine_busy"` // other work on the CPUs before the run
	Pinning     string    `json:"pinning"`
	Commit      string    `json:"commit,omitempty"`
	Conns       int       `json:"connections"`
	Reconnect   int64     `json:"reconnect_after"` // responses per load connection
	Object      string    `json:"object"`
	Requests    int64     `json:"soak_requests"` // 0 when Duration is set
	Duration    string    `json:"soak_duration,omitempty"`
	Reloads     int       `json:"soak_reloads"`
	ReloadEvery string    `json:"soak_reload_every,omitempty"` // "" when back to back
	Warmup      string    `json:"warmup"`
	StreamList  []string  `json:"stream_objects"`
	Configs     []string  `json:"configs"` // the variants' TOML, start variant first
	// HeapSeries is the /metrics series read as "heap in use".
	HeapSeries  string        `json:"heap_series"`
	Phases      []soakPhase   `json:"phases"`
	Streams     []soakStream  `json:"streams"`
	Samples     []soakSample  `json:"samples"`
	ProxyLog    soakProxyLog  `json:"proxy_log"`
	Goals       []soakGoal    `json:"goals"`
	WallSeconds float64       `json:"wall_seconds"`
	Error       string        `json:"error,omitempty"`
	Interrupted bool          `json:"interrupted,omitempty"`
	t0          time.Time     // the soak's time origin (samples' T)
	variants    []soakVariant // Configs' variants
}

// checkSoakOptions validates the soak flags.
func checkSoakOptions(o options) error {
	if o.soakDuration < 0 || o.soakWarmup < 0 || o.soakReloads < 0 || o.soakReloadEvery < 0 {
		return errors.New("bench: -soak-duration, -soak-warmup, -soak-reloads and -soak-reload-every must be >= 0")
	}
	if o.soakDuration == 0 && o.soakRequests < 1 {
		return errors.New("bench: -soak-requests must be >= 1 (or set -soak-duration)")
	}
	_, err := soakStreamObjects(o.soakStreams)
	return err
}

// soakStreamObjects parses -soak-streams: a comma list of object sizes, or
// "none".
func soakStreamObjects(list string) ([]string, error) {
	var out []string
	for name := range strings.SplitSeq(list, ",") {
		name = strings.TrimSpace(name)
		if name == "" || name == "none" {
			continue
		}
		if _, err := parseSize(name); err != nil {
			return nil, fmt.Errorf("bench: -soak-streams %q: %w", name, err)
		}
		out = append(out, name)
	}
	return out, nil
}

// runSoak is the soak mode; it returns the exit code.
func runSoak(ctx context.Context, opts options) int {
	e, started, pinning, err := newEnv(opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if !opts.keep {
		defer os.RemoveAll(e.workDir)
	}
	e.loader = loaderGo // it counts statuses, describes failures and can stop on a signal
	streams, _ := soakStreamObjects(opts.soakStreams)
	conns := soakDefaultConns
	if opts.connections > 0 {
		conns = opts.connections
	}
	res := &soakResults{
		Started:    started,
		Command:    "bench " + strings.Join(os.Args[1:], " "),
		Nproc:      runtime.NumCPU(),
		Pinning:    pinning,
		Commit:     gitCommit(e.root),
		Conns:      conns,
		Reconnect:  soakReconnect,
		Object:     soakObject,
		Requests:   opts.soakRequests,
		Reloads:    opts.soakReloads,
		Warmup:     opts.soakWarmup.String(),
		StreamList: streams,
	}
	if opts.soakDuration > 0 {
		res.Requests, res.Duration = 0, opts.soakDuration.String()
	}
	if opts.soakReloadEvery > 0 {
		res.ReloadEvery = opts.soakReloadEvery.String()
	}
	bin, err := buildYatagarasu(ctx, e, e.progress)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: soak needs yatagarasu: build failed: %v\n", err)
		return 1
	}
	if res.MachineBusy, err = machineBusy(500 * time.Millisecond); err != nil {
		fmt.Fprintln(e.progress, err)
	}
	res.LoadAvg = loadAvg()
	printSoakHeader(os.Stdout, res)

	if err := e.soak(ctx, bin, res); err != nil {
		res.Error = err.Error()
		fmt.Fprintf(e.progress, "soak: %v\n", err)
	}
	res.Interrupted = ctx.Err() != nil
	res.LoadAvgEnd = loadAvg()
	res.WallSeconds = time.Since(started).Seconds()
	res.Goals = soakGoals(res.Phases, res.Streams)

	fmt.Println()
	printSoak(os.Stdout, res)
	if err := writeSoakJSON(e.runDir, res); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := writeSoakPlot(filepath.Join(e.runDir, "soak.png"), res); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := linkLatest(e.baseDir, e.runDir); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	fmt.Printf("\nresults: %s and soak.png; %s -> %s\n",
		filepath.Join(e.runDir, "soak.json"), filepath.Join(e.baseDir, "latest"), filepath.Base(e.runDir))
	if opts.keep {
		fmt.Printf("configs and logs: %s\n", e.workDir)
	}
	switch {
	case res.Interrupted:
		return 130
	case res.Error != "":
		return 1
	}
	for _, g := range res.Goals {
		if g.Judged && !g.Met {
			return 1
		}
	}
	return 0
}

// soakProxy is the soak's running proxy.
type soakProxy struct {
	p       *proc
	base    string // http://127.0.0.1:port
	cfgPath string
	params  soakParams
	access  *lineCounter // its stdout: the access log, counted and dropped
}

// lineCounter is an io.Writer that counts newlines and keeps nothing.
type lineCounter struct{ n atomic.Int64 }

func (c *lineCounter) Write(p []byte) (int, error) {
	c.n.Add(int64(bytes.Count(p, []byte{'\n'})))
	return len(p), nil
}

func (c *lineCounter) lines() int64 { return c.n.Load() }

// writeConfig replaces the proxy's config file with variant v, by rename,
// so the proxy never reads half a file.
func (sp *soakProxy) writeConfig(v soakVariant) error {
	tmp := sp.cfgPath + ".tmp"
	if err := os.WriteFile(tmp, []byte(soakConfig(sp.params, v)), 0o644); err != nil {
		return fmt.Errorf("bench: write config: %w", err)
	}
	if err := os.Rename(tmp, sp.cfgPath); err != nil {
		return fmt.Errorf("bench: write config: %w", err)
	}
	return nil
}

// soak runs the three phases, filling res as it goes; it returns the error
// that stopped it early, if any.
func (e *env) soak(ctx context.Context, bin string, res *soakResults) error {
	dir := filepath.Join(e.workDir, "soak")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("bench: work dir: %w", err)
	}
	o, err := e.startOrigin(ctx, dir, scenario{Name: "soak"})
	if err != nil {
		return err
	}
	defer o.stop()
	port, err := freePort()
	if err != nil {
		return err
	}
	params := soakParams{Port: port, OriginAddr: o.addr, Conns: res.Conns}

	// Every configuration the reloads use must pass the proxy's own
	// validation before anything is measured.
	res.variants = []soakVariant{{}, {Extra: true}, {Extra: true, Alt: true}, {Alt: true}}
	for i, v := range res.variants {
		cfg := soakConfig(params, v)
		res.Configs = append(res.Configs, cfg)
		if err := validateConfig(ctx, bin, filepath.Join(dir, fmt.Sprintf("variant-%d.toml", i)), cfg); err != nil {
			return err
		}
	}

	sp, err := e.startSoakProxy(ctx, bin, params, dir, "yatagarasu")
	if err != nil {
		return err
	}
	defer func() {
		sp.p.stop()
		res.ProxyLog = summarizeProxyLog(sp.p.logPath)
	}()

	res.t0 = time.Now()
	s := &soakSampler{pid: sp.p.pid(), url: sp.base + "/metrics", client: e.client, access: sp.access,
		t0: res.t0, phase: soakPhaseIdle}
	first := s.record(ctx)
	if first.Err != "" {
		return fmt.Errorf("bench: first sample of the proxy: %s", first.Err)
	}
	s.start(ctx)
	defer func() {
		s.stop()
		res.Samples = s.all()
		res.HeapSeries = s.heapSeries()
	}()

	// Phase 1: requests.
	spec := loadSpec{URL: sp.base + "/bench/" + soakObject, Conns: res.Conns, Duration: soakCountCap, Requests: e.opts.soakRequests, Reconnect: soakReconnect}
	what := fmt.Sprintf("%d x GET /bench/%s", spec.Requests, soakObject)
	if e.opts.soakDuration > 0 {
		spec.Duration, spec.Requests = e.opts.soakDuration, 0
		what = fmt.Sprintf("GET /bench/%s for %s", soakObject, e.opts.soakDuration)
	}
	fmt.Fprintf(e.progress, "soak 1/3 requests: %s over %d connections ...\n", what, res.Conns)
	p1 := e.soakPhase(ctx, soakPhaseRequest, sp, s, o, spec, dir, nil)
	res.Phases = append(res.Phases, p1)
	fmt.Fprintf(e.progress, "  %s\n", phaseSummary(p1))
	if ctx.Err() != nil {
		return nil
	}

	// Phase 2: reloads under load.
	if e.opts.soakReloads > 0 {
		fmt.Fprintf(e.progress, "soak 2/3 reloads: %d POST /admin/reload under %d connections of GET /bench/%s ...\n",
			e.opts.soakReloads, res.Conns, soakObject)
		spec := loadSpec{URL: sp.base + "/bench/" + soakObject, Conns: res.Conns, Duration: soakReloadCap, Reconnect: soakReconnect}
		p2 := e.soakPhase(ctx, soakPhaseReload, sp, s, o, spec, dir, func(ctx context.Context) *soakReloads {
			return e.soakReloadLoop(ctx, sp, s)
		})
		res.Phases = append(res.Phases, p2)
		fmt.Fprintf(e.progress, "  %s\n", phaseSummary(p2))
		if ctx.Err() != nil {
			return nil
		}
	}
	s.stop() // the plot covers phases 1 and 2

	// Phase 3: big streams, through the soaked proxy and, so that what the
	// phases above left in it does not count against the stream, through
	// a fresh one with the same config.
	if sp.p.exited() {
		return fmt.Errorf("bench: yatagarasu exited (%v); log %s", sp.p.waitErr, sp.p.logPath)
	}
	if len(res.StreamList) == 0 {
		return nil
	}
	e.soakStreams(ctx, sp, soakProxySoaked, dir, res)
	if ctx.Err() != nil {
		return nil
	}
	fport, err := freePort()
	if err != nil {
		return err
	}
	fparams := params
	fparams.Port = fport
	fresh, err := e.startSoakProxy(ctx, bin, fparams, dir, "yatagarasu-fresh")
	if err != nil {
		return err
	}
	defer fresh.p.stop()
	e.soakStreams(ctx, fresh, soakProxyFresh, dir, res)
	return nil
}

// The proxies the streams go through.
const (
	soakProxySoaked = "soaked" // the proxy of phases 1 and 2
	soakProxyFresh  = "fresh"  // a new process with the start config
)

// soakStreams streams every -soak-streams object through sp.
func (e *env) soakStreams(ctx context.Context, sp *soakProxy, which, dir string, res *soakResults) {
	for _, obj := range res.StreamList {
		fmt.Fprintf(e.progress, "soak 3/3 stream: GET /bench/%s, %s proxy ... ", obj, which)
		st := e.soakStream(ctx, sp, obj, which, dir)
		res.Streams = append(res.Streams, st)
		if st.Error != "" {
			fmt.Fprintf(e.progress, "FAILED: %s\n", st.Error)
		} else {
			fmt.Fprintf(e.progress, "%.0f MB/s, peak RSS %.1f MiB\n", st.MBPerSec, st.PeakRSSMiB)
		}
		if ctx.Err() != nil {
			return
		}
	}
}

// startSoakProxy writes the start config for params into dir as
// <name>.toml and starts the proxy on it, its access log counted and
// dropped, its stderr in <name>.log; it returns once /ready answers.
func (e *env) startSoakProxy(ctx context.Context, bin string, params soakParams, dir, name string) (*soakProxy, error) {
	sp := &soakProxy{cfgPath: filepath.Join(dir, name+".toml"), params: params, access: &lineCounter{},
		base: "http://127.0.0.1:" + strconv.Itoa(params.Port)}
	if err := sp.writeConfig(soakVariant{}); err != nil {
		return nil, err
	}
	p, err := e.start(procSpec{name: name, argv: []string{bin, "-config", sp.cfgPath}, cpu: cpuProxy,
		logPath: filepath.Join(dir, name+".log"), stdout: sp.access, dir: dir})
	if err != nil {
		return nil, err
	}
	sp.p = p
	if err := e.waitHTTP(ctx, sp.base+"/ready", 20*time.Second, p); err != nil {
		p.stop()
		return nil, fmt.Errorf("%w\n  yatagarasu stderr (%s):\n%s", err, p.logPath, indent(p.logTail(40), "    "))
	}
	return sp, nil
}

// phaseSummary is a one-line progress report of a phase.
func phaseSummary(p soakPhase) string {
	if p.Error != "" {
		return "FAILED: " + p.Error
	}
	s := fmt.Sprintf("%d requests in %s (%s req/s), %d failed; RSS %s, heap %s, goroutines %s",
		p.Load.Requests, fmtSeconds(p.End-p.Start), fmtNum(p.Load.ReqPerSec), p.Load.Errors,
		fmtGrowth(p.RSS), fmtGrowth(p.Heap), fmtGrowth(p.Goroutines))
	if r := p.Reloads; r != nil {
		s += fmt.Sprintf("; %d/%d reloads ok, %.1f/s", r.OK, r.Requested, r.PerSecond)
	}
	return s
}

// validateConfig writes cfg to path and runs `yatagarasu -validate` on it.
func validateConfig(ctx context.Context, bin, path, cfg string) error {
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		return fmt.Errorf("bench: write config: %w", err)
	}
	vctx, cancel := context.WithTimeout(ctx, soakValidateWait)
	defer cancel()
	out, err := exec.CommandContext(vctx, bin, "-validate", "-config", path).CombinedOutput()
	if err != nil {
		return fmt.Errorf("bench: yatagarasu refuses the generated config %s: %v\n%s\n%s", path, err, indent(strings.TrimSpace(string(out)), "    "), cfg)
	}
	return nil
}

// soakPhase runs one load phase: the idle sample before, the load (and
// during, when given, alongside it: the load is stopped when during
// returns), the sample soakAfterDelay after it and the wait for the
// goroutines to come back (awaitSettle).
func (e *env) soakPhase(ctx context.Context, name string, sp *soakProxy, s *soakSampler, o *originProc,
	spec loadSpec, dir string, during func(context.Context) *soakReloads) soakPhase {
	ph := soakPhase{Name: name}
	s.setPhase(soakPhaseIdle, time.Time{})
	ph.Before = s.record(ctx)
	ph.GoroutineDumps = append(ph.GoroutineDumps, e.dumpGoroutines(ctx, sp, name+"-before"))
	var prof string
	prof, ph.LiveHeapBeforeMiB = e.liveHeap(ctx, sp, s, name+"-before")
	ph.HeapProfiles = append(ph.HeapProfiles, prof)
	up0, upErr := o.stats(ctx, e.client)

	start := time.Now()
	warmEnd := start.Add(e.opts.soakWarmup)
	if during != nil {
		warmEnd = start.Add(soakReloadCap) // until during's first reload says otherwise
	}
	s.setPhase(name, warmEnd)
	ph.Start = s.since(start)
	g, err := e.startGoLoad(spec, filepath.Join(dir, name+"-goload.log"))
	if err != nil {
		s.setPhase(soakPhaseIdle, time.Time{})
		ph.Error = err.Error()
		return ph
	}
	loadCtx, loadDone := context.WithCancel(ctx)
	leavers := make(chan *soakLeavers, 1)
	go func() {
		leavers <- leaveLoop(loadCtx, "127.0.0.1:"+strconv.Itoa(sp.params.Port), "/bench/"+soakLeaveObject, soakLeaveEvery)
	}()
	var reloads chan *soakReloads
	if during != nil {
		reloads = make(chan *soakReloads, 1)
		go func() {
			r := during(loadCtx)
			g.finish()
			reloads <- r
		}()
	}
	res, err := e.awaitLoad(ctx, g, s)
	loadDone()
	end := time.Now()
	ph.End = s.since(end)
	ph.Leavers = <-leavers
	if during != nil {
		ph.Reloads = <-reloads
	}
	s.setPhase(soakPhaseIdle, time.Time{})
	ph.Load = res
	if err != nil {
		ph.Error = err.Error()
	}
	ph.WarmupEnd = min(s.since(s.measureStart(name, warmEnd)), ph.End)

	sleepCtx(ctx, time.Until(end.Add(soakAfterDelay)))
	ph.After = s.record(ctx)
	ph.GoroutineDumps = append(ph.GoroutineDumps, e.dumpGoroutines(ctx, sp, name+"-after"))
	prof, ph.LiveHeapAfterMiB = e.liveHeap(ctx, sp, s, name+"-after")
	ph.HeapProfiles = append(ph.HeapProfiles, prof)
	ph.Settled, ph.SettledAfter = e.awaitSettle(ctx, s, ph.Before, end)
	ph.GoroutineDumps = append(ph.GoroutineDumps, e.dumpGoroutines(ctx, sp, name+"-settled"))
	prof, ph.LiveHeapSettledMiB = e.liveHeap(ctx, sp, s, name+"-settled")
	ph.HeapProfiles = append(ph.HeapProfiles, prof)
	if up1, err := o.stats(ctx, e.client); err == nil && upErr == nil {
		ph.Upstream = up1.sub(up0).Requests
	}
	ph.AccessLines = ph.After.AccessLines - ph.Before.AccessLines
	if during == nil && ph.Before.Err == "" && ph.After.Err == "" {
		cut := ph.After.CutClient - ph.Before.CutClient
		ph.Leavers.CutCounted = &cut
	}
	if r := ph.Reloads; r != nil {
		r.ProxyOK = int64(ph.After.ReloadOK - ph.Before.ReloadOK)
		r.ProxyFailed = int64(ph.After.ReloadFailed - ph.Before.ReloadFailed)
	}
	if sp.p.exited() && ph.Error == "" {
		ph.Error = fmt.Sprintf("yatagarasu exited during the phase (%v)", sp.p.waitErr)
	}

	var ts, rss, heap, gor, fds []float64
	var gc0, gc1 float64
	for _, smp := range s.all() {
		if smp.Phase != name || smp.Warmup || smp.Err != "" {
			continue
		}
		if len(ts) == 0 {
			gc0 = smp.GCs
		}
		gc1 = smp.GCs
		ts = append(ts, smp.T)
		rss = append(rss, smp.RSSMiB)
		heap = append(heap, smp.HeapMiB)
		gor = append(gor, smp.Goroutines)
		fds = append(fds, smp.FDs)
	}
	ph.RSS, ph.Heap, ph.Goroutines = computeGrowth(ts, rss), computeGrowth(ts, heap), computeGrowth(ts, gor)
	ph.FDs = computeGrowth(ts, fds)
	ph.MeasuredGCs = int(gc1 - gc0)
	return ph
}

// awaitSettle waits, at most soakSettleMax after the load ended at end,
// for a sample of the idle proxy with no more goroutines than before the
// load. It returns that sample and how many seconds after the end it was
// taken, or the last sample and -1.
func (e *env) awaitSettle(ctx context.Context, s *soakSampler, before soakSample, end time.Time) (soakSample, float64) {
	last := s.record(ctx)
	for {
		if last.Err == "" && before.Err == "" && last.Goroutines <= before.Goroutines {
			return last, last.T - s.since(end)
		}
		if time.Since(end) >= soakSettleMax || ctx.Err() != nil {
			return last, -1
		}
		sleepCtx(ctx, soakInterval)
		if smp, ok := s.latest(); ok && smp.T > last.T {
			last = smp
		}
	}
}

// dumpGoroutines saves the proxy's goroutine profile (grouped by stack)
// as goroutines-<tag>.txt in the run folder and returns the file name, or
// what went wrong.
func (e *env) dumpGoroutines(ctx context.Context, sp *soakProxy, tag string) string {
	return e.savePprof(ctx, sp, "goroutine?debug=1", "goroutines-"+tag+".txt")
}

// liveHeap forces two GCs in the proxy by fetching its heap profile with
// gc=1 twice (the second saved as heap-<tag>.pb.gz), then samples it:
// go_memstats_alloc_bytes is then the live heap. It returns the profile's
// file name and the live heap in MiB (0 when it could not be read).
func (e *env) liveHeap(ctx context.Context, sp *soakProxy, s *soakSampler, tag string) (string, float64) {
	// Two GCs: what sync.Pools hold survives the first one (in their
	// victim caches), pools of dead objects included.
	_ = e.savePprof(ctx, sp, "heap?gc=1", "heap-"+tag+".pb.gz")
	name := e.savePprof(ctx, sp, "heap?gc=1", "heap-"+tag+".pb.gz")
	smp := s.record(ctx)
	if smp.Err != "" {
		return name, 0
	}
	return name, smp.HeapAllocMiB
}

// savePprof fetches /admin/pprof/<query> with the admin token into the
// run folder as name; it returns name, or "error: ..." when it failed.
func (e *env) savePprof(ctx context.Context, sp *soakProxy, query, name string) string {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, sp.base+"/admin/pprof/"+query, nil)
	if err != nil {
		return "error: " + err.Error()
	}
	req.Header.Set("Authorization", "Bearer "+soakAdminToken)
	resp, err := e.client.Do(req)
	if err != nil {
		return "error: " + err.Error()
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, soakMetricsLimit))
	if err != nil || resp.StatusCode != http.StatusOK {
		return fmt.Sprintf("error: %s %v", resp.Status, err)
	}
	if err := os.WriteFile(filepath.Join(e.runDir, name), body, 0o644); err != nil {
		return "error: " + err.Error()
	}
	return name
}

// sleepCtx sleeps for d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// awaitLoad waits for the load g to end. When no request has completed for
// soakStallAfter (the proxy's request counter stands still), it kills the
// load and reports the stall.
func (e *env) awaitLoad(ctx context.Context, g *goLoadRun, s *soakSampler) (loadResult, error) {
	tick := time.NewTicker(soakInterval)
	defer tick.Stop()
	last, moved := -1.0, time.Now()
	for {
		select {
		case <-g.p.done:
			return g.wait(ctx)
		case <-ctx.Done():
			return g.wait(ctx)
		case <-tick.C:
			smp, ok := s.latest()
			if ok && smp.Requests != last {
				last, moved = smp.Requests, time.Now()
			}
			if time.Since(moved) > soakStallAfter {
				g.p.stop()
				r, _ := g.wait(ctx)
				return r, fmt.Errorf("stalled: the proxy completed no request for %s (http_requests_total stayed at %.0f)", soakStallAfter, last)
			}
		}
	}
}

// soakReloadLoop waits for the warm-up, then sends -soak-reloads reloads,
// back to back or, with -soak-reload-every, reload i at first + i × every
// (at once when the previous one took longer), each after rewriting the
// config file with the next variant. It stops early when ctx ends (the load
// ended).
func (e *env) soakReloadLoop(ctx context.Context, sp *soakProxy, s *soakSampler) *soakReloads {
	r := &soakReloads{Requested: e.opts.soakReloads}
	sleepCtx(ctx, e.opts.soakWarmup)
	if ctx.Err() != nil {
		return r
	}
	client := &http.Client{Timeout: soakReloadWait, Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 1}}
	defer client.CloseIdleConnections()
	prev := int64(-1)
	if smp, ok := s.latest(); ok && smp.Err == "" {
		prev = int64(smp.Generation)
	}
	first := time.Now()
	s.setPhase(soakPhaseReload, first)
	var ms []float64
	for i := 0; i < e.opts.soakReloads && ctx.Err() == nil; i++ {
		if every := e.opts.soakReloadEvery; every > 0 && i > 0 {
			if wait := time.Until(first.Add(time.Duration(i) * every)); wait > 0 {
				sleepCtx(ctx, wait)
				if ctx.Err() != nil {
					break
				}
			}
		}
		v, change := soakReloadVariant(i, sp.params.Conns)
		rec := soakReload{N: i + 1, Change: change}
		if err := sp.writeConfig(v); err != nil {
			rec.Error = err.Error()
			r.Failed++
			r.Log = append(r.Log, rec)
			continue
		}
		t := time.Now()
		rec.At = s.since(t)
		status, body, err := postReload(ctx, client, sp.base)
		rec.Millis = float64(time.Since(t).Microseconds()) / 1000
		rec.Status = status
		ms = append(ms, rec.Millis)
		var answer struct {
			Status     string `json:"status"`
			Generation int64  `json:"generation"`
			Error      string `json:"error"`
		}
		switch {
		case err != nil:
			rec.Error = err.Error()
		case json.Unmarshal(body, &answer) != nil:
			rec.Error = fmt.Sprintf("unreadable answer: %q", clip(string(body), 300))
		case status != http.StatusOK || answer.Status != "reloaded":
			rec.Error = fmt.Sprintf("%s: %s", answer.Status, answer.Error)
		}
		rec.Generation = answer.Generation
		if rec.Error != "" || status != http.StatusOK {
			if rec.Error == "" {
				rec.Error = fmt.Sprintf("status %d: %s", status, clip(string(body), 300))
			}
			r.Failed++
		} else {
			r.OK++
			if prev >= 0 && answer.Generation != prev+1 {
				r.GenerationGaps++
			}
			prev = answer.Generation
		}
		r.Log = append(r.Log, rec)
	}
	r.Seconds = time.Since(first).Seconds()
	if r.Seconds > 0 {
		r.PerSecond = float64(len(ms)) / r.Seconds
	}
	if len(ms) > 0 {
		slices.Sort(ms)
		r.P50Millis = ms[len(ms)/2]
		r.P99Millis = ms[min(len(ms)-1, len(ms)*99/100)]
		r.MaxMillis = ms[len(ms)-1]
	}
	return r
}

// postReload sends POST /admin/reload with the admin token.
func postReload(ctx context.Context, c *http.Client, base string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/admin/reload", nil)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+soakAdminToken)
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, body, err
}

// soakStream streams one object through the proxy on one connection and
// tracks its peak RSS.
func (e *env) soakStream(ctx context.Context, sp *soakProxy, obj, which, dir string) soakStream {
	st := soakStream{Object: obj, Proxy: which}
	st.Size, _ = parseSize(obj) // checked by checkSoakOptions
	pid := sp.p.pid()
	m0, err := readMem(pid)
	if err != nil {
		st.Error = err.Error()
		return st
	}
	st.RSSBeforeMiB = float64(m0.RSSKiB) / 1024
	cpu0, err := readCPUTicks(pid)
	if err != nil {
		st.Error = err.Error()
		return st
	}
	sampler := sampleRSS(pid, soakRSSInterval)
	res, err := e.runGoLoad(ctx, loadSpec{URL: sp.base + "/bench/" + obj, Conns: 1, Duration: soakStreamCap, Requests: 1},
		filepath.Join(dir, "stream-"+obj+"-"+which+"-goload.log"))
	peak := sampler.stop()
	if err != nil {
		st.Error = err.Error()
		return st
	}
	if cpu1, err := readCPUTicks(pid); err == nil {
		st.CPUSeconds = float64(cpu1-cpu0) / e.clkTck
	}
	st.Load = res
	st.Bytes = res.Bytes
	st.Seconds = res.Elapsed.Seconds()
	st.MBPerSec = res.BytesPerSec / 1e6
	st.PeakRSSMiB = float64(peak) / 1024
	st.Complete = res.Requests == 1 && res.Errors == 0 && res.Statuses[200] == 1 && res.Bytes >= st.Size
	return st
}

// soakSampler samples the proxy: on demand (record) and every
// soakInterval between start and stop.
type soakSampler struct {
	pid    int
	url    string // the proxy's /metrics
	client *http.Client
	access *lineCounter
	t0     time.Time

	mu      sync.Mutex
	phase   string    // label of the next samples
	from    time.Time // samples of phase before it are its warm-up
	starts  map[string]time.Time
	samples []soakSample
	heap    string // the heap series the proxy exports

	stopc   chan struct{}
	running bool
	wg      sync.WaitGroup
}

// since converts a time to seconds since the soak started.
func (s *soakSampler) since(t time.Time) float64 { return t.Sub(s.t0).Seconds() }

// setPhase labels the next samples; those before measureFrom are the
// phase's warm-up.
func (s *soakSampler) setPhase(phase string, measureFrom time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.phase, s.from = phase, measureFrom
	if s.starts == nil {
		s.starts = map[string]time.Time{}
	}
	if phase != soakPhaseIdle {
		s.starts[phase] = measureFrom
	}
}

// measureStart returns when phase's measured samples began (its last
// setPhase), or def.
func (s *soakSampler) measureStart(phase string, def time.Time) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.starts[phase]; ok {
		return t
	}
	return def
}

// take samples the proxy now.
func (s *soakSampler) take(ctx context.Context) soakSample {
	now := time.Now()
	s.mu.Lock()
	phase, from := s.phase, s.from
	s.mu.Unlock()
	smp := soakSample{T: s.since(now), Phase: phase, Warmup: phase != soakPhaseIdle && now.Before(from)}
	var errs []string
	if m, err := readMem(s.pid); err != nil {
		errs = append(errs, err.Error())
	} else {
		smp.RSSMiB = float64(m.RSSKiB) / 1024
	}
	if n, err := countFDs(s.pid); err != nil {
		errs = append(errs, err.Error())
	} else {
		smp.FDs = float64(n)
	}
	if m, err := s.fetch(ctx); err != nil {
		errs = append(errs, err.Error())
	} else {
		smp.HeapMiB = toMiB(m.HeapInuse)
		smp.HeapAllocMiB = toMiB(m.HeapAlloc)
		smp.Goroutines = m.Goroutines
		smp.ProcessRSSMiB = toMiB(m.ProcessRSS)
		smp.Requests = m.Requests
		smp.Generation = m.Generation
		smp.ReloadOK, smp.ReloadFailed = m.ReloadOK, m.ReloadFailed
		smp.Series = m.Series
		smp.GCs = m.GCs
		smp.CutClient = m.StreamsCutClient
		s.mu.Lock()
		s.heap = m.HeapSeries
		s.mu.Unlock()
	}
	smp.AccessLines = s.access.lines()
	smp.Err = strings.Join(errs, "; ")
	return smp
}

// fetch reads and parses /metrics.
func (s *soakSampler) fetch(ctx context.Context) (soakMetrics, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return soakMetrics{}, err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return soakMetrics{}, fmt.Errorf("bench: /metrics: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, soakMetricsLimit))
	if err != nil {
		return soakMetrics{}, fmt.Errorf("bench: /metrics: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return soakMetrics{}, fmt.Errorf("bench: /metrics: %s", resp.Status)
	}
	return parseSoakMetrics(string(body))
}

// record takes a sample and keeps it in the series.
func (s *soakSampler) record(ctx context.Context) soakSample {
	smp := s.take(ctx)
	s.mu.Lock()
	s.samples = append(s.samples, smp)
	s.mu.Unlock()
	return smp
}

// start records a sample every soakInterval until stop.
func (s *soakSampler) start(ctx context.Context) {
	s.stopc = make(chan struct{})
	s.running = true
	s.wg.Go(func() {
		t := time.NewTicker(soakInterval)
		defer t.Stop()
		for {
			select {
			case <-s.stopc:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				s.record(ctx)
			}
		}
	})
}

// stop ends the periodic sampling; calling it again does nothing.
func (s *soakSampler) stop() {
	if !s.running {
		return
	}
	s.running = false
	close(s.stopc)
	s.wg.Wait()
}

// latest returns the last sample recorded.
func (s *soakSampler) latest() (soakSample, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.samples) == 0 {
		return soakSample{}, false
	}
	return s.samples[len(s.samples)-1], true
}

// all returns a copy of the samples in time order.
func (s *soakSampler) all() []soakSample {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := slices.Clone(s.samples)
	slices.SortStableFunc(out, func(a, b soakSample) int {
		switch {
		case a.T < b.T:
			return -1
		case a.T > b.T:
			return 1
		}
		return 0
	})
	return out
}

func (s *soakSampler) heapSeries() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.heap
}

// summarizeProxyLog counts the warnings and errors in the proxy's log and
// quotes the first ones.
func summarizeProxyLog(path string) soakProxyLog {
	var l soakProxyLog
	f, err := os.Open(path)
	if err != nil {
		return l
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		l.Lines++
		warn := strings.Contains(line, `"level":"WARN"`) || strings.Contains(line, "level=WARN")
		bad := strings.Contains(line, `"level":"ERROR"`) || strings.Contains(line, "level=ERROR")
		switch {
		case warn:
			l.Warnings++
		case bad:
			l.Errors++
		default:
			continue
		}
		if len(l.First) < soakLogKeep {
			l.First = append(l.First, clip(line, 400))
		}
	}
	return l
}

// loadAvg returns the 1, 5 and 15 minute load averages from /proc/loadavg.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// gitCommit names the checked-out commit, "+dirty" with local changes.
func gitCommit(root string) string {
	out, err := exec.Command("git", "-C", root, "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return ""
	}
	c := strings.TrimSpace(string(out))
	if st, err := exec.Command("git", "-C", root, "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(bytes.TrimSpace(st)) > 0 {
		c += "+dirty"
	}
	return c
}
