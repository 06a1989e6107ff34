package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// The soak's report: the header, the tables on stdout and soak.json (the
// plot is in soakplot.go).

// printSoakHeader states the machine and the plan before any number.
func printSoakHeader(w io.Writer, res *soakResults) {
	fmt.Fprintf(w, "yatagarasu soak  %s\n", res.Started.Format(time.RFC3339))
	fmt.Fprintf(w, "machine: nproc=%d, %s/%s, load average %s, %.0f%% busy with other work before the run\n",
		res.Nproc, runtime.GOOS, runtime.GOARCH, res.LoadAvg, 100*res.MachineBusy)
	if res.MachineBusy > busyWarn {
		fmt.Fprintf(w, "WARNING: other processes are using the CPUs; req/s and MB/s are skewed (memory and goroutine figures much less so)\n")
	}
	commit := ""
	if res.Commit != "" {
		commit = " at " + res.Commit
	}
	fmt.Fprintf(w, "proxy:   one yatagarasu process%s for the whole soak, access log on (stdout counted, not kept); %s\n", commit, res.Pinning)
	req := fmt.Sprintf("%d x GET /bench/%s", res.Requests, res.Object)
	if res.Duration != "" {
		req = fmt.Sprintf("GET /bench/%s for %s", res.Object, res.Duration)
	}
	fmt.Fprintf(w, "phases:  1. requests: %s over %d connections, each closed and dialled again after %d responses (go loader)\n", req, res.Conns, soakReconnect)
	if res.Reloads > 0 {
		pace := "back to back"
		if res.ReloadEvery != "" {
			pace = "one every " + res.ReloadEvery
		}
		fmt.Fprintf(w, "         2. reloads: %d x POST /admin/reload %s under the same load, cycling add extra / bench limits / remove extra / limits back\n", res.Reloads, pace)
	}
	if len(res.StreamList) > 0 {
		fmt.Fprintf(w, "         3. streams: one GET of each of %s on one connection, through the soaked proxy, then a fresh one\n", strings.Join(res.StreamList, ", "))
	}
	fmt.Fprintf(w, "beside:  phases 1 and 2, a client every %s that GETs /bench/%s, reads %d KiB of it and hangs up\n",
		soakLeaveEvery, soakLeaveObject, soakLeaveRead>>10)
	fmt.Fprintf(w, "sampled: VmRSS, heap in use, goroutines and open descriptors every %s; warm-up excluded: the first %s of load of each phase\n",
		soakInterval, res.Warmup)
}

// fmtGrowth prints a growth figure.
func fmtGrowth(g growthStats) string {
	if !g.Valid {
		return "n/a"
	}
	return fmt.Sprintf("%+.1f%%", g.Pct)
}

// okFail labels a judged goal.
func okFail(g soakGoal) string {
	switch {
	case !g.Judged:
		return "n/a "
	case g.Met:
		return "ok  "
	}
	return "FAIL"
}

