package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"
)

// The report: one row per scenario and target, the yatagarasu ratios, and
// the same as results.json (the PNG is in plot.go).

// row is one target measured in one scenario.
type row struct {
	Scenario string `json:"scenario"`
	Target   string `json:"target"`
	// Round is the row's round when -rounds repeated the scenario (1, 2,
	// ...); 0 when it was measured once.
	Round int `json:"round,omitempty"`
	// Measured is whose CPU and RSS the row reports: "proxy", or "origin"
	// for the direct target.
	Measured string `json:"measured"`
	// Error is set when the target could not be measured in this scenario;
	// the numbers are then zero.
	Error string     `json:"error,omitempty"`
	Load  loadResult `json:"load"`

	WallSeconds       float64 `json:"wall_seconds"`          // measured run, loader start to exit
	CPUSeconds        float64 `json:"cpu_seconds"`           // measured process, utime+stime
	CPUPerReqUS       float64 `json:"cpu_us_per_req"`        // CPUSeconds / requests, µs
	CPUUtil           float64 `json:"cpu_util"`              // CPUSeconds / WallSeconds (1 = one core busy)
	PeakRSSMiB        float64 `json:"peak_rss_mib"`          // max VmRSS sampled every 100 ms
	HWMMiB            float64 `json:"hwm_mib"`               // VmHWM at the end: peak since start
	MBPerSec          float64 `json:"mb_per_sec"`            // response bytes / s, MB = 10^6 bytes
	OriginCPUSeconds  float64 `json:"origin_cpu_seconds"`    // the origin's CPU over the same run
	OriginCPUPerReqUS float64 `json:"origin_cpu_us_per_req"` // ... per client request
	LoaderCPUUtil     float64 `json:"loader_cpu_util"`       // load generator CPU / wall
	// Upstream counts the origin's requests during the measured run;
	// UpstreamPerReq is that over client requests (retry amplification).
	Upstream       originStats `json:"upstream"`
	UpstreamPerReq float64     `json:"upstream_per_req"`
	// Faults is the origin's failure mode in a resilience scenario ("503
	// SlowDown at 5%", "dead"); such rows are reported in the resilience
	// table, from Resilience, not in the main table or the ratios.
	Faults     string            `json:"faults,omitempty"`
	Resilience []resiliencePhase `json:"-"` // in results.Resilience
	// Kind is the scenario's (scenario.Kind): "" for the closed loop of
	// the main table, "open" for half, "idle" for idle10k, whose rows
	// have tables of their own and no ratios in the main one.
	Kind string `json:"kind,omitempty"`
	// Idle holds the idle10k figures (Kind "idle").
	Idle *idleResult `json:"idle,omitempty"`
}

// ratio compares a yatagarasu row with another target in the same scenario:
// yatagarasu's value divided by the other's.
type ratio struct {
	Scenario  string  `json:"scenario"`
	Target    string  `json:"target"`          // a yatagarasu row, e.g. "yatagarasu"
	Versus    string  `json:"versus"`          // direct, nginx or haproxy
	Round     int     `json:"round,omitempty"` // both rows' round (0: measured once)
	ReqPerSec float64 `json:"req_per_sec"`
	P99       float64 `json:"p99"`
	CPUPerReq float64 `json:"cpu_per_req"`
	PeakRSS   float64 `json:"peak_rss"`
}

// results is everything results.json holds.
type results struct {
	Started time.Time `json:"started"`
	Nproc   int       `json:"nproc"`
	// MachineBusy is the fraction of all CPUs busy with other work just
	// before the run; above a few percent the figures are noisy.
	MachineBusy float64    `json:"machine_busy"`
	ClkTck      float64    `json:"clk_tck"`
	Loader      string     `json:"loader"`
	Pinning     string     `json:"pinning"`
	Warmup      string     `json:"warmup"`
	Scenarios   []scenario `json:"scenarios"`
	Targets     []string   `json:"targets"`
	Profiles    []profile  `json:"profiles"`
	Skipped     []skipped  `json:"skipped,omitempty"`
	Rows        []row      `json:"rows"`
	Ratios      []ratio    `json:"ratios"`
	// Rounds is -rounds; with more than one, RatioMedians are the ratios'
	// medians over the rounds.
	Rounds       int           `json:"rounds"`
	RatioMedians []ratioMedian `json:"ratio_medians,omitempty"`
	// Resilience is the resilience table: one entry per target and phase of
	// the scenarios that break the origin.
	Resilience []resiliencePhase `json:"resilience,omitempty"`
	// Half is the half scenario: its rate, where it came from, its table
	// and goal.
	Half *halfRun `json:"half,omitempty"`
	// OpenFiles are the harness's file limits; IdleNotes say why idle10k
	// held fewer connections than it wanted, when it did.
	OpenFiles *fdLimits `json:"open_files,omitempty"`
	IdleNotes []string  `json:"idle_notes,omitempty"`
	// CPUProfile is yatagarasu's CPU profile under the 1k load.
	CPUProfile  *cpuProfile `json:"cpu_profile,omitempty"`
	Interrupted bool        `json:"interrupted,omitempty"`
}

