package main

import (
	"context"
	"fmt"
	"io"
	"strings"
)

// Targets: what the load is sent to. "direct" is the origin itself, the
// others are reverse proxies in front of it. Every target is started fresh
// for every scenario, so peak RSS is per scenario.

// target is one thing measured side by side with the others.
type target interface {
	// name labels the target in the table, e.g. "nginx" or "yatagarasu".
	name() string
	// start launches the process under test in front of origin o for
	// scenario sc, keeping its files in dir, and returns once it serves.
	start(ctx context.Context, e *env, sc scenario, o *originProc, dir string) (*running, error)
}

// running is a started target.
type running struct {
	baseURL  string   // http://127.0.0.1:port; the object path is appended
	measured *proc    // whose CPU and RSS are reported
	what     string   // "proxy", or "origin" for direct
	headers  []string // extra request headers the load must send
	stop     func()   // ends the target's own process (not the origin)
	// metricsURL is the target's Prometheus endpoint, "" when it has none.
	metricsURL string
}

// Target names accepted by -targets.
const (
	targetDirect     = "direct"
	targetYatagarasu = "yatagarasu"
	targetNginx      = "nginx"
	targetHAProxy    = "haproxy"
)

// directTarget sends load straight at the origin; what it measures is the
// origin's own cost, the floor every proxy adds to.
type directTarget struct{}

func (directTarget) name() string { return targetDirect }

func (directTarget) start(_ context.Context, _ *env, _ scenario, o *originProc, _ string) (*running, error) {
	return &running{baseURL: "http://" + o.addr, measured: o.proc, what: "origin", stop: func() {}}, nil
}

// targetsFor returns what scenario sc measures: every target; for a
// large-object scenario (PublicOnly) yatagarasu only once, with the public
// profile; for the calibration run of half yatagarasu (public) alone; for
// a resilience scenario only direct (when the origin is alive: its raw
// failure rate) and yatagarasu once, with the scenario's profile instead of
// -profiles. nginx and haproxy neither retry nor break circuits here, so a
// comparison would say nothing.
func targetsFor(sc scenario, targets []target) []target {
	if sc.PublicOnly || sc.Calibration {
		var out []target
		proxied := false
		for _, t := range targets {
			y, ok := t.(*yatagarasuTarget)
			switch {
			case !ok:
				if !sc.Calibration {
					out = append(out, t)
				}
			case !proxied:
				pub, _ := profileNamed(profilePublic)
				out = append(out, &yatagarasuTarget{bin: y.bin, prof: pub})
				proxied = true
			}
		}
		return out
	}
	if !sc.resilience() {
		return targets
	}
	var out []target
	proxied := false
	for _, t := range targets {
		switch t := t.(type) {
		case directTarget:
			if !sc.DeadOrigin {
				out = append(out, t)
			}
		case *yatagarasuTarget:
			if prof, ok := profileNamed(sc.Profile); ok && !proxied {
				out = append(out, &yatagarasuTarget{bin: t.bin, prof: prof})
				proxied = true
			}
		}
	}
	return out
}

// skipped records a target that could not be measured at all, and why.
type skipped struct {
	Target string `json:"target"`
	Reason string `json:"reason"`
}

// resolveTargets turns the -targets list into runnable targets, building
// yatagarasu and finding (or installing) nginx and haproxy. A target that
// cannot run is reported as skipped, never fatal.
func resolveTargets(ctx context.Context, e *env, list string, profs []profile, w io.Writer) ([]target, []skipped, error) {
	var out []target
	var skips []skipped
	seen := map[string]bool{}
	for name := range strings.SplitSeq(list, ",") {
		name = strings.TrimSpace(name)
		if name == "" || seen[name] {
			continue
		}
		seen[name] = true
		switch name {
		case targetDirect:
			out = append(out, directTarget{})
		case targetYatagarasu:
			bin, err := buildYatagarasu(ctx, e, w)
			if err != nil {
				reason := "build failed: " + err.Error()
				fmt.Fprintf(w, "yatagarasu: skipped (%s)\n", reason)
				skips = append(skips, skipped{Target: name, Reason: reason})
				continue
			}
			for _, p := range profs {
				out = append(out, &yatagarasuTarget{bin: bin, prof: p})
			}
		case targetNginx:
			bin, err := ensureTool("nginx", "nginx-light", w)
			if err != nil {
				fmt.Fprintf(w, "nginx: skipped comparison (%v)\n", err)
				skips = append(skips, skipped{Target: name, Reason: err.Error()})
				continue
			}
			out = append(out, nginxTarget{bin: bin})
		case targetHAProxy:
			bin, err := ensureTool("haproxy", "haproxy", w)
			if err != nil {
				fmt.Fprintf(w, "haproxy: skipped comparison (%v)\n", err)
				skips = append(skips, skipped{Target: name, Reason: err.Error()})
				continue
			}
			out = append(out, haproxyTarget{bin: bin})
		default:
			return nil, nil, fmt.Errorf("bench: unknown target %q (have direct, yatagarasu, nginx, haproxy)", name)
		}
	}
	return out, skips, nil
}
