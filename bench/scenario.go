package main

import (
	"fmt"
	"strings"
	"time"
)

// Scenarios: which object is fetched, over how many connections, for how
// long. Each scenario runs against every target with fresh processes.

// scenario is one load shape.
type scenario struct {
	Name     string        `json:"name"`
	Object   string        `json:"object"`             // object name, which is its size: "1k", "1m", "1g"
	Conns    int           `json:"connections"`        // client connections
	Duration time.Duration `json:"duration_ns"`        // measured run (a cap in count mode)
	Requests int64         `json:"requests,omitempty"` // count mode: exactly this many sequential GETs
	// WarmupObject is fetched during the warm-up; the big scenario warms up
	// on 1 MiB objects rather than spending seconds on a whole stream.
	WarmupObject string `json:"warmup_object"`
}

// scenarioNames lists every scenario in run order; "big" is the streaming
// one, named after its object (-big).
var scenarioNames = []string{"1k", "1m", "1m-256", "big"}

// countModeCap bounds a count-mode run: 3 x 5 GiB through a slow proxy must
// fit, a hung one must not hang the harness.
const countModeCap = 10 * time.Minute

// buildScenarios returns the scenarios named in list ("all" or a comma
// list of 1k, 1m, 1m-256, and 1g/5g/big), in run order.
// connOverride > 0 replaces the connection count of every scenario except
// the big stream, which is one connection by definition.
func buildScenarios(list string, duration time.Duration, connOverride int, big string, bigRequests int64) ([]scenario, error) {
	if big != "1g" && big != "5g" {
		return nil, fmt.Errorf("bench: -big %q: want 1g or 5g", big)
	}
	if bigRequests < 1 {
		return nil, fmt.Errorf("bench: -big-requests %d: want at least 1", bigRequests)
	}
	conns := func(n int) int {
		if connOverride > 0 {
			return connOverride
		}
		return n
	}
	all := map[string]scenario{
		"1k":     {Name: "1k", Object: "1k", Conns: conns(64), Duration: duration, WarmupObject: "1k"},
		"1m":     {Name: "1m", Object: "1m", Conns: conns(64), Duration: duration, WarmupObject: "1m"},
		"1m-256": {Name: "1m-256", Object: "1m", Conns: conns(256), Duration: duration, WarmupObject: "1m"},
		"big":    {Name: big, Object: big, Conns: 1, Duration: countModeCap, Requests: bigRequests, WarmupObject: "1m"},
	}
	want := map[string]bool{}
	for name := range strings.SplitSeq(list, ",") {
		name = strings.TrimSpace(name)
		switch name {
		case "":
			continue
		case "all":
			for _, n := range scenarioNames {
				want[n] = true
			}
		case "big", "1g", "5g":
			want["big"] = true
		default:
			if _, ok := all[name]; !ok {
				return nil, fmt.Errorf("bench: unknown scenario %q (have 1k, 1m, 1m-256, 1g/5g/big, all)", name)
			}
			want[name] = true
		}
	}
	var out []scenario
	for _, n := range scenarioNames {
		if want[n] {
			out = append(out, all[n])
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("bench: no scenario selected")
	}
	return out, nil
}

// describe says in one line what load the scenario sends.
func (s scenario) describe() string {
	if s.Requests > 0 {
		return fmt.Sprintf("%-7s %d conn x %d sequential GET /bench/%s (%s stream, go loader)",
			s.Name, s.Conns, s.Requests, s.Object, s.Object)
	}
	return fmt.Sprintf("%-7s %d conns x %s closed-loop GET /bench/%s", s.Name, s.Conns, s.Duration, s.Object)
}