// isYatagarasu reports whether a target name is the proxy (any profile).
func isYatagarasu(name string) bool {
	return name == targetYatagarasu || strings.HasPrefix(name, targetYatagarasu+":")
}

// computeRatios pairs every measured yatagarasu row with every measured
// non-yatagarasu row of the same scenario and round, and each profile's row
// (yatagarasu:<profile>) with the public one (yatagarasu) too. Rows of
// resilience, half and idle10k are left out: they have tables of their
// own.
func computeRatios(rows []row) []ratio {
	div := func(a, b float64) float64 {
		if b == 0 {
			return 0
		}
		return a / b
	}
	var out []ratio
	skip := func(r row) bool { return r.Error != "" || r.Faults != "" || r.Kind != "" }
	for _, y := range rows {
		if !isYatagarasu(y.Target) || skip(y) {
			continue
		}
		for _, o := range rows {
			if o.Scenario != y.Scenario || o.Round != y.Round || skip(o) {
				continue
			}
			// The other proxies, and for a profile the public row.
			if isYatagarasu(o.Target) && (o.Target != targetYatagarasu || y.Target == targetYatagarasu) {
				continue
			}
			out = append(out, ratio{
				Scenario:  y.Scenario,
				Target:    y.Target,
				Versus:    o.Target,
				Round:     y.Round,
				ReqPerSec: div(y.Load.ReqPerSec, o.Load.ReqPerSec),
				P99:       div(float64(y.Load.P99), float64(o.Load.P99)),
				CPUPerReq: div(y.CPUPerReqUS, o.CPUPerReqUS),
				PeakRSS:   div(y.PeakRSSMiB, o.PeakRSSMiB),
			})
		}
	}
	return out
}

// fmtLatency prints a latency with a unit that keeps 3 significant digits.
func fmtLatency(d time.Duration) string {
	switch {
	case d <= 0:
		return "-"
	case d < time.Millisecond:
		return fmt.Sprintf("%.0fµs", float64(d)/float64(time.Microsecond))
	case d < time.Second:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.2fs", d.Seconds())
	}
}

// fmtNum prints a figure with fewer decimals as it grows.
func fmtNum(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v < 10:
		return fmt.Sprintf("%.2f", v)
	case v < 1000:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.0f", v)
	}
}

// resiliencePhases collects the resilience table from the rows.
func resiliencePhases(rows []row) []resiliencePhase {
	var out []resiliencePhase
	for _, r := range rows {
		out = append(out, r.Resilience...)
	}
	return out
}

// printTable writes the results table and the ratios, then the tables of
// half, idle10k and the resilience scenarios, and where the CPU profile
// is.
func printTable(w io.Writer, res *results) {
	perf, open, idle := 0, 0, 0
	var resilienceFailed []string
	for _, r := range res.Rows {
		switch {
		case r.Faults != "":
			if r.Error != "" {
				resilienceFailed = append(resilienceFailed, fmt.Sprintf("%s %s: %s", r.Scenario, r.Target, r.Error))
			}
		case r.Kind == kindOpen:
			open++
		case r.Kind == kindIdle:
			idle++
		default:
			perf++
		}
	}
	resilience := len(res.Resilience) > 0 || len(resilienceFailed) > 0
	halfSkipped := res.Half != nil && res.Half.Skipped != ""
	first := true
	section := func() {
		if !first {
			fmt.Fprintln(w)
		}
		first = false
	}
	if perf > 0 || (open == 0 && idle == 0 && !resilience && !halfSkipped) {
		section()
		printPerfTable(w, res)
	}
	if (open > 0 && res.Half != nil) || halfSkipped {
		section()
		printHalf(w, res.Half)
	}
	if idle > 0 {
		section()
		printIdle(w, res)
	}
	if resilience {
		section()
		printResilience(w, res.Resilience)
		for _, n := range resilienceFailed {
			fmt.Fprintf(w, "FAILED %s\n", n)
		}
	}
	if perf == 0 {
		for _, s := range res.Skipped {
			fmt.Fprintf(w, "%s: skipped (%s)\n", s.Target, s.Reason)
		}
	}
	if cp := res.CPUProfile; cp != nil {
		section()
		if cp.Error != "" {
			fmt.Fprintf(w, "CPU profile of %s in %s: failed: %s\n", cp.Target, cp.Scenario, cp.Error)
		} else {
			fmt.Fprintf(w, "CPU profile of %s under the %s load (%ds, after the measured run): %s; go tool pprof -top: %s\n",
				cp.Target, cp.Scenario, cp.Seconds, cp.File, cp.Top)
		}
	}
}

