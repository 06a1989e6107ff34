// Command bench is yatagarasu's load and benchmark harness. It owns the
// whole measurement setup of the S3 read path: a synthetic S3-like origin,
// the targets compared side by side (the origin directly, yatagarasu, nginx
// and haproxy in front of it), the load generators (wrk, or a built-in Go
// closed-loop client), CPU and memory sampling of the process under test
// from /proc, and the report as a table, results.json and results.png.
//
// It imports nothing from the yatagarasu module: the proxy is built with
// `go build` and run with a generated config, as a user would run it.
// Everything happens on 127.0.0.1, in child processes the harness starts,
// pins and kills. See README.md for how to run it and read the table.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"
)

// options are the command-line flags.
type options struct {
	duration    time.Duration
	warmup      time.Duration
	connections int
	scenarios   string
	targets     string
	profiles    string
	out         string
	loader      string
	pin         bool
	big         string
	bigRequests int64
	halfBase    int
	rounds      int // measurements of each closed-loop and half scenario (see runScenario)
	keep        bool
	faultSeed   uint64

	// The soak (-soak, soak.go): a long-lived proxy under load and reloads.
	soak            bool
	soakRequests    int64
	soakReloads     int
	soakDuration    time.Duration // > 0: the request phase runs this long instead of soakRequests
	soakWarmup      time.Duration
	soakReloadEvery time.Duration
	soakStreams     string
}

func main() {
	// Hidden roles: the harness re-executes itself as the origin and as the
	// Go load generator so that each is a process of its own.
	if len(os.Args) > 1 && (os.Args[1] == "-role" || strings.HasPrefix(os.Args[1], "-role=")) {
		os.Exit(runRole(os.Args[1:]))
	}
	os.Exit(run(os.Args[1:]))
}

