package main

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// The pure parts of the soak (soak.go): the configurations it reloads
// between, the figures it reads from /metrics, the first-vs-last-10 %
// growth and the goals. Nothing here starts a process or touches the
// network, so the tests cover all of it.

// soakAdminToken is the [admin] token of the soak's proxy. It listens on
// 127.0.0.1 only and lives for one run: a fixed value is enough.
const soakAdminToken = "bench-soak-admin-token-0123456789"

// soakExtraBucket is the bucket the reloads add and remove.
const soakExtraBucket = "extra"

// soakParams are the per-run values of the soak's configs.
type soakParams struct {
	Port       int    // client-facing port on 127.0.0.1
	OriginAddr string // host:port of the origin
	Conns      int    // client connections of the load
}

// soakVariant is one of the configurations the reloads switch between.
// Each reload changes exactly one of the two fields, so that every reload
// rebuilds something: Extra starts or stops a whole bucket (supervisor,
// pool, metrics set), Alt rebuilds the loaded bucket with other limits.
type soakVariant struct {
	Extra bool `json:"extra"` // the bucket "extra" (/extra) is configured
	Alt   bool `json:"alt"`   // the loaded bucket has its alternate limits
}

// soakLimits are the loaded bucket's limits in a variant: its upstream
// pool (connection_pool_size = max_idle_connections) and its
// max_concurrent_requests. Both stay well above what the load needs, so
// a reload changes them without any request being refused for it.
func soakLimits(v soakVariant, conns int) (pool, maxConcurrent int) {
	pool, maxConcurrent = conns+poolHeadroom, max(1000, 4*conns)
	if v.Alt {
		pool, maxConcurrent = conns+2*poolHeadroom, 2*maxConcurrent
	}
	return pool, maxConcurrent
}

// soakConfig renders the proxy config of a variant: the bench harness's own
// config (yatagarasuConfig) for the loaded bucket "bench", with the
// variant's limits, the admin token (POST /admin/reload), the access log
// explicitly on, and in the Extra variant a second bucket on the same
// origin.
func soakConfig(p soakParams, v soakVariant) string {
	pool, maxConcurrent := soakLimits(v, p.Conns)
	var b strings.Builder
	// Appended inside the bench bucket's [buckets.s3] table.
	fmt.Fprintf(&b, "max_concurrent_requests = %d\n", maxConcurrent)
	if v.Extra {
		fmt.Fprintf(&b, `
[[buckets]]
name = %q
path_prefix = "/extra"
[buckets.s3]
bucket = "extra"
region = "us-east-1"
endpoint = "http://%s"
force_path_style = true
access_key = "AKIDBENCH"
secret_key = "bench-secret"
connection_pool_size = 8
max_idle_connections = 8
`, soakExtraBucket, p.OriginAddr)
	}
	fmt.Fprintf(&b, `
[admin]
token = %q

[log]
access = true
`, soakAdminToken)
	return yatagarasuConfig(yatagarasuParams{Port: p.Port, OriginAddr: p.OriginAddr, PoolSize: pool},
		profile{Name: "soak", TOML: b.String()})
}

// soakReloadVariant returns the configuration reload number i (0-based)
// switches to and what it changes. The reloads cycle through four steps
// from the start variant {}: add "extra", change the loaded bucket's
// limits, remove "extra", change them back, so adding/removing a bucket
// alternates with rebuilding the loaded one, and every fourth reload is
// back at the configuration the proxy started with.
func soakReloadVariant(i int, conns int) (soakVariant, string) {
	base, baseConc := soakLimits(soakVariant{}, conns)
	alt, altConc := soakLimits(soakVariant{Alt: true}, conns)
	switch i % 4 {
	case 0:
		return soakVariant{Extra: true}, "add bucket extra"
	case 1:
		return soakVariant{Extra: true, Alt: true},
			fmt.Sprintf("bench: pool %d->%d, max_concurrent_requests %d->%d", base, alt, baseConc, altConc)
	case 2:
		return soakVariant{Alt: true}, "remove bucket extra"
	default:
		return soakVariant{},
			fmt.Sprintf("bench: pool %d->%d, max_concurrent_requests %d->%d", alt, base, altConc, baseConc)
	}
}