// printSoak writes the soak's tables and goals.
func printSoak(w io.Writer, res *soakResults) {
	if res.Error != "" {
		fmt.Fprintf(w, "SOAK STOPPED: %s\n\n", res.Error)
	}
	if res.Interrupted {
		fmt.Fprintf(w, "(interrupted: the figures cover what ran)\n\n")
	}
	if len(res.Phases) > 0 {
		t := [][]string{{"phase", "load", "requests", "req/s", "p50", "p99", "failed", "access lines", "upstream", "wall"}}
		for _, p := range res.Phases {
			load := fmt.Sprintf("%d conns GET /bench/%s", res.Conns, res.Object)
			if r := p.Reloads; r != nil {
				load += fmt.Sprintf(" + %d reloads", r.OK+r.Failed)
			}
			t = append(t, []string{p.Name, load, fmt.Sprint(p.Load.Requests), fmtNum(p.Load.ReqPerSec),
				fmtLatency(p.Load.P50), fmtLatency(p.Load.P99), fmt.Sprint(p.Load.Errors), fmt.Sprint(p.AccessLines),
				fmt.Sprint(p.Upstream), fmtSeconds(p.End - p.Start)})
		}
		writeAligned(w, t, 2)
		fmt.Fprintf(w, "(failed: non-2xx responses and socket errors; access lines: written by the proxy between the samples before and %s after the load)\n",
			soakAfterDelay)

		fmt.Fprintf(w, "\nmemory and goroutines: mean of the first 10%% vs the last 10%% of the %s samples after the warm-up\n", soakInterval)
		fmt.Fprintf(w, "(warm-up: requests phase, its first %s; reloads phase, the %s of load before the first reload)\n", res.Warmup, res.Warmup)
		t = [][]string{{"phase", "metric", "samples", "GCs", "window", "first 10%", "last 10%", "growth", "peak", fmt.Sprintf("< %d%%", soakGrowthGoalPct)}}
		for _, p := range res.Phases {
			for _, m := range []struct {
				name string
				g    growthStats
			}{{"RSS MiB", p.RSS}, {"heap MiB", p.Heap}, {"goroutines", p.Goroutines}, {"open fds", p.FDs}} {
				row := []string{p.Name, m.name, fmt.Sprint(m.g.Samples), fmt.Sprint(p.MeasuredGCs), fmt.Sprint(m.g.Window), "-", "-", "n/a", "-", "n/a"}
				if m.g.Samples > 0 {
					row[5], row[6], row[8] = fmtNum(m.g.First), fmtNum(m.g.Last), fmtNum(m.g.Peak)
				}
				if m.g.Valid {
					row[7] = fmtGrowth(m.g)
				}
				row[9] = strings.TrimSpace(okFail(growthGoal(p.Name, m.name, "", m.g)))
				t = append(t, row)
			}
		}
		writeAligned(w, t, 2)
		fmt.Fprintln(w, "(GCs: the proxy's GC cycles over the measured samples; with fewer than 3, heap and RSS growth mostly say where in a GC cycle each window fell)")

		fmt.Fprintf(w, "\nthe idle proxy around each load: before it, %s after it ended, and when its goroutines were back (waited up to %s)\n", soakAfterDelay, soakSettleMax)
		t = [][]string{{"phase", "goroutines", fmt.Sprintf("+%s", soakAfterDelay), "back after",
			"RSS MiB", fmt.Sprintf("+%s", soakAfterDelay), "settled", "live heap MiB", fmt.Sprintf("+%s", soakAfterDelay), "settled",
			"series", fmt.Sprintf("+%s", soakAfterDelay)}}
		for _, p := range res.Phases {
			back := fmtSeconds(p.SettledAfter)
			if p.SettledAfter < 0 {
				back = fmt.Sprintf("never (%.0f)", p.Settled.Goroutines)
			}
			t = append(t, []string{p.Name, fmt.Sprintf("%.0f", p.Before.Goroutines), fmt.Sprintf("%.0f", p.After.Goroutines),
				back, fmtNum(p.Before.RSSMiB), fmtNum(p.After.RSSMiB), fmtNum(p.Settled.RSSMiB),
				fmtNum(p.LiveHeapBeforeMiB), fmtNum(p.LiveHeapAfterMiB), fmtNum(p.LiveHeapSettledMiB),
				fmt.Sprint(p.Before.Series), fmt.Sprint(p.After.Series)})
		}
		writeAligned(w, t, 1)
		for _, p := range res.Phases {
			if p.LiveHeapBeforeMiB <= 0 || p.LiveHeapSettledMiB <= 0 {
				continue
			}
			d := p.LiveHeapSettledMiB - p.LiveHeapBeforeMiB
			per := ""
			if r := p.Reloads; r != nil && r.OK > 0 {
				per = fmt.Sprintf(", %+.1f KiB per reload", d*1024/float64(r.OK))
			} else if p.Load.Requests > 0 {
				per = fmt.Sprintf(", %+.3f bytes per request", d*(1<<20)/float64(p.Load.Requests))
			}
			fmt.Fprintf(w, "live heap once settled vs before the %s phase: %s -> %s MiB (%+.2f MiB%s)\n",
				p.Name, fmtNum(p.LiveHeapBeforeMiB), fmtNum(p.LiveHeapSettledMiB), d, per)
		}
		fmt.Fprintln(w, "(settled: when the goroutines were back; live heap: go_memstats_alloc_bytes right after two GCs forced with /admin/pprof/heap?gc=1;")
		fmt.Fprintln(w, " series: lines of /metrics, where a metric set left behind by a rebuilt or removed bucket shows;")
		fmt.Fprintln(w, " profiles in the run folder: goroutines-<phase>-{before,after,settled}.txt, heap-<phase>-{before,after,settled}.pb.gz)")
	}

	for _, p := range res.Phases {
		r := p.Reloads
		if r == nil {
			continue
		}
		fmt.Fprintf(w, "\nreloads: %d requested, %d ok, %d failed, %d generation gaps; %.1f reloads/s over %s; POST p50 %.1fms p99 %.1fms max %.1fms\n",
			r.Requested, r.OK, r.Failed, r.GenerationGaps, r.PerSecond, fmtSeconds(r.Seconds), r.P50Millis, r.P99Millis, r.MaxMillis)
		fmt.Fprintf(w, "  the proxy counted %d ok, %d failed (config_reload_*_total); generation %.0f -> %.0f\n",
			r.ProxyOK, r.ProxyFailed, p.Before.Generation, p.After.Generation)
		n := 0
		for _, x := range r.Log {
			if x.Error == "" {
				continue
			}
			if n++; n <= 10 {
				fmt.Fprintf(w, "  reload #%d (%s) at %.1fs: status %d: %s\n", x.N, x.Change, x.At, x.Status, x.Error)
			}
		}
		if n > 10 {
			fmt.Fprintf(w, "  ... %d more failed reloads in soak.json\n", n-10)
		}
	}

	for _, p := range res.Phases {
		if len(p.Load.Failures) == 0 {
			continue
		}
		fmt.Fprintf(w, "\nfailed requests, %s phase (%d failed; the first %d, in time order):\n", p.Name, p.Load.Errors, len(p.Load.Failures))
		for _, f := range p.Load.Failures {
			t := f.Time.Sub(res.t0).Seconds()
			what := fmt.Sprintf("status %d, body %q", f.Status, clip(f.Body, 300))
			if f.Error != "" {
				what = "socket error: " + f.Error
				if f.Status != 0 {
					what = fmt.Sprintf("status %d then %s", f.Status, what)
				}
			}
			near := ""
			if p.Reloads != nil {
				if r, ok := nearestReload(p.Reloads.Log, t); ok {
					near = fmt.Sprintf("; reload #%d (%s) sent %+.1fms before", r.N, r.Change, 1000*(t-r.At))
				}
			}
			fmt.Fprintf(w, "  %.3fs conn %d: %s%s\n", t, f.Conn, what, near)
		}
	}

	if len(res.Streams) > 0 {
		fmt.Fprintln(w, "\nstreams, one GET on one connection, through the soaked proxy (after the phases above) and a fresh one:")
		t := [][]string{{"object", "proxy", "bytes", "seconds", "MB/s", "RSS before MiB", "peak RSS MiB", "proxy CPU s", "complete"}}
		for _, s := range res.Streams {
			if s.Error != "" {
				t = append(t, []string{s.Object, s.Proxy, "FAILED: " + s.Error})
				continue
			}
			t = append(t, []string{s.Object, s.Proxy, fmt.Sprint(s.Bytes), fmt.Sprintf("%.2f", s.Seconds), fmtNum(s.MBPerSec),
				fmtNum(s.RSSBeforeMiB), fmtNum(s.PeakRSSMiB), fmtNum(s.CPUSeconds), fmt.Sprint(s.Complete)})
		}
		writeAligned(w, t, 2)
	}

	l := res.ProxyLog
	fmt.Fprintf(w, "\nproxy log (stderr): %d lines, %d warnings, %d errors\n", l.Lines, l.Warnings, l.Errors)
	for _, line := range l.First {
		fmt.Fprintf(w, "  %s\n", line)
	}

	if len(res.Goals) > 0 {
		fmt.Fprintln(w, "\ngoals")
		for _, g := range res.Goals {
			fmt.Fprintf(w, "  %s  %-9s  %s: %s\n", okFail(g), g.Phase, g.Goal, g.Got)
		}
	}
	fmt.Fprintf(w, "\nmachine: nproc=%d, load average %s at the start, %s at the end; soak took %s\n",
		res.Nproc, res.LoadAvg, res.LoadAvgEnd, fmtSeconds(res.WallSeconds))
}

// writeSoakJSON writes soak.json into the run folder.
func writeSoakJSON(runDir string, res *soakResults) error {
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return fmt.Errorf("bench: encode soak results: %w", err)
	}
	if err := os.WriteFile(filepath.Join(runDir, "soak.json"), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("bench: write soak results: %w", err)
	}
	return nil
}