// printPerfTable writes the main table and the ratios.
func printPerfTable(w io.Writer, res *results) {
	t := [][]string{{"scenario", "target", "req/s", "p50", "p99", "CPU µs/req", "CPU%", "RSS MiB", "HWM MiB", "MB/s", "errors", "up/req", "gen CPU%"}}
	var notes []string
	hasDirect := false
	for _, r := range res.Rows {
		if r.Faults != "" || r.Kind != "" {
			continue
		}
		name := roundName(r.Target, r.Round)
		if r.Measured == "origin" {
			name += "*"
			hasDirect = true
		}
		if r.Error != "" {
			notes = append(notes, fmt.Sprintf("%s %s: %s", r.Scenario, r.Target, r.Error))
			t = append(t, []string{r.Scenario, name, "FAILED", "-", "-", "-", "-", "-", "-", "-", "-", "-", "-"})
			continue
		}
		t = append(t, []string{r.Scenario, name, fmtNum(r.Load.ReqPerSec), fmtLatency(r.Load.P50), fmtLatency(r.Load.P99),
			fmtNum(r.CPUPerReqUS), fmt.Sprintf("%.0f", 100*r.CPUUtil), fmtNum(r.PeakRSSMiB), fmtNum(r.HWMMiB),
			fmtNum(r.MBPerSec), fmt.Sprint(r.Load.Errors), fmt.Sprintf("%.2f", r.UpstreamPerReq),
			fmt.Sprintf("%.0f", 100*r.LoaderCPUUtil)})
	}
	writeAligned(w, t, 2)
	if hasDirect {
		fmt.Fprintln(w, "* direct: CPU, CPU% and RSS are the origin's (no proxy in the path).")
	}
	for _, n := range notes {
		fmt.Fprintf(w, "FAILED %s\n", n)
	}
	for _, s := range res.Skipped {
		fmt.Fprintf(w, "%s: skipped (%s)\n", s.Target, s.Reason)
	}

	fmt.Fprintln(w)
	if len(res.Ratios) == 0 {
		fmt.Fprintln(w, "ratios: none (they need a measured yatagarasu row and another target in the same scenario)")
		return
	}
	fmt.Fprintln(w, "ratios yatagarasu / other (req/s: higher is better; p99, CPU/req, RSS: lower is better)")
	t = [][]string{{"scenario", "ratio", "req/s", "p99", "CPU/req", "RSS"}}
	for _, q := range res.Ratios {
		t = append(t, []string{q.Scenario, roundName(q.Target+"/"+q.Versus, q.Round), fmt.Sprintf("%.2fx", q.ReqPerSec),
			fmt.Sprintf("%.2fx", q.P99), fmt.Sprintf("%.2fx", q.CPUPerReq), fmt.Sprintf("%.2fx", q.PeakRSS)})
	}
	writeAligned(w, t, 2)
	if len(res.RatioMedians) > 0 {
		fmt.Fprintln(w)
		printRatioMedians(w, res.RatioMedians)
	}
}

// roundName labels a row or ratio of a repeated scenario with its round:
// "yatagarasu #2"; name alone for round 0.
func roundName(name string, round int) string {
	if round == 0 {
		return name
	}
	return fmt.Sprintf("%s #%d", name, round)
}

// writeAligned prints rows as columns two spaces apart: the first left
// columns aligned left (names), the rest right (numbers).
func writeAligned(w io.Writer, rows [][]string, left int) {
	var widths []int
	for _, r := range rows {
		for i, c := range r {
			if i >= len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	for _, r := range rows {
		var b strings.Builder
		for i, c := range r {
			pad := strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c))
			if i > 0 {
				b.WriteString("  ")
			}
			if i < left {
				b.WriteString(c + pad)
			} else {
				b.WriteString(pad + c)
			}
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
}

// writeResults writes results.json into the run folder.
func writeResults(runDir string, res *results) error {
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return fmt.Errorf("bench: encode results: %w", err)
	}
	if err := os.WriteFile(filepath.Join(runDir, "results.json"), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("bench: write results: %w", err)
	}
	return nil
}

// linkLatest points baseDir/latest at the run folder, replacing an older
// link; where symlinks fail it copies the result files instead.
func linkLatest(baseDir, runDir string) error {
	latest := filepath.Join(baseDir, "latest")
	if st, err := os.Lstat(latest); err == nil {
		if st.Mode()&os.ModeSymlink != 0 {
			_ = os.Remove(latest)
		} else if err := os.RemoveAll(latest); err != nil {
			return fmt.Errorf("bench: replace latest: %w", err)
		}
	}
	if err := os.Symlink(filepath.Base(runDir), latest); err == nil {
		return nil
	}
	if err := os.MkdirAll(latest, 0o755); err != nil {
		return fmt.Errorf("bench: latest: %w", err)
	}
	for _, name := range []string{"results.json", "results.png", "soak.json", "soak.png"} {
		b, err := os.ReadFile(filepath.Join(runDir, name))
		if err != nil {
			continue
		}
		if err := os.WriteFile(filepath.Join(latest, name), b, 0o644); err != nil {
			return fmt.Errorf("bench: latest: %w", err)
		}
	}
	return nil
}