// soakMetrics are the proxy-wide figures the soak reads from /metrics.
type soakMetrics struct {
	Goroutines float64 // go_goroutines
	// HeapInuse is go_memstats_heap_inuse_bytes, or go_memstats_alloc_bytes
	// when the proxy does not export the former (HeapSeries says which).
	HeapInuse    float64
	HeapSeries   string
	HeapAlloc    float64 // go_memstats_alloc_bytes: live objects + garbage not yet collected
	ProcessRSS   float64 // process_resident_memory_bytes
	Requests     float64 // http_requests_total, every bucket, method and status
	Generation   float64 // config_generation
	ReloadOK     float64 // config_reload_success_total
	ReloadFailed float64 // config_reload_failure_total
	GCs          float64 // go_gc_duration_seconds_count: GC cycles so far
	// StreamsCutClient is http_streams_cut_total{side="client"}, every
	// bucket: streams whose client went away mid-body.
	StreamsCutClient float64
	Series           int // series exposed: grows when metric sets leak
	Missing          []string
}

// Series names read by soakMetricsOf.
const (
	seriesGoroutines = "go_goroutines"
	seriesHeapInuse  = "go_memstats_heap_inuse_bytes"
	seriesHeapAlloc  = "go_memstats_alloc_bytes"
	seriesProcessRSS = "process_resident_memory_bytes"
	seriesRequests   = "http_requests_total"
	seriesGeneration = "config_generation"
	seriesReloadOK   = "config_reload_success_total"
	seriesReloadFail = "config_reload_failure_total"
	seriesGCs        = "go_gc_duration_seconds_count"
	seriesStreamsCut = "http_streams_cut_total"
)

var errSoakMetrics = errors.New("bench: /metrics has no go_goroutines and no heap series")

// soakMetricsOf extracts the soak's figures from parsed /metrics samples.
// It fails only when neither goroutines nor heap are there (not the
// proxy's metrics at all); other missing series are listed in Missing.
func soakMetricsOf(samples []sample) (soakMetrics, error) {
	var m soakMetrics
	seen := map[string]bool{}
	var alloc float64
	for _, s := range samples {
		seen[s.name] = true
		switch s.name {
		case seriesGoroutines:
			m.Goroutines = s.value
		case seriesHeapInuse:
			m.HeapInuse = s.value
		case seriesHeapAlloc:
			alloc = s.value
			m.HeapAlloc = s.value
		case seriesProcessRSS:
			m.ProcessRSS = s.value
		case seriesRequests:
			m.Requests += s.value
		case seriesGeneration:
			m.Generation = s.value
		case seriesReloadOK:
			m.ReloadOK = s.value
		case seriesReloadFail:
			m.ReloadFailed = s.value
		case seriesGCs:
			m.GCs = s.value
		case seriesStreamsCut:
			if s.labels["side"] == "client" {
				m.StreamsCutClient += s.value
			}
		}
	}
	m.Series = len(samples)
	switch {
	case seen[seriesHeapInuse]:
		m.HeapSeries = seriesHeapInuse
	case seen[seriesHeapAlloc]:
		m.HeapInuse, m.HeapSeries = alloc, seriesHeapAlloc
	}
	if !seen[seriesGoroutines] && m.HeapSeries == "" {
		return m, errSoakMetrics
	}
	for _, name := range []string{seriesGoroutines, seriesProcessRSS, seriesRequests, seriesGeneration, seriesReloadOK, seriesReloadFail} {
		if !seen[name] {
			m.Missing = append(m.Missing, name)
		}
	}
	if m.HeapSeries == "" {
		m.Missing = append(m.Missing, seriesHeapInuse)
	}
	return m, nil
}

// parseSoakMetrics parses a /metrics body into the soak's figures.
func parseSoakMetrics(text string) (soakMetrics, error) {
	samples, err := parseMetricsText(text)
	if err != nil {
		return soakMetrics{}, err
	}
	return soakMetricsOf(samples)
}