// runRole dispatches `bench -role NAME args...`.
func runRole(args []string) int {
	var role string
	var rest []string
	if v, ok := strings.CutPrefix(args[0], "-role="); ok {
		role, rest = v, args[1:]
	} else if len(args) > 1 {
		role, rest = args[1], args[2:]
	}
	var err error
	switch role {
	case "origin":
		err = runOriginRole(rest)
	case "load":
		err = runLoadRole(rest)
	default:
		err = fmt.Errorf("bench: unknown role %q", role)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "measured run per scenario and target")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "unmeasured warm-up before each run (0 to skip)")
	fs.IntVar(&o.connections, "connections", 0, "override the connection count of every scenario but the big stream (0: scenario defaults)")
	fs.StringVar(&o.scenarios, "scenarios", "all", "comma list of 1k, 1m, 1m-256, 1g (the big stream, see -big), fail5, fail30, fail30-nobreaker, dead, or all")
	fs.StringVar(&o.targets, "targets", "direct,yatagarasu,nginx,haproxy", "comma list of direct, yatagarasu, nginx, haproxy")
	fs.StringVar(&o.profiles, "profiles", defaultProfiles, "yatagarasu config profiles, each measured as its own target in the 1 KiB scenarios (1k, half, idle10k); the large objects measure public only")
	fs.StringVar(&o.out, "out", "", "base output folder (default <repo>/bench/out); each run gets a timestamped folder in it")
	fs.StringVar(&o.loader, "loader", loaderAuto, "load generator: go, wrk or auto (wrk when installed)")
	fs.BoolVar(&o.pin, "pin", true, "pin the proxy to CPU 1 and origin + load generator to CPU 0 with taskset")
	fs.StringVar(&o.big, "big", "1g", "object of the big-stream scenario: 1g or 5g")
	fs.Int64Var(&o.bigRequests, "big-requests", 3, "sequential GETs in the big-stream scenario")
	fs.IntVar(&o.halfBase, "half-base", 3, "half: closed-loop 1k runs of yatagarasu (public) whose median req/s sets half's rate; 1k's own rows (one per round) count")
	fs.IntVar(&o.rounds, "rounds", 1, "measure every closed-loop scenario and half this many times, the targets' order reversed every other round; the report adds each ratio's median over the rounds and judges half on its median")
	fs.BoolVar(&o.keep, "keep", false, "keep the processes' configs and logs (<run>/work)")
	fs.Uint64Var(&o.faultSeed, "fault-seed", 1, "seed of the origin's random failures in fail5, fail30 and fail30-nobreaker")
	fs.BoolVar(&o.soak, "soak", false, "soak and leak test of one long-lived proxy instead of the scenarios (see README)")
	fs.Int64Var(&o.soakRequests, "soak-requests", 1_000_000, "soak: 1 KiB GETs of the request phase")
	fs.IntVar(&o.soakReloads, "soak-reloads", 1000, "soak: config reloads (POST /admin/reload) while load runs")
	fs.DurationVar(&o.soakDuration, "soak-duration", 0, "soak: run the request phase this long instead of -soak-requests (e.g. 24h)")
	fs.DurationVar(&o.soakReloadEvery, "soak-reload-every", 0, "soak: start a reload this often (0: back to back), e.g. 500ms for a steady reload rate")
	fs.DurationVar(&o.soakWarmup, "soak-warmup", 10*time.Second, "soak: load at the start of the request and reload phases whose samples the growth figures exclude")
	fs.StringVar(&o.soakStreams, "soak-streams", "1g,5g", "soak: objects streamed once each through the proxy after the reloads (comma list of sizes, or none)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("bench: unexpected arguments %q", fs.Args())
	}
	if o.soak {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		// `-soak -duration 24h` is the time-bounded soak too.
		if set["duration"] && !set["soak-duration"] {
			o.soakDuration = o.duration
		}
		if err := checkSoakOptions(o); err != nil {
			return o, err
		}
	}
	if o.rounds < 1 {
		return o, fmt.Errorf("bench: -rounds %d: want at least 1", o.rounds)
	}
	if o.halfBase < 1 {
		return o, fmt.Errorf("bench: -half-base %d: want at least 1", o.halfBase)
	}
	if o.duration <= 0 || o.warmup < 0 || o.connections < 0 {
		return o, errors.New("bench: -duration must be > 0, -warmup and -connections >= 0")
	}
	switch o.loader {
	case loaderAuto, loaderGo, loaderWrk:
	default:
		return o, fmt.Errorf("bench: -loader %q: want go, wrk or auto", o.loader)
	}
	return o, nil
}

