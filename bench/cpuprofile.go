package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

// The CPU profile of the hot path: after the measured 1k run of yatagarasu
// (public profile), the same load runs again for a few seconds, unmeasured,
// while the harness fetches the proxy's own CPU profile
// (GET /admin/pprof/profile, behind the [admin] token) and has `go tool
// pprof -top` summarise it. The measured run is over by then (its /proc
// snapshots are taken), so profiling costs it nothing.

// cpuProfileSeconds is the length of the CPU profile.
const cpuProfileSeconds = 5

// cpuProfileLead is how long the extra load runs before the profile
// starts, and again after it ends, so the profile covers load only.
const cpuProfileLead = time.Second

// cpuProfileNodes is -nodecount of the top listing.
const cpuProfileNodes = 40

// cpuProfile records the profile taken in one scenario.
type cpuProfile struct {
	Scenario string `json:"scenario"`
	Target   string `json:"target"`
	Seconds  int    `json:"seconds"`
	File     string `json:"file,omitempty"` // in the run folder, e.g. cpu-1k.pprof
	Top      string `json:"top,omitempty"`  // go tool pprof -top output, e.g. cpu-1k-top.txt
	// Load is the unmeasured load that ran meanwhile (the same loader,
	// connections and request as the measured run).
	Load  *loadResult `json:"load,omitempty"`
	Error string      `json:"error,omitempty"`
}

// captureCPUProfile runs spec's load again for the profile's length plus
// the leads, fetches the proxy's CPU profile into the run folder as
// cpu-<scenario>.pprof and writes its top into cpu-<scenario>-top.txt.
// bin is the proxy's binary, for pprof's symbols. A failure is recorded in
// the result, never fatal to the row.
func (e *env) captureCPUProfile(ctx context.Context, sc scenario, t *yatagarasuTarget, rt *running,
	loader string, spec loadSpec, dir string) *cpuProfile {
	cp := &cpuProfile{Scenario: sc.Name, Target: t.name(), Seconds: cpuProfileSeconds}
	spec.Duration = cpuProfileSeconds*time.Second + 2*cpuProfileLead
	spec.Requests = 0
	type loaded struct {
		res loadResult
		err error
	}
	done := make(chan loaded, 1)
	go func() {
		res, err := e.runLoad(ctx, loader, spec, dir, "profile")
		done <- loaded{res, err}
	}()
	sleepCtx(ctx, cpuProfileLead)
	name := "cpu-" + sc.Name + ".pprof"
	err := e.fetchCPUProfile(ctx, rt.baseURL, filepath.Join(e.runDir, name))
	l := <-done
	switch {
	case err != nil:
		cp.Error = err.Error()
	case l.err != nil:
		cp.Error = "load during the profile: " + l.err.Error()
	default:
		cp.File = name
	}
	if l.err == nil {
		cp.Load = &l.res
	}
	if cp.File != "" {
		top := "cpu-" + sc.Name + "-top.txt"
		if err := writePprofTop(ctx, e.root, t.bin, filepath.Join(e.runDir, name), filepath.Join(e.runDir, top)); err != nil {
			cp.Error = err.Error()
		} else {
			cp.Top = top
		}
	}
	return cp
}

// progressLine is what the progress output says of the profile.
func (cp *cpuProfile) progressLine() string {
	what := fmt.Sprintf("%-7s %-12s ... CPU profile, %ds under the same load after the measured run: ", cp.Scenario, cp.Target, cp.Seconds)
	if cp.Error != "" {
		return what + "failed: " + cp.Error
	}
	return what + cp.File + ", " + cp.Top
}

// fetchCPUProfile saves GET <base>/admin/pprof/profile?seconds=N to path.
func (e *env) fetchCPUProfile(ctx context.Context, base, path string) error {
	ctx, cancel := context.WithTimeout(ctx, cpuProfileSeconds*time.Second+30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet,
		base+"/admin/pprof/profile?seconds="+strconv.Itoa(cpuProfileSeconds), nil)
	if err != nil {
		return fmt.Errorf("bench: cpu profile: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+benchAdminToken)
	// The probe client gives up after 5 s; the profile takes longer.
	c := *e.client
	c.Timeout = 0
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("bench: cpu profile: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("bench: cpu profile: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("bench: cpu profile: %s: %.200s", resp.Status, body)
	}
	if err := os.WriteFile(path, body, 0o644); err != nil {
		return fmt.Errorf("bench: cpu profile: %w", err)
	}
	return nil
}

// writePprofTop runs `go tool pprof -top -nodecount=N bin profile` from the
// repository root and writes its output to out.
func writePprofTop(ctx context.Context, root, bin, profile, out string) error {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("bench: pprof top: go not on PATH")
	}
	cmd := exec.CommandContext(ctx, goBin, "tool", "pprof", "-top", "-nodecount="+strconv.Itoa(cpuProfileNodes), bin, profile)
	cmd.Dir = root
	b, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("bench: go tool pprof -top: %v: %s", err, summarize(string(b), err))
	}
	if err := os.WriteFile(out, b, 0o644); err != nil {
		return fmt.Errorf("bench: pprof top: %w", err)
	}
	return nil
}