// growthStats compares the start and the end of a phase's measured
// samples (those after its warm-up): the mean of the first 10 % against
// the mean of the last 10 % (at least one sample each).
type growthStats struct {
	// Valid is false with fewer than two measured samples or a first
	// mean of zero: nothing to compare.
	Valid   bool    `json:"valid"`
	Samples int     `json:"samples"` // measured samples, warm-up excluded
	Window  int     `json:"window"`  // samples averaged at each end
	First   float64 `json:"first_mean"`
	Last    float64 `json:"last_mean"`
	Pct     float64 `json:"growth_pct"` // 100 · (Last − First) / First
	Peak    float64 `json:"peak"`
	// The windows' time spans, seconds since the soak started.
	FirstFrom float64 `json:"first_from_s"`
	FirstTo   float64 `json:"first_to_s"`
	LastFrom  float64 `json:"last_from_s"`
	LastTo    float64 `json:"last_to_s"`
}

// computeGrowth computes growthStats over values vs sampled at times ts
// (same length, in time order).
func computeGrowth(ts, vs []float64) growthStats {
	g := growthStats{Samples: len(vs)}
	if len(vs) == 0 || len(ts) != len(vs) {
		return g
	}
	g.Window = max(1, len(vs)/10)
	mean := func(x []float64) float64 {
		s := 0.0
		for _, v := range x {
			s += v
		}
		return s / float64(len(x))
	}
	n, w := len(vs), g.Window
	g.First, g.Last = mean(vs[:w]), mean(vs[n-w:])
	g.FirstFrom, g.FirstTo = ts[0], ts[w-1]
	g.LastFrom, g.LastTo = ts[n-w], ts[n-1]
	g.Peak = vs[0]
	for _, v := range vs {
		g.Peak = max(g.Peak, v)
	}
	if n >= 2 && g.First > 0 {
		g.Valid = true
		g.Pct = 100 * (g.Last - g.First) / g.First
	}
	return g
}

// Goals of the soak.
const (
	soakGrowthGoalPct = 5  // RSS, heap, goroutines and descriptors grow less than this after the warm-up
	soakStreamRSSMiB  = 64 // peak RSS while streaming
	// soakGrowthMinSamples is the fewest measured samples a growth figure
	// is judged on: with fewer, its 10 % windows are single samples, and
	// heap and RSS say where in a GC cycle each fell, not whether they grow
	// (a reload storm of a few seconds, a short request phase).
	soakGrowthMinSamples = 10
)

// soakGoal is one goal of the soak, judged on the figures measured.
type soakGoal struct {
	Phase  string `json:"phase"`
	Goal   string `json:"goal"`
	Got    string `json:"got"`
	Judged bool   `json:"judged"` // false: not enough data to tell
	Met    bool   `json:"met"`
}

// growthGoal judges one growth figure.
func growthGoal(phase, what, unit string, g growthStats) soakGoal {
	goal := soakGoal{Phase: phase, Goal: fmt.Sprintf("%s growth < %d%% after the warm-up", what, soakGrowthGoalPct)}
	if !g.Valid {
		goal.Got = fmt.Sprintf("not judged: %d measured samples", g.Samples)
		return goal
	}
	if unit != "" {
		unit = " " + unit
	}
	goal.Got = fmt.Sprintf("%+.1f%% (%s -> %s%s, means of %d samples)", g.Pct, fmtNum(g.First), fmtNum(g.Last), unit, g.Window)
	if g.Samples < soakGrowthMinSamples {
		goal.Got = fmt.Sprintf("not judged: %d measured samples, fewer than %d (%s)", g.Samples, soakGrowthMinSamples, goal.Got)
		return goal
	}
	goal.Judged, goal.Met = true, g.Pct < soakGrowthGoalPct
	return goal
}