// run is the harness proper; it returns the exit code.
func run(args []string) int {
	opts, err := parseFlags(args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(os.Stderr, err)
		return 2
	}

	// First Ctrl-C: stop measuring, stop children, report what was done.
	// Second: kill every child at once and leave.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigc := make(chan os.Signal, 2)
	signal.Notify(sigc, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		<-sigc
		fmt.Fprintln(os.Stderr, "\nbench: interrupted, stopping child processes (again to force)")
		cancel()
		<-sigc
		killAll()
		os.Exit(130)
	}()
	defer killAll()

	if opts.soak {
		return runSoak(ctx, opts)
	}
	e, res, targets, scs, err := setup(ctx, opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if !opts.keep {
		defer os.RemoveAll(e.workDir)
	}

	printHeader(os.Stdout, e, res, scs)
	res.Rows = e.runAll(ctx, scs, targets)
	res.Ratios = computeRatios(res.Rows)
	res.Rounds, res.RatioMedians = opts.rounds, medianRatios(res.Ratios)
	res.Resilience = resiliencePhases(res.Rows)
	if e.half != nil {
		halfTable(e.half, res.Rows)
		res.Half = e.half
	}
	res.IdleNotes, res.CPUProfile = e.idleNotes, e.cpuProfile
	res.Interrupted = ctx.Err() != nil

	fmt.Println()
	printTable(os.Stdout, res)
	if err := writeResults(e.runDir, res); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := writePlot(filepath.Join(e.runDir, "results.png"), res); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := linkLatest(e.baseDir, e.runDir); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	plotted := ""
	if _, err := os.Stat(filepath.Join(e.runDir, "results.png")); err == nil {
		plotted = " (and results.png)" // not drawn for resilience scenarios alone
	}
	fmt.Printf("\nresults: %s%s; %s -> %s\n",
		filepath.Join(e.runDir, "results.json"), plotted, filepath.Join(e.baseDir, "latest"), filepath.Base(e.runDir))
	if opts.keep {
		fmt.Printf("configs and logs: %s\n", e.workDir)
	}
	if res.Interrupted {
		return 130
	}
	for _, r := range res.Rows {
		if r.Error != "" {
			return 1
		}
	}
	return 0
}

// setup finds the repository and tools, creates the output folder and
// resolves scenarios, loader, pinning and targets.
func setup(ctx context.Context, opts options) (*env, *results, []target, []scenario, error) {
	scs, err := buildScenarios(opts.scenarios, opts.duration, opts.warmup, opts.connections, opts.big, opts.bigRequests)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	profs, err := selectProfiles(opts.profiles)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	e, started, pinning, err := newEnv(opts)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	// idle10k holds its client sockets in this process; children inherit
	// the raised limit too.
	if e.fd, err = raiseNofile(); err != nil {
		fmt.Fprintln(e.progress, err)
	}
	// Auth profiles get their key and token now, the key file in the
	// run's work folder.
	if profs, err = withAuthAll(profs, e.workDir); err != nil {
		return nil, nil, nil, nil, err
	}
	// Profiles that resilience scenarios use whatever -profiles says are
	// recorded too, so results.json holds the config they measured.
	recorded := slices.Clone(profs)
	for _, sc := range scs {
		if sc.Profile == "" || slices.ContainsFunc(recorded, func(p profile) bool { return p.Name == sc.Profile }) {
			continue
		}
		p, ok := profileNamed(sc.Profile)
		if !ok {
			return nil, nil, nil, nil, fmt.Errorf("bench: scenario %s: unknown profile %q", sc.Name, sc.Profile)
		}
		recorded = append(recorded, p)
	}
	nproc := runtime.NumCPU()

	e.loader = opts.loader
	if e.loader != loaderGo {
		p, err := ensureTool("wrk", "wrk", e.progress)
		switch {
		case err == nil:
			e.loader, e.wrkPath = loaderWrk, p
		case e.loader == loaderWrk:
			return nil, nil, nil, nil, err
		default:
			e.loader = loaderGo
			fmt.Fprintf(e.progress, "wrk unavailable (%v); using the built-in go loader\n", err)
		}
	}

	targets, skips, err := resolveTargets(ctx, e, opts.targets, profs, e.progress)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	if i := slices.IndexFunc(targets, func(t target) bool { _, ok := t.(*yatagarasuTarget); return ok }); i >= 0 {
		if err := validateProfiles(ctx, targets[i].(*yatagarasuTarget).bin, filepath.Join(e.workDir, "validate"), recorded); err != nil {
			return nil, nil, nil, nil, err
		}
	}
	// After the build, so its compile jobs are not counted.
	busy, err := machineBusy(500 * time.Millisecond)
	if err != nil {
		fmt.Fprintln(e.progress, err)
	}
	res := &results{
		Started:     started,
		MachineBusy: busy,
		Nproc:       nproc,
		ClkTck:      e.clkTck,
		Loader:      e.loader,
		Pinning:     pinning,
		Warmup:      opts.warmup.String(),
		Scenarios:   scs,
		Profiles:    recorded,
		Skipped:     skips,
		OpenFiles:   &e.fd,
	}
	for _, t := range targets {
		res.Targets = append(res.Targets, t.name())
	}
	if len(targets) == 0 {
		return nil, nil, nil, nil, errors.New("bench: no target can run")
	}
	return e, res, targets, scs, nil
}

// newEnv finds the repository and this executable, creates the run's
// output folder and resolves pinning; pinning describes it.
func newEnv(opts options) (e *env, started time.Time, pinning string, err error) {
	root, err := findRepoRoot()
	if err != nil {
		return nil, started, "", err
	}
	self, err := os.Executable()
	if err != nil {
		return nil, started, "", fmt.Errorf("bench: own executable: %w", err)
	}
	baseDir := opts.out
	if baseDir == "" {
		baseDir = filepath.Join(root, "bench", "out")
	}
	if baseDir, err = filepath.Abs(baseDir); err != nil {
		return nil, started, "", fmt.Errorf("bench: -out: %w", err)
	}
	started = time.Now()
	runDir := filepath.Join(baseDir, started.Format("20060102-150405"))
	workDir := filepath.Join(runDir, "work")
	if err := os.MkdirAll(workDir, 0o755); err != nil {
		return nil, started, "", fmt.Errorf("bench: output folder: %w", err)
	}
	e = &env{
		opts:     opts,
		root:     root,
		baseDir:  baseDir,
		runDir:   runDir,
		workDir:  workDir,
		self:     self,
		clkTck:   clockTicks(),
		client:   newProbeClient(),
		progress: os.Stderr,
	}
	pinning = "pinning off (-pin=false)"
	if opts.pin {
		switch ts := findTool("taskset"); {
		case ts == "":
			pinning = "pinning off (taskset not found)"
		case runtime.NumCPU() < 2:
			pinning = "pinning off (fewer than 2 CPUs)"
		default:
			e.tasksetPath = ts
			pinning = "proxy on CPU 1, origin + load generator on CPU 0"
		}
	}
	return e, started, pinning, nil
}

// busyWarn is the share of CPU used by other work above which the header
// warns that figures are skewed.
const busyWarn = 0.10

// printHeader states the machine and the loads before any number.
func printHeader(w io.Writer, e *env, res *results, scs []scenario) {
	fmt.Fprintf(w, "yatagarasu bench  %s\n", res.Started.Format(time.RFC3339))
	fmt.Fprintf(w, "machine: nproc=%d, %s/%s, CLK_TCK=%.0f, %.0f%% busy with other work before the run\n",
		res.Nproc, runtime.GOOS, runtime.GOARCH, res.ClkTck, 100*res.MachineBusy)
	if res.MachineBusy > busyWarn {
		fmt.Fprintf(w, "WARNING: other processes are using the CPUs; every figure below is skewed, compare only runs on an idle machine\n")
	}
	fmt.Fprintf(w, "loader:  %s; %s\n", e.loader, res.Pinning)
	if fd := res.OpenFiles; fd != nil && fd.Soft > 0 {
		raised := ""
		if fd.SoftBefore < fd.Soft {
			raised = fmt.Sprintf(" (raised from %d)", fd.SoftBefore)
		}
		fmt.Fprintf(w, "files:   RLIMIT_NOFILE %d%s, hard %d\n", fd.Soft, raised, fd.Hard)
	}
	fmt.Fprintf(w, "targets: %s\n", strings.Join(res.Targets, ", "))
	if e.opts.rounds > 1 {
		fmt.Fprintf(w, "rounds:  %d of every closed-loop scenario and half, the targets' order reversed every other round; ratios and half's goal judged on their medians\n", e.opts.rounds)
	}
	fmt.Fprintf(w, "loads (each after a %s warm-up, fresh processes per scenario and target):\n", e.opts.warmup)
	for _, sc := range scs {
		fmt.Fprintf(w, "  %s\n", sc.describe())
	}
}

// findRepoRoot walks up from the working directory to the folder holding
// go.mod.
func findRepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("bench: working directory: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("bench: no go.mod above the working directory; run from the repository")
		}
		dir = parent
	}
}