// soakGoals judges every goal of the phases and streams measured.
func soakGoals(phases []soakPhase, streams []soakStream) []soakGoal {
	var out []soakGoal
	for _, p := range phases {
		if p.Error != "" {
			out = append(out, soakGoal{Phase: p.Name, Goal: "phase completes", Got: strings.Join(strings.Fields(p.Error), " "), Judged: true})
			continue
		}
		failed := p.Load.Errors
		out = append(out, soakGoal{Phase: p.Name, Goal: "no client request fails", Judged: true, Met: failed == 0,
			Got: fmt.Sprintf("%d failed of %d (%s)", failed, p.Load.Requests, fmtStatusesOrNone(p.Load))})
		if r := p.Reloads; r != nil {
			out = append(out, soakGoal{Phase: p.Name, Goal: "every reload succeeds", Judged: true,
				Met: r.Failed == 0 && r.OK == r.Requested && r.GenerationGaps == 0,
				Got: fmt.Sprintf("%d of %d ok, %d failed, %d generation gaps, %.1f reloads/s", r.OK, r.Requested, r.Failed, r.GenerationGaps, r.PerSecond)})
		}
		out = append(out,
			growthGoal(p.Name, "RSS", "MiB", p.RSS),
			growthGoal(p.Name, "Go heap in use", "MiB", p.Heap),
			growthGoal(p.Name, "goroutines", "", p.Goroutines),
			growthGoal(p.Name, "open descriptors", "", p.FDs))
		if p.Leavers != nil {
			out = append(out, leaversGoal(p.Name, p.Leavers))
		}
		// Idle server workers (fasthttp's, 10 s) and pooled upstream
		// connections (idle_timeout, 90 s) outlive the load by design: a
		// leak is goroutines that never come back, not ones that take
		// their idle time.
		g := soakGoal{Phase: p.Name, Goal: fmt.Sprintf("goroutines back to the baseline within %.0fs of the load", soakSettleMax.Seconds())}
		if p.Before.Err == "" && p.After.Err == "" {
			g.Judged, g.Met = true, p.SettledAfter >= 0 && p.Settled.Goroutines <= p.Before.Goroutines
			g.Got = fmt.Sprintf("%.0f before the load, %.0f %.0fs after", p.Before.Goroutines, p.After.Goroutines, soakAfterDelay.Seconds())
			switch {
			case p.SettledAfter < 0:
				g.Got += fmt.Sprintf("; still %.0f after %.0fs", p.Settled.Goroutines, soakSettleMax.Seconds())
			case p.SettledAfter > soakAfterDelay.Seconds():
				g.Got += fmt.Sprintf("; back to %.0f after %.0fs", p.Settled.Goroutines, p.SettledAfter)
			}
		} else {
			g.Got = "not judged: " + strings.TrimSpace(p.Before.Err+" "+p.After.Err)
		}
		out = append(out, g)
	}
	for _, s := range streams {
		g := soakGoal{Phase: "stream " + s.Object, Goal: fmt.Sprintf("%s proxy: complete, peak RSS < %d MiB", s.Proxy, soakStreamRSSMiB)}
		switch {
		case s.Error != "":
			g.Judged, g.Got = true, s.Error
		default:
			g.Judged = true
			g.Met = s.Complete && s.PeakRSSMiB < soakStreamRSSMiB
			g.Got = fmt.Sprintf("peak RSS %.1f MiB (%.1f before the stream), %.0f MB/s", s.PeakRSSMiB, s.RSSBeforeMiB, s.MBPerSec)
			if !s.Complete {
				g.Got += fmt.Sprintf(", INCOMPLETE: %d bytes received for %d, %s", s.Bytes, s.Size, fmtStatusesOrNone(s.Load))
			}
		}
		out = append(out, g)
	}
	return out
}

// fmtStatusesOrNone lists a load's responses by status and its socket
// errors.
func fmtStatusesOrNone(r loadResult) string {
	var parts []string
	if s := fmtStatuses(r.Statuses); s != "" {
		parts = append(parts, "statuses "+s)
	}
	if r.SocketErrors > 0 {
		parts = append(parts, fmt.Sprintf("%d socket errors", r.SocketErrors))
	}
	if len(parts) == 0 {
		return "no non-2xx status, no socket error"
	}
	return strings.Join(parts, ", ")
}

// nearestReload finds the reload closest before t (seconds since the soak
// started), or the first one when t precedes them all: which reload a
// failed request may belong to. ok is false without reloads.
func nearestReload(log []soakReload, t float64) (r soakReload, ok bool) {
	if len(log) == 0 {
		return soakReload{}, false
	}
	r = log[0]
	for _, x := range log {
		if x.At > t {
			break
		}
		r = x
	}
	return r, true
}

// fmtSeconds prints a duration in seconds as the shortest sensible unit.
func fmtSeconds(s float64) string {
	d := time.Duration(s * float64(time.Second))
	switch {
	case d >= time.Hour:
		return fmt.Sprintf("%.2fh", d.Hours())
	case d >= time.Minute:
		return fmt.Sprintf("%.1fmin", d.Minutes())
	default:
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
}

// toMiB converts bytes to MiB.
func toMiB(b float64) float64 { return b / (1 << 20) }
